"""What the latent models' trainers share: one network, no discriminator, a step count of their
own, seeded noise for previews and held-out metrics, and PSNR.

Each publishes one network (role ``vae`` or ``flow``) trained on one folder of images.
"""

from __future__ import annotations

from typing import Any, ClassVar, cast

import torch
from torch import nn

from studio.core.errors import StudioError

from . import data
from .base import Trainer, unwrap
from .config import TrainConfig

EVAL_SEED = 1234  # held-out metrics draw their noise from this seed, so they are repeatable
PREVIEW_SEED = 4321


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of images in [-1, 1] (peak 2), capped at 100 dB for identical images."""
    mse = (a.float() - b.float()).pow(2).flatten(1).mean(1).clamp(min=4e-10)
    return 10.0 * torch.log10(4.0 / mse)


class LatentTrainer(Trainer):
    """One network, no discriminator; counts its own steps (part of its state)."""

    role: ClassVar[str] = ""
    one_domain = True

    def __init__(self, config: TrainConfig, device: torch.device):
        super().__init__(config, device)
        self.steps = 0

    @classmethod
    def check_data(cls, config: TrainConfig) -> None:
        if not config.dir_a:
            raise StudioError(f"{config.kind} training needs a folder of images: --images DIR")

    @classmethod
    def dataset(cls, config: TrainConfig, preprocess: data.Preprocess) -> Any:
        return data.single(cast(str, config.dir_a), preprocess, seed=config.seed)  # check_data: given

    @property
    def net(self) -> nn.Module:
        return unwrap(self.nets[self.role])

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.steps = int(state["steps"])

    def _sample_noise(self, shape: tuple[int, ...], temperature: float) -> torch.Tensor:
        """Preview noise from a private generator: previews must not shift the training RNG."""
        g = torch.Generator().manual_seed(PREVIEW_SEED)
        return (torch.randn(shape, generator=g) * temperature).to(self.device)
