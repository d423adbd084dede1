"""Self-describing training checkpoints, written atomically and loaded without unpickling code."""

from __future__ import annotations

import logging
import pickle
import random
from pathlib import Path
from typing import Any

import torch

from studio.core.errors import ModelError
from studio.core.fileio import atomic_path

log = logging.getLogger(__name__)

FORMAT = 1


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": _python_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _python_state() -> list:
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def save(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` (tensors and plain Python types only) atomically: temp file, fsync, rename."""
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, **payload}, tmp)
    log.debug("checkpoint written: %s", path)


def load(path: Path) -> dict[str, Any]:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ModelError(f"{path}: refused: the checkpoint contains objects that would run code") from exc
    except (OSError, RuntimeError, EOFError) as exc:
        raise ModelError(f"{path}: unreadable checkpoint ({exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelError(f"{path}: not a Studio training checkpoint (format {payload.get('format')!r})")
    return payload
