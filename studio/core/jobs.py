"""Long work is a job: a generator of typed events that checks a :class:`Control` between steps.

A job yields :class:`Progress`, :class:`Item`, :class:`Losses`, :class:`Preview`,
:class:`Checkpoint` and :class:`Log` records as it goes, and ends with one :class:`Finished`
carrying its value. That is the only way work reports itself: a piece of a job (one photo's
tiles) is a job too, and :func:`nested` drives it inside a larger one. The CLI renders the events
as a progress bar; the GUI runs the same generator in a worker thread and turns events into
signals. Both dispatch on :data:`EVENT_TYPES` and treat any other object as a bug.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import Cancelled


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


# -- the vocabulary --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Progress:
    """``done`` of ``total`` units of work; ``part`` (0..1) of the next unit when that unit reports
    its own progress (the tiles of one photo). ``stats`` holds figures a front end may show
    (``epoch``, ``it_per_s``, ``eta_s``, ``elapsed``)."""

    done: float
    total: float
    message: str = ""
    part: float = 0.0
    stats: Mapping[str, Any] = field(default_factory=dict)

    @property
    def fraction(self) -> float:
        return min(1.0, (self.done + self.part) / self.total) if self.total else 1.0


@dataclass(frozen=True)
class Item:
    """One input handled: written to ``output``, or skipped because of ``error``."""

    path: str
    output: str | None = None
    error: str | None = None

    @property
    def skipped(self) -> bool:
        return self.error is not None


@dataclass(frozen=True)
class Losses:
    """A training step's losses."""

    step: int
    values: Mapping[str, float]
    epoch: int = 0
    lr: float | None = None


@dataclass(frozen=True)
class Preview:
    """A picture of how training is going: an (H, W, 3) uint8 array, also saved at ``path``."""

    step: int
    image: Any
    path: str = ""


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint written at ``step`` (``reason``: interval, pause, cancel, end)."""

    step: int
    path: str
    reason: str = "interval"


@dataclass(frozen=True)
class Log:
    """A line for the person: ``level`` is a logging level name in lower case."""

    level: str
    message: str


@dataclass(frozen=True)
class Finished:
    """The job's last event: its result (a summary dict, an image, a model)."""

    value: Any = None


Event = Progress | Item | Losses | Preview | Checkpoint | Log | Finished
EVENT_TYPES: tuple[type, ...] = (Progress, Item, Losses, Preview, Checkpoint, Log, Finished)
Job = Iterable[Event]


class UnknownEvent(TypeError):
    """A job yielded something that is not one of :data:`EVENT_TYPES`: a bug in the job."""


def unknown(event: object) -> UnknownEvent:
    return UnknownEvent(f"a job yielded {type(event).__name__}, which is not an event "
                        f"({', '.join(t.__name__ for t in EVENT_TYPES)})")


def log_event(logger: Any, level: str, message: str) -> Log:
    """Log ``message`` through ``logger`` and return it as an event for the front ends."""
    getattr(logger, level)(message)
    return Log(level, message)


# -- driving jobs ----------------------------------------------------------------------------------

def run(job: Job, on_event: Callable[[Event], None] | None = None, control: Control | None = None) -> Any:
    """Run ``job`` to its end in this thread and return the value of its :class:`Finished` event;
    every other event goes to ``on_event``, and ``control`` is checked after each (a cancelled
    run raises :class:`Cancelled` and closes the job, so its clean-up runs)."""
    value: Any = None
    with _closing(job) as events:
        for event in events:
            if isinstance(event, Finished):
                value = event.value  # keep going: the job's clean-up runs after its last yield
                continue
            if not isinstance(event, EVENT_TYPES):
                raise unknown(event)
            if on_event is not None:
                on_event(event)
            if control is not None:
                control.checkpoint()
    return value


def nested(job: Job, control: Control | None = None,
           to_event: Callable[[Progress], Event | None] | None = None) -> Generator[Event, None, Any]:
    """Drive ``job`` (a piece of a larger job) inside a larger one: check ``control`` (if any) after
    each of its events, yield ``to_event(progress)`` for its progress (the progress itself when
    ``to_event`` is None; nothing when it returns None) and its other events as they are; return
    the value of its :class:`Finished`. Closing this generator (a cancelled job) closes ``job``, so
    its clean-up runs. Use as ``value = yield from nested(...)``."""
    value: Any = None
    with _closing(job) as events:
        for event in events:
            if isinstance(event, Finished):
                value = event.value
                continue
            if control is not None:
                control.checkpoint()
            if isinstance(event, Progress):
                mapped = event if to_event is None else to_event(event)
                if mapped is not None:
                    yield mapped
            elif isinstance(event, EVENT_TYPES):
                yield event
            else:
                raise unknown(event)
    return value


@contextlib.contextmanager
def _closing(job: Job) -> Generator[Iterator[Event], None, None]:
    """Iterate ``job`` and close it however the iteration ends (generators run their ``finally``)."""
    events = iter(job)
    try:
        yield events
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()


def returning(function: Callable[[Control], Any]) -> Callable[[Control], Job]:
    """A job for work that reports nothing on the way (load a model, read a photo): one Finished."""

    def job(control: Control) -> Job:
        yield Finished(function(control))

    return job
