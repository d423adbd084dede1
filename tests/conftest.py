"""Shared fixtures: every test gets its own STUDIO_HOME and no built-in models unless it asks."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(autouse=True)
def studio_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("studio_home")
    builtin = tmp_path_factory.mktemp("builtin_models")
    monkeypatch.setenv("STUDIO_HOME", str(home))
    monkeypatch.setenv("STUDIO_BUILTIN_MODELS", str(builtin))
    return home


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module of tiny tensors: they gain nothing from threads, and on a busy 2-core
    machine OpenMP barriers stall them badly. Restored after the module (use with
    ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def builtin_dir() -> Path:
    return Path(os.environ["STUDIO_BUILTIN_MODELS"])


def photo(name: str = "astronaut", size: tuple[int, int] | None = None) -> np.ndarray:
    """A real photo from scikit-image as float32 (H, W, 3) in [0, 1], optionally resized to (w, h)."""
    from PIL import Image
    from skimage import data

    arr = getattr(data, name)()
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    arr = arr[..., :3]
    if size is not None:
        arr = np.asarray(Image.fromarray(arr).resize(size, Image.BICUBIC))
    return arr.astype(np.float32) / 255.0


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)
