"""The latent explorer's work off the GUI thread, as jobs for its TaskSlots: loading and encoding
anchors, the render loop, strips, directions, arithmetic, maps, a PixelCNN's samples and scores.

Everything here is Qt-free except the QImages handed to the views (safe off the GUI thread). The
latent maths and the one render path live in :mod:`studio.core.latent`; this module only wraps
them as jobs (``studio.core.jobs.returning`` for work that reports nothing on the way).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
import torch
from PySide6.QtGui import QImage

from studio.core import latent
from studio.core.errors import ImageError, StudioError
from studio.core.images import list_images, load_rgb_uint8, write_image
from studio.core.jobs import Control, Event, Finished, Job, Log, Preview, Progress, nested, returning
from studio.core.store import ModelStore
from studio.gui.qimages import qimage_from_array
from studio.gui.widgets.latent_map import MapTile

THUMB_SIDE = 128  # the anchors' own thumbnails, sharper than a small model's input

JobFactory = Callable[[Control], Job]
M = TypeVar("M", latent.LatentModel, latent.PixelModel)


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


class ModelCache(Generic[M]):
    """The model in use, loaded by ``load`` (``LatentModel.load`` or ``PixelModel.load``): one at a
    time, as they are small and a new one replaces the old."""

    def __init__(self, load: Callable[[str, ModelStore, str | None], M]) -> None:
        self._load: Callable[[str, ModelStore, str | None], M] = load
        self._lock = threading.Lock()
        self._key: tuple[str, str | None] | None = None
        self._model: M | None = None

    def get(self, store: ModelStore, name: str, device: str | None) -> M:
        with self._lock:
            if self._key != (name, device) or self._model is None:
                self._model = self._load(name, store, device)
                self._key = (name, device)
            return self._model

    def clear(self) -> None:
        with self._lock:
            self._key, self._model = None, None


def encode_anchors(models: ModelCache[latent.LatentModel], store: ModelStore, name: str, device: str | None,
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

    def draw(self) -> np.ndarray:
        return self.renderer.render(self.scene)


@dataclass(frozen=True)
class MapPointRequest:
    """One frame of the map view: the latent under a point of the map's canvas (pixels), decoded."""

    serial: int
    renderer: latent.Renderer
    projection: latent.Projection
    layout: latent.Layout
    canvas_xy: tuple[float, float]

    def draw(self) -> np.ndarray:
        point = self.layout.to_point(torch.tensor(self.canvas_xy))
        return self.renderer.render_latent(latent.map_to_latent(point, self.projection))


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
    (a :class:`RenderRequest` draws exactly what ``studio bench latent`` times; a :class:`MapPointRequest`
    the latent under a point of a map), report it; repeat.

    Each frame is a :class:`Progress` whose ``stats["ms"]`` is the time the Renderer took, then a
    :class:`Preview` numbered with the request's serial (the worker adds its QImage). A bad request
    (a typed error) is reported as a warning and the loop goes on; cancelling ends it within 0.1 s.
    """

    def job(control: Control) -> Iterator[Event]:
        while True:
            control.checkpoint()
            request: RenderRequest | MapPointRequest | None = mailbox.take(0.1)
            if request is None:
                continue
            started = time.perf_counter()
            try:
                rgb = request.draw()
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


# -- arithmetic, maps -----------------------------------------------------------------------------

def arithmetic(renderer: latent.Renderer, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor,
               strength: float) -> JobFactory:
    """decode(c + strength · (a − b)): finishes with (uint8 RGB, its QImage)."""

    def decode(control: Control) -> tuple[np.ndarray, QImage]:
        rgb = renderer.render_latent(latent.arithmetic(a, b, c, strength))
        return rgb, qimage_from_array(rgb)

    return returning(decode)


def save_rgb(rgb: np.ndarray, path: Path) -> JobFactory:
    def save(control: Control) -> Path:
        write_image(path, rgb.astype(np.float32) / 255.0)
        return path

    return returning(save)


@dataclass
class MapResult:
    """A finished map, the model it was made with, and its tiles for the view."""

    latent_map: latent.LatentMap
    model: latent.LatentModel
    tiles: list[MapTile]


def map_thumb(count: int, size: int) -> int:
    """Thumbnails as large as a map of ``count`` images allows without burying one another: about half
    the spacing of a grid of that many on a ``size``-pixel canvas, 40 to 112 pixels."""
    return int(min(112, max(40, size / (2 * math.sqrt(max(1, count))))))


def map_folder(load_model: Callable[[], latent.LatentModel], folder: Path, size: int) -> JobFactory:
    """Load the model, map the folder with the engine's :func:`~studio.core.latent.map_job` (its progress
    and skipped files reported), cut the canvas into tiles: finishes with a :class:`MapResult`."""

    def job(control: Control) -> Iterator[Event]:
        model = load_model()
        thumb = map_thumb(len(list_images(folder)), size)
        result: latent.LatentMap = yield from nested(latent.map_job(model, folder, thumb=thumb, size=size,
                                                                    control=control), control)
        tiles = []
        for entry in result.entries:  # each box as the canvas shows it (later thumbnails over earlier ones)
            left, top, w, h = (int(v) for v in entry["box"])
            x, y = entry["canvas"]
            pixels = result.image[max(0, top): top + h, max(0, left): left + w]
            tiles.append(MapTile(Path(entry["path"]), (float(x), float(y)), (left, top, w, h),
                                 qimage_from_array(pixels)))
        yield Finished(MapResult(result, model, tiles))

    return job


# -- a PixelCNN: samples and scores ---------------------------------------------------------------

@dataclass
class PixelSamples:
    rgb: np.ndarray  # (N, S, S, 3) uint8
    images: list[QImage]
    seconds: float  # drawing them, the model's loading left out


def pixel_samples(load: Callable[[], latent.PixelModel], n: int, seed: int) -> JobFactory:
    """Load the PixelCNN and draw ``n`` images pixel by pixel (a Progress per row): finishes with PixelSamples."""

    def job(control: Control) -> Iterator[Event]:
        model = load()
        started = time.perf_counter()
        images = yield from nested(model.sample_job(n, seed, control), control)
        seconds = time.perf_counter() - started
        rgb = latent.to_rgb8(images)
        yield Finished(PixelSamples(rgb, [qimage_from_array(p) for p in rgb], seconds))

    return job


def pixel_scores(load: Callable[[], latent.PixelModel], paths: list[Path]) -> JobFactory:
    """Each file's exact bits/dim under the PixelCNN (a Progress per file): finishes with
    [(path, bits/dim or None, why it was skipped)]."""

    def job(control: Control) -> Iterator[Event]:
        model = load()
        scores: list[tuple[Path, float | None, str]] = []
        for done, path in enumerate(paths):
            control.checkpoint()
            yield Progress(done, len(paths), f"scoring {path.name}")
            try:
                scores.append((path, float(model.score(model.load_image(path))[0]), ""))
            except ImageError as exc:
                scores.append((path, None, exc.reason))
        yield Finished(scores)

    return job
