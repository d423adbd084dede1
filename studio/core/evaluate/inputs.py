"""What the evaluators share: the job's context, image selection and reading, rounding."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import SupportsFloat

import numpy as np
import torch

from studio.core.errors import ImageError, StudioError
from studio.core.images import list_images, read_image, to_uint8
from studio.core.jobs import Control, Progress
from studio.core.store import LoadedModel


class EvalError(StudioError):
    """An evaluation cannot run (no images, no matching pairs, a model without the needed part)."""


@dataclass
class Counter:
    """Counts the units of an evaluation and makes their Progress records."""

    total: int
    done: int = 0

    def step(self, message: str) -> Progress:
        self.done += 1
        return Progress(self.done, self.total, message)


@dataclass
class Context:
    """One evaluation: the model, where it runs, its control, and the files it had to skip."""

    model: LoadedModel
    device: torch.device
    control: Control
    skipped: dict[str, str] = field(default_factory=dict)


def select(files: list[Path], max_images: int | None) -> list[Path]:
    """At most ``max_images`` files, evenly spread over the sorted list (not just the first ones)."""
    if max_images is None or len(files) <= max_images:
        return files
    if max_images < 1:
        raise EvalError("--max-images must be at least 1")
    index = np.unique(np.linspace(0, len(files) - 1, max_images).round().astype(int))
    return [files[i] for i in index]


def folder_images(folder: str | Path, what: str, max_images: int | None) -> list[Path]:
    """The images of ``folder`` (``what``: the option that named it), or EvalError."""
    try:
        found = list_images(folder)
    except ImageError as exc:
        raise EvalError(f"{what} {exc}") from exc
    if not found:
        raise EvalError(f"{what} {folder}: no images found")
    return select(found, max_images)


def read(ctx: Context, path: Path) -> np.ndarray | None:
    """The image's RGB in [0, 1], or None after recording why it was skipped."""
    try:
        return read_image(path).rgb
    except ImageError as exc:
        ctx.skipped[str(path)] = exc.reason
        return None


def quantised(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` as a saved 8-bit file would hold it, back in [0, 1]."""
    return to_uint8(rgb).astype(np.float32) / 255.0


def feature_tensor(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) in [0, 1] -> (1, 3, H, W) float, the feature extractors' input (not rescaled to [-1, 1])."""
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float()


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def rounded(value: SupportsFloat | None, digits: int = 5) -> float | None:
    return None if value is None else float(round(float(value), digits))


def finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def mean_finite(values: list[float]) -> float | None:
    """The mean PSNR over images that are not identical (whose PSNR is infinite), or None."""
    finite = [v for v in values if np.isfinite(v)]
    return rounded(np.mean(finite)) if finite else None
