"""The evaluation job: pick the evaluator for the model's kind, run it, write the record into the card."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from studio import __version__
from studio.core import device as devices
from studio.core.errors import Cancelled, StoreError
from studio.core.jobs import Control, Event, Finished, Item, Log, run
from studio.core.store import LATENT_KINDS, UNPAIRED_KINDS, ModelInfo, ModelStore

from .inputs import Context, EvalError, now
from .latent_models import evaluate_latent, evaluate_pixels
from .paired import evaluate_paired
from .unpaired import evaluate_unpaired

ONE_FOLDER_KINDS = (*LATENT_KINDS, "pixelcnn")  # measured on held-out images of their one folder


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
    The :class:`Finished` value: ``model, metrics`` (the record written to ``card["metrics"]["eval"]``),
    ``details`` (per image / per output), ``card_updated, card_note, cancelled``.
    """
    store = store or ModelStore()
    control = control or Control()
    info = model if isinstance(model, ModelInfo) else store.get(model)
    if direction is not None and direction not in ("a2b", "b2a"):
        raise EvalError(f"unknown direction {direction!r} (use a2b or b2a)")
    if info.kind in ONE_FOLDER_KINDS and (b is not None or direction is not None):
        raise EvalError(f"model {info.name!r} is a {info.kind} model: give its held-out images as --a only")
    if direction is not None and info.kind not in ONE_FOLDER_KINDS and direction not in info.directions():
        raise EvalError(f"model {info.name!r} is a {info.kind} model: it translates {' and '.join(info.directions())} only")
    loaded = store.load(info)
    ctx = Context(loaded, devices.pick_device(device), control)
    started = time.monotonic()
    try:
        if info.kind == "pix2pix":
            if b is None:
                raise EvalError("a paired (pix2pix) model needs --b: the target images, matched to --a by file name")
            record, details = yield from evaluate_paired(ctx, Path(a), Path(b), max_images)
        elif info.kind in UNPAIRED_KINDS:
            record, details = yield from evaluate_unpaired(ctx, Path(a), None if b is None else Path(b), direction,
                                                           features, max_images)
        elif info.kind == "pixelcnn":
            record, details = yield from evaluate_pixels(ctx, Path(a), max_images)
        else:
            record, details = yield from evaluate_latent(ctx, Path(a), max_images)
    except Cancelled:
        yield Log("warning", "evaluation cancelled; the card was not changed")
        yield Finished({"model": info.name, "metrics": None, "details": None, "card_updated": False,
                        "card_note": "cancelled", "cancelled": True})
        return
    record = {
        "measured": now(),
        "studio_version": __version__,
        "device": devices.describe(ctx.device),
        "seconds": round(time.monotonic() - started, 1),
        **record,
        "skipped": [[path, reason] for path, reason in ctx.skipped.items()],
    }
    for path, reason in ctx.skipped.items():
        yield Item(path, error=reason)
    updated, note = False, None
    if write_card:
        try:
            current = store.get(info.name).card.get("metrics", {})
            store.update_card(info.name, {"metrics": {**current, "eval": record}})
            updated = True
        except StoreError as exc:
            note = f"metrics not written to the card: {exc}"
            yield Log("warning", note)
    yield Finished({"model": info.name, "metrics": record, "details": details, "card_updated": updated,
                    "card_note": note, "cancelled": False})


def evaluate(model: str | ModelInfo, a: str | Path, b: str | Path | None = None, **kwargs: Any) -> dict[str, Any]:
    """Run :func:`evaluate_job` to its end and return its Finished value."""
    return run(evaluate_job(model, a, b, **kwargs))
