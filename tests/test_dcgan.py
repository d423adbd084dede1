"""DCGAN (kind ``dcgan``): its networks, inversion, training through the shared job, its latents, export."""

from __future__ import annotations

import os
import shutil
import sys

import numpy as np
import pytest
import torch
from test_latent import good_photos, photo_folder
from train_helpers import crops, kill_then_resume, tiny_folder_config

from studio.cli import main
from studio.core import latent, nets
from studio.core.errors import StudioError
from studio.core.images import read_image, write_image
from studio.core.jobs import Control, Finished, Losses, Preview
from studio.core.latent.inversion import invert
from studio.core.store import ModelStore
from studio.core.train.job import train_job
from studio.core.train.presets import preset

TINY_G = {"image_size": 32, "latent_dim": 8, "ngf": 8, "upsample": "bilinear"}
TINY_D = {"image_size": 32, "ndf": 8, "norm": "batch", "minibatch_std": False}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def dcgan_config(name: str, folder, **over):
    networks = {"generator": {"arch": "dcgan_generator", "params": dict(TINY_G)},
                "discriminator": {"arch": "dcgan_discriminator", "params": dict(TINY_D)}}
    return tiny_folder_config("dcgan", name, folder, 32, "fast", **{**networks, **over})


@pytest.fixture(scope="module")
def trained_gan(tmp_path_factory):
    root = tmp_path_factory.mktemp("dcgan")
    home = root / "home"
    folder = photo_folder(root)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STUDIO_HOME", str(home))
        events = list(train_job(dcgan_config("tiny-dcgan", folder)))
    store = ModelStore(user_dir=home / "models")
    return {"home": home, "folder": folder, "events": events, "store": store}


def test_networks_follow_the_recipe_at_every_size():
    for size in (32, 64):
        for upsample in ("transposed", "bilinear"):
            g = nets.build("dcgan_generator", {"image_size": size, "latent_dim": 10, "ngf": 8, "upsample": upsample})
            out = g(torch.randn(3, 10))
            assert out.shape == (3, 3, size, size) and out.abs().max() <= 1  # tanh
            kinds = {type(m) for m in g.modules()}
            assert (torch.nn.ConvTranspose2d in kinds) and (torch.nn.BatchNorm2d in kinds)
            assert (torch.nn.Upsample in kinds) == (upsample == "bilinear")
        d = nets.build("dcgan_discriminator", {"image_size": size, "ndf": 8, "minibatch_std": True})
        assert d(torch.randn(5, 3, size, size)).shape == (5, 1, 1, 1)
        layers = {type(m) for m in d.modules()}
        assert torch.nn.LeakyReLU in layers and not layers & {torch.nn.MaxPool2d, torch.nn.AvgPool2d, torch.nn.Linear}
    with pytest.raises(StudioError, match="image_size"):
        nets.build("dcgan_generator", {"image_size": 48})


def test_minibatch_spread_tells_a_collapsed_batch_from_a_varied_one():
    from studio.core.nets.dcgan import MinibatchStd

    varied = MinibatchStd()(torch.randn(4, 2, 3, 3))
    collapsed = MinibatchStd()(torch.randn(1, 2, 3, 3).expand(4, -1, -1, -1))
    assert varied.shape == (4, 3, 3, 3) and varied[:, 2].min() > 0.3 and collapsed[:, 2].abs().max() < 1e-6


def test_wgan_gp_preset_gives_the_critic_layer_norm_and_adam_betas_of_the_paper():
    config = preset("dcgan", "w", "reference", dir_a="x", crop_size=32, gan_mode="wgangp", minibatch_std=True)
    assert config.discriminator["params"]["norm"] == "layer" and config.discriminator["params"]["minibatch_std"]
    assert (config.beta1, config.beta2) == (0.0, 0.9)
    plain = preset("dcgan", "v", "reference", dir_a="x", crop_size=64)
    assert plain.discriminator["params"]["norm"] == "batch" and (plain.beta1, plain.gan_mode) == (0.5, "vanilla")
    assert plain.generator["params"]["upsample"] == "transposed" and plain.batch_size == 128
    with pytest.raises(StudioError, match="--size"):
        preset("dcgan", "v", "reference", dir_a="x", crop_size=48)


def test_inversion_finds_a_latent_the_generator_made_and_is_repeatable_and_cancellable():
    torch.manual_seed(0)
    g = nets.build("dcgan_generator", TINY_G).eval()
    target = g(torch.randn(2, 8, generator=torch.Generator().manual_seed(5))).detach()
    found = invert(g, target, 8, steps=150)
    assert found.psnr().min() > 30  # the image is reachable, and inversion reaches it
    again = invert(g, target, 8, steps=150)
    assert torch.equal(found.latents, again.latents)
    assert all(p.grad is None for p in g.parameters())  # only z was optimised
    calls = []
    invert(g, target, 8, steps=5, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (5, 5) and len(calls) == 5
    control = Control()
    control.cancel()
    with pytest.raises(StudioError, match="cancelled"):
        invert(g, target, 8, steps=5, control=control)


def test_training_publishes_inversion_figures_against_the_mean_image(trained_gan):
    events = trained_gan["events"]
    assert isinstance(events[-1], Finished) and events[-1].value["model"] == "tiny-dcgan"
    losses = [e.values for e in events if isinstance(e, Losses)]
    assert len(losses) == 8 and set(losses[0]) == {"D", "G"}
    previews = [e for e in events if isinstance(e, Preview)]
    assert [p.step for p in previews] == [4, 8] and previews[0].image.shape == (3 * 32, 3 * 32, 3)
    card = trained_gan["store"].get("tiny-dcgan").card
    assert card["kind"] == "dcgan" and list(card["networks"]) == ["dcgan"]
    metrics = card["metrics"]
    assert 5 < metrics["inversion_psnr"] < 60 and 5 < metrics["mean_image_psnr"] < 60
    assert metrics["held_out_images"] == 1 and "inversion" in card["limits"]
    from studio.core.train.presets import run_config

    small = run_config("dcgan", "x", "fast", {"dir_a": str(trained_gan["folder"]), "crop_size": 32})
    assert small.augment == ""  # no automatic DiffAugment for a DCGAN: it made worse samples (measured)
    chosen = run_config("dcgan", "x", "fast", {"dir_a": str(trained_gan["folder"]), "crop_size": 32, "augment": "color"})
    assert chosen.augment == "color"


def test_kid_against_held_out_images_where_an_extractor_is_installed(tmp_path, monkeypatch):
    from studio.core.evaluate import metrics
    from studio.core.train import dcgan

    seen = []

    def extractor():  # a stand-in for the metrics extra's Inception: pixel features, counting what it embeds
        pixels = metrics.pixel_features(8)

        def embed(images):
            seen.append(images.shape[0])
            assert 0 <= images.min() and images.max() <= 1  # images in [0, 1], as the extractor expects
            return pixels.embed(images)

        return metrics.FeatureExtractor("stand-in", pixels.dims, "test", embed), ""

    monkeypatch.setattr(dcgan, "inception_extractor", extractor)
    list(train_job(dcgan_config("one", photo_folder(tmp_path / "one", junk=False), max_steps=2)))
    assert "kid_held_out" not in ModelStore().get("one").card["metrics"] and seen == []  # one held-out image
    folder = tmp_path / "more"
    for name in ("astronaut", "coffee", "chelsea"):
        for k, img in enumerate(crops(name, 8, size=40)):
            write_image(folder / f"{name}_{k}.png", img)
    list(train_job(dcgan_config("kid", folder, max_steps=2)))
    metrics_ = ModelStore().get("kid").card["metrics"]
    assert metrics_["held_out_images"] == 2 and seen == [dcgan.KID_SAMPLES, 2]
    assert np.isfinite(metrics_["kid_held_out"])


@pytest.mark.parametrize("gan_mode", ["lsgan", "wgangp"])
def test_resume_after_cancel_equals_an_uninterrupted_run(tmp_path, gan_mode):
    folder = photo_folder(tmp_path / gan_mode, junk=False)
    over = dict(max_steps=6, pool_size=4, minibatch_std=True, gan_mode=gan_mode)
    full = list(train_job(dcgan_config(f"full-{gan_mode}", folder, **over)))
    control = Control()
    first = []
    for event in train_job(dcgan_config(f"split-{gan_mode}", folder, **over), control=control):
        first.append(event)
        if isinstance(event, Losses) and event.step == 3:
            control.cancel()
    rest = list(train_job(resume=f"split-{gan_mode}"))

    def losses(events):
        return [e.values for e in events if isinstance(e, Losses)]

    assert losses(first) + losses(rest) == losses(full)  # z draws, the history pool and augmentation resume
    assert all(np.isfinite(v) for step in losses(full) for v in step.values())


def test_run_killed_with_sigkill_resumes_and_publishes(tmp_path, studio_home):
    folder = photo_folder(tmp_path)
    env = {**os.environ, "STUDIO_HOME": str(studio_home), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "studio", "train", "dcgan", "--images", str(folder), "--name", "killed", "--size", "32",
           "--preset", "fast", "--batch-size", "4", "--max-steps", "40", "--checkpoint-every", "3", "--workers", "0",
           "-q"]
    kill_then_resume(cmd, "killed", studio_home, 40, env)
    card = ModelStore().get("killed").card
    assert card["kind"] == "dcgan" and card["provenance"]["steps"] == 40 and "inversion_psnr" in card["metrics"]


def test_latents_samples_arithmetic_and_export(trained_gan, tmp_path, capsys):
    onnxruntime = pytest.importorskip("onnxruntime")
    shutil.copytree(trained_gan["home"] / "models" / "tiny-dcgan", ModelStore().user_dir / "tiny-dcgan")
    model = latent.LatentModel.load("tiny-dcgan", device="cpu")
    assert model.latent_dim == 8
    files = good_photos(trained_gan["folder"])[:3]
    z = model.encode(model.load_images(files[:1]))
    assert z.shape == (1, 8) and torch.equal(z, model.encode(model.load_images(files[:1])))  # seeded inversion
    assert torch.equal(model.sample(2, seed=3), model.decode(model.sample_latents(2, seed=3)))
    with pytest.raises(StudioError, match="no likelihood"):
        model.score(model.load_images(files[:1]))
    with pytest.raises(StudioError, match="no encoder"):
        model.encoder_module()
    a, b, c = (str(p) for p in files)
    assert main(["latent", "arithmetic", "--model", "tiny-dcgan", a, b, c, "-o", str(tmp_path / "abc.png")]) == 0
    assert read_image(tmp_path / "abc.png").size == (32, 32)
    assert main(["models", "export", "tiny-dcgan", "--format", "onnx", "-o", str(tmp_path / "g.onnx")]) == 0
    session = onnxruntime.InferenceSession(str(tmp_path / "g.onnx"))
    latents = model.sample_latents(3, seed=1)
    (images,) = session.run(None, {session.get_inputs()[0].name: latents.numpy()})
    assert np.abs(images - model.decode(latents).numpy()).max() < 1e-3
    capsys.readouterr()
    assert main(["eval", "--model", "tiny-dcgan", "--a", str(trained_gan["folder"]), "--no-card", "--json"]) == 0
    assert "reconstruction_psnr_db" in capsys.readouterr().out
