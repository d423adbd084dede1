"""The translation panels' image area: the compare view with its toolbar, and the live
translation of the open photo (progress "Translating… N% · Esc to stop", cancel)."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from studio.core.jobs import Progress
from studio.core.store import ModelStore
from studio.gui.widgets.common import tool_button
from studio.gui.widgets.compare import CompareView, mode_buttons
from studio.gui.worker import TaskSlot

from .work import Choice, OpenedImage, Translation, TranslatorCache, translate_photo


class LiveTranslation(QWidget):
    """Shows the open photo and its latest translation. A new request cancels the stale one, so
    the result shown always belongs to the latest choice; ``shown`` carries each result."""

    shown = Signal(object)  # Translation
    failed = Signal(str)
    idle = Signal()  # the translation is over, however it ended

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.result: Translation | None = None
        self._name = ""  # the open photo's file name, for the info line
        self.translators = TranslatorCache()
        self.slot = TaskSlot(self)
        self.view = CompareView()
        frame = QFrame(objectName="ImageFrame")
        frame_layout = QVBoxLayout(frame)
        frame_layout.setContentsMargins(0, 0, 0, 0)
        frame_layout.addWidget(self.view)

        self.info = QLabel(objectName="Muted")
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # a long line must not widen the window: it is cut at the view's width (the tooltip has it whole)
        self.info.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.zoom_label = QLabel("", objectName="Muted")
        bar = QHBoxLayout()
        bar.addWidget(self.info, 1)
        mode_row, self.mode_group = mode_buttons(self.view, self)
        bar.addLayout(mode_row)
        bar.addSpacing(12)
        for icon_name, tip, action in (("zoom-out", "Zoom out (−)", lambda: self.view.zoom_by(0.8)),
                                       ("zoom-in", "Zoom in (+)", lambda: self.view.zoom_by(1.25)),
                                       ("fit", "Fit to window (0, or double-click)", self.view.fit),
                                       ("actual-size", "Actual pixels, 100% (1)", self.view.actual_size)):
            button = tool_button(icon_name, tip)
            button.clicked.connect(action)
            bar.addWidget(button)
        bar.addWidget(self.zoom_label)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        layout.addWidget(frame, 1)
        layout.addLayout(bar)

        self.view.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f}%"))
        self.slot.started.connect(lambda _n: self.view.set_busy("Translating…"))
        self.slot.progress.connect(self._progress)
        self.slot.result.connect(self._ready)
        self.slot.failed.connect(self._failed)
        self.slot.idle.connect(self._idle)

    def show_photo(self, opened: OpenedImage) -> None:
        """A new photo: shown alone until its translation arrives."""
        self.result = None
        self.view.set_after(None)
        self.view.set_before(opened.picture)
        width, height = opened.image.size
        self.info.setText(f"{opened.image.path.name} — {width}×{height}")
        self._name = opened.image.path.name

    def translate(self, store: ModelStore, choice: Choice, opened: OpenedImage) -> None:
        """Translate ``opened`` with ``choice``; a running translation is cancelled."""
        job = translate_photo(self.translators, store, choice, opened.image.rgb)
        self.slot.start(job, f"translating with {choice.info.name}")

    def drop(self) -> None:
        """The translation running belongs to a photo that is no longer wanted: forget it."""
        self.slot.detach()

    def cancel(self) -> None:
        """Esc: stop the translation (a tiled one stops after its current tile)."""
        if self.slot.busy:
            self.slot.cancel()
            self.view.set_busy("Stopping…")

    def _progress(self, progress: Progress) -> None:
        """A tiled translation of a large photo takes a while: say how far it is."""
        if progress.total:
            self.view.set_busy(f"Translating… {math.floor(progress.fraction * 100)}% · Esc to stop")

    def _ready(self, result: Translation) -> None:
        self.result = result
        self.view.set_after(result.picture)
        tiles = "whole image" if not result.tile else f"{result.tile}-px tiles"
        if result.working:
            tiles += f" at {result.working} px + photo detail"
        width, height = result.picture.width, result.picture.height
        self.info.setText(f"{self._name} — {width}×{height} · {result.model} ({result.direction}) · "
                          f"{result.seconds:.2f} s on {result.device}, {tiles}")
        self.info.setToolTip(self.info.text())
        self.shown.emit(result)

    def _failed(self, message: str) -> None:
        self.view.set_busy("")
        self.failed.emit(message)

    def _idle(self) -> None:
        self.view.set_busy("")
        self.idle.emit()
