"""studio.core.train.data: folders become deterministic, resumable [-1, 1] training tensors."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import photo
from PIL import Image

from studio.core.errors import StudioError
from studio.core.images import write_image
from studio.core.train import data
from studio.core.train.data import (
    DataError,
    EpochSampler,
    Preprocess,
    default_workers,
    make_loader,
    paired,
    scan_folder,
    unpaired,
)

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "camera", "immunohistochemistry")
SMALL = Preprocess("resize_and_crop", load_size=36, crop_size=32)


def make_photos(folder: Path, names: list[str], size: tuple[int, int] = (48, 40)) -> list[Path]:
    """One real photo per name (cycling through scikit-image's), written in the name's format."""
    paths = []
    for i, name in enumerate(names):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write_image(path, photo(PHOTOS[i % len(PHOTOS)], size))
        paths.append(path)
    return paths


def truncated_jpeg(path: Path, keep: float = 0.6) -> Path:
    """A JPEG cut short: its header still parses, its pixel data ends early."""
    write_image(path, photo("chelsea", (64, 48)), quality=95)
    payload = path.read_bytes()
    path.write_bytes(payload[: int(len(payload) * keep)])
    return path


def items(dataset, epoch: int = 0) -> list[dict]:
    return [dataset[(epoch, i)] for i in range(len(dataset))]


def assert_training_tensor(t: torch.Tensor, shape: tuple[int, int, int] | None = None) -> None:
    assert t.dtype == torch.float32 and t.ndim == 3 and t.shape[0] == 3
    assert -1.0 <= float(t.min()) and float(t.max()) <= 1.0
    assert float(t.std()) > 0.05  # a real photo, not a constant fill
    if shape is not None:
        assert tuple(t.shape) == shape


def batches(loader) -> list[dict]:
    return list(loader)


def assert_same_batches(left: list[dict], right: list[dict]) -> None:
    assert len(left) == len(right)
    for x, y in zip(left, right, strict=True):
        assert x["A_path"] == y["A_path"] and x["B_path"] == y["B_path"]
        assert torch.equal(x["A"], y["A"]) and torch.equal(x["B"], y["B"])


# -- scanning -----------------------------------------------------------------------------------


def test_scan_skips_junk_and_reports_it_by_name(tmp_path: Path) -> None:
    good = make_photos(tmp_path, ["a.jpg", "b.png", "deep/er/c.webp"])
    (tmp_path / "notes.jpg").write_text("not a picture\n" * 20)
    (tmp_path / "empty.png").write_bytes(b"")
    png = tmp_path / "cut.png"
    write_image(png, photo("coffee", (48, 40)))
    png.write_bytes(png.read_bytes()[:200])
    (tmp_path / "readme.txt").write_text("ignored: not an image extension")

    scan = scan_folder(tmp_path)

    assert scan.usable == sorted(good)
    reasons = {path.name: reason for path, reason in scan.skipped}
    assert set(reasons) == {"notes.jpg", "empty.png", "cut.png"}
    assert "not an image" in reasons["notes.jpg"]
    assert "empty" in reasons["empty.png"]
    assert "truncated" in reasons["cut.png"]
    assert scan.sizes[good[0]] == (48, 40)


def test_folder_of_junk_is_a_data_error_naming_folder_and_files(tmp_path: Path) -> None:
    folder = tmp_path / "trainB"
    folder.mkdir()
    (folder / "notes.jpg").write_text("not a picture")
    (folder / "empty.png").write_bytes(b"")
    with pytest.raises(DataError) as caught:
        scan_folder(folder)
    message = str(caught.value)
    assert str(folder) in message and "no usable image" in message
    assert "notes.jpg: not an image file" in message and "empty.png" in message
    assert isinstance(caught.value, StudioError)


def test_folder_without_image_files_says_what_it_holds(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("hello")
    with pytest.raises(DataError, match="none of them .*readme.txt"):
        scan_folder(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="empty"):
        unpaired(empty, tmp_path, SMALL)


def test_missing_folder_is_a_data_error(tmp_path: Path) -> None:
    make_photos(tmp_path / "A", ["a.png"])
    with pytest.raises(DataError, match="no such folder") as caught:
        unpaired(tmp_path / "A", tmp_path / "nowhere", SMALL)
    assert str(tmp_path / "nowhere") in str(caught.value)


def test_paired_without_matching_names_names_both_folders(tmp_path: Path) -> None:
    make_photos(tmp_path / "A", ["cat1.png", "cat2.png"])
    make_photos(tmp_path / "B", ["dog1.png", "dog2.png"])
    with pytest.raises(DataError) as caught:
        paired(tmp_path / "A", tmp_path / "B", preprocess=SMALL)
    message = str(caught.value)
    assert str(tmp_path / "A") in message and str(tmp_path / "B") in message
    assert "cat1" in message and "dog1" in message


def test_paired_matches_relative_path_then_bare_stem(tmp_path: Path) -> None:
    a = tmp_path / "A"
    b = tmp_path / "B"
    make_photos(a, ["x/1.png", "x/2.png", "3.png", "4.png", "5.png"])
    make_photos(b, ["x/1.jpg", "2.png", "y/2.png", "other/3.png", "6.png"])
    ds = paired(a, b, preprocess=SMALL)
    pairs = [(Path(x).relative_to(a).as_posix(), Path(y).relative_to(b).as_posix()) for x, y in ds.groups]
    # x/1 matches by relative path; 3 by bare stem; 2 is ambiguous in B (2.png and y/2.png).
    assert pairs == [("3.png", "other/3.png"), ("x/1.png", "x/1.jpg")]
    summary = ds.summary()
    assert summary["pairs"] == 2 and summary["A"] == 5 and summary["B"] == 5
    skipped = {Path(p).relative_to(tmp_path).as_posix(): reason for p, reason in summary["skipped"]}
    assert set(skipped) == {"A/x/2.png", "A/4.png", "A/5.png", "B/2.png", "B/y/2.png", "B/6.png"}
    assert f"several images in {b} are named '2'" in skipped["B/2.png"]
    assert f"several images in {b} are named '2'" in skipped["A/x/2.png"]
    assert str(b) in skipped["A/4.png"]


# -- decoding and preprocessing -----------------------------------------------------------------


def test_grey_palette_16bit_and_alpha_sources_become_rgb(tmp_path: Path) -> None:
    rgb = (photo("astronaut", (44, 36)) * 255).astype(np.uint8)
    grey = (photo("camera", (44, 36))[..., 0] * 255).astype(np.uint8)
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.fromarray(grey, "L").save(folder / "grey.png")
    Image.fromarray(grey.astype(np.uint16) * 257).save(folder / "deep16.png")
    Image.fromarray(np.dstack([rgb, np.full(grey.shape, 90, np.uint8)]), "RGBA").save(folder / "alpha.png")
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "palette.gif")
    assert Image.open(folder / "deep16.png").mode.startswith("I")

    ds = unpaired(folder, folder, Preprocess("none", flip=False), cache_budget=0)
    for item in items(ds):
        assert_training_tensor(item["A"], (3, 36, 44))
        if Path(item["A_path"]).name in ("grey.png", "deep16.png"):
            assert torch.equal(item["A"][0], item["A"][1]) and torch.equal(item["A"][1], item["A"][2])
    alpha = next(i["A"] for i in items(ds) if i["A_path"].endswith("alpha.png"))
    expected = torch.from_numpy(rgb.transpose(2, 0, 1).astype(np.float32) / 127.5 - 1.0)
    assert torch.equal(alpha, expected)  # alpha dropped, colour untouched (no compositing)


@pytest.mark.parametrize(
    ("pre", "source", "expected"),
    [
        (Preprocess("resize_and_crop", 36, 32), (60, 44), (32, 32)),
        (Preprocess("resize_and_crop", 36, 35), (60, 44), (36, 36)),  # 35 rounds to 36
        (Preprocess("crop", 36, 32), (60, 44), (32, 32)),
        (Preprocess("crop", 36, 32), (24, 20), (32, 32)),  # scaled up first, never cropped past the edge
        (Preprocess("scale_width", 36, 32), (50, 70), (48, 36)),  # 36 * 70 / 50 = 50.4 -> 50 -> 48
        (Preprocess("scale_width", 36, 32), (60, 44), (32, 36)),  # height at least crop_size
        (Preprocess("scale_width_and_crop", 36, 32), (50, 70), (32, 32)),
        (Preprocess("none"), (58, 42), (40, 56)),  # like the reference's round(): 14.5 -> 14, 10.5 -> 10
        (Preprocess("none"), (64, 48), (48, 64)),
    ],
)
def test_preprocess_output_sizes(tmp_path: Path, pre: Preprocess, source: tuple[int, int],
                                 expected: tuple[int, int]) -> None:
    make_photos(tmp_path, ["a.png", "b.jpg"], size=source)
    ds = unpaired(tmp_path, tmp_path, pre)
    for epoch in range(3):
        for item in items(ds, epoch):
            assert_training_tensor(item["A"], (3, *expected))
            assert_training_tensor(item["B"], (3, *expected))


def test_preprocess_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="mode"):
        Preprocess("zoom")
    with pytest.raises(ValueError, match="larger than load_size"):
        Preprocess("resize_and_crop", load_size=32, crop_size=64)
    Preprocess("crop", load_size=32, crop_size=64)  # crop mode ignores load_size


def test_crops_and_flips_vary_with_epoch_and_seed(tmp_path: Path) -> None:
    make_photos(tmp_path, ["a.png"])
    ds = unpaired(tmp_path, tmp_path, SMALL, seed=3)
    first = [ds[(epoch, 0)]["A"] for epoch in range(8)]
    assert len({t.numpy().tobytes() for t in first}) >= 4
    whole = unpaired(tmp_path, tmp_path, Preprocess("none"), seed=3)
    plain = unpaired(tmp_path, tmp_path, Preprocess("none", flip=False))[(0, 0)]["A"]
    flips = [torch.equal(whole[(e, 0)]["A"], plain.flip(2)) for e in range(12)]
    assert any(flips) and not all(flips)
    assert all(torch.equal(whole[(e, 0)]["A"], plain) for e, flipped in enumerate(flips) if not flipped)
    other_seed = unpaired(tmp_path, tmp_path, SMALL, seed=4)
    assert not all(torch.equal(ds[(e, 0)]["A"], other_seed[(e, 0)]["A"]) for e in range(8))


# -- paired data --------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["resize_and_crop", "crop", "scale_width_and_crop", "none"])
def test_paired_a_and_b_get_the_same_crop_and_flip(tmp_path: Path, mode: str) -> None:
    names = ["p1.png", "sub/p2.png", "p3.png"]
    make_photos(tmp_path / "A", names, size=(56, 44))
    make_photos(tmp_path / "B", names, size=(56, 44))
    ds = paired(tmp_path / "A", tmp_path / "B", preprocess=Preprocess(mode, 40, 32), seed=7)
    seen = set()
    for epoch in range(4):
        for item in items(ds, epoch):
            assert torch.equal(item["A"], item["B"])
            seen.add(item["A"].numpy().tobytes())
    assert len(seen) > len(names)  # the crops and flips did vary


def test_side_by_side_pairs_split_into_left_a_and_right_b(tmp_path: Path) -> None:
    left = photo("astronaut", (40, 32))
    right = photo("coffee", (40, 32))
    folder = tmp_path / "AB"
    folder.mkdir()
    write_image(folder / "one.png", np.concatenate([left, right], axis=1))
    write_image(folder / "two.png", np.concatenate([right, left], axis=1))
    ds = paired(pairs=folder, preprocess=Preprocess("none", flip=False))
    as_tensor = {k: torch.from_numpy(np.rint(v * 255).transpose(2, 0, 1) / 127.5 - 1.0).float()
                 for k, v in {"left": left, "right": right}.items()}
    one, two = items(ds)
    assert one["A_path"] == one["B_path"] == str(folder / "one.png")
    assert torch.allclose(one["A"], as_tensor["left"]) and torch.allclose(one["B"], as_tensor["right"])
    assert torch.allclose(two["A"], as_tensor["right"]) and torch.allclose(two["B"], as_tensor["left"])
    assert ds.summary()["pairs"] == 2 and ds.summary()["folders"] == {"AB": str(folder)}

    flipped = paired(pairs=folder, preprocess=Preprocess("crop", crop_size=24), seed=1)
    for epoch in range(3):
        for item in items(flipped, epoch):
            assert item["A"].shape == item["B"].shape == (3, 24, 24)


def test_paired_b_of_another_size_is_brought_to_a(tmp_path: Path) -> None:
    make_photos(tmp_path / "A", ["x.png"], size=(48, 40))
    make_photos(tmp_path / "B", ["x.png"], size=(96, 80))
    ds = paired(tmp_path / "A", tmp_path / "B", preprocess=Preprocess("crop", crop_size=24))
    item = ds[(0, 0)]
    assert item["A"].shape == item["B"].shape == (3, 24, 24)
    assert (item["A"] - item["B"]).abs().mean() < 0.05  # same photo, same crop


def test_paired_needs_folders_or_pairs(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        paired(tmp_path, preprocess=SMALL)
    with pytest.raises(ValueError):
        paired(tmp_path, tmp_path, pairs=tmp_path, preprocess=SMALL)


# -- determinism and resume ---------------------------------------------------------------------


@pytest.fixture
def domains(tmp_path: Path) -> tuple[Path, Path]:
    a = tmp_path / "A"
    b = tmp_path / "B"
    make_photos(a, [f"a{i}.jpg" for i in range(7)])
    make_photos(b, [f"b{i}.png" for i in range(4)])
    return a, b


def test_same_seed_and_epoch_give_identical_batches(domains: tuple[Path, Path]) -> None:
    first = batches(make_loader(unpaired(*domains, SMALL, seed=5), batch_size=2, seed=5, epoch=3))
    again = batches(make_loader(unpaired(*domains, SMALL, seed=5), batch_size=2, seed=5, epoch=3))
    assert_same_batches(first, again)
    assert [len(b["A_path"]) for b in first] == [2, 2, 2, 1]  # drop_last is off; paths stay lists
    assert first[0]["A"].shape == (2, 3, 32, 32)


def test_epochs_have_different_orders(domains: tuple[Path, Path]) -> None:
    ds = unpaired(*domains, SMALL)
    orders = [sum((b["A_path"] for b in make_loader(ds, batch_size=3, seed=0, epoch=e)), []) for e in range(3)]
    assert all(sorted(order) == sorted(orders[0]) for order in orders)  # each a full pass over A
    assert orders[0] != orders[1] != orders[2]


@pytest.mark.parametrize(("batch_size", "start"), [(1, 3), (2, 4), (3, 3)])
def test_resumed_loader_yields_the_tail_of_the_epoch(domains: tuple[Path, Path], batch_size: int, start: int) -> None:
    full = batches(make_loader(unpaired(*domains, SMALL, seed=2), batch_size=batch_size, seed=2, epoch=1))
    resumed = batches(make_loader(unpaired(*domains, SMALL, seed=2), batch_size=batch_size, seed=2,
                                  epoch=1, start=start))
    assert_same_batches(resumed, full[start // batch_size :])


def test_sampler_is_a_seeded_permutation() -> None:
    keys = list(EpochSampler(10, seed=1, epoch=4))
    assert {e for e, _ in keys} == {4} and sorted(i for _, i in keys) == list(range(10))
    assert keys == list(EpochSampler(10, seed=1, epoch=4))
    assert keys != list(EpochSampler(10, seed=2, epoch=4))
    assert list(EpochSampler(10, seed=1, epoch=4, start=6)) == keys[6:]
    assert len(EpochSampler(10, seed=1, epoch=4, start=6)) == 4
    with pytest.raises(ValueError):
        EpochSampler(10, seed=1, epoch=0, start=11)


def test_unpaired_partner_is_random_but_reproducible(domains: tuple[Path, Path]) -> None:
    ds = unpaired(*domains, SMALL, seed=9)
    twin = unpaired(*domains, SMALL, seed=9)
    partners = [[ds[(e, i)]["B_path"] for i in range(len(ds))] for e in range(3)]
    assert partners == [[twin[(e, i)]["B_path"] for i in range(len(twin))] for e in range(3)]
    b_paths = [str(p) for p in sorted(domains[1].iterdir())]
    assert partners[0] != [b_paths[i % 4] for i in range(7)]  # not the serial pairing
    assert len({p for epoch in partners for p in epoch}) == 4
    assert partners[0] != partners[1]
    assert [ds[(0, i)]["A_path"] for i in range(7)] == [str(domains[0] / f"a{i}.jpg") for i in range(7)]


def test_len_is_the_larger_domain(domains: tuple[Path, Path]) -> None:
    a, b = domains
    assert len(unpaired(a, b, SMALL)) == 7
    assert len(unpaired(b, a, SMALL)) == 7
    swapped = unpaired(b, a, SMALL)
    assert [Path(swapped[(0, i)]["A_path"]).name for i in range(7)] == [f"b{i % 4}.png" for i in range(7)]


def test_worker_processes_change_nothing(domains: tuple[Path, Path]) -> None:
    ds = unpaired(*domains, SMALL, seed=1)
    alone = batches(make_loader(ds, batch_size=2, seed=1, epoch=0, workers=0))
    assert_same_batches(batches(make_loader(ds, batch_size=2, seed=1, epoch=0, workers=2)), alone)


# -- broken files at load time ------------------------------------------------------------------


def test_file_broken_past_its_header_is_substituted_and_recorded(tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "A"
    make_photos(folder, ["a.png", "c.png"])
    bad = truncated_jpeg(folder / "b.jpg")
    scan = scan_folder(folder)
    ds = unpaired(folder, folder, SMALL, cache_budget=0)
    caplog.set_level(logging.WARNING, logger="studio.core.train")
    for epoch in range(3):
        for item in items(ds, epoch):
            assert item["A_path"] != str(bad) and item["B_path"] != str(bad)
            assert_training_tensor(item["A"], (3, 32, 32))
            assert_training_tensor(item["B"], (3, 32, 32))
    if bad in scan.usable:  # the header scan let it through: decoding must catch it
        assert ds.failed == {str(bad): "image data is truncated or corrupt"}
        assert ds.summary()["failed"] == [(str(bad), "image data is truncated or corrupt")]
        assert sum("b.jpg" in r.getMessage() for r in caplog.records) == 1  # warned once only
        assert ds[(0, 1)]["A_path"] == str(folder / "c.png")  # the next file stands in
    else:
        assert bad in dict(scan.skipped)
        assert str(bad) in dict(ds.summary()["skipped"])


def test_folder_where_nothing_decodes_raises_instead_of_looping(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("x.jpg", "y.jpg"):
        truncated_jpeg(bad / name)
    make_photos(tmp_path / "good", ["g.png"])
    try:
        ds = unpaired(bad, tmp_path / "good", SMALL)
    except DataError as exc:  # the scan already caught the truncation
        assert "no usable image" in str(exc)
        return
    with pytest.raises(DataError, match=f"{bad}: none of the 2 images can be decoded"):
        ds[(0, 0)]
    assert set(ds.failed) == {str(bad / "x.jpg"), str(bad / "y.jpg")}


# -- cache and loader settings ------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["resize_and_crop", "scale_width_and_crop", "none", "crop"])
def test_cache_changes_nothing(domains: tuple[Path, Path], mode: str) -> None:
    pre = Preprocess(mode, 36, 32)
    cached = unpaired(*domains, pre, seed=4)
    plain = unpaired(*domains, pre, seed=4, cache_budget=0)
    assert cached.caching and not plain.caching
    for epoch in range(2):
        for x, y in zip(items(cached, epoch), items(plain, epoch), strict=True):
            assert torch.equal(x["A"], y["A"]) and torch.equal(x["B"], y["B"])
    assert len(cached._cache) == 11 and not plain._cache
    assert not unpaired(*domains, pre, cache_budget=1000).caching  # over budget


def test_summary_is_plain_data(domains: tuple[Path, Path]) -> None:
    import json

    (domains[0] / "junk.png").write_text("nope")
    summary = unpaired(*domains, SMALL).summary()
    assert summary["kind"] == "unpaired" and summary["A"] == 7 and summary["B"] == 4 and summary["items"] == 7
    assert summary["skipped"] == [(str(domains[0] / "junk.png"), "not an image file")]
    assert summary["preprocess"] == {"mode": "resize_and_crop", "load_size": 36, "crop_size": 32, "flip": True}
    json.dumps(summary)


def test_default_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data.os, "cpu_count", lambda: 8)
    assert default_workers() == 4
    monkeypatch.setattr(data.os, "cpu_count", lambda: 3)
    assert default_workers() == 2
    monkeypatch.setattr(data.os, "cpu_count", lambda: 2)
    assert default_workers() == 0
    monkeypatch.setattr(data.os, "cpu_count", lambda: 16)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert default_workers() == 0


def test_loader_settings(domains: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    ds = unpaired(*domains, SMALL)
    monkeypatch.setattr(data.os, "cpu_count", lambda: 2)
    loader = make_loader(ds, batch_size=4, seed=0, epoch=0)
    assert loader.num_workers == 0 and not loader.pin_memory and not loader.drop_last
    assert isinstance(loader.sampler, EpochSampler)
    threaded = make_loader(ds, batch_size=4, seed=0, epoch=0, workers=2, device="cuda")
    assert threaded.num_workers == 2 and threaded.prefetch_factor == 2 and not threaded.persistent_workers
    assert threaded.pin_memory


def test_single_folder_keeps_a_seeded_held_out_split(tmp_path):
    from conftest import photo as real_photo

    from studio.core.images import write_image
    from studio.core.train.data import Preprocess, single

    for k in range(12):
        write_image(tmp_path / "imgs" / f"{k:02d}.png", real_photo("astronaut", (24 + k, 24)))
    pre = Preprocess("resize_and_crop", 20, 16, flip=True)
    ds = single(tmp_path / "imgs", pre, seed=3)
    again = single(tmp_path / "imgs", pre, seed=3)
    assert len(ds) == 11 and len(ds.held_out) == 1
    train_paths = {ds[i]["A_path"] for i in range(len(ds))}
    held = {ds.held_out[i]["A_path"] for i in range(len(ds.held_out))}
    assert not train_paths & held and len(train_paths | held) == 12
    assert held == {again.held_out[i]["A_path"] for i in range(1)}
    assert ds[(0, 0)]["A"].shape == (3, 16, 16)
    assert ds.summary()["A"] == 11 and ds.summary()["held_out"] == 1
