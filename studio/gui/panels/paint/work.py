"""The Paint panel's work off the GUI thread, as jobs for its TaskSlots: load a painter, open a label
map, segment a photo, paint the newest map, save the painting or the picture.

Painting itself is the engine's :class:`~studio.core.paint.Painter`; the live render loop and its
one-place mailbox are the Latent Explorer's (:func:`~studio.gui.panels.latent.work.render_loop`,
:class:`~studio.gui.panels.latent.work.LatestRequest`): a :class:`PaintRequest` is one more kind of
request they draw, so the newest map replaces any waiting one and renders never queue up.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from studio.core.images import read_image, resize_uint8, to_uint8, write_image
from studio.core.jobs import Control, returning
from studio.core.paint import Palette, read_label_map, resize_labels, write_label_map
from studio.core.paint.painter import Painter
from studio.core.store import ModelInfo, ModelStore
from studio.gui.panels.latent.work import JobFactory, LatestRequest, render_loop

__all__ = ["MAX_SIDE", "LatestRequest", "OpenedMap", "PaintRequest", "PainterCache", "is_indexed_png",
           "load_painter", "open_label_map", "render_loop", "save_label_map", "save_picture", "segment_photo"]

MAX_SIDE = 1024  # a photo's map is brought to this long side at most: painted live, larger is too slow


class PainterCache:
    """The painter in use: one at a time (a new model replaces the old), shared by the panel's workers.

    A painter's generator is only ever run by the render worker and its segmenter by the start
    worker, so a painter needs no lock of its own; the cache's lock only guards loading.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._painter: Painter | None = None

    def get(self, store: ModelStore, info: ModelInfo, device: str | None) -> Painter:
        key = (info.name, str(info.path), _mtime(info), device or "auto")
        with self._lock:
            if self._key != key or self._painter is None:
                self._painter = Painter(store.load(info), device)
                self._key = key
            return self._painter

    def clear(self) -> None:
        with self._lock:
            self._key, self._painter = None, None


def _mtime(info: ModelInfo) -> float:
    try:
        return info.weights_path.stat().st_mtime
    except OSError:
        return 0.0


def load_painter(cache: PainterCache, store: ModelStore, info: ModelInfo, device: str | None) -> JobFactory:
    """Load ``info``'s model as a :class:`Painter` (ModelError if it is not a spade model with a palette)."""
    return returning(lambda control: cache.get(store, info, device))


@dataclass(frozen=True)
class PaintRequest:
    """One picture to paint: the map as it was when asked for (a copy), numbered for the view."""

    serial: int
    painter: Painter
    labels: np.ndarray
    seed: int

    def draw(self) -> np.ndarray:
        """(H, W, 3) uint8: exactly what ``studio paint`` writes for this map and seed."""
        return to_uint8(self.painter.paint(self.labels, self.seed))


@dataclass(frozen=True)
class OpenedMap:
    """A map to start painting from, and what to say about where it came from."""

    labels: np.ndarray  # (H, W) uint8
    source: Path
    underlay: np.ndarray | None = None  # (H, W, 3) uint8: the photo it was segmented from
    note: str = ""


def open_label_map(path: Path, palette: Palette) -> JobFactory:
    """An indexed PNG, or an image colour-coded in ``palette``: LabelError (one line) if it does not fit."""

    def read(control: Control) -> OpenedMap:
        labels, _ = read_label_map(path, palette)
        return OpenedMap(labels, path)

    return returning(read)


def segment_photo(painter: Painter, path: Path, max_side: int = MAX_SIDE) -> JobFactory:
    """A photo's automatic label map in the painter's classes, the photo beneath it; a photo longer
    than ``max_side`` is brought down to it first (the map is painted live at its own size)."""

    def segment(control: Control) -> OpenedMap:
        pixels = to_uint8(read_image(path).rgb)
        control.checkpoint()
        height, width = pixels.shape[:2]
        note = ""
        if max(height, width) > max_side:
            scale = max_side / max(height, width)
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            pixels = resize_uint8(pixels, size)
            note = f"brought from {width}×{height} to {size[0]}×{size[1]} to paint live"
        labels = painter.segment(pixels)
        if labels.shape != pixels.shape[:2]:  # the engine promises the photo's size; hold it to that
            labels = resize_labels(labels, (pixels.shape[1], pixels.shape[0]))
        return OpenedMap(labels, path, pixels, note)

    return returning(segment)


def is_indexed_png(path: Path) -> bool:
    """Whether ``path`` is an indexed image (a label map, not a photo); only its header is read."""
    try:
        with Image.open(path) as im:
            return im.mode == "P"
    except OSError:
        return False


def save_label_map(path: Path, labels: np.ndarray, palette: Palette) -> JobFactory:
    """The painting as an indexed PNG carrying the palette's colours."""
    return returning(lambda control: ("saved", write_label_map(path, labels, palette)))


def save_picture(path: Path, rgb: np.ndarray) -> JobFactory:
    """The painted picture; the format follows the extension."""

    def save(control: Control) -> tuple[str, Path]:
        write_image(path, rgb.astype(np.float32) / 255.0)
        return ("saved", path)

    return returning(save)
