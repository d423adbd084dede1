"""Translation engine: native size, tiling with whole-image statistics, pix2pix image statistics, jobs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import photo, psnr
from helpers import record_tile_stores, save_cyclegan, save_pix2pix
from PIL import Image

from studio.core import jobs
from studio.core.images import read_image, to_uint8, write_image
from studio.core.jobs import Control, Finished, Item, Progress
from studio.core.paths import studio_home
from studio.core.store import ModelStore
from studio.core.translate import Translator, translate_job
from studio.core.translate.image_norms import image_norms


@pytest.fixture
def cyclegan():
    return ModelStore().load(save_cyclegan())


def test_translation_keeps_native_size_for_awkward_sizes(cyclegan):
    translator = Translator(cyclegan, "a2b", device="cpu")
    for w, h in [(203, 157), (64, 64), (31, 90)]:
        out = translator.translate_array(photo("coffee", (w, h)), tile=0)
        assert out.shape == (h, w, 3)
        assert out.dtype == np.float32 and 0.0 <= out.min() and out.max() <= 1.0


def test_both_directions_differ_and_depend_on_the_image(cyclegan):
    a2b = Translator(cyclegan, "a2b", device="cpu")
    b2a = Translator(cyclegan, "b2a", device="cpu")
    img = photo("astronaut", (96, 96))
    out_a, out_b = a2b.translate_array(img), b2a.translate_array(img)
    assert np.abs(out_a - out_b).mean() > 0.02
    assert np.abs(out_a - a2b.translate_array(photo("chelsea", (96, 96)))).mean() > 0.02


def test_tiled_output_matches_whole_image_on_a_large_photo(cyclegan):
    translator = Translator(cyclegan, "a2b", device="cpu")
    img = photo("astronaut", (2400, 1600))
    whole = translator.translate_array(img, tile=0)
    tiled = translator.translate_array(img, tile=512)
    assert tiled.shape == whole.shape == (1600, 2400, 3)
    score = psnr(whole, tiled)
    assert score >= 40.0, f"tiled vs whole: {score:.1f} dB"


def test_tiles_with_their_own_statistics_would_show(cyclegan):
    """The check above is discriminative: per-tile statistics (the naive way) fall well short of it."""
    translator = Translator(cyclegan, "a2b", device="cpu")
    img = photo("astronaut", (768, 512))
    whole = translator.translate_array(img, tile=0)
    naive = np.zeros_like(whole)
    for y in range(0, 512, 256):
        for x in range(0, 768, 256):
            naive[y : y + 256, x : x + 256] = translator.translate_array(img[y : y + 256, x : x + 256], tile=0)
    tiled = translator.translate_array(img, tile=256)
    assert psnr(whole, tiled) >= 40.0
    assert psnr(whole, naive) < 30.0


def test_tile_weights_partition_unity(cyclegan):
    from studio.core.translate.tiling import FEATHER, plan_tiles

    tiles = plan_tiles(300, 500, 128, 64)
    total = torch.zeros(300, 500)
    for t in tiles:
        total[t.y0 : t.y1, t.x0 : t.x1] += t.weights(300, 500, FEATHER)[0, 0]
    assert torch.allclose(total, torch.ones_like(total))


def test_automatic_tiling_kicks_in_under_a_small_budget(cyclegan):
    translator = Translator(cyclegan, "a2b", device="cpu", memory_budget=20 << 20)
    assert translator.auto_tile(64, 64) == 0
    tile = translator.auto_tile(3000, 2000)
    assert tile > 0 and tile % translator.profile.size_multiple == 0
    img = photo("coffee", (900, 600))
    assert psnr(translator.translate_array(img, tile=0), translator.translate_array(img)) >= 40.0


def test_the_tile_a_translation_uses_is_rounded_and_never_covers_the_whole_photo(cyclegan):
    translator = Translator(cyclegan, "a2b", device="cpu", memory_budget=20 << 20)
    m = translator.profile.size_multiple
    assert translator.tile_for(600, 1000, 250) == 252 == -(-250 // m) * m
    assert translator.tile_for(200, 150, 256) == 0  # one tile would be the whole photo
    assert translator.tile_for(64, 64) == 0 and translator.tile_for(2000, 3000) == translator.auto_tile(2000, 3000)
    assert translator.tile_for(2000, 3000, 0) == 0


def test_pix2pix_uses_the_statistics_of_the_image_and_changes_nothing():
    model = ModelStore().load(save_pix2pix())
    net = model.generator("a2b")
    before = {k: v.clone() for k, v in net.state_dict().items()}
    translator = Translator(model, "a2b", device="cpu")
    img = photo("astronaut", (64, 64))
    out = translator.translate_array(img, tile=0)
    # The reference's test script: batch norm in train mode (statistics of this image), here without dropout.
    reference = net.__class__(**net.config)
    reference.load_state_dict(net.state_dict())
    reference.train()
    for m in reference.modules():
        if isinstance(m, torch.nn.Dropout):
            m.eval()
    x = torch.from_numpy(img).permute(2, 0, 1)[None] * 2 - 1
    with torch.no_grad():
        expected = ((reference(x)[0].permute(1, 2, 0).numpy() + 1) / 2).clip(0, 1)
    assert np.abs(to_uint8(out).astype(int) - to_uint8(expected).astype(int)).max() <= 1
    # ... and different from running-average (eval) mode, which is what the option avoids.
    reference.eval()
    with torch.no_grad():
        eval_out = ((reference(x)[0].permute(1, 2, 0).numpy() + 1) / 2).clip(0, 1)
    assert np.abs(eval_out - out).mean() > 1e-3
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), f"{k} changed by translation"
    assert image_norms(translator.net), "batch norm layers were replaced for inference"


def test_pix2pix_dropout_option_gives_variations():
    model = ModelStore().load(save_pix2pix(num_downs=6))  # dropout sits in the repeated inner blocks
    img = photo("astronaut", (64, 64))
    plain = Translator(model, device="cpu")
    assert np.array_equal(plain.translate_array(img), plain.translate_array(img))
    varied = Translator(model, device="cpu", dropout=True)
    assert not np.array_equal(varied.translate_array(img), varied.translate_array(img))


def test_alpha_is_reattached(cyclegan, tmp_path):
    rgb = photo("chelsea", (80, 60))
    alpha = np.linspace(0, 1, 80 * 60, dtype=np.float32).reshape(60, 80)
    write_image(tmp_path / "in.png", rgb, alpha)
    Translator(cyclegan, device="cpu").translate_file(tmp_path / "in.png", tmp_path / "out.png")
    out = read_image(tmp_path / "out.png")
    assert out.size == (80, 60)
    assert out.alpha is not None and np.abs(out.alpha - alpha).max() <= 1 / 255 + 1e-6


def test_batch_job_skips_junk_and_translates_the_rest(cyclegan, tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    write_image(src / "a.jpg", photo("coffee", (64, 48)))
    write_image(src / "sub" / "b.png", photo("chelsea", (40, 40)))
    Image.fromarray((photo("astronaut", (32, 32)) * 255).astype(np.uint8)).save(src / "c.gif")
    (src / "junk.png").write_bytes(b"not an image at all")
    (src / "empty.jpg").write_bytes(b"")
    translator = Translator(cyclegan, device="cpu")
    events = list(translate_job(translator, [src], tmp_path / "out"))
    finished = events[-1]
    assert isinstance(finished, Finished)
    assert sorted(p.split("/")[-1] for p, _ in finished.value["failed"]) == ["empty.jpg", "junk.png"]
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.*")) == [
        "a.jpg", "c.png", "sub/b.png",
    ]
    assert read_image(tmp_path / "out" / "sub" / "b.png").size == (40, 40)
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress[-1].done == progress[-1].total == 5
    skipped = sorted(Path(e.path).name for e in events if isinstance(e, Item) and e.skipped)
    assert skipped == ["empty.jpg", "junk.png"]


def test_batch_job_can_be_cancelled(cyclegan, tmp_path):
    for i in range(4):
        write_image(tmp_path / "in" / f"{i}.png", photo("coffee", (32, 32)))
    control = Control()
    translator = Translator(cyclegan, device="cpu")
    written = []
    for event in translate_job(translator, [tmp_path / "in"], tmp_path / "out", control=control):
        if isinstance(event, Item):
            written.append(event.output)
            control.cancel()
        last = event
    assert isinstance(last, Finished) and last.value["cancelled"]
    assert len(written) == 1


def _whole_and_tiled(model, monkeypatch, name, size, memory, disk=None):
    """The whole-image and the 128-px tiled translation of a photo, with ``memory`` bytes to keep
    activations in (and ``disk`` bytes of free disk, if given); also the stores the tiled run opened."""
    from studio.core.translate import tiling

    translator = Translator(model, "a2b", device="cpu")
    img = photo(name, size)
    whole = translator.translate_array(img, tile=0)
    monkeypatch.setattr(tiling, "CPU_CACHE_BUDGET", memory)
    if disk is not None:
        monkeypatch.setattr(tiling, "free_disk", lambda: disk)
    opened = record_tile_stores(monkeypatch)
    return whole, translator.translate_array(img, tile=128), opened


def test_activation_cache_in_half_precision_keeps_the_result(cyclegan, monkeypatch):
    """Big photos keep intermediate activations in fp16 when fp32 would not fit the budget."""
    whole, tiled, opened = _whole_and_tiled(cyclegan, monkeypatch, "coffee", (640, 384), int(640 * 384 * 20))
    assert torch.float16 in [s.dtype for s in opened if not s.was_on_disk]
    assert psnr(whole, tiled) >= 40.0


def test_activations_too_big_for_memory_go_to_a_temporary_file_and_are_removed(cyclegan, monkeypatch):
    whole, tiled, opened = _whole_and_tiled(cyclegan, monkeypatch, "astronaut", (640, 384), 0)
    on_disk = [s for s in opened if s.was_on_disk]
    assert len(on_disk) >= 3, "every stage boundary should have been kept on disk"
    assert all(s._file is None for s in opened), "a temporary file was left open"
    scratch = str(studio_home() / "scratch")
    assert all(s.file_path.startswith(scratch) for s in on_disk if s.file_path), "not in STUDIO_HOME/scratch"
    assert psnr(whole, tiled) >= 40.0


def test_without_room_anywhere_every_pass_starts_from_the_photo(cyclegan, monkeypatch):
    whole, tiled, opened = _whole_and_tiled(cyclegan, monkeypatch, "chelsea", (384, 256), 0, disk=0)
    assert len(opened) == 1  # only the views of the photo itself
    assert psnr(whole, tiled) >= 45.0


def test_tile_store_keeps_values_beyond_half_precision_in_full_precision():
    from studio.core.translate.tiling import Place, TileStore

    for on_disk in (False, True):
        store = TileStore(Place(torch.float16, on_disk=on_disk))
        ordinary, huge = torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8) * 1e6
        store.put(0, ordinary)
        store.put(1, huge)
        assert store.get(0).dtype == torch.float16 and torch.allclose(store.get(0).float(), ordinary, atol=1e-2)
        assert store.get(1).dtype == torch.float32 and torch.equal(store.get(1), huge)
        store.close()


def test_tiled_translation_reports_progress_and_can_be_cancelled_midway(cyclegan, monkeypatch):
    from studio.core.errors import Cancelled

    translator = Translator(cyclegan, "a2b", device="cpu")
    img = photo("coffee", (384, 256))
    fractions = []
    jobs.run(translator.array_steps(img, tile=128), on_event=lambda p: fractions.append(p.fraction))
    assert len(fractions) > 10 and fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)

    monkeypatch.setattr("studio.core.translate.tiling.CPU_CACHE_BUDGET", 0)  # a temporary file to let go of
    opened = record_tile_stores(monkeypatch)
    control = Control()
    seen = []

    def cancel_at_a_third(progress):
        seen.append(progress.fraction)
        if progress.fraction > 0.33:
            control.cancel()

    with pytest.raises(Cancelled):
        jobs.run(translator.array_steps(img, tile=128), on_event=cancel_at_a_third, control=control)
    assert seen[-1] < 0.5
    assert any(s.was_on_disk for s in opened) and all(s._file is None for s in opened)
    assert all(n.mode == "local" for n in image_norms(translator.net))


def test_batch_job_reports_progress_inside_a_tiled_photo_and_cancels_there(cyclegan, tmp_path):
    write_image(tmp_path / "big.png", photo("astronaut", (384, 256)))
    translator = Translator(cyclegan, device="cpu")
    control = Control()
    parts = []
    for event in translate_job(translator, [tmp_path / "big.png"], tmp_path / "out.png", tile=128, control=control):
        if isinstance(event, Progress) and event.part:
            parts.append(event.part)
            if len(parts) == 5:
                control.cancel()
        last = event
    assert len(parts) == 5 and 0 < parts[0] < parts[-1] < 1
    assert isinstance(last, Finished) and last.value["cancelled"] and not last.value["written"]
    assert not (tmp_path / "out.png").exists()


def test_every_supported_format_translates_at_its_own_size(cyclegan, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    rgb8 = (photo("chelsea", (45, 30)) * 255).astype(np.uint8)
    base = Image.fromarray(rgb8)
    base.save(src / "plain.png")
    base.save(src / "progressive.jpg", progressive=True, quality=90)
    base.convert("CMYK").save(src / "cmyk.jpg")
    base.save(src / "photo.webp")
    base.save(src / "photo.tiff")
    base.save(src / "photo.bmp")
    base.save(src / "first.gif", save_all=True, append_images=[base.rotate(90)])
    Image.fromarray(rgb8[..., 0].astype(np.uint16) * 257).save(src / "sixteen.png")
    base.convert("L").save(src / "gray.png")
    pal = base.convert("P", palette=Image.ADAPTIVE, colors=16)
    pal.info["transparency"] = 0
    pal.save(src / "palette.png", transparency=0)
    base.convert("RGBA").save(src / "rgba.png")
    base.convert("LA").save(src / "la.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° on display: the photo is 30 wide and 45 high as people see it
    base.save(src / "rotated.jpg", exif=exif.tobytes())
    events = list(translate_job(Translator(cyclegan, device="cpu"), [src], tmp_path / "out"))
    assert events[-1].value["failed"] == []
    for f in sorted(src.iterdir()):
        expected = (30, 45) if f.name == "rotated.jpg" else (45, 30)
        out = tmp_path / "out" / (f.stem + (".png" if f.suffix == ".gif" else f.suffix))
        result = read_image(out)
        assert result.size == expected, f.name
        if f.name in ("palette.png", "rgba.png", "la.png"):
            assert result.alpha is not None, f"{f.name}: alpha lost"
