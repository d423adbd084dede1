"""A plain convolutional autoencoder: the VAE's encoder and decoder with a deterministic code.

It has the shape of :class:`~studio.core.nets.vae.ConvVAE` (strided convs down to 4×4, a linear
code, nearest-neighbour upsampling + 3×3 convs back up), but the encoder gives one vector, the
code, and nothing asks the codes to fill a prior: an autoencoder puts each kind of image where it
reconstructs best, so its codes fall into clusters with gaps between them. That is what Studio
shows it for, beside the VAE's continuous space.

To sample, it keeps a Gaussian fitted to the codes of its training images (``code_mean`` and the
Cholesky factor ``code_scale`` of their covariance; buffers, saved with the weights). A sample
``mean + scale·ε`` often lands in a gap between clusters, where the decoder learned nothing: the
samples look worse than a VAE's, and the model card says so.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .registry import Network, register
from .vae import Decoder, check_sizes, conv_features

JITTER = 1e-5  # added to the covariance's diagonal before its Cholesky factor: codes may be degenerate


class CodeEncoder(nn.Module):
    """(N, 3, S, S) -> (code,), the code (N, latent_dim) as a one-tuple (as the latent encoders return)."""

    def __init__(self, image_size: int, latent_dim: int, channels: int, max_channels: int):
        super().__init__()
        self.features, width = conv_features(image_size, channels, max_channels)
        self.head = nn.Linear(width, latent_dim)

    def forward(self, x: Tensor) -> tuple[Tensor]:
        return (self.head(self.features(x).flatten(1)),)


@register("conv_ae")
class ConvAE(Network):
    """Encoder, decoder, and the Gaussian fitted to the training codes (buffers)."""

    code_mean: Tensor  # buffers, declared for the type checker
    code_scale: Tensor

    def __init__(self, image_size: int = 64, latent_dim: int = 128, channels: int = 32, max_channels: int = 256):
        super().__init__()
        check_sizes(image_size, latent_dim, channels, max_channels)
        self.config = {"image_size": image_size, "latent_dim": latent_dim, "channels": channels,
                       "max_channels": max_channels}
        self.image_size, self.latent_dim = image_size, latent_dim
        self.encoder = CodeEncoder(image_size, latent_dim, channels, max_channels)
        self.decoder = Decoder(image_size, latent_dim, channels, max_channels)
        self.register_buffer("code_mean", torch.zeros(latent_dim))
        self.register_buffer("code_scale", torch.eye(latent_dim))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(reconstruction, code)."""
        code = self.encode(x)
        return self.decoder(code), code

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)[0]

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z)

    def codes_from_noise(self, noise: Tensor) -> Tensor:
        """Standard-normal ``noise`` (N, latent_dim) -> codes under the fitted Gaussian."""
        return self.code_mean + noise @ self.code_scale.T

    @torch.no_grad()
    def fit_codes(self, codes: Tensor) -> None:
        """Fit the sampling Gaussian to ``codes`` (N, latent_dim): their mean and covariance."""
        codes = codes.double()
        mean = codes.mean(0)
        centred = codes - mean
        self.set_gaussian(mean, centred.T @ centred / max(1, codes.shape[0] - 1))

    @torch.no_grad()
    def set_gaussian(self, mean: Tensor, cov: Tensor) -> None:
        """Sample from N(``mean``, ``cov``): keep the mean and the Cholesky factor of the covariance."""
        cov = cov.double()
        cov = cov + torch.eye(cov.shape[0], dtype=cov.dtype, device=cov.device) * (
            JITTER * cov.diagonal().mean().clamp_min(1e-8))
        scale, info = torch.linalg.cholesky_ex(cov)
        if info.item() != 0:  # not positive definite after the jitter: a diagonal fit
            scale = torch.diag(cov.diagonal().clamp_min(1e-8).sqrt())
        self.code_mean.copy_(mean.to(self.code_mean))
        self.code_scale.copy_(scale.to(self.code_scale))

