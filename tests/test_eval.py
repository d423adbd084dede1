"""`studio eval`: paired and unpaired evaluation jobs, figures written into the card."""

from __future__ import annotations

import importlib.metadata
import json
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import photo
from conftest import psnr as reference_psnr
from helpers import save_cyclegan, save_pix2pix

from studio.cli import main
from studio.core import nets
from studio.core.evaluate import EvalError, evaluate, evaluate_job, metrics, select
from studio.core.images import image_to_tensor, read_image, tensor_to_image, to_uint8, write_image
from studio.core.jobs import Control, Finished, Item
from studio.core.latent import LatentModel
from studio.core.store import ModelStore, new_card
from studio.core.translate import Translator

NAMES = ("astronaut", "chelsea", "coffee", "rocket")


@pytest.fixture(autouse=True)
def no_packaged_inception(monkeypatch):
    """Tests must not depend on whether the studio[metrics] extra happens to be installed."""

    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)


def _translate(model: str, direction: str, rgb: np.ndarray) -> np.ndarray:
    translator = Translator(ModelStore().load(model), direction, device="cpu")
    return to_uint8(tensor_to_image(translator.translate_tensor(image_to_tensor(rgb))))


class _Stats(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3)), x.amax(dim=(2, 3))], 1)


def _feature_file(path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.script(_Stats()).save(str(path))
    return path


# -- paired -----------------------------------------------------------------------------------------

def test_paired_eval_matches_targets_by_name_and_writes_the_card(tmp_path):
    save_pix2pix("p2p")
    a, b = tmp_path / "A", tmp_path / "B"
    expected = {}
    for i, name in enumerate(NAMES[:3]):
        rgb = photo(name, (48, 40))
        write_image(a / "sub" / f"{name}.png", rgb)
        out = _translate("p2p", "a2b", read_image(a / "sub" / f"{name}.png").rgb)
        target = out.copy()
        target[: 4 * (i + 1)] = 255 - target[: 4 * (i + 1)]  # a different error per image
        write_image(b / "sub" / f"{name}.jpg" if i == 0 else b / "sub" / f"{name}.png", target / 255.0)
        expected[name] = (out / 255.0, read_image(b / "sub" / (f"{name}.jpg" if i == 0 else f"{name}.png")).rgb)
    write_image(a / "unmatched.png", photo("coffee", (48, 40)))
    done = evaluate("p2p", a, b, device="cpu")
    record = done["metrics"]
    results = record["results"]
    assert results["images"] == 3 and results["unmatched"] == {"A": 1, "B": 0}
    per = {Path(r["file"]).stem: r for r in done["details"]["images"]}
    for name, (out, target) in expected.items():
        assert per[name]["psnr_db"] == pytest.approx(reference_psnr(out, target), abs=1e-3)
        assert per[name]["l1"] == pytest.approx(np.abs(out - target).mean(), abs=1e-6)
    assert results["psnr_db"] == pytest.approx(np.mean([reference_psnr(*v) for v in expected.values()]), abs=1e-3)
    assert 0 < results["ssim"] < 1
    card = ModelStore().get("p2p").card
    assert card["metrics"]["eval"] == record
    assert record["data"]["A"] == str(a.resolve()) and record["data"]["pairs"] == 3 and record["measured"]


def test_paired_eval_identical_targets_and_skipped_files(tmp_path, capsys):
    save_pix2pix("p2p")
    a, b = tmp_path / "A", tmp_path / "B"
    rgb = photo("astronaut", (32, 32))
    write_image(a / "x.png", rgb)
    write_image(b / "x.png", _translate("p2p", "a2b", read_image(a / "x.png").rgb) / 255.0)
    (a / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    (b / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    events = list(evaluate_job("p2p", a, b, device="cpu"))
    assert isinstance(events[-1], Finished)
    done = events[-1].value
    results = done["metrics"]["results"]
    assert results["identical_images"] == 1 and results["psnr_db"] is None
    assert results["ssim"] == pytest.approx(1.0) and results["l1"] == 0
    assert [s[0] for s in done["metrics"]["skipped"]] == [str(a / "broken.png"), str(b / "broken.png")]
    assert [e.path for e in events if isinstance(e, Item) and e.skipped] == [str(a / "broken.png"), str(b / "broken.png")]
    assert main(["eval", "--model", "p2p", "--a", str(a), "--b", str(b), "-q", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "p2p: paired evaluation" in out and "(2 pairs)" in out
    assert re.search(r"identical to target +1\n", out) and re.search(r"images +1\n", out)
    assert "skipped 2 unreadable file(s)" in out
    with pytest.raises(EvalError, match="needs --b"):
        evaluate("p2p", a)
    with pytest.raises(EvalError, match="translates a2b only"):
        evaluate("p2p", a, b, direction="b2a")
    with pytest.raises(EvalError, match="no file in"):
        evaluate("p2p", a, tmp_path)


# -- unpaired ---------------------------------------------------------------------------------------

def _cyclegan_with_data(tmp_path: Path) -> tuple[Path, Path, Path]:
    """cg with training folders in its card; returns (A, B, training B)."""
    save_cyclegan("cg")
    a, b, train_a, train_b = (tmp_path / d for d in ("A", "B", "trainA", "trainB"))
    for i, name in enumerate(NAMES):
        write_image(a / f"{name}.png", photo(name, (40, 32)))
        write_image(b / f"{name}.png", photo(NAMES[(i + 1) % 4], (40, 32))[:, ::-1].copy())
        write_image(train_a / f"t{name}.png", photo(NAMES[(i + 2) % 4], (36, 36)))
        write_image(train_b / f"t{name}.png", photo(NAMES[(i + 3) % 4], (36, 36))[::-1].copy())
    store = ModelStore()
    card = store.get("cg").card
    store.update_card("cg", {"provenance": {**card["provenance"], "data": {"A": str(train_a), "B": str(train_b)}}})
    return a, b, train_b


def test_unpaired_eval_without_inception_reports_why_and_uses_pixel_space(tmp_path):
    a, b, train_b = _cyclegan_with_data(tmp_path)
    # A memorised output: the translation of coffee sits in the B training folder.
    write_image(train_b / "copy.png", _translate("cg", "a2b", read_image(a / "coffee.png").rgb) / 255.0)
    done = evaluate("cg", a, b, device="cpu")
    record = done["metrics"]
    assert record["feature_space"]["fid_kid"] is None and "32×32" in record["feature_space"]["memorisation"]
    a2b = record["results"]["a2b"]
    assert a2b["fid"] is None and a2b["kid"] is None and "studio[metrics]" in a2b["fid_kid_unavailable"]
    memo = a2b["memorisation"]
    assert memo["available"] and memo["training_images"] == 5 and memo["training_folder"] == str(train_b)
    closest = memo["closest"][0]
    assert closest["output_of"] == str(a / "coffee.png") and closest["nearest"][0]["file"] == str(train_b / "copy.png")
    assert closest["nearest"][0]["distance"] == pytest.approx(0.0, abs=1e-6)
    assert memo["flagged"] == [str(a / "coffee.png")]
    # Cycle error both ways, equal to A→B→A done by hand on one image.
    assert set(record["results"]) == {"a2b", "b2a"}
    assert record["results"]["b2a"]["cycle"]["images"] == 4 and a2b["cycle"]["path"] == "a→b→a"
    fwd = Translator(ModelStore().load("cg"), "a2b", device="cpu")
    back = Translator(ModelStore().load("cg"), "b2a", device="cpu")
    errors = []
    for f in sorted(a.iterdir()):
        rgb = read_image(f).rgb
        errors.append(metrics.l1(tensor_to_image(back.translate_tensor(fwd.translate_tensor(image_to_tensor(rgb)))), rgb))
    assert a2b["cycle"]["l1"] == pytest.approx(np.mean(errors), abs=1e-5) and a2b["cycle"]["l1"] > 0.01
    assert ModelStore().get("cg").card["metrics"]["eval"]["results"]["a2b"]["memorisation"]["flagged"] == memo["flagged"]


def test_unpaired_eval_computes_kid_and_fid_with_a_user_feature_file(tmp_path):
    a, b, _ = _cyclegan_with_data(tmp_path)
    # Real B images that are exactly the translations of A: FID between the two sets is 0.
    same = tmp_path / "translatedA"
    for f in sorted(a.iterdir()):
        write_image(same / f.name, _translate("cg", "a2b", read_image(f).rgb) / 255.0)
    features = _feature_file(tmp_path / "stats.pt")
    done = evaluate("cg", a, same, direction="a2b", features=features, max_images=3, device="cpu")
    section = done["metrics"]["results"]["a2b"]
    assert list(done["metrics"]["results"]) == ["a2b"]
    assert section["samples"] == {"translated": 3, "real": 3} and section["kid_subsets"] == 1
    assert section["fid"] == pytest.approx(0.0, abs=1e-3)
    assert "strongly biased" in section["fid_note"]
    assert "TorchScript file stats.pt" in done["metrics"]["feature_space"]["fid_kid"]
    assert done["metrics"]["feature_space"]["memorisation"] == done["metrics"]["feature_space"]["fid_kid"]
    # Against different real images the distances are positive and KID is the unbiased MMD² of the features.
    done = evaluate("cg", a, b, direction="a2b", features=features, device="cpu")
    section = done["metrics"]["results"]["a2b"]
    extractor = metrics.load_feature_extractor(features)

    def feats(paths, translate):
        rows = []
        for p in paths:
            rgb = read_image(p).rgb
            rgb = _translate("cg", "a2b", rgb) / 255.0 if translate else rgb
            rows.append(extractor(torch.from_numpy(np.ascontiguousarray(rgb, np.float32)).permute(2, 0, 1)[None])[0])
        return np.array(rows)

    fake, real = feats(sorted(a.iterdir()), True), feats(sorted(b.iterdir()), False)
    assert section["kid"] == pytest.approx(metrics.mmd2_unbiased(fake, real), abs=1e-6)
    assert section["fid"] == pytest.approx(metrics.fid(fake, real), abs=1e-3) and section["fid"] > 0.01


def test_unpaired_eval_without_training_folders_or_b(tmp_path):
    save_cyclegan("cg")
    a = tmp_path / "A"
    for name in NAMES[:2]:
        write_image(a / f"{name}.png", photo(name, (32, 32)))
    record = evaluate("cg", a, device="cpu")["metrics"]
    assert list(record["results"]) == ["a2b"]
    section = record["results"]["a2b"]
    assert section["fid"] is None and "studio[metrics]" in section["fid_kid_unavailable"]
    assert section["memorisation"] == {"available": False,
                                       "reason": "the card records no domain-B training folder (model source: test)"}
    assert section["cycle"]["images"] == 2
    with pytest.raises(EvalError, match="needs domain-B images"):
        evaluate("cg", a, direction="b2a")
    # With features but no real B images, FID/KID say what is missing.
    section = evaluate("cg", a, features=_feature_file(tmp_path / "stats.pt"))["metrics"]["results"]["a2b"]
    assert section["kid"] is None and section["fid_kid_unavailable"] == "no real domain-B images given (--b DIR)"


def test_cancelled_eval_leaves_the_card_alone(tmp_path):
    a, b, _ = _cyclegan_with_data(tmp_path)
    control = Control()
    control.cancel()
    events = list(evaluate_job("cg", a, b, control=control))
    assert isinstance(events[-1], Finished) and events[-1].value["cancelled"] is True
    assert "eval" not in ModelStore().get("cg").card["metrics"]


def test_select_spreads_evenly():
    files = [Path(f"{i}.png") for i in range(10)]
    assert select(files, None) == files and select(files, 20) == files
    assert select(files, 3) == [Path("0.png"), Path("4.png"), Path("9.png")]


# -- CLI --------------------------------------------------------------------------------------------

def test_cli_eval_prints_a_table_and_json(tmp_path, capsys):
    a, b, _ = _cyclegan_with_data(tmp_path)
    features = _feature_file(tmp_path / "stats.pt")
    assert main(["eval", "--model", "cg", "--a", str(a), "--b", str(b), "--features", str(features), "-q",
                 "--max-images", "2"]) == 0
    out = capsys.readouterr().out
    assert "cg: unpaired evaluation on" in out and "a2b KID" in out and "b2a cycle b→a→b L1" in out
    assert "(2 translated vs 2 real)" in out and "written to the card of cg" in out
    assert main(["eval", "--model", "cg", "--a", str(a), "--json", "--no-card", "--direction", "a2b"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["card_updated"] is False and data["metrics"]["results"]["a2b"]["translated"] == 4
    assert ModelStore().get("cg").card["metrics"]["eval"]["data"]["max_images"] == 2  # the first run's record
    assert main(["eval", "--model", "cg", "--a", str(tmp_path / "nowhere")]) == 1
    assert "no such folder" in capsys.readouterr().err


# -- latent -----------------------------------------------------------------------------------------

def _save_latent_models() -> None:
    torch.manual_seed(0)
    vae = nets.build("conv_vae", {"image_size": 32, "latent_dim": 8, "channels": 8, "max_channels": 32})
    ModelStore().save("vae", new_card("vae", {"vae": ("conv_vae", vae.config)}, image_size=32), {"vae": vae.state_dict()})
    glow = nets.build("glow", {"image_size": 16, "levels": 2, "depth": 2, "hidden": 16})
    glow.initialize(torch.rand(4, 3, 16, 16) * 2 - 1)
    with torch.no_grad():
        for p in glow.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    ModelStore().save("flow", new_card("flow", {"flow": ("glow", glow.config)}, image_size=16), {"flow": glow.state_dict()})


def test_latent_eval_reports_reconstruction_elbo_and_bits_per_dim(tmp_path, capsys):
    _save_latent_models()
    held = tmp_path / "held"
    for name in NAMES[:3]:
        write_image(held / f"{name}.png", photo(name, (40, 30)))
    (held / "junk.png").write_bytes(b"junk")
    files = [held / f"{name}.png" for name in NAMES[:3]]
    vae = LatentModel(ModelStore().load("vae"), device="cpu")
    x = vae.load_images(files)
    want_psnr = np.mean([reference_psnr(((r + 1) / 2).numpy(), ((o + 1) / 2).numpy())
                         for r, o in zip(vae.reconstruct(x), x, strict=True)])

    record = evaluate("vae", held, device="cpu")["metrics"]
    results = record["results"]
    assert record["type"] == "latent" and record["data"]["images"] == 3 and len(record["skipped"]) == 1
    assert results["reconstruction_psnr_db"] == pytest.approx(want_psnr, abs=1e-3)
    assert results["kl_nats"] > 0
    d = 3 * 32 * 32
    assert results["elbo_bits_per_dim"] == pytest.approx((-results["elbo_nats"] / d + math.log(127.5)) / math.log(2),
                                                         abs=1e-3)
    assert ModelStore().get("vae").card["metrics"]["eval"] == record

    record = evaluate("flow", held, device="cpu")["metrics"]
    results = record["results"]
    flow = LatentModel(ModelStore().load("flow"), device="cpu")
    assert results["reconstruction_psnr_db"] > 45  # decode(encode(x)) is x to float error
    assert results["bits_per_dim_bin_centres"] == pytest.approx(flow.score(flow.load_images(files)).mean().item(), abs=1e-4)
    assert abs(results["bits_per_dim"] - results["bits_per_dim_bin_centres"]) < 0.1
    with pytest.raises(EvalError, match="held-out images as --a only"):
        evaluate("flow", held, held)
    assert main(["eval", "--model", "flow", "--a", str(held), "-q"]) == 0
    out = capsys.readouterr().out
    assert "flow: latent evaluation" in out and "bits_per_dim" in out and "skipped 1 unreadable file" in out


def test_eval_on_a_trained_tiny_model_uses_its_recorded_training_folders(tmp_path, capsys):
    from train_helpers import tiny_config, unpaired_folders

    from studio.core.train.job import train_job

    train_a, train_b = unpaired_folders(tmp_path / "data")
    for _ in train_job(tiny_config("cyclegan", "trained", train_a, train_b, max_steps=1, preview_every=100)):
        pass
    held_a, held_b = tmp_path / "heldA", tmp_path / "heldB"
    for i, name in enumerate(("astronaut", "coffee", "rocket")):
        write_image(held_a / f"{name}.png", photo(name, (36, 28)))
        write_image(held_b / f"{name}.png", photo(("chelsea", "hubble_deep_field", "immunohistochemistry")[i], (36, 28)))
    assert main(["eval", "--model", "trained", "--a", str(held_a), "--b", str(held_b), "-q", "--device", "cpu"]) == 0
    assert "a2b memorisation    nearest training image at" in capsys.readouterr().out
    record = ModelStore().get("trained").card["metrics"]["eval"]
    assert record["data"]["images"] == {"A": 3, "B": 3}
    for direction, training in (("a2b", train_b), ("b2a", train_a)):
        memo = record["results"][direction]["memorisation"]
        assert memo["training_folder"] == str(training.resolve()) and memo["training_images"] == 6
        assert record["results"][direction]["cycle"]["images"] == 3
