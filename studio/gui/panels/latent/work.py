"""The latent explorer's work off the GUI thread, as jobs for its TaskSlots: loading and encoding
anchors, the render loop, strips, directions.

Everything here is Qt-free except the QImages handed to the views (safe off the GUI thread). The
latent maths and the one render path live in :mod:`studio.core.latent`; this module only wraps
them as jobs (``studio.core.jobs.returning`` for work that reports nothing on the way).
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
from studio.core.jobs import Control, Event, Job, Log, Preview, Progress, returning
from studio.core.store import ModelStore
from studio.gui.qimages import qimage_from_array

THUMB_SIDE = 128  # the anchors' own thumbnails, sharper than a small model's input

JobFactory = Callable[[Control], Job]


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
                   paths: list[Path]) -> JobFactory:
    """Load the model and encode the images: finishes with {"model", "anchors", "failed": [(path, reason)]}."""

    def encode(control: Control) -> dict:
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

    return returning(encode)


# -- live rendering ------------------------------------------------------------------------------

@dataclass(frozen=True)
class RenderRequest:
    """One frame to draw: the engine's scene, numbered so the canvas knows which frame it shows."""

    serial: int
    renderer: latent.Renderer
    scene: latent.Scene


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


def render_loop(mailbox: LatestRequest) -> JobFactory:
    """A long-lived job: take the newest request, draw it with the engine's :class:`~studio.core.latent.Renderer`
    (exactly what ``studio bench latent`` times), report it; repeat.

    Each frame is a :class:`Progress` whose ``stats["ms"]`` is the time the Renderer took, then a
    :class:`Preview` numbered with the request's serial (the worker adds its QImage). A bad request
    (a typed error) is reported as a warning and the loop goes on; cancelling ends it within 0.1 s.
    """

    def job(control: Control) -> Iterator[Event]:
        while True:
            control.checkpoint()
            request: RenderRequest | None = mailbox.take(0.1)
            if request is None:
                continue
            started = time.perf_counter()
            try:
                rgb = request.renderer.render(request.scene)
            except StudioError as exc:
                yield Log("warning", str(exc))
                continue
            ms = (time.perf_counter() - started) * 1000.0
            yield Progress(request.serial, request.serial, stats={"ms": ms})
            yield Preview(request.serial, rgb)

    return job


# -- strips, directions ---------------------------------------------------------------------------

@dataclass
class Strip:
    frames: torch.Tensor  # (N, 3, S, S) in [-1, 1], what export writes
    images: list[QImage] = field(default_factory=list)
    endpoints: tuple[str, str] = ("", "")
    mode: str = "spherical"


def make_strip(renderer: latent.Renderer, a: torch.Tensor, b: torch.Tensor, steps: int, mode: str,
               directions: tuple[torch.Tensor, ...], amounts: tuple[float, ...],
               endpoints: tuple[str, str]) -> JobFactory:
    def strip(control: Control) -> Strip:
        control.checkpoint()
        frames = renderer.strip(a, b, steps, mode, directions, amounts)
        return Strip(frames, [qimage_from_array(p) for p in latent.to_rgb8(frames)], endpoints, mode)

    return returning(strip)


def export_strip(frames: torch.Tensor, out: Path, duration_ms: int) -> JobFactory:
    return returning(lambda control: latent.save_frames(frames, out, duration_ms))


def pca_of(latents: tuple[torch.Tensor, ...], k: int) -> JobFactory:
    return returning(lambda control: latent.principal_directions(torch.stack(latents), k))


def folder_pca(model: latent.LatentModel, folder: Path, k: int) -> JobFactory:
    """Encode a folder (unreadable files skipped), then its principal directions (a dict, see the engine)."""
    return lambda control: latent.folder_directions_job(model, folder, k, control)


def attribute(model: latent.LatentModel, with_folder: Path, without_folder: Path) -> JobFactory:
    return returning(lambda control: latent.attribute_direction(model, with_folder, without_folder, control))


def save_direction(path: Path, direction: torch.Tensor, model: latent.LatentModel, **meta: Any) -> JobFactory:
    return returning(lambda control: latent.save_direction(path, direction, model, **meta))


def load_direction(path: Path, model: latent.LatentModel) -> JobFactory:
    return returning(lambda control: latent.load_direction(path, model))
