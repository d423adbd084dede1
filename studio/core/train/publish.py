"""Publishing a finished run: its generators and a card saying how they were made, into the store.

The card records the data, steps, duration, device, final losses (the mean of the last 50 steps),
the augmentation a GAN's discriminators saw and, for kinds that measure one, the held-out metric.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from studio import __version__
from studio.core import device as devices
from studio.core.jobs import Event, log_event
from studio.core.store import ModelInfo, ModelStore, new_card

from . import data
from .config import TrainConfig
from .loop import Hook, Run
from .runs import RunError, now

log = logging.getLogger(__name__)

FINAL_LOSS_STEPS = 50
CARD_CONFIG_KEYS = ("gan_mode", "lr", "batch_size", "load_size", "crop_size", "preprocess", "n_epochs", "ema",
                    "n_epochs_decay", "seed")


def fixed(dataset: Any, config: TrainConfig) -> Any:
    """The same files whole at the training size, no random crop or flip: previews."""
    return dataset.with_preprocess(data.Preprocess("resize_and_crop", config.crop_size, config.crop_size, flip=False))


def check_publish_name(store: ModelStore, name: str) -> None:
    """A run may only publish over its own earlier model, never over another or a built-in one."""
    if store.exists(name):
        info = store.get(name)
        if info.builtin or info.card.get("provenance", {}).get("run") != name:
            raise RunError(f"a model named {name!r} is already in the store; choose another --name")


class Publisher(Hook):
    """At the end of the run (main rank): save the model, mark run.json finished, say so."""

    def __init__(self, store: ModelStore) -> None:
        self.store = store
        self.recent: list[dict[str, float]] = []
        self.model: str | None = None

    def after_step(self, run: Run, values: dict[str, float]) -> Iterable[Event]:
        self.recent = [*self.recent[-(FINAL_LOSS_STEPS - 1):], values]
        return ()

    def on_end(self, run: Run) -> Iterable[Event]:
        if not run.world.is_main:
            return ()
        final = {k: float(np.mean([r[k] for r in self.recent])) for k in self.recent[0]} if self.recent else {}
        self.model = publish(run, self.store, final).name
        run.write_status(state="finished", model=self.model, updated=now())
        return (log_event(log, "info", f"published model {self.model!r} to the store"),)


def publish(run: Run, store: ModelStore, final_losses: dict[str, float]) -> ModelInfo:
    config, trainer, dataset = run.config, run.trainer, run.dataset
    summary = dataset.summary()
    generators: dict[str, Any] = trainer.published_networks()  # Studio networks: each knows its arch and config
    recorded = config.to_dict()
    card = new_card(
        trainer.card_kind(),
        {role: (net.arch, net.config) for role, net in generators.items()},
        domains=domains(config, trainer.one_domain),
        image_size=config.crop_size,
        description=f"Trained in Studio with the {config.preset} preset"
                    + (f" as {config.variant}" if config.variant else "")
                    + (f", the discriminators seeing DiffAugment ({config.augment})." if config.augment else "."),
        provenance={
            "source": "training",
            "run": config.name,
            "preset": config.preset,
            "data": {"A": config.dir_a, "B": config.dir_b, "pairs": config.pairs},
            "images": {k: v for k, v in summary.items() if k in ("A", "B", "pairs", "held_out")},
            "skipped": [list(s) for s in summary.get("skipped", [])] + [[p, r] for p, r in dataset.failed.items()],
            "steps": run.step,
            "epochs": round(run.step / run.steps_per_epoch, 2),
            "duration_s": round(run.elapsed, 1),
            "device": devices.describe(run.device),
            "final_losses": {k: round(v, 4) for k, v in final_losses.items()},
            "from_model": config.from_model,
            "studio_version": __version__,
            "config": {k: recorded[k] for k in CARD_CONFIG_KEYS + trainer.card_config_keys},
        },
    )
    card.update(trainer.card_from_data(dataset))
    trainer.after_training(lambda: training_batches(run))
    card["metrics"] = held_out_metrics(run)
    trainer.finish_card(card)
    states = {role: net.state_dict() for role, net in generators.items()}
    return store.save(config.name, card, states, overwrite=store.exists(config.name))


def training_batches(run: Run) -> Iterable[dict[str, Any]]:
    """The training images once, as held-out ones are evaluated: whole, unflipped, in order."""
    preprocess = run.trainer.evaluation_preprocess(run.config)
    batch = 1 if preprocess.mode == "none" else max(1, run.config.batch_size)
    return data.make_loader(run.dataset.with_preprocess(preprocess), batch_size=batch, seed=run.config.seed,
                            epoch=0, workers=0)


def held_out_metrics(run: Run) -> dict[str, Any]:
    """The card's held-out metric, for kinds that keep images out of training (VAE: PSNR and ELBO; flow: bits/dim)."""
    held = getattr(run.dataset, "held_out", None)
    if held is None:
        return {}
    preprocess = run.trainer.evaluation_preprocess(run.config)
    held = held.with_preprocess(preprocess)
    batch = 1 if preprocess.mode == "none" else max(1, run.config.batch_size)  # whole photos differ in size
    loader = data.make_loader(held, batch_size=batch, seed=run.config.seed, epoch=0, workers=0)
    metrics = run.trainer.evaluate(loader)
    if metrics is None:
        return {}
    return {**{k: round(float(v), 4) for k, v in metrics.items()}, "held_out_images": len(held), "measured": now()}


def domains(config: TrainConfig, one_domain: bool) -> dict[str, str]:
    """Names for A and B from the folders (``horse2zebra/trainA`` -> horse, zebra)."""
    def name(folder: str | None, fallback: str) -> str:
        if not folder:
            return fallback
        p = Path(folder)
        if re.fullmatch(r"(train|test|val)[AB]", p.name) and p.parent.name:
            parts = p.parent.name.split("2")
            if len(parts) == 2 and all(parts):
                return parts[0] if p.name.endswith("A") else parts[1]
            return f"{p.parent.name} {p.name[-1]}"
        return p.name

    if one_domain:
        return {"A": name(config.dir_a, "A"), "B": name(config.dir_a, "A")}
    return {"A": name(config.dir_a, "A"), "B": name(config.dir_b, "B")}
