"""Inference: translate photos at their native size, whole or in tiles, on any device.

A model whose card has a working scale (:mod:`studio.core.translate.guided`) is run on the photo
downscaled to that size, and its colours are carried back to full size by a guided filter; the
caller can ask for native size (``working_size=0``) or another working size.

Whole-image translation pads the photo to what the architecture needs and crops back.
Photos larger than memory allows are translated in overlapping tiles, blended with feathered
weights, with every normalisation layer using the statistics of the *whole* image
(see :mod:`studio.core.translate.tiling`), so tiled output matches whole-image output instead of showing
seams and a colour shift per tile. Tiled translation reports progress and can be cancelled.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from studio.core import device as devices
from studio.core import jobs
from studio.core.errors import Cancelled, ImageError, StudioError
from studio.core.images import (
    IMAGE_EXTENSIONS,
    image_to_tensor,
    list_images,
    read_image,
    tensor_to_image,
    write_image,
)
from studio.core.jobs import Control, Finished, Item, Job, Log, Progress
from studio.core.store import LoadedModel

from . import layers, tiling
from .guided import WorkingScale, downscale, guided_upsample
from .image_norms import image_norms, inference_copy

log = logging.getLogger(__name__)

CPU_TILE_BUDGET = 1 << 30  # bytes of activations one tile may take on the CPU


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    ph, pw = _round_up(h, multiple) - h, _round_up(w, multiple) - w
    if ph == 0 and pw == 0:
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


class Translator:
    """Runs one direction of an image-to-image model on one device."""

    def __init__(
        self,
        model: LoadedModel,
        direction: str = "a2b",
        device: str | torch.device | None = None,
        precision: str = "auto",
        dropout: bool = False,
        memory_budget: int | None = None,
        working_size: int | WorkingScale | None = None,
    ):
        """``working_size``: None translates at the card's working scale, if it has one; 0 at the
        photo's own size; N at a short side of N px (with the card's filter settings, if any); a
        :class:`WorkingScale` as it says."""
        self.model = model
        self.direction = direction
        self.device = device if isinstance(device, torch.device) else devices.pick_device(device)
        self.dtype = _precision_dtype(precision, self.device)
        generator = model.generator(direction)
        self.net = inference_copy(generator, dropout=dropout).to(self.device)
        if self.device.type == "cuda":
            self.net = self.net.to(memory_format=torch.channels_last)
        self.layers = layers.flatten(self.net)
        self.profile = layers.profile(self.net, self.layers)
        self.norms = image_norms(self.net)
        self.memory_budget = memory_budget or _default_budget(self.device)
        self.working = _working_scale(model.info.card, working_size)
        log.info(
            "translator %s %s on %s (%s), receptive radius %d px",
            model.info.name, direction, devices.describe(self.device), self.dtype or "fp32",
            self.profile.receptive_radius,
        )

    # -- public API ----------------------------------------------------------------------------
    def auto_tile(self, height: int, width: int) -> int:
        """0 when the whole image fits the memory budget, else a tile (core) size in pixels."""
        if height * width * self.profile.bytes_per_pixel <= self.memory_budget:
            return 0
        side = int(math.sqrt(self.memory_budget / self.profile.bytes_per_pixel)) - 2 * self.halo
        m = self.profile.size_multiple
        return max(m * 2, side // m * m)

    def tile_for(self, height: int, width: int, tile: int | None = None) -> int:
        """The tile core a translation of that size uses: 0 for the whole image.

        ``tile`` as :meth:`translate_tensor` takes it (None: by the memory budget); a tile that
        covers the (padded) image means the whole image.
        """
        m = self.profile.size_multiple
        if tile is None:
            tile = self.auto_tile(height, width)
        core = _round_up(tile, m) if tile else 0
        return core if core and (core < _round_up(height, m) or core < _round_up(width, m)) else 0

    def network_size(self, height: int, width: int) -> tuple[int, int]:
        """The size the network runs at for a photo of that size (smaller at a working scale)."""
        if self.working is not None and self.working.applies(height, width):
            return self.working.small_size(height, width)
        return height, width

    @property
    def halo(self) -> int:
        m = self.profile.size_multiple
        return _round_up(self.profile.receptive_radius + tiling.FEATHER, m)

    def translate_tensor(self, x: torch.Tensor, tile: int | None = None, *, control: Control | None = None) -> torch.Tensor:
        """(1, C, H, W) in [-1, 1] on the CPU -> (1, C', H, W) in [-1, 1] on the CPU.

        ``tile``: None decides by the memory budget; 0 never tiles; N uses N-pixel tile cores.
        A tiled translation checks ``control`` (pause, cancel) after every tile.
        """
        return jobs.run(self.steps(x, tile), control=control)

    def steps(self, x: torch.Tensor, tile: int | None = None) -> Job:
        """:meth:`translate_tensor` as a job: Progress after every tile, then Finished(the output)."""
        height, width = x.shape[-2:]
        if self.working is None or not self.working.applies(height, width):
            yield from self._network_steps(x, tile)  # ends with its own Finished
            return
        photo = (x.float() + 1.0) / 2.0
        small = downscale(photo, self.working.small_size(height, width)).clamp_(0.0, 1.0)
        small_out = yield from jobs.nested(self._network_steps(small * 2.0 - 1.0, tile))
        out = guided_upsample(small, (small_out + 1.0) / 2.0, photo, self.working.radius, self.working.eps)
        yield Finished(out * 2.0 - 1.0)

    def _network_steps(self, x: torch.Tensor, tile: int | None) -> Job:
        height, width = x.shape[-2:]
        core = self.tile_for(height, width, tile)
        padded = _pad_to_multiple(x, self.profile.size_multiple)
        if core:
            halo = min(self.halo, core)
            run = tiling.TiledRun(self.layers, self.norms, self.profile, self._run)
            out = yield from jobs.nested(run.steps(padded, core, halo))
        else:
            out = self._whole(padded).float().cpu()
        del padded
        yield Finished(out[..., :height, :width])

    def translate_array(self, rgb: np.ndarray, tile: int | None = None, *, control: Control | None = None) -> np.ndarray:
        """(H, W, 3) in [0, 1] -> (H, W, 3) in [0, 1]; ``tile`` and ``control`` as for :meth:`translate_tensor`."""
        return jobs.run(self.array_steps(rgb, tile), control=control)

    def array_steps(self, rgb: np.ndarray, tile: int | None = None) -> Job:
        """:meth:`translate_array` as a job, like :meth:`steps`."""
        out = yield from jobs.nested(self.steps(image_to_tensor(rgb), tile))
        yield Finished(tensor_to_image(out))

    def translate_file(self, source: Path, target: Path, tile: int | None = None, *,
                       control: Control | None = None) -> Path:
        """Read, translate and write one file (alpha re-attached); ``tile`` and ``control`` as for
        :meth:`translate_tensor`."""
        return jobs.run(self.file_steps(source, target, tile), control=control)

    def file_steps(self, source: Path, target: Path, tile: int | None = None) -> Job:
        """:meth:`translate_file` as a job, like :meth:`steps`."""
        image = read_image(source)
        x = image_to_tensor(image.rgb)
        alpha = image.alpha
        del image  # large photos: keep one copy of the pixels, not two
        out = yield from jobs.nested(self.steps(x, tile))
        del x
        rgb = tensor_to_image(out)
        del out
        write_image(target, rgb, alpha)
        yield Finished(target)

    # -- internals -----------------------------------------------------------------------------
    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device).float()  # kept activations may be stored in fp16 to save memory
        if self.device.type == "cuda" and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    @torch.inference_mode()
    def _whole(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype is not None):
            return self.net(self._prepare(x))

    @torch.inference_mode()
    def _run(self, x: torch.Tensor, skips: list[torch.Tensor], start: int, stop: int) -> torch.Tensor:
        """Layers ``start`` .. ``stop - 1`` of one tile (see :func:`studio.core.translate.layers.run_layers`)."""
        skips[:] = [self._prepare(s) for s in skips]
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype is not None):
            return layers.run_layers(self.layers[start:stop], self._prepare(x), skips)


def _working_scale(card: dict, working_size: int | WorkingScale | None) -> WorkingScale | None:
    if isinstance(working_size, WorkingScale):
        return working_size
    from_card = WorkingScale.from_card(card)
    if working_size is None:
        return from_card
    if working_size == 0:
        return None
    if from_card is None:
        return WorkingScale(working_size)
    return WorkingScale(working_size, from_card.radius, from_card.eps)


def _precision_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    if precision == "auto":
        return devices.autocast_dtype(device)
    table = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}
    if precision not in table:
        raise StudioError(f"unknown precision {precision!r} (use auto, fp32, fp16 or bf16)")
    if device.type == "cpu" and precision == "fp16":
        raise StudioError("fp16 is not supported on the CPU; use fp32 or bf16")
    return table[precision]


def _default_budget(device: torch.device) -> int:
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free * 0.5)
    return CPU_TILE_BUDGET


def _within_photo(progress: Progress, *, done: int, total: int, name: str, started: float) -> Progress:
    """The batch's progress while photo ``done + 1`` reports its tiles."""
    return Progress(done, total, name, part=progress.fraction, stats={"elapsed": time.monotonic() - started})


# -- batch translation as a job ------------------------------------------------------------------

def collect_inputs(inputs: Iterable[str | Path]) -> list[tuple[Path, Path]]:
    """Expand files and folders into ``(file, path relative to its input)`` pairs."""
    found: list[tuple[Path, Path]] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found.extend((f, f.relative_to(item)) for f in list_images(item))
        else:
            found.append((item, Path(item.name)))
    return found


def output_path(relative: Path, out: Path, single_file: bool) -> Path:
    if single_file:
        return out
    suffix = relative.suffix.lower()
    if suffix not in IMAGE_EXTENSIONS or suffix == ".gif":
        suffix = ".png"  # GIF would quantise the result to 256 colours
    return out / relative.with_suffix(suffix)


def translate_job(
    translator: Translator,
    inputs: Iterable[str | Path],
    out: str | Path,
    *,
    tile: int | None = None,
    control: Control | None = None,
) -> Job:
    """Translate files and folders. Unreadable files are skipped and reported; the rest all produce output.

    ``out`` is a file when there is exactly one input file and ``out`` has an image extension,
    else a folder (created), mirroring the folder structure of the inputs.
    """
    control = control or Control()
    out = Path(out)
    paths = [Path(i) for i in inputs]
    items = collect_inputs(paths)
    single = len(paths) == 1 and not paths[0].is_dir() and out.suffix.lower() in IMAGE_EXTENSIONS
    done = 0
    failed: list[tuple[str, str]] = []
    written: list[str] = []
    started = time.monotonic()
    yield Progress(0, len(items), "starting")
    for source, relative in items:
        try:
            control.checkpoint()
        except Cancelled:
            yield Log("warning", f"cancelled after {done} of {len(items)} files")
            yield Finished({"written": written, "failed": failed, "cancelled": True})
            return
        target = output_path(relative, out, single)
        try:
            yield from jobs.nested(
                translator.file_steps(source, target, tile=tile), control,
                partial(_within_photo, done=done, total=len(items), name=source.name, started=started),
            )
        except Cancelled:
            yield Log("warning", f"cancelled during {source.name}, after {done} of {len(items)} files")
            yield Finished({"written": written, "failed": failed, "cancelled": True})
            return
        except ImageError as exc:
            failed.append((str(source), exc.reason))
            yield Item(str(source), error=exc.reason)
        else:
            written.append(str(target))
            yield Item(str(source), output=str(target))
        done += 1
        yield Progress(done, len(items), source.name, stats={"elapsed": time.monotonic() - started})
    yield Finished({"written": written, "failed": failed, "cancelled": False})
