"""Latent models: the VAE and Glow networks, their training through the shared job, latent operations, the CLI."""

from __future__ import annotations

import math
import os
import shutil
import sys

import numpy as np
import pytest
import torch
from conftest import photo
from PIL import Image
from train_helpers import crops, kill_then_resume, tiny_folder_config

from studio.cli import main
from studio.core import latent, nets
from studio.core.errors import StudioError
from studio.core.images import read_image, write_image
from studio.core.jobs import Control, Finished, Item, Log, Losses, Preview, Progress, run
from studio.core.nets.flow import (
    FlowDecoder,
    FlowEncoder,
    from_flow_space,
    squeeze,
    standard_normal_log_prob,
    to_flow_space,
)
from studio.core.nets.vae import gaussian_nll, kl_to_unit_gaussian
from studio.core.store import ModelStore
from studio.core.train.job import train_job
from studio.core.train.presets import latent_preset, preset

pytestmark = pytest.mark.usefixtures("one_torch_thread")


TINY = {
    "vae": {"generator": {"arch": "conv_vae", "params": {"image_size": 32, "latent_dim": 16, "channels": 8,
                                                         "max_channels": 32}}},
    "flow": {"generator": {"arch": "glow", "params": {"image_size": 16, "levels": 2, "depth": 2, "hidden": 16}}},
}
SIZE = {"vae": 32, "flow": 16}


def tiny_latent_config(kind: str, name: str, folder, **over):
    return tiny_folder_config(kind, name, folder, SIZE[kind], **{"lr": 2e-3, **TINY[kind], **over})


def photo_folder(root, junk: bool = True):
    folder = root / "photos"
    for name in ("astronaut", "coffee", "chelsea"):
        for k, img in enumerate(crops(name, 4, size=40)):
            write_image(folder / f"{name}_{k}.jpg", img)
    if junk:
        (folder / "notes.png").write_text("this is not an image")
        (folder / "empty.jpg").write_bytes(b"")
    return folder


def good_photos(folder):
    return sorted(p for p in folder.glob("*.jpg") if p.stat().st_size)


def perturbed_glow(seed: int = 0, **params) -> nets.Glow:
    """A Glow whose every parameter is random (zero-initialised layers would hide mistakes in inverses)."""
    torch.manual_seed(seed)
    glow = nets.build("glow", params)
    glow.initialize(torch.rand(8, 3, params["image_size"], params["image_size"]) * 2 - 1)
    with torch.no_grad():
        for p in glow.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return glow.eval()


# -- the networks -------------------------------------------------------------------------------------------

def test_flow_is_exactly_invertible_with_random_weights_and_any_multiple_of_its_scale():
    glow = perturbed_glow(image_size=16, levels=2, depth=2, hidden=16)
    with torch.no_grad():
        for h, w in ((16, 16), (8, 24)):  # squeeze/split/priors follow x.shape, not the configured size
            x = torch.rand(3, 3, h, w) * 2 - 1
            eps_levels, logdet = glow.encode_levels(x)
            assert [tuple(e.shape[1:]) for e in eps_levels] == glow.latent_shapes(h, w)
            assert sum(e[0].numel() for e in eps_levels) == 3 * h * w
            assert (glow.decode_levels(eps_levels) - x).abs().max() < 1e-4
        x = torch.rand(3, 3, 16, 16) * 2 - 1
        eps, log_p = glow(x)
        assert eps.shape == (3, 3 * 16 * 16) and torch.isfinite(log_p).all()
        assert (glow.inverse(eps) - x).abs().max() < 1e-4
        # The export modules: Studio images in and out, W⁻¹ frozen in the decoder.
        eps2, bpd = FlowEncoder(glow)(x)
        assert torch.allclose(FlowDecoder(glow)(eps2), x, atol=1e-4)
        assert torch.allclose(from_flow_space(to_flow_space(x)), x, atol=1e-6)
        assert bpd.shape == (3,) and torch.isfinite(bpd).all()


def test_flow_log_determinant_equals_the_jacobian_of_the_whole_model():
    glow = perturbed_glow(seed=1, image_size=4, levels=2, depth=2, hidden=8).double()
    x = torch.randn(1, 3, 4, 4, dtype=torch.float64)
    jacobian = torch.autograd.functional.jacobian(lambda v: glow(v.view(1, 3, 4, 4))[0].view(-1), x.view(-1),
                                                  vectorize=True)
    eps, log_p = glow(x)
    logdet = log_p - standard_normal_log_prob(eps)
    assert torch.allclose(logdet, torch.slogdet(jacobian).logabsdet.unsqueeze(0), atol=1e-8)


def test_coupling_scales_and_prior_scales_stay_bounded_on_extreme_inputs():
    """The inverse divides by the coupling scale and multiplies by the prior's σ: both must stay bounded."""
    from studio.core.nets.flow import MIN_SCALE, PRIOR_LOG_SCALE_CLAMP, AffineCoupling, SplitPrior

    coupling = AffineCoupling(4, 8)
    coupling.net.norm1.initialized.fill_(1)
    coupling.net.norm2.initialized.fill_(1)
    x = torch.randn(2, 4, 3, 3)
    for bias, scale in ((-1e4, MIN_SCALE), (1e4, 1.0)):
        with torch.no_grad():
            coupling.net.out.conv.bias[1::2] = bias  # the scale channels; shifts stay 0
        y, logdet = coupling(x)
        assert torch.allclose(logdet, torch.full((2,), 2 * 9 * math.log(scale)), atol=1e-4)
        assert torch.allclose(coupling.inverse(y), x, atol=1e-5)
    prior = SplitPrior(4)
    with torch.no_grad():
        prior.prior.conv.bias.fill_(1e4)
    _, log_scale = prior._mean_log_scale(torch.randn(1, 2, 3, 3))
    assert log_scale.abs().max() <= PRIOR_LOG_SCALE_CLAMP
    h, eps, _ = prior(torch.randn(1, 4, 3, 3))
    assert torch.isfinite(prior.inverse(h, torch.full_like(eps, 10.0))).all()


def test_actnorm_initialises_from_data_and_its_flag_travels_with_the_weights():
    torch.manual_seed(0)
    glow = nets.build("glow", {"image_size": 16, "levels": 2, "depth": 1, "hidden": 8})
    assert not glow.is_initialized()
    x = torch.rand(16, 3, 16, 16) * 0.5 + 0.2
    glow.initialize(x)
    assert glow.is_initialized()
    first = glow.levels[0].steps[0].actnorm
    y, _ = first(squeeze(x))
    assert y.mean(dim=(0, 2, 3)).abs().max() < 1e-5
    assert (y.std(dim=(0, 2, 3), unbiased=False) - 1).abs().max() < 1e-3
    fresh = nets.build("glow", glow.config)
    nets.load_into(fresh, glow.state_dict())
    assert fresh.is_initialized()


def test_kl_and_gaussian_likelihood_match_hand_computations():
    mean = torch.tensor([[0.5, -1.0]])
    logvar = torch.log(torch.tensor([[0.25, 4.0]]))
    # ½[(0.25 + 0.25 − 1 − ln 0.25) + (1 + 4 − 1 − ln 4)] = ½[(−0.5 + ln 4) + (4 − ln 4)] = 1.75
    assert kl_to_unit_gaussian(mean, logvar).item() == pytest.approx(1.75, abs=1e-6)
    q = torch.distributions.Normal(mean, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros(2), torch.ones(2))
    assert kl_to_unit_gaussian(mean, logvar).item() == pytest.approx(torch.distributions.kl_divergence(q, p).sum().item())
    x, mu = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    log_sigma = torch.tensor(-0.7)
    expected = -torch.distributions.Normal(mu, log_sigma.exp()).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(gaussian_nll(x, mu, log_sigma), expected, atol=1e-4)


def test_beta_weights_the_kl_term_of_the_vae_objective():
    from studio.core.train.vae import VAETrainer

    batch = {"A": torch.rand(4, 3, 32, 32) * 2 - 1}
    losses = {}
    for beta in (0.0, 1.0, 4.0):
        config = preset("vae", "b", dir_a="x", crop_size=32, beta=beta, **TINY["vae"])
        torch.manual_seed(0)
        trainer = VAETrainer(config, torch.device("cpu"))
        torch.manual_seed(1)  # the same posterior sample for every β
        losses[beta] = trainer.step(batch)
    d = 3 * 32 * 32
    kl = losses[0.0]["kl"]
    assert losses[1.0]["loss"] - losses[0.0]["loss"] == pytest.approx(kl / d, rel=1e-4)
    assert losses[4.0]["loss"] - losses[0.0]["loss"] == pytest.approx(4 * kl / d, rel=1e-4)
    with pytest.raises(StudioError, match="beta"):
        preset("vae", "b", dir_a="x", beta=-1.0)


def test_vae_shapes_sizes_and_parameter_checks():
    for size in (32, 64, 128):
        vae = nets.build("conv_vae", {"image_size": size, "latent_dim": 8, "channels": 4, "max_channels": 16})
        recon, mean, logvar = vae(torch.zeros(2, 3, size, size))
        assert recon.shape == (2, 3, size, size) and mean.shape == logvar.shape == (2, 8)
    for bad in ({"image_size": 48}, {"image_size": 256}, {"latent_dim": 0}):
        with pytest.raises(StudioError, match=next(iter(bad))):
            nets.build("conv_vae", bad)
    with pytest.raises(StudioError, match="divisible"):
        nets.build("glow", {"image_size": 20, "levels": 3})
    with pytest.raises(StudioError, match="--size"):
        latent_preset("vae", 48)
    fast, ref = latent_preset("flow", 64, "fast"), latent_preset("flow", 64)
    assert fast["generator"]["params"]["depth"] < ref["generator"]["params"]["depth"]


# -- latent arithmetic ---------------------------------------------------------------------------------------

def test_lerp_slerp_and_paths():
    a, b = torch.tensor([3.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0])
    assert torch.equal(latent.slerp(a, b, 0.0), a) and torch.equal(latent.slerp(a, b, 1.0), b)
    mid = latent.slerp(a, b, 0.5)
    assert mid.norm().item() == pytest.approx(2.0)  # norms interpolate linearly
    assert mid[0].item() == pytest.approx(mid[1].item()) and mid[2].item() == pytest.approx(0.0)
    angle = lambda u, v: math.degrees(math.acos(float(u @ v / (u.norm() * v.norm()))))  # noqa: E731
    assert angle(mid, a) == pytest.approx(45.0, abs=1e-3) and angle(mid, b) == pytest.approx(45.0, abs=1e-3)
    assert torch.allclose(latent.lerp(a, b, 0.25), torch.tensor([2.25, 0.25, 0.0]))
    assert torch.allclose(latent.slerp(a, 2 * a, 0.5), 1.5 * a)  # parallel: falls back to the line
    anchors = torch.randn(3, 32)
    for mode in latent.MODES:
        frames = latent.path(anchors, 5, mode)
        assert frames.shape == (9, 32)
        assert torch.equal(frames[0], anchors[0]) and torch.equal(frames[4], anchors[1]) and torch.equal(frames[8], anchors[2])
    with pytest.raises(StudioError, match="two"):
        latent.path(anchors[:1], 5)
    with pytest.raises(StudioError, match="mode"):
        latent.path(anchors, 5, "cubic")


def test_blend_weights_linear_and_spherical():
    torch.manual_seed(0)
    z = torch.randn(4, 64)
    for mode in latent.MODES:
        for k in range(4):
            one_hot = [0.0] * 4
            one_hot[k] = 5.0  # weights are normalised
            assert torch.allclose(latent.blend(z, one_hot, mode), z[k], atol=1e-5)
        # A zero weight is an absent anchor.
        assert torch.allclose(latent.blend(z, [1, 2, 0, 3], mode), latent.blend(z[[0, 1, 3]], [1, 2, 3], mode), atol=1e-5)
    assert torch.allclose(latent.blend(z, [1, 3, 0, 0], "linear"), 0.25 * z[0] + 0.75 * z[1])
    assert torch.allclose(latent.blend(z[:2], [0.7, 0.3], "spherical"), latent.slerp(z[0], z[1], 0.3), atol=1e-5)
    # The spherical mean of four directions is equidistant (in angle) from symmetric inputs.
    e = torch.eye(4)
    centre = latent.blend(e, [1, 1, 1, 1], "spherical")
    assert torch.allclose(centre, torch.full((4,), 0.5), atol=1e-5)
    for bad in ([0, 0, 0, 0], [1, -1, 0, 0], [1, 1]):
        with pytest.raises(StudioError, match="weights"):
            latent.blend(z, bad)


def test_principal_directions_find_the_dominant_axis():
    torch.manual_seed(0)
    axis = torch.zeros(16)
    axis[3] = 1.0
    samples = torch.randn(200, 1) * 5 * axis + 0.1 * torch.randn(200, 16)
    directions, spread = latent.principal_directions(samples, 2)
    assert directions.shape == (2, 16) and abs(float(directions[0] @ axis)) > 0.99
    assert spread[0].item() == pytest.approx(5.0, rel=0.15) and spread[1] < 0.2


# -- training through the shared job, and what a trained model does -------------------------------------------

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A VAE and a flow trained a few steps on real photo crops with junk files mixed in (once per module)."""
    root = tmp_path_factory.mktemp("latent")
    home = root / "home"
    folder = photo_folder(root)
    events = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STUDIO_HOME", str(home))
        for kind in ("vae", "flow"):
            events[kind] = list(train_job(tiny_latent_config(kind, f"tiny-{kind}", folder)))
    return {"home": home, "folder": folder, "events": events, "store": ModelStore(user_dir=home / "models")}


def load(trained, kind: str) -> latent.LatentModel:
    return latent.LatentModel.load(f"tiny-{kind}", trained["store"], device="cpu")


def install(trained, kind: str) -> None:
    """Copy a trained model into this test's own store (for the CLI)."""
    shutil.copytree(trained["home"] / "models" / f"tiny-{kind}", ModelStore().user_dir / f"tiny-{kind}")


@pytest.mark.parametrize("kind", ["vae", "flow"])
def test_training_skips_junk_publishes_and_records_held_out_metrics(trained, kind):
    events = trained["events"][kind]
    # skipped files are reported as log lines or as skipped items
    logs = " ".join([e.message for e in events if isinstance(e, Log)]
                    + [f"{e.path}: {e.error}" for e in events if isinstance(e, Item) and e.skipped])
    assert "notes.png" in logs and "empty.jpg" in logs
    assert isinstance(events[-1], Finished) and events[-1].value["model"] == f"tiny-{kind}"
    assert [e.step for e in events if isinstance(e, Losses)] == list(range(1, 9))
    losses = [e.values for e in events if isinstance(e, Losses)]
    assert all(math.isfinite(v) for step in losses for v in step.values())
    previews = [e for e in events if isinstance(e, Preview)]
    s = SIZE[kind]
    assert [p.step for p in previews] == [4, 8] and previews[0].image.shape == (3 * s, 3 * s, 3)
    info = trained["store"].get(f"tiny-{kind}")
    card = info.card
    assert card["kind"] == kind and list(card["networks"]) == [kind] and card["image_size"] == s
    prov = card["provenance"]
    assert prov["steps"] == 8 and prov["images"] == {"A": 11, "held_out": 1}
    assert sorted(os.path.basename(p) for p, _ in prov["skipped"]) == ["empty.jpg", "notes.png"]
    metrics = card["metrics"]
    assert metrics["held_out_images"] == 1
    if kind == "vae":
        assert set(metrics) >= {"psnr", "elbo", "kl", "elbo_bits_per_dim"}
        assert 5 < metrics["psnr"] < 60 and metrics["elbo"] < 0 and metrics["kl"] >= 0
        assert prov["config"]["beta"] == 1.0
    else:
        assert 0 < metrics["bits_per_dim"] < 16 and metrics["inverse_psnr"] >= 45


def test_trained_flow_reconstructs_the_resized_photo_exactly_and_scores_it(trained, tmp_path):
    model = load(trained, "flow")
    write_image(tmp_path / "cat.png", photo("chelsea", (70, 50)))
    x = model.load_image(tmp_path / "cat.png")
    expected = np.asarray(Image.fromarray((photo("chelsea", (70, 50)) * 255).round().astype(np.uint8))
                          .resize((16, 16), Image.Resampling.BICUBIC), dtype=np.float32) / 127.5 - 1
    assert np.allclose(x[0].permute(1, 2, 0).numpy(), expected, atol=1e-6)  # "the resized input"
    recon = model.reconstruct(x)
    psnr = 10 * math.log10(4.0 / max(float((recon - x).pow(2).mean()), 1e-20))
    assert psnr >= 45
    bpd = model.score(x)
    assert bpd.shape == (1,) and 0 < bpd.item() < 16
    # Centre-of-bin and dequantised readings of the same likelihood agree to within a fraction of a bit.
    assert abs(model.dequantized_bits_per_dim(x).item() - bpd.item()) < 0.5
    # "How typical": even a few steps in, photos of the training kind score well below noise.
    photos = model.score(model.load_images(good_photos(trained["folder"])))
    noise = model.score(torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1)
    assert photos.max() + 1.0 < noise.min()


@pytest.mark.parametrize("kind", ["vae", "flow"])
def test_interpolation_endpoints_and_snapped_blends_are_the_reconstructions(trained, kind):
    model = load(trained, kind)
    files = good_photos(trained["folder"])[:3]
    images = model.load_images(files)
    recon = model.reconstruct(images)
    for mode in latent.MODES:
        frames = latent.interpolate(model, images, 4, mode)
        assert frames.shape == (7, 3, SIZE[kind], SIZE[kind])
        for frame, anchor in ((0, 0), (3, 1), (6, 2)):
            assert torch.allclose(frames[frame], recon[anchor], atol=1e-5)
        assert not torch.allclose(frames[1], frames[0], atol=1e-3)  # the middle frames move
    renderer = latent.Renderer(model)
    anchors = renderer.anchors(files)
    assert len(renderer.cache) == 3 and torch.equal(renderer.anchors(files[:1])[0], anchors[0])
    for mode in latent.MODES:
        frame = renderer.render(latent.Scene(tuple(anchors), (0, 1, 0), mode))
        assert frame.dtype == np.uint8 and frame.shape == (SIZE[kind], SIZE[kind], 3)
        assert np.abs(frame.astype(int) - latent.to_rgb8(recon[1]).astype(int)).max() <= 1
    half = renderer.render(latent.Scene(tuple(anchors), (1, 1, 0), "linear"))
    assert not np.array_equal(half, renderer.render(latent.Scene(tuple(anchors), (1, 0, 0), "linear")))
    # the scene's parts, exactly as the engine's arithmetic composes them
    direction = anchors[2] - anchors[0]
    moved = latent.Scene(tuple(anchors), (1, 1, 0), "spherical", directions=(direction,), amounts=(0.5,))
    expected = latent.blend(anchors, (1, 1, 0), "spherical") + 0.5 * direction
    assert torch.equal(renderer.latent(moved), expected)
    assert np.array_equal(renderer.render(moved), latent.to_rgb8(model.decode(expected)[0]))
    sample = latent.Scene(sample=(0.6, 7))
    assert np.array_equal(renderer.render(sample), latent.to_rgb8(model.sample(1, 0.6, seed=7))[0])
    strip = renderer.strip(anchors[0], anchors[1], 4, "spherical")
    assert torch.equal(strip, model.decode(latent.path(anchors[:2], 4, "spherical")))


@pytest.mark.parametrize("kind", ["vae", "flow"])
def test_samples_follow_seed_and_temperature(trained, kind):
    model = load(trained, kind)
    a, b = model.sample(3, 0.8, seed=1), model.sample(3, 0.8, seed=1)
    assert a.shape == (3, 3, SIZE[kind], SIZE[kind]) and torch.equal(a, b)
    assert not torch.equal(a, model.sample(3, 0.8, seed=2))
    cold = model.sample_latents(2, 0.0, seed=1)
    assert torch.equal(cold, torch.zeros_like(cold))  # temperature 0: the prior's mode
    spread = model.sample_latents(4000 if kind == "vae" else 8, 0.5, seed=3).std().item()
    assert spread == pytest.approx(0.5, rel=0.05)
    with pytest.raises(StudioError, match="temperature"):
        model.sample(1, -1.0)


def split_cats(folder, cats, rest):
    """The readable photos of ``folder`` copied into two folders: the cat's (chelsea*) and the others."""
    cats.mkdir()
    rest.mkdir()
    for f in good_photos(folder):
        shutil.copy(f, (cats if f.name.startswith("chelsea") else rest) / f.name)
    return cats, rest


def test_attribute_direction_and_its_file(trained, tmp_path):
    model = load(trained, "vae")
    folder = trained["folder"]
    with_dir, without_dir = split_cats(folder, tmp_path / "cat", tmp_path / "other")
    (without_dir / "broken.png").write_bytes(b"\x89PNG broken")
    direction = latent.attribute_direction(model, with_dir, without_dir)
    z_with = model.encode(model.load_images(sorted(with_dir.glob("*.jpg")))).mean(0)
    z_without = model.encode(model.load_images(sorted(without_dir.glob("*.jpg")))).mean(0)
    assert torch.allclose(direction, z_with - z_without, atol=1e-5)
    moved = latent.apply_direction(z_without, direction, 1.0)
    assert torch.allclose(moved, z_with, atol=1e-5)
    path = latent.save_direction(tmp_path / "cat.safetensors", direction, model, note="cats")
    loaded, meta = latent.load_direction(path, model)
    assert torch.equal(loaded, direction) and meta["model"] == "tiny-vae" and meta["note"] == "cats"
    with pytest.raises(StudioError, match="does not fit"):
        latent.load_direction(path, load(trained, "flow"))
    events = list(latent.encode_folder_job(model, without_dir))
    assert all(isinstance(e, (Progress, Item, Finished)) for e in events)
    skipped = [e for e in events if isinstance(e, Item)]
    assert [e.path.endswith("broken.png") and e.skipped for e in skipped] == [True]
    assert isinstance(events[-1], Finished) and len(events[-1].value["paths"]) == 8
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress[0].done == 0 and progress[-1].done == progress[-1].total == 9
    found = run(latent.folder_directions_job(model, without_dir, 3))
    assert found["count"] == 8 and found["directions"].shape == (3, model.latent_dim)
    assert [p.endswith("broken.png") for p, _ in found["failed"]] == [True]
    control = Control()
    control.cancel()
    with pytest.raises(StudioError, match="cancelled"):
        list(latent.encode_folder_job(model, without_dir, control))


def test_save_frames_strip_gif_and_folder(tmp_path):
    frames = torch.rand(5, 3, 16, 16) * 2 - 1
    latent.save_frames(frames, tmp_path / "strip.png")
    assert read_image(tmp_path / "strip.png").size == (80, 16)
    latent.save_frames(frames, tmp_path / "anim.gif", duration_ms=50)
    with Image.open(tmp_path / "anim.gif") as gif:
        assert gif.n_frames == 5 and gif.size == (16, 16) and gif.info["duration"] == 50
    latent.save_frames(frames, tmp_path / "frames")
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == [f"frame_{i:04d}.png" for i in range(1, 6)]


def test_latent_operations_refuse_translation_models_and_wrong_shapes(trained):
    from helpers import save_cyclegan

    save_cyclegan("tiny-gan")
    with pytest.raises(StudioError, match="vae, ae, flow or dcgan"):
        latent.LatentModel.load("tiny-gan", device="cpu")
    model = load(trained, "vae")
    with pytest.raises(StudioError, match=r"\(N, 3, 32, 32\)"):
        model.encode(torch.zeros(1, 3, 16, 16))
    with pytest.raises(StudioError, match="16-d"):
        model.decode(torch.zeros(1, 5))


# -- resume ------------------------------------------------------------------------------------------------------

def _losses(events):
    return [e.values for e in events if isinstance(e, Losses)]


def test_flow_resume_after_cancel_equals_an_uninterrupted_run(tmp_path):
    folder = photo_folder(tmp_path, junk=False)
    full = list(train_job(tiny_latent_config("flow", "full", folder, max_steps=7)))
    control = Control()
    first = []
    for event in train_job(tiny_latent_config("flow", "split", folder, max_steps=7), control=control):
        first.append(event)
        if isinstance(event, Losses) and event.step == 3:
            control.cancel()
    assert isinstance(first[-1], Finished) and first[-1].value["cancelled"]
    rest = list(train_job(resume="split"))
    assert _losses(first) + _losses(rest) == _losses(full)  # exact: the init flag, warm-up and RNG all resume
    store = ModelStore()
    a, b = store.load("full").networks["flow"], store.load("split").networks["flow"]
    for (key, v), w in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(v, w), key
    assert store.get("full").card["metrics"]["bits_per_dim"] == store.get("split").card["metrics"]["bits_per_dim"]


@pytest.mark.parametrize("kind", ["vae", "flow"])
def test_run_killed_with_sigkill_resumes_to_the_planned_steps_and_publishes(tmp_path, studio_home, kind):
    folder = photo_folder(tmp_path)
    # One thread: on a busy 2-core machine, OpenMP barriers make tiny steps up to ~40× slower.
    env = {**os.environ, "STUDIO_HOME": str(studio_home), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "studio", "train", kind, "--images", str(folder), "--name", "killed", "--size", "32",
           "--preset", "fast", "--batch-size", "4", "--max-steps", "60", "--checkpoint-every", "3", "--workers", "0", "-q"]
    kill_then_resume(cmd, "killed", studio_home, 60, env)
    card = ModelStore().get("killed").card
    assert card["kind"] == kind and card["provenance"]["steps"] == 60
    assert ("psnr" if kind == "vae" else "bits_per_dim") in card["metrics"]


# -- the command line --------------------------------------------------------------------------------------------

def test_cli_interpolate_sample_reconstruct_and_score(trained, tmp_path, capsys):
    install(trained, "vae")
    install(trained, "flow")
    a, b, c = (str(p) for p in good_photos(trained["folder"])[:3])
    assert main(["latent", "interpolate", "--model", "tiny-vae", a, b, "--steps", "6", "-o", str(tmp_path / "i.png")]) == 0
    assert read_image(tmp_path / "i.png").size == (6 * 32, 32)
    assert main(["latent", "interpolate", "--model", "tiny-flow", a, b, c, "--steps", "4", "--mode", "linear",
                 "-o", str(tmp_path / "i.gif")]) == 0
    with Image.open(tmp_path / "i.gif") as gif:
        assert gif.n_frames == 7 and gif.size == (16, 16)
    assert main(["latent", "sample", "--model", "tiny-flow", "-n", "5", "--temperature", "0.5", "--seed", "3",
                 "-o", str(tmp_path / "s.png")]) == 0
    assert read_image(tmp_path / "s.png").size == (5 * 16, 16)
    assert main(["latent", "reconstruct", "--model", "tiny-flow", a, "-o", str(tmp_path / "r.png"), "--side-by-side"]) == 0
    out = capsys.readouterr().out
    assert read_image(tmp_path / "r.png").size == (32, 16)
    psnr = float(out.split("PSNR against the resized input ")[1].split(" dB")[0])
    assert psnr >= 45
    left, right = np.split(np.asarray(Image.open(tmp_path / "r.png")), 2, axis=1)
    assert np.array_equal(left, right)  # exact to the 8-bit level
    junk = trained["folder"] / "notes.png"
    assert main(["latent", "score", "--model", "tiny-flow", a, str(junk), b]) == 1
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert len(lines) == 2 and all("bits/dim" in line for line in lines)
    assert "notes.png" in captured.err and "not an image" in captured.err
    assert main(["latent", "score", "--model", "tiny-gan-missing", a]) == 1
    assert "no model named" in capsys.readouterr().err


def test_cli_direction_and_bench(trained, tmp_path, capsys):
    install(trained, "vae")
    folder = trained["folder"]
    cats, rest = split_cats(folder, tmp_path / "cats", tmp_path / "rest")
    assert main(["latent", "direction", "--model", "tiny-vae", "--with", str(cats), "--without", str(rest),
                 "-o", str(tmp_path / "d.safetensors")]) == 0
    assert main(["latent", "reconstruct", "--model", "tiny-vae", str(next(rest.iterdir())), "--direction",
                 str(tmp_path / "d.safetensors"), "--strength", "0.5", "-o", str(tmp_path / "moved.png")]) == 0
    assert read_image(tmp_path / "moved.png").size == (32, 32)
    capsys.readouterr()
    assert main(["bench", "latent", "--model", "tiny-vae", "--frames", "20", "--warmup", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("frames_per_second: ") and float(lines[-1].split(": ")[1]) > 0
    assert any(line.startswith("vae_decode_64px_ms: ") for line in lines[:-1])
