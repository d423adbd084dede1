"""Inference: translate photos at their native size, whole or in tiles, on any device.

Whole-image translation pads the photo to what the architecture needs and crops back.
Tiled translation (for photos larger than memory allows) runs overlapping tiles and blends them
with feathered weights; every normalisation layer uses statistics of the *whole* image, gathered
tile by tile before they are needed (see :mod:`studio.core.norms`), so tiled output matches
whole-image output instead of showing seams and a colour shift per tile.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import device as devices
from .errors import Cancelled, ImageError, StudioError
from .images import IMAGE_EXTENSIONS, image_to_tensor, list_images, read_image, tensor_to_image, write_image
from .jobs import Control, Event, progress
from .norms import ImageNorm, StopForward, image_norms, inference_copy
from .store import LoadedModel

log = logging.getLogger(__name__)

FEATHER = 16  # pixels of blending on each side of a seam between tile cores
CPU_TILE_BUDGET = 1 << 30  # bytes of activations one tile may take on the CPU
CPU_CACHE_BUDGET = 640 << 20  # bytes of cached intermediate activations while gathering statistics


@dataclass
class NetProfile:
    """What tiling needs to know about a generator, found by a shape-only pass on the meta device."""

    size_multiple: int
    receptive_radius: int  # pixels of context one output pixel depends on, each side (upper bound)
    bytes_per_pixel: int  # rough peak activation memory per input pixel at fp32
    stage_scale: list[tuple[int, int]]  # per stage: (channels, downscale) of its output


def _stages(net: nn.Module) -> list[nn.Module]:
    """Top-level pieces of a generator that can be resumed one after the other."""
    body = getattr(net, "model", None)
    return list(body) if isinstance(body, nn.Sequential) else [net]


def profile(net: nn.Module) -> NetProfile:
    multiple = int(getattr(net, "size_multiple", 4))
    side = max(multiple * 2, 64)
    meta = copy.deepcopy(net).to("meta")
    leaves: list[tuple[nn.Module, torch.Size]] = []
    hooks = [
        m.register_forward_hook(lambda mod, _inp, out: leaves.append((mod, out.shape)))
        for m in meta.modules()
        if not list(m.children())
    ]
    stage_shapes: list[tuple[int, int]] = []
    x = torch.empty(1, _in_channels(net), side, side, device="meta")
    with torch.no_grad():
        for stage in _stages(meta):
            x = stage(x)
            stage_shapes.append((x.shape[1], max(1, side // x.shape[-1])))
    for h in hooks:
        h.remove()
    radius, stride, peak = 0.0, 1.0, 0.0
    for mod, out in leaves:
        if isinstance(mod, nn.Conv2d):
            k, s, d = mod.kernel_size[0], mod.stride[0], mod.dilation[0]
            radius += (k - 1) // 2 * d * stride
            stride *= s
        elif isinstance(mod, nn.ConvTranspose2d):
            k, s = mod.kernel_size[0], mod.stride[0]
            radius += (math.ceil((k - 1) / (2 * s)) + 1) * stride
            stride /= s
        scale = side / out[-1] if len(out) == 4 else 1
        peak = max(peak, out[1] / (scale * scale) if len(out) == 4 else 0)
    return NetProfile(
        size_multiple=multiple,
        receptive_radius=int(math.ceil(radius)),
        bytes_per_pixel=int(peak * 4 * 3) + 64,
        stage_scale=stage_shapes,
    )


def _in_channels(net: nn.Module) -> int:
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            return m.in_channels
    return 3


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
    ):
        self.model = model
        self.direction = direction
        self.device = device if isinstance(device, torch.device) else devices.pick_device(device)
        self.dtype = _precision_dtype(precision, self.device)
        generator = model.generator(direction)
        self.net = inference_copy(generator, dropout=dropout).to(self.device)
        if self.device.type == "cuda":
            self.net = self.net.to(memory_format=torch.channels_last)
        self.profile = profile(self.net)
        self.norms = image_norms(self.net)
        self.stages = _stages(self.net)
        self.memory_budget = memory_budget or _default_budget(self.device)
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

    @property
    def halo(self) -> int:
        m = self.profile.size_multiple
        return _round_up(self.profile.receptive_radius + FEATHER, m)

    def translate_tensor(self, x: torch.Tensor, tile: int | None = None) -> torch.Tensor:
        """(1, C, H, W) in [-1, 1] on the CPU -> (1, C', H, W) in [-1, 1] on the CPU.

        ``tile``: None decides by the memory budget; 0 never tiles; N uses N-pixel tile cores.
        """
        height, width = x.shape[-2:]
        if tile is None:
            tile = self.auto_tile(height, width)
        padded = _pad_to_multiple(x, self.profile.size_multiple)
        with torch.inference_mode():
            if tile and (tile < padded.shape[-2] or tile < padded.shape[-1]):
                out = self._tiled(padded, _round_up(tile, self.profile.size_multiple))
            else:
                out = self._run(padded.to(self.device), 0, len(self.stages)).float().cpu()
        return out[..., :height, :width]

    def translate_array(self, rgb: np.ndarray, tile: int | None = None) -> np.ndarray:
        return tensor_to_image(self.translate_tensor(image_to_tensor(rgb), tile=tile))

    def translate_file(self, source: Path, target: Path, tile: int | None = None) -> Path:
        image = read_image(source)
        x = image_to_tensor(image.rgb)
        alpha = image.alpha
        del image  # large photos: keep one copy of the pixels, not two
        out = tensor_to_image(self.translate_tensor(x, tile=tile))
        del x
        write_image(target, out, alpha)
        return target

    # -- internals -----------------------------------------------------------------------------
    def _run(self, x: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        x = x.float()  # cached activations may be stored in fp16 to save memory
        if self.device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype is not None):
            for stage in self.stages[start:stop]:
                x = stage(x)
        return x

    def _tiled(self, x: torch.Tensor, core: int) -> torch.Tensor:
        """Tiled forward pass with whole-image normalisation statistics."""
        _, _, height, width = x.shape
        halo = min(self.halo, _round_up(core, self.profile.size_multiple))
        tiles = _plan_tiles(height, width, core, halo)
        log.info("tiled translation: %d tiles of %d px (+%d px halo) for %d×%d", len(tiles), core, halo, width, height)
        norm_stage = [self._stage_of(n) for n in self.norms]
        cache = [x[..., t.y0 : t.y1, t.x0 : t.x1] for t in tiles]
        cache_stage = 0
        try:
            for k, norm in enumerate(self.norms):
                norm.start_collecting()
                for t, tile_input in zip(tiles, cache, strict=True):
                    norm.region = t.core_in_tile()
                    norm.tile_size = (t.y1 - t.y0, t.x1 - t.x0)
                    try:
                        self._run(tile_input.to(self.device), cache_stage, norm_stage[k] + 1)
                    except StopForward:
                        pass
                norm.freeze()
                upto = norm_stage[k + 1] if k + 1 < len(self.norms) else len(self.stages)
                if upto > cache_stage:
                    dtype = self._cache_dtype(tiles, upto)
                    if dtype is not None:
                        # In place, tile by tile: the old and the new cache never both stand whole in memory.
                        for i, c in enumerate(cache):
                            cache[i] = None
                            cache[i] = self._run(c.to(self.device), cache_stage, upto).to("cpu", dtype)
                            del c
                        cache_stage = upto
            out = torch.zeros(1, self.profile.stage_scale[-1][0], height, width)
            for t, tile_input in zip(tiles, cache, strict=True):
                y = self._run(tile_input.to(self.device), cache_stage, len(self.stages))
                weight = t.weights(height, width, FEATHER)
                out[..., t.y0 : t.y1, t.x0 : t.x1] += y.float().cpu() * weight
            return out
        finally:
            for norm in self.norms:
                norm.release()

    def _stage_of(self, norm: ImageNorm) -> int:
        for index, stage in enumerate(self.stages):
            if any(m is norm for m in stage.modules()):
                return index
        raise RuntimeError("norm layer outside every stage")

    def _cache_dtype(self, tiles: list[_Tile], upto: int) -> torch.dtype | None:
        channels, scale = self.profile.stage_scale[upto - 1]
        elements = sum((t.y1 - t.y0) * (t.x1 - t.x0) for t in tiles) * channels / (scale * scale)
        budget = CPU_CACHE_BUDGET if self.device.type == "cpu" else self.memory_budget
        for dtype, size in ((torch.float32, 4), (torch.float16, 2)):
            if elements * size <= budget:
                return dtype
        return None


@dataclass
class _Tile:
    y0: int
    y1: int
    x0: int
    x1: int  # the tile, in padded-image pixels
    cy0: int
    cy1: int
    cx0: int
    cx1: int  # its core: the cores partition the image

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


def _plan_tiles(height: int, width: int, core: int, halo: int) -> list[_Tile]:
    tiles = []
    for cy0 in range(0, height, core):
        for cx0 in range(0, width, core):
            cy1, cx1 = min(cy0 + core, height), min(cx0 + core, width)
            tiles.append(
                _Tile(
                    max(0, cy0 - halo), min(height, cy1 + halo), max(0, cx0 - halo), min(width, cx1 + halo),
                    cy0, cy1, cx0, cx1,
                )
            )
    return tiles


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
) -> Iterator[Event]:
    """Translate files and folders. Unreadable files are skipped and reported; the rest all produce output.

    ``out`` is a file when there is exactly one input file and ``out`` has an image extension,
    else a folder (created), mirroring the folder structure of the inputs.
    """
    control = control or Control()
    out = Path(out)
    inputs = [Path(i) for i in inputs]
    items = collect_inputs(inputs)
    single = len(inputs) == 1 and not inputs[0].is_dir() and out.suffix.lower() in IMAGE_EXTENSIONS
    done, failed, written = 0, [], []
    started = time.monotonic()
    yield progress(0, len(items), "starting")
    for source, relative in items:
        try:
            control.checkpoint()
        except Cancelled:
            yield Event("log", {"level": "warning", "message": f"cancelled after {done} of {len(items)} files"})
            yield Event("finished", {"written": written, "failed": failed, "cancelled": True})
            return
        target = output_path(relative, out, single)
        try:
            translator.translate_file(source, target, tile=tile)
        except ImageError as exc:
            failed.append((str(source), exc.reason))
            yield Event("item", {"path": str(source), "error": exc.reason})
        else:
            written.append(str(target))
            yield Event("item", {"path": str(source), "output": str(target)})
        done += 1
        yield progress(done, len(items), source.name, elapsed=time.monotonic() - started)
    yield Event("finished", {"written": written, "failed": failed, "cancelled": False})
