"""What the latent models' trainers share: one network, no discriminator, a step count of their
own, seeded noise for previews and held-out metrics, and PSNR.

Each publishes one network (role ``vae`` or ``flow``) trained on one folder of images.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, cast

import torch
from torch import nn

from studio.core.errors import StudioError

from . import data
from .config import TrainConfig
from .trainer import Trainer, unwrap

EVAL_SEED = 1234  # held-out metrics draw their noise from this seed, so they are repeatable
PREVIEW_SEED = 4321


@contextlib.contextmanager
def evaluating(net: nn.Module) -> Iterator[nn.Module]:
    """``net`` in eval mode for the block (held-out figures, previews), then in the mode it was in."""
    was_training = net.training
    net.eval()
    try:
        yield net
    finally:
        net.train(was_training)


class LatentTrainer(Trainer):
    """One network, no discriminator; counts its own steps (part of its state)."""

    role: ClassVar[str] = ""
    one_domain = True
    folder_titles = ("Images", "")

    def __init__(self, config: TrainConfig, device: torch.device):
        super().__init__(config, device)
        self.steps = 0

    @classmethod
    def check_data(cls, config: TrainConfig) -> None:
        if not config.dir_a:
            raise StudioError(f"{config.kind} training needs a folder of images: --images DIR")

    @classmethod
    def dataset(cls, config: TrainConfig, preprocess: data.Preprocess, folder: Path | None = None) -> Any:
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
