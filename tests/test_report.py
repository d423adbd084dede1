"""The text both front ends show, checked to the character."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.core import report
from studio.core.store import ModelInfo


def _info(tmp_path: Path, kind: str = "cyclegan", builtin: bool = False, **card) -> ModelInfo:
    folder = tmp_path / "h2z"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"\0" * 12_345_678)
    base = {
        "format_version": 1, "kind": kind, "name": "h2z", "image_size": 256,
        "networks": {"G_A": {"arch": "resnet_generator", "params": {"ngf": 64, "n_blocks": 9}},
                     "G_B": {"arch": "resnet_generator", "params": {"ngf": 64, "n_blocks": 9}}},
        "domains": {"A": "horse", "B": "zebra"}, "created": "not a date",
    }
    return ModelInfo(name="h2z", path=folder, card={**base, **card}, builtin=builtin)


def test_clock():
    assert [report.clock(s) for s in (None, float("nan"), -1, 0, 59.6, 245, 3845)] == [
        "—", "—", "—", "0:00", "1:00", "4:05", "1:04:05"]


def test_durations():
    assert [report.duration(s) for s in (0, 42.9, 60, 185, 3600, 7625)] == ["0s", "42s", "1m00s", "3m05s",
                                                                           "1h00m", "2h07m"]


def test_sizes_take_the_largest_unit_and_megabytes_one():
    assert [report.size(n) for n in (512, 4_000, 12_345_678, 1_234_567_890)] == ["512 B", "4.0 kB", "12.3 MB",
                                                                                "1.2 GB"]
    assert [report.megabytes(n) for n in (4_000, 12_345_678)] == ["0.0 MB", "12.3 MB"]


def test_created_is_local_time_or_the_text_itself():
    assert report.created("") == "—" and report.created("yesterday") == "yesterday"
    assert report.created("2026-01-31T14:05:00+00:00").startswith("2026-")
    assert len(report.created("2026-01-31T14:05:00+00:00")) == len("2026-01-31 14:05")


def test_the_listing_and_the_card_lines(tmp_path):
    info = _info(tmp_path, description="Horses to zebras.", provenance={"source": "import"})
    assert report.columns(report.list_rows([info])) == [
        "NAME  KIND      DOMAINS        DIRECTIONS  SIZE     WHERE",
        "h2z   cyclegan  horse ↔ zebra  a2b,b2a     12.3 MB  user",
    ]
    assert report.card_lines(info) == [
        "h2z",
        "  Horses to zebras.",
        "  Kind        CycleGAN",
        "  Domains     A = horse, B = zebra",
        "  Directions  a2b, b2a",
        "  Image size  256 px",
        "  Created     not a date",
        "  Size        12.3 MB",
        "  Source      your model",
        f"  Folder      {info.path}",
        "  Networks:",
        "    G_A  resnet_generator(ngf=64, n_blocks=9)",
        "    G_B  resnet_generator(ngf=64, n_blocks=9)",
        "  Provenance:",
        "    source  import",
    ]


def test_the_cli_and_the_panel_show_the_same_card_rows(tmp_path):
    from studio.gui.panels.models.details import card_html

    info = _info(tmp_path, provenance={"source": "import", "data": {"A": "/d/a"}}, metrics={"eval": {"psnr": 21.5}})
    view = report.card_view(info)
    lines, page = report.card_lines(info), card_html(info)
    for key, value in [*view.overview[:-1], *view.networks, *view.provenance, *view.metrics]:
        assert any(key in line and value in line for line in lines), (key, value)
        assert f"{key}</td>" in page or f"{key}</b>" in page or key in page
        assert value in page
    assert ("eval · psnr", "21.5") in view.metrics


def test_the_panel_rows(tmp_path):
    info = _info(tmp_path, kind="vae", builtin=True, networks={"net": {"arch": "conv_vae", "params": {"z": 8}}})
    assert report.domains_column(info) == "horse" and report.domains_pair(info) == "horse ↔ zebra"
    assert report.card_rows(info) == [
        ("Kind", "VAE"), ("Domains", "A = horse, B = zebra"), ("Directions", "—"), ("Image size", "256 px"),
        ("Created", "not a date"), ("Size", "12.3 MB"), ("Source", "built-in (read-only)"),
    ]
    assert report.network_rows(info.card) == [("net", "conv_vae(z=8)")]
    provenance = {"source": "train", "data": {"A": "/d/a", "B": None}, "skipped": [["/x/1.png", "bad"]],
                  "files": [1, 2], "empty": {}, "none": None}
    assert report.provenance_rows(provenance) == [
        ("source", "train"), ("data", "A: /d/a"), ("skipped", "1 file(s): 1.png"), ("files", "[1, 2]"), ("empty", "—"),
    ]
    assert report.metric_rows({"psnr": 21.23456, "eval": {"a2b": {"kid": None, "fid": 3.0}, "tags": ["a", "b"],
                                                          "none": []}}) == [
        ("psnr", "21.23"), ("eval · a2b · fid", "3"), ("eval · tags", "a, b"), ("eval · none", "—"),
    ]


DONE = {"model": "h2z", "part": "a2b", "path": "/out/h2z-a2b.onnx", "bytes": 45_600_000, "opset": 18,
        "max_abs_diff": 0.0001234, "tolerance": 1e-3, "verified_with": "onnxruntime 1.20.0",
        "checked_shapes": [[[2, 3, 256, 256]], [[1, 3, 163, 321]]], "note": None}


def test_onnx_summaries():
    assert report.onnx_written(DONE) == ("exported h2z a2b to /out/h2z-a2b.onnx (ONNX opset 18, 45.6 MB; "
                                         "onnx.checker passed)")
    assert report.onnx_parity(DONE) == ("onnxruntime 1.20.0 vs PyTorch on 2×3×256×256, 1×3×163×321: max abs diff "
                                        "1.23e-04 (tolerance 0.001)")
    assert report.onnx_summary(DONE) == f"{report.onnx_written(DONE)}\n{report.onnx_parity(DONE)}"
    unverified = {**DONE, "max_abs_diff": None, "verified_with": None, "note": "onnxruntime is missing"}
    assert report.onnx_parity(unverified) == "not verified: onnxruntime is missing"
    assert report.onnx_summary(unverified).endswith("onnx.checker passed)\nnot verified: onnxruntime is missing")


@pytest.mark.parametrize(("value", "digits", "text"), [
    (None, 4, "-"), (0.0, 4, "0"), (0.5, 4, "0.5"), (21.23456, 2, "21.23"), (0.000123456, 4, "0.0001235"), (7, 4, "7"),
])
def test_numbers(value, digits, text):
    assert report.number(value, digits) == text


def test_eval_lines_paired_and_latent():
    record = {"type": "paired", "device": "cpu", "measured": "2026-01-31T14:05:00+00:00",
              "data": {"A": "/a", "B": "/b", "pairs": 3},
              "results": {"psnr_db": 24.456, "ssim": 0.81234, "l1": 0.0521, "images": 3, "identical_images": 1},
              "skipped": [["/a/x.png", "bad"]]}
    assert report.eval_lines("p2p", record) == [
        "p2p: paired evaluation on cpu, 2026-01-31T14:05:00+00:00",
        "  A = /a, B = /b (3 pairs)",
        "  PSNR (dB)              24.46",
        "  SSIM                   0.8123",
        "  L1 (pixels in [0, 1])  0.0521",
        "  images                 3",
        "  identical to target    1",
        "  skipped 1 unreadable file(s)",
    ]
    latent = {"type": "latent", "device": "cpu", "measured": "t", "data": {"held_out": "/h", "images": 4},
              "results": {"bits_per_dim": 3.5, "reconstruction_psnr_db": None}}
    assert report.eval_lines("flow", latent) == [
        "flow: latent evaluation on cpu, t", "  held-out images: /h (4 images)",
        "  bits_per_dim            3.5", "  reconstruction_psnr_db  -",
    ]


def test_eval_lines_unpaired():
    section = {"translated": 2, "cycle": {"path": "a→b→a", "l1": 0.05, "psnr_db": 22.0, "images": 2},
               "kid": 0.0123, "kid_std": 0.002, "fid": 45.678, "fid_note": "biased",
               "samples": {"translated": 2, "real": 3},
               "memorisation": {"available": True, "min_ratio": 0.8, "flagged": [],
                                "closest": [{"output_of": "/a/1.png", "nearest": [{"file": "/t/9.png"}]}]}}
    record = {"type": "unpaired", "device": "cpu", "measured": "t",
              "data": {"A": "/a", "B": "/b", "images": {"A": 2, "B": 3}},
              "feature_space": {"fid_kid": None, "memorisation": "pixels-32"},
              "results": {"a2b": section, "b2a": {"translated": 3, "fid_kid_unavailable": "no Inception",
                                                  "memorisation": {"available": False, "reason": "no folder"}}}}
    assert report.eval_lines("cg", record) == [
        "cg: unpaired evaluation on cpu, t",
        "  A = /a (2 images), B = /b (3 images)",
        "  FID/KID features: unavailable",
        "  memorisation features: pixels-32",
        "  a2b translated      2",
        "  a2b cycle a→b→a L1  0.05  (PSNR 22 dB, 2 images)",
        "  a2b KID             0.0123 ± 0.002  (2 translated vs 3 real)",
        "  a2b FID             45.68  (biased at this sample size; compare KID)",
        "  a2b memorisation    nearest training image at 0.8 × the training set's own spacing; 0 flagged "
        "(closest: 1.png ~ 9.png)",
        "  b2a translated      3",
        "  b2a KID / FID       unavailable: no Inception",
        "  b2a memorisation    unavailable: no folder",
    ]
