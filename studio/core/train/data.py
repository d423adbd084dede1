"""Training data for CycleGAN (unpaired) and pix2pix (paired): folders in, [-1, 1] tensors out.

The preprocessing modes are those of the reference pytorch-CycleGAN-and-pix2pix, but the
reference draws crops, flips and unpaired partners from the global RNG, so a resumed run sees
other data than an uninterrupted one. Here every sample is a pure function of (seed, epoch,
position): ``EpochSampler`` yields ``(epoch, index)`` keys in a seeded order and the datasets seed
a private RNG from the key. Resuming after k samples of an epoch is ``start=k``; no DataLoader
state is saved, and the worker count changes nothing.
"""

from __future__ import annotations

import copy
import logging
import os
import random
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, get_worker_info

from studio.core.errors import ImageError
from studio.core.images import load_rgb_uint8, resize_uint8, uint8_to_tensor

from .folders import DataError, FolderScan, match_by_name, scan_folder

log = logging.getLogger(__name__)

__all__ = [
    "MODES", "DataError", "EpochSampler", "FolderScan", "PairedDataset", "Preprocess",
    "UnpairedDataset", "default_workers", "make_loader", "paired", "scan_folder", "unpaired",
]

MODES = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none")
DEFAULT_CACHE_BUDGET = 1 << 30

Key = tuple[int, int]  # (epoch, index)
Group = tuple[Path, ...]  # the files one item is decoded from: (path,) or (path_a, path_b)


@dataclass(frozen=True)
class Preprocess:
    """How an image becomes a training tensor; the modes and defaults of the reference."""

    mode: str = "resize_and_crop"
    load_size: int = 286
    crop_size: int = 256
    flip: bool = True

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown preprocess mode {self.mode!r}; choose one of {', '.join(MODES)}")
        if self.load_size < 1 or self.crop_size < 1:
            raise ValueError(f"load_size and crop_size must be positive, got {self.load_size}, {self.crop_size}")
        if self.mode in ("resize_and_crop", "scale_width_and_crop") and self.load_size < self.crop_size:
            raise ValueError(f"crop_size {self.crop_size} is larger than load_size {self.load_size}")

    @property
    def crops(self) -> bool:
        return "crop" in self.mode

    def fixed_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) after the deterministic resize, before the random crop and flip."""
        load, crop = self.load_size, self.crop_size
        if self.mode == "resize_and_crop":
            return load, load
        if self.mode.startswith("scale_width"):
            width, height = load, int(max(load * height / width, crop))
        elif self.mode == "crop" and min(width, height) < crop:
            scale = crop / min(width, height)  # the reference would crop past the edge into black
            width, height = max(crop, round(width * scale)), max(crop, round(height * scale))
        if not self.crops:
            width, height = multiple_of_4(width), multiple_of_4(height)
        return width, height


def multiple_of_4(n: int) -> int:
    return max(4, int(round(n / 4) * 4))  # round() like the reference's __make_power_2(base=4)


def _area(size: tuple[int, int]) -> int:
    return size[0] * size[1]




class TrainingSet(Dataset):
    """Decoding, caching, substitution of broken files and the seeded augmentation."""

    kind = ""

    def __init__(self, scans: list[FolderScan], preprocess: Preprocess, seed: int) -> None:
        self.scans = scans
        self.preprocess = preprocess
        self.seed = seed
        self.failed: dict[str, str] = {}  # path -> reason, for files of this process only
        self.caching = False
        self._cache: dict[Group, tuple[np.ndarray, ...]] = {}

    def _plan_cache(self, sizes: Iterable[tuple[int, int]], budget: int) -> None:
        # Header sizes ignore EXIF rotation, so take the larger of both orientations.
        total = sum(3 * max(_area(self.preprocess.fixed_size(w, h)), _area(self.preprocess.fixed_size(h, w)))
                    for w, h in sizes)
        self.caching = 0 < total <= budget
        log.info("%s data: %.1f MiB once decoded, %s", self.kind, total / 2**20,
                 "cached in memory" if self.caching else f"over the {budget / 2**20:.0f} MiB cache budget")

    def with_preprocess(self, preprocess: Preprocess) -> TrainingSet:
        """The same files under other preprocessing (e.g. fixed preview samples), without rescanning."""
        other = copy.copy(self)
        other.preprocess = preprocess
        other.caching = False
        other._cache = {}
        other.failed = self.failed  # one record of broken files per process
        return other

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_cache"] = {}  # worker processes started by spawn should not receive a pickled cache
        return state

    def __len__(self) -> int:
        raise NotImplementedError

    def _rng(self, key: Key | int) -> tuple[int, random.Random]:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        return index, random.Random(f"{self.seed}/{epoch}/{index}")  # str seeds hash the same everywhere

    def _decode(self, group: Group) -> tuple[np.ndarray, ...]:
        return (load_rgb_uint8(group[0]),)

    def _fixed(self, group: Group) -> tuple[np.ndarray, ...]:
        images = self._cache.get(group)
        if images is None:
            images = tuple(resize_uint8(im, self.preprocess.fixed_size(im.shape[1], im.shape[0]))
                           for im in self._decode(group))
            # Inside a DataLoader worker, additions would die with the worker at the epoch's end.
            if self.caching and get_worker_info() is None:
                self._cache[group] = images
        return images

    def _load(self, groups: Sequence[Group], index: int, where: str) -> tuple[Group, tuple[np.ndarray, ...]]:
        """``groups[index]`` decoded, or the next group that decodes (wrapping) if a file is broken."""
        for step in range(len(groups)):
            group = groups[(index + step) % len(groups)]
            if any(str(path) in self.failed for path in group):
                continue
            try:
                return group, self._fixed(group)
            except ImageError as exc:
                self.failed[str(exc.path)] = exc.reason
                log.warning("%s; training goes on with the next image instead", exc)
        examples = ", ".join(f"{Path(p).name}: {r}" for p, r in list(self.failed.items())[:3])
        raise DataError(f"{where}: none of the {len(groups)} images can be decoded ({examples})")

    def _augment(self, images: tuple[np.ndarray, ...], rng: random.Random) -> list[torch.Tensor]:
        """The random crop and flip, the same for every image in ``images`` (pix2pix's A and B)."""
        p = self.preprocess
        height, width = images[0].shape[:2]
        x = rng.randint(0, width - p.crop_size) if p.crops else 0
        y = rng.randint(0, height - p.crop_size) if p.crops else 0
        flip = rng.random() < 0.5
        out = []
        for im in images:
            if p.crops:
                im = im[y : y + p.crop_size, x : x + p.crop_size]
            im = resize_uint8(im, (multiple_of_4(im.shape[1]), multiple_of_4(im.shape[0])))
            out.append(uint8_to_tensor(im[:, ::-1] if p.flip and flip else im))
        return out

    def _skipped(self) -> list[tuple[str, str]]:
        return [(str(path), reason) for scan in self.scans for path, reason in scan.skipped]

    def summary(self) -> dict[str, Any]:
        """What the data is, for the model card's provenance and the run log (JSON-friendly)."""
        return {
            "kind": self.kind,
            "items": len(self),
            **self._counts(),
            "folders": {side: str(scan.folder) for side, scan in zip(self._sides(), self.scans, strict=True)},
            "preprocess": asdict(self.preprocess),
            "skipped": self._skipped(),
            "failed": sorted(self.failed.items()),
            "cached": self.caching,
        }

    def _counts(self) -> dict[str, int]:
        return {"A": len(self.scans[0].usable), "B": len(self.scans[1].usable)}

    def _sides(self) -> list[str]:
        return ["A", "B"]


class UnpairedDataset(TrainingSet):
    """CycleGAN data: item i is A[i % len(A)] with a seeded random partner from B."""

    kind = "unpaired"

    def __init__(self, scan_a: FolderScan, scan_b: FolderScan, preprocess: Preprocess, seed: int,
                 cache_budget: int) -> None:
        super().__init__([scan_a, scan_b], preprocess, seed)
        self.groups_a: list[Group] = [(path,) for path in scan_a.usable]
        self.groups_b: list[Group] = [(path,) for path in scan_b.usable]
        self._plan_cache([*scan_a.sizes.values(), *scan_b.sizes.values()], cache_budget)

    def __len__(self) -> int:
        return max(len(self.groups_a), len(self.groups_b))

    def __getitem__(self, key: Key | int) -> dict[str, Any]:
        index, rng = self._rng(key)
        partner = rng.randrange(len(self.groups_b))
        (path_a,), images_a = self._load(self.groups_a, index % len(self.groups_a), str(self.scans[0].folder))
        (path_b,), images_b = self._load(self.groups_b, partner, str(self.scans[1].folder))
        [a] = self._augment(images_a, rng)
        [b] = self._augment(images_b, rng)
        return {"A": a, "B": b, "A_path": str(path_a), "B_path": str(path_b)}


class PairedDataset(TrainingSet):
    """pix2pix data: aligned (A, B) images that get the same crop and flip."""

    kind = "paired"

    def __init__(self, groups: list[Group], scans: list[FolderScan], preprocess: Preprocess, seed: int,
                 cache_budget: int, unmatched: list[tuple[Path, str]] | None = None) -> None:
        super().__init__(scans, preprocess, seed)
        self.groups = groups  # (path_a, path_b), or (path_ab,) for side-by-side images
        self.held_out: PairedDataset | None = None  # pairs kept for the card's figures (fast copies)
        self.side_by_side = len(scans) == 1
        self.unmatched = unmatched or []
        sizes = [scans[0].sizes[group[0]] for group in groups]
        if self.side_by_side:
            sizes = [(w // 2, h) for w, h in sizes] * 2
        else:
            sizes *= 2  # B is brought to A's size
        self._plan_cache(sizes, cache_budget)

    def __len__(self) -> int:
        return len(self.groups)

    def _decode(self, group: Group) -> tuple[np.ndarray, ...]:
        if self.side_by_side:
            ab = load_rgb_uint8(group[0])
            half = ab.shape[1] // 2
            if half == 0:
                raise ImageError(group[0], "too narrow to split into A and B halves")
            return np.ascontiguousarray(ab[:, :half]), np.ascontiguousarray(ab[:, half : 2 * half])
        a, b = load_rgb_uint8(group[0]), load_rgb_uint8(group[1])
        if a.shape != b.shape:
            log.debug("%s: resized from %s to the size of %s", group[1], b.shape[1::-1], group[0])
            b = resize_uint8(b, (a.shape[1], a.shape[0]))
        return a, b

    def __getitem__(self, key: Key | int) -> dict[str, Any]:
        index, rng = self._rng(key)
        group, images = self._load(self.groups, index, " / ".join(str(scan.folder) for scan in self.scans))
        a, b = self._augment(images, rng)
        return {"A": a, "B": b, "A_path": str(group[0]), "B_path": str(group[-1])}

    def _skipped(self) -> list[tuple[str, str]]:
        return super()._skipped() + [(str(path), reason) for path, reason in self.unmatched]

    def _counts(self) -> dict[str, int]:
        held = {} if self.held_out is None else {"held_out": len(self.held_out)}
        if self.side_by_side:
            return {"A": len(self.groups), "B": len(self.groups), "pairs": len(self.groups), **held}
        return {**super()._counts(), "pairs": len(self.groups), **held}

    def _sides(self) -> list[str]:
        return ["AB"] if self.side_by_side else ["A", "B"]


class SingleFolderDataset(TrainingSet):
    """VAE and flow data: the images of one folder; ``held_out`` holds a split kept for evaluation."""

    kind = "single-folder"

    def __init__(self, groups: list[Group], scan: FolderScan, preprocess: Preprocess, seed: int,
                 cache_budget: int) -> None:
        super().__init__([scan], preprocess, seed)
        self.groups = groups
        self.held_out: SingleFolderDataset | None = None
        self._plan_cache([scan.sizes[group[0]] for group in groups], cache_budget)

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, key: Key | int) -> dict[str, Any]:
        index, rng = self._rng(key)
        (path,), images = self._load(self.groups, index, str(self.scans[0].folder))
        [a] = self._augment(images, rng)
        return {"A": a, "A_path": str(path)}

    def _counts(self) -> dict[str, int]:
        held = len(self.held_out) if self.held_out is not None else 0
        return {"A": len(self.groups), "held_out": held}

    def _sides(self) -> list[str]:
        return ["A"]


def single(folder: str | Path, preprocess: Preprocess, seed: int = 0, held_out_fraction: float = 0.1,
           cache_budget: int = DEFAULT_CACHE_BUDGET) -> SingleFolderDataset:
    """One folder for training, with a seeded ``held_out`` split (10%, at least one image when there are two)."""
    scan = scan_folder(folder)
    paths = sorted(scan.usable)
    random.Random(f"held-out/{seed}").shuffle(paths)
    count = 0 if len(paths) < 2 else max(1, round(len(paths) * held_out_fraction))
    train = SingleFolderDataset([(p,) for p in paths[count:]], scan, preprocess, seed, cache_budget)
    if count:
        train.held_out = SingleFolderDataset([(p,) for p in paths[:count]], scan, preprocess, seed, cache_budget)
    return train


def unpaired(dir_a: str | Path, dir_b: str | Path, preprocess: Preprocess, seed: int = 0,
             cache_budget: int = DEFAULT_CACHE_BUDGET) -> UnpairedDataset:
    """CycleGAN data from two folders (searched recursively); raises ``DataError`` if one is unusable."""
    return UnpairedDataset(scan_folder(dir_a), scan_folder(dir_b), preprocess, seed, cache_budget)


def paired(dir_a: str | Path | None = None, dir_b: str | Path | None = None, *,
           pairs: str | Path | None = None, preprocess: Preprocess, seed: int = 0,
           cache_budget: int = DEFAULT_CACHE_BUDGET) -> PairedDataset:
    """pix2pix data from two folders matched by name, or from ``pairs``, one folder of AB images.

    Names match by path relative to the folder without extension (``x/1.png`` ~ ``x/1.jpg``), then
    by bare file name (``x/1.png`` ~ ``y/1.jpg``) for what is left. Side-by-side images hold A in the
    left half and B in the right half, as the reference's aligned datasets do.
    """
    folders = dir_a is not None or dir_b is not None
    if (pairs is not None) == folders or (folders and (dir_a is None or dir_b is None)):
        raise ValueError("give either both dir_a and dir_b, or pairs")
    if pairs is not None:
        scan = scan_folder(pairs)
        groups: list[Group] = [(path,) for path in scan.usable]
        return PairedDataset(groups, [scan], preprocess, seed, cache_budget)
    scan_a, scan_b = scan_folder(dir_a), scan_folder(dir_b)  # type: ignore[arg-type]
    matched, unmatched = match_by_name(scan_a, scan_b)
    return PairedDataset(list(matched), [scan_a, scan_b], preprocess, seed, cache_budget, unmatched)


class EpochSampler(Sampler[Key]):
    """The ``(epoch, index)`` keys of one epoch in a seeded order, from position ``start`` on.

    Under DDP each of ``world_size`` ranks takes every ``world_size``-th key after ``start``, so
    together they walk the same epoch order as a single process would.
    """

    def __init__(self, n: int, seed: int, epoch: int, start: int = 0, rank: int = 0, world_size: int = 1) -> None:
        super().__init__()
        if not 0 <= start <= n:
            raise ValueError(f"start {start} is outside an epoch of {n} items")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside a world of {world_size}")
        self.n, self.seed, self.epoch, self.start = n, seed, epoch, start
        self.rank, self.world_size = rank, world_size

    def order(self) -> list[int]:
        """The whole epoch's permutation of range(n); Python's shuffle is stable across versions."""
        order = list(range(self.n))
        random.Random(f"order/{self.seed}/{self.epoch}").shuffle(order)
        return order

    def __iter__(self) -> Iterator[Key]:
        return ((self.epoch, index) for index in self.order()[self.start + self.rank :: self.world_size])

    def __len__(self) -> int:
        return len(range(self.start + self.rank, self.n, self.world_size))


def default_workers() -> int:
    """No worker processes in a frozen app (PyInstaller) or on two cores; else up to four."""
    cpus = os.cpu_count() or 1
    if getattr(sys, "frozen", False) or cpus <= 2:
        return 0
    return min(4, cpus - 1)


def make_loader(dataset: Dataset, *, batch_size: int, seed: int, epoch: int, start: int = 0,
                workers: int | None = None, device: torch.device | str | None = None,
                rank: int = 0, world_size: int = 1) -> DataLoader:
    """Batches of one epoch, skipping its first ``start`` samples (steps done × batch size × world size)."""
    workers = default_workers() if workers is None else workers
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=EpochSampler(len(dataset), seed, epoch, start, rank, world_size),  # type: ignore[arg-type]
        # Its own generator: the loader draws a worker base seed per epoch, and drawing it from the
        # global RNG would shift dropout and the other global draws of a resumed run.
        generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch),
        num_workers=workers,
        persistent_workers=False,
        prefetch_factor=2 if workers > 0 else None,
        pin_memory=device is not None and torch.device(device).type == "cuda",
        drop_last=False,
    )
