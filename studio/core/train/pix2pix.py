"""pix2pix (Isola et al. 2017) as a training algorithm.

G: A→B, a conditional discriminator on concat(A, B); vanilla GAN + L1 (λ=100). With
``lambda_gan`` 0 the generator learns L1 alone (the paper's "L1 only" ablation: a regression,
blurrier where the answer is uncertain, exact where it is not) and the discriminator is not trained.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from studio.core.errors import StudioError

from . import data
from .config import TrainConfig
from .trainer import Trainer, preview_grid, set_requires_grad, unwrap


class Pix2PixTrainer(Trainer):
    kind = "pix2pix"
    paired = True
    title = "pix2pix — matched pairs"
    preview_layout = "each row: input, output, target"
    folder_titles = ("Inputs (A)", "Targets (B), same file names as A")
    generator_roles = ("G",)
    discriminator_roles = ("D",)
    averages_generators = True
    card_config_keys = ("augment", "lambda_gan")

    @classmethod
    def check_data(cls, config: TrainConfig) -> None:
        if not (config.pairs or (config.dir_a and config.dir_b)):
            raise StudioError("pix2pix training needs --a DIR --b DIR (matched by file name) or --pairs DIR")

    @classmethod
    def dataset(cls, config: TrainConfig, preprocess: data.Preprocess, folder: Path | None = None) -> Any:
        if config.pairs:
            return data.paired(pairs=config.pairs, preprocess=preprocess, seed=config.seed)
        return data.paired(config.dir_a, config.dir_b, preprocess=preprocess, seed=config.seed)

    def discriminator_input_channels(self) -> int:
        return 6  # conditional: the input photo next to the real or generated output

    def step(self, batch: dict[str, Any]) -> dict[str, float]:
        c = self.config
        real_a, real_b = self.to_device(batch, "A"), self.to_device(batch, "B")
        with self.autocast():
            fake_b = self.nets["G"](real_a)
        losses: dict[str, float] = {}
        d = unwrap(self.nets["D"])
        if c.lambda_gan:  # the discriminator first, as the reference does; L1 alone has none to train
            assert self.opt_d is not None
            set_requires_grad([d], True)
            self.opt_d.zero_grad(set_to_none=True)
            loss_d = self.discriminator_loss("D", torch.cat([real_a, real_b], 1), torch.cat([real_a, fake_b], 1))
            loss_d.backward()
            self.opt_d.step()
            losses["D"] = loss_d.item()
        set_requires_grad([d], False)
        self.opt_g.zero_grad(set_to_none=True)
        with self.autocast():
            loss_g = loss_l1 = nn.functional.l1_loss(fake_b.float(), real_b.float()) * c.lambda_l1
            if c.lambda_gan:
                loss_gan = self.gan_loss(d(self.judged(torch.cat([real_a, fake_b], 1))), True) * c.lambda_gan
                loss_g = loss_gan + loss_l1
                losses["G_GAN"] = loss_gan.item()
        loss_g.backward()
        self.opt_g.step()
        set_requires_grad([d], True)
        return {**losses, "G_L1": loss_l1.item()}

    def preview(self, samples: dict[str, torch.Tensor]) -> np.ndarray:
        """Rows of A, G(A), B (the target)."""
        return preview_grid([samples["A"], self.translate("G", samples["A"]), samples["B"]])
