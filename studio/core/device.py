"""One device policy: CUDA, then Apple MPS, then CPU, overridable everywhere."""

from __future__ import annotations

import logging

import torch

from .errors import StudioError

log = logging.getLogger(__name__)


def pick_device(requested: str | None = None) -> torch.device:
    """Return the device to use. ``None`` or ``"auto"`` picks the best available one."""
    if requested in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(requested)
    except RuntimeError as exc:
        raise StudioError(f"unknown device {requested!r} (use auto, cpu, cuda, cuda:N or mps)") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise StudioError(f"device {requested!r} asked for, but CUDA is not available on this machine")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise StudioError(f"device {requested!r} asked for, but Apple MPS is not available on this machine")
    return device


def available() -> list[str]:
    """The device choices this machine offers, as :func:`pick_device` takes them ("auto" first)."""
    found = ["auto", "cpu"]
    if torch.cuda.is_available():
        found.append("cuda")
        count = torch.cuda.device_count()
        if count > 1:
            found.extend(f"cuda:{i}" for i in range(count))
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return found


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The reduced precision that pays off on ``device`` for inference, or None for full fp32."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return None


def describe(device: torch.device) -> str:
    """A short human description, e.g. for the status bar or a model card."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return device.type
