"""Evaluation as a job: measure a model on folders of images and write the figures into its card.

- paired (pix2pix): PSNR, SSIM and L1 of each translation against the target with the same file name;
- unpaired (CycleGAN): cycle-consistency error both ways, KID and FID between translated and real
  target images (with the sample counts), and a nearest-neighbour memorisation check against the
  training images of the target domain (the folders the card's provenance records);
- latent (VAE, flow): held-out reconstruction PSNR and ELBO, or bits per dimension.

Translations are made by the same :class:`~studio.core.translate.Translator` that ``studio translate``
uses, at native size, and quantised to 8 bits as a saved file would be. Every figure in the card says
what it was measured on: folders, image counts, date, device and feature space.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from studio import __version__

from . import device as devices
from . import metrics
from .errors import Cancelled, ImageError, StoreError, StudioError
from .images import image_to_tensor, list_images, read_image, tensor_to_image, to_uint8
from .jobs import Control, Event, finished_data, progress
from .store import LoadedModel, ModelInfo, ModelStore

log = logging.getLogger(__name__)

NEIGHBOURS = 3  # training images listed per output
CLOSEST_IN_CARD = 10  # outputs (closest to a training image first) kept in the card
COPY_RATIO = 0.5  # an output closer than this × the training set's own spacing is flagged
FID_RELIABLE = 2048  # below this many images per side the covariance is rank-deficient


class EvalError(StudioError):
    """An evaluation cannot run (no images, no matching pairs, a model without the needed part)."""


@dataclass
class _Progress:
    total: int
    done: int = 0

    def step(self, message: str) -> Event:
        self.done += 1
        return progress(self.done, self.total, message)


@dataclass
class _Context:
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


def _folder_images(folder: str | Path, what: str, max_images: int | None) -> list[Path]:
    try:
        found = list_images(folder)
    except ImageError as exc:
        raise EvalError(f"{what} {exc}") from exc
    if not found:
        raise EvalError(f"{what} {folder}: no images found")
    return select(found, max_images)


def _read(ctx: _Context, path: Path) -> np.ndarray | None:
    try:
        return read_image(path).rgb
    except ImageError as exc:
        ctx.skipped[str(path)] = exc.reason
        return None


def _quantised(rgb: np.ndarray) -> np.ndarray:
    return to_uint8(rgb).astype(np.float32) / 255.0


def _tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float()


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


# -- the job ----------------------------------------------------------------------------------------

def evaluate_job(
    model: str | ModelInfo,
    a: str | Path,
    b: str | Path | None = None,
    *,
    direction: str | None = None,
    features: str | Path | None = None,
    max_images: int | None = None,
    device: str | None = None,
    store: ModelStore | None = None,
    control: Control | None = None,
    write_card: bool = True,
) -> Iterator[Event]:
    """Evaluate a store model on image folders and record the result in its card.

    ``a``: inputs (domain A; for latent models the held-out images). ``b``: targets matched by file
    name (pix2pix) or real domain-B images (CycleGAN). ``direction`` limits a CycleGAN to one way.
    ``features``: a user Inception file (see :func:`metrics.load_feature_extractor`).
    The ``finished`` event's data: ``model, metrics`` (the record written to ``card["metrics"]["eval"]``),
    ``details`` (per image / per output), ``card_updated, card_note, cancelled``.
    """
    store = store or ModelStore()
    control = control or Control()
    info = model if isinstance(model, ModelInfo) else store.get(model)
    if direction is not None and direction not in ("a2b", "b2a"):
        raise EvalError(f"unknown direction {direction!r} (use a2b or b2a)")
    if info.kind in ("vae", "flow") and (b is not None or direction is not None):
        raise EvalError(f"model {info.name!r} is a {info.kind} model: give its held-out images as --a only")
    if info.kind == "pix2pix" and direction == "b2a":
        raise EvalError(f"model {info.name!r} is a pix2pix model: it translates a2b only")
    loaded = store.load(info)
    ctx = _Context(loaded, devices.pick_device(device), control)
    started = time.monotonic()
    try:
        if info.kind == "pix2pix":
            if b is None:
                raise EvalError("a paired (pix2pix) model needs --b: the target images, matched to --a by file name")
            record, details = yield from _paired(ctx, Path(a), Path(b), max_images)
        elif info.kind == "cyclegan":
            record, details = yield from _unpaired(ctx, Path(a), None if b is None else Path(b), direction,
                                                   features, max_images)
        else:
            record, details = yield from _latent(ctx, Path(a), max_images)
    except Cancelled:
        yield Event("log", {"level": "warning", "message": "evaluation cancelled; the card was not changed"})
        yield Event("finished", {"model": info.name, "metrics": None, "details": None, "card_updated": False,
                                 "card_note": "cancelled", "cancelled": True})
        return
    record = {
        "measured": _now(),
        "studio_version": __version__,
        "device": devices.describe(ctx.device),
        "seconds": round(time.monotonic() - started, 1),
        **record,
        "skipped": [[path, reason] for path, reason in ctx.skipped.items()],
    }
    for path, reason in ctx.skipped.items():
        yield Event("item", {"path": path, "error": reason})
    updated, note = False, None
    if write_card:
        try:
            current = store.get(info.name).card.get("metrics", {})
            store.update_card(info.name, {"metrics": {**current, "eval": record}})
            updated = True
        except StoreError as exc:
            note = f"metrics not written to the card: {exc}"
            yield Event("log", {"level": "warning", "message": note})
    yield Event("finished", {"model": info.name, "metrics": record, "details": details, "card_updated": updated,
                             "card_note": note, "cancelled": False})


def evaluate(model: str | ModelInfo, a: str | Path, b: str | Path | None = None, **kwargs: Any) -> dict[str, Any]:
    """Run :func:`evaluate_job` to its end and return its ``finished`` data."""
    return finished_data(evaluate_job(model, a, b, **kwargs))


# -- display --------------------------------------------------------------------------------------

def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e-3 and value != 0 else f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return str(value)


def summary_lines(model: str, record: dict[str, Any]) -> list[str]:
    """A card's evaluation record (``card["metrics"]["eval"]``) as readable, aligned ``metric  value`` lines."""
    data = record["data"]
    lines = [f"{model}: {record['type']} evaluation on {record['device']}, {record['measured']}"]
    rows: list[tuple[str, str]] = []
    results = record["results"]
    if record["type"] == "paired":
        lines.append(f"  A = {data['A']}, B = {data['B']} ({data['pairs']} pairs)")
        rows += [("PSNR (dB)", _num(results["psnr_db"], 2)), ("SSIM", _num(results["ssim"])),
                 ("L1 (pixels in [0, 1])", _num(results["l1"])), ("images", str(results["images"]))]
        if results.get("identical_images"):
            rows.append(("identical to target", str(results["identical_images"])))
    elif record["type"] == "unpaired":
        counts = data.get("images", {})
        lines.append(f"  A = {data['A']} ({counts.get('A', 0)} images)"
                     + (f", B = {data['B']} ({counts.get('B', 0)} images)" if data.get("B") else ""))
        space = record["feature_space"]
        lines.append(f"  FID/KID features: {space['fid_kid'] or 'unavailable'}")
        lines.append(f"  memorisation features: {space['memorisation']}")
        for direction, section in results.items():
            rows.append((f"{direction} translated", str(section["translated"])))
            cycle = section.get("cycle")
            if cycle:
                rows.append((f"{direction} cycle {cycle['path']} L1", f"{_num(cycle['l1'])}  (PSNR "
                             f"{_num(cycle['psnr_db'], 2)} dB, {cycle['images']} images)"))
            if section.get("kid") is not None:
                samples = section["samples"]
                spread = f" ± {_num(section['kid_std'])}" if section.get("kid_std") is not None else ""
                rows.append((f"{direction} KID", f"{_num(section['kid'])}{spread}  ({samples['translated']} "
                             f"translated vs {samples['real']} real)"))
                rows.append((f"{direction} FID", _num(section["fid"], 2)
                             + ("  (biased at this sample size; compare KID)" if section.get("fid_note") else "")))
            else:
                rows.append((f"{direction} KID / FID", f"unavailable: {section.get('fid_kid_unavailable')}"))
            memo = section.get("memorisation", {})
            if memo.get("available"):
                flagged = memo.get("flagged")
                closest = memo["closest"][0] if memo.get("closest") else None
                text = (f"nearest training image at {_num(memo.get('min_ratio'), 3)} × the training set's own "
                        f"spacing; {len(flagged) if flagged is not None else '-'} flagged")
                if closest:
                    text += f" (closest: {Path(closest['output_of']).name} ~ {Path(closest['nearest'][0]['file']).name})"
                rows.append((f"{direction} memorisation", text))
            else:
                rows.append((f"{direction} memorisation", f"unavailable: {memo.get('reason')}"))
    else:
        lines.append(f"  held-out images: {data.get('held_out')} ({data.get('images')} images)")
        for key, value in results.items():
            rows.append((key, _num(value)))
    width = max((len(k) for k, _ in rows), default=0)
    lines += [f"  {k.ljust(width)}  {v}" for k, v in rows]
    if record.get("skipped"):
        lines.append(f"  skipped {len(record['skipped'])} unreadable file(s)")
    return lines


# -- paired -----------------------------------------------------------------------------------------

def _key(path: Path, root: Path) -> str:
    return path.relative_to(root).with_suffix("").as_posix().lower()


def _paired(ctx: _Context, a: Path, b: Path, max_images: int | None):
    from .translate import Translator

    a_files = _folder_images(a, "--a", None)
    b_files = _folder_images(b, "--b", None)
    targets = {_key(f, b): f for f in b_files}
    pairs = [(f, targets[_key(f, a)]) for f in a_files if _key(f, a) in targets]
    if not pairs:
        raise EvalError(f"no file in {a} has a target with the same name in {b}")
    unmatched = {"A": len(a_files) - len(pairs), "B": len(b_files) - len(pairs)}
    chosen = set(select([p[0] for p in pairs], max_images))
    pairs = [p for p in pairs if p[0] in chosen]
    translator = Translator(ctx.model, "a2b", device=ctx.device)
    bar = _Progress(len(pairs))
    yield progress(0, bar.total, "translating")
    per_image: list[dict[str, Any]] = []
    for source, target in pairs:
        ctx.control.checkpoint()
        x, y = _read(ctx, source), _read(ctx, target)
        if x is not None and y is not None:
            if x.shape != y.shape:
                ctx.skipped[str(source)] = f"size {x.shape[1]}×{x.shape[0]} differs from its target's {y.shape[1]}×{y.shape[0]}"
            else:
                out = _quantised(translator.translate_array(x))
                small = min(out.shape[:2]) < 2 * metrics.SSIM_RADIUS + 1
                per_image.append({
                    "file": str(source.relative_to(a)),
                    "psnr_db": _finite_or_none(metrics.psnr(out, y)),  # None: identical to the target
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
        "psnr_db": _round(np.mean(finite)) if finite else None,
        "identical_images": len(per_image) - len(finite),
        "ssim": _round(np.mean(ssims)) if ssims else None,
        "l1": _round(np.mean([r["l1"] for r in per_image])),
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


def _round(value: float | None, digits: int = 5) -> float | None:
    return None if value is None else float(round(float(value), digits))


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _mean_finite(values: list[float]) -> float | None:
    """The mean PSNR over images that are not identical (whose PSNR is infinite), or None."""
    finite = [v for v in values if np.isfinite(v)]
    return _round(np.mean(finite)) if finite else None


# -- unpaired ---------------------------------------------------------------------------------------

class _FeatureCache:
    """Features of image files, computed once per job even when a folder serves two roles."""

    def __init__(self, ctx: _Context, extractors: dict[str, metrics.FeatureExtractor]):
        self.ctx = ctx
        self.extractors = extractors
        self.cache: dict[tuple[str, str], np.ndarray] = {}

    def of_file(self, path: Path, space: str) -> np.ndarray | None:
        key = (str(path.resolve()), space)
        if key not in self.cache:
            rgb = _read(self.ctx, path)
            if rgb is None:
                return None
            self.cache[key] = self.of_image(rgb, space)
        return self.cache[key]

    def of_image(self, rgb: np.ndarray, space: str) -> np.ndarray:
        return self.extractors[space](_tensor(rgb))[0]


def _unpaired(ctx: _Context, a: Path, b: Path | None, direction: str | None,
              features: str | Path | None, max_images: int | None):
    from .translate import Translator

    info = ctx.model.info
    folders = {"A": _folder_images(a, "--a", max_images), "B": None if b is None else _folder_images(b, "--b", max_images)}
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
        yield Event("log", {"level": "info", "message": f"features: {inception.name}"})
    else:
        yield Event("log", {"level": "warning", "message": f"FID/KID unavailable: {why_not}"})
    memo_space = "inception" if inception is not None else "pixels"
    spaces = {memo_space, *(["inception"] if inception is not None else [])}
    cache = _FeatureCache(ctx, extractors)
    train_dirs = ctx.model.card.get("provenance", {}).get("data") or {}

    plan = []
    for d in wanted:
        source, target = d[0].upper(), d[-1].upper()
        train_files, train_note = _training_files(train_dirs.get(target), target, info, max_images)
        plan.append((d, source, target, train_files, train_note))
    total = sum(len(folders[s]) + (len(folders[t]) if folders[t] and inception else 0) + len(tf)
                for _, s, t, tf, _ in plan)
    bar = _Progress(max(total, 1))
    yield progress(0, bar.total, "starting")
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
            rgb = _read(ctx, path)
            if rgb is not None:
                x = image_to_tensor(rgb)
                fake = forward.translate_tensor(x)
                saved = _quantised(tensor_to_image(fake))
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
                "l1": _round(np.mean(cycle_l1)),
                "psnr_db": _mean_finite(cycle_psnr),
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
        kid=_round(k.value, 6), kid_std=_round(k.std, 6), kid_subsets=k.subsets, kid_subset_size=k.subset_size,
        fid=_round(metrics.fid(fake, real), 3),
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
    full = []
    for i, name in enumerate(names):
        full.append({
            "output_of": name,
            "nearest": [{"file": train_names[j], "distance": _round(dist, 4)}
                        for j, dist in zip(nn.indices[i], nn.distances[i], strict=True)],
            "ratio": None if ratios is None else _round(ratios[i], 4),
        })
    order = sorted(range(len(full)), key=lambda i: full[i]["nearest"][0]["distance"])
    summary: dict[str, Any] = {
        "available": True,
        "feature_space": space,
        "training_folder": folder,
        "training_images": len(train),
        "outputs": len(outputs),
        "baseline_nn_distance": _round(nn.baseline, 4),
        "min_nn_distance": _round(float(nn.distances[:, 0].min()), 4),
        "median_nn_distance": _round(float(np.median(nn.distances[:, 0])), 4),
        "closest": [full[i] for i in order[:CLOSEST_IN_CARD]],
        "how": f"Euclidean distance in the feature space; baseline: median distance from each training image to "
               f"its nearest other training image; outputs under {COPY_RATIO} × the baseline are flagged",
    }
    if ratios is not None:
        summary["min_ratio"] = _round(float(ratios.min()), 4)
        summary["flagged"] = [full[i]["output_of"] for i in order if full[i]["ratio"] < COPY_RATIO]
    return summary, full


# -- latent -----------------------------------------------------------------------------------------

LATENT_SEED = 1234  # the ELBO's posterior samples: repeatable, as the training job's held-out metrics
LATENT_BATCH = 16


def _latent(ctx: _Context, a: Path, max_images: int | None):
    """Held-out images, resized to the model's size as in training: VAE PSNR and ELBO, flow bits/dim."""
    from .latent import LatentModel

    latent = LatentModel(ctx.model, device=ctx.device)
    files = _folder_images(a, "--a", max_images)
    chunks = [files[i : i + LATENT_BATCH] for i in range(0, len(files), LATENT_BATCH)]
    bar = _Progress(len(chunks))
    yield progress(0, bar.total, "starting")
    generator = torch.Generator().manual_seed(LATENT_SEED)
    psnrs: list[float] = []
    values: dict[str, list[torch.Tensor]] = {}
    for index, chunk in enumerate(chunks):
        ctx.control.checkpoint()
        images = []
        for path in chunk:
            try:
                images.append(latent.load_image(path))
            except ImageError as exc:
                ctx.skipped[str(path)] = exc.reason
        if images:
            x = torch.cat(images)
            recon = latent.reconstruct(x)
            for original, rebuilt in zip(x, recon, strict=True):
                psnrs.append(metrics.psnr(((rebuilt + 1) / 2).numpy(), ((original + 1) / 2).numpy()))
            for key, tensor in _latent_scores(latent, x, generator, LATENT_SEED + index).items():
                values.setdefault(key, []).append(tensor)
        yield bar.step(f"{chunk[-1].name}")
    if not psnrs:
        raise EvalError(f"--a {a}: no readable images")
    results: dict[str, Any] = {key: _round(torch.cat(v).mean().item()) for key, v in values.items()}
    results["reconstruction_psnr_db"] = _mean_finite(psnrs)
    exact = sum(1 for p in psnrs if not np.isfinite(p))
    if exact:
        results["exact_reconstructions"] = exact
    notes = {
        "vae": "images resized to the model's size; reconstruction from the posterior mean; ELBO in nats per image "
               "with one seeded posterior sample (β = 1), and as a bound in bits per dimension",
        "flow": "images resized to the model's size; bits/dim with seeded uniform dequantisation (the training "
                "objective) and at the 8-bit bin centres; reconstruction = decode(encode(x))",
    }
    record = {
        "type": "latent",
        "data": {"held_out": str(a.resolve()), "images": len(psnrs), "max_images": max_images},
        "notes": notes[latent.kind],
        "results": results,
    }
    return record, {}


@torch.inference_mode()
def _latent_scores(latent: Any, x: torch.Tensor, generator: torch.Generator, seed: int) -> dict[str, torch.Tensor]:
    if latent.kind == "flow":
        return {"bits_per_dim": latent.dequantized_bits_per_dim(x, seed=seed),
                "bits_per_dim_bin_centres": latent.score(x)}
    from .nets.vae import gaussian_nll, kl_to_unit_gaussian

    vae = latent.net
    xd = x.to(latent.device)
    mean, logvar = vae.encoder(xd)
    z = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=generator).to(latent.device)
    kl = kl_to_unit_gaussian(mean, logvar)
    elbo = (-gaussian_nll(xd, vae.decoder(z), vae.log_sigma) - kl).float().cpu()
    d = x[0].numel()
    # The Gaussian density at the 8-bit bin centres times the bin width (1/127.5): a bound in bits/dim.
    return {"elbo_nats": elbo, "kl_nats": kl.float().cpu(),
            "elbo_bits_per_dim": (-elbo / d + math.log(127.5)) / math.log(2.0)}
