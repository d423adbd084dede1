"""Training in a child process, supervised: the window's training job, out of the window's process.

:func:`supervised_train_job` is :func:`studio.core.train.job.train_job` as the window runs it. It
starts ``studio job-worker`` (the same executable: ``python -m studio`` or the frozen app), which
runs the ordinary job and writes its events to stdout as JSON lines (:func:`encode`); pause,
resume and cancel go the other way as lines on its stdin. The parent turns the lines back into
events, so the front end sees exactly what an in-process run yields.

Why a process and not a thread:

- **Failures stay in the child.** An out-of-memory kill, a crash in a native library or a bug
  ends the child, not the window; the run keeps its last checkpoint and resumes (the error says
  so). A child whose parent dies sees its stdin close and stops with a checkpoint.
- **A fair share of the CPU.** Torch's thread pool is process-wide: a training thread and the
  canvas would share one pool and its OpenMP barriers. The child has its own pool of
  ``threads`` (default :func:`training_threads`: every core but one) and runs at a lower
  priority (``nice`` 10; below-normal on Windows), so what a person is doing in the window
  preempts training instead of queueing behind it, and training takes the idle cycles.
  ``studio bench interactive`` measures this.

Previews travel as the PNG the run writes anyway (``samples/step_N.png``), not as pixels on the pipe.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

import numpy as np

from studio.core.errors import Cancelled, StudioError
from studio.core.images import load_rgb_uint8
from studio.core.jobs import Checkpoint, Control, Event, Finished, Item, Log, Losses, Preview, Progress

from .config import TrainConfig

log = logging.getLogger(__name__)

MARK = "@studio-event "  # what starts an event line; anything else a library prints to stdout is ignored
FAILED = "job-worker: "  # a Log line with this prefix: the job could not run (the rest says why)
CANCELLED = "job-worker: cancelled"  # the job was cancelled before its run began (Cancelled, in-process)
NICE = 10
EVENTS: dict[str, type] = {cls.__name__: cls for cls in (Progress, Item, Losses, Checkpoint, Log, Finished, Preview)}
STDERR_LINES = 40


def training_threads() -> int:
    """Torch threads for a training process beside the window: every core but one (at least one)."""
    return max(1, (os.cpu_count() or 1) - 1)


def worker_command() -> list[str]:
    """How to start ``studio job-worker`` from here: the frozen app itself, or this Python's ``-m studio``."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "job-worker"]
    return [sys.executable, "-m", "studio", "job-worker"]


# -- the wire format -------------------------------------------------------------------------------

def encode(event: Event) -> str:
    """One event as a line: the marker, then JSON (a preview without its pixels: its file has them)."""
    fields = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
    if isinstance(event, Preview):
        fields.pop("image")
    return MARK + json.dumps({"type": type(event).__name__, **fields}, default=_jsonable) + "\n"


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def decode(line: str) -> Event | None:
    """The event of a line :func:`encode` wrote; None for any other line."""
    if not line.startswith(MARK):
        return None
    fields = json.loads(line[len(MARK):])
    cls = EVENTS[fields.pop("type")]
    if cls is Preview:
        try:
            fields["image"] = load_rgb_uint8(fields["path"])
        except StudioError:  # the file went away: the preview is skipped, not the run
            return None
    return cls(**fields)


# -- the parent's side -----------------------------------------------------------------------------

def supervised_train_job(
    config: TrainConfig | None = None,
    *,
    resume: str | None = None,
    control: Control | None = None,
    threads: int | None = None,
    nice: int = NICE,
    env: dict[str, str] | None = None,
) -> Iterator[Event]:
    """:func:`~studio.core.train.job.train_job` in a child process: the same events, and a run that
    resumes when the child fails. ``threads``: the child's torch threads (default
    :func:`training_threads`); ``nice``: how much lower its priority is (0: the same)."""
    control = control or Control()
    if (config is None) == (resume is None):
        raise StudioError("give a config or a run to resume")
    request = {"resume": resume} if resume is not None else {"config": config.to_dict()}  # type: ignore[union-attr]
    command = [*worker_command(), "--threads", str(threads or training_threads()), "--nice", str(nice)]
    child_env = {**os.environ, **(env or {})}
    child_env.setdefault("OMP_NUM_THREADS", str(threads or training_threads()))
    flags = getattr(subprocess, "BELOW_NORMAL_PRIORITY_CLASS", 0) if nice > 0 else 0  # Windows: no nice
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, encoding="utf-8", bufsize=1, env=child_env, creationflags=flags)
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    process.stdin.write(json.dumps(request) + "\n")
    process.stdin.flush()
    errors: deque[str] = deque(maxlen=STDERR_LINES)
    readers = [threading.Thread(target=_collect, args=(process.stderr, errors), daemon=True),
               threading.Thread(target=_forward_control, args=(control, process), daemon=True)]
    for reader in readers:
        reader.start()
    finished = False
    try:
        for line in process.stdout:
            event = decode(line)
            if event is None:
                continue
            if isinstance(event, Finished):
                finished = True
            elif isinstance(event, Log) and event.message == CANCELLED:
                raise Cancelled("cancelled")
            elif isinstance(event, Log) and event.level == "error" and event.message.startswith(FAILED):
                raise StudioError(event.message[len(FAILED):])
            yield event
        code = process.wait()
        if not finished:
            name = (config.name if config is not None else resume) or "?"
            raise StudioError(_failure(code, name, errors))
    finally:
        if process.poll() is None:  # the parent's job was closed early: stop the child with a checkpoint
            _send(process, "cancel")
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        readers[0].join(timeout=5)


def _failure(code: int, name: str, errors: deque[str]) -> str:
    if code < 0 or code in (137, 9):
        why = f"was killed (signal {-code if code < 0 else code - 128}; out of memory?)"
    else:
        last = next((line for line in reversed(errors) if line.strip()), "")
        why = f"stopped with exit status {code}" + (f": {last.strip()}" if last else "")
    return (f"the training process {why}. The run keeps its last checkpoint: resume “{name}” from the Runs "
            f"list (or studio train --resume \"{name}\").")


def _collect(stream: Any, lines: deque[str]) -> None:
    """The child's stderr: kept (the last lines explain a failure) and passed to the log at debug level."""
    for line in stream:
        lines.append(line.rstrip("\n"))
        log.debug("training process: %s", line.rstrip())


def _send(process: subprocess.Popen, command: str) -> None:
    try:
        assert process.stdin is not None
        process.stdin.write(command + "\n")
        process.stdin.flush()
    except (OSError, ValueError):  # the child is gone or its stdin is closed
        pass


def _forward_control(control: Control, process: subprocess.Popen) -> None:
    """Pause, resume and cancel, as lines on the child's stdin, until it ends."""
    paused = False
    while process.poll() is None:
        if control.cancelled:
            _send(process, "cancel")
            return
        if control.paused != paused:
            paused = control.paused
            _send(process, "pause" if paused else "resume")
        time.sleep(0.05)


# -- the child's side ------------------------------------------------------------------------------

def serve(threads: int, nice: int) -> int:
    """``studio job-worker``: read the request line, run the job, write its events; 0 when it ended
    (finished or cancelled), 1 with an error line when it could not run."""
    import torch

    from .job import train_job

    if nice > 0 and hasattr(os, "nice"):
        os.nice(nice)
    torch.set_num_threads(max(1, threads))
    out = sys.stdout
    sys.stdout = sys.stderr  # a stray print must not corrupt the event stream
    request = json.loads(sys.stdin.readline() or "{}")
    control = Control()
    threading.Thread(target=_obey, args=(control,), daemon=True).start()
    try:
        if "config" in request:
            job = train_job(TrainConfig.from_dict(request["config"]), control=control)
        else:
            job = train_job(resume=request.get("resume"), control=control)
        for event in job:
            out.write(encode(event))
            out.flush()
    except Cancelled:
        out.write(encode(Log("info", CANCELLED)))
        out.flush()
    except StudioError as exc:
        out.write(encode(Log("error", f"{FAILED}{exc}")))
        out.flush()
        return 1
    return 0


def _obey(control: Control) -> None:
    """The parent's lines on stdin; its end (the parent died or let go) is a cancel."""
    for line in sys.stdin:
        command = line.strip()
        if command == "pause":
            control.pause()
        elif command == "resume":
            control.resume()
        elif command == "cancel":
            control.cancel()
            return
    control.cancel()
