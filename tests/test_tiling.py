"""Tiling internals: generators as flat layer lists, and passes that run every layer once per tile."""

from __future__ import annotations

import pytest
import torch
from conftest import photo, psnr
from helpers import make_generator, record_tile_stores, save_pix2pix

from studio.core import nets
from studio.core.store import ModelStore, new_card
from studio.core.translate import Translator, tiling
from studio.core.translate.image_norms import inference_copy
from studio.core.translate.layers import Fork, Join, flatten, profile, run_layers

GENERATORS = [
    ("resnet_generator", {"n_blocks": 9, "ngf": 8}, 64),
    ("resnet_generator", {"n_blocks": 6, "ngf": 8, "padding_type": "zero"}, 64),
    ("mobile_resnet_generator", {"n_blocks": 3, "ngf": 8}, 64),
    ("unet_generator", {"num_downs": 7, "ngf": 8, "norm": "batch"}, 128),
    ("unet_generator", {"num_downs": 8, "ngf": 4, "norm": "instance"}, 256),
    # Resize-convolution upsampling (the fast presets' since issue 16).
    ("mobile_resnet_generator", {"n_blocks": 3, "ngf": 8, "upsample": "resize"}, 64),
    ("resnet_generator", {"n_blocks": 2, "ngf": 8, "padding_type": "zero", "upsample": "resize"}, 64),
    ("unet_generator", {"num_downs": 7, "ngf": 8, "norm": "batch", "upsample": "resize"}, 128),
    # Bilinear resize-convolutions and blur-pooled downsampling (the fast presets' since the CUT benchmark).
    ("mobile_resnet_generator", {"n_blocks": 3, "ngf": 8, "upsample": "bilinear", "downsample": "blur"}, 64),
    ("resnet_generator", {"n_blocks": 2, "ngf": 8, "upsample": "bilinear", "downsample": "blur"}, 64),
    ("unet_generator", {"num_downs": 7, "ngf": 8, "norm": "batch", "upsample": "bilinear"}, 128),
]


@pytest.mark.parametrize(("name", "params", "side"), GENERATORS)
def test_flattened_generator_computes_exactly_what_the_module_does(name, params, side):
    torch.manual_seed(0)
    net = inference_copy(nets.build(name, params))
    layers = flatten(net)
    forks = sum(isinstance(layer, Fork) for layer in layers)
    joins = sum(isinstance(layer, Join) for layer in layers)
    assert forks == joins > 0, "skip connections should have become fork/join pairs"
    assert not any(isinstance(layer, torch.nn.Sequential) for layer in layers)
    x = torch.rand(1, 3, side, 2 * side) * 2 - 1
    with torch.no_grad():
        expected = net(x)
        got = run_layers(layers, x, skips := [])
    assert not skips
    # Same layers in the same order; only the CPU's summation order may differ between two calls.
    assert torch.allclose(got, expected, atol=1e-4), (got - expected).abs().max()


def test_unknown_modules_stay_whole():
    class Opaque(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)

        def forward(self, x):
            return x - self.conv(x)

    block = Opaque()
    assert flatten(torch.nn.Sequential(block, torch.nn.Tanh()))[0] is block


def _passes(translator: Translator, height: int, width: int, core: int) -> list[tiling.Pass]:
    run = tiling.TiledRun(translator.layers, translator.norms, translator.profile, translator._run)
    return run.plan(tiling.plan_tiles(height, width, core, translator.halo))


def test_with_room_every_layer_runs_once_per_tile(monkeypatch):
    from helpers import save_cyclegan

    translator = Translator(ModelStore().load(save_cyclegan()), device="cpu")
    passes = _passes(translator, 512, 768, 128)
    assert len(passes) == len(translator.norms) + 1
    assert passes[0].start == 0 and passes[-1].stop == len(translator.layers)
    assert all(a.stop == b.start for a, b in zip(passes, passes[1:], strict=False)), "passes should chain"
    # Without memory or disk to keep anything, every pass starts again from the photo.
    monkeypatch.setattr(tiling, "CPU_CACHE_BUDGET", 0)
    monkeypatch.setattr(tiling, "free_disk", lambda: 0)
    assert all(p.start == 0 for p in _passes(translator, 512, 768, 128))


def test_tiled_pix2pix_unet_keeps_its_skips_and_matches_the_whole_image(monkeypatch):
    """The U-Net's skip connections stay open across passes: they are kept in stores of their own."""
    model = ModelStore().load(save_pix2pix(num_downs=5, ngf=8))
    translator = Translator(model, device="cpu")
    img = photo("astronaut", (320, 224))
    whole = translator.translate_array(img, tile=0)
    opened = record_tile_stores(monkeypatch)
    tiled = translator.translate_array(img, tile=64)
    passes = _passes(translator, 320, 224, 64)
    assert max(len(p.keep or []) for p in passes) >= 2, "some pass should keep a skip next to the activation"
    assert len(opened) > len(passes)
    assert all(s._file is None and not s._tensors for s in opened)
    assert psnr(whole, tiled) >= 40.0


def test_profile_counts_the_reference_generators_work():
    """The progress figures weigh layers by their multiply-accumulates; check them against a hand count."""
    net = inference_copy(nets.build("resnet_generator", {"n_blocks": 9, "ngf": 64}))
    prof = profile(net, flatten(net))
    stem = 7 * 7 * 3 * 64
    downs = 3 * 3 * 64 * 128 / 4 + 3 * 3 * 128 * 256 / 16
    blocks = 9 * 2 * 3 * 3 * 256 * 256 / 16
    ups = 3 * 3 * 256 * 128 / 16 + 3 * 3 * 128 * 64 / 4  # transposed: per input pixel of each
    head = 7 * 7 * 64 * 3
    expected = stem + downs + blocks + ups + head
    counted = sum(prof.layer_macs) - len(prof.layer_macs)  # each layer has a floor of one
    assert counted == pytest.approx(expected, rel=1e-6)
    assert prof.layer_scale[-1] == (3, 1)


@pytest.mark.parametrize(("name", "params", "side"), GENERATORS)
def test_receptive_radius_bounds_how_far_one_pixel_reaches(name, params, side):
    """Change one input pixel: no output pixel further than the profile's radius may change.

    Batch norm with its running statistics is local, so the generators are measured with it (the
    whole-image norms of inference are a separate pass of tiling)."""
    torch.manual_seed(0)
    net = nets.build(name, {**params, "norm": "batch"}).eval()
    radius = profile(net, flatten(net)).receptive_radius
    size = max(side, 2 * radius + 2 * net.size_multiple)
    size += -size % net.size_multiple
    x = torch.rand(1, 3, size, size) * 2 - 1
    centre = size // 2
    y = x.clone()
    y[..., centre, centre] += 1.0
    with torch.no_grad():
        changed = (net(x) - net(y)).abs().amax(dim=(0, 1)) > 0
    rows, cols = torch.nonzero(changed, as_tuple=True)
    assert len(rows), "the pixel should change something"
    reach = int(max((rows - centre).abs().max(), (cols - centre).abs().max()))
    assert reach <= radius, (reach, radius)


@pytest.mark.parametrize(("arch", "resampling"), [
    ("mobile_resnet_generator", {"upsample": "resize"}), ("unet_generator", {"upsample": "resize"}),
    ("mobile_resnet_generator", {"upsample": "bilinear", "downsample": "blur"}),
    ("unet_generator", {"upsample": "bilinear"})])
def test_tiled_resize_generators_match_the_whole_image(arch, resampling):
    params = ({"n_blocks": 3, "ngf": 8, "norm": "instance", **resampling} if arch != "unet_generator"
              else {"num_downs": 5, "ngf": 8, "norm": "batch", "use_dropout": True, **resampling})
    g = make_generator(arch, params, 0)
    kind, role = ("pix2pix", "G") if arch == "unet_generator" else ("cyclegan", "G_A")
    roles = [role] if kind == "pix2pix" else ["G_A", "G_B"]
    card = new_card(kind, {r: (arch, g.config) for r in roles}, image_size=64, provenance={"source": "test"})
    ModelStore().save("resize", card, {r: g.state_dict() for r in roles})
    translator = Translator(ModelStore().load("resize"), device="cpu")
    img = photo("astronaut", (320, 224))
    whole = translator.translate_array(img, tile=0)
    tiled = translator.translate_array(img, tile=64)
    assert psnr(whole, tiled) >= 40.0


@pytest.mark.parametrize(("name", "params", "side"), GENERATORS)
def test_profile_macs_equal_a_count_of_every_convolution(name, params, side):
    """The profile's multiply-accumulates per pixel, against hooks on a real forward pass."""
    net = nets.build(name, params).eval()
    prof = profile(net, flatten(net))
    counted = [0]

    def count(module, inputs, output):
        if isinstance(module, torch.nn.Conv2d):
            per_output = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            counted[0] += output[0].numel() * per_output
        elif isinstance(module, torch.nn.ConvTranspose2d):
            counted[0] += inputs[0][0].numel() * module.out_channels * module.kernel_size[0] * module.kernel_size[1]

    hooks = [m.register_forward_hook(count) for m in net.modules() if not list(m.children())]
    with torch.no_grad():
        net(torch.rand(1, 3, side, side))
    for h in hooks:
        h.remove()
    assert sum(prof.layer_macs) - len(prof.layer_macs) == pytest.approx(counted[0] / side**2, rel=1e-6)
