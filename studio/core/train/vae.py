"""The VAE as a training algorithm: a β-VAE on the σ-VAE form of the ELBO."""

from __future__ import annotations

import math
from typing import Any, cast

import numpy as np
import torch

from studio.core.evaluate.metrics import psnr_signed_batch
from studio.core.nets.vae import (
    ConvVAE,
    elbo,
    elbo_bits_per_dim,
    gaussian_nll,
    kl_to_unit_gaussian,
    optimal_log_sigma,
)

from .latent_trainer import EVAL_SEED, LatentTrainer, evaluating
from .trainer import preview_grid


class VAETrainer(LatentTrainer):
    """β-VAE on the σ-VAE objective: −log N(x; x̂, σ²) with the batch's optimal σ, plus β·KL."""

    kind = "vae"
    title = "VAE — latent space of one folder"
    preview_layout = "each row: image, reconstruction, random sample"
    card_config_keys = ("beta",)
    generator_roles = ("vae",)
    role = "vae"

    @property
    def vae(self) -> ConvVAE:
        return cast(ConvVAE, self.net)

    def step(self, batch: dict[str, Any]) -> dict[str, float]:
        x = self.to_device(batch, "A")
        vae = self.nets["vae"]
        self.opt_g.zero_grad(set_to_none=True)
        with self.autocast():
            recon, mean, logvar = vae(x)
        recon, mean, logvar = recon.float(), mean.float(), logvar.float()
        log_sigma = optimal_log_sigma(x, recon)
        nll = gaussian_nll(x, recon, log_sigma)
        kl = kl_to_unit_gaussian(mean, logvar)
        loss = (nll + self.config.beta * kl).mean() / x[0].numel()
        loss.backward()
        self.opt_g.step()
        with torch.no_grad():
            # A running σ for held-out ELBOs; the average ramps up so early steps do not linger.
            momentum = min(0.99, (1 + self.steps) / (10 + self.steps))
            buffer = self.vae.log_sigma
            buffer.mul_(momentum).add_((1 - momentum) * log_sigma.detach())
        self.steps += 1
        return {"loss": loss.item(), "psnr": psnr_signed_batch(recon.detach(), x).mean().item(), "kl": kl.mean().item(),
                "sigma": math.exp(log_sigma.item())}

    @torch.no_grad()
    def evaluate(self, loader: Any) -> dict[str, float]:
        """Held-out reconstruction PSNR (posterior mean), ELBO in nats per image (β = 1), and its bits/dim bound."""
        vae = self.vae
        g = torch.Generator().manual_seed(EVAL_SEED)
        psnrs, elbos, kls = [], [], []
        with evaluating(vae):
            for batch in loader:
                x = batch["A"].to(self.device)
                psnrs.append(psnr_signed_batch(vae.decode(vae.encode(x)).clamp(-1, 1), x).cpu())
                noise = torch.randn(x.shape[0], vae.latent_dim, generator=g).to(self.device)
                value, kl = elbo(vae, x, noise)
                elbos.append(value.cpu())
                kls.append(kl.cpu())
        nats = torch.cat(elbos)
        return {"psnr": torch.cat(psnrs).mean().item(), "elbo": nats.mean().item(), "kl": torch.cat(kls).mean().item(),
                "elbo_bits_per_dim": elbo_bits_per_dim(nats, 3 * vae.image_size**2).mean().item()}

    @torch.no_grad()
    def preview(self, samples: dict[str, torch.Tensor]) -> np.ndarray:
        """Rows of: the image, its reconstruction, a random sample (the same noise at every step)."""
        vae = self.vae
        with evaluating(vae):
            x = samples["A"].to(self.device)
            recon = vae.decode(vae.encode(x))
            sample = vae.decode(self._sample_noise((x.shape[0], vae.latent_dim), 1.0))
        return preview_grid([c.float().cpu() for c in (x, recon, sample)])
