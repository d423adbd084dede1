"""Log records in the window: a logging handler that emits a Qt signal (from any thread), a view,
and the app's log file in STUDIO_HOME/logs."""

from __future__ import annotations

import html
import logging
import logging.handlers
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio.core import paths

from . import resources

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LEVELS = {"Debug": logging.DEBUG, "Info": logging.INFO, "Warnings": logging.WARNING, "Errors": logging.ERROR}


class _Bridge(QObject):
    record = Signal(int, str, str)  # level, logger name, formatted message


class QtLogHandler(logging.Handler):
    """Turns log records into a Qt signal. Emitting a signal is thread-safe; the connected slots
    run on the GUI thread because the bridge object lives there."""

    def __init__(self, level: int = logging.INFO):
        super().__init__(level)
        self.bridge = _Bridge()
        self.setFormatter(logging.Formatter("%(asctime)s  %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.bridge.record.emit(record.levelno, record.name, self.format(record))
        except RuntimeError:  # the bridge is gone while the app shuts down
            pass


def log_file() -> Path:
    return paths.studio_home() / "logs" / "studio.log"


def install_logging() -> QtLogHandler:
    """Attach the Qt handler and a rotating file handler to the root logger (once)."""
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, QtLogHandler):
            return handler
    qt_handler = QtLogHandler()
    root.addHandler(qt_handler)
    path = log_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
        file_handler.setFormatter(logging.Formatter(FORMAT))
        file_handler.setLevel(logging.INFO)
        file_handler.set_name("studio-gui-file")
        root.addHandler(file_handler)
    except OSError as exc:
        logging.getLogger(__name__).warning("no log file at %s: %s", path, exc)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    return qt_handler


def uninstall_logging() -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, QtLogHandler) or handler.get_name() == "studio-gui-file":
            root.removeHandler(handler)
            handler.close()


class LogView(QWidget):
    """The app's log, newest at the bottom, filtered by level."""

    MAX_LINES = 5000

    def __init__(self, handler: QtLogHandler | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self._text = QPlainTextEdit(readOnly=True, objectName="Log")
        self._text.setMaximumBlockCount(self.MAX_LINES)
        self._level = QComboBox()
        self._level.addItems(list(LEVELS))
        self._level.setCurrentText("Info")
        self._records: list[tuple[int, str]] = []
        clear = QPushButton("Clear")
        clear.clicked.connect(self.clear)
        top = QHBoxLayout()
        top.addWidget(QLabel("Show"))
        top.addWidget(self._level)
        top.addStretch(1)
        path = QLabel(f"Log file: {log_file()}", objectName="Hint")
        path.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        top.addWidget(path)
        top.addWidget(clear)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 8)
        layout.addLayout(top)
        layout.addWidget(self._text)
        self._level.currentTextChanged.connect(self._refilter)
        if handler is not None:
            handler.bridge.record.connect(self.add_record)

    @property
    def threshold(self) -> int:
        return LEVELS[self._level.currentText()]

    @Slot(int, str, str)
    def add_record(self, level: int, name: str, message: str) -> None:
        self._records.append((level, message))
        del self._records[: -self.MAX_LINES]
        if level >= self.threshold:
            self._append(level, message)

    def _append(self, level: int, message: str) -> None:
        c = resources.colors()
        color = c["err"] if level >= logging.ERROR else c["warn"] if level >= logging.WARNING else c["text"]
        self._text.appendHtml(f'<span style="color:{color}; white-space:pre-wrap">{html.escape(message)}</span>')

    def _refilter(self) -> None:
        self._text.clear()
        for level, message in self._records:
            if level >= self.threshold:
                self._append(level, message)

    def clear(self) -> None:
        self._records.clear()
        self._text.clear()

    def text(self) -> str:
        return self._text.toPlainText()
