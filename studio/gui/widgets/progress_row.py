"""The one progress-and-cancel row of the panels: a bar, a Cancel button and a status line.

A panel part that runs a job shows it with :meth:`ProgressRow.begin`, feeds it the job's
:class:`~studio.core.jobs.Progress` records with :meth:`ProgressRow.show_progress`, and ends it
with :meth:`ProgressRow.end` (the bar and the button go, the closing message stays).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QBoxLayout, QHBoxLayout, QLabel, QProgressBar, QVBoxLayout, QWidget

from studio.core.jobs import Progress
from studio.gui.widgets.common import push_button

STEPS = 1000  # the bar's resolution: Progress is fractional (the tiles of one photo), QProgressBar is not


class ProgressRow(QWidget):
    """``cancel_requested`` is emitted when the person presses Cancel (the button then says
    "Cancelling…" until :meth:`end`). ``stacked`` puts the status line under the bar, for narrow
    sidebars; otherwise bar, button and status sit on one line."""

    cancel_requested = Signal()

    def __init__(self, idle_text: str = "", stacked: bool = False, bar_width: int | None = None,
                 cancellable: bool = True, parent: QWidget | None = None):
        super().__init__(parent)
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.bar.setRange(0, STEPS)
        if bar_width:
            self.bar.setMaximumWidth(bar_width)
        self.cancel_button = push_button("Cancel", "cancel")
        self.cancel_button.clicked.connect(self._cancel)
        self.cancellable = cancellable
        self.status = QLabel(idle_text, objectName="Hint" if stacked else "Muted")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._idle_text = idle_text

        layout: QBoxLayout = QVBoxLayout(self) if stacked else QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6 if stacked else 8)
        if stacked:
            layout.addWidget(self.bar)
            layout.addWidget(self.status)
            buttons = QHBoxLayout()
            buttons.addWidget(self.cancel_button)
            buttons.addStretch(1)
            layout.addLayout(buttons)
        else:
            layout.addWidget(self.bar)
            layout.addWidget(self.cancel_button)
            layout.addWidget(self.status, 1)
        self.bar.hide()
        self.cancel_button.hide()
        self.status.setVisible(bool(idle_text))

    @property
    def running(self) -> bool:
        return self.bar.isVisible()

    def begin(self, message: str) -> None:
        """A job started: a busy bar until its first progress, Cancel, and ``message``."""
        self.bar.setRange(0, 0)
        self.bar.show()
        self.cancel_button.setEnabled(True)
        self.cancel_button.setText("Cancel")
        self.cancel_button.setVisible(self.cancellable)
        self.set_message(message)

    def show_progress(self, progress: Progress, message: str | None = None) -> None:
        """Show how far the job is; ``message`` (default: the record's own) goes on the status line."""
        if self.bar.maximum() == 0:
            self.bar.setRange(0, STEPS)
        self.bar.setValue(round(progress.fraction * STEPS))
        text = progress.message if message is None else message
        if text and self.cancel_button.isEnabled():
            self.set_message(text)

    def set_message(self, text: str) -> None:
        self.status.setText(text)
        self.status.setVisible(bool(text))

    def end(self, message: str | None = None) -> None:
        """The job is over: hide the bar and Cancel; show ``message`` (default: the idle text)."""
        self.bar.hide()
        self.cancel_button.hide()
        self.set_message(self._idle_text if message is None else message)

    def _cancel(self) -> None:
        self.cancel_button.setEnabled(False)
        self.cancel_button.setText("Cancelling…")
        self.cancel_requested.emit()
