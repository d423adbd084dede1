"""The plain autoencoder as a training algorithm: reconstruction, optionally from corrupted inputs.

``denoise`` σ > 0 trains a denoising autoencoder: each input is corrupted by Gaussian noise of
standard deviation σ (in the [-1, 1] pixel range) and the network reconstructs the clean image.
The sampling Gaussian of :class:`~studio.core.nets.autoencoder.ConvAE` follows the batches' codes
while training (a running mean and covariance, so previews can show samples) and is fitted
exactly to the training images' codes before the model is published.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from studio.core.evaluate.metrics import psnr_signed_batch
from studio.core.nets.autoencoder import ConvAE

from .latent_trainer import LatentTrainer, evaluating
from .trainer import preview_grid

SAMPLES_NOTE = (
    "Samples are drawn from a Gaussian fitted to the codes of the training images. An autoencoder is "
    "never asked to fill that Gaussian (a VAE is, through its KL term): its codes form clusters with gaps "
    "between them, samples often land in a gap, and the decoder turns those into blends or smudges. "
    "Reconstructions and interpolations between real images are what it is for.")


class AETrainer(LatentTrainer):
    """Mean squared reconstruction error of clean images from (optionally) corrupted inputs."""

    kind = "ae"
    title = "Autoencoder — clusters of one folder"
    preview_layout = "each row: image, input it sees, reconstruction, sample"
    card_config_keys = ("denoise",)
    generator_roles = ("ae",)
    role = "ae"

    @property
    def ae(self) -> ConvAE:
        return cast(ConvAE, self.net)

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        sigma = self.config.denoise
        return x if sigma <= 0 else x + sigma * torch.randn_like(x)

    def step(self, batch: dict[str, Any]) -> dict[str, float]:
        x = self.to_device(batch, "A")
        self.opt_g.zero_grad(set_to_none=True)
        with self.autocast():
            recon, code = self.nets["ae"](self.corrupt(x))
        recon = recon.float()
        loss = nn.functional.mse_loss(recon, x)
        loss.backward()
        self.opt_g.step()
        self._track_codes(code.detach().float())
        self.steps += 1
        return {"loss": loss.item(), "psnr": psnr_signed_batch(recon.detach(), x).mean().item()}

    @torch.no_grad()
    def _track_codes(self, code: torch.Tensor) -> None:
        """A running Gaussian of the codes (mean and covariance, as a Cholesky factor) for previews."""
        ae = self.ae
        momentum = min(0.99, (1 + self.steps) / (10 + self.steps))
        mean = momentum * ae.code_mean + (1 - momentum) * code.mean(0)
        centred = code - mean
        cov = momentum * (ae.code_scale @ ae.code_scale.T) + (1 - momentum) * centred.T @ centred / code.shape[0]
        ae.set_gaussian(mean, cov)

    def after_training(self, images: Callable[[], Iterable[dict[str, Any]]]) -> None:
        """Fit the sampling Gaussian to the codes of every training image (whole, unflipped)."""
        ae = self.ae
        with evaluating(ae), torch.no_grad():
            codes = [ae.encode(batch["A"].to(self.device)).float() for batch in images()]
        if codes:
            ae.fit_codes(torch.cat(codes))

    @torch.no_grad()
    def evaluate(self, loader: Any) -> dict[str, float]:
        """Held-out reconstruction PSNR (clean inputs: what the canvas does with a photo)."""
        ae = self.ae
        psnrs = []
        with evaluating(ae):
            for batch in loader:
                x = batch["A"].to(self.device)
                psnrs.append(psnr_signed_batch(ae.decode(ae.encode(x)).clamp(-1, 1), x).cpu())
        return {"psnr": torch.cat(psnrs).mean().item()}

    def finish_card(self, card: dict[str, Any]) -> None:
        card["limits"] = SAMPLES_NOTE

    @torch.no_grad()
    def preview(self, samples: dict[str, torch.Tensor]) -> np.ndarray:
        """Rows of: the image, what the network sees (corrupted when denoising), its reconstruction, a sample."""
        ae = self.ae
        with evaluating(ae):
            x = samples["A"].to(self.device)
            g = torch.Generator().manual_seed(len(x))
            noise = torch.randn(x.shape, generator=g).to(self.device)
            seen = x if self.config.denoise <= 0 else x + self.config.denoise * noise
            recon = ae.decode(ae.encode(seen))
            sample = ae.decode(ae.codes_from_noise(self._sample_noise((x.shape[0], ae.latent_dim), 1.0)))
        return preview_grid([c.float().clamp(-1, 1).cpu() for c in (x, seen, recon, sample)])
