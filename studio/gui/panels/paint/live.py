"""The Paint panel's result: the picture of the painting, redrawn live while it is painted.

Each change of the painting puts a copy of the map in a one-place mailbox; one long-lived render
worker (this part's one TaskSlot) takes the newest map, paints it with the engine's
:class:`~studio.core.paint.Painter` and hands back the picture. A map the worker has not reached
yet is replaced, never queued, so the picture follows the brush at whatever rate the model keeps
up with and the window never waits. The picture is shown in the translation panels' compare view,
the painting's colours standing for the original.
"""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from studio.core import device as devices
from studio.core.jobs import Preview, Progress
from studio.core.paint.painter import Painter
from studio.gui.qimages import make_picture
from studio.gui.widgets.common import tool_button
from studio.gui.widgets.compare import CompareView, mode_buttons
from studio.gui.worker import TaskSlot

from .work import LatestRequest, PaintRequest, render_loop

log = logging.getLogger(__name__)

MODE_TIPS = {"original": "The painting only (its classes' colours)",
             "wipe": "Painting/picture wipe: drag the line",
             "side": "Side by side, zoom and pan together"}


class LiveResult(QWidget):
    """``shown`` carries the serial of the request whose picture is now shown; ``failed`` a reason."""

    shown = Signal(int)
    failed = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.mailbox = LatestRequest()
        self.slot = TaskSlot(self)
        self.serial = 0  # of the newest request
        self.shown_serial = 0  # of the request whose picture is shown
        self.rgb: np.ndarray | None = None  # the picture shown, (H, W, 3) uint8
        self.image: QImage | None = None
        self.ms: float | None = None  # the last picture's painting time
        self._frame_ms = 0.0
        self._shape: tuple[int, int] | None = None  # the map's (H, W) now: pictures of another size are stale
        self._seeds: dict[int, int] = {}  # serial -> seed, for the info line
        self._device = ""
        self.view = CompareView()
        self.view.before_name = "Painting"
        self.view.set_mode("result")  # the painting is beside it already
        self.view.empty_text = "The picture appears here as you paint."
        frame = QFrame(objectName="ImageFrame")
        frame_layout = QVBoxLayout(frame)
        frame_layout.setContentsMargins(0, 0, 0, 0)
        frame_layout.addWidget(self.view)
        self.info = QLabel("", objectName="Muted")
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.info.setToolTip("The time the last picture took to paint, on the render worker")
        bar = QHBoxLayout()
        bar.setSpacing(2)
        mode_row, self.mode_group = mode_buttons(self.view, self, MODE_TIPS)
        bar.addLayout(mode_row)
        bar.addStretch(1)
        for icon_name, tip, action in (("zoom-out", "Zoom out (−)", lambda: self.view.zoom_by(0.8)),
                                       ("zoom-in", "Zoom in (+)", lambda: self.view.zoom_by(1.25)),
                                       ("fit", "Fit to the view (double-click)", self.view.fit)):
            button = tool_button(icon_name, tip)
            button.clicked.connect(action)
            bar.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        layout.addLayout(bar)
        layout.addWidget(frame, 1)
        layout.addWidget(self.info)
        self.slot.progress.connect(self._timed)
        self.slot.preview.connect(self._ready)
        self.slot.log.connect(lambda _level, message: self._warn(message))
        self.slot.failed.connect(self.failed)

    # -- requests ------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """A map is waiting or being painted (the worker idles between pictures)."""
        return self.mailbox.pending or self.shown_serial != self.serial

    def show_painting(self, colours: QImage | None) -> None:
        """The painting in its classes' colours, as the compare view's original."""
        self.view.set_before(make_picture(colours) if colours is not None else None)

    def request(self, painter: Painter, labels: np.ndarray, seed: int) -> int:
        """Paint ``labels`` (copied here) with ``seed``; a map still waiting is dropped. Returns the serial."""
        shape = (int(labels.shape[0]), int(labels.shape[1]))
        if shape != self._shape:
            self._shape = shape
            self.clear_picture()  # a picture of another size would not line up with the painting
        self.serial += 1
        self._seeds = {s: v for s, v in self._seeds.items() if s > self.shown_serial}
        self._seeds[self.serial] = seed
        self._device = devices.describe(painter.device)
        self.mailbox.put(PaintRequest(self.serial, painter, labels.copy(), int(seed)))
        if not self.slot.busy:
            self.slot.start(render_loop(self.mailbox), "painting renderer")
        return self.serial

    def clear_picture(self) -> None:
        self.rgb, self.image = None, None
        self.view.set_after(None)

    def stop(self) -> None:
        """No model: forget what is waiting and what is shown."""
        self.mailbox.take(0)
        self.shown_serial = self.serial
        self._shape = None
        self.clear_picture()
        self.info.setText("")

    def _timed(self, progress: Progress) -> None:
        self._frame_ms = float(progress.stats.get("ms", 0.0))

    def _ready(self, preview: Preview, image: QImage) -> None:
        self.shown_serial = max(self.shown_serial, preview.step)
        rgb = preview.image
        if (int(rgb.shape[0]), int(rgb.shape[1])) != self._shape:
            return  # painted from a map the painting no longer has; a newer request is on its way
        self.rgb, self.image, self.ms = rgb, image, self._frame_ms
        self.view.set_after(make_picture(image))
        seed = self._seeds.get(preview.step)
        waiting = "" if self.shown_serial == self.serial else " · painting…"
        self.info.setText(f"Painted {rgb.shape[1]}×{rgb.shape[0]} in {self.ms:.0f} ms on {self._device}"
                          + (f" · seed {seed}" if seed is not None else "") + waiting)
        self.shown.emit(preview.step)

    def _warn(self, message: str) -> None:
        """A map the model could not paint: say why; with nothing waiting, the worker has caught up."""
        if not self.mailbox.pending:
            self.shown_serial = self.serial
        log.warning("the painting could not be painted: %s", message)
        self.info.setText(f"⚠ {message}")
