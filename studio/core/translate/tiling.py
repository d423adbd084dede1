"""Tiled translation whose normalisation statistics are those of the whole image.

A photo too big to translate at once is cut into overlapping tiles whose results are blended with
feathered weights. Instance norm (and pix2pix's per-image batch norm) would give every tile its own
statistics, and so its own colour cast, so every normalisation layer gets the statistics of the
*whole* image instead, gathered over all the tiles' cores before the layer is used
(see :class:`~studio.core.translate.image_norms.ImageNorm`).

That takes one pass over the tiles per normalisation layer. The generator is flattened into a list
of layers (residual and U-Net skip connections become :class:`Fork` / :class:`Join` markers), and
each pass keeps, for every tile, the activation at the input of the next normalisation layer plus
the skip connections still open there. The next pass starts from what was kept, so every layer
runs once per tile in all: the statistics of a layer are gathered from the very activations that
are kept for it. What is kept stays in memory while it fits a budget and goes to a temporary file
when it does not (a 24-megapixel photo through the reference 9-block ResNet keeps over a gigabyte
per pass), in ``STUDIO_HOME/scratch`` rather than the system's temporary folder, which is often a
RAM disk; without room anywhere, a pass starts again from the last place something was kept.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from studio.core import paths
from studio.core.errors import StudioError
from studio.core.jobs import Finished, Progress

from .image_norms import ImageNorm, StopForward
from .layers import Layer, NetProfile, fork_ends

log = logging.getLogger(__name__)

FEATHER = 16  # pixels of blending on each side of a seam between tile cores
CPU_CACHE_BUDGET = 256 << 20  # bytes of activations kept in memory between passes (the rest: a file)
DISK_MARGIN = 2 << 30  # bytes of disk left free when the activations go to a temporary file
FP16_MAX = 65504.0


# -- tiles --------------------------------------------------------------------------------------------

@dataclass
class Tile:
    y0: int
    y1: int
    x0: int
    x1: int  # the tile, in padded-image pixels
    cy0: int
    cy1: int
    cx0: int
    cx1: int  # its core: the cores partition the image

    @property
    def size(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0

    @property
    def area(self) -> int:
        return (self.y1 - self.y0) * (self.x1 - self.x0)

    def core_in_tile(self) -> tuple[int, int, int, int]:
        return self.cy0 - self.y0, self.cy1 - self.y0, self.cx0 - self.x0, self.cx1 - self.x0

    def weights(self, height: int, width: int, feather: int) -> torch.Tensor:
        """Linear ramps across each inner seam; the weights of all tiles sum to one everywhere."""
        wy = _ramp(self.y0, self.y1, self.cy0, self.cy1, height, feather)
        wx = _ramp(self.x0, self.x1, self.cx0, self.cx1, width, feather)
        return (wy[:, None] * wx[None, :])[None, None]


def _ramp(lo: int, hi: int, core_lo: int, core_hi: int, size: int, feather: int) -> torch.Tensor:
    pos = torch.arange(lo, hi, dtype=torch.float32) + 0.5
    w = torch.ones(hi - lo)
    if core_lo > 0:
        w = torch.minimum(w, ((pos - (core_lo - feather)) / (2 * feather)).clamp(0, 1))
    if core_hi < size:
        w = torch.minimum(w, (((core_hi + feather) - pos) / (2 * feather)).clamp(0, 1))
    return w


def plan_tiles(height: int, width: int, core: int, halo: int) -> list[Tile]:
    tiles = []
    for cy0 in range(0, height, core):
        for cx0 in range(0, width, core):
            cy1, cx1 = min(cy0 + core, height), min(cx0 + core, width)
            tiles.append(
                Tile(
                    max(0, cy0 - halo), min(height, cy1 + halo), max(0, cx0 - halo), min(width, cx1 + halo),
                    cy0, cy1, cx0, cx1,
                )
            )
    return tiles


# -- where activations are kept between passes ------------------------------------------------------

@dataclass(frozen=True)
class Place:
    dtype: torch.dtype
    on_disk: bool

    def __str__(self) -> str:
        return f"{'a temporary file' if self.on_disk else 'memory'} ({str(self.dtype).removeprefix('torch.')})"


class TileStore:
    """Each tile's activation between passes: tensors in memory, or records in a temporary file.

    The file is anonymous where the platform allows (gone when closed, or when the process dies).
    A tile whose values overflow fp16 is kept in fp32 instead.
    """

    def __init__(self, place: Place | None):
        self.dtype = None if place is None else place.dtype
        self._tensors: dict[int, torch.Tensor] = {}
        self._records: dict[int, tuple[int, tuple[int, ...], torch.dtype]] = {}
        on_disk = place is not None and place.on_disk
        self._file = _scratch_file() if on_disk else None
        self._end = 0

    @classmethod
    def views(cls, tensors: list[torch.Tensor]) -> TileStore:
        store = cls(None)
        store._tensors = dict(enumerate(tensors))
        return store

    @property
    def on_disk(self) -> bool:
        return self._file is not None

    def put(self, index: int, tensor: torch.Tensor) -> None:
        dtype = self.dtype
        if dtype == torch.float16:
            lo, hi = torch.aminmax(tensor)  # a reduction: no temporary the size of the tile
            if not (-FP16_MAX <= lo.item() and hi.item() <= FP16_MAX):  # also False for NaN
                dtype = torch.float32
        kept = tensor.to("cpu", dtype)
        if self._file is None:
            self._tensors[index] = kept
            return
        data = kept.contiguous().numpy().reshape(-1).view(np.uint8)
        self._file.seek(self._end)
        self._file.write(data)
        self._records[index] = (self._end, tuple(kept.shape), kept.dtype)
        self._end += data.nbytes

    def get(self, index: int) -> torch.Tensor:
        if self._file is None:
            return self._tensors[index]
        offset, shape, dtype = self._records[index]
        buffer = torch.empty(shape, dtype=dtype)
        raw = buffer.numpy().reshape(-1).view(np.uint8)
        self._file.seek(offset)
        if self._file.readinto(raw) != raw.nbytes:
            raise StudioError("the temporary file of a tiled translation was cut short")
        return buffer

    def drop(self, index: int) -> None:
        """Forget one tile (in memory: free it) once no later pass needs it."""
        self._tensors.pop(index, None)

    def close(self) -> None:
        self._tensors.clear()
        if self._file is not None:
            self._file.close()
            self._file = None


def _malloc_trim() -> Callable[[], None]:
    """glibc keeps freed memory for reuse, and a tile's freed activations add up to gigabytes
    of resident memory; ``malloc_trim`` hands it back. Elsewhere there is nothing to do."""
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError, TypeError):
        return lambda: None
    trim.argtypes = [ctypes.c_size_t]
    return lambda: trim(0) and None


_release_freed_memory = _malloc_trim()


def _scratch_file():
    folder = paths.scratch_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryFile(prefix="tiles-", dir=folder)


def free_disk() -> int:
    """Free bytes where kept activations go (0 when that folder cannot be made)."""
    folder = paths.scratch_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return shutil.disk_usage(folder).free
    except OSError:
        return 0


# -- the passes ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Pass:
    """One run over every tile through layers ``start`` .. ``stop - 1``.

    ``collect``: the norm whose statistics this pass gathers: the one at ``stop`` for a pass that
    keeps its result (``keep``: where, for the activation and the newly opened forks), else the
    last layer of the pass, where the run stops. A pass with neither blends into the output.
    ``cost``: multiply-accumulates per input pixel, for progress.
    """

    start: int
    stop: int
    cost: float
    collect: int | None = None
    keep: list[Place] | None = None

    def describe(self) -> str:
        if self.keep is not None:
            what = "keep in " + ", ".join(sorted({str(p) for p in self.keep}))
            return what + ("" if self.collect is None else f" + statistics of norm {self.collect}")
        return "output" if self.collect is None else f"statistics of norm {self.collect}"


class TiledRun:
    """Plans and runs the passes of one tiled translation.

    ``run(x, skips, start, stop)`` runs layers ``start`` .. ``stop - 1`` of ``layers`` on one tile
    on the translator's device (precision, memory format), see :func:`run_layers`.
    """

    def __init__(
        self,
        layers: list[Layer],
        norms: list[ImageNorm],
        net_profile: NetProfile,
        run: Callable[[torch.Tensor, list[torch.Tensor], int, int], torch.Tensor],
    ):
        self.layers = layers
        self.norms = norms
        self.profile = net_profile
        self.run = run
        self.forks = fork_ends(layers)
        self.norm_layer = [self._index_of(n) for n in norms]

    def _index_of(self, norm: ImageNorm) -> int:
        for index, layer in enumerate(self.layers):
            if layer is norm or (isinstance(layer, nn.Module) and any(m is norm for m in layer.modules())):
                return index
        raise RuntimeError("norm layer outside the generator's layers")

    # -- planning --------------------------------------------------------------------------------
    def open_forks(self, at: int) -> list[int]:
        """Forks whose activation is still needed when layer ``at`` is next to run, outermost first."""
        return [f for f, j in self.forks.items() if f < at <= j]

    def _elements(self, tiles: list[Tile], boundary: int) -> float:
        """Elements of the activation in front of layer ``boundary``, summed over the tiles."""
        if boundary == 0:
            channels, scale = self.profile.in_channels, 1
        else:
            channels, scale = self.profile.layer_scale[boundary - 1]
        return sum(t.area for t in tiles) * channels / (scale * scale)

    def plan(self, tiles: list[Tile]) -> list[Pass]:
        """Keep the activation in front of each norm where there is room; else start again from further back."""
        macs = self.profile.layer_macs
        ram_budget = CPU_CACHE_BUDGET
        disk_room = free_disk() - DISK_MARGIN
        passes: list[Pass] = []
        cache = 0
        held: dict[int, tuple[Place, float]] = {}  # fork -> where its activation is kept, and its elements
        main: tuple[Place, float] | None = None
        for k, at in enumerate(self.norm_layer):
            if at > cache:
                remaining = [f for f in self.open_forks(cache) if self.forks[f] >= at]
                opened = [f for f in self.open_forks(at) if f >= cache]
                live = [held[f] for f in remaining]
                sizes = [self._elements(tiles, f) for f in opened] + [self._elements(tiles, at)]
                places = _place(sizes, live, main, ram_budget, disk_room)
                if places is not None:
                    passes.append(Pass(cache, at, sum(macs[cache:at]), collect=k, keep=places))
                    *fork_places, main_place = places
                    held = {f: held[f] for f in remaining}
                    held.update({f: (p, n) for f, p, n in zip(opened, fork_places, sizes[:-1], strict=True)})
                    main = (main_place, sizes[-1])
                    cache = at
                    continue
            passes.append(Pass(cache, at + 1, sum(macs[cache : at + 1]), collect=k))
        passes.append(Pass(cache, len(self.layers), sum(macs[cache:])))
        return passes

    # -- running -----------------------------------------------------------------------------------
    def steps(self, x: torch.Tensor, core: int, halo: int) -> Iterator[Progress | Finished]:
        """A job: Progress (work done of the total) after every tile, then Finished(the output image)."""
        _, _, height, width = x.shape
        tiles = plan_tiles(height, width, core, halo)
        passes = self.plan(tiles)
        log.info(
            "tiled translation: %d tiles of %d px (+%d px halo) for %d×%d, %d passes",
            len(tiles), core, halo, width, height, len(passes),
        )
        total = sum(p.cost for p in passes) * sum(t.area for t in tiles)
        done = 0.0
        main = TileStore.views([x[..., t.y0 : t.y1, t.x0 : t.x1] for t in tiles])
        forks: list[TileStore] = []  # stores of the forks open at the cache, outermost first
        new: list[TileStore] = []
        out = None
        try:
            for number, step in enumerate(passes, 1):
                began = time.perf_counter()
                open_now = self.open_forks(step.start)
                kept = len([f for f in open_now if self.forks[f] >= step.stop])  # open forks this pass leaves alone
                new = [TileStore(place) for place in step.keep or []]
                norm = None if step.collect is None else self.norms[step.collect]
                if norm is not None:
                    norm.start_collecting()
                if step.keep is None and step.collect is None:
                    out = torch.zeros(1, self.profile.layer_scale[-1][0], height, width)
                for i, t in enumerate(tiles):
                    tile_input = main.get(i)
                    skips = [store.get(i) for store in forks]
                    if step.keep is not None or step.collect is None:  # no later pass reads these again
                        main.drop(i)  # in memory: the old and the new activations never both stand whole
                        for store in forks[kept:]:
                            store.drop(i)
                    if norm is not None:
                        norm.region, norm.tile_size = t.core_in_tile(), t.size
                    if step.keep is not None:
                        y = self.run(tile_input, skips, step.start, step.stop)
                        del tile_input
                        assert norm is not None, "a pass that keeps activations collects a norm"
                        norm.accumulate(y)  # statistics of the activation the next pass starts from
                        for store, skip in zip(new, [*skips[kept:], y], strict=True):
                            store.put(i, skip)
                    elif norm is not None:
                        try:
                            self.run(tile_input, skips, step.start, step.stop)
                        except StopForward:
                            pass
                        else:
                            raise RuntimeError("a statistics pass ran past its norm")
                    else:
                        y = self.run(tile_input, skips, step.start, step.stop)
                        assert out is not None
                        out[..., t.y0 : t.y1, t.x0 : t.x1] += y.float().cpu() * t.weights(height, width, FEATHER)
                    del skips
                    _release_freed_memory()
                    done += step.cost * t.area
                    yield Progress(done, total)
                if norm is not None:
                    norm.freeze()
                if step.keep is not None:
                    main.close()
                    for store in forks[kept:]:
                        store.close()
                    *opened, main = new
                    forks = forks[:kept] + opened
                    new = []
                log.debug("pass %d/%d, %s, layers %d-%d: %.2f s", number, len(passes), step.describe(),
                          step.start, step.stop - 1, time.perf_counter() - began)
            yield Finished(out)
        finally:
            for store in [main, *forks, *new]:
                store.close()
            for n in self.norms:
                n.release()


def _place(
    sizes: list[float],
    live: list[tuple[Place, float]],
    main: tuple[Place, float] | None,
    ram_budget: float,
    disk_room: float,
) -> list[Place] | None:
    """Places for new stores of ``sizes`` elements (the last one replaces ``main``), or None.

    ``live``: stores that stay open meanwhile. In memory: fp32, else fp16, within the budget
    (the old main store is freed tile by tile as the new one fills); on disk: fp16, while the old
    main store's file still exists.
    """
    ram_used = sum(4 * n if p.dtype == torch.float32 else 2 * n for p, n in live if not p.on_disk)
    disk_used = sum(2 * n for p, n in live if p.on_disk)
    if main is not None and main[0].on_disk:
        disk_used += 2 * main[1]
    places = []
    for n in sizes:
        for dtype, size in ((torch.float32, 4), (torch.float16, 2)):
            if ram_used + n * size <= ram_budget:
                places.append(Place(dtype, on_disk=False))
                ram_used += n * size
                break
        else:
            if disk_used + 2 * n > disk_room:
                return None
            places.append(Place(torch.float16, on_disk=True))
            disk_used += 2 * n
    return places
