"""Engine jobs on a terminal: a progress bar, skipped files as they come, the log."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable
from typing import Any, TextIO

from studio.core.jobs import Checkpoint, Event, Finished, Item, Log, Losses, Preview, Progress, unknown
from studio.core.report import duration, transfer

log = logging.getLogger("studio")


class ProgressBar:
    """A one-line progress bar on a terminal; plain periodic lines when output is not a terminal."""

    def __init__(self, stream: TextIO | None = None, width: int = 30):
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = self.stream.isatty()
        self.started = time.monotonic()
        self._last_line = 0.0

    def update(self, done: int, total: int, message: str = "", part: float = 0.0) -> None:
        """``done`` of ``total`` items, and ``part`` (0..1) of the next one when it reports its own progress."""
        now = time.monotonic()
        if not self.tty and done != total and now - self._last_line < 5:
            return
        if self.tty and done != total and now - self._last_line < 0.1:
            return  # a tiled photo reports every tile; redrawing faster than this is only noise
        self._last_line = now
        position = min(done + part, total)
        frac = position / total if total else 1.0
        filled = int(round(self.width * frac))
        elapsed = now - self.started
        eta = f" ETA {duration(elapsed / position * (total - position))}" if 0 < position < total else ""
        within = f" ({part:.0%} of this one)" if part else ""
        line = (f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} {duration(elapsed)}{eta} "
                f"{message}{within}")
        if self.tty:
            self.stream.write("\r\033[K" + line[:200])
            if done >= total:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def update_bytes(self, done: float, total: float, message: str = "", bytes_per_s: float | None = None,
                     eta_s: float | None = None) -> None:
        """A download: bytes of the total, the speed and the time left."""
        now = time.monotonic()
        finished = bool(total) and done >= total
        if not finished and now - self._last_line < (0.1 if self.tty else 5):
            return
        self._last_line = now
        frac = min(1.0, done / total) if total else 0.0
        filled = int(round(self.width * frac))
        line = f"[{'#' * filled}{'.' * (self.width - filled)}] {transfer(done, total, bytes_per_s, eta_s)} {message}"
        if self.tty:
            self.stream.write("\r\033[K" + line[:200])
            if finished:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def clear(self) -> None:
        if self.tty:
            self.stream.write("\r\033[K")



def render(events: Iterable[Event], quiet: bool = False, failed: str = "skipped") -> Any:
    """Drive a job to its end, drawing progress; return the value of its :class:`Finished` event.
    A failed item is printed as ``{failed} {item}: {reason}`` as it comes.

    Every kind of event has its place here; anything else is a bug in the job and raises."""
    bar = None if quiet else ProgressBar()
    value: Any = None
    for event in events:
        if isinstance(event, Progress):
            if bar is not None and "bytes_per_s" in event.stats:  # a download
                bar.update_bytes(event.done, event.total, event.message, event.stats["bytes_per_s"],
                                 event.stats.get("eta_s"))
            elif bar is not None:
                bar.update(int(event.done), int(event.total), event.message, event.part)
        elif isinstance(event, Item):
            if event.skipped:
                if bar is not None:
                    bar.clear()
                print(f"{failed} {event.path}: {event.error}", file=sys.stderr)
        elif isinstance(event, Log):
            log.log(logging.getLevelName(event.level.upper()), event.message)
        elif isinstance(event, Checkpoint):
            log.info("checkpoint at step %s: %s", event.step, event.path)
        elif isinstance(event, (Losses, Preview)):
            pass  # a training job's: studio train shows them through its own filter first
        elif isinstance(event, Finished):
            value = event.value  # keep going: the job's clean-up runs after its last yield
        else:
            raise unknown(event)
    return value
