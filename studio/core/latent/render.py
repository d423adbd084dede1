"""The one render path of the latent canvas: cached anchor latents → blend (or a prior sample) →
directions → decode → uint8 RGB.

A :class:`Scene` says what one frame shows; :meth:`Renderer.render` draws it. The explorer's render
worker calls exactly this, and ``studio bench latent`` times exactly this, so the benchmark measures
what the canvas does. Strips (:meth:`Renderer.strip`) go through the same blend-and-offset arithmetic.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from studio.core.errors import ImageError

from .frames import to_rgb8
from .maths import apply_direction, arithmetic, blend, path
from .model import LatentModel
from .shared import LatentError


class LatentCache:
    """Latents of image files, least recently used dropped first; a changed file is re-encoded."""

    def __init__(self, model: LatentModel, capacity: int = 128):
        self.model = model
        self.capacity = capacity
        self._items: OrderedDict[tuple[str, int, int], Tensor] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _key(path: str | Path) -> tuple[str, int, int]:
        p = Path(path).resolve()
        try:
            st = p.stat()
        except OSError:
            raise ImageError(p, "no such file") from None
        return str(p), st.st_mtime_ns, st.st_size

    def get(self, path: str | Path) -> Tensor:
        """The (D,) latent of one image file (ImageError if it cannot be read)."""
        key = self._key(path)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        latent = self.model.encode(self.model.load_image(path))[0]
        with self._lock:
            self._items[key] = latent
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return latent

    def get_many(self, paths: Sequence[str | Path]) -> Tensor:
        return torch.stack([self.get(p) for p in paths]) if paths else torch.zeros(0, self.model.latent_dim)

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True)
class Scene:
    """What one frame shows: a blend of anchor latents, or a prior sample, moved along directions.

    ``anchors`` are K latents of (D,), stacked per frame (as the canvas hands them over);
    ``sample`` is (temperature, seed) for a prior sample instead of a blend; ``amounts`` holds how
    far along each of ``directions`` (unit (D,) latents) to move.
    """

    anchors: tuple[Tensor, ...] = ()
    weights: tuple[float, ...] = ()
    mode: str = "linear"
    sample: tuple[float, int] | None = None
    directions: tuple[Tensor, ...] = ()
    amounts: tuple[float, ...] = ()


def apply_offset(z: Tensor, directions: Sequence[Tensor], amounts: Sequence[float]) -> Tensor:
    """``z`` moved ``amounts[i]`` along each of ``directions`` (stacked here, on the render thread)."""
    if not directions or not any(amounts):
        return z
    return apply_direction(z, torch.as_tensor(amounts, dtype=z.dtype) @ torch.stack(list(directions)), 1.0)


class Renderer:
    """Draws :class:`Scene`\\ s: blend latents by weights (or sample the prior), move along directions,
    decode one image, return uint8 RGB.

    Built for a canvas redrawn while the cursor moves: no file I/O after the anchors are cached,
    one decode per frame, no gradient bookkeeping.
    """

    def __init__(self, model: LatentModel, cache_capacity: int = 128):
        self.model = model
        self.cache = LatentCache(model, cache_capacity)

    def anchors(self, paths: Sequence[str | Path]) -> Tensor:
        """(K, D) latents of anchor images, cached."""
        return self.cache.get_many(paths)

    def latent(self, scene: Scene) -> Tensor:
        """The (D,) latent that ``scene`` shows."""
        if scene.sample is not None:
            z = self.model.sample_latents(1, scene.sample[0], scene.sample[1])[0]
        else:
            z = blend(torch.stack(list(scene.anchors)), scene.weights, scene.mode)
        return apply_offset(z, scene.directions, scene.amounts)

    def render(self, scene: Scene) -> np.ndarray:
        """One (S, S, 3) uint8 frame of ``scene``."""
        return self.render_latent(self.latent(scene))

    def render_latent(self, latent: Tensor) -> np.ndarray:
        return to_rgb8(self.model.decode(latent)[0])

    def strip(self, a: Tensor, b: Tensor, steps: int, mode: str, directions: Sequence[Tensor] = (),
              amounts: Sequence[float] = ()) -> Tensor:
        """``steps`` decoded frames (steps, 3, S, S) from latent ``a`` to ``b``, each moved along the directions."""
        frames = path(torch.stack([a, b]), steps, mode)
        frames = torch.stack([apply_offset(z, directions, amounts) for z in frames])
        return self.model.decode(frames)


def interpolate(model: LatentModel, images: Tensor, steps: int, mode: str = "spherical") -> Tensor:
    """Frames from the first image to the last through the others: ((K−1)·(steps−1)+1, 3, S, S)."""
    return model.decode(path(model.encode(images), steps, mode))


def analogy(model: LatentModel, images: Tensor, strength: float = 1.0) -> Tensor:
    """decode(z_C + strength · (z_A − z_B)) for three images (3, 3, S, S) in the order A, B, C: (1, 3, S, S).

    "man with glasses" − "man" + "woman" ≈ "woman with glasses" (see :func:`.maths.arithmetic`).
    """
    if images.ndim != 4 or images.shape[0] != 3:
        raise LatentError(f"latent arithmetic takes three images A, B, C, got shape {tuple(images.shape)}")
    z = model.encode(images)
    return model.decode(arithmetic(z[0], z[1], z[2], strength))
