"""SPADE (Park et al., "Semantic Image Synthesis with Spatially-Adaptive Normalization", CVPR 2019).

The generator paints a picture from a label map. pix2pix would push the one-hot map through its
normalisation layers, which wash a flat region's class away; SPADE drops the encoder and instead
re-injects the map at every scale: each normalisation layer is parameter-free, and its per-pixel
scale γ and shift β come from a small convolution over the map resized to that scale.

Generator (the paper's "normal" layout): the map, brought down by nearest neighbour to
1/2**n_up of its size, goes through a 3×3 conv; a SPADE residual block there; ×2 up, ``n_middle``
blocks; then ×2 up and one block per level, halving the width, to the map's own size; a 3×3 conv to
RGB and tanh. The ×2 ups are resizes (nearest in the paper, bilinear here by choice): every conv is
stride 1, so there is no transposed-convolution checkerboard. Widths are ``ngf`` × min(``max_mult``,
2**(n_up − level)); the paper's is ngf 64 and max_mult 16 (1024 channels at the bottom).

Noise: a ``z_dim`` vector per image, repeated over the map and concatenated to the one-hot labels
wherever they enter (as OASIS, Schönfeld et al. 2021, feeds its 3D noise): another seed, another
rendering of the same painting. ``z_dim`` 0 is the paper's deterministic generator.

Three departures, all switchable: ``padding`` "replicate" pads every 3×3 conv with its edge pixels
instead of zeros (a zero border is a signal the generator learns to paint: a dark frame round the
picture, seen on the light generator); ``shared_mlp`` computes the SPADE's hidden layer over the labels
once per resolution and lets every SPADE of that resolution take its γ and β from it (the paper has
one hidden conv per SPADE; sharing it makes the light generator about a third cheaper at the
top level, where most of the time goes); and ``norm`` "instance" (per-image statistics: batch size 1
on a CPU) besides the paper's batch norm.

Discriminator: ``num_d`` PatchGANs (``n_layers`` strided 4×4 convs, spectral norm, instance norm) on
the image next to its one-hot labels, each on a 2× smaller copy than the last; each returns its
intermediate features too, for the feature-matching loss.
"""

from __future__ import annotations

from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from .norm_layers import init_weights
from .registry import Network, check_bool, check_choice, check_int, register

SPADE_NORMS = ("instance", "batch")
SPADE_UPSAMPLES = ("resize", "bilinear")
SPADE_PADDINGS = ("zeros", "replicate")


def _maybe_sn(module: nn.Conv2d, spectral: bool) -> nn.Conv2d:
    """Mark ``module`` for spectral normalisation, applied by :func:`_apply_spectral` after initialisation
    (a parametrised weight is computed, and initialising it in place would change nothing)."""
    module.spectral = spectral  # type: ignore[assignment]
    return module


def _apply_spectral(net: nn.Module) -> None:
    for module in list(net.modules()):
        if isinstance(module, nn.Conv2d) and getattr(module, "spectral", False):
            spectral_norm(module)


def labels_at(labels: Tensor, size: tuple[int, int]) -> Tensor:
    """One-hot labels brought down to ``size`` (a power-of-two fraction of theirs) by nearest neighbour:
    every other pixel, as ``F.interpolate(mode="nearest")`` picks, without its copy (classes never blend)."""
    step = labels.shape[-2] // size[0]
    return labels if step == 1 else labels[..., ::step, ::step]


class LabelMLP(nn.Module):
    """The SPADE's hidden layer: ReLU(3×3 conv over the labels + a linear map of the noise vector).

    The noise is constant over the picture, so it enters as a per-image bias: what a conv over the
    noise repeated at every pixel computes away from the border, without building that map."""

    def __init__(self, label_nc: int, z_dim: int, hidden: int, pad_output: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(label_nc, hidden, 3, padding=1)
        self.noise = nn.Linear(z_dim, hidden, bias=False) if z_dim else None
        self.pad_output = pad_output  # edge-padded by one pixel for its SPADEs' unpadded γ and β convs

    def forward(self, labels: Tensor, z: Tensor | None) -> Tensor:
        h = self.conv(labels)
        if self.noise is not None and z is not None:
            h = h + self.noise(z)[:, :, None, None]
        h = F.relu(h)
        return F.pad(h, (1, 1, 1, 1), mode="replicate") if self.pad_output else h


class SPADE(nn.Module):
    """Parameter-free normalisation, then a per-pixel γ and β from the labels: x̂·(1 + γ) + β."""

    def __init__(self, channels: int, label_nc: int, z_dim: int, hidden: int, norm: str, own_mlp: bool,
                 padded_hidden: bool = False):
        super().__init__()
        if norm == "instance":
            self.norm: nn.Module = nn.InstanceNorm2d(channels, affine=False)
        else:
            self.norm = nn.BatchNorm2d(channels, affine=False)
        self.mlp = LabelMLP(label_nc, z_dim, hidden, padded_hidden) if own_mlp else None
        # Edge padding: the hidden layer comes padded once for both convs (and every SPADE sharing it),
        # which is what a replicate-padded conv computes, without a pad per conv (slow on a CPU).
        padding = 0 if padded_hidden else 1
        self.gamma = nn.Conv2d(hidden, channels, 3, padding=padding)
        self.beta = nn.Conv2d(hidden, channels, 3, padding=padding)

    def forward(self, x: Tensor, labels: Tensor, z: Tensor | None, hidden: Tensor | None) -> Tensor:
        if self.mlp is not None:
            hidden = self.mlp(labels, z)
        assert hidden is not None
        return self.norm(x) * (1 + self.gamma(hidden)) + self.beta(hidden)


class SPADEResBlock(nn.Module):
    """Two SPADE → LeakyReLU → 3×3 conv steps, with a SPADE-normalised 1×1 shortcut when the width changes."""

    def __init__(self, fin: int, fout: int, label_nc: int, z_dim: int, hidden: int, norm: str, spectral: bool,
                 own_mlp: bool, padded_hidden: bool = False):
        super().__init__()
        middle = min(fin, fout)
        self.learned_shortcut = fin != fout
        self.conv_0 = _maybe_sn(nn.Conv2d(fin, middle, 3, padding=1), spectral)
        self.conv_1 = _maybe_sn(nn.Conv2d(middle, fout, 3, padding=1), spectral)
        self.norm_0 = SPADE(fin, label_nc, z_dim, hidden, norm, own_mlp, padded_hidden)
        self.norm_1 = SPADE(middle, label_nc, z_dim, hidden, norm, own_mlp, padded_hidden)
        if self.learned_shortcut:
            self.conv_s = _maybe_sn(nn.Conv2d(fin, fout, 1, bias=False), spectral)
            self.norm_s = SPADE(fin, label_nc, z_dim, hidden, norm, own_mlp, padded_hidden)

    def forward(self, x: Tensor, labels: Tensor, z: Tensor | None, hidden: Tensor | None) -> Tensor:
        shortcut = self.conv_s(self.norm_s(x, labels, z, hidden)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, labels, z, hidden), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, labels, z, hidden), 0.2))
        return shortcut + dx


@register("spade_generator")
class SPADEGenerator(Network):
    """Label map (one-hot, N×K×H×W) and an optional noise vector (N×z_dim) -> an RGB picture in [-1, 1].

    H and W must be multiples of :attr:`size_multiple` (2**n_up); the painter pads to them.
    """

    def __init__(self, label_nc: int = 8, z_dim: int = 0, ngf: int = 64, max_mult: int = 16, n_up: int = 5,
                 n_middle: int = 2, hidden: int = 128, norm: str = "batch", upsample: str = "resize",
                 spectral: bool = True, shared_mlp: bool = False, padding: str = "zeros"):
        super().__init__()
        self.config: dict[str, Any] = {
            "label_nc": check_int("label_nc", label_nc, 1),
            "z_dim": check_int("z_dim", z_dim, 0),
            "ngf": check_int("ngf", ngf, 1),
            "max_mult": check_int("max_mult", max_mult, 1),
            "n_up": check_int("n_up", n_up, 1),
            "n_middle": check_int("n_middle", n_middle, 0),
            "hidden": check_int("hidden", hidden, 1),
            "norm": check_choice("norm", norm, SPADE_NORMS),
            "upsample": check_choice("upsample", upsample, SPADE_UPSAMPLES),
            "spectral": check_bool("spectral", spectral),
            "shared_mlp": check_bool("shared_mlp", shared_mlp),
            "padding": check_choice("padding", padding, SPADE_PADDINGS),
        }
        self.label_nc, self.z_dim, self.n_up = label_nc, z_dim, n_up
        self.size_multiple = 2**n_up

        def width(level: int) -> int:
            return ngf * min(max_mult, 2 ** (n_up - level))

        self.fc = LabelMLP(label_nc, z_dim, width(0))
        # (level, fin, fout) per block, in order: the head, the middle blocks, one block per level above.
        plan = [(0, width(0), width(0))]
        plan += [(1, width(0) if i == 0 else width(1), width(1)) for i in range(n_middle)]
        plan += [(level, width(level - 1), width(level)) for level in range(2 if n_middle else 1, n_up + 1)]
        self.levels = [level for level, _, _ in plan]
        # The SPADEs' hidden width: ``hidden``, but at most twice the width they modulate (the paper's
        # 128 for its 64-wide top level; the light generator's top levels are 8 and 16 wide).
        hiddens = [min(hidden, 2 * width(level)) for level in range(n_up + 1)]
        edge = padding == "replicate"
        self.blocks = nn.ModuleList(
            SPADEResBlock(fin, fout, label_nc, z_dim, hiddens[level], norm, spectral, own_mlp=not shared_mlp,
                          padded_hidden=edge)
            for level, fin, fout in plan)
        # The shared hidden layers, one per resolution the blocks run at.
        self.mlps = (nn.ModuleList(LabelMLP(label_nc, z_dim, hiddens[level], edge) for level in range(n_up + 1))
                     if shared_mlp else None)
        self.up = nn.Upsample(scale_factor=2, mode="nearest") if upsample == "resize" else \
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.conv_img = nn.Conv2d(width(n_up), 3, 3, padding=1)
        init_weights(self, "xavier", 0.02)  # SPADE's initialisation
        _apply_spectral(self)
        if padding != "zeros":  # every 3×3 conv pads with its edge pixels (Conv2d pads by its padding_mode)
            for module in self.modules():
                if isinstance(module, nn.Conv2d) and module.padding == (1, 1):
                    module.padding_mode = "replicate"

    def forward(self, labels: Tensor, z: Tensor | None = None) -> Tensor:
        if self.z_dim and z is None:
            z = labels.new_zeros(labels.shape[0], self.z_dim)
        pyramid = [labels[..., :: 2 ** (self.n_up - level), :: 2 ** (self.n_up - level)]
                   for level in range(self.n_up + 1)]  # nearest-neighbour copies, bottom first
        x = F.relu(self.fc.conv(pyramid[0]) + (self.fc.noise(z)[:, :, None, None]
                                               if self.fc.noise is not None and z is not None else 0))
        level, hidden = 0, None
        for block_level, block in zip(self.levels, self.blocks, strict=True):
            while level < block_level:
                x, level, hidden = self.up(x), level + 1, None
            if self.mlps is not None and hidden is None:
                hidden = self.mlps[level](pyramid[level], z)
            x = block(x, pyramid[level], z, hidden)
        while level < self.n_up:
            x, level = self.up(x), level + 1
        return torch.tanh(self.conv_img(F.leaky_relu(x, 0.2)))


@register("spade_discriminator")
class MultiscaleDiscriminator(Network):
    """``num_d`` PatchGANs on ever smaller copies of concat(one-hot labels, image); each returns its
    intermediate features and, last, its patch logits."""

    def __init__(self, input_nc: int = 11, ndf: int = 64, n_layers: int = 4, num_d: int = 2, spectral: bool = True):
        super().__init__()
        self.config = {
            "input_nc": check_int("input_nc", input_nc, 1),
            "ndf": check_int("ndf", ndf, 1),
            "n_layers": check_int("n_layers", n_layers, 1),
            "num_d": check_int("num_d", num_d, 1),
            "spectral": check_bool("spectral", spectral),
        }
        self.scales = nn.ModuleList(self._patchgan(input_nc, ndf, n_layers, spectral) for _ in range(num_d))
        init_weights(self, "xavier", 0.02)
        _apply_spectral(self)

    @staticmethod
    def _patchgan(input_nc: int, ndf: int, n_layers: int, spectral: bool) -> nn.ModuleList:
        stages = nn.ModuleList([nn.Sequential(nn.Conv2d(input_nc, ndf, 4, stride=2, padding=2), nn.LeakyReLU(0.2))])
        channels = ndf
        for n in range(1, n_layers):
            out = min(channels * 2, 512)
            stride = 1 if n == n_layers - 1 else 2
            stages.append(nn.Sequential(_maybe_sn(nn.Conv2d(channels, out, 4, stride=stride, padding=2, bias=False),
                                                  spectral),
                                        nn.InstanceNorm2d(out, affine=False), nn.LeakyReLU(0.2)))
            channels = out
        stages.append(nn.Sequential(nn.Conv2d(channels, 1, 4, stride=1, padding=2)))
        return stages

    def forward(self, x: Tensor) -> list[list[Tensor]]:
        results = []
        for i, stages in enumerate(self.scales):
            if i:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            features, h = [], x
            for stage in cast(nn.ModuleList, stages):
                h = stage(h)
                features.append(h)
            results.append(features)
        return results
