"""CycleGAN (Zhu et al. 2017) as a training algorithm.

G_A: A→B, G_B: B→A, D_A judges B images, D_B judges A images; adversarial + cycle-consistency
(λ=10) + identity (0.5·λ) losses, a 50-image history per discriminator.

``cycle_noise`` (off in the reference) adds Gaussian noise to each translation before it is
translated back. A generator whose mapping loses information (a poster's few flat colours) can
otherwise satisfy the cycle loss by hiding the lost detail in a faint high-frequency pattern of its
output (Chu et al., "CycleGAN, a master of steganography", 2017): the grain that a poster model
grows with training. Noise stronger than that pattern makes hiding useless (Bashkirova et al.,
"Adversarial self-defense for cycle-consistent GANs", NeurIPS 2019).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from studio.core.errors import StudioError

from . import data
from .config import TrainConfig
from .losses import ImagePool
from .trainer import Trainer, preview_grid, set_requires_grad, unwrap


class CycleGANTrainer(Trainer):
    kind = "cyclegan"
    generator_roles = ("G_A", "G_B")
    title = "CycleGAN — two collections, unpaired"
    preview_layout = "each row: A → B → A, then B → A → B"
    discriminator_roles = ("D_A", "D_B")
    averages_generators = True
    card_config_keys = ("augment", "cycle_noise")

    def __init__(self, config: TrainConfig, device: torch.device):
        super().__init__(config, device)
        self.pool_a = ImagePool(config.pool_size, seed=config.seed * 2 + 1)  # fake A images, for D_B
        self.pool_b = ImagePool(config.pool_size, seed=config.seed * 2 + 2)  # fake B images, for D_A

    @classmethod
    def check_data(cls, config: TrainConfig) -> None:
        if not (config.dir_a and config.dir_b):
            raise StudioError("CycleGAN training needs two folders: --a DIR --b DIR")

    @classmethod
    def dataset(cls, config: TrainConfig, preprocess: data.Preprocess, folder: Path | None = None) -> Any:
        return data.unpaired(cast(str, config.dir_a), cast(str, config.dir_b), preprocess, seed=config.seed)  # both given

    def step(self, batch: dict[str, Any]) -> dict[str, float]:
        c = self.config
        g_a, g_b = self.nets["G_A"], self.nets["G_B"]
        real_a, real_b = self.to_device(batch, "A"), self.to_device(batch, "B")
        d_a, d_b = unwrap(self.nets["D_A"]), unwrap(self.nets["D_B"])
        # Generators: the discriminators are judges here, not learners.
        set_requires_grad([d_a, d_b], False)
        self.opt_g.zero_grad(set_to_none=True)
        with self.autocast():
            fake_b = g_a(real_a)
            rec_a = g_b(self.noisy(fake_b))
            fake_a = g_b(real_b)
            rec_b = g_a(self.noisy(fake_a))
            loss_g_a = self.gan_loss(d_a(self.judged(fake_b)), True)
            loss_g_b = self.gan_loss(d_b(self.judged(fake_a)), True)
            loss_cycle_a = nn.functional.l1_loss(rec_a.float(), real_a.float()) * c.lambda_a
            loss_cycle_b = nn.functional.l1_loss(rec_b.float(), real_b.float()) * c.lambda_b
            if c.lambda_identity > 0:
                loss_idt_a = nn.functional.l1_loss(g_a(real_b).float(), real_b.float()) * c.lambda_b * c.lambda_identity
                loss_idt_b = nn.functional.l1_loss(g_b(real_a).float(), real_a.float()) * c.lambda_a * c.lambda_identity
            else:
                loss_idt_a = loss_idt_b = torch.zeros((), device=self.device)
            loss_g = loss_g_a + loss_g_b + loss_cycle_a + loss_cycle_b + loss_idt_a + loss_idt_b
        loss_g.backward()
        self.opt_g.step()
        # Discriminators, on real images and on fakes drawn from the history pools (augmented
        # after the pool, so a stored fake is seen under a fresh draw each time).
        set_requires_grad([d_a, d_b], True)
        assert self.opt_d is not None
        self.opt_d.zero_grad(set_to_none=True)
        loss_d_a = self.discriminator_loss("D_A", real_b, self.pool_b.query(fake_b))
        loss_d_b = self.discriminator_loss("D_B", real_a, self.pool_a.query(fake_a))
        (loss_d_a + loss_d_b).backward()
        self.opt_d.step()
        return {
            "D_A": loss_d_a.item(), "G_A": loss_g_a.item(), "cycle_A": loss_cycle_a.item(), "idt_A": loss_idt_a.item(),
            "D_B": loss_d_b.item(), "G_B": loss_g_b.item(), "cycle_B": loss_cycle_b.item(), "idt_B": loss_idt_b.item(),
        }

    def noisy(self, fake: torch.Tensor) -> torch.Tensor:
        """``fake`` with the cycle's noise added (torch's generator, which checkpoints keep: exact resume)."""
        sigma = self.config.cycle_noise
        return fake + sigma * torch.randn_like(fake) if sigma > 0 else fake

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "pool_a": self.pool_a.state_dict(), "pool_b": self.pool_b.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.pool_a.load_state_dict(state["pool_a"])
        self.pool_b.load_state_dict(state["pool_b"])

    def preview(self, samples: dict[str, torch.Tensor]) -> np.ndarray:
        """Rows of A, G_A(A), G_B(G_A(A)) | B, G_B(B), G_A(G_B(B)) as one uint8 image."""
        a, b = samples["A"], samples["B"]
        fake_b = self.translate("G_A", a)
        fake_a = self.translate("G_B", b)
        return preview_grid([a, fake_b, self.translate("G_B", fake_b), b, fake_a, self.translate("G_A", fake_a)])
