"""The PixelCNN (kind ``pixelcnn``): causal masks, an exact discrete likelihood, training through the shared
job, sampling pixel by pixel, the command line, export and evaluation."""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import sys

import numpy as np
import pytest
import torch
from test_latent import good_photos, photo_folder, tiny_latent_config
from train_helpers import kill_then_resume, tiny_folder_config

from studio.cli import main
from studio.core import latent, nets
from studio.core.errors import Cancelled, StudioError
from studio.core.images import read_image
from studio.core.jobs import Control, Finished, Losses, Preview, Progress
from studio.core.nets.pixelcnn import (
    bits_per_dim,
    log_likelihood,
    logistic_bin_log_prob,
    quantize,
    sample,
    subpixel_log_probs,
)
from studio.core.store import ModelStore
from studio.core.train.job import train_job
from studio.core.train.presets import latent_preset, preset

PARAMS = {"image_size": 16, "channels": 8, "layers": 2, "kernel": 3, "first_kernel": 5, "mixtures": 3}
TINY = {"generator": {"arch": "gated_pixelcnn", "params": PARAMS}}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def px_config(name: str, folder, **over):
    return tiny_folder_config("pixelcnn", name, folder, 16, **{"lr": 5e-3, **TINY, **over})


def random_net(seed: int = 0, **params) -> nets.GatedPixelCNN:
    """Every weight random (the zero-initialised last layer would hide what the masks let through)."""
    torch.manual_seed(seed)
    net = nets.build("gated_pixelcnn", {**PARAMS, **params}).double()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return net.eval()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny PixelCNN trained a few steps on photo crops (junk mixed in), and a tiny flow beside it."""
    root = tmp_path_factory.mktemp("pixelcnn")
    home = root / "home"
    folder = photo_folder(root)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STUDIO_HOME", str(home))
        events = list(train_job(px_config("tiny-px", folder, max_steps=30, preview_every=10, lr=1e-2)))
        list(train_job(tiny_latent_config("flow", "tiny-flow", folder)))
    store = ModelStore(user_dir=home / "models")
    return {"home": home, "folder": folder, "events": events, "store": store,
            "model": latent.PixelModel.load("tiny-px", store, device="cpu")}


def install(trained, *names: str) -> None:
    for name in names:
        shutil.copytree(trained["home"] / "models" / name, ModelStore().user_dir / name)


# -- the network and its likelihood --------------------------------------------------------------------------

def test_masks_are_causal_without_a_blind_spot():
    """d log p(sub-pixel (i, j, c)) / d x is zero at every later sub-pixel; nothing is hidden above-right."""
    net, s = random_net(), 6
    x = quantize(torch.rand(1, 3, s, s, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    out = net(x)
    per_subpixel = subpixel_log_probs(out, x, PARAMS["mixtures"])
    # Each sub-pixel's place in the order: raster order of pixels, R G B within a pixel.
    rank = (torch.arange(s * s).view(1, s, s) * 3 + torch.arange(3).view(3, 1, 1))
    for i, j, c in itertools.product(range(s), range(s), range(3)):
        (grad,) = torch.autograd.grad(per_subpixel[0, c, i, j], x, retain_graph=True)
        assert grad[0][rank > rank[c, i, j]].abs().sum() == 0, (i, j, c)
        assert grad[0, c, i, j] != 0  # the value itself is what is scored
        assert c == 0 or grad[0, 0, i, j] != 0  # G and B follow R through the coupled means
        # The parameters at (i, j) see none of the pixel itself.
        (grad_out,) = torch.autograd.grad(out[0, :, i, j].sum(), x, retain_graph=True)
        assert grad_out[0, :, i, j].abs().sum() == 0
    # No blind spot: the last row's pixel sees the row above to its right (the original PixelCNN could not).
    (grad,) = torch.autograd.grad(out[0, :, 3, 2].sum(), x)
    assert all(grad[0, :, 2, jj].abs().sum() > 0 for jj in (3, 4))
    assert torch.allclose(per_subpixel.sum((1, 2, 3)), log_likelihood(out, x, PARAMS["mixtures"]))


def test_a_crop_as_wide_as_the_context_gives_the_full_images_parameters():
    """Sampling runs the network on the crop around each pixel; it must give the same distribution."""
    net = random_net(1, layers=3).float()
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    reach = net.context()
    with torch.no_grad():
        full = net(x)
        for i, j in ((0, 0), (7, 3), (15, 15), (12, 0)):
            top, left = max(0, i - reach), max(0, j - reach)
            crop = net(x[:, :, top : i + 1, left : j + reach])[:, :, i - top, j - left]
            assert torch.allclose(crop, full[:, :, i, j], atol=1e-5)


def test_every_subpixels_distribution_sums_to_one():
    net = random_net(2)
    levels = torch.arange(256, dtype=torch.float64) / 127.5 - 1
    base = quantize(torch.rand(1, 3, 5, 5, dtype=torch.float64) * 2 - 1)
    for c in range(3):  # log p(R), log p(G | R), log p(B | R, G) at one pixel, over all 256 values
        x = base.repeat(256, 1, 1, 1)
        x[:, c, 2, 3] = levels
        with torch.no_grad():
            probs = subpixel_log_probs(net(x), x, PARAMS["mixtures"])[:, c, 2, 3].exp()
        assert probs.sum().item() == pytest.approx(1.0, abs=1e-9)
    for mean, log_scale in itertools.product((-1.5, -0.2, 0.7, 3.0), (-7.0, -2.0, 0.0, 4.0)):
        p = logistic_bin_log_prob(levels, torch.tensor(mean, dtype=torch.float64),
                                  torch.tensor(log_scale, dtype=torch.float64)).exp()
        assert torch.isfinite(p).all() and p.sum().item() == pytest.approx(1.0, abs=1e-9)


def test_an_untrained_network_is_a_near_uniform_guess():
    net = nets.build("gated_pixelcnn", latent_preset("pixelcnn", 16, "fast")["generator"]["params"])
    x = quantize(torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1)
    with torch.no_grad():
        bpd = bits_per_dim(log_likelihood(net(x), x, net.mixtures), 3 * 16 * 16)
    assert bpd.shape == (4,) and torch.all((bpd - 8).abs() < 0.5)  # 8: a uniform guess over 256 values
    with pytest.raises(StudioError, match="odd"):
        nets.build("gated_pixelcnn", {"kernel": 4})
    with pytest.raises(StudioError, match="--size 16 or 32"):
        latent_preset("pixelcnn", 64)
    assert preset("pixelcnn", "x", "fast", dir_a="somewhere").crop_size == 32  # the default size


# -- training ----------------------------------------------------------------------------------------------

def test_training_lowers_held_out_bits_and_publishes_a_card(trained):
    events = trained["events"]
    assert isinstance(events[-1], Finished) and events[-1].value["model"] == "tiny-px"
    losses = [e.values["bits_per_dim"] for e in events if isinstance(e, Losses)]
    assert len(losses) == 30 and all(math.isfinite(v) for v in losses)
    previews = [e for e in events if isinstance(e, Preview)]
    # image, each pixel's guess from the pixels before it, the bits heat map: three columns of 16 px
    assert [p.step for p in previews] == [10, 20, 30] and previews[0].image.shape == (3 * 16, 3 * 16, 3)
    card = trained["store"].get("tiny-px").card
    assert card["kind"] == "pixelcnn" and list(card["networks"]) == ["pixelcnn"] and card["image_size"] == 16
    assert card["metrics"]["held_out_images"] == 1 and "no latent space" in card["limits"]
    untrained = nets.build("gated_pixelcnn", PARAMS)
    model = trained["model"]
    photos = model.load_images(good_photos(trained["folder"]))
    with torch.no_grad():
        before = bits_per_dim(log_likelihood(untrained(photos), photos, 3), 3 * 16 * 16)
    assert card["metrics"]["bits_per_dim"] < before.min().item() - 0.5
    # The card's figure is the model's exact score of the held-out photo, whichever it is.
    scores = model.score(photos)
    assert min(abs(card["metrics"]["bits_per_dim"] - s) for s in scores.tolist()) < 1e-3


def test_resume_after_cancel_equals_an_uninterrupted_run(tmp_path):
    folder = photo_folder(tmp_path, junk=False)
    full = list(train_job(px_config("full", folder, max_steps=7)))
    control = Control()
    first = []
    for event in train_job(px_config("split", folder, max_steps=7), control=control):
        first.append(event)
        if isinstance(event, Losses) and event.step == 3:
            control.cancel()
    assert isinstance(first[-1], Finished) and first[-1].value["cancelled"]
    rest = list(train_job(resume="split"))

    def losses(events):
        return [e.values for e in events if isinstance(e, Losses)]

    assert losses(first) + losses(rest) == losses(full)
    store = ModelStore()
    a, b = store.load("full").networks["pixelcnn"], store.load("split").networks["pixelcnn"]
    for (key, v), w in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(v, w), key
    assert store.get("full").card["metrics"]["bits_per_dim"] == store.get("split").card["metrics"]["bits_per_dim"]


def test_run_killed_with_sigkill_resumes_and_publishes(tmp_path, studio_home):
    folder = photo_folder(tmp_path)
    env = {**os.environ, "STUDIO_HOME": str(studio_home), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "studio", "train", "pixelcnn", "--images", str(folder), "--name", "killed",
           "--size", "16", "--preset", "fast", "--batch-size", "4", "--max-steps", "60", "--checkpoint-every", "3",
           "--workers", "0", "-q"]
    kill_then_resume(cmd, "killed", studio_home, 60, env)
    card = ModelStore().get("killed").card
    assert card["kind"] == "pixelcnn" and card["provenance"]["steps"] == 60 and "bits_per_dim" in card["metrics"]


# -- sampling ----------------------------------------------------------------------------------------------

def test_sampling_is_seeded_on_the_8_bit_grid_reports_rows_and_cancels(trained):
    model = trained["model"]
    events = list(model.sample_job(2, seed=3))
    progress = [e for e in events if isinstance(e, Progress)]
    assert [p.done for p in progress] == list(range(17)) and all(p.total == 16 for p in progress)
    images = events[-1].value
    assert images.shape == (2, 3, 16, 16) and images.min() >= -1 and images.max() <= 1
    assert torch.allclose(images, quantize(images), atol=1e-6)
    assert torch.equal(images, model.sample(2, seed=3)) and not torch.equal(images, model.sample(2, seed=4))
    control = Control()
    job = model.sample_job(2, seed=3, control=control)
    seen = []
    with pytest.raises(Cancelled):
        for event in job:
            seen.append(event)
            if isinstance(event, Progress) and event.done == 2:
                control.cancel()
    assert max(e.done for e in seen if isinstance(e, Progress)) == 2  # stopped at the next row
    rows = []
    assert sample(model.net, 1, torch.Generator().manual_seed(0), lambda done, total: rows.append(done)).shape == \
        (1, 3, 16, 16)
    assert rows == list(range(1, 17))


def test_latent_operations_say_a_pixelcnn_has_no_latent_space(trained, capsys):
    install(trained, "tiny-px")
    with pytest.raises(StudioError, match="no latent space"):
        latent.LatentModel.load("tiny-px", device="cpu")
    image = str(good_photos(trained["folder"])[0])
    assert main(["latent", "reconstruct", "--model", "tiny-px", image, "-o", "x.png"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "PixelCNN: it has no latent space" in err[0]


# -- the command line, export and evaluation -------------------------------------------------------------------

def test_cli_scores_a_flow_and_a_pixelcnn_side_by_side_and_samples(trained, tmp_path, capsys):
    install(trained, "tiny-px", "tiny-flow")
    a, b = (str(p) for p in good_photos(trained["folder"])[:2])
    junk = str(trained["folder"] / "notes.png")
    assert main(["latent", "score", "--model", "tiny-flow", "--model", "tiny-px", a, junk, b]) == 1
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert "tiny-flow (flow)" in lines[0] and "tiny-px (pixelcnn, exact)" in lines[0]
    assert lines[1].split() == ["tiny-flow", "tiny-px", "image"] and len(lines) == 5
    table = np.array([[float(v) for v in line.split()[:2]] for line in lines[2:]])
    assert [line.split()[-1] for line in lines[2:]] == [a, b, "mean"]
    assert np.allclose(table[2], table[:2].mean(0), atol=1e-4)
    model = latent.PixelModel.load("tiny-px", device="cpu")
    assert np.allclose(table[:2, 1], model.score(model.load_images([a, b])).numpy(), atol=1e-4)
    assert "notes.png" in captured.err
    assert main(["latent", "score", "--model", "tiny-px", a, "--json"]) == 0
    single = json.loads(capsys.readouterr().out)
    assert single["kind"] == "pixelcnn" and single["measure"] == "bits/dim (exact)"
    assert single["scores"][0]["bits_per_dim"] == pytest.approx(table[0, 1], abs=1e-4)
    out = tmp_path / "s.png"
    assert main(["latent", "sample", "--model", "tiny-px", "-n", "2", "--seed", "1", "-o", str(out), "-q"]) == 0
    assert read_image(out).size == (32, 16)
    said = capsys.readouterr().out
    assert "2 samples in " in said and " s per sample)" in said
    assert main(["latent", "sample", "--model", "tiny-px", "--temperature", "0.5", "-o", str(out)]) == 1
    assert "temperature" in capsys.readouterr().err
    assert main(["bench", "latent", "--model", "tiny-px", "--frames", "10"]) == 0  # no canvas: its own costs
    figures = dict(line.split(": ") for line in capsys.readouterr().out.strip().splitlines())
    assert list(figures)[-1] == "samples_per_second" and float(figures["samples_per_second"]) > 0
    assert float(figures["sample_s_per_image_batch4"]) > 0 and float(figures["score_ms_per_image"]) > 0


def test_export_matches_pytorch_and_eval_reports_held_out_bits(trained, tmp_path, capsys):
    onnxruntime = pytest.importorskip("onnxruntime")
    install(trained, "tiny-px")
    path = tmp_path / "px.onnx"
    assert main(["models", "export", "tiny-px", "--format", "onnx", "-o", str(path)]) == 0
    model = latent.PixelModel.load("tiny-px", device="cpu")
    images = model.load_images(good_photos(trained["folder"])[:2])
    session = onnxruntime.InferenceSession(str(path))
    got = session.run(None, {session.get_inputs()[0].name: images.numpy()})
    with torch.no_grad():
        want = model.network_module()(images)
    assert [o.name for o in session.get_outputs()] == ["logits", "means", "log_scales", "coefficients"]
    for g, w in zip(got, want, strict=True):
        assert g.shape == tuple(w.shape) and np.abs(g - w.numpy()).max() < 1e-4
    capsys.readouterr()
    assert main(["eval", "--model", "tiny-px", "--a", str(trained["folder"]), "--no-card", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)["metrics"]
    scores = model.score(model.load_images(good_photos(trained["folder"])))
    assert record["results"]["bits_per_dim"] == pytest.approx(scores.mean().item(), abs=1e-4)
    assert len(record["skipped"]) == 2  # the junk files
