"""Paired evaluation (pix2pix): each translation against the target with the same file name."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.jobs import Event, Progress
from studio.core.translate import Translator

from . import metrics
from .inputs import (
    Context,
    Counter,
    EvalError,
    finite_or_none,
    folder_images,
    quantised,
    read,
    rounded,
    select,
)


def _key(path: Path, root: Path) -> str:
    return path.relative_to(root).with_suffix("").as_posix().lower()


def evaluate_paired(ctx: Context, a: Path, b: Path, max_images: int | None) -> Generator[Event, None, tuple[dict, dict]]:
    """pix2pix: PSNR, SSIM and L1 of each 8-bit translation against the target with its file name."""
    a_files = folder_images(a, "--a", None)
    b_files = folder_images(b, "--b", None)
    targets = {_key(f, b): f for f in b_files}
    pairs = [(f, targets[_key(f, a)]) for f in a_files if _key(f, a) in targets]
    if not pairs:
        raise EvalError(f"no file in {a} has a target with the same name in {b}")
    unmatched = {"A": len(a_files) - len(pairs), "B": len(b_files) - len(pairs)}
    chosen = set(select([p[0] for p in pairs], max_images))
    pairs = [p for p in pairs if p[0] in chosen]
    translator = Translator(ctx.model, "a2b", device=ctx.device)
    bar = Counter(len(pairs))
    yield Progress(0, bar.total, "translating")
    per_image: list[dict[str, Any]] = []
    for source, target in pairs:
        ctx.control.checkpoint()
        x, y = read(ctx, source), read(ctx, target)
        if x is not None and y is not None:
            if x.shape != y.shape:
                ctx.skipped[str(source)] = f"size {x.shape[1]}×{x.shape[0]} differs from its target's {y.shape[1]}×{y.shape[0]}"
            else:
                out = quantised(translator.translate_array(x))
                small = min(out.shape[:2]) < 2 * metrics.SSIM_RADIUS + 1
                per_image.append({
                    "file": str(source.relative_to(a)),
                    "psnr_db": finite_or_none(metrics.psnr(out, y)),  # None: identical to the target
                    "ssim": None if small else metrics.ssim(out, y),
                    "l1": metrics.l1(out, y),
                })
        yield bar.step(source.name)
    if not per_image:
        raise EvalError("no pair of images could be compared (see the skipped files)")
    finite = [r["psnr_db"] for r in per_image if r["psnr_db"] is not None]
    ssims = [r["ssim"] for r in per_image if r["ssim"] is not None]
    results = {
        "images": len(per_image),
        "psnr_db": rounded(np.mean(finite)) if finite else None,
        "identical_images": len(per_image) - len(finite),
        "ssim": rounded(np.mean(ssims)) if ssims else None,
        "l1": rounded(np.mean([r["l1"] for r in per_image])),
        "unmatched": unmatched,
    }
    record = {
        "type": "paired",
        "direction": "a2b",
        "data": {"A": str(a.resolve()), "B": str(b.resolve()), "pairs": len(pairs), "max_images": max_images},
        "notes": "8-bit translations against the targets, pixels in [0, 1]; PSNR and L1 over RGB, SSIM: "
                 "11×11 Gaussian window (σ 1.5) per channel; means over images",
        "results": results,
    }
    return record, {"images": per_image}
