"""SPADE: label maps and palettes, the generator, training on labels+photos and on photos alone,
painting at a map's own size, exact and kill -9 resume, ONNX parity, the CLI."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest
import torch
from conftest import photo
from paint_helpers import blob_labels, labelled_folders, make_spade_model
from train_helpers import kill_then_resume

from studio.cli.main import main
from studio.core import nets
from studio.core.images import read_image, write_image
from studio.core.jobs import Checkpoint, Control, Losses, run
from studio.core.paint import LabelError, Palette, one_hot, read_label_map, write_label_map
from studio.core.paint.painter import Painter
from studio.core.store import ModelStore
from studio.core.train.data import DataError
from studio.core.train.job import train_job
from studio.core.train.presets import preset, run_config

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = {"generator": {"arch": "spade_generator", "params": {
    "ngf": 4, "max_mult": 4, "n_up": 3, "n_middle": 1, "hidden": 8, "norm": "instance", "upsample": "bilinear",
    "spectral": True, "shared_mlp": True, "z_dim": 4}},
    "discriminator": {"arch": "spade_discriminator", "params": {"ndf": 8, "n_layers": 2, "num_d": 2}}}


def tiny(name, **over):
    base = dict(crop_size=32, load_size=36, max_steps=6, checkpoint_every=100, preview_every=3, workers=0, **TINY)
    base.update(over)
    return preset("spade", name, "fast", **base)


def photo_folder(root, names=("astronaut", "coffee", "chelsea")):
    for name in names:
        write_image(root / f"{name}.jpg", photo(name, (72, 56)))
    return root


# -- label maps ---------------------------------------------------------------------------------------

def test_label_maps_round_trip_indexed_and_colour_coded_and_bad_colours_get_one_line(tmp_path):
    palette = Palette.from_card([{"name": "sky", "colour": "#78aae6"}, {"name": "grass", "colour": [40, 160, 60]},
                                 {"name": "rock", "color": [120, 120, 120]}])
    labels = blob_labels(30, 40, 3)
    write_label_map(tmp_path / "a.png", labels, palette)
    back, read_palette = read_label_map(tmp_path / "a.png")
    assert np.array_equal(back, labels) and read_palette.colours().tolist() == palette.colours().tolist()
    coded = tmp_path / "coded"
    coded.mkdir()
    write_image(coded / "b.png", palette.colourise(labels).astype(np.float32) / 255)
    with pytest.raises(LabelError, match="palette"):
        read_label_map(coded / "b.png")  # colour-coded without a palette
    palette.write(coded / "palette.json")
    assert np.array_equal(read_label_map(coded / "b.png")[0], labels)
    wrong = palette.colourise(labels).copy()
    wrong[:5, :5] = (255, 0, 255)
    write_image(coded / "c.png", wrong.astype(np.float32) / 255)
    with pytest.raises(LabelError, match=r"colours that are not in the palette \(#ff00ff\)"):
        read_label_map(coded / "c.png")
    with pytest.raises(LabelError, match="not a colour"):
        Palette.from_card([{"name": "x", "colour": [1, 2]}])
    assert one_hot(torch.tensor([[[0, 2]]]), 3)[0, :, 0, 1].tolist() == [0.0, 0.0, 1.0]


# -- the networks -------------------------------------------------------------------------------------

def test_generator_paints_any_multiple_noise_varies_it_and_the_paper_layout_is_kept():
    g = nets.build("spade_generator", {"label_nc": 5, **TINY["generator"]["params"]}).eval()
    x = one_hot(torch.from_numpy(blob_labels(24, 40, 5)).long()[None], 5)
    with torch.no_grad():
        a, b = g(x, torch.zeros(1, 4)), g(x, torch.randn(1, 4))
    assert a.shape == (1, 3, 24, 40) and a.abs().max() <= 1 and not torch.equal(a, b)
    paper = nets.build("spade_generator", {"label_nc": 5})
    assert paper.config["ngf"] == 64 and paper.size_multiple == 32 and len(paper.blocks) == 7  # head, 2 middle, 4 up
    assert paper.blocks[0].conv_0.in_channels == 1024 and paper.conv_img.in_channels == 64
    d = nets.build("spade_discriminator", {"input_nc": 8, "ndf": 8, "n_layers": 3, "num_d": 2})
    out = d(torch.randn(1, 8, 64, 64))
    assert len(out) == 2 and len(out[0]) == 4 and out[1][-1].shape[-1] < out[0][-1].shape[-1]


def test_edge_padding_is_one_pad_of_the_shared_hidden_layer_and_equals_replicate_padded_convs():
    g = nets.build("spade_generator", {"label_nc": 5, **TINY["generator"]["params"], "padding": "replicate"}).eval()
    x, z = one_hot(torch.from_numpy(blob_labels(40, 48, 5)).long()[None], 5), torch.randn(1, 4)
    with torch.no_grad():
        ours = g(x, z)
        for module in g.modules():  # the same weights as plain replicate-padded convs
            if hasattr(module, "pad_output"):
                module.pad_output = False
            if isinstance(module, torch.nn.Conv2d) and module.kernel_size == (3, 3) and module.padding == (0, 0):
                module.padding, module.padding_mode = (1, 1), "replicate"
                module._reversed_padding_repeated_twice = [1, 1, 1, 1]
        assert torch.allclose(g(x, z), ours, atol=1e-6)
    zeros = nets.build("spade_generator", {"label_nc": 5, **TINY["generator"]["params"], "padding": "zeros"})
    assert set(zeros.state_dict()) == set(g.state_dict())  # the same weights either way


# -- training ---------------------------------------------------------------------------------------

def test_trains_on_labels_and_photos_and_paints_a_map_at_its_own_size(tmp_path):
    labels_dir, photos_dir = labelled_folders(tmp_path, classes=3)
    config = tiny("painted", dir_a=str(labels_dir), dir_b=str(photos_dir))
    assert config.generator["params"]["label_nc"] == 3 and config.gan_mode == "hinge"
    result = run(train_job(config))
    info = ModelStore().get(result["model"])
    # indexed PNGs without a palette.json: their own colours, unnamed classes
    assert info.kind == "spade" and [c["name"] for c in info.card["palette"]] == ["class 0", "class 1", "class 2"]
    assert info.card["palette"][1]["colour"] == [110, 140, 90]
    assert "segmenter" not in info.card and info.card["domains"] == {"A": "labels", "B": "photos"}
    painter = Painter(ModelStore().load("painted"), device="cpu")
    picture = painter.paint(blob_labels(45, 70, 3), seed=1)
    assert picture.shape == (45, 70, 3) and 0 <= picture.min() and picture.max() <= 1
    with pytest.raises(Exception, match="cannot segment a photo"):
        painter.segment(photo("coffee"))


def test_trains_on_photos_alone_with_automatic_classes_kept_in_the_card(tmp_path, studio_home):
    photos = photo_folder(tmp_path / "photos")
    result = run(train_job(tiny("auto", dir_b=str(photos), classes=4)))
    info = ModelStore().get(result["model"])
    assert len(info.card["palette"]) == 4 and info.card["segmenter"]["palette"] == info.card["palette"]
    assert info.card["domains"]["A"] == "automatic label maps"
    labels_dir = studio_home / "runs" / "auto" / "labels"
    assert sorted(p.name for p in labels_dir.glob("*.png")) == ["astronaut.png", "chelsea.png", "coffee.png"]
    painter = Painter(ModelStore().load("auto"), device="cpu")
    segmented = painter.segment_file(photos / "astronaut.jpg")
    assert np.array_equal(segmented, read_label_map(labels_dir / "astronaut.png")[0])  # same classes as training
    assert painter.paint(segmented).shape == (56, 72, 3)


def test_bad_label_folders_fail_before_training_with_one_line(tmp_path):
    labels_dir, photos_dir = labelled_folders(tmp_path, classes=3)
    write_image(photos_dir / "img0.jpg", np.zeros((20, 20, 3), np.float32))  # another size than its map
    with pytest.raises(DataError, match="differ in size from their photos: img0.png 48×40 vs img0.jpg 20×20"):
        run(train_job(tiny("sizes", dir_a=str(labels_dir), dir_b=str(photos_dir))))
    coded = tmp_path / "coded"
    coded.mkdir()
    Palette.from_card([{"name": "a", "colour": [0, 0, 0]}, {"name": "b", "colour": [255, 255, 255]}]).write(
        coded / "palette.json")
    for i in (1, 2):
        write_image(coded / f"img{i}.png", np.full((40, 48, 3), 0.5, np.float32))  # grey: not in the palette
    with pytest.raises(DataError, match="do not fit the palette"):
        run(train_job(tiny("colours", dir_a=str(coded), dir_b=str(photos_dir))))
    with pytest.raises(Exception, match="--labels DIR or --classes K, not both"):
        tiny("both", dir_a=str(labels_dir), dir_b=str(photos_dir), classes=3)
    with pytest.raises(Exception, match="needs label maps"):
        tiny("none", dir_b=str(photos_dir))


def test_resume_after_k_steps_equals_an_uninterrupted_run_step_for_step(tmp_path):
    photos = photo_folder(tmp_path / "photos")
    full = run(train_job(tiny("full", dir_b=str(photos), classes=3, max_steps=7, lambda_ms=1.0)))
    control, first = Control(), []
    for event in train_job(tiny("split", dir_b=str(photos), classes=3, max_steps=7, lambda_ms=1.0), control=control):
        first.append(event)
        if isinstance(event, Losses) and event.step == 3:
            control.cancel()
    assert any(isinstance(e, Checkpoint) and e.reason == "cancel" for e in first)
    rest = run(train_job(resume="split"))
    losses = [e.values for e in first if isinstance(e, Losses)]
    assert full["model"] == "full" and rest["model"] == "split"
    assert set(losses[0]) == {"D", "G_GAN", "G_FM", "G_MS"}  # mode seeking: each map painted with two noises
    store = ModelStore()
    for (key, v), w in zip(store.load("full").networks["G"].state_dict().items(),
                           store.load("split").networks["G"].state_dict().values(), strict=True):
        assert torch.equal(v, w), key
    assert len(losses) == 3


def test_sigkill_during_training_then_resume_reaches_the_planned_steps(tmp_path, studio_home):
    labels_dir, photos_dir = labelled_folders(tmp_path, classes=3)
    cmd = [sys.executable, "-m", "studio", "train", "spade", "--labels", str(labels_dir), "--photos", str(photos_dir),
           "--name", "killed", "--preset", "fast", "--size", "32", "--max-steps", "60", "--checkpoint-every", "3", "-q"]
    kill_then_resume(cmd, "killed", studio_home, 60, {**os.environ, "STUDIO_HOME": str(studio_home)})
    info = ModelStore().get("killed")
    assert info.card["provenance"]["steps"] == 60 and len(info.card["palette"]) == 3


def test_fine_tuning_keeps_the_class_count(tmp_path):
    labels_dir, photos_dir = labelled_folders(tmp_path, classes=3)
    run(train_job(tiny("base", dir_a=str(labels_dir), dir_b=str(photos_dir))))
    config = run_config("spade", "tuned", "fast", {"dir_a": str(labels_dir), "dir_b": str(photos_dir), "max_steps": 2,
                                                    "crop_size": 32, "workers": 0}, base_model="base")
    assert config.generator["params"]["ngf"] == 4 and config.lr == pytest.approx(5e-5)
    other_labels, other_photos = labelled_folders(tmp_path / "four", classes=4)
    with pytest.raises(Exception, match="it paints 3 classes, but the label maps have 4"):
        run_config("spade", "wrong", "fast", {"dir_a": str(other_labels), "dir_b": str(other_photos)}, base_model="base")


# -- export and the CLI -------------------------------------------------------------------------------

def test_onnx_export_matches_the_painter(tmp_path):
    pytest.importorskip("onnxruntime")
    from studio.core.export import export_onnx

    make_spade_model(ModelStore(), "tiny painter", classes=4)
    result = export_onnx("tiny painter", tmp_path / "p.onnx")
    assert result["part"] == "generator" and result["max_abs_diff"] is not None and result["max_abs_diff"] < 1e-4
    import onnxruntime as ort

    session = ort.InferenceSession(str(tmp_path / "p.onnx"))
    assert [i.name for i in session.get_inputs()] == ["labels", "noise"]
    labels = blob_labels(37, 53, 4).astype(np.int64)[None]
    out = session.run(None, {"labels": labels, "noise": np.zeros((1, 4), np.float32)})[0]
    painter = Painter(ModelStore().load("tiny painter"), device="cpu")
    expected = painter.paint_tensor(labels[0], noise=torch.zeros(1, 4)).numpy()
    assert out.shape == (1, 3, 37, 53) and np.abs(out - expected).max() < 1e-4


def test_cli_translates_label_maps_segments_photos_and_lists_classes(tmp_path, capsys):
    palette = make_spade_model(ModelStore(), "tiny painter", classes=4)
    write_label_map(tmp_path / "map.png", blob_labels(40, 60, 4), palette)
    (tmp_path / "broken.png").write_text("not an image")
    assert main(["translate", "--model", "tiny painter", str(tmp_path / "map.png"), "-o", str(tmp_path / "out.png"),
                 "--seed", "3", "-q"]) == 0
    assert read_image(tmp_path / "out.png").size == (60, 40)
    assert main(["translate", "--model", "tiny painter", str(tmp_path / "broken.png"), "-o", str(tmp_path / "x.png"),
                 "-q"]) == 1
    write_image(tmp_path / "photo.jpg", photo("coffee", (80, 60)))
    assert main(["paint", "segment", "--model", "tiny painter", str(tmp_path / "photo.jpg"),
                 "-o", str(tmp_path / "seg.png")]) == 0
    labels, read_palette = read_label_map(tmp_path / "seg.png")
    assert labels.shape == (60, 80) and read_palette.colours().tolist() == palette.colours().tolist()
    assert "classes:" in capsys.readouterr().err
    assert main(["paint", "classes", "--model", "tiny painter", "--json"]) == 0
    assert [c["name"] for c in json.loads(capsys.readouterr().out)] == palette.names


def test_stroke_latency_benchmark_prints_figures_against_the_paper_generator():
    from studio.core.paint.latency import stroke, stroke_latency

    rng, changed = np.random.default_rng(0), np.zeros((64, 64), np.uint8)
    for _ in range(5):
        changed = stroke(changed, rng, 4)
    assert changed.shape == (64, 64) and len(np.unique(changed)) > 1  # strokes of several classes
    before = torch.get_num_threads()
    make_spade_model(ModelStore(), "tiny painter", classes=4)
    lines: list[str] = []
    results = stroke_latency(ModelStore(), "tiny painter", size=64, strokes=3, threads=1, report=lines.append)
    assert results["stroke_ms_p50"] > 0 and results["paper_generator_ms_p50"] > results["stroke_ms_p50"]
    assert "shows its picture in" in lines[0] and "the paper's SPADE generator" in lines[1]
    assert torch.get_num_threads() == before  # restored
