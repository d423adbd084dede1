"""The panel contract: what the main window needs from each page of the app.

A panel is a QWidget with a ``key``, a ``title`` and an icon; it offers *commands* (``open``,
``save``, ``copy``, ``translate``, ``start``, ``pause``, ``stop``, ...) that the window's menus and
shortcuts call when the panel is shown; it says what closing would interrupt and shuts its tasks
down. Panels are listed in :data:`studio.gui.panels.PANELS`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget

from studio.gui.context import AppContext
from studio.gui.worker import TaskSlot


class Panel(QWidget):
    key: ClassVar[str] = ""
    title: ClassVar[str] = ""
    subtitle: ClassVar[str] = ""
    icon_name: ClassVar[str] = "info"

    state_changed = Signal()  # a command became available or unavailable

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName(f"Panel_{self.key}")

    def commands(self) -> dict[str, Callable[[], object]]:
        """Command name -> handler, for the commands this panel offers at all."""
        return {}

    def command_enabled(self, name: str) -> bool:
        return name in self.commands()

    def run_command(self, name: str) -> None:
        handler = self.commands().get(name)
        if handler is not None and self.command_enabled(name):
            handler()

    def activate(self, argument: object = None) -> None:
        """The panel is being shown (``argument`` comes from :meth:`AppContext.navigate`)."""

    def long_work(self) -> str | None:
        """A description of work that closing the window would interrupt (e.g. a training run)."""
        return None

    def request_stop(self) -> None:
        """Begin stopping long work gracefully (a training run writes its checkpoint first)."""

    def task_slots(self) -> list[TaskSlot]:
        return [child for child in self.findChildren(TaskSlot)]

    def is_idle(self) -> bool:
        return not any(slot.busy for slot in self.task_slots())

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        """Cancel every task of the panel and wait for their threads."""
        for slot in self.task_slots():
            slot.shutdown(timeout_ms)
