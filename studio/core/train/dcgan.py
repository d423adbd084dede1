"""DCGAN as a training algorithm: a generator from z ~ N(0, I) against a discriminator, on one folder.

Each step draws a batch of z from the global generator (so a resumed run draws the same ones),
updates the discriminator on real images and generated ones (through the history pool when
``pool_size`` > 0, a remedy for mode collapse; augmented by DiffAugment when the run augments),
then the generator. The GAN objective is the config's ``gan_mode``: ``vanilla`` (the paper's),
``lsgan`` or ``wgangp`` (the gradient penalty applied; its preset gives the critic layer norm and
Adam β = (0, 0.9), as Gulrajani et al.).

The card's held-out figures: how well the generator can reach held-out images (inversion PSNR,
:mod:`studio.core.latent.inversion`) against the simplest baseline, the mean training image; and
KID of samples against the held-out images where an Inception extractor is installed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, cast

import numpy as np
import torch

from studio.core.evaluate.metrics import inception_extractor, kid, psnr_signed_batch
from studio.core.latent.inversion import RESTARTS, STEPS, invert
from studio.core.nets.dcgan import DCGANGenerator

from .config import TrainConfig
from .latent_trainer import EVAL_SEED, LatentTrainer, evaluating
from .losses import ImagePool
from .trainer import preview_grid, set_requires_grad, unwrap

KID_SAMPLES = 256  # generated images compared with the held-out ones


class DCGANTrainer(LatentTrainer):
    kind = "dcgan"
    title = "DCGAN — a GAN of one folder"
    preview_layout = "each row: a training image, then samples from fixed z"
    card_config_keys = ("augment", "pool_size", "gan_mode")
    generator_roles = ("dcgan",)
    discriminator_roles = ("D",)
    role = "dcgan"
    # Measured on the 90 LFW faces at 32 px (fast preset, 2026-12-03, 4-8 min each): with DiffAugment
    # (colour, translation, cutout) the samples were grey blobs with holes after 1,328 steps, without it
    # face-like after 1,234; so no automatic augmentation here (--augment still turns it on).
    augments_small_folders = False

    def __init__(self, config: TrainConfig, device: torch.device):
        super().__init__(config, device)
        self.pool = ImagePool(config.pool_size, seed=config.seed * 2 + 1)
        self.mean_image: torch.Tensor | None = None  # the training images' mean, for the card's baseline

    @property
    def latent_dim(self) -> int:
        return cast(DCGANGenerator, unwrap(self.nets["dcgan"])).latent_dim

    def step(self, batch: dict[str, Any]) -> dict[str, float]:
        real = self.to_device(batch, "A")
        z = torch.randn(real.shape[0], self.latent_dim).to(self.device)
        d = unwrap(self.nets["D"])
        assert self.opt_d is not None
        with self.autocast():
            fake = self.nets["dcgan"](z)
        set_requires_grad([d], True)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d = self.discriminator_loss("D", real, self.pool.query(fake))
        loss_d.backward()
        self.opt_d.step()
        set_requires_grad([d], False)
        self.opt_g.zero_grad(set_to_none=True)
        with self.autocast():
            loss_g = self.gan_loss(self.nets["D"](self.judged(fake)), True)
        loss_g.backward()
        self.opt_g.step()
        set_requires_grad([d], True)
        self.steps += 1
        return {"D": loss_d.item(), "G": loss_g.item()}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "pool": self.pool.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.pool.load_state_dict(state["pool"])

    @torch.no_grad()
    def _samples(self, count: int, seed: int) -> torch.Tensor:
        z = torch.randn(count, self.latent_dim, generator=torch.Generator().manual_seed(seed)).to(self.device)
        with evaluating(unwrap(self.nets["dcgan"])) as g:
            return g(z).float().cpu()

    def preview(self, samples: dict[str, torch.Tensor]) -> np.ndarray:
        """Rows of a training image and two samples; the samples' z are the same at every preview."""
        n = samples["A"].shape[0]
        drawn = self._samples(2 * n, seed=EVAL_SEED)
        return preview_grid([samples["A"].float().cpu(), drawn[:n], drawn[n:]])

    def after_training(self, images: Callable[[], Iterable[dict[str, Any]]]) -> None:
        total, count = None, 0
        for batch in images():
            x = batch["A"].float()
            total = x.sum(0) if total is None else total + x.sum(0)
            count += x.shape[0]
        self.mean_image = None if total is None else total / count

    def evaluate(self, loader: Any) -> dict[str, float]:
        """Held-out images: inversion PSNR, the mean training image's PSNR, and KID where Inception is installed."""
        held = torch.cat([batch["A"].float() for batch in loader])
        inverted = invert(unwrap(self.nets["dcgan"]), held, self.latent_dim)
        figures = {"inversion_psnr": inverted.psnr().mean().item(), "inversion_restarts": float(RESTARTS),
                   "inversion_steps": float(STEPS)}
        if self.mean_image is not None:
            baseline = psnr_signed_batch(self.mean_image.expand_as(held), held)
            figures["mean_image_psnr"] = baseline.mean().item()
        extractor, _ = inception_extractor()
        if extractor is not None and len(held) >= 2:  # KID's unbiased estimate needs two images a side
            def unit(x: torch.Tensor) -> torch.Tensor:  # [-1, 1] -> 8-bit levels in [0, 1], as images are
                return ((x.clamp(-1, 1) + 1) * 127.5).round() / 255.0

            fake = extractor(unit(self._samples(KID_SAMPLES, seed=EVAL_SEED + 1)))
            figures["kid_held_out"] = kid(fake, extractor(unit(held))).value
        return figures

    def finish_card(self, card: dict[str, Any]) -> None:
        metrics = card.get("metrics", {})
        if "inversion_psnr" in metrics:
            card["limits"] = (
                f"A photo becomes a point of this GAN's latent space by inversion ({RESTARTS} restarts of {STEPS} "
                f"Adam steps): on held-out images it reached {metrics['inversion_psnr']:.1f} dB, against "
                f"{metrics.get('mean_image_psnr', float('nan')):.1f} dB for the mean training image. A GAN only "
                "paints what its training images taught it, and a small folder teaches few faces of the world.")
