"""Resize-convolution upsampling (issue 16): no checkerboard at initialisation, old models unchanged, ONNX.

The checkerboard measure is :mod:`studio.core.evaluate.checkerboard`; its own checks are here too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import photo
from helpers import make_generator
from scipy.ndimage import gaussian_filter

from studio.core import nets
from studio.core.errors import ModelError
from studio.core.evaluate.checkerboard import checkerboard_index, nyquist_fraction, nyquist_power_ratio
from studio.core.export import export_onnx_job
from studio.core.jobs import Finished
from studio.core.nets.unet import UnetSkipConnectionBlock
from studio.core.store import ModelStore, new_card
from studio.core.train.presets import KIND_PRESETS
from studio.core.translate import Translator
from studio.core.translate.image_norms import inference_copy

MODELS = Path(__file__).resolve().parents[1] / "models"
FAST = {
    "mobile_resnet_generator": {"n_blocks": 6, "ngf": 16, "norm": "instance"},
    "unet_generator": {"num_downs": 7, "ngf": 16, "norm": "batch", "use_dropout": True},
}
# The transposed-convolution poster starter's translations (a2b, b2a) of the coffee photo taken every fourth
# pixel (100x150, no resampling library in between), as uint16 (value x 65535). Recorded 2026-12-04 with the code
# of ad51fa9, which had passed the bit-identical fingerprints recorded before the upsample parameter existed
# (5cc8f99) on both of the project's earlier machine kinds. Exact fingerprints broke on a third kind (same
# model, code and input; other convolution kernels), so the check is now a tolerance: kernels move outputs by
# ~1e-6 (measured across ATen's CPU capabilities), any change of architecture or weights by far more than 1e-4.
STARTER_OUTPUTS = Path(__file__).resolve().parent / "data" / "poster_starter_coffee.npz"
STARTER_TOLERANCE = 1e-4


def smooth_image(seed: int = 0, side: int = 128, sigma: float = 6.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.stack([gaussian_filter(rng.standard_normal((side, side)), sigma) for _ in range(3)], -1)
    return 0.5 + 0.4 * img / np.abs(img).max()


# -- the measure -------------------------------------------------------------------------------------

def test_a_checkerboard_scores_high_and_a_smooth_image_about_one():
    smooth = smooth_image()
    board = (np.indices((128, 128)).sum(axis=0) % 2)[:, :, None] * 0.1  # the period-2 pattern
    stripes = (np.arange(128) % 2)[None, :, None] * np.ones((128, 1, 1)) * 0.1  # columns only
    assert checkerboard_index(smooth + board, smooth) > 1e3
    assert checkerboard_index(smooth + stripes, smooth) > 1e3
    assert checkerboard_index(smooth, smooth) == pytest.approx(1.0)
    # Another smooth image of the same kind is about as (un)checkered; brightness does not matter.
    assert 0.2 < checkerboard_index(smooth_image(1, sigma=2.0), smooth_image(2, sigma=2.0)) < 5
    assert checkerboard_index(smooth * 0.5 + 0.2, smooth) == pytest.approx(1.0)
    assert nyquist_fraction(np.full((32, 32, 3), 0.5)) == 0.0
    assert 0.9 < nyquist_fraction(board[:, :, 0]) <= 1.0
    with pytest.raises(ValueError, match="4×4"):
        nyquist_fraction(np.zeros((2, 8)))


def test_the_power_ratio_tells_a_pattern_from_a_washed_out_picture():
    target = smooth_image(sigma=2.0) + 0.02 * np.random.default_rng(3).standard_normal((128, 128, 3))  # fine grain
    washed = 0.5 * (target - target.mean()) + target.mean()  # half the contrast, no pattern of its own
    board = (np.indices((128, 128)).sum(axis=0) % 2)[:, :, None] * 0.1
    assert checkerboard_index(washed, target) == pytest.approx(1.0)  # shares: scale-free
    assert nyquist_power_ratio(washed, target) == pytest.approx(0.25)
    assert nyquist_power_ratio(target, target) == pytest.approx(1.0)
    assert nyquist_power_ratio(washed + board, target) > 100
    # An output that lost its low-frequency contrast but kept the target's grain: index high, ratio ~1.
    flat = target - smooth_image(sigma=2.0) + 0.5
    assert checkerboard_index(flat, target) > 3 and nyquist_power_ratio(flat, target) == pytest.approx(1.0, rel=0.2)


# -- the layers at initialisation -------------------------------------------------------------------

def white_noise_share(side: int = 128, band: int = 1) -> float:
    """The Nyquist share a spectrum flat at high frequencies would have: the masked bins' share."""
    return 3 * (2 * band + 1) ** 2 / side**2


@pytest.mark.parametrize("arch", list(FAST))
def test_transposed_convs_checker_at_initialisation_and_resize_convs_do_not(arch):
    """The known property of the two layers (Odena et al. 2016), measured on a fresh fast generator.

    A flat image is no test: mid grey is 0 in the networks' [-1, 1] range and stays 0 through every
    layer at initialisation (zero biases), and other greys are removed by the ResNet's instance
    norms. So the photo is the input, and the measure is against the photo."""
    img = photo("coffee", (128, 128)).astype(np.float64)
    x = torch.from_numpy(img * 2 - 1).permute(2, 0, 1)[None].float()
    index = {}
    for upsample in ("transposed", "resize"):
        shares = []
        for seed in (0, 1, 2):
            torch.manual_seed(seed)
            net = inference_copy(nets.build(arch, {**FAST[arch], "upsample": upsample}))
            with torch.no_grad():
                out = net(x)[0].permute(1, 2, 0).double().numpy()
            shares.append(nyquist_fraction(out))
            index.setdefault(upsample, []).append(checkerboard_index(out, img))
        if upsample == "transposed":
            assert min(shares) > 0.1, shares  # a tenth of the power in 0.16% of the spectrum
        else:
            assert max(shares) < 1.5 * white_noise_share(), shares  # no peak at Nyquist
    assert min(index["transposed"]) > 50 * max(index["resize"]), index


def test_bilinear_init_starts_the_reference_transposed_convs_without_a_checkerboard():
    """``upsample_init="bilinear"`` keeps the reference ResNet-9's layers and state-dict keys, and its first
    output has no Nyquist peak; its transposed convolutions start as channel mixing then linear ×2."""
    img = photo("coffee", (128, 128)).astype(np.float64)
    x = torch.from_numpy(img * 2 - 1).permute(2, 0, 1)[None].float()
    reference = {"n_blocks": 9, "ngf": 16, "norm": "instance"}
    shares = {}
    for init in ("normal", "bilinear"):
        torch.manual_seed(0)
        net = nets.build("resnet_generator", {**reference, "upsample_init": init})
        with torch.no_grad():
            shares[init] = nyquist_fraction(inference_copy(net)(x)[0].permute(1, 2, 0).double().numpy())
        if init == "normal":
            assert net.config == nets.build("resnet_generator", reference).config  # the reference's card, unchanged
            keys = set(net.state_dict())
        else:
            assert net.config["upsample_init"] == "bilinear" and set(net.state_dict()) == keys
    assert shares["normal"] > 0.1 and shares["bilinear"] < 1.5 * white_noise_share(), shares
    up = nn_transposed(net)
    signal = torch.arange(4.0).view(1, 1, 1, 4).expand(1, up.in_channels, 1, 4).contiguous()
    with torch.no_grad():
        row = up(signal)[0, 0, 0] / up.weight[:, 0, 1, 1].sum()  # one output channel, one row
    assert torch.allclose(row[:7], torch.tensor([0, 0.5, 1, 1.5, 2, 2.5, 3]), atol=1e-5)  # linear ×2


def nn_transposed(net: torch.nn.Module) -> torch.nn.ConvTranspose2d:
    return next(m for m in net.modules() if isinstance(m, torch.nn.ConvTranspose2d))


# -- the architecture --------------------------------------------------------------------------------

def test_the_default_is_the_old_architecture_and_resize_replaces_only_the_upsampling():
    for arch, params in (*FAST.items(), ("resnet_generator", {"n_blocks": 2, "ngf": 8})):
        old = nets.build(arch, params)
        assert "upsample" not in old.config  # the config, and so the card, is what it was before
        assert any(isinstance(m, torch.nn.ConvTranspose2d) for m in old.modules())
        new = nets.build(arch, {**params, "upsample": "resize"})
        assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in new.modules())
        assert sum(isinstance(m, torch.nn.Upsample) for m in new.modules()) == (7 if arch == "unet_generator" else 2)
        assert new.size_multiple == old.size_multiple
        # Only the upsampling layers' keys differ: every other layer keeps its index.
        up_keys = {k for k in old.state_dict() if k not in new.state_dict()}
        assert up_keys and all(isinstance(old.get_submodule(k.rpartition(".")[0]), torch.nn.ConvTranspose2d)
                               for k in up_keys), up_keys
        assert nets.build(arch, new.config).state_dict().keys() == new.state_dict().keys()
    with pytest.raises(ModelError, match="upsample"):
        nets.build("unet_generator", {"upsample": "bicubic"})


def test_resize_unet_keeps_its_skips_and_output_size():
    torch.manual_seed(0)
    net = inference_copy(nets.build("unet_generator", {**FAST["unet_generator"], "upsample": "resize"}))
    blocks = [m for m in net.modules() if isinstance(m, UnetSkipConnectionBlock)]
    assert len(blocks) == 7 and sum(not b.outermost for b in blocks) == 6
    x = torch.rand(1, 3, 128, 256) * 2 - 1
    with torch.no_grad():
        assert net(x).shape == (1, 3, 128, 256)
        inner = blocks[-1]  # innermost: its output is its input and the upsampled features, concatenated
        probe = torch.rand(1, 128, 2, 2)
        out = inner(probe)
        assert out.shape == (1, 256, 2, 2) and torch.equal(out[:, :128], probe)


def test_mobile_resize_upsampling_is_separable():
    net = nets.build("mobile_resnet_generator", {**FAST["mobile_resnet_generator"], "upsample": "resize"})
    ups = [m for m in net.model if isinstance(m, torch.nn.Sequential)]
    assert len(ups) == 2
    for up in ups:
        convs = [m for m in up if isinstance(m, torch.nn.Conv2d)]
        assert [c.kernel_size for c in convs] == [(3, 3), (1, 1)] and convs[0].groups == convs[0].in_channels
    assert net(torch.rand(1, 3, 36, 52)).shape == (1, 3, 36, 52)


def test_fast_presets_choose_resize_and_the_reference_preset_stays_the_reference():
    for kind in ("cyclegan", "pix2pix"):
        fast = KIND_PRESETS[kind](True, None)["generator"]
        assert fast["params"]["upsample"] == "bilinear"
        assert nets.build(fast["arch"], fast["params"]).size_multiple == (4 if kind == "cyclegan" else 128)
        ref = KIND_PRESETS[kind](False, None)["generator"]
        assert "upsample" not in ref["params"]  # its cards stay as they were
        built = nets.build(ref["arch"], ref["params"])
        assert "upsample" not in built.config and any(isinstance(m, torch.nn.ConvTranspose2d) for m in built.modules())


# -- compatibility -----------------------------------------------------------------------------------

@pytest.mark.parametrize("direction", ["a2b", "b2a"])
def test_the_poster_starter_translates_as_before(direction, tmp_path):
    from skimage import data

    store = ModelStore(tmp_path / "user", MODELS)
    info = store.get("photo to poster")
    for spec in info.card["networks"].values():
        # No parameter in the card, and the rebuilt network's config equals the card's (fine-tuning checks that).
        assert "upsample" not in spec["params"]
        assert nets.build(spec["arch"], spec["params"]).config == spec["params"]
    coffee = data.coffee()[::4, ::4].astype(np.float32) / 255.0
    out = Translator(store.load(info), direction, device="cpu").translate_array(coffee)
    assert out.dtype == np.float32 and out.shape == coffee.shape
    with np.load(STARTER_OUTPUTS) as recorded:
        before = recorded[direction].astype(np.float32) / 65535.0
    assert np.abs(out - before).max() < STARTER_TOLERANCE


def save_resize_cyclegan(name: str) -> str:
    params = {"n_blocks": 2, "ngf": 8, "norm": "instance", "upsample": "resize"}
    g_a = make_generator("mobile_resnet_generator", params, 0)
    g_b = make_generator("mobile_resnet_generator", params, 1)
    card = new_card("cyclegan", {"G_A": (g_a.arch, g_a.config), "G_B": (g_b.arch, g_b.config)},
                    domains={"A": "photo", "B": "painting"}, image_size=64, provenance={"source": "test"})
    ModelStore().save(name, card, {"G_A": g_a.state_dict(), "G_B": g_b.state_dict()})
    return name


def test_a_resize_model_saves_loads_and_translates_the_same():
    name = save_resize_cyclegan("resize-cg")
    model = ModelStore().load(name)
    assert model.info.card["networks"]["G_A"]["params"]["upsample"] == "resize"
    img = photo("astronaut", (96, 64))
    whole = Translator(model, device="cpu").translate_array(img, tile=0)
    again = Translator(ModelStore().load(name), device="cpu").translate_array(img, tile=0)
    assert np.array_equal(whole, again) and whole.shape == img.shape


def test_a_resize_generator_exports_to_onnx_with_parity(tmp_path):
    name = save_resize_cyclegan("resize-cg")
    events = list(export_onnx_job(name, tmp_path / "cg.onnx", store=ModelStore()))
    done = events[-1]
    assert isinstance(done, Finished)
    assert done.value["verified_with"].startswith("onnxruntime ")
    assert 0 <= done.value["max_abs_diff"] <= 1e-3
