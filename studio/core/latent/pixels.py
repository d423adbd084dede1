"""A PixelCNN from the store: the exact bits/dim of images, and samples drawn pixel by pixel.

A PixelCNN has no latent space (nothing to encode to, interpolate or decode), so it is not a
:class:`~studio.core.latent.model.LatentModel`; it shares that class's view of images, (N, 3, S, S)
in [-1, 1] at the model's size S, resized as in training, and its ``score``: what ``studio latent
score`` puts side by side with a flow's. Sampling runs the network once per pixel, so it is a job
that reports each row and can be cancelled between rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import cast

import torch
from torch import Tensor, nn

from studio.core import device as devices
from studio.core.images import load_rgb_uint8, uint8_to_tensor
from studio.core.jobs import Control, Event, Finished, Progress, run
from studio.core.nets.pixelcnn import (
    GatedPixelCNN,
    MixtureParameters,
    bits_per_dim,
    log_likelihood,
    sample_rows,
)
from studio.core.store import LoadedModel, ModelStore

from .model import LatentModel
from .shared import BATCH, LatentError

PIXEL_KIND = "pixelcnn"


class PixelModel:
    """A PixelCNN from the store, in eval mode on one device: scores and samples."""

    kind = PIXEL_KIND

    def __init__(self, model: LoadedModel, device: str | torch.device | None = None):
        if model.info.kind != PIXEL_KIND:
            raise LatentError(f"model {model.info.name!r} is a {model.info.kind} model, not a pixelcnn")
        if PIXEL_KIND not in model.networks:
            raise LatentError(f"model {model.info.name!r}: its card has no {PIXEL_KIND!r} network")
        self.name = model.info.name
        self.card = model.card
        self.device = devices.pick_device(None if device is None else str(device))
        self.net = cast(GatedPixelCNN, model.networks[PIXEL_KIND]).to(self.device).eval()
        self.image_size: int = int(self.net.image_size)

    @classmethod
    def load(cls, name: str, store: ModelStore | None = None, device: str | torch.device | None = None) -> PixelModel:
        return cls((store or ModelStore()).load(name), device)

    def __repr__(self) -> str:
        return f"PixelModel({self.name!r}, {self.image_size}px, {self.net.mixtures} logistics, {self.device})"

    def network_module(self) -> nn.Module:
        """Images -> each pixel's mixture parameters, split and activated (for export)."""
        return MixtureParameters(self.net).eval()

    # -- images --------------------------------------------------------------------------------------
    def load_image(self, path: str | Path) -> Tensor:
        """One file -> (1, 3, S, S), resized as in training (the whole image, bicubic). Raises ImageError."""
        return uint8_to_tensor(load_rgb_uint8(path, (self.image_size, self.image_size))).unsqueeze(0)

    def load_images(self, paths: Sequence[str | Path]) -> Tensor:
        if not paths:
            return torch.zeros(0, 3, self.image_size, self.image_size)
        return torch.cat([self.load_image(p) for p in paths])

    def _check_images(self, images: Tensor) -> Tensor:
        s = self.image_size
        if images.ndim != 4 or tuple(images.shape[1:]) != (3, s, s):
            raise LatentError(f"model {self.name!r} takes images of shape (N, 3, {s}, {s}), got {tuple(images.shape)}")
        return images

    # -- the likelihood ------------------------------------------------------------------------------
    @torch.inference_mode()
    def log_likelihood(self, images: Tensor) -> Tensor:
        """(N,) nats: the exact log-probability of each 8-bit image (values are put on the 8-bit grid)."""
        out = [log_likelihood(self.net(chunk.to(self.device)), chunk.to(self.device), self.net.mixtures).cpu()
               for chunk in self._check_images(images).split(BATCH)]
        return torch.cat(out) if out else torch.zeros(0)

    def score(self, images: Tensor) -> Tensor:
        """Bits per dimension per image, exact (a discrete likelihood, no bound, no noise): lower is more
        typical of the training images."""
        return bits_per_dim(self.log_likelihood(images), 3 * self.image_size**2)

    # -- samples -------------------------------------------------------------------------------------
    def sample_job(self, n: int, seed: int | None = None, control: Control | None = None) -> Iterator[Event]:
        """Draw ``n`` images pixel by pixel: a :class:`Progress` per row (of ``image_size``), then
        :class:`Finished` with the (n, 3, S, S) images in [-1, 1] on the CPU. The same seed gives the
        same images; ``control`` cancels (raising Cancelled) between rows."""
        if n < 1:
            raise LatentError(f"sample at least one image, got {n}")
        control = control or Control()
        generator = torch.Generator()
        if seed is None:
            generator.seed()
        else:
            generator.manual_seed(seed)
        rows = self.image_size
        yield Progress(0, rows, f"{n} sample{'s' if n > 1 else ''}, pixel by pixel")
        images = torch.zeros(0)
        for done, drawn in sample_rows(self.net, n, generator):
            images = drawn
            control.checkpoint()
            yield Progress(done, rows, f"row {done} of {rows}")
        yield Finished(images.cpu())

    def sample(self, n: int, seed: int | None = None, control: Control | None = None) -> Tensor:
        """:meth:`sample_job` to its end: (n, 3, S, S) in [-1, 1]."""
        return run(self.sample_job(n, seed, control))


def load_scorer(name: str, store: ModelStore | None = None,
                device: str | torch.device | None = None) -> LatentModel | PixelModel:
    """A store model that scores images in bits/dim: a :class:`PixelModel` for a PixelCNN, else a
    :class:`LatentModel` (whose ``score`` refuses kinds without a likelihood)."""
    loaded = (store or ModelStore()).load(name)
    return PixelModel(loaded, device) if loaded.info.kind == PIXEL_KIND else LatentModel(loaded, device)
