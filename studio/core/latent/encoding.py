"""Latent work on folders of images, as jobs: encode a folder, its principal directions, the
attribute direction between two folders."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import Tensor

from studio.core.images import list_images
from studio.core.jobs import Control, Event, Finished, Item, Progress, nested, run

from .maths import principal_directions
from .model import LatentModel
from .shared import BATCH, LatentError

log = logging.getLogger(__name__)


def encode_folder_job(model: LatentModel, folder: str | Path, control: Control | None = None) -> Iterator[Event]:
    """Encode every image under ``folder`` (recursively); unreadable files are reported as skipped Items.

    Finishes with ``{"latents": (N, D) tensor, "paths": [...], "failed": [(path, reason), ...]}``.
    """
    control = control or Control()
    files = list_images(folder)
    latents, ok, failed = [], [], []
    yield Progress(0, len(files), f"encoding {folder}")
    for start in range(0, len(files), BATCH):
        control.checkpoint()
        chunk = files[start : start + BATCH]
        z, paths_ok, bad = model.encode_files(chunk)
        latents.append(z)
        ok += paths_ok
        failed += bad
        for p, reason in bad:
            yield Item(str(p), error=reason)
        yield Progress(min(start + BATCH, len(files)), len(files), f"encoding {folder}")
    all_latents = torch.cat(latents) if latents else torch.zeros(0, model.latent_dim)
    yield Finished({"latents": all_latents, "paths": [str(p) for p in ok],
                    "failed": [(str(p), r) for p, r in failed]})


def encode_folder(model: LatentModel, folder: str | Path, control: Control | None = None) -> Tensor:
    """The latents of a folder's readable images; LatentError if there are none."""

    def skipped(event: Event) -> None:
        if isinstance(event, Item) and event.skipped:
            log.warning("skipped %s: %s", event.path, event.error)

    result = run(encode_folder_job(model, folder, control), skipped)
    if not len(result.get("paths", [])):
        raise LatentError(f"{folder}: no readable images to encode")
    return result["latents"]


def folder_directions_job(model: LatentModel, folder: str | Path, k: int,
                          control: Control | None = None) -> Iterator[Event]:
    """Encode a folder (unreadable files skipped), then its top-``k`` principal directions.

    Finishes with ``{"directions": (k', D), "spread": (k',), "count", "failed", "folder"}``; n images
    span at most n − 1 axes, so k' ≤ n − 1.
    """
    control = control or Control()
    result = yield from nested(encode_folder_job(model, folder, control), control)
    latents = (result or {}).get("latents")
    if latents is None or len(latents) < 2:
        raise LatentError(f"{folder}: needs at least two readable images for directions")
    directions, spread = principal_directions(latents, min(k, len(latents) - 1))
    yield Finished({"directions": directions, "spread": spread, "count": len(latents),
                    "failed": result.get("failed", []), "folder": str(folder)})


def attribute_direction(model: LatentModel, with_folder: str | Path, without_folder: str | Path,
                        control: Control | None = None) -> Tensor:
    """mean latent of ``with_folder`` − mean latent of ``without_folder`` (D,), e.g. "smiling" − "neutral"."""
    return encode_folder(model, with_folder, control).mean(0) - encode_folder(model, without_folder, control).mean(0)
