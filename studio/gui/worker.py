"""Engine jobs in worker threads, reported through Qt signals.

A *job* is a callable taking a :class:`~studio.core.jobs.Control` and returning a generator of
:mod:`studio.core.jobs` events (work that reports nothing on the way is wrapped with
:func:`~studio.core.jobs.returning`). The worker drives it to its end and turns each event into
the signal of its kind; the value of its ``Finished`` event is the result. Signals are emitted from
the worker thread and delivered on the GUI thread (queued connections), so slots never race with
the job. An object that is not an event is a bug in the job: the task fails and says so.

A panel owns one :class:`TaskSlot` per kind of work (Orange3's pattern): starting a new task in a
slot cancels the stale one and ignores whatever it still reports; closing the panel shuts its
slots down. No torch call runs on the GUI thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

from studio.core.errors import Cancelled, StudioError
from studio.core.jobs import (
    Checkpoint,
    Control,
    Event,
    Finished,
    Item,
    Log,
    Losses,
    Preview,
    Progress,
    unknown,
)

from .qimages import qimage_from_array

log = logging.getLogger(__name__)

Job = Callable[[Control], Iterable[Event]]

# Workers still running, detached ones included: a QThread must outlive its run().
_live: set[Worker] = set()


class Worker(QThread):
    """Runs one job in its own thread; ``control`` pauses, resumes or cancels it between steps.

    Exactly one of ``result``, ``failed`` or ``cancelled`` is emitted last, then QThread's own
    ``finished``. ``result`` carries the value of the job's ``Finished`` event.
    """

    progress = Signal(object)  # Progress
    log = Signal(str, str)  # level, message
    item = Signal(object)  # Item
    losses = Signal(object)  # Losses
    preview = Signal(object, object)  # Preview, and its image as a QImage
    checkpoint = Signal(object)  # Checkpoint
    result = Signal(object)
    failed = Signal(str)  # one readable line, never a traceback
    cancelled = Signal()

    def __init__(self, job: Job, name: str = "task", control: Control | None = None):
        super().__init__()
        self.setObjectName(name)
        self.name = name
        self.control = control or Control()
        self.outcome: str | None = None  # "result", "failed" or "cancelled" once over
        self.error: str | None = None
        self.value: Any = None
        self._job = job
        _live.add(self)
        self.finished.connect(self._forget)

    def run(self) -> None:
        try:
            value = self._drive(self._job(self.control))
            self.value, self.outcome = value, "result"
            self.result.emit(value)
        except Cancelled:
            self.outcome = "cancelled"
            self.cancelled.emit()
        except StudioError as exc:
            self._fail(str(exc))
        except MemoryError:
            self._fail(f"{self.name}: not enough memory. Try a smaller tile size or a smaller image.")
        except Exception as exc:  # a bug must reach the log, and the person a readable line
            log.exception("%s failed unexpectedly", self.name)
            first = (str(exc).strip().splitlines() or [""])[0]
            self._fail(f"{self.name} failed unexpectedly ({type(exc).__name__}: {first}). "
                       "The details are in the log file.")

    def _drive(self, events: Iterable[Event]) -> Any:
        value: Any = None
        for event in events:
            if isinstance(event, Finished):
                value = event.value  # keep iterating: the job's clean-up runs after its last yield
            elif isinstance(event, Progress):
                self.progress.emit(event)
            elif isinstance(event, Item):
                self.item.emit(event)
            elif isinstance(event, Losses):
                self.losses.emit(event)
            elif isinstance(event, Preview):
                image = event.image  # QImage (not QPixmap) is safe off the GUI thread
                self.preview.emit(event, qimage_from_array(image) if isinstance(image, np.ndarray) else None)
            elif isinstance(event, Checkpoint):
                self.checkpoint.emit(event)
            elif isinstance(event, Log):
                self.log.emit(event.level, event.message)
            else:
                raise unknown(event)
        return value

    def _fail(self, message: str) -> None:
        self.outcome, self.error = "failed", message
        self.failed.emit(message)

    @Slot()
    def _forget(self) -> None:
        _live.discard(self)


def live_workers() -> list[Worker]:
    return [w for w in _live if w.isRunning()]


def shutdown_workers(timeout_ms: int = 10_000) -> bool:
    """Cancel every running worker and wait for them; True if all ended in time."""
    workers = list(_live)
    for worker in workers:
        worker.control.cancel()
    return all(worker.wait(timeout_ms) for worker in workers)


class TaskSlot(QObject):
    """At most one current task; its signals are forwarded, a replaced task's are dropped.

    ``start`` cancels the current task (it stops at its next checkpoint) and forgets it, so a
    stale result can never overwrite a newer one. ``cancel`` asks the current task to stop but
    keeps listening, for jobs that report how they stopped (a training run's last checkpoint).
    """

    started = Signal(str)
    progress = Signal(object)
    log = Signal(str, str)
    item = Signal(object)
    losses = Signal(object)
    preview = Signal(object, object)
    checkpoint = Signal(object)
    result = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    idle = Signal()  # the current task is over, however it ended (after result/failed/cancelled)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._current: Worker | None = None

    @property
    def current(self) -> Worker | None:
        return self._current

    @property
    def busy(self) -> bool:
        return self._current is not None

    @property
    def paused(self) -> bool:
        return self._current is not None and self._current.control.paused

    def start(self, job: Job, name: str = "task") -> Worker:
        self.detach()
        worker = Worker(job, name)
        worker.progress.connect(self._on_progress)
        worker.log.connect(self._on_log)
        worker.item.connect(self._on_item)
        worker.losses.connect(self._on_losses)
        worker.preview.connect(self._on_preview)
        worker.checkpoint.connect(self._on_checkpoint)
        worker.result.connect(self._on_result)
        worker.failed.connect(self._on_failed)
        worker.cancelled.connect(self._on_cancelled)
        worker.finished.connect(self._on_finished)
        self._current = worker
        worker.start()
        self.started.emit(name)
        return worker

    def detach(self) -> None:
        """Cancel the current task and stop listening to it."""
        if self._current is not None:
            self._current.control.cancel()
            self._current = None

    def cancel(self) -> None:
        if self._current is not None:
            self._current.control.cancel()

    def pause(self) -> None:
        if self._current is not None:
            self._current.control.pause()

    def resume(self) -> None:
        if self._current is not None:
            self._current.control.resume()

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Cancel the current task and wait for its thread (closing a panel)."""
        worker = self._current
        self.detach()
        return worker.wait(timeout_ms) if worker is not None else True

    def _mine(self) -> bool:
        return self.sender() is self._current and self._current is not None

    @Slot(object)
    def _on_progress(self, progress: Progress) -> None:
        if self._mine():
            self.progress.emit(progress)

    @Slot(str, str)
    def _on_log(self, level: str, message: str) -> None:
        if self._mine():
            self.log.emit(level, message)

    @Slot(object)
    def _on_item(self, item: Item) -> None:
        if self._mine():
            self.item.emit(item)

    @Slot(object)
    def _on_losses(self, losses: Losses) -> None:
        if self._mine():
            self.losses.emit(losses)

    @Slot(object, object)
    def _on_preview(self, preview: Preview, qimage: Any) -> None:
        if self._mine():
            self.preview.emit(preview, qimage)

    @Slot(object)
    def _on_checkpoint(self, checkpoint: Checkpoint) -> None:
        if self._mine():
            self.checkpoint.emit(checkpoint)

    @Slot(object)
    def _on_result(self, value: Any) -> None:
        if self._mine():
            self.result.emit(value)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        if self._mine():
            self.failed.emit(message)

    @Slot()
    def _on_cancelled(self) -> None:
        if self._mine():
            self.cancelled.emit()

    @Slot()
    def _on_finished(self) -> None:
        if self._mine():
            self._current = None
            self.idle.emit()
