"""A multi-scale Glow (Kingma & Dhariwal 2018): an exactly invertible image model with a likelihood.

Each level squeezes 2×2 pixels into channels, runs ``depth`` steps of actnorm → invertible 1×1
conv (LU-decomposed) → affine coupling, then factors half of the channels out under a Gaussian
whose mean and scale are predicted from the other half (the last level's prior is learned per
channel). Every Gaussian variable is standardised on the way out, so the model maps an image to
ε ~ N(0, I) of the image's own dimension, and ``log p(x) = log N(ε) + log|det ∂ε/∂x|``. Latents
are therefore directly comparable, interpolable and samplable with a temperature.

Nothing depends on a fixed H×W except ``image_size`` for flat latents: squeezes, splits and
priors work from ``x.shape``, so the forward pass exports to ONNX with dynamic sizes.

Two bounds keep the inverse usable on latents that are not any image's (interpolations, blends,
samples) while the model is young: coupling scales have a floor and the split priors' σ are
soft-clamped (see :class:`AffineCoupling` and :class:`SplitPrior`).

Pixels live in "flow space": an 8-bit value k is the interval [k, k+1) scaled to [-1, 1), i.e.
``(k + u) / 128 - 1`` with u uniform in [0, 1) for training (dequantisation) and u = ½ when an
image is encoded. :func:`to_flow_space` / :func:`from_flow_space` convert Studio's [-1, 1]
images (k / 127.5 - 1) exactly, without rounding, so decode(encode(x)) == x to float error.
"""

from __future__ import annotations

import copy
import math
from typing import cast

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from studio.core.errors import ModelError

from .registry import Network, check_int, register

LOG_2PI = math.log(2 * math.pi)
MIN_SCALE = math.exp(-2.0)  # coupling scales lie in [e^-2, 1] (see AffineCoupling)
PRIOR_LOG_SCALE_CLAMP = 3.0  # split priors' σ lie in [e^-3, e^3] (see SplitPrior)
BINS_PER_UNIT = 128.0  # flow space maps 256 levels onto [-1, 1): each bin is 1/128 wide


# -- pixels <-> flow space ---------------------------------------------------------------------

def to_flow_space(images: Tensor) -> Tensor:
    """Studio images (k/127.5 − 1) -> the centre of each 8-bit bin in flow space, (k + ½)/128 − 1."""
    return ((images + 1.0) * 127.5 + 0.5) / BINS_PER_UNIT - 1.0


def from_flow_space(y: Tensor) -> Tensor:
    """The exact inverse of :func:`to_flow_space` (no rounding, no clamping)."""
    return ((y + 1.0) * BINS_PER_UNIT - 0.5) / 127.5 - 1.0


def dequantize(images: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Studio images -> (k + u)/128 − 1 with u ~ U[0, 1): the continuous data a flow is trained on."""
    levels = torch.round((images + 1.0) * 127.5).clamp_(0, 255)
    noise = torch.rand(images.shape, generator=generator, device=images.device, dtype=images.dtype)
    return (levels + noise) / BINS_PER_UNIT - 1.0


def bits_per_dim(log_p: Tensor, dims: int) -> Tensor:
    """Flow-space log-density (nats per image) -> discrete 8-bit bits per dimension (a bound)."""
    return (-log_p / dims + math.log(BINS_PER_UNIT)) / math.log(2.0)


def standard_normal_log_prob(eps: Tensor) -> Tensor:
    return (-0.5 * (eps.pow(2) + LOG_2PI)).flatten(1).sum(1)


# -- layers: each maps x -> (y, log|det| per sample) and has an exact inverse ------------------------

class ActNorm(nn.Module):
    """Per-channel affine map, initialised from the first batch so that outputs start at zero mean, unit variance.

    The ``initialized`` flag is a buffer, so a checkpoint or a store model carries it and a resumed
    run does not re-initialise. ``initializing`` (plain attribute) is switched on by
    :meth:`Glow.initialize` only, which keeps the forward pass free of data-dependent branches.
    """

    initialized: Tensor  # a buffer: declared for the type checker, which cannot see register_buffer

    def __init__(self, channels: int):
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.log_scale = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.uint8))
        self.initializing = False

    @torch.no_grad()
    def _initialize(self, x: Tensor) -> None:
        mean = x.mean(dim=(0, 2, 3), keepdim=True)
        std = x.std(dim=(0, 2, 3), keepdim=True, unbiased=False)
        self.loc.copy_(-mean)
        self.log_scale.copy_(-torch.log(std + 1e-6))
        self.initialized.fill_(1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.initializing:
            self._initialize(x)
        y = (x + self.loc) * torch.exp(self.log_scale)
        return y, self.log_scale.sum() * (x.shape[2] * x.shape[3])

    def inverse(self, y: Tensor) -> Tensor:
        return y * torch.exp(-self.log_scale) - self.loc


class InvConv2dLU(nn.Module):
    """Invertible 1×1 convolution, W = P·L·(U + diag(s)), so log|det W| = Σ log|s| costs nothing."""

    # Buffers, declared for the type checker, which cannot see register_buffer.
    perm: Tensor
    sign_s: Tensor
    lower_mask: Tensor
    eye: Tensor
    frozen_inverse: Tensor | None

    def __init__(self, channels: int):
        super().__init__()
        q, _ = torch.linalg.qr(torch.randn(channels, channels))  # a random rotation (from the seeded RNG)
        p, lower, upper = torch.linalg.lu(q)
        s = torch.diagonal(upper)
        self.register_buffer("perm", p)
        self.register_buffer("sign_s", torch.sign(s))
        self.register_buffer("lower_mask", torch.tril(torch.ones(channels, channels), -1))
        self.register_buffer("eye", torch.eye(channels))
        self.lower = nn.Parameter(lower)
        self.upper = nn.Parameter(torch.triu(upper, 1))
        self.log_s = nn.Parameter(torch.log(torch.abs(s)))
        # Inference may freeze W⁻¹ here (see Glow.freeze_inverse); not part of the saved state.
        self.register_buffer("frozen_inverse", None, persistent=False)

    def weight(self) -> Tensor:
        lower = self.lower * self.lower_mask + self.eye
        upper = self.upper * self.lower_mask.T + torch.diag(self.sign_s * torch.exp(self.log_s))
        return self.perm @ lower @ upper

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        w = self.weight()
        return F.conv2d(x, w.view(*w.shape, 1, 1)), self.log_s.sum() * (x.shape[2] * x.shape[3])

    def inverse(self, y: Tensor) -> Tensor:
        w_inv = self.frozen_inverse
        if w_inv is None:
            w_inv = torch.linalg.inv(self.weight().double()).to(y.dtype)
        return F.conv2d(y, w_inv.view(*w_inv.shape, 1, 1))


class ZeroConv2d(nn.Module):
    """A 3×3 conv that starts at exactly zero (so new couplings and priors start as the identity / N(0, I))."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        assert self.conv.bias is not None  # a Conv2d built with bias=True
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)
        self.log_gain = nn.Parameter(torch.zeros(1, out_channels, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x) * torch.exp(self.log_gain * 3.0)  # Glow's learning-rate boost for this gain


class CouplingNet(nn.Module):
    """conv3×3 → actnorm → ReLU → conv1×1 → actnorm → ReLU → zero conv3×3, as in Glow."""

    def __init__(self, in_channels: int, out_channels: int, hidden: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, hidden, 3, padding=1, bias=False)
        self.norm1 = ActNorm(hidden)
        self.conv2 = nn.Conv2d(hidden, hidden, 1, bias=False)
        self.norm2 = ActNorm(hidden)
        self.out = ZeroConv2d(hidden, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        h = torch.relu(self.norm1(self.conv1(x))[0])
        h = torch.relu(self.norm2(self.conv2(h))[0])
        return self.out(h)


class AffineCoupling(nn.Module):
    """The second half of the channels is shifted and scaled by functions of the first half.

    The scale is Glow's sigmoid(raw + 2), which can only shrink (so the forward pass, and scores
    of odd images, stay finite), lifted to a floor of e^-2: Glow's own scale reaches 1e-7 on
    latents between two images of a young model, and the inverse divides by it (measured: NaN
    frames in interpolations). With the floor, each inverse step grows values at most e² times.
    """

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.split = channels // 2
        self.net = CouplingNet(self.split, 2 * (channels - self.split), hidden)

    def _shift_scale(self, xa: Tensor) -> tuple[Tensor, Tensor]:
        h = self.net(xa)
        return h[:, 0::2], MIN_SCALE + (1.0 - MIN_SCALE) * torch.sigmoid(h[:, 1::2] + 2.0)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        xa, xb = x[:, : self.split], x[:, self.split :]
        shift, scale = self._shift_scale(xa)
        return torch.cat([xa, (xb + shift) * scale], 1), torch.log(scale).flatten(1).sum(1)

    def inverse(self, y: Tensor) -> Tensor:
        ya, yb = y[:, : self.split], y[:, self.split :]
        shift, scale = self._shift_scale(ya)
        return torch.cat([ya, yb / scale - shift], 1)


class FlowStep(nn.Module):
    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.actnorm = ActNorm(channels)
        self.invconv = InvConv2dLU(channels)
        self.coupling = AffineCoupling(channels, hidden)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x, ld1 = self.actnorm(x)
        x, ld2 = self.invconv(x)
        x, ld3 = self.coupling(x)
        return x, ld1 + ld2 + ld3

    def inverse(self, y: Tensor) -> Tensor:
        return self.actnorm.inverse(self.invconv.inverse(self.coupling.inverse(y)))


def squeeze(x: Tensor) -> Tensor:
    """(N, C, H, W) -> (N, 4C, H/2, W/2), each 2×2 block of pixels becoming channels."""
    n, c, h, w = x.shape
    x = x.reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4)
    return x.reshape(n, c * 4, h // 2, w // 2)


def unsqueeze(x: Tensor) -> Tensor:
    n, c, h, w = x.shape
    x = x.reshape(n, c // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3)
    return x.reshape(n, c // 4, h * 2, w * 2)


class SplitPrior(nn.Module):
    """Factor out the second half of the channels as ε = (z − μ(h)) / σ(h), h the first half."""

    def __init__(self, channels: int):
        super().__init__()
        self.keep = channels // 2
        self.prior = ZeroConv2d(self.keep, 2 * (channels - self.keep))

    def _mean_log_scale(self, h: Tensor) -> tuple[Tensor, Tensor]:
        # log σ soft-clamped: on an unusual latent, an unbounded exp(log σ) overflows the inverse.
        p = self.prior(h)
        return p[:, 0::2], PRIOR_LOG_SCALE_CLAMP * torch.tanh(p[:, 1::2] / PRIOR_LOG_SCALE_CLAMP)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        h, z = x[:, : self.keep], x[:, self.keep :]
        mean, log_scale = self._mean_log_scale(h)
        return h, (z - mean) * torch.exp(-log_scale), -log_scale.flatten(1).sum(1)

    def inverse(self, h: Tensor, eps: Tensor) -> Tensor:
        mean, log_scale = self._mean_log_scale(h)
        return torch.cat([h, mean + eps * torch.exp(log_scale)], 1)


class TopPrior(nn.Module):
    """The last level's Gaussian, learned per channel (size-independent, unlike Glow's per-pixel prior)."""

    def __init__(self, channels: int):
        super().__init__()
        self.mean = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.log_scale = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return (z - self.mean) * torch.exp(-self.log_scale), -self.log_scale.sum() * (z.shape[2] * z.shape[3])

    def inverse(self, eps: Tensor) -> Tensor:
        return self.mean + eps * torch.exp(self.log_scale)


class Level(nn.Module):
    def __init__(self, channels: int, depth: int, hidden: int, last: bool):
        super().__init__()
        self.steps = nn.ModuleList(FlowStep(channels, hidden) for _ in range(depth))
        self.prior: TopPrior | SplitPrior = TopPrior(channels) if last else SplitPrior(channels)

    def flow_steps(self) -> list[FlowStep]:
        """The steps, typed (a ModuleList yields plain Modules)."""
        return [cast(FlowStep, step) for step in self.steps]


@register("glow")
class Glow(Network):
    """x (N, 3, H, W) in flow space <-> ε, one standard-normal tensor per level (or one flat vector)."""

    def __init__(self, image_size: int = 64, levels: int = 3, depth: int = 8, hidden: int = 128):
        super().__init__()
        check_int("levels", levels, 1)
        check_int("depth", depth, 1)
        check_int("hidden", hidden, 1)
        check_int("image_size", image_size, 2**levels)
        if image_size % 2**levels:
            raise ModelError(f"parameter 'image_size' must be divisible by 2**levels = {2**levels}, got {image_size}")
        self.config = {"image_size": image_size, "levels": levels, "depth": depth, "hidden": hidden}
        self.image_size = image_size
        self.levels = nn.ModuleList()
        channels = 3
        for i in range(levels):
            channels *= 4
            last = i == levels - 1
            self.levels.append(Level(channels, depth, hidden, last))
            channels = channels if last else channels // 2

    def level_list(self) -> list[Level]:
        """The levels, typed (a ModuleList yields plain Modules)."""
        return [cast(Level, level) for level in self.levels]

    # -- the bijection -------------------------------------------------------------------------
    def encode_levels(self, x: Tensor) -> tuple[list[Tensor], Tensor]:
        """x -> (ε per level, log|det ∂ε/∂x| per sample)."""
        logdet = x.new_zeros(x.shape[0])
        eps_list = []
        h = x
        for level in self.level_list():
            h = squeeze(h)
            for step in level.flow_steps():
                h, ld = step(h)
                logdet = logdet + ld
            if isinstance(level.prior, SplitPrior):
                h, eps, ld = level.prior(h)
            else:
                eps, ld = level.prior(h)
            logdet = logdet + ld
            eps_list.append(eps)
        return eps_list, logdet

    def decode_levels(self, eps_list: list[Tensor]) -> Tensor:
        levels = self.level_list()
        h = cast(TopPrior, levels[-1].prior).inverse(eps_list[-1])
        for index in range(len(levels) - 1, -1, -1):
            level = levels[index]
            if isinstance(level.prior, SplitPrior):
                h = level.prior.inverse(h, eps_list[index])
            for step in reversed(level.flow_steps()):
                h = step.inverse(h)
            h = unsqueeze(h)
        return h

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x -> (flat ε (N, 3·H·W), log p(x) per sample in nats)."""
        eps_list, logdet = self.encode_levels(x)
        return self.flatten(eps_list), standard_normal_log_prob(self.flatten(eps_list)) + logdet

    def inverse(self, eps: Tensor, height: int | None = None, width: int | None = None) -> Tensor:
        """Flat ε (N, 3·H·W) -> x; H and W default to the model's image size."""
        return self.decode_levels(self.unflatten(eps, height or self.image_size, width or self.image_size))

    def log_prob(self, x: Tensor) -> Tensor:
        return self.forward(x)[1]

    # -- latent layout -------------------------------------------------------------------------
    def latent_shapes(self, height: int | None = None, width: int | None = None) -> list[tuple[int, int, int]]:
        """(C, H, W) of each level's ε for an image of height × width."""
        h, w = height or self.image_size, width or self.image_size
        shapes, channels = [], 3
        for index in range(len(self.levels)):
            channels, h, w = channels * 4, h // 2, w // 2
            if index == len(self.levels) - 1:
                shapes.append((channels, h, w))
            else:
                shapes.append((channels - channels // 2, h, w))
                channels //= 2
        return shapes

    @staticmethod
    def flatten(eps_list: list[Tensor]) -> Tensor:
        return torch.cat([e.flatten(1) for e in eps_list], 1)

    def unflatten(self, eps: Tensor, height: int, width: int) -> list[Tensor]:
        out, start = [], 0
        for c, h, w in self.latent_shapes(height, width):
            out.append(eps[:, start : start + c * h * w].reshape(eps.shape[0], c, h, w))
            start += c * h * w
        if start != eps.shape[1]:
            raise ModelError(f"a flow latent for {height}×{width} images has {start} values, got {eps.shape[1]}")
        return out

    # -- lifecycle -----------------------------------------------------------------------------
    def actnorms(self) -> list[ActNorm]:
        return [m for m in self.modules() if isinstance(m, ActNorm)]

    def is_initialized(self) -> bool:
        return all(bool(a.initialized) for a in self.actnorms())

    @torch.no_grad()
    def initialize(self, x: Tensor) -> None:
        """Data-dependent actnorm initialisation from a batch (Glow's): every actnorm starts normalised."""
        norms = self.actnorms()
        for a in norms:
            a.initializing = True
        try:
            self.encode_levels(x)
        finally:
            for a in norms:
                a.initializing = False

    @torch.no_grad()
    def freeze_inverse(self) -> None:
        """Precompute every W⁻¹ for inference (faster decoding; ONNX has no matrix inverse)."""
        for m in self.modules():
            if isinstance(m, InvConv2dLU):
                m.frozen_inverse = torch.linalg.inv(m.weight().double()).to(m.log_s.dtype)

    def unfreeze_inverse(self) -> None:
        for m in self.modules():
            if isinstance(m, InvConv2dLU):
                m.frozen_inverse = None


# -- inference modules: Studio images in, Studio images out (what the app and ONNX export run) ------

class FlowEncoder(nn.Module):
    """Images (N, 3, H, W) in [-1, 1] -> (flat ε (N, 3·H·W), bits per dimension per image).

    The images' 8-bit bins are taken at their centres; H and W may be any multiple of 2**levels.
    """

    def __init__(self, glow: Glow):
        super().__init__()
        self.glow = glow

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        eps, log_p = self.glow(to_flow_space(images))
        return eps, bits_per_dim(log_p, images[0].numel())


class FlowDecoder(nn.Module):
    """Flat ε (N, 3·S·S) -> images (N, 3, S, S) in [-1, 1] (unclamped), S the model's image size.

    Holds its own copy of the flow with every 1×1 conv inverse precomputed, so decoding does no
    matrix inversion and the graph exports to ONNX (which has no general inverse operator).
    """

    def __init__(self, glow: Glow):
        super().__init__()
        self.glow = copy.deepcopy(glow)
        self.glow.freeze_inverse()

    def forward(self, eps: Tensor) -> Tensor:
        return from_flow_space(self.glow.inverse(eps))
