"""studio.core.nets: reference-compatible networks, registry, detection and loading."""

from __future__ import annotations

import json

import pytest
import torch
from reference_arch import randomize, reference_patchgan, reference_resnet, reference_unet
from torch import nn

from studio.core.errors import ArchitectureMismatchError, ModelError
from studio.core.nets import (
    REFERENCE_PRESETS,
    MobileResnetGenerator,
    Network,
    ResnetGenerator,
    UnetGenerator,
    architectures,
    build,
    clean_state_dict,
    detect_generator,
    init_weights,
    load_into,
)


def image(h: int, w: int, channels: int = 3, seed: int = 1) -> torch.Tensor:
    return torch.rand(1, channels, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def import_reference(sd: dict) -> nn.Module:
    """What the model store does with a reference .pth: detect, build, load."""
    arch, params = detect_generator(sd)
    net = build(arch, params)
    load_into(net, sd)
    return net


def assert_same_output(ours: nn.Module, ref: nn.Module, x: torch.Tensor) -> None:
    ours.eval()
    ref.eval()
    with torch.no_grad():
        expected = ref(x)
        got = ours(x)
    assert expected.std() > 0.05, "reference output is too flat for the comparison to mean anything"
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


# --- reference weights load unchanged and compute the same function -----------------------------


@pytest.mark.parametrize("blocks", [9, 6])
def test_reference_resnet_loads_strictly_and_matches(blocks: int) -> None:
    ref = randomize(reference_resnet(ngf=64, norm="instance", blocks=blocks))
    sd = ref.state_dict()
    assert f"model.{17 + blocks}.weight" in sd and "model.10.conv_block.5.weight" in sd
    net = import_reference(sd)
    assert type(net) is ResnetGenerator  # not its mobile subclass
    assert net.config["n_blocks"] == blocks and net.config["ngf"] == 64
    assert set(net.state_dict()) == set(sd)
    assert_same_output(net, ref, image(256, 256))


def test_reference_unet_256_loads_strictly_and_matches() -> None:
    ref = randomize(reference_unet(num_downs=8, ngf=64, norm="batch"))
    sd = ref.state_dict()
    assert "model.model.1.model.2.running_mean" in sd
    net = import_reference(sd)
    assert isinstance(net, UnetGenerator)
    assert set(net.state_dict()) == set(sd)
    assert torch.equal(
        net.state_dict()["model.model.1.model.2.running_var"], sd["model.model.1.model.2.running_var"]
    )
    assert_same_output(net, ref, image(256, 256))


def test_legacy_instance_norm_buffers_are_ignored() -> None:
    ref = randomize(reference_resnet(ngf=16))
    sd = dict(ref.state_dict())
    # PyTorch < 0.4 saved running statistics for every InstanceNorm layer.
    for layer in ["model.2", "model.5", "model.10.conv_block.2", "model.18.conv_block.6"]:
        sd[f"{layer}.running_mean"] = torch.zeros(1)
        sd[f"{layer}.running_var"] = torch.ones(1)
        sd[f"{layer}.num_batches_tracked"] = torch.tensor(3)
    assert "model.2.running_mean" not in clean_state_dict(sd)
    net = import_reference(sd)
    assert_same_output(net, ref, image(64, 64))


def test_batch_norm_counter_is_kept() -> None:
    sd = randomize(reference_unet(num_downs=5, ngf=8)).state_dict()
    cleaned = clean_state_dict(sd)
    assert "model.model.1.model.2.num_batches_tracked" in cleaned
    assert set(cleaned) == set(sd)
    # Checkpoints older than PyTorch 0.4.1 have no counter at all; torch fills it in.
    old = {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    load_into(UnetGenerator(num_downs=5, ngf=8), old)


def test_data_parallel_prefix_is_stripped() -> None:
    ref = randomize(reference_resnet(ngf=16, blocks=6))
    sd = {f"module.{k}": v for k, v in ref.state_dict().items()}
    net = import_reference(sd)
    assert_same_output(net, ref, image(64, 64))


# --- detection -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref_kwargs", "expected"),
    [
        ({"blocks": 9}, {"n_blocks": 9, "ngf": 64, "norm": "instance", "use_dropout": False}),
        ({"blocks": 6, "ngf": 32}, {"n_blocks": 6, "ngf": 32}),
        ({"blocks": 6, "ngf": 8, "dropout": True}, {"use_dropout": True, "padding_type": "reflect"}),
        ({"blocks": 2, "ngf": 8, "zero_pad": True}, {"padding_type": "zero", "use_dropout": False}),
        (
            {"blocks": 2, "ngf": 8, "zero_pad": True, "dropout": True},
            {"padding_type": "zero", "use_dropout": True},
        ),
        ({"blocks": 3, "ngf": 8, "norm": "batch"}, {"norm": "batch"}),
        ({"blocks": 3, "ngf": 8, "norm": "none"}, {"norm": "none"}),
        ({"blocks": 3, "ngf": 8, "input_nc": 1, "output_nc": 4}, {"input_nc": 1, "output_nc": 4}),
    ],
)
def test_detect_resnet(ref_kwargs: dict, expected: dict) -> None:
    arch, params = detect_generator(reference_resnet(**ref_kwargs).state_dict())
    assert arch == "resnet_generator"
    assert params.items() >= expected.items()
    assert build(arch, params).config == params


@pytest.mark.parametrize(
    ("ref_kwargs", "expected"),
    [
        ({"num_downs": 8, "ngf": 64}, {"num_downs": 8, "ngf": 64, "norm": "batch"}),
        ({"num_downs": 7, "ngf": 16}, {"num_downs": 7, "ngf": 16}),
        ({"num_downs": 7, "ngf": 8, "norm": "instance"}, {"norm": "instance"}),
        ({"num_downs": 6, "ngf": 8, "input_nc": 1, "output_nc": 2}, {"input_nc": 1, "output_nc": 2}),
    ],
)
def test_detect_unet(ref_kwargs: dict, expected: dict) -> None:
    arch, params = detect_generator(reference_unet(**ref_kwargs).state_dict())
    assert arch == "unet_generator"
    assert params.items() >= expected.items()
    assert params["use_dropout"] is True  # invisible in the keys; the reference's pix2pix default
    assert build(arch, params).size_multiple == 2 ** expected.get("num_downs", ref_kwargs["num_downs"])


# --- clear errors ----------------------------------------------------------------------------------


def test_wrong_shape_names_architecture_and_key() -> None:
    sd = dict(reference_resnet(ngf=8, blocks=3).state_dict())
    sd["model.4.weight"] = torch.zeros(16, 8, 5, 5)
    sd["model.99.weight"] = torch.zeros(1)
    del sd["model.12.conv_block.1.bias"]
    net = ResnetGenerator(ngf=8, n_blocks=3)
    before = net.state_dict()["model.1.weight"].clone()
    with pytest.raises(ArchitectureMismatchError) as err:
        load_into(net, sd)
    message = str(err.value)
    assert "ResnetGenerator" in message and "resnet_generator" in message and "n_blocks=3" in message
    assert "'model.4.weight' expected (16, 8, 3, 3), found (16, 8, 5, 5)" in message
    assert "unexpected keys: 'model.99.weight'" in message
    assert "missing keys: 'model.12.conv_block.1.bias'" in message
    assert torch.equal(net.state_dict()["model.1.weight"], before), "nothing may be loaded on mismatch"


def test_generator_weights_into_other_depth_fail() -> None:
    sd = reference_resnet(ngf=8, blocks=6).state_dict()
    with pytest.raises(ArchitectureMismatchError, match=r"missing keys: 'model\.16\.conv_block"):
        load_into(ResnetGenerator(ngf=8, n_blocks=9), sd)


def test_discriminator_is_not_a_generator() -> None:
    sd = reference_patchgan(ndf=8).state_dict()
    with pytest.raises(ArchitectureMismatchError) as err:
        detect_generator(sd)
    message = str(err.value)
    assert "'model.1.weight' (resnet)" in message and "'model.model.0.weight' (unet)" in message
    assert "'model.0.weight'" in message and f"({len(sd)} keys)" in message


def test_mobile_keys_are_not_taken_for_reference_resnet() -> None:
    with pytest.raises(ArchitectureMismatchError, match="two plain convs"):
        detect_generator(MobileResnetGenerator(ngf=4, n_blocks=2).state_dict())


def test_mobile_generator_is_the_resnet_generator_with_separable_blocks() -> None:
    ref, mobile = ResnetGenerator(ngf=4, n_blocks=2), MobileResnetGenerator(ngf=4, n_blocks=2)
    assert ref.arch == "resnet_generator" and mobile.arch == "mobile_resnet_generator"
    assert ResnetGenerator().config["ngf"] == 64 and MobileResnetGenerator().config["ngf"] == 16

    def outside_blocks(net: nn.Module) -> dict:
        return {k: v.shape for k, v in net.state_dict().items() if ".conv_block." not in k}

    assert outside_blocks(mobile) == outside_blocks(ref)
    # The shipped fast models' keys: depthwise 3x3, norm, pointwise 1x1 in place of each plain conv.
    sd = mobile.state_dict()
    assert [k for k in sd if k.startswith("model.10.")] == [
        "model.10.conv_block.1.0.weight",
        "model.10.conv_block.1.0.bias",
        "model.10.conv_block.1.2.weight",
        "model.10.conv_block.1.2.bias",
        "model.10.conv_block.5.0.weight",
        "model.10.conv_block.5.0.bias",
        "model.10.conv_block.5.2.weight",
        "model.10.conv_block.5.2.bias",
    ]
    assert sd["model.10.conv_block.1.0.weight"].shape == (16, 1, 3, 3)
    assert sd["model.10.conv_block.1.2.weight"].shape == (16, 16, 1, 1)


def test_not_a_state_dict() -> None:
    with pytest.raises(ArchitectureMismatchError, match="non-tensor values at 'epoch'"):
        clean_state_dict({"epoch": 3, "model.1.weight": torch.zeros(1)})


# --- registry ----------------------------------------------------------------------------------------

SMALL = {
    "resnet_generator": {"ngf": 4, "n_blocks": 2},
    "mobile_resnet_generator": {"ngf": 4, "n_blocks": 2, "use_dropout": True},
    "unet_generator": {"ngf": 4, "num_downs": 5, "norm": "instance"},
    "patchgan_discriminator": {"ndf": 4, "input_nc": 6},
    "pixel_discriminator": {"ndf": 4, "norm": "none"},
    "conv_vae": {"image_size": 32, "latent_dim": 8, "channels": 4, "max_channels": 8},
    "glow": {"image_size": 8, "levels": 2, "depth": 1, "hidden": 4},
    "patch_mlp": {"channels": [3, 8], "nc": 4},
    "conv_ae": {"image_size": 32, "latent_dim": 8, "channels": 4, "max_channels": 8},
    "dcgan_generator": {"image_size": 32, "latent_dim": 8, "ngf": 4, "upsample": "bilinear"},
    "dcgan_discriminator": {"image_size": 32, "ndf": 4, "norm": "layer", "minibatch_std": True},
    "gated_pixelcnn": {"image_size": 16, "channels": 8, "layers": 2, "mixtures": 2},
    "spade_generator": {"label_nc": 3, "z_dim": 2, "ngf": 2, "max_mult": 2, "n_up": 2, "n_middle": 1, "hidden": 4,
                        "norm": "instance", "shared_mlp": True, "padding": "replicate"},
    "spade_discriminator": {"input_nc": 6, "ndf": 4, "n_layers": 2, "num_d": 2},
}


def test_every_architecture_is_covered() -> None:
    assert architectures() == sorted(SMALL)


@pytest.mark.parametrize("arch", sorted(SMALL))
def test_config_round_trip(arch: str) -> None:
    net = build(arch, SMALL[arch])
    assert isinstance(net, Network) and net.arch == arch == type(net).arch
    config = json.loads(json.dumps(net.config))  # the card stores it as JSON
    assert config.items() >= SMALL[arch].items()
    again = build(arch, config)
    assert again.config == net.config
    assert {k: v.shape for k, v in again.state_dict().items()} == {
        k: v.shape for k, v in net.state_dict().items()
    }
    load_into(again, net.state_dict())


@pytest.mark.parametrize("arch", ["resnet_generator", "mobile_resnet_generator", "unet_generator"])
def test_resize_upsampling_round_trips_and_its_weights_do_not_fit_the_transposed_layers(arch: str) -> None:
    net = build(arch, {**SMALL[arch], "upsample": "resize"})
    config = json.loads(json.dumps(net.config))
    assert config["upsample"] == "resize"
    load_into(build(arch, config), net.state_dict())
    # An old card (no parameter) rebuilds the transposed layers, which a resize state dict does not fit.
    with pytest.raises(ArchitectureMismatchError):
        load_into(build(arch, SMALL[arch]), net.state_dict())


@pytest.mark.parametrize(
    ("arch", "params", "size", "out"),
    [
        ("resnet_generator", {"ngf": 4, "n_blocks": 2}, (64, 96), (3, 64, 96)),
        ("resnet_generator", {"ngf": 4, "n_blocks": 2, "upsample": "resize", "padding_type": "zero"}, (64, 96),
         (3, 64, 96)),
        ("mobile_resnet_generator", {}, (36, 52), (3, 36, 52)),
        ("mobile_resnet_generator", {"upsample": "resize"}, (36, 52), (3, 36, 52)),
        ("unet_generator", {"ngf": 4, "num_downs": 7, "output_nc": 1}, (128, 256), (1, 128, 256)),
        ("unet_generator", {"ngf": 4, "num_downs": 7, "output_nc": 1, "upsample": "resize"}, (128, 256),
         (1, 128, 256)),
        ("patchgan_discriminator", {"ndf": 4, "input_nc": 6}, (256, 256), (1, 30, 30)),
        ("patchgan_discriminator", {"ndf": 4}, (70, 70), (1, 6, 6)),
        ("pixel_discriminator", {"ndf": 4}, (20, 30), (1, 20, 30)),
    ],
)
def test_output_shapes(arch: str, params: dict, size: tuple[int, int], out: tuple[int, ...]) -> None:
    net = build(arch, params)
    with torch.no_grad():
        y = net(image(*size, channels=net.config["input_nc"]))
    assert tuple(y.shape) == (1, *out)
    if "generator" in arch:
        assert size[0] % net.size_multiple == 0 and y.abs().max() <= 1


def test_size_multiples() -> None:
    assert ResnetGenerator(ngf=4, n_blocks=1).size_multiple == 4
    assert MobileResnetGenerator(ngf=4, n_blocks=1).size_multiple == 4
    assert UnetGenerator(ngf=4, num_downs=8).size_multiple == 256


def test_patchgan_matches_reference() -> None:
    ref = randomize(reference_patchgan(input_nc=6, ndf=8, n_layers=3))
    net = build("patchgan_discriminator", {"input_nc": 6, "ndf": 8})
    load_into(net, ref.state_dict())
    assert_same_output(net, ref, image(70, 70, channels=6))


@pytest.mark.parametrize("name", sorted(REFERENCE_PRESETS))
def test_reference_presets_build(name: str) -> None:
    arch, params = REFERENCE_PRESETS[name]
    shrink = {"ngf": 4} if "generator" in arch else {"ndf": 4}
    net = build(arch, {**params, **shrink})
    assert net.arch == arch


def test_build_errors_are_clear() -> None:
    with pytest.raises(ModelError, match=r"unknown architecture 'resnet_9blocks'; known: .*resnet_generator"):
        build("resnet_9blocks", {})
    with pytest.raises(ModelError, match=r"unknown parameter 'blocks'"):
        build("resnet_generator", {"blocks": 9})
    with pytest.raises(ModelError, match=r"'norm' must be one of instance, batch, none, got 'group'"):
        build("unet_generator", {"norm": "group"})
    with pytest.raises(ModelError, match=r"'num_downs' must be an integer >= 5, got 4"):
        build("unet_generator", {"num_downs": 4})
    with pytest.raises(ModelError, match=r"'ngf' must be an integer >= 1, got '64'"):
        build("resnet_generator", {"ngf": "64"})
    with pytest.raises(ModelError, match=r"'use_dropout' must be true or false"):
        build("resnet_generator", {"use_dropout": 1})


# --- initialisation and cost ------------------------------------------------------------------


def test_init_weights_follows_reference() -> None:
    torch.manual_seed(0)
    net = UnetGenerator(ngf=16, num_downs=5)
    conv = net.model.model[0]
    batch_norm = net.model.model[1].model[2]
    assert abs(conv.weight.std().item() - 0.02) < 0.003
    assert abs(batch_norm.weight.mean().item() - 1.0) < 0.01 and batch_norm.weight.std() > 0.005
    assert torch.count_nonzero(batch_norm.bias) == 0
    assert torch.count_nonzero(net.model.model[3].bias) == 0
    init_weights(net, "orthogonal", gain=1.0)
    assert conv.weight.std() > 0.05
    with pytest.raises(ValueError, match="unknown init_type"):
        init_weights(net, "uniform")


def count_macs(net: nn.Module, x: torch.Tensor) -> int:
    """Multiply-adds of every convolution in one forward pass, counted by forward hooks."""
    total = 0

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        kernel = module.kernel_size[0] * module.kernel_size[1]
        if isinstance(module, nn.ConvTranspose2d):  # each input value is spread over out x kernel outputs
            total += inputs[0].numel() * module.out_channels // module.groups * kernel
        else:  # each output value sums in/groups x kernel products
            total += output.numel() * module.in_channels // module.groups * kernel

    convs = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    handles = [m.register_forward_hook(hook) for m in convs]
    with torch.no_grad():
        net(x)
    for handle in handles:
        handle.remove()
    return total


def test_mobile_generator_is_at_least_8x_cheaper() -> None:
    x = image(64, 64)
    full = count_macs(build(*REFERENCE_PRESETS["resnet_9blocks"]), x)
    mobile = count_macs(MobileResnetGenerator(), x)
    # Sanity check of the counter: resnet_9blocks is 49.55 GMACs at 256x256 by hand, 1/16 of that here.
    assert 3.05e9 < full < 3.15e9
    assert full / mobile >= 8
