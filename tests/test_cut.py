"""CUT / FastCUT: PatchNCE and its patch head, the presets and variants, and a trained CUT model through
the whole studio (translate, fine-tune, ONNX, evaluation, kill -9 resume)."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import photo
from train_helpers import kill_then_resume, tiny_config, unpaired_folders

from studio.cli import main
from studio.core import nets
from studio.core.errors import StudioError
from studio.core.images import write_image
from studio.core.jobs import Finished, Losses, Preview
from studio.core.store import ModelStore
from studio.core.train.cut import VARIANTS
from studio.core.train.job import train_job
from studio.core.train.losses import patch_nce_loss
from studio.core.train.presets import preset, run_config

# -- PatchNCE and the patch head --------------------------------------------------------------------


def _naive_patch_nce(query: torch.Tensor, key: torch.Tensor, batch: int, tau: float) -> float:
    """The loss written out patch by patch: -log softmax of the positive among the image's patches."""
    patches = query.shape[0] // batch
    total = 0.0
    for b in range(batch):
        q, k = query[b * patches:(b + 1) * patches], key[b * patches:(b + 1) * patches]
        for i in range(patches):
            logits = [float(q[i] @ k[i]) / tau] + [(-10.0 if j == i else float(q[i] @ k[j])) / tau
                                                   for j in range(patches)]
            top = max(logits)
            total += -(logits[0] - top - math.log(sum(math.exp(v - top) for v in logits)))
    return total / query.shape[0]


def test_patch_nce_is_infonce_over_the_patches_of_each_image():
    g = torch.Generator().manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(2 * 5, 8, generator=g), dim=1)
    k = torch.nn.functional.normalize(torch.randn(2 * 5, 8, generator=g), dim=1)
    assert patch_nce_loss(q, k, 2, 0.07).item() == pytest.approx(_naive_patch_nce(q, k, 2, 0.07), rel=1e-5)
    # Matching patches (q = k, well apart): the positive wins; a shuffled key: it loses.
    spread = torch.eye(8)[:5].repeat(2, 1)
    assert patch_nce_loss(spread, spread, 2, 0.07).item() < 1e-3
    assert patch_nce_loss(spread, spread.roll(1, 0), 2, 0.07).item() > 5
    # Gradient reaches the query only: the key is a target.
    q.requires_grad_(True)
    k.requires_grad_(True)
    patch_nce_loss(q, k, 2, 0.07).backward()
    assert q.grad is not None and q.grad.abs().sum() > 0 and k.grad is None


def test_patch_head_reuses_positions_and_returns_unit_vectors():
    head = nets.build("patch_mlp", {"channels": [3, 16], "nc": 12})
    g = torch.Generator().manual_seed(1)
    feats = [torch.randn(2, 3, 6, 6, generator=g), torch.randn(2, 16, 3, 3, generator=g)]
    out, ids = head(feats, 20, generator=g)
    assert [o.shape for o in out] == [(2 * 20, 12), (2 * 9, 12)]  # a 3×3 layer has only 9 positions
    assert all(torch.allclose(o.norm(dim=1), torch.ones(len(o))) for o in out)
    assert len(set(ids[0].tolist())) == 20
    again, same = head(feats, 20, ids)
    assert all(torch.equal(a, b) for a, b in zip(ids, same, strict=True))
    assert all(torch.equal(a, b) for a, b in zip(out, again, strict=True))
    rebuilt = nets.build(head.arch, head.config)
    assert rebuilt.config == {"channels": [3, 16], "nc": 12}
    with pytest.raises(Exception, match="channels"):
        nets.build("patch_mlp", {"channels": []})


def test_generator_features_are_its_own_layers_outputs():
    g = nets.build("resnet_generator", {"n_blocks": 9})
    assert g.encoder_layers() == [0, 4, 8, 12, 16]  # CUT's nce_layers for resnet_9blocks
    small = nets.build("mobile_resnet_generator", {"n_blocks": 6, "ngf": 8, "upsample": "resize"})
    layers = small.encoder_layers()
    assert layers == [0, 4, 8, 12, 14]
    assert small.encoder_layers(pixels=False) == [4, 8, 12, 14]  # the fast preset's: no raw pixels
    x = torch.randn(1, 3, 32, 32)
    feats = small.features(x, layers)
    expect, h = [], x
    for index, layer in enumerate(small.model):
        h = layer(h)
        if index in layers:
            expect.append(h)
    assert all(torch.equal(a, b) for a, b in zip(feats, expect, strict=True))


# -- presets and variants ---------------------------------------------------------------------------


def test_presets_and_variants_are_cuts_defaults():
    cut = preset("cut", "x", dir_a="a", dir_b="b")
    assert (cut.variant, cut.lambda_nce, cut.nce_idt, cut.flip_equivariance) == ("cut", 1.0, True, False)
    assert (cut.nce_t, cut.num_patches, cut.patch_nc, cut.pool_size, cut.gan_mode) == (0.07, 256, 256, 0, "lsgan")
    assert (cut.n_epochs, cut.n_epochs_decay, cut.crop_size, cut.load_size, cut.lr) == (200, 200, 256, 286, 2e-4)
    assert cut.generator == {"arch": "resnet_generator", "params": {"n_blocks": 9, "ngf": 64, "norm": "instance",
                                                                    "upsample": "bilinear", "downsample": "blur"}}
    fast = preset("cut", "x", "fast", dir_a="a", dir_b="b", variant="fastcut")
    assert (fast.lambda_nce, fast.nce_idt, fast.flip_equivariance, fast.n_epochs, fast.n_epochs_decay) == \
        (10.0, False, True, 150, 50)
    assert fast.generator["arch"] == "mobile_resnet_generator"
    assert (fast.generator["params"]["upsample"], fast.generator["params"]["downsample"]) == ("bilinear", "blur")
    assert (cut.generator["params"]["upsample"], cut.generator["params"]["downsample"]) == ("bilinear", "blur")
    assert fast.crop_size == 128 and set(VARIANTS) == {"cut", "fastcut"}
    assert cut.nce_pixels and fast.nce_pixels  # CUT's layers, the raw pixels among them, in both presets
    with pytest.raises(StudioError, match="unknown variant 'fast' for cut"):
        preset("cut", "x", dir_a="a", dir_b="b", variant="fast")
    with pytest.raises(StudioError, match="for cyclegan .it has none"):
        preset("cyclegan", "x", dir_a="a", dir_b="b", variant="fastcut")
    with pytest.raises(StudioError, match="two folders"):
        preset("cut", "x", dir_a="a")
    # The fast preset augments a small folder by default, as for CycleGAN; the options override variants.
    chosen = run_config("cut", "x", "fast", {"dir_a": "a", "dir_b": "b", "variant": "fastcut", "lambda_nce": 4.0})
    assert chosen.lambda_nce == 4.0 and chosen.variant == "fastcut"


def test_the_cli_knows_every_trainable_kind_and_the_cut_options(tmp_path):
    from studio.cli.main import build_parser
    from studio.cli.train import TRAIN_KINDS, train_options
    from studio.core.train.kinds import KINDS

    assert set(TRAIN_KINDS) == set(KINDS) - {"distill"}  # a fast copy is made by `studio distill`
    args = build_parser().parse_args(["train", "cut", "--a", "a", "--b", "b", "--variant", "fastcut",
                                      "--lambda-nce", "2", "--num-patches", "64", "--no-nce-pixels"])
    options = train_options(args)
    assert (options["variant"], options["lambda_nce"], options["num_patches"]) == ("fastcut", 2.0, 64)
    assert not run_config("cut", "x", "fast", options).nce_pixels  # the encoder's features alone
    assert train_options(build_parser().parse_args(["train", "cut", "--a", "a", "--b", "b"]))["nce_pixels"] is None


# -- a trained CUT model through the studio --------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("cut")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STUDIO_HOME", str(root / "home"))
        mp.setenv("STUDIO_BUILTIN_MODELS", str(root / "builtin"))
        a, b = unpaired_folders(root / "data")
        events = list(train_job(tiny_config("cut", "horse2zebra", a, b, max_steps=4, preview_every=2)))
    return {"root": root, "a": a, "b": b, "events": events}


@pytest.fixture
def cut_home(trained, monkeypatch) -> Path:
    root = trained["root"]
    monkeypatch.setenv("STUDIO_HOME", str(root / "home"))
    monkeypatch.setenv("STUDIO_BUILTIN_MODELS", str(root / "builtin"))
    return root


def test_cut_trains_on_real_photos_and_publishes_its_generator_alone(trained, cut_home):
    events = trained["events"]
    losses = [e.values for e in events if isinstance(e, Losses)]
    assert len(losses) == 4 and set(losses[0]) == {"D", "G", "NCE", "NCE_Y"}
    assert all(math.isfinite(v) for step in losses for v in step.values())
    assert all(step["NCE"] > 0 and step["NCE_Y"] > 0 for step in losses)  # CUT: the identity term too
    previews = [e for e in events if isinstance(e, Preview)]
    assert previews and previews[0].image.shape == (3 * 32, 4 * 32, 3)  # 3 rows of A, G(A), B, G(B)
    assert isinstance(events[-1], Finished) and events[-1].value["model"] == "horse2zebra"
    info = ModelStore().get("horse2zebra")
    assert info.kind == "cut" and list(info.card["networks"]) == ["G"] and info.directions() == ["a2b"]
    config = info.card["provenance"]["config"]
    assert (config["variant"], config["lambda_nce"], config["nce_idt"], config["num_patches"]) == ("cut", 1.0, True, 16)
    assert info.card["provenance"]["images"] == {"A": 6, "B": 6}
    # The run's checkpoint has the head and the discriminator too; the model does not.
    saved = torch.load(cut_home / "home" / "runs" / "horse2zebra" / "checkpoint.pt", weights_only=False)
    assert set(saved["trainer"]["nets"]) == {"G", "D", "F"}


def test_a_cut_model_translates_one_way_and_refuses_the_other(trained, cut_home, tmp_path):
    source = tmp_path / "in.png"
    write_image(source, photo("astronaut", (40, 36)))
    assert main(["translate", "--model", "horse2zebra", "--device", "cpu", "-q", str(source),
                 "-o", str(tmp_path / "out.png")]) == 0
    assert (tmp_path / "out.png").stat().st_size > 0
    assert main(["translate", "--model", "horse2zebra", "--direction", "b2a", "--device", "cpu", "-q",
                 str(source), "-o", str(tmp_path / "back.png")]) != 0


def test_fine_tuning_from_a_cut_model(trained, cut_home):
    config = run_config("cut", "tuned", "reference", {"dir_a": str(trained["a"]), "dir_b": str(trained["b"]),
                                                      "crop_size": 32, "max_steps": 1, "workers": 0,
                                                      "num_patches": 16, "patch_nc": 16},
                        base_model="horse2zebra")
    assert config.generator == ModelStore().get("horse2zebra").card["networks"]["G"] and config.lr == 5e-5
    events = list(train_job(config))
    assert any("fine-tuning from 'horse2zebra'" in getattr(e, "message", "") for e in events)
    assert ModelStore().get("tuned").card["provenance"]["from_model"] == "horse2zebra"
    with pytest.raises(StudioError, match="a cut model cannot start a cyclegan run"):
        run_config("cyclegan", "bad", "reference", {"dir_a": "a", "dir_b": "b"}, base_model="horse2zebra")


def test_cut_exports_to_onnx_with_parity(trained, cut_home, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from studio.core.export import export_onnx_job, parts

    info = ModelStore().get("horse2zebra")
    assert parts(info) == ["a2b"]
    events = list(export_onnx_job("horse2zebra", tmp_path / "cut.onnx"))
    done = events[-1].value
    assert done["verified_with"] and done["max_abs_diff"] < 1e-3
    session = ort.InferenceSession(str(tmp_path / "cut.onnx"), providers=["CPUExecutionProvider"])
    x = torch.rand(1, 3, 36, 44) * 2 - 1
    ours = ModelStore().load("horse2zebra").networks["G"].eval()(x).detach().numpy()
    assert np.abs(session.run(None, {"image": x.numpy()})[0] - ours).max() < 1e-3


def test_cut_evaluation_reports_kid_and_memorisation_without_a_cycle(trained, cut_home, tmp_path, capsys):
    held_a, held_b = tmp_path / "heldA", tmp_path / "heldB"
    for i, name in enumerate(("astronaut", "coffee", "rocket")):
        write_image(held_a / f"{name}.png", photo(name, (36, 28)))
        write_image(held_b / f"{name}.png", photo(("chelsea", "hubble_deep_field", "immunohistochemistry")[i], (36, 28)))
    assert main(["eval", "--model", "horse2zebra", "--a", str(held_a), "--b", str(held_b), "-q",
                 "--device", "cpu"]) == 0
    record = ModelStore().get("horse2zebra").card["metrics"]["eval"]
    assert set(record["results"]) == {"a2b"} and "cycle" not in record["results"]["a2b"]
    memo = record["results"]["a2b"]["memorisation"]
    assert memo["training_folder"] == str(trained["b"].resolve()) and memo["training_images"] == 6
    capsys.readouterr()
    assert main(["eval", "--model", "horse2zebra", "--a", str(held_a), "--direction", "b2a", "-q"]) != 0
    assert "translates a2b only" in capsys.readouterr().err


def test_sigkill_during_fastcut_training_then_resume_reaches_the_planned_steps(tmp_path, studio_home):
    a, b = unpaired_folders(tmp_path, junk=False)
    cmd = [sys.executable, "-m", "studio", "train", "cut", "--variant", "fastcut", "--a", str(a), "--b", str(b),
           "--name", "killed", "--preset", "fast", "--size", "32", "--max-steps", "40", "--checkpoint-every", "3",
           "--num-patches", "32", "-q"]
    kill_then_resume(cmd, "killed", studio_home, 40, {**os.environ, "STUDIO_HOME": str(studio_home)})
    info = ModelStore().get("killed")
    assert info.card["provenance"]["steps"] == 40 and info.card["provenance"]["config"]["variant"] == "fastcut"
    assert info.card["provenance"]["config"]["nce_pixels"] is True  # CUT's layers: the raw pixels among them
    head = torch.load(studio_home / "runs" / "killed" / "checkpoint.pt", weights_only=False)["trainer"]["nets"]["F"]
    assert {key.split(".")[1] for key in head} == {"0", "1", "2", "3", "4"}  # CUT's five layers
