"""A generator as a flat list of layers, and what tiling needs to know about it.

Residual and U-Net skip connections become :class:`Fork` / :class:`Join` markers, so a tiled run
(:mod:`studio.core.translate.tiling`) can stop after any layer, keep what it needs, and start again
from there. :func:`profile` finds each layer's shape, scale and cost on a batch of no images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from studio.core.nets.resnet import ResnetBlock, ResnetGenerator
from studio.core.nets.unet import UnetGenerator, UnetSkipConnectionBlock

# -- the generator as a list of layers --------------------------------------------------------------

class Fork:
    """Marker: keep the current activation for the matching :class:`Join`."""

    def __repr__(self) -> str:
        return "Fork()"


@dataclass(frozen=True)
class Join:
    """Marker: combine the activation kept at the matching :class:`Fork` with the current one."""

    kind: str  # "add": skip + x (residual block); "cat": [skip, x] on channels (U-Net)


Layer = nn.Module | Fork | Join


def flatten(module: nn.Module) -> list[Layer]:
    """``module`` as layers to run one after the other; modules it does not know stay whole."""
    if isinstance(module, ResnetBlock):  # MobileResnetBlock too
        return [Fork(), *flatten(module.conv_block), Join("add")]
    if isinstance(module, UnetSkipConnectionBlock):
        inner = flatten(module.model)
        return inner if module.outermost else [Fork(), *inner, Join("cat")]
    if isinstance(module, ResnetGenerator | UnetGenerator):  # forward(x): self.model(x)
        return flatten(module.model)
    if type(module) is nn.Sequential:
        return [layer for child in module for layer in flatten(child)]
    return [module]


def run_layers(layers: list[Layer], x: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
    """Run ``layers`` on ``x``; ``skips`` holds the activations of the open forks (updated in place)."""
    for layer in layers:
        if isinstance(layer, Fork):
            skips.append(x)
        elif isinstance(layer, Join):
            skip = skips.pop().to(x.dtype)
            x = skip + x if layer.kind == "add" else torch.cat([skip, x], 1)
        else:
            x = layer(x)
    return x


def fork_ends(layers: list[Layer]) -> dict[int, int]:
    """Index of each fork -> index of its join."""
    pairs, open_forks = {}, []
    for i, layer in enumerate(layers):
        if isinstance(layer, Fork):
            open_forks.append(i)
        elif isinstance(layer, Join):
            pairs[open_forks.pop()] = i
    if open_forks:
        raise RuntimeError("a fork without its join")
    return pairs


# -- what tiling needs to know about a generator ----------------------------------------------------

@dataclass
class NetProfile:
    """Shapes and costs of a generator's layers, found by running it on a batch of no images."""

    size_multiple: int
    receptive_radius: int  # pixels of context one output pixel depends on, each side (upper bound)
    bytes_per_pixel: int  # rough peak activation memory per input pixel at fp32
    layer_scale: list[tuple[int, int]]  # per layer: (channels, downscale) of its output
    layer_macs: list[float]  # per layer: multiply-accumulates per input pixel (at least 1)
    in_channels: int = 3


def profile(net: nn.Module, layers: list[Layer]) -> NetProfile:
    multiple = int(getattr(net, "size_multiple", 4))
    side = max(multiple * 2, 64)
    # Shapes only: a batch of *no* images runs every layer without computing anything. (The meta
    # device would do too, but its first use imports sympy & co., nearly 200 MB of resident memory.)
    leaves: list[tuple[int, nn.Module, torch.Size]] = []
    current = [0]
    hooks = [
        m.register_forward_hook(lambda mod, _inp, out: leaves.append((current[0], mod, out.shape)))
        for m in net.modules()
        if not list(m.children())
    ]
    scales: list[tuple[int, int]] = []
    first = next(net.parameters())
    channels = in_channels(net)
    x = torch.empty(0, channels, side, side, device=first.device, dtype=first.dtype)
    skips: list[torch.Tensor] = []
    try:
        with torch.no_grad():
            for index, layer in enumerate(layers):
                current[0] = index
                x = run_layers([layer], x, skips)
                scales.append((x.shape[1], max(1, side // x.shape[-1])))
    finally:
        for h in hooks:
            h.remove()
    radius, stride, peak = 0.0, 1.0, 0.0
    macs = [1.0] * len(layers)
    for index, mod, out in leaves:
        if isinstance(mod, nn.Conv2d):
            k, s, d = mod.kernel_size[0], mod.stride[0], mod.dilation[0]
            radius += (k - 1) // 2 * d * stride
            stride *= s
            per_output = mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
            macs[index] += out[1] * per_output * out[-2] * out[-1] / (side * side)
        elif isinstance(mod, nn.ConvTranspose2d):
            k, s = mod.kernel_size[0], mod.stride[0]
            radius += (math.ceil((k - 1) / (2 * s)) + 1) * stride
            stride /= s
            per_input = mod.out_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
            macs[index] += mod.in_channels * per_input * out[-2] * out[-1] / (s * s * side * side)
        elif isinstance(mod, nn.Upsample):
            # Nearest (or any ≤2-tap interpolation) ×s: an output pixel reads the input pixel under it
            # and, at most, its neighbour: one input pixel of context at the coarse scale. The
            # resize-convolution's own context is its stride-1 conv's, counted as a layer of its own.
            factor = mod.scale_factor
            if isinstance(factor, tuple):
                factor = factor[0]
            if factor is None:  # sized by output size, not factor: the shapes give the factor
                factor = out[-1] / (side / stride)
            radius += stride
            stride /= float(factor)
        scale = side / out[-1] if len(out) == 4 else 1
        peak = max(peak, out[1] / (scale * scale) if len(out) == 4 else 0)
    return NetProfile(
        size_multiple=multiple,
        receptive_radius=int(math.ceil(radius)),
        bytes_per_pixel=int(peak * 4 * 3) + 64,
        layer_scale=scales,
        layer_macs=macs,
        in_channels=channels,
    )


def in_channels(net: nn.Module) -> int:
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            return m.in_channels
    return 3
