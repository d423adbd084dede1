"""The translation panels' work, as jobs for workers: decode a photo, translate it, translate a
folder, save or copy the result blended with the original. Loaded translators are cached.

Every job is a generator of :mod:`studio.core.jobs` events ending with :class:`Finished`; work that
reports nothing on the way is wrapped with :func:`returning`. The translator's own
:class:`Progress` records (tiles of one photo) reach the panel as they are.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from studio.core import device as devices
from studio.core.images import LoadedImage, read_image, to_uint8, write_image
from studio.core.jobs import Control, Event, Finished, nested, returning
from studio.core.store import ModelInfo, ModelStore
from studio.core.translate import Translator, translate_job
from studio.gui.qimages import Picture, blend, make_picture, qimage_from_array

PanelJob = Callable[[Control], Iterator[Event]]


class TranslatorCache:
    """Loaded translators, shared by a panel's workers; at most ``size`` are kept.

    A translator is not re-entrant (tiled runs keep per-image statistics in its layers), so each
    comes with a lock that a worker holds while translating.
    """

    def __init__(self, size: int = 2):
        self._size = size
        self._lock = threading.Lock()
        self._entries: dict[tuple, tuple[Translator, threading.Lock]] = {}

    def get(self, store: ModelStore, info: ModelInfo, direction: str, device: str | None,
            working_size: int | None = None) -> tuple[Translator, threading.Lock]:
        key = (info.name, str(info.path), info.created, _mtime(info), direction, device or "auto", working_size)
        with self._lock:
            entry = self._entries.pop(key, None)
            if entry is not None:
                self._entries[key] = entry  # most recently used last
                return entry
        model = store.load(info)
        entry = (Translator(model, direction, device=device, working_size=working_size), threading.Lock())
        with self._lock:
            self._entries[key] = entry
            while len(self._entries) > self._size:
                self._entries.pop(next(iter(self._entries)))
        return entry

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _mtime(info: ModelInfo) -> float:
    try:
        return info.weights_path.stat().st_mtime
    except OSError:
        return 0.0


@dataclass(frozen=True)
class Choice:
    """What a translation runs with, as the panel's controls say."""

    info: ModelInfo
    direction: str
    device: str | None  # as the engine takes it: None automatic
    tile: int | None  # as the engine takes it: None automatic, 0 whole image, N pixels
    working_size: int | None = None  # as the engine takes it: None the model's, 0 the photo's own size, N pixels


@dataclass
class OpenedImage:
    image: LoadedImage  # float pixels, the translator's input
    pixels: np.ndarray  # uint8 copy for blending and display
    picture: Picture


@dataclass
class Translation:
    """A finished translation, as the panel keeps it."""

    pixels: np.ndarray  # uint8 (H, W, 3), the input's size
    picture: Picture
    model: str
    direction: str
    seconds: float
    device: str
    tile: int  # 0: whole image
    working: int = 0  # the short side the model ran at (detail from the photo); 0: the photo's own size


def open_photo(path: Path) -> PanelJob:
    def load(control: Control) -> OpenedImage:
        image = read_image(path)
        control.checkpoint()
        pixels = to_uint8(image.rgb)
        return OpenedImage(image, pixels, make_picture(pixels))

    return returning(load)


def translate_photo(cache: TranslatorCache, store: ModelStore, choice: Choice, rgb: np.ndarray) -> PanelJob:
    """Progress while a tiled translation runs (it can be cancelled between tiles), then
    ``Finished`` with the :class:`Translation`."""

    def job(control: Control) -> Iterator[Event]:
        started = time.monotonic()
        translator, lock = cache.get(store, choice.info, choice.direction, choice.device, choice.working_size)
        control.checkpoint()
        with lock:
            control.checkpoint()
            ran_at = translator.network_size(*rgb.shape[:2])
            used = translator.tile_for(*ran_at, choice.tile)
            out = yield from nested(translator.array_steps(rgb, tile=choice.tile), control)
        control.checkpoint()
        pixels = to_uint8(out)
        del out
        yield Finished(Translation(pixels, make_picture(pixels), choice.info.name, choice.direction,
                                   time.monotonic() - started, devices.describe(translator.device), used,
                                   min(ran_at) if ran_at != rgb.shape[:2] else 0))

    return job


def translate_folder(cache: TranslatorCache, store: ModelStore, choice: Choice, source: Path, out: Path) -> PanelJob:
    """The engine's ``translate_job`` over a folder: progress, one item per file, skipped files."""

    def job(control: Control) -> Iterator[Event]:
        translator, lock = cache.get(store, choice.info, choice.direction, choice.device, choice.working_size)
        with lock:
            yield from translate_job(translator, [source], out, tile=choice.tile, control=control)

    return job


def save_blended(path: Path, original: OpenedImage, result: Translation, strength: float) -> PanelJob:
    """Write the result as shown (mixed with the original); the original's alpha is kept."""

    def save(control: Control) -> tuple[str, Path]:
        write_image(path, blend(original.pixels, result.pixels, strength), original.image.alpha)
        return ("saved", path)

    return returning(save)


def copy_blended(original: OpenedImage, result: Translation, strength: float) -> PanelJob:
    """A QImage of the result as shown, for the clipboard (set on the GUI thread)."""

    def copy(control: Control) -> tuple[str, Any]:
        if strength >= 1.0:
            return ("copied", result.picture.image)
        return ("copied", qimage_from_array(blend(original.pixels, result.pixels, strength)))

    return returning(copy)
