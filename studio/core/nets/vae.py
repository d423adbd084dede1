"""A convolutional VAE with a vector latent, small enough to decode live on a laptop CPU.

Encoder: strided convs down to 4×4, then a linear layer to the posterior's mean and log-variance.
Decoder: a linear layer to 4×4, then nearest-neighbour upsampling + 3×3 convs back to the image
size (no transposed convs, hence no checkerboard artefacts). The likelihood is a Gaussian with one
global scale σ (the "σ-VAE" of Rybkin et al. 2021): training uses the batch's optimal σ, so the
reconstruction and KL terms balance themselves without a hand-tuned weight, and a running estimate
of σ (a buffer, saved with the weights) gives the ELBO of held-out images an honest value.

Images are (N, 3, S, S) in [-1, 1]; latents are (N, latent_dim) under a unit Gaussian prior.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from studio.core.errors import ModelError

from .registry import Network, check_int, register

MIN_SIZE, MAX_SIZE = 32, 128
BOTTOM = 4  # spatial size of the innermost feature map
LOG_SIGMA_MIN = -6.0  # σ ≥ 0.0025: a fraction of one 8-bit level in [-1, 1]; keeps the loss bounded
LOG_2PI = math.log(2 * math.pi)
LOGVAR_MIN, LOGVAR_MAX = -30.0, 20.0  # keeps exp(logvar) finite in fp32 whatever the encoder outputs


def _groups(channels: int) -> int:
    return math.gcd(channels, 8)


def _widths(image_size: int, channels: int, max_channels: int) -> list[int]:
    """Channel widths from full resolution down to BOTTOM: doubling per halving, capped."""
    steps = int(math.log2(image_size // BOTTOM))
    return [min(channels * 2**i, max_channels) for i in range(steps + 1)]


def conv_features(image_size: int, channels: int, max_channels: int) -> tuple[nn.Sequential, int]:
    """Strided convolutions from the image down to BOTTOM×BOTTOM; (layers, flattened width)."""
    widths = _widths(image_size, channels, max_channels)
    layers: list[nn.Module] = [nn.Conv2d(3, widths[0], 3, padding=1), nn.SiLU()]
    for c_in, c_out in zip(widths, widths[1:], strict=False):
        layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.GroupNorm(_groups(c_out), c_out), nn.SiLU()]
    return nn.Sequential(*layers), widths[-1] * BOTTOM * BOTTOM


class Encoder(nn.Module):
    """(N, 3, S, S) -> (mean, log-variance), each (N, latent_dim)."""

    def __init__(self, image_size: int, latent_dim: int, channels: int, max_channels: int):
        super().__init__()
        self.features, width = conv_features(image_size, channels, max_channels)
        self.head = nn.Linear(width, 2 * latent_dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mean, logvar = self.head(self.features(x).flatten(1)).chunk(2, dim=1)
        return mean, logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)


class Decoder(nn.Module):
    """(N, latent_dim) -> (N, 3, S, S), the mean of the Gaussian likelihood (unbounded; clamp to show)."""

    def __init__(self, image_size: int, latent_dim: int, channels: int, max_channels: int):
        super().__init__()
        widths = _widths(image_size, channels, max_channels)[::-1]
        self.bottom_channels = widths[0]
        self.head = nn.Linear(latent_dim, widths[0] * BOTTOM * BOTTOM)
        layers: list[nn.Module] = [nn.SiLU()]
        for c_in, c_out in zip(widths, widths[1:], strict=False):
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, padding=1),
                       nn.GroupNorm(_groups(c_out), c_out), nn.SiLU()]
        layers.append(nn.Conv2d(widths[-1], 3, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        h = self.head(z).view(z.shape[0], self.bottom_channels, BOTTOM, BOTTOM)
        return self.body(h)


@register("conv_vae")
class ConvVAE(Network):
    """Encoder, decoder, and the Gaussian likelihood scale σ (a buffer: estimated, not learned)."""

    log_sigma: Tensor  # the buffer, declared for the type checker, which cannot see register_buffer

    def __init__(self, image_size: int = 64, latent_dim: int = 128, channels: int = 32, max_channels: int = 256):
        super().__init__()
        check_sizes(image_size, latent_dim, channels, max_channels)
        self.config = {"image_size": image_size, "latent_dim": latent_dim, "channels": channels,
                       "max_channels": max_channels}
        self.image_size, self.latent_dim = image_size, latent_dim
        self.encoder = Encoder(image_size, latent_dim, channels, max_channels)
        self.decoder = Decoder(image_size, latent_dim, channels, max_channels)
        self.register_buffer("log_sigma", torch.zeros(()))

    def forward(self, x: Tensor, noise: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Training pass: (reconstruction from a reparameterised sample, mean, log-variance)."""
        mean, logvar = self.encoder(x)
        if noise is None:
            noise = torch.randn_like(mean)
        z = mean + torch.exp(0.5 * logvar) * noise
        return self.decoder(z), mean, logvar

    def encode(self, x: Tensor) -> Tensor:
        """The posterior mean: a deterministic code for an image."""
        return self.encoder(x)[0]

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z)


def check_sizes(image_size: int, latent_dim: int, channels: int, max_channels: int) -> None:
    check_int("image_size", image_size, MIN_SIZE)
    if image_size > MAX_SIZE or image_size & (image_size - 1):
        raise ModelError(f"parameter 'image_size' must be a power of two from {MIN_SIZE} to {MAX_SIZE}, "
                         f"got {image_size}")
    check_int("latent_dim", latent_dim, 1)
    check_int("channels", channels, 1)
    check_int("max_channels", max_channels, channels)


def kl_to_unit_gaussian(mean: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)) per sample, in nats: ½ Σ (μ² + σ² − 1 − log σ²)."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).flatten(1).sum(1)


def gaussian_nll(x: Tensor, mean: Tensor, log_sigma: Tensor) -> Tensor:
    """−log N(x; mean, σ²I) per sample, in nats, with one scalar log σ (or one per sample)."""
    d = x[0].numel()
    sq = (x - mean).pow(2).flatten(1).sum(1)
    log_sigma = log_sigma.reshape(-1) if log_sigma.dim() else log_sigma
    return 0.5 * sq * torch.exp(-2.0 * log_sigma) + d * (log_sigma + 0.5 * LOG_2PI)


def optimal_log_sigma(x: Tensor, mean: Tensor) -> Tensor:
    """The σ that maximises the Gaussian likelihood of a batch: σ² = mean squared error (σ-VAE)."""
    mse = (x - mean).pow(2).mean()
    return (0.5 * torch.log(mse + 1e-12)).clamp(min=LOG_SIGMA_MIN)


def elbo(vae: ConvVAE, x: Tensor, noise: Tensor) -> tuple[Tensor, Tensor]:
    """(ELBO, KL) per image in nats, with β = 1, one posterior sample (``noise`` ~ N(0, I), shaped like
    the latents) and the model's running σ: the held-out measure of a VAE."""
    mean, logvar = vae.encoder(x)
    z = mean + torch.exp(0.5 * logvar) * noise
    kl = kl_to_unit_gaussian(mean, logvar)
    return -gaussian_nll(x, vae.decoder(z), vae.log_sigma) - kl, kl


def elbo_bits_per_dim(elbo_nats: Tensor, dims: int) -> Tensor:
    """The ELBO as a bound in 8-bit bits per dimension: the Gaussian density at the bin centres × the bin
    width (1/127.5 in [-1, 1]); comparable, as an upper bound, with a flow's bits/dim."""
    return (-elbo_nats / dims + math.log(127.5)) / math.log(2.0)
