"""Engine jobs on a terminal: a progress bar, skipped files as they come, the log."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable
from typing import Any, TextIO

from studio.core.errors import StudioError
from studio.core.jobs import Event
from studio.core.report import duration

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

    def clear(self) -> None:
        if self.tty:
            self.stream.write("\r\033[K")



def render(events: Iterable[Event], quiet: bool = False) -> dict[str, Any]:
    """Drive a job to its end, drawing progress; return the data of its ``finished`` event."""
    bar = None if quiet else ProgressBar()
    summary: dict[str, Any] = {}
    for event in events:
        if event.kind == "progress" and bar is not None:
            data = event.data
            bar.update(data["done"], data["total"], data.get("message", ""), data.get("part", 0.0))
        elif event.kind == "item" and "error" in event.data:
            if bar is not None:
                bar.clear()
            print(f"skipped {event.data['path']}: {event.data['error']}", file=sys.stderr)
        elif event.kind == "log":
            log.log(logging.getLevelName(event.data.get("level", "info").upper()), event.data["message"])
        elif event.kind == "finished":
            summary = event.data
        elif event.kind == "failed":
            raise StudioError(str(event.data.get("error")))
    return summary

