"""Blur-pooled downsampling and bilinear resize-convolution (issue 16): fixed filters, old configs unchanged,
a CUT-sized generator that trains, saves, loads and exports with them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import photo

from studio.core import nets
from studio.core.errors import ModelError
from studio.core.evaluate.checkerboard import nyquist_fraction
from studio.core.export import export_onnx_job
from studio.core.jobs import Finished
from studio.core.nets.downsample import BlurPool
from studio.core.store import ModelStore, new_card
from studio.core.translate import Translator
from studio.core.translate.image_norms import inference_copy

FAST = {"n_blocks": 6, "ngf": 16, "norm": "instance"}


def test_blur_downsampling_is_a_fixed_low_pass_and_the_default_is_unchanged():
    old = nets.build("mobile_resnet_generator", FAST)
    assert "downsample" not in old.config and not any(isinstance(m, BlurPool) for m in old.modules())
    new = nets.build("mobile_resnet_generator", {**FAST, "upsample": "bilinear", "downsample": "blur"})
    pools = [m for m in new.modules() if isinstance(m, BlurPool)]
    assert len(pools) == 2 and new.size_multiple == old.size_multiple == 4
    assert new.config["downsample"] == "blur" and nets.build(new.arch, new.config).config == new.config
    taps = torch.tensor([1.0, 2.0, 1.0])
    for pool in pools:
        assert not pool.weight.requires_grad and pool.stride == (2, 2)
        assert torch.equal(pool.weight[0, 0], torch.outer(taps, taps) / 16)
    # A period-2 pattern (all of its power at Nyquist) is filtered out before the stride: nothing gets through.
    checker = ((torch.arange(16)[:, None] + torch.arange(16)[None]) % 2 * 2 - 1).float()[None, None]
    out = BlurPool(1)(checker)
    assert out.abs().max() < 1e-6
    with pytest.raises(ModelError, match="downsample"):
        nets.build("resnet_generator", {"downsample": "avg"})


def test_fixed_filters_survive_initialisation_and_training():
    net = nets.build("mobile_resnet_generator", {**FAST, "n_blocks": 2, "downsample": "blur", "upsample": "bilinear"})
    nets.init_weights(net, "kaiming", gain=1.0)
    pool = next(m for m in net.modules() if isinstance(m, BlurPool))
    before = pool.weight.clone()
    opt = torch.optim.Adam([p for p in net.parameters()], lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        net(torch.rand(1, 3, 32, 32)).square().mean().backward()
        opt.step()
    assert torch.equal(pool.weight, before) and torch.equal(before[0, 0, 1, 1], torch.tensor(0.25))


def test_bilinear_blur_generator_has_no_nyquist_peak_at_initialisation():
    img = photo("coffee", (128, 128)).astype(np.float64)
    x = torch.from_numpy(img * 2 - 1).permute(2, 0, 1)[None].float()
    shares = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        net = inference_copy(nets.build("mobile_resnet_generator", {**FAST, "upsample": "bilinear",
                                                                    "downsample": "blur"}))
        with torch.no_grad():
            shares.append(nyquist_fraction(net(x)[0].permute(1, 2, 0).double().numpy()))
    assert max(shares) < 0.5 * nyquist_fraction(img) + 1e-3, shares


def test_a_blur_cut_model_saves_in_half_precision_loads_translates_and_exports(tmp_path):
    torch.manual_seed(0)
    g = nets.build("mobile_resnet_generator", {**FAST, "n_blocks": 2, "ngf": 8, "upsample": "bilinear",
                                               "downsample": "blur"})
    nets.init_weights(g, "kaiming", gain=1.0)
    card = new_card("cut", {"G": (g.arch, g.config)}, image_size=64, provenance={"source": "test"})
    ModelStore().save("blur-cut", card, {"G": g.state_dict()}, half=True)
    loaded = ModelStore().load("blur-cut")
    pool = next(m for m in loaded.networks["G"].modules() if isinstance(m, BlurPool))
    assert torch.equal(pool.weight, torch.outer(torch.tensor([1.0, 2, 1]), torch.tensor([1.0, 2, 1]))
                       .div(16).expand_as(pool.weight))  # exact in fp16
    img = photo("astronaut", (96, 64))
    out = Translator(loaded, device="cpu").translate_array(img, tile=0)
    assert out.shape == img.shape and np.isfinite(out).all()
    events = list(export_onnx_job("blur-cut", tmp_path / "blur.onnx", store=ModelStore()))
    assert isinstance(events[-1], Finished) and 0 <= events[-1].value["max_abs_diff"] <= 1e-3
