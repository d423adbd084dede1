"""The step loop: batches in, trainer steps, and hooks called at each point of a run's life.

The loop knows nothing of files, logs or the store (as minGPT's Trainer): checkpoints, the loss
log, run.json, previews, progress and publishing are :class:`Hook` objects
(:mod:`studio.core.train.hooks`, :mod:`studio.core.train.publish`) that return the events to
report. The learning rate and the data stream are pure functions of the step and the seed, so a
run resumed from a checkpoint continues exactly where it stopped.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from studio.core.fileio import atomic_write_text
from studio.core.jobs import Control, Event

from . import data, distributed
from .config import TrainConfig
from .trainer import Trainer


@dataclass
class Run:
    """A run as the loop and its hooks see it: what it trains, where, and how far it is."""

    config: TrainConfig
    trainer: Trainer
    dataset: Any
    folder: Path
    device: torch.device
    world: distributed.World
    total: int = 0
    step: int = 0
    elapsed: float = 0.0  # seconds spent in training steps, over every session of the run
    last_step_s: float = 0.0  # how long the latest step took
    status: dict[str, Any] = field(default_factory=dict)  # run.json, without its state changes

    @property
    def batch_world(self) -> int:
        return self.config.batch_size * self.world.size

    @property
    def steps_per_epoch(self) -> int:
        return max(1, math.ceil(len(self.dataset) / self.batch_world))

    @property
    def epoch(self) -> int:
        """The epoch of the next step."""
        return self.step // self.steps_per_epoch

    @property
    def last_epoch(self) -> int:
        """The epoch of the step just taken."""
        return (self.step - 1) // self.steps_per_epoch

    def write_status(self, **changes: Any) -> None:
        """run.json: the run's status plus ``changes`` (main rank only; written atomically)."""
        if self.world.is_main:
            from_now = {**self.status, "step": self.step, **changes}
            atomic_write_text(self.folder / "run.json", json.dumps(from_now, indent=2) + "\n")


class Hook:
    """A duty of the loop. Each method returns the events it has to report (none by default)."""

    def after_step(self, run: Run, values: dict[str, float]) -> Iterable[Event]:
        return ()

    def on_pause(self, run: Run) -> Iterable[Event]:
        return ()

    def on_resume(self, run: Run, paused_for: float) -> Iterable[Event]:
        return ()

    def on_cancel(self, run: Run) -> Iterable[Event]:
        return ()

    def on_end(self, run: Run) -> Iterable[Event]:
        return ()

    def close(self) -> None:
        """Release what the hook holds open, however the run ended."""


def train_loop(run: Run, control: Control, hooks: Sequence[Hook]) -> Generator[Event, None, bool]:
    """Step ``run`` to its total, calling ``hooks``; returns False when cancelled, True at the end."""
    config, trainer, world = run.config, run.trainer, run.world
    while run.step < run.total:
        epoch = run.epoch
        position = (run.step % run.steps_per_epoch) * run.batch_world
        loader = data.make_loader(run.dataset, batch_size=config.batch_size, seed=config.seed, epoch=epoch,
                                  start=position, workers=config.workers, device=run.device, rank=world.rank,
                                  world_size=world.size)
        for batch in loader:
            if run.step >= run.total or run.epoch != epoch:
                break
            if distributed.all_agree(world, control.cancelled, run.device):
                for hook in hooks:
                    yield from hook.on_cancel(run)
                return False
            if control.paused:
                for hook in hooks:
                    yield from hook.on_pause(run)
                paused_at = time.monotonic()
                while control.paused and not control.cancelled:
                    time.sleep(0.05)
                if control.cancelled:
                    continue  # handled at the top, with a final checkpoint
                for hook in hooks:
                    yield from hook.on_resume(run, time.monotonic() - paused_at)
            started = time.monotonic()
            trainer.set_lr(config.lr_at(run.step, run.steps_per_epoch))
            values = trainer.step(batch)
            run.step += 1
            trainer.update_averages(run.step)
            run.last_step_s = time.monotonic() - started
            run.elapsed += run.last_step_s
            for hook in hooks:
                yield from hook.after_step(run, values)
    for hook in hooks:
        yield from hook.on_end(run)
    return True
