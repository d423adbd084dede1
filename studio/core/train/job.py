"""Training as a job: a generator of events, controlled between steps, crash-safe and resumable.

Every run lives in ``STUDIO_HOME/runs/<name>/``: ``checkpoint.pt`` (all networks, optimisers,
step, RNG states, history pools, config), ``run.json`` (its state for listings), ``losses.jsonl``,
``samples/`` (previews) and ``log.txt``. The learning rate and the data stream are pure functions of
the step and the seed, so a run killed at any moment and resumed from its last checkpoint trains
exactly as if it had never stopped, losing at most one checkpoint interval.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import math
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from studio import __version__
from studio.core import device as devices
from studio.core import paths
from studio.core.errors import StudioError
from studio.core.fileio import atomic_write_text
from studio.core.images import write_image
from studio.core.jobs import Control, Event
from studio.core.store import ModelStore, new_card, validate_name

from . import checkpoint, data, distributed
from .config import LATENT_KINDS, TrainConfig, fit_schedule_to_steps
from .gans import Trainer

log = logging.getLogger(__name__)

PREVIEW_SAMPLES = 3


class RunError(StudioError):
    """A run cannot be started or resumed."""


# -- run folders -----------------------------------------------------------------------------------

def run_dir(name: str) -> Path:
    return paths.runs_dir() / name


def read_run(folder: Path) -> dict[str, Any]:
    """A run's status, with ``interrupted`` for a run whose process died without saying so."""
    try:
        status = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {"name": folder.name, "state": "unknown"}
    if status.get("state") in ("running", "paused") and not _alive(status.get("pid")):
        status["state"] = "interrupted"
    status["resumable"] = status.get("state") in ("interrupted", "cancelled") and (folder / "checkpoint.pt").exists()
    return status


def list_runs() -> list[dict[str, Any]]:
    root = paths.runs_dir()
    if not root.is_dir():
        return []
    runs = [read_run(p) for p in sorted(root.iterdir()) if (p / "run.json").exists()]
    return sorted(runs, key=lambda r: r.get("updated", ""), reverse=True)


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int):
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


# -- data ------------------------------------------------------------------------------------------

def build_dataset(config: TrainConfig):
    pre = data.Preprocess(config.preprocess, config.load_size, config.crop_size, flip=config.flip)
    if config.kind == "cyclegan":
        return data.unpaired(config.dir_a, config.dir_b, pre, seed=config.seed)
    if config.kind in LATENT_KINDS:
        return data.single(config.dir_a, pre, seed=config.seed)
    if config.pairs:
        return data.paired(pairs=config.pairs, preprocess=pre, seed=config.seed)
    return data.paired(config.dir_a, config.dir_b, preprocess=pre, seed=config.seed)


def _domains(config: TrainConfig) -> dict[str, str]:
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

    if config.kind in LATENT_KINDS:
        return {"A": name(config.dir_a, "A"), "B": name(config.dir_a, "A")}
    return {"A": name(config.dir_a, "A"), "B": name(config.dir_b, "B")}


# -- the job ---------------------------------------------------------------------------------------

def train_job(
    config: TrainConfig | None = None,
    *,
    resume: str | None = None,
    control: Control | None = None,
    store: ModelStore | None = None,
) -> Iterator[Event]:
    """Train (or resume) a run; yields progress, losses, previews, checkpoints, logs, then finished."""
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
    config.validate()
    validate_name(config.name)
    folder = run_dir(config.name)
    if saved is None:
        if folder.exists() and any(folder.iterdir()):
            raise RunError(f"a run named {config.name!r} already exists; resume it with --resume {config.name} "
                           "or choose another --name")
        _check_publish_name(store, config.name)

    device = devices.pick_device(config.device)
    dataset = build_dataset(config)  # bad folders fail here, before the run folder exists
    world = distributed.setup(device.type)
    if device.type == "cuda" and world.distributed:
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    (folder / "samples").mkdir(parents=True, exist_ok=True)
    log_handler = _file_log(folder / "log.txt") if world.is_main else None
    try:
        yield from _train(config, dataset, saved, folder, device, world, control, store)
    finally:
        if log_handler is not None:
            logging.getLogger("studio").removeHandler(log_handler)
            log_handler.close()
        distributed.teardown(world)


def _train(config, dataset, saved, folder, device, world, control, store) -> Iterator[Event]:
    summary = dataset.summary()
    for path, reason in summary.get("skipped", []):
        yield _log("warning", f"skipped {path}: {reason}")
    batch_world = config.batch_size * world.size
    steps_per_epoch = max(1, math.ceil(len(dataset) / batch_world))
    if saved is None:
        fit_schedule_to_steps(config, steps_per_epoch)
    total = config.total_steps(steps_per_epoch)

    torch.manual_seed(config.seed)  # the networks' initial weights
    trainer: Trainer = trainer_class(config.kind)(config, device)
    step, elapsed = 0, 0.0
    if saved is not None:
        trainer.load_state_dict(saved["trainer"])
        checkpoint.restore_rng(saved["rng"])
        step, elapsed = int(saved["step"]), float(saved.get("elapsed", 0.0))
        _truncate_losses(folder / "losses.jsonl", step)
        yield _log("info", f"resuming {config.name} at step {step} of {total}")
    elif config.from_model:
        yield _log("info", _load_base_model(trainer, config, store))
    trainer.wrap(lambda net: distributed.wrap(net, device, world))

    preview_samples = _preview_batch(dataset, config)
    status = {
        "name": config.name, "kind": config.kind, "preset": config.preset, "state": "running", "pid": os.getpid(),
        "step": step, "total_steps": total, "started": (saved or {}).get("started", _now()), "device": devices.describe(device),
        "data": {"A": config.dir_a, "B": config.dir_b, "pairs": config.pairs},
    }
    started = status["started"]

    saved_step = step if saved is not None else -1

    def write_checkpoint(reason: str) -> Event | None:
        nonlocal saved_step
        saved_step = step
        if not world.is_main:
            return None
        path = folder / "checkpoint.pt"
        checkpoint.save(path, {
            "config": config.to_dict(), "step": step, "trainer": trainer.state_dict(), "rng": checkpoint.rng_state(),
            "elapsed": elapsed, "started": started, "data_failed": dict(dataset.failed),
        })
        _write_status(folder, {**status, "step": step, "updated": _now()})
        return Event("checkpoint", {"step": step, "path": str(path), "reason": reason})

    if world.is_main:
        atomic_write_text(folder / "config.json", json.dumps(config.to_dict(), indent=2) + "\n")
        _write_status(folder, {**status, "updated": _now()})
    counts = ", ".join(f"{summary[k]} {k.replace('_', '-')}" for k in ("A", "B", "pairs", "held_out") if k in summary)
    yield _log("info", f"training {config.kind} '{config.name}' ({config.preset} preset) on {devices.describe(device)}: "
                       f"images {counts}; {steps_per_epoch} steps per epoch, {total} steps")
    yield Event("progress", {"done": step, "total": total, "epoch": step // steps_per_epoch, "message": "starting"})

    losses_file = open(folder / "losses.jsonl", "a", encoding="utf-8") if world.is_main else None
    last_checkpoint_time = time.monotonic()
    window: list[tuple[float, int]] = []  # (time, step) for it/s
    recent: list[dict[str, float]] = []
    try:
        while step < total:
            epoch = step // steps_per_epoch
            position = (step % steps_per_epoch) * batch_world
            loader = data.make_loader(dataset, batch_size=config.batch_size, seed=config.seed, epoch=epoch, start=position,
                                      workers=config.workers, device=device, rank=world.rank, world_size=world.size)
            for batch in loader:
                if step >= total or (step // steps_per_epoch) != epoch:
                    break
                stop = distributed.all_agree(world, control.cancelled, device)
                if stop:
                    event = write_checkpoint("cancel")
                    if event:
                        yield event
                    _write_status(folder, {**status, "step": step, "state": "cancelled", "updated": _now()}, world)
                    yield _log("warning", f"cancelled at step {step}; resume with: studio train --resume {config.name}")
                    yield Event("finished", {"run": config.name, "step": step, "cancelled": True, "model": None})
                    return
                if control.paused:
                    event = write_checkpoint("pause")
                    if event:
                        yield event
                    _write_status(folder, {**status, "step": step, "state": "paused", "updated": _now()}, world)
                    yield _log("info", f"paused at step {step}")
                    paused_at = time.monotonic()
                    while control.paused and not control.cancelled:
                        time.sleep(0.05)
                    last_checkpoint_time += time.monotonic() - paused_at
                    if control.cancelled:
                        continue  # handled at the top, with a final checkpoint
                    _write_status(folder, {**status, "step": step, "updated": _now()}, world)
                    yield _log("info", f"resumed at step {step}")
                t0 = time.monotonic()
                trainer.set_lr(config.lr_at(step, steps_per_epoch))
                values = trainer.step(batch)
                step += 1
                elapsed += time.monotonic() - t0
                now = time.monotonic()
                window = [*window[-19:], (now, step)]
                rate = (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0]) if len(window) > 1 else 1 / max(now - t0, 1e-9)
                recent = [*recent[-49:], values]
                if losses_file is not None and step % config.log_every == 0:
                    losses_file.write(json.dumps({"step": step, "epoch": epoch, "lr": config.lr_at(step - 1, steps_per_epoch),
                                                  "losses": values}) + "\n")
                    losses_file.flush()
                yield Event("losses", {"step": step, "epoch": epoch, "values": values,
                                       "lr": config.lr_at(step - 1, steps_per_epoch)})
                yield Event("progress", {"done": step, "total": total, "epoch": epoch, "it_per_s": rate,
                                         "eta_s": (total - step) / rate if rate > 0 else None,
                                         "message": f"epoch {epoch + 1}"})
                if world.is_main and (step % config.preview_every == 0 or step == total):
                    yield _preview(trainer, preview_samples, folder, step)
                if step % config.checkpoint_every == 0 or (time.monotonic() - last_checkpoint_time) > config.checkpoint_minutes * 60:
                    event = write_checkpoint("interval")
                    last_checkpoint_time = time.monotonic()
                    if event:
                        yield event
        if saved_step != step:
            event = write_checkpoint("end")
            if event:
                yield event
        model_name = None
        if world.is_main:
            final = {k: float(np.mean([r[k] for r in recent])) for k in recent[0]} if recent else {}
            info = _publish(trainer, config, store, summary, dataset, step, steps_per_epoch, elapsed, device, final)
            model_name = info.name
            _write_status(folder, {**status, "step": step, "state": "finished", "model": model_name, "updated": _now()})
            yield _log("info", f"published model {model_name!r} to the store")
        distributed.barrier(world)
        yield Event("finished", {"run": config.name, "step": step, "cancelled": False, "model": model_name})
    finally:
        if losses_file is not None:
            losses_file.close()


def _log(level: str, message: str) -> Event:
    getattr(log, level)(message)
    return Event("log", {"level": level, "message": message})


def _write_status(folder: Path, status: dict[str, Any], world: distributed.World | None = None) -> None:
    if world is None or world.is_main:
        atomic_write_text(folder / "run.json", json.dumps(status, indent=2) + "\n")


def _truncate_losses(path: Path, step: int) -> None:
    """Drop loss records written after the checkpoint we resume from: they will be written again."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            if json.loads(line)["step"] <= step:
                kept.append(line)
    atomic_write_text(path, "".join(f"{line}\n" for line in kept))


def _file_log(path: Path) -> logging.Handler:
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    logging.getLogger("studio").addHandler(handler)
    return handler


def trainer_class(kind: str) -> type[Trainer]:
    if kind in LATENT_KINDS:
        from .latent_trainers import LATENT_TRAINERS

        return LATENT_TRAINERS[kind]
    from .gans import TRAINERS

    return TRAINERS[kind]


def _fixed(dataset, config: TrainConfig):
    """The same files whole at the training size, no random crop or flip: previews and evaluation."""
    return dataset.with_preprocess(data.Preprocess("resize_and_crop", config.crop_size, config.crop_size, flip=False))


def _preview_batch(dataset, config: TrainConfig) -> dict[str, torch.Tensor]:
    dataset = _fixed(dataset, config)
    items = [dataset[(0, i)] for i in range(min(PREVIEW_SAMPLES, len(dataset)))]
    return {key: torch.stack([item[key] for item in items]) for key in ("A", "B") if key in items[0]}


def _held_out_metrics(trainer: Trainer, dataset, config: TrainConfig) -> dict[str, Any]:
    """Latent models: the card's held-out metric (VAE: PSNR and ELBO; flow: bits/dim)."""
    held = getattr(dataset, "held_out", None)
    if held is None or not hasattr(trainer, "evaluate"):
        return {}
    held = _fixed(held, config)
    loader = data.make_loader(held, batch_size=max(1, config.batch_size), seed=config.seed, epoch=0, workers=0)
    metrics = trainer.evaluate(loader)
    return {**{k: round(float(v), 4) for k, v in metrics.items()}, "held_out_images": len(held),
            "measured": _now()}


def _preview(trainer: Trainer, samples: dict[str, torch.Tensor], folder: Path, step: int) -> Event:
    image = trainer.preview(samples)
    path = folder / "samples" / f"step_{step:07d}.png"
    write_image(path, image.astype(np.float32) / 255.0)
    return Event("preview", {"step": step, "image": image, "path": str(path)})


def _check_publish_name(store: ModelStore, name: str) -> None:
    if store.exists(name):
        info = store.get(name)
        if info.builtin or info.card.get("provenance", {}).get("run") != name:
            raise RunError(f"a model named {name!r} is already in the store; choose another --name")


def _load_base_model(trainer: Trainer, config: TrainConfig, store: ModelStore) -> str:
    """Fine-tuning: start the generators (and optionally discriminators) from a store model."""
    model = store.load(config.from_model)
    if model.info.kind != config.kind:
        raise RunError(f"--from {config.from_model}: a {model.info.kind} model cannot start a {config.kind} run")
    for role, net in model.networks.items():
        if role not in trainer.nets:
            continue
        spec = model.card["networks"][role]
        if spec["arch"] != config.generator["arch"] or spec["params"] != trainer.nets[role].config:
            raise RunError(f"--from {config.from_model}: its {role} is {spec['arch']} {spec['params']}, "
                           f"but the run was configured with {config.generator}")
        trainer.nets[role].load_state_dict(net.state_dict())
    message = f"fine-tuning from {config.from_model!r}"
    run = model.card.get("provenance", {}).get("run")
    if config.keep_discriminators and run and (run_dir(run) / "checkpoint.pt").exists():
        nets = checkpoint.load(run_dir(run) / "checkpoint.pt")["trainer"]["nets"]
        for role in trainer.discriminator_roles:
            trainer.nets[role].load_state_dict(nets[role])
        message += f", discriminators from run {run!r}"
    return message


def _publish(trainer, config, store, summary, dataset, step, steps_per_epoch, elapsed, device, final) -> Any:
    generators = trainer.generators()
    card = new_card(
        config.kind,
        {role: (net.arch, net.config) for role, net in generators.items()},
        domains=_domains(config),
        image_size=config.crop_size,
        description=f"Trained in Studio with the {config.preset} preset.",
        provenance={
            "source": "training",
            "run": config.name,
            "preset": config.preset,
            "data": {"A": config.dir_a, "B": config.dir_b, "pairs": config.pairs},
            "images": {k: v for k, v in summary.items() if k in ("A", "B", "pairs", "held_out")},
            "skipped": [list(s) for s in summary.get("skipped", [])] + [[p, r] for p, r in dataset.failed.items()],
            "steps": step,
            "epochs": round(step / steps_per_epoch, 2),
            "duration_s": round(elapsed, 1),
            "device": devices.describe(device),
            "final_losses": {k: round(v, 4) for k, v in final.items()},
            "from_model": config.from_model,
            "studio_version": __version__,
            "config": {k: config.to_dict()[k] for k in ("gan_mode", "lr", "batch_size", "load_size", "crop_size",
                                                         "preprocess", "n_epochs", "n_epochs_decay", "seed")
                       + (("beta",) if config.kind == "vae" else ())},
        },
    )
    card["metrics"] = _held_out_metrics(trainer, dataset, config)
    states = {role: net.state_dict() for role, net in generators.items()}
    return store.save(config.name, card, states, overwrite=store.exists(config.name))
