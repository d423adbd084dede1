"""A gated PixelCNN (van den Oord et al. 2016) with a discretised logistic mixture output (PixelCNN++).

The network reads an image in [-1, 1] once and gives, at every pixel, the parameters of that
pixel's distribution given only the pixels before it in raster order (rows top to bottom, each
left to right). Two stacks of masked convolutions make that causal without the original
PixelCNN's blind spot: the *vertical* stack sees every row above (a widening cone, fed to the
horizontal stack shifted down one row), the *horizontal* stack the pixels to the left in the
current row. Each layer is a gated unit, tanh(a)·σ(b), and the horizontal stack is residual.

The output is not a 256-way softmax per sub-pixel but a mixture of K discretised logistics per
pixel (Salimans et al. 2017): 10·K numbers (K mixture logits; per channel K means, log-scales and
coupling coefficients) instead of 768. It knows that 127 is near 128, so it learns from a few
hundred images in CPU minutes where a softmax spends its first thousands of steps discovering the
order of the values. Red, green and blue share the mixture component, and the means are coupled
(μ_G + α·R, μ_B + β·R + γ·G), so each sub-pixel depends on the ones before it in the same pixel.
The likelihood is exact and discrete: each 8-bit value's bin of the logistic, the two end bins
taking the tails; no dequantisation noise, no bound.

Sampling draws pixel by pixel (:func:`sample_rows`): each pixel runs the network on the crop of
the image that its receptive field covers (:func:`context`), so the cost per pixel does not grow
with the image.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from studio.core.errors import ModelError

from .registry import Network, check_int, register

LOG_SCALE_MIN = -7.0  # PixelCNN++'s floor: a logistic narrower than a thousandth of a bin is never needed
HALF_BIN = 1.0 / 255.0  # 8-bit values are 2/255 apart in [-1, 1]
EDGE = 1.0 - HALF_BIN  # beyond this a value is the first or the last level
MAX_SIZE = 64
START_LOG_SCALE = -1.0


def gate(x: Tensor) -> Tensor:
    a, b = x.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


def down_shift(x: Tensor) -> Tensor:
    """Move every row down one (zeros in the first): row i then holds what row i − 1 computed."""
    return F.pad(x, (0, 0, 1, 0))[:, :, : x.shape[2], :]


class VerticalConv(nn.Module):
    """A (k//2 + 1) × k convolution over the rows above and the current one: output row i sees input
    rows i − k//2 .. i, every column within k//2. Used shifted down a row, it sees only rows above."""

    def __init__(self, c_in: int, c_out: int, kernel: int):
        super().__init__()
        self.reach = kernel // 2
        self.conv = nn.Conv2d(c_in, c_out, (self.reach + 1, kernel))

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.pad(x, (self.reach, self.reach, self.reach, 0)))


class HorizontalConv(nn.Module):
    """A 1 × (k//2 + 1) convolution along the row: output (i, j) sees columns j − k//2 .. j, or
    j − k//2 − 1 .. j − 1 without the centre (the first layer's mask A: not the pixel itself)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, centre: bool):
        super().__init__()
        self.reach, self.centre = kernel // 2, centre
        self.conv = nn.Conv2d(c_in, c_out, (1, self.reach + 1))

    def forward(self, x: Tensor) -> Tensor:
        if self.centre:
            return self.conv(F.pad(x, (self.reach, 0, 0, 0)))
        return self.conv(F.pad(x, (self.reach + 1, 0, 0, 0)))[:, :, :, : x.shape[3]]


class GatedBlock(nn.Module):
    """One gated layer of both stacks; the vertical stack feeds the horizontal one, never the reverse."""

    def __init__(self, channels: int, kernel: int):
        super().__init__()
        self.v_conv = VerticalConv(channels, 2 * channels, kernel)
        self.v_to_h = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.h_conv = HorizontalConv(channels, 2 * channels, kernel, centre=True)
        self.h_out = nn.Conv2d(channels, channels, 1)

    def forward(self, v: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        v_pre = self.v_conv(v)
        h_pre = self.h_conv(h) + self.v_to_h(down_shift(v_pre))
        return gate(v_pre), h + self.h_out(gate(h_pre))


@register("gated_pixelcnn")
class GatedPixelCNN(Network):
    """(N, 3, H, W) in [-1, 1] -> (N, 10·mixtures, H, W): each pixel's mixture given the pixels before it.

    Fully convolutional (any H and W); ``image_size`` is the size it was trained at and samples.
    """

    def __init__(self, image_size: int = 32, channels: int = 64, layers: int = 8, kernel: int = 3,
                 first_kernel: int = 7, mixtures: int = 5):
        super().__init__()
        check_int("image_size", image_size, 2)
        if image_size > MAX_SIZE:
            raise ModelError(f"parameter 'image_size' must be at most {MAX_SIZE} (sampling is pixel by pixel), "
                             f"got {image_size}")
        check_int("channels", channels, 1)
        check_int("layers", layers, 1)
        for name, value in (("kernel", kernel), ("first_kernel", first_kernel)):
            if check_int(name, value, 3) % 2 == 0:
                raise ModelError(f"parameter {name!r} must be odd, got {value}")
        check_int("mixtures", mixtures, 1)
        self.config = {"image_size": image_size, "channels": channels, "layers": layers, "kernel": kernel,
                       "first_kernel": first_kernel, "mixtures": mixtures}
        self.image_size, self.mixtures = image_size, mixtures
        self.v_in = VerticalConv(3, channels, first_kernel)
        self.h_in = HorizontalConv(3, channels, first_kernel, centre=False)
        self.blocks = nn.ModuleList(GatedBlock(channels, kernel) for _ in range(layers))
        self.head = nn.Sequential(nn.ELU(), nn.Conv2d(channels, channels, 1), nn.ELU(),
                                  nn.Conv2d(channels, 10 * mixtures, 1))
        self._start_near_uniform()

    @torch.no_grad()
    def _start_near_uniform(self) -> None:
        """Start as a near-uniform guess whatever the image: every component a logistic at 0 of scale e^−1,
        the best single logistic for uniform 8-bit values (8.28 bits/dim); the last layer's weights
        start at zero, and the first steps learn from there what the pixels before say."""
        last = self.head[-1]
        assert isinstance(last, nn.Conv2d) and last.bias is not None
        last.weight.zero_()
        last.bias.zero_()
        last.bias[self.mixtures :].view(3, 3, self.mixtures)[1] = START_LOG_SCALE  # (mean, log-scale, coefficient)

    def forward(self, x: Tensor) -> Tensor:
        v, h = self.v_in(x), self.h_in(x)
        h = h + down_shift(v)  # the rows above reach the first horizontal layer too
        for block in self.blocks:
            v, h = block(v, h)
        return self.head(h)

    def context(self) -> int:
        """How far the output at (i, j) reaches: rows i − c .. i − 1 (and row i left of j), columns
        j − c .. j + c − 1. Computing it on that crop of the image gives the same numbers."""
        c = self.config
        return 1 + c["first_kernel"] // 2 + c["layers"] * (c["kernel"] // 2)


# -- the distribution --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Mixture:
    """The network's output, split: ``logits`` (N, K, H, W); ``means``, ``log_scales`` (N, 3, K, H, W)
    per channel before coupling; ``coefficients`` (N, 3, K, H, W): α, β, γ of the coupled means."""

    logits: Tensor
    means: Tensor
    log_scales: Tensor
    coefficients: Tensor

    @classmethod
    def from_output(cls, out: Tensor, mixtures: int) -> Mixture:
        n, _, h, w = out.shape
        rest = out[:, mixtures:].reshape(n, 3, 3, mixtures, h, w)  # (what, channel, component)
        return cls(out[:, :mixtures], rest[:, 0], rest[:, 1].clamp(min=LOG_SCALE_MIN), torch.tanh(rest[:, 2]))

    def coupled_means(self, x: Tensor) -> Tensor:
        """The means given the image's own earlier sub-pixels: R's; G's + α·R; B's + β·R + γ·G."""
        r, g = x[:, 0:1].unsqueeze(2), x[:, 1:2].unsqueeze(2)  # (N, 1, 1, H, W)
        c = self.coefficients
        return torch.cat([self.means[:, 0:1], self.means[:, 1:2] + c[:, 0:1] * r,
                          self.means[:, 2:3] + c[:, 1:2] * r + c[:, 2:3] * g], dim=1)


def at_least_float32(x: Tensor) -> Tensor:
    """Half-precision outputs (mixed-precision training) in float32: the likelihood needs the range."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def quantize(x: Tensor) -> Tensor:
    """Values in [-1, 1] onto the 256 levels of an 8-bit image (the bins the likelihood is of). Gradients
    pass straight through, so autograd shows what each value's probability depends on."""
    levels = torch.round((x.clamp(-1.0, 1.0) + 1.0) * 127.5) / 127.5 - 1.0
    return x + (levels - x).detach() if x.requires_grad else levels


def log1mexp(d: Tensor) -> Tensor:
    """log(1 − e^−d) for d > 0, accurate for small and large d."""
    return torch.where(d < math.log(2.0), torch.log(-torch.expm1(-d)), torch.log1p(-torch.exp(-d)))


def logistic_bin_log_prob(x: Tensor, mean: Tensor, log_scale: Tensor) -> Tensor:
    """log P(the 8-bit bin of x) under a logistic, exactly: the end bins take the tails, so the 256 bins
    sum to 1. Interior bins use σ(a) − σ(b) = σ(a)·σ(−b)·(1 − e^−(a−b)), stable at any scale."""
    inv_scale = torch.exp(-log_scale)
    upper = (x - mean + HALF_BIN) * inv_scale
    lower = (x - mean - HALF_BIN) * inv_scale
    interior = F.logsigmoid(upper) + F.logsigmoid(-lower) + log1mexp(2 * HALF_BIN * inv_scale)
    return torch.where(x < -EDGE, F.logsigmoid(upper), torch.where(x > EDGE, F.logsigmoid(-lower), interior))


def component_log_probs(out: Tensor, x: Tensor, mixtures: int) -> tuple[Tensor, Tensor]:
    """(log mixture weights (N, K, H, W), log P of each sub-pixel's bin per component (N, 3, K, H, W))."""
    mix = Mixture.from_output(at_least_float32(out), mixtures)
    x = quantize(at_least_float32(x))
    per_channel = logistic_bin_log_prob(x.unsqueeze(2), mix.coupled_means(x), mix.log_scales)
    return torch.log_softmax(mix.logits, dim=1), per_channel


def subpixel_log_probs(out: Tensor, x: Tensor, mixtures: int) -> Tensor:
    """(N, 3, H, W): log p(R), log p(G | R), log p(B | R, G) of each pixel given the pixels before it, in
    nats. They sum to the pixel's log-likelihood (the mixture component is shared, so each is a ratio
    of joint marginals, not one logistic)."""
    log_weights, per_channel = component_log_probs(out, x, mixtures)
    joint = torch.logsumexp(log_weights.unsqueeze(1) + per_channel.cumsum(dim=1), dim=2)  # log p(x_≤c)
    return torch.cat([joint[:, :1], joint[:, 1:] - joint[:, :-1]], dim=1)


def log_likelihood(out: Tensor, x: Tensor, mixtures: int) -> Tensor:
    """The exact log-likelihood of each 8-bit image, (N,) nats: ``out`` is the network's output for ``x``."""
    log_weights, per_channel = component_log_probs(out, x, mixtures)
    return torch.logsumexp(log_weights + per_channel.sum(dim=1), dim=1).flatten(1).sum(1)


def bits_per_dim(log_likelihood_nats: Tensor, dims: int) -> Tensor:
    """Nats per image -> bits per sub-pixel (8 for a uniform guess over 256 values)."""
    return -log_likelihood_nats / (dims * math.log(2.0))


def expected_image(out: Tensor, x: Tensor, mixtures: int) -> Tensor:
    """The mean of each pixel's distribution given the true pixels before it (one pass; a preview's guess)."""
    mix = Mixture.from_output(at_least_float32(out), mixtures)
    weights = torch.softmax(mix.logits, dim=1).unsqueeze(1)
    return (weights * mix.coupled_means(quantize(at_least_float32(x)))).sum(dim=2).clamp(-1.0, 1.0)


# -- sampling ----------------------------------------------------------------------------------------

def draw_pixel(out: Tensor, mixtures: int, gumbel: Tensor, uniform: Tensor) -> Tensor:
    """One pixel of each image from its parameters ``out`` (N, 10K): a component (Gumbel-max with
    ``gumbel`` (N, K)), then R, G, B in turn from their logistics (``uniform`` (N, 3) in (0, 1)), each
    coupled to the values already drawn and put on the 8-bit grid. (N, 3) in [-1, 1]."""
    mix = Mixture.from_output(out[:, :, None, None].float(), mixtures)
    k = (mix.logits[:, :, 0, 0] + gumbel).argmax(dim=1)
    rows = torch.arange(out.shape[0], device=out.device)
    means, log_scales = mix.means[rows, :, k, 0, 0], mix.log_scales[rows, :, k, 0, 0]  # (N, 3)
    alpha, beta, gamma = mix.coefficients[rows, :, k, 0, 0].unbind(1)
    noise = torch.exp(log_scales) * (torch.log(uniform) - torch.log1p(-uniform))
    r = quantize(means[:, 0] + noise[:, 0])
    g = quantize(means[:, 1] + alpha * r + noise[:, 1])
    b = quantize(means[:, 2] + beta * r + gamma * g + noise[:, 2])
    return torch.stack([r, g, b], dim=1)


def sample_rows(net: GatedPixelCNN, n: int, generator: torch.Generator) -> Iterator[tuple[int, Tensor]]:
    """Draw ``n`` images pixel by pixel; yields (rows done, the images so far) after every row, the
    finished (n, 3, S, S) images in [-1, 1] last. All the noise is drawn up front from ``generator`` (a
    CPU generator), so a seed draws the same noise on any device."""
    if n < 1:
        raise ModelError(f"sample at least one image, got {n}")
    size, k, reach = net.image_size, net.mixtures, net.context()
    device = next(net.parameters()).device
    gumbel = -torch.log(-torch.log(torch.rand(size, size, n, k, generator=generator).clamp_(1e-10, 1 - 1e-7)))
    uniform = torch.rand(size, size, n, 3, generator=generator).clamp_(1e-5, 1 - 1e-5)
    gumbel, uniform = gumbel.to(device), uniform.to(device)
    images = torch.zeros(n, 3, size, size, device=device)
    for i in range(size):
        top = max(0, i - reach)
        with torch.no_grad():
            for j in range(size):
                left = max(0, j - reach)
                crop = images[:, :, top : i + 1, left : j + reach]
                out = net(crop)[:, :, i - top, j - left]
                images[:, :, i, j] = draw_pixel(out, k, gumbel[i, j], uniform[i, j])
        yield i + 1, images


def sample(net: GatedPixelCNN, n: int, generator: torch.Generator,
           on_row: Callable[[int, int], None] | None = None) -> Tensor:
    """:func:`sample_rows` to the end: ``on_row(rows done, rows)`` after each row (it may raise to stop)."""
    images = torch.zeros(0)
    for done, drawn in sample_rows(net, n, generator):
        images = drawn
        if on_row is not None:
            on_row(done, net.image_size)
    return images


class MixtureParameters(nn.Module):
    """The network with its output split and activated as the likelihood uses it: (logits (N, K, H, W),
    means, log-scales (clamped), coupling coefficients (tanh), each (N, 3, K, H, W)); for export."""

    def __init__(self, net: GatedPixelCNN):
        super().__init__()
        self.net = net

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        mix = Mixture.from_output(self.net(image), self.net.mixtures)
        return mix.logits, mix.means, mix.log_scales, mix.coefficients
