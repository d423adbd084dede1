"""The plain autoencoder (kind ``ae``): its network, its training through the shared job, its latents,
export and evaluation."""

from __future__ import annotations

import os
import shutil
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from test_latent import good_photos, photo_folder
from train_helpers import kill_then_resume, tiny_folder_config

from studio.cli import main
from studio.core import latent, nets
from studio.core.errors import StudioError
from studio.core.jobs import Control, Finished, Losses, Preview
from studio.core.store import ModelStore
from studio.core.train.job import train_job

TINY_AE = {"generator": {"arch": "conv_ae", "params": {"image_size": 32, "latent_dim": 16, "channels": 8,
                                                       "max_channels": 32}}}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def ae_config(name: str, folder, **over):
    return tiny_folder_config("ae", name, folder, 32, **{"lr": 2e-3, **TINY_AE, **over})


@pytest.fixture(scope="module")
def trained_ae(tmp_path_factory):
    """A denoising autoencoder trained a few steps on photo crops (junk files mixed in), once per module."""
    root = tmp_path_factory.mktemp("ae")
    home = root / "home"
    folder = photo_folder(root)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STUDIO_HOME", str(home))
        events = list(train_job(ae_config("tiny-ae", folder, denoise=0.2)))
    store = ModelStore(user_dir=home / "models")
    return {"home": home, "folder": folder, "events": events, "store": store,
            "model": latent.LatentModel.load("tiny-ae", store, device="cpu")}


def test_fitted_gaussian_has_the_codes_mean_and_covariance():
    ae = nets.build("conv_ae", TINY_AE["generator"]["params"])
    g = torch.Generator().manual_seed(0)
    mixing = torch.randn(16, 16, generator=g) * 0.5
    codes = torch.randn(20000, 16, generator=g) @ mixing.T + 3.0
    ae.fit_codes(codes)
    assert torch.allclose(ae.code_mean, codes.mean(0), atol=1e-4)
    assert torch.allclose(ae.code_scale @ ae.code_scale.T, torch.cov(codes.T), rtol=1e-3, atol=1e-3)
    drawn = ae.codes_from_noise(torch.randn(20000, 16, generator=g))
    assert torch.allclose(drawn.mean(0), codes.mean(0), atol=0.1)
    assert torch.allclose(torch.cov(drawn.T), torch.cov(codes.T), atol=0.2)
    ae.fit_codes(torch.ones(5, 16))  # degenerate codes: still a usable (tiny) spread, no error
    assert torch.isfinite(ae.code_scale).all()
    with pytest.raises(StudioError, match="image_size"):
        nets.build("conv_ae", {"image_size": 48})


def test_training_publishes_a_card_with_held_out_psnr_and_honest_limits(trained_ae):
    events = trained_ae["events"]
    assert isinstance(events[-1], Finished) and events[-1].value["model"] == "tiny-ae"
    assert [e.step for e in events if isinstance(e, Losses)] == list(range(1, 9))
    previews = [e for e in events if isinstance(e, Preview)]
    # image, the corrupted input it sees, the reconstruction, a sample: four columns of 32 px
    assert [p.step for p in previews] == [4, 8] and previews[0].image.shape == (3 * 32, 4 * 32, 3)
    image, seen = previews[0].image[:32, :32].astype(int), previews[0].image[:32, 32:64].astype(int)
    assert np.abs(image - seen).mean() > 5  # denoising: the network sees a noisy copy
    card = trained_ae["store"].get("tiny-ae").card
    assert card["kind"] == "ae" and list(card["networks"]) == ["ae"] and card["image_size"] == 32
    assert card["provenance"]["config"]["denoise"] == 0.2
    assert card["metrics"]["held_out_images"] == 1 and 5 < card["metrics"]["psnr"] < 60
    assert "gap" in card["limits"] and "VAE" in card["limits"]


def test_published_gaussian_is_fitted_to_the_training_images_codes(trained_ae):
    model = trained_ae["model"]
    files = good_photos(trained_ae["folder"])
    held = set(trained_ae["store"].get("tiny-ae").card["provenance"]["images"])  # A and held_out counts
    assert held == {"A", "held_out"}
    codes = model.encode(model.load_images(files))
    net = model.net
    # The mean of the training codes: every readable photo but the one held out.
    means = [(codes.sum(0) - codes[i]) / (len(files) - 1) for i in range(len(files))]
    assert min((net.code_mean.cpu() - m).abs().max().item() for m in means) < 1e-4
    cold = model.sample_latents(2, 0.0, seed=1)
    assert torch.allclose(cold, net.code_mean.cpu().expand(2, -1))  # temperature 0: the fitted mean
    a, b = model.sample(3, seed=4), model.sample(3, seed=4)
    assert torch.equal(a, b) and a.shape == (3, 3, 32, 32)


def test_latents_as_they_are_interpolate_between_reconstructions_and_scoring_is_refused(trained_ae):
    model = trained_ae["model"]
    images = model.load_images(good_photos(trained_ae["folder"])[:2])
    recon = model.reconstruct(images)
    frames = latent.interpolate(model, images, 4, "linear")
    assert torch.allclose(frames[0], recon[0], atol=1e-5) and torch.allclose(frames[-1], recon[1], atol=1e-5)
    with pytest.raises(StudioError, match="no likelihood"):
        model.score(images)


def test_resume_after_cancel_equals_an_uninterrupted_run(tmp_path):
    folder = photo_folder(tmp_path, junk=False)
    full = list(train_job(ae_config("full", folder, max_steps=7, denoise=0.3)))
    control = Control()
    first = []
    for event in train_job(ae_config("split", folder, max_steps=7, denoise=0.3), control=control):
        first.append(event)
        if isinstance(event, Losses) and event.step == 3:
            control.cancel()
    rest = list(train_job(resume="split"))

    def losses(events):
        return [e.values for e in events if isinstance(e, Losses)]

    assert losses(first) + losses(rest) == losses(full)  # the corruption noise and the running Gaussian resume
    store = ModelStore()
    a, b = store.load("full").networks["ae"], store.load("split").networks["ae"]
    for (key, v), w in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(v, w), key


def test_run_killed_with_sigkill_resumes_and_publishes(tmp_path, studio_home):
    folder = photo_folder(tmp_path)
    env = {**os.environ, "STUDIO_HOME": str(studio_home), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "studio", "train", "ae", "--images", str(folder), "--name", "killed", "--size", "32",
           "--preset", "fast", "--batch-size", "4", "--max-steps", "60", "--checkpoint-every", "3", "--workers", "0",
           "--denoise", "0.1", "-q"]
    kill_then_resume(cmd, "killed", studio_home, 60, env)
    card = ModelStore().get("killed").card
    assert card["kind"] == "ae" and card["provenance"]["steps"] == 60 and "psnr" in card["metrics"]


def test_export_evaluate_and_the_command_line(trained_ae, tmp_path, capsys):
    onnxruntime = pytest.importorskip("onnxruntime")
    shutil.copytree(trained_ae["home"] / "models" / "tiny-ae", ModelStore().user_dir / "tiny-ae")
    model = latent.LatentModel.load("tiny-ae", device="cpu")
    for part in ("encoder", "decoder"):
        assert main(["models", "export", "tiny-ae", "--format", "onnx", "--part", part,
                     "-o", str(tmp_path / f"{part}.onnx")]) == 0
    images = model.load_images(good_photos(trained_ae["folder"])[:2])
    session = onnxruntime.InferenceSession(str(tmp_path / "encoder.onnx"))
    (code,) = session.run(None, {session.get_inputs()[0].name: images.numpy()})
    assert np.abs(code - model.encode(images).numpy()).max() < 1e-3
    session = onnxruntime.InferenceSession(str(tmp_path / "decoder.onnx"))
    (decoded,) = session.run(None, {session.get_inputs()[0].name: code})
    assert np.abs(decoded - model.decode(torch.from_numpy(code)).numpy()).max() < 1e-3
    a, b, c = (str(p) for p in good_photos(trained_ae["folder"])[:3])
    assert main(["latent", "arithmetic", "--model", "tiny-ae", a, b, c, "-o", str(tmp_path / "abc.png")]) == 0
    za, zb, zc = (model.encode(model.load_images([p])) for p in (a, b, c))
    expected = latent.to_rgb8(model.decode(latent.arithmetic(za, zb, zc))[0])
    assert np.abs(np.asarray(Image.open(tmp_path / "abc.png").convert("RGB")).astype(int) - expected.astype(int)).max() <= 1
    capsys.readouterr()
    assert main(["eval", "--model", "tiny-ae", "--a", str(trained_ae["folder"]), "--no-card", "--json"]) == 0
    assert "reconstruction_psnr_db" in capsys.readouterr().out
    assert main(["latent", "score", "--model", "tiny-ae", str(good_photos(trained_ae["folder"])[0])]) == 1
    assert "no likelihood" in capsys.readouterr().err
    assert main(["train", "ae", "--images", str(trained_ae["folder"]), "--name", "x", "--denoise", "5"]) != 0
    assert "--denoise" in capsys.readouterr().err
