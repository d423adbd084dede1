"""The latent explorer's work off the GUI thread: loading and encoding, the render loop, strips,
directions. Everything here is Qt-free except the QImages handed to the views (safe off the GUI
thread); the panel starts these jobs in its TaskSlots.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PySide6.QtGui import QImage

from studio.core import latent
from studio.core.errors import ImageError, StudioError
from studio.core.images import load_rgb_uint8
from studio.core.jobs import Control, Event
from studio.core.store import ModelStore
from studio.gui.qimages import qimage_from_array

THUMB_SIDE = 128  # the anchors' own thumbnails, sharper than a small model's input


@dataclass
class Anchor:
    """One anchor image: its latent under the current model, what it looks like and its reconstruction."""

    path: Path
    latent: torch.Tensor  # (D,)
    thumb: QImage
    recon: np.ndarray  # (S, S, 3) uint8, decode(encode(image))

    @property
    def name(self) -> str:
        return self.path.name


class ModelCache:
    """The latent model in use (one at a time: they are small, and a new one replaces the old)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[str, str | None] | None = None
        self._model: latent.LatentModel | None = None

    def get(self, store: ModelStore, name: str, device: str | None) -> latent.LatentModel:
        with self._lock:
            if self._key != (name, device) or self._model is None:
                self._model = latent.LatentModel.load(name, store, device)
                self._key = (name, device)
            return self._model

    def clear(self) -> None:
        with self._lock:
            self._key, self._model = None, None


def encode_anchors(models: ModelCache, store: ModelStore, name: str, device: str | None,
                   paths: list[Path]) -> Callable[[Control], dict]:
    """Load the model and encode the images: {"model", "anchors", "failed": [(path, reason)]}."""

    def job(control: Control) -> dict:
        model = models.get(store, name, device)
        anchors, failed = [], []
        for path in paths:
            control.checkpoint()
            try:
                image = model.load_image(path)
                thumb = qimage_from_array(load_rgb_uint8(path, (THUMB_SIDE, THUMB_SIDE)))
            except ImageError as exc:
                failed.append((path, exc.reason))
                continue
            z = model.encode(image)[0]
            recon = latent.to_rgb8(model.decode(z)[0])
            anchors.append(Anchor(Path(path), z, thumb, recon))
        return {"model": model, "anchors": anchors, "failed": failed}

    return job


# -- live rendering ------------------------------------------------------------------------------

@dataclass(frozen=True)
class RenderRequest:
    """What one frame shows: a blend of anchor latents (or a prior sample) moved along directions."""

    serial: int
    model: latent.LatentModel
    anchors: tuple[torch.Tensor, ...] = ()  # K latents of (D,)
    weights: tuple[float, ...] = ()
    mode: str = "linear"
    sample: tuple[float, int] | None = None  # (temperature, seed): a prior sample instead of a blend
    directions: tuple[torch.Tensor, ...] = ()  # k unit directions of (D,)
    amounts: tuple[float, ...] = ()  # one per direction

    def latent(self) -> torch.Tensor:
        if self.sample is not None:
            z = self.model.sample_latents(1, self.sample[0], self.sample[1])[0]
        else:
            z = latent.blend(torch.stack(self.anchors), self.weights, self.mode)
        return apply_offset(z, self.directions, self.amounts)


def apply_offset(z: torch.Tensor, directions: tuple[torch.Tensor, ...], amounts: tuple[float, ...]) -> torch.Tensor:
    """``z`` moved ``amounts[i]`` along each of ``directions`` (stacked here, in the worker)."""
    if not directions or not any(amounts):
        return z
    return latent.apply_direction(z, torch.as_tensor(amounts, dtype=z.dtype) @ torch.stack(directions), 1.0)


class LatestRequest:
    """A one-place mailbox: ``put`` replaces what is waiting, so the renderer only sees the newest."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Any = None
        self.dropped = 0  # requests replaced before the renderer took them

    def put(self, item: Any) -> None:
        with self._cond:
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._cond.notify()

    def take(self, timeout: float) -> Any:
        with self._cond:
            if self._item is None:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            return item

    @property
    def pending(self) -> bool:
        with self._cond:
            return self._item is not None


def render_loop(mailbox: LatestRequest) -> Callable[[Control], Iterator[Event]]:
    """A long-lived job: take the newest request, render it, report it as a preview event; repeat.

    A bad request (a typed error) is reported and the loop goes on; cancelling ends it within 0.1 s.
    """

    def job(control: Control) -> Iterator[Event]:
        while True:
            control.checkpoint()
            request: RenderRequest | None = mailbox.take(0.1)
            if request is None:
                continue
            started = time.perf_counter()
            try:
                rgb = latent.to_rgb8(request.model.decode(request.latent())[0])
            except StudioError as exc:
                yield Event("log", {"level": "warning", "message": str(exc)})
                continue
            ms = (time.perf_counter() - started) * 1000.0
            yield Event("preview", {"image": rgb, "ms": ms, "serial": request.serial, "step": request.serial})

    return job


# -- strips, directions ---------------------------------------------------------------------------

@dataclass
class Strip:
    frames: torch.Tensor  # (N, 3, S, S) in [-1, 1], what export writes
    images: list[QImage] = field(default_factory=list)
    endpoints: tuple[str, str] = ("", "")
    mode: str = "spherical"


def make_strip(model: latent.LatentModel, a: torch.Tensor, b: torch.Tensor, steps: int, mode: str,
               directions: tuple[torch.Tensor, ...], amounts: tuple[float, ...],
               endpoints: tuple[str, str]) -> Callable[[Control], Strip]:
    def job(control: Control) -> Strip:
        control.checkpoint()
        path = latent.path(torch.stack([a, b]), steps, mode)
        path = torch.stack([apply_offset(z, directions, amounts) for z in path])
        frames = model.decode(path)
        return Strip(frames, [qimage_from_array(p) for p in latent.to_rgb8(frames)], endpoints, mode)

    return job


def export_strip(frames: torch.Tensor, out: Path, duration_ms: int) -> Callable[[Control], Path]:
    return lambda control: latent.save_frames(frames, out, duration_ms)


def pca_of(latents: tuple[torch.Tensor, ...], k: int) -> Callable[[Control], tuple[torch.Tensor, torch.Tensor]]:
    return lambda control: latent.principal_directions(torch.stack(latents), k)


def folder_pca(model: latent.LatentModel, folder: Path, k: int) -> Callable[[Control], Iterator[Event]]:
    """Encode a folder (unreadable files skipped), then its principal directions."""

    def job(control: Control) -> Iterator[Event]:
        result: dict = {}
        for event in latent.encode_folder_job(model, folder, control):
            if event.kind == "finished":
                result = event.data
            else:
                yield event
        latents = result.get("latents")
        if latents is None or len(latents) < 2:
            raise latent.LatentError(f"{folder}: needs at least two readable images for directions")
        directions, spread = latent.principal_directions(latents, min(k, len(latents) - 1))  # n points span n-1 axes
        yield Event("finished", {"directions": directions, "spread": spread, "count": len(latents),
                                 "failed": result.get("failed", []), "folder": str(folder)})

    return job


def attribute(model: latent.LatentModel, with_folder: Path, without_folder: Path) -> Callable[[Control], torch.Tensor]:
    return lambda control: latent.attribute_direction(model, with_folder, without_folder, control)


def save_direction(path: Path, direction: torch.Tensor, model: latent.LatentModel,
                   **meta: Any) -> Callable[[Control], Path]:
    return lambda control: latent.save_direction(path, direction, model, **meta)


def load_direction(path: Path, model: latent.LatentModel) -> Callable[[Control], tuple[torch.Tensor, dict]]:
    return lambda control: latent.load_direction(path, model)
