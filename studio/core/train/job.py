"""Training as a job: set a run up (new, resumed or fine-tuned), then drive the step loop.

A run killed at any moment and resumed from its last checkpoint trains exactly as if it had never
stopped, losing at most one checkpoint interval (see :mod:`studio.core.train.loop`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from studio.core import device as devices
from studio.core import jobs, report
from studio.core.fileio import atomic_write_text
from studio.core.jobs import Control, Event, Finished, Progress, log_event
from studio.core.store import ModelStore, validate_name

from . import checkpoint, data, distributed, kinds
from .config import TrainConfig, fit_schedule_to_steps
from .hooks import Checkpoints, LossLog, Previews, ProgressReport, Status, TimeBudget, truncate_losses
from .loop import Run, train_loop
from .publish import Publisher, check_publish_name, fixed
from .runs import RunError, list_runs, now, read_run, run_dir
from .trainer import Trainer

__all__ = ["RunError", "list_runs", "read_run", "run_dir", "train_job"]

log = logging.getLogger(__name__)
# The translators whose fast preset is the light generator at 128 px: 9.5-12.4x cheaper steps on a CPU.
CPU_HEAVY_REFERENCE = ("cyclegan", "cut", "pix2pix")

PREVIEW_SAMPLES = 3


def train_job(
    config: TrainConfig | None = None,
    *,
    resume: str | None = None,
    control: Control | None = None,
    store: ModelStore | None = None,
) -> Iterator[Event]:
    """Train (or resume) a run; yields progress, losses, previews, checkpoints, logs, then Finished."""
    control = control or Control()
    store = store or ModelStore()
    saved: dict[str, Any] | None = None
    if resume is not None:
        folder = run_dir(resume)
        if not (folder / "checkpoint.pt").exists():
            known = ", ".join(r["name"] for r in list_runs()) or "none"
            raise RunError(f"no resumable run named {resume!r} (runs: {known})")
        saved = checkpoint.load(folder / "checkpoint.pt")
        config = TrainConfig.from_dict(saved["config"])
        for stale in folder.glob(".*.tmp"):  # a write cut short by the crash we resume from
            stale.unlink(missing_ok=True)
    elif config is None:
        raise RunError("give a config or a run to resume")
    kinds.validate(config)
    validate_name(config.name)
    folder = run_dir(config.name)
    if saved is None:
        # A folder without run.json holds no run: what a start cut short left (a fast copy's teacher cache).
        if (folder / "run.json").exists():
            raise RunError(f"a run named {config.name!r} already exists; resume it with --resume {config.name} "
                           "or choose another --name")
        check_publish_name(store, config.name)

    device = devices.pick_device(config.device)
    trainer_class = kinds.trainer_class(config.kind)
    yield from jobs.nested(trainer_class.prepare(config, folder, store), control)
    preprocess = data.Preprocess(config.preprocess, config.load_size, config.crop_size, flip=config.flip)
    dataset = trainer_class.dataset(config, preprocess, folder)  # bad folders fail here, before the run starts
    world = distributed.setup(device.type)
    if device.type == "cuda" and world.distributed:
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    (folder / "samples").mkdir(parents=True, exist_ok=True)
    log_handler = _file_log(folder / "log.txt") if world.is_main else None
    try:
        yield from _train(config, trainer_class, dataset, saved, folder, device, world, control, store)
    finally:
        if log_handler is not None:
            logging.getLogger("studio").removeHandler(log_handler)
            log_handler.close()
        distributed.teardown(world)


def _train(config: TrainConfig, trainer_class: type[Trainer], dataset: Any, saved: dict[str, Any] | None,
           folder: Path, device: torch.device, world: distributed.World, control: Control,
           store: ModelStore) -> Iterator[Event]:
    summary = dataset.summary()
    for path, reason in summary.get("skipped", []):
        yield log_event(log, "warning", f"skipped {path}: {reason}")
    torch.manual_seed(config.seed)  # the networks' initial weights
    run = Run(config, trainer_class(config, device), dataset, folder, device, world)
    if saved is None:
        fit_schedule_to_steps(config, run.steps_per_epoch)
    run.total = config.total_steps(run.steps_per_epoch)
    if saved is not None:
        run.trainer.load_state_dict(saved["trainer"])
        checkpoint.restore_rng(saved["rng"])
        run.step, run.elapsed = int(saved["step"]), float(saved.get("elapsed", 0.0))
        truncate_losses(folder / "losses.jsonl", run.step)
        yield log_event(log, "info", f"resuming {config.name} at step {run.step} of {run.total}")
    elif config.from_model:
        yield log_event(log, "info", _load_base_model(run.trainer, config, store))
    run.trainer.wrap(lambda net: distributed.wrap(net, device, world))

    started = (saved or {}).get("started", now())
    run.status = {
        "name": config.name, "kind": config.kind, "preset": config.preset, "state": "running", "pid": os.getpid(),
        "step": run.step, "total_steps": run.total, "started": started, "device": devices.describe(device),
        "data": {"A": config.dir_a, "B": config.dir_b, "pairs": config.pairs},
    }
    if world.is_main:
        atomic_write_text(folder / "config.json", json.dumps(config.to_dict(), indent=2) + "\n")
    run.write_status(updated=now())
    counts = ", ".join(f"{summary[k]} {k.replace('_', '-')}" for k in ("A", "B", "pairs", "held_out") if k in summary)
    yield log_event(log, "info", f"training {report.kind_label(config.kind)} '{config.name}' ({config.preset} preset) on "
                                 f"{devices.describe(device)}: images {counts}; {run.steps_per_epoch} steps per "
                                 f"epoch, {run.total} steps")
    if device.type == "cpu" and config.preset == "reference" and config.kind in CPU_HEAVY_REFERENCE:
        yield log_event(log, "info", "the reference preset on a CPU: each step costs about ten fast-preset steps; "
                                     "the fast preset trains a light model at 128 px")
    yield Progress(run.step, run.total, "starting", stats={"epoch": run.epoch})

    publisher = Publisher(store)
    # In this order: the time budget's total, each step's losses, progress, preview, then its checkpoint;
    # the status follows a checkpoint.
    hooks = [TimeBudget(), LossLog(run), ProgressReport(), Previews(_preview_batch(dataset, config)),
             Checkpoints(run, started, resumed=saved is not None), Status(), publisher]
    try:
        finished = yield from train_loop(run, control, hooks)
    finally:
        for hook in hooks:
            hook.close()
    if finished:
        distributed.barrier(world)
    yield Finished({"run": config.name, "step": run.step, "cancelled": not finished, "model": publisher.model})


def _file_log(path: Path) -> logging.Handler:
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    logging.getLogger("studio").addHandler(handler)
    return handler


def _preview_batch(dataset: Any, config: TrainConfig) -> dict[str, torch.Tensor]:
    dataset = fixed(dataset, config)
    items = [dataset[(0, i)] for i in range(min(PREVIEW_SAMPLES, len(dataset)))]
    return {key: torch.stack([item[key] for item in items]) for key in ("A", "B", "A_colour") if key in items[0]}


def _load_base_model(trainer: Trainer, config: TrainConfig, store: ModelStore) -> str:
    """Fine-tuning: start the generators (and optionally discriminators) from a store model."""
    assert config.from_model is not None
    model = store.load(config.from_model)
    for role, theirs in type(trainer).base_roles(config, config.from_model, model.card).items():
        spec = model.card["networks"][theirs]
        if spec["arch"] != config.generator["arch"] or spec["params"] != trainer.nets[role].config:
            raise RunError(f"--from {config.from_model}: its {theirs} is {spec['arch']} {spec['params']}, "
                           f"but the run was configured with {config.generator}")
        trainer.nets[role].load_state_dict(model.networks[theirs].state_dict())
    message = f"fine-tuning from {config.from_model!r}"
    source_run = model.card.get("provenance", {}).get("run")
    if config.keep_discriminators and source_run and (run_dir(source_run) / "checkpoint.pt").exists():
        nets = checkpoint.load(run_dir(source_run) / "checkpoint.pt")["trainer"]["nets"]
        for role in trainer.discriminator_roles:
            trainer.nets[role].load_state_dict(nets[role])
        message += f", discriminators from run {source_run!r}"
    return message
