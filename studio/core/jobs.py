"""Long work is a job: a generator of events that checks a control object between steps.

The CLI renders the events as a progress bar; the GUI runs the same generator in a worker
thread and turns events into signals.
"""

from __future__ import annotations

import threading
import time
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
