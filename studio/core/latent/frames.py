"""Latents and frames as files: uint8 RGB, strips, GIF loops, frame folders, saved directions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor

from studio.core.errors import ImageError
from studio.core.fileio import atomic_path
from studio.core.images import tensor_to_uint8, write_image

from .model import LatentModel
from .shared import LatentError


def to_rgb8(images: Tensor) -> np.ndarray:
    """(N, 3, H, W) or (3, H, W) in [-1, 1] -> (N, H, W, 3) or (H, W, 3) uint8."""
    return tensor_to_uint8(images).movedim(-3, -1).contiguous().cpu().numpy()


def save_frames(frames: Tensor, out: str | Path, duration_ms: int = 80) -> Path:
    """Write frames as a horizontal strip (.png, .jpg, ...), an animation (.gif, looping) or,
    for a path without a suffix, a folder of ``frame_0001.png``…

    GIF note: Pillow merges a frame identical to the one before it into that frame's duration.
    """
    out = Path(out)
    pixels = to_rgb8(frames)
    if out.suffix.lower() == ".gif":
        if len(pixels) == 0:
            raise LatentError(f"{out}: no frames to write")
        images = [Image.fromarray(p) for p in pixels]
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            with atomic_path(out) as tmp:
                images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=duration_ms,
                               loop=0)
        except OSError as exc:
            raise ImageError(out, f"cannot be written ({exc.strerror or exc})") from None
        return out
    if not out.suffix:
        out.mkdir(parents=True, exist_ok=True)
        for i, p in enumerate(pixels, start=1):
            write_image(out / f"frame_{i:04d}.png", p.astype(np.float32) / 255.0)
        return out
    write_image(out, np.concatenate(list(pixels), axis=1).astype(np.float32) / 255.0)  # a strip
    return out


def save_direction(path: str | Path, direction: Tensor, model: LatentModel, **meta: Any) -> Path:
    """Save a direction (with the model it belongs to) as a small safetensors file, atomically."""
    path = Path(path)
    info = {"model": model.name, "kind": model.kind, "latent_dim": str(model.latent_dim),
            "meta": json.dumps(meta)}
    with atomic_path(path) as tmp:
        save_file({"direction": direction.detach().float().cpu().contiguous()}, str(tmp), metadata=info)
    return path


def load_direction(path: str | Path, model: LatentModel | None = None) -> tuple[Tensor, dict[str, Any]]:
    """A saved direction and its metadata; with ``model``, refuse one of another size."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            info = dict(handle.metadata() or {})
        direction = load_file(str(path))["direction"]
    except (SafetensorError, OSError, KeyError) as exc:
        raise LatentError(f"{path}: not a saved latent direction ({exc})") from exc
    meta = {**json.loads(info.pop("meta", "{}")), **info}
    if model is not None and direction.numel() != model.latent_dim:
        raise LatentError(f"{path}: a {direction.numel()}-d direction (model {info.get('model')!r}) "
                          f"does not fit {model.name!r} ({model.latent_dim}-d)")
    return direction, meta


