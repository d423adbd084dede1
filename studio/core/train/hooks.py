"""The step loop's duties, one hook each: checkpoints, the loss log, progress, previews and the
run's status (run.json). Publishing the model is :mod:`studio.core.train.publish`."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from studio.core.fileio import atomic_write_text
from studio.core.images import write_image
from studio.core.jobs import Checkpoint, Event, Losses, Preview, Progress, log_event

from . import checkpoint, distributed
from .config import fit_schedule_to_steps
from .loop import Hook, Run
from .runs import now

log = logging.getLogger(__name__)


class Checkpoints(Hook):
    """Every ``checkpoint_every`` steps or ``checkpoint_minutes``, on pause, on cancel and at the end."""

    def __init__(self, run: Run, started: str, resumed: bool) -> None:
        self.started = started
        self.saved_step = run.step if resumed else -1
        self.last_time = time.monotonic()

    def write(self, run: Run, reason: str) -> Iterable[Event]:
        self.saved_step = run.step
        if not run.world.is_main:
            return ()
        path = run.folder / "checkpoint.pt"
        checkpoint.save(path, {
            "config": run.config.to_dict(), "step": run.step, "trainer": run.trainer.state_dict(),
            "rng": checkpoint.rng_state(), "elapsed": run.elapsed, "started": self.started,
            "data_failed": dict(run.dataset.failed),
        })
        run.write_status(updated=now())
        return (Checkpoint(run.step, str(path), reason),)

    def after_step(self, run: Run, values: dict[str, float]) -> Iterable[Event]:
        config = run.config
        if (run.step % config.checkpoint_every == 0
                or (time.monotonic() - self.last_time) > config.checkpoint_minutes * 60):
            events = self.write(run, "interval")
            self.last_time = time.monotonic()
            return events
        return ()

    def on_pause(self, run: Run) -> Iterable[Event]:
        return self.write(run, "pause")

    def on_resume(self, run: Run, paused_for: float) -> Iterable[Event]:
        self.last_time += paused_for  # a pause is no time trained: it does not bring the next checkpoint closer
        return ()

    def on_cancel(self, run: Run) -> Iterable[Event]:
        return self.write(run, "cancel")

    def on_end(self, run: Run) -> Iterable[Event]:
        return self.write(run, "end") if self.saved_step != run.step else ()


class Status(Hook):
    """run.json's state, and the lines that say it changed."""

    def on_pause(self, run: Run) -> Iterable[Event]:
        run.write_status(state="paused", updated=now())
        return (log_event(log, "info", f"paused at step {run.step}"),)

    def on_resume(self, run: Run, paused_for: float) -> Iterable[Event]:
        run.write_status(updated=now())
        return (log_event(log, "info", f"resumed at step {run.step}"),)

    def on_cancel(self, run: Run) -> Iterable[Event]:
        run.write_status(state="cancelled", updated=now())
        return (log_event(log, "warning",
                          f"cancelled at step {run.step}; resume with: studio train --resume {run.config.name}"),)


class LossLog(Hook):
    """losses.jsonl (main rank, every ``log_every`` steps) and a Losses event every step."""

    def __init__(self, run: Run) -> None:
        self.file = open(run.folder / "losses.jsonl", "a", encoding="utf-8") if run.world.is_main else None

    def after_step(self, run: Run, values: dict[str, float]) -> Iterable[Event]:
        epoch, lr = run.last_epoch, run.config.lr_at(run.step - 1, run.steps_per_epoch)
        if self.file is not None and run.step % run.config.log_every == 0:
            self.file.write(json.dumps({"step": run.step, "epoch": epoch, "lr": lr, "losses": values}) + "\n")
            self.file.flush()
        return (Losses(run.step, values, epoch=epoch, lr=lr),)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def truncate_losses(path: Path, step: int) -> None:
    """Drop loss records written after the checkpoint we resume from: they will be written again."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line)["step"] <= step:
                kept.append(line)
        except json.JSONDecodeError:
            continue
    atomic_write_text(path, "".join(f"{line}\n" for line in kept))


class ProgressReport(Hook):
    """Steps done of the total, with the epoch, the speed over the last 20 steps and the time left."""

    def __init__(self) -> None:
        self.window: list[tuple[float, int]] = []  # (time, step)

    def after_step(self, run: Run, values: dict[str, float]) -> Iterable[Event]:
        now = time.monotonic()
        self.window = [*self.window[-19:], (now, run.step)]
        if len(self.window) > 1:
            rate = (self.window[-1][1] - self.window[0][1]) / (self.window[-1][0] - self.window[0][0])
        else:
            rate = 1 / max(run.last_step_s, 1e-9)
        eta = (run.total - run.step) / rate if rate > 0 else None
        epoch = run.last_epoch
        return (Progress(run.step, run.total, f"epoch {epoch + 1}",
                         stats={"epoch": epoch, "it_per_s": rate, "eta_s": eta}),)


class Previews(Hook):
    """The trainer's picture of fixed samples every ``preview_every`` steps and at the last one."""

    def __init__(self, samples: dict[str, torch.Tensor]) -> None:
        self.samples = samples

    def after_step(self, run: Run, values: dict[str, float]) -> Iterable[Event]:
        if not run.world.is_main or not (run.step % run.config.preview_every == 0 or run.step == run.total):
            return ()
        image = run.trainer.preview(self.samples)
        path = run.folder / "samples" / f"step_{run.step:07d}.png"
        write_image(path, image.astype(np.float32) / 255.0)
        return (Preview(run.step, image, str(path)),)


class TimeBudget(Hook):
    """``--minutes``: fit the run to a budget of training time, then hold it to it.

    After :data:`CALIBRATION_STEPS` steps the run's total becomes the steps that fit the budget at
    the speed so far, and the schedule (half constant, half decaying) is fitted to that total: fewer
    steps than the preset's epochs, or more when the budget allows more and no ``--max-steps`` caps
    the run (a small folder's epochs are short; the budget is what the person gave). The first steps
    are slow (allocation, caches, a neighbour job's start), so once :data:`REFIT_SHARE` of the budget
    is spent the total is fitted again at the pace since the first fit, while the learning rate is
    still constant (a 12-minute fast copy had ended at 9.3 minutes on its first estimate alone). The
    new total goes into the config, so a run resumed after that point keeps it (and steps exactly
    as it would have); the steps before it ran at the constant rate either way. On a machine that
    slows down later, the run also ends when its training time reaches the budget (before the rate
    has decayed to zero). Put it first among the hooks: the others see the final total.
    """

    CALIBRATION_STEPS = 10
    REFIT_SHARE = 0.1

    def __init__(self) -> None:
        self.mark: tuple[int, float] | None = None  # (step, elapsed) at this session's first fit
        self.previous: float | None = None  # the elapsed time after this session's previous step
        # no --max-steps capped the run at the first fit; a session resumed after that fit cannot tell
        # the person's cap from the fitted total, so its refit only ever shortens the run
        self.may_grow = False

    def after_step(self, run: Run, values: dict[str, float]) -> Iterable[Event]:
        config = run.config
        if config.minutes is None or run.step >= run.total:
            return ()
        budget = config.minutes * 60.0
        # the slowest rank's training time: every rank takes the same branches below
        elapsed, previous = distributed.largest(run.world, run.elapsed, run.device), self.previous
        self.previous = elapsed
        if run.step == self.CALIBRATION_STEPS:
            per_step = elapsed / run.step
            self.mark, self.may_grow = (run.step, elapsed), config.max_steps is None
            self.fit(run, max(run.step + 1, int(budget / per_step)))
            return (log_event(log, "info", f"{per_step:.2f} s a step: {run.total} steps fit the "
                                           f"{config.minutes:g}-minute budget"),)
        refit_at = budget * self.REFIT_SHARE
        if run.step > self.CALIBRATION_STEPS and previous is not None and previous < refit_at <= elapsed:
            if self.mark is not None and run.step - self.mark[0] >= self.CALIBRATION_STEPS:
                per_step = (elapsed - self.mark[1]) / (run.step - self.mark[0])
            else:  # resumed since the first fit: the run's average pace
                per_step = elapsed / run.step
            fitted = max(run.step + 1, run.step + int((budget - elapsed) / per_step))
            # (never once the decay would have begun: the steps so far ran at the constant rate)
            if fitted != run.total and 2 * run.step < fitted and self.fit(run, fitted):
                return (log_event(log, "info", f"{per_step:.2f} s a step since: {run.total} steps fit the "
                                               f"{config.minutes:g}-minute budget"),)
            return ()
        if elapsed >= budget:
            run.total = run.step
            return (log_event(log, "info", f"the {config.minutes:g}-minute budget is spent at step {run.step}"),)
        return ()

    def fit(self, run: Run, fitted: int) -> bool:
        """Make the run ``fitted`` steps long with its schedule in halves; False where a --max-steps cap
        stops it growing."""
        config = run.config
        if fitted > run.total and not self.may_grow:
            return False
        if fitted > config.total_epochs() * run.steps_per_epoch:  # more epochs, in the same halves
            epochs = math.ceil(fitted / run.steps_per_epoch)
            config.n_epochs = math.ceil(epochs / 2)
            config.n_epochs_decay = epochs - config.n_epochs
        config.max_steps = fitted
        fit_schedule_to_steps(config, run.steps_per_epoch)
        run.total = config.total_steps(run.steps_per_epoch)
        return True
