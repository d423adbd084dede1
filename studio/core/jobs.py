"""Long work is a job: a generator of events that checks a control object between steps.

The CLI renders the events as a progress bar; the GUI runs the same generator in a worker
thread and turns events into signals.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .errors import Cancelled

T = TypeVar("T")
R = TypeVar("R")
Steps = Generator[tuple[float, float], None, R]  # yields (work done, total work), returns the result


class Control:
    """Pause, resume and cancel a running job from another thread."""

    def __init__(self) -> None:
        self._cancel = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def cancel(self) -> None:
        self._cancel.set()
        self._running.set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def checkpoint(self) -> None:
        """Block while paused; raise :class:`Cancelled` if cancelled. Jobs call this between steps."""
        while not self._running.wait(timeout=0.1):
            pass
        if self._cancel.is_set():
            raise Cancelled("cancelled")


@dataclass
class Event:
    """Something a job reports. ``kind`` is one of the names below; ``data`` depends on it.

    progress: done, total, (message)    log: level, message     item: path, output / error
    losses: step, values                preview: step, images   checkpoint: path, step
    finished: summary                   failed: error
    """

    kind: str
    data: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.monotonic)


def progress(done: int, total: int, message: str = "", **extra: Any) -> Event:
    return Event("progress", {"done": done, "total": total, "message": message, **extra})


def step_events(steps: Steps[R], control: Control, to_event: Callable[[float], T]) -> Generator[T, None, R]:
    """Drive ``steps`` (one piece of work reporting how far it is), checking ``control`` after each
    step and yielding ``to_event(fraction done)``; return what ``steps`` returns. Closing this
    generator (a cancelled job) closes ``steps``, so its clean-up runs."""
    with contextlib.closing(steps):
        while True:
            try:
                done, total = next(steps)
            except StopIteration as finished:
                return finished.value
            control.checkpoint()
            yield to_event(done / total if total else 1.0)


def run_steps(
    steps: Steps[R], control: Control | None = None, on_progress: Callable[[float], None] | None = None
) -> R:
    """Run ``steps`` to its result in this thread, as :func:`step_events` would drive it."""
    events = step_events(steps, control or Control(), on_progress or (lambda _fraction: None))
    while True:
        try:
            next(events)
        except StopIteration as finished:
            return finished.value


def finished_data(events: Iterable[Event], on_event: Callable[[Event], None] | None = None) -> dict[str, Any]:
    """Run an event job to its end (outside any worker) and return the data of its ``finished``
    event; every other event goes to ``on_event``."""
    summary: dict[str, Any] = {}
    for event in events:
        if event.kind == "finished":
            summary = event.data
        elif on_event is not None:
            on_event(event)
    return summary
