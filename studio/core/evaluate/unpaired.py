"""Unpaired evaluation (CycleGAN, CUT): cycle-consistency error both ways (a CycleGAN's), KID and FID between translated
and real target images (with the sample counts), and a nearest-neighbour memorisation check
against the training images of the target domain (the folders the card's provenance records)."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.images import image_to_tensor, list_images, tensor_to_image
from studio.core.jobs import Event, Log, Progress
from studio.core.store import ModelInfo
from studio.core.translate import Translator

from . import metrics
from .inputs import (
    Context,
    Counter,
    EvalError,
    feature_tensor,
    folder_images,
    mean_finite,
    quantised,
    read,
    rounded,
    select,
)

NEIGHBOURS = 3  # training images listed per output
CLOSEST_IN_CARD = 10  # outputs (closest to a training image first) kept in the card
COPY_RATIO = 0.5  # an output closer than this × the training set's own spacing is flagged
FID_RELIABLE = 2048  # below this many images per side the covariance is rank-deficient


class FeatureCache:
    """Features of image files, computed once per job even when a folder serves two roles."""

    def __init__(self, ctx: Context, extractors: dict[str, metrics.FeatureExtractor]):
        self.ctx = ctx
        self.extractors = extractors
        self.cache: dict[tuple[str, str], np.ndarray] = {}

    def of_file(self, path: Path, space: str) -> np.ndarray | None:
        key = (str(path.resolve()), space)
        if key not in self.cache:
            rgb = read(self.ctx, path)
            if rgb is None:
                return None
            self.cache[key] = self.of_image(rgb, space)
        return self.cache[key]

    def of_image(self, rgb: np.ndarray, space: str) -> np.ndarray:
        return self.extractors[space](feature_tensor(rgb))[0]


def evaluate_unpaired(ctx: Context, a: Path, b: Path | None, direction: str | None, features: str | Path | None,
             max_images: int | None) -> Generator[Event, None, tuple[dict, dict]]:
    """Cycle error (when the model has both directions), KID/FID against real target images, memorisation
    against the training images."""
    info = ctx.model.info
    folders: dict[str, list[Path] | Any] = {"A": folder_images(a, "--a", max_images), "B": None if b is None else folder_images(b, "--b", max_images)}
    have = info.directions()
    wanted = [direction] if direction else [d for d in ("a2b", "b2a") if d in have and folders[d[0].upper()]]
    for d in wanted:
        if d not in have:
            raise EvalError(f"model {info.name!r} cannot translate {d} (it has: {', '.join(have)})")
        if folders[d[0].upper()] is None:
            raise EvalError(f"{d} needs domain-{d[0].upper()} images: pass --{d[0]} DIR")
    if not wanted:
        raise EvalError(f"nothing to evaluate: give --a (and --b) folders for {', '.join(have)}")

    inception, why_not = metrics.inception_extractor(features)
    extractors = {"pixels": metrics.pixel_features().to(ctx.device)}
    if inception is not None:
        extractors["inception"] = inception.to(ctx.device)
        yield Log("info", f"features: {inception.name}")
    else:
        yield Log("warning", f"FID/KID unavailable: {why_not}")
    memo_space = "inception" if inception is not None else "pixels"
    spaces = {memo_space, *(["inception"] if inception is not None else [])}
    cache = FeatureCache(ctx, extractors)
    train_dirs = ctx.model.card.get("provenance", {}).get("data") or {}

    plan = []
    for d in wanted:
        source, target = d[0].upper(), d[-1].upper()
        train_files, train_note = _training_files(train_dirs.get(target), target, info, max_images)
        plan.append((d, source, target, train_files, train_note))
    total = sum(len(folders[s]) + (len(folders[t]) if folders[t] and inception else 0) + len(tf)
                for _, s, t, tf, _ in plan)
    bar = Counter(max(total, 1))
    yield Progress(0, bar.total, "starting")
    results: dict[str, Any] = {}
    details: dict[str, Any] = {}
    for d, source, target, train_files, train_note in plan:
        forward = Translator(ctx.model, d, device=ctx.device)
        back_direction = "b2a" if d == "a2b" else "a2b"
        back = Translator(ctx.model, back_direction, device=ctx.device) if back_direction in have else None
        fake_feats: dict[str, list[np.ndarray]] = {space: [] for space in extractors}
        names: list[str] = []
        cycle_l1, cycle_psnr = [], []
        for path in folders[source]:
            ctx.control.checkpoint()
            rgb = read(ctx, path)
            if rgb is not None:
                x = image_to_tensor(rgb)
                fake = forward.translate_tensor(x)
                saved = quantised(tensor_to_image(fake))
                for space in spaces:
                    fake_feats[space].append(cache.of_image(saved, space))
                names.append(str(path))
                if back is not None:
                    rec = tensor_to_image(back.translate_tensor(fake))
                    cycle_l1.append(metrics.l1(rec, rgb))
                    cycle_psnr.append(metrics.psnr(rec, rgb))
            yield bar.step(f"{d}: {path.name}")
        section: dict[str, Any] = {"translated": len(names)}
        if back is not None and cycle_l1:
            section["cycle"] = {
                "path": f"{d[0]}→{d[-1]}→{d[0]}",
                "l1": rounded(np.mean(cycle_l1)),
                "psnr_db": mean_finite(cycle_psnr),
                "images": len(cycle_l1),
            }
        # Distribution distances: translated vs real images of the target domain.
        if inception is None:
            section["fid"] = section["kid"] = None
            section["fid_kid_unavailable"] = why_not
        elif folders[target] is None:
            section["fid"] = section["kid"] = None
            section["fid_kid_unavailable"] = f"no real domain-{target} images given (--{target.lower()} DIR)"
        else:
            real = []
            for path in folders[target]:
                ctx.control.checkpoint()
                f = cache.of_file(path, "inception")
                if f is not None:
                    real.append(f)
                yield bar.step(f"{d}: real {path.name}")
            section.update(_distribution(np.array(fake_feats["inception"]), np.array(real)))
        # Memorisation: each output's nearest training images of the target domain.
        memo: dict[str, Any]
        if not train_files:
            memo = {"available": False, "reason": train_note}
        else:
            train, kept = [], []
            for path in train_files:
                ctx.control.checkpoint()
                f = cache.of_file(path, memo_space)
                if f is not None:
                    train.append(f)
                    kept.append(str(path))
                yield bar.step(f"{d}: training {path.name}")
            memo, full = _memorisation(np.array(fake_feats[memo_space]), names, np.array(train), kept,
                                       extractors[memo_space].name, train_dirs.get(target))
            details[d] = {"memorisation": full}
        section["memorisation"] = memo
        results[d] = section
    record = {
        "type": "unpaired",
        "data": {
            "A": str(a.resolve()), "B": None if b is None else str(b.resolve()),
            "images": {k: (len(v) if v is not None else 0) for k, v in folders.items()},
            "max_images": max_images,
        },
        "feature_space": {
            "fid_kid": inception.name if inception else None,
            "memorisation": extractors[memo_space].name,
        },
        "notes": "translations at native size, 8-bit; cycle error: mean |x - G_back(G(x))| with pixels in [0, 1]; "
                 "KID: unbiased MMD² with k(x, y) = (x·y/d + 1)³",
        "results": results,
    }
    return record, details


def _training_files(folder: str | None, domain: str, info: ModelInfo, max_images: int | None) -> tuple[list[Path], str]:
    if not folder:
        source = info.card.get("provenance", {}).get("source", "unknown")
        return [], f"the card records no domain-{domain} training folder (model source: {source})"
    path = Path(folder)
    if not path.is_dir():
        return [], f"the domain-{domain} training folder recorded in the card no longer exists: {folder}"
    files = list_images(path)
    if not files:
        return [], f"the domain-{domain} training folder {folder} holds no images any more"
    return select(files, max_images), ""


def _distribution(fake: np.ndarray, real: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = {"samples": {"translated": len(fake), "real": len(real)}}
    if len(fake) < 2 or len(real) < 2:
        out.update(fid=None, kid=None, fid_kid_unavailable="FID and KID need at least 2 images on each side")
        return out
    k = metrics.kid(fake, real)
    out.update(
        kid=rounded(k.value, 6), kid_std=rounded(k.std, 6), kid_subsets=k.subsets, kid_subset_size=k.subset_size,
        fid=rounded(metrics.fid(fake, real), 3),
    )
    if min(len(fake), len(real)) < FID_RELIABLE:
        out["fid_note"] = (f"FID from {min(len(fake), len(real))} images per side is strongly biased (it needs "
                           f"thousands); compare models by KID, which is unbiased")
    return out


def _memorisation(outputs: np.ndarray, names: list[str], train: np.ndarray, train_names: list[str],
                  space: str, folder: str | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    if len(outputs) == 0 or len(train) == 0:
        return {"available": False, "reason": "no readable outputs or training images"}, []
    nn = metrics.nearest_neighbours(outputs, train, k=NEIGHBOURS)
    ratios = nn.ratios()
    full: list[dict[str, Any]] = []
    for i, name in enumerate(names):
        full.append({
            "output_of": name,
            "nearest": [{"file": train_names[j], "distance": rounded(dist, 4)}
                        for j, dist in zip(nn.indices[i], nn.distances[i], strict=True)],
            "ratio": None if ratios is None else rounded(ratios[i], 4),
        })
    order = sorted(range(len(full)), key=lambda i: full[i]["nearest"][0]["distance"])
    summary: dict[str, Any] = {
        "available": True,
        "feature_space": space,
        "training_folder": folder,
        "training_images": len(train),
        "outputs": len(outputs),
        "baseline_nn_distance": rounded(nn.baseline, 4),
        "min_nn_distance": rounded(float(nn.distances[:, 0].min()), 4),
        "median_nn_distance": rounded(float(np.median(nn.distances[:, 0])), 4),
        "closest": [full[i] for i in order[:CLOSEST_IN_CARD]],
        "how": f"Euclidean distance in the feature space; baseline: median distance from each training image to "
               f"its nearest other training image; outputs under {COPY_RATIO} × the baseline are flagged",
    }
    if ratios is not None:
        summary["min_ratio"] = rounded(float(ratios.min()), 4)
        summary["flagged"] = [full[i]["output_of"] for i in order if full[i]["ratio"] < COPY_RATIO]
    return summary, full
