"""What every panel shares: settings, the model store (with a change signal), notifications,
error reports and navigation between panels."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal

from studio.core.store import ModelInfo, ModelStore

from .settings import Settings

log = logging.getLogger(__name__)



class StoreHub(QObject):
    """The model store as the GUI sees it: a cached listing and ``changed`` when it differs.

    Panels call :meth:`refresh` after they change the store; a file-system watcher catches
    changes made elsewhere (the command line, another window).
    """

    changed = Signal()

    def __init__(self, store: ModelStore | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.store = store or ModelStore()
        self._models: list[ModelInfo] = []
        self._signature: tuple = ()
        self._debounce = QTimer(self, singleShot=True, interval=400)
        self._debounce.timeout.connect(self.refresh)
        self._watcher = QFileSystemWatcher(self)
        try:
            self.store.user_dir.mkdir(parents=True, exist_ok=True)
            self._watcher.addPath(str(self.store.user_dir))
        except OSError as exc:
            log.warning("cannot watch %s: %s", self.store.user_dir, exc)
        self._watcher.directoryChanged.connect(lambda _path: self._debounce.start())
        self.refresh()

    def refresh(self) -> None:
        models = self.store.list()
        signature = tuple((m.name, str(m.path), m.builtin, _card_mtime(m)) for m in models)
        if signature != self._signature:
            self._models, self._signature = models, signature
            self.changed.emit()

    def models(self, kinds: Iterable[str] | None = None) -> list[ModelInfo]:
        wanted = set(kinds) if kinds is not None else None
        return [m for m in self._models if wanted is None or m.kind in wanted]

    def find(self, name: str) -> ModelInfo | None:
        return next((m for m in self._models if m.name == name), None)


def _card_mtime(info: ModelInfo) -> float:
    try:
        return (info.path / "card.json").stat().st_mtime
    except OSError:
        return 0.0


class AppContext(QObject):
    """Handed to every panel. Panels report through it; the main window shows what they report."""

    notified = Signal(str, str, object)  # message, level (info/success/warning/error), action or None
    error_reported = Signal(str, str)  # title, one-line message
    navigate_requested = Signal(str, object)  # panel key, argument for the panel (or None)
    device_changed = Signal(str)  # the label; device_type says which kind of device it is

    def __init__(self, settings: Settings, store: StoreHub, parent: QObject | None = None):
        super().__init__(parent)
        self.settings = settings
        self.store = store
        self.device_label = "detecting…"
        self.device_type = ""  # "cpu", "cuda", "mps" once probed
        self.devices_available: list[str] = ["auto", "cpu"]

    def notify(self, message: str, level: str = "info", action: tuple[str, Any] | None = None) -> None:
        """A short message for the person (a toast and the status bar); ``action`` is (label, callable)."""
        log.log(logging.WARNING if level in ("warning", "error") else logging.INFO, message)
        self.notified.emit(message, level, action)

    def error(self, title: str, message: str) -> None:
        """A readable error dialog: one or two sentences, never a traceback."""
        log.error("%s: %s", title, message)
        self.error_reported.emit(title, message)

    def navigate(self, key: str, argument: Any = None) -> None:
        self.navigate_requested.emit(key, argument)

    def set_device(self, label: str, available: list[str], device_type: str = "") -> None:
        self.device_label = label
        self.device_type = device_type
        self.devices_available = available
        self.device_changed.emit(label)
