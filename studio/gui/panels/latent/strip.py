"""The interpolation strip: two anchors, decoded frames between them (this part's TaskSlot), a
player, and the export of the strip (:class:`StripExport`, with its own TaskSlot)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from PySide6.QtCore import QObject, QRectF, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices, QImage, QPainter, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from studio.core import latent
from studio.gui import dialogs, resources
from studio.gui.context import AppContext
from studio.gui.widgets.common import ImageLabel, paint_backdrop, push_button
from studio.gui.worker import TaskSlot

from . import work

Offsets = Callable[[], tuple[tuple[torch.Tensor, ...], tuple[float, ...]]]


class StripPart(QObject):
    """Makes and plays the strip; ``offsets`` gives the directions in use, ``blend_mode`` the mode."""

    strip_ready = Signal(object)  # work.Strip
    failed = Signal(str, str)  # title, message

    def __init__(self, ctx: AppContext, offsets: Offsets, blend_mode: Callable[[], str], parent: QWidget):
        super().__init__(parent)
        self._offsets = offsets
        self._blend_mode = blend_mode
        self._renderer: latent.Renderer | None = None
        self._anchors: list[work.Anchor] = []
        self.strip: work.Strip | None = None
        self._play_index = 0
        self.slot = TaskSlot(self)
        self.player = QTimer(self, interval=90)
        self.player.timeout.connect(self._next_frame)
        self.export = StripExport(ctx, lambda: self.strip, self.player.interval, parent)
        self._build()
        self.slot.result.connect(self._done)
        self.slot.failed.connect(lambda m: self.failed.emit("Cannot make the strip", m))
        self.export.failed.connect(self.failed)

    def _build(self) -> None:
        self.strip_view = StripView()
        self.strip_player = ImageLabel("", smooth=True)
        self.strip_player.setMinimumSize(110, 110)
        self.strip_player.setMaximumWidth(130)
        strip_row = QHBoxLayout()
        strip_row.setSpacing(10)
        strip_row.addWidget(self.strip_view, 1)
        strip_row.addWidget(self.strip_player)
        self.strip_frame = QFrame(objectName="Card")
        strip_layout = QVBoxLayout(self.strip_frame)
        strip_layout.setContentsMargins(10, 8, 10, 8)
        self.strip_caption = QLabel("Interpolation strip: choose two anchors and press “Make strip”.",
                                    objectName="Muted")
        strip_layout.addWidget(self.strip_caption)
        strip_layout.addLayout(strip_row)
        self.strip_frame.setMaximumHeight(190)

        self.strip_a = QComboBox()
        self.strip_b = QComboBox()
        self.strip_steps = QSpinBox()
        self.strip_steps.setRange(2, 64)
        self.strip_steps.setValue(8)
        self.strip_steps.setSuffix(" frames")
        self.strip_button = push_button("Make strip", "latent")
        self.play_button = push_button("Play", "play")
        self.play_button.setCheckable(True)
        self.strip_button.clicked.connect(lambda: self.make())  # not clicked(checked) as anchor a
        self.play_button.toggled.connect(self.set_playing)

    def box(self) -> QGroupBox:
        box = QGroupBox("Interpolation strip")
        grid = QGridLayout(box)
        grid.addWidget(QLabel("From"), 0, 0)
        grid.addWidget(self.strip_a, 0, 1)
        grid.addWidget(QLabel("To"), 1, 0)
        grid.addWidget(self.strip_b, 1, 1)
        grid.addWidget(QLabel("Length"), 2, 0)
        grid.addWidget(self.strip_steps, 2, 1)
        row = QHBoxLayout()
        row.addWidget(self.strip_button, 1)
        row.addWidget(self.play_button)
        grid.addLayout(row, 3, 0, 1, 2)
        grid.addWidget(self.export.button, 4, 0, 1, 2)
        return box

    def update_state(self, ready: bool) -> None:
        self.strip_button.setEnabled(ready and len(self._anchors) >= 2 and not self.slot.busy)
        self.play_button.setEnabled(self.strip is not None)
        self.export.button.setEnabled(self.strip is not None)

    # -- state from the panel ------------------------------------------------------------------
    def set_model(self, model: latent.LatentModel | None) -> None:
        if self._renderer is None or model is not self._renderer.model:
            self._renderer = None if model is None else latent.Renderer(model)

    def forget(self) -> None:
        """Another model: the strip shown belongs to the old one."""
        self.strip = None
        self.set_playing(False)
        self.strip_view.set_images([])
        self.strip_player.set_image(None)

    def set_anchors(self, anchors: list[work.Anchor]) -> None:
        self._anchors = list(anchors)
        n = len(anchors)
        for combo, default in ((self.strip_a, 0), (self.strip_b, 1)):
            current = combo.currentIndex()
            combo.blockSignals(True)
            combo.clear()
            for i, a in enumerate(anchors):
                combo.addItem(f"{i + 1} · {a.name}", i)
            combo.setCurrentIndex(current if 0 <= current < n else min(default, n - 1))
            combo.blockSignals(False)

    # -- the strip -----------------------------------------------------------------------------
    def make(self, a: int | None = None, b: int | None = None, steps: int | None = None) -> bool:
        """Decode a strip from anchor ``a`` to ``b``; False when there is nothing to make it from."""
        if self._renderer is None or len(self._anchors) < 2:
            return False
        a = self.strip_a.currentData() if a is None else a
        b = self.strip_b.currentData() if b is None else b
        if steps is not None:
            self.strip_steps.setValue(steps)
        directions, amounts = self._offsets()
        ends = (self._anchors[a].name, self._anchors[b].name)
        job = work.make_strip(self._renderer, self._anchors[a].latent, self._anchors[b].latent,
                              self.strip_steps.value(), self._blend_mode(), directions, amounts, ends)
        self.strip_caption.setText("Decoding the strip…")
        self.slot.start(job, "interpolation strip")
        return True

    def _done(self, strip: work.Strip) -> None:
        self.strip = strip
        self._play_index = 0
        self.strip_view.set_images(strip.images)
        self.strip_player.set_image(strip.images[0])
        self.strip_caption.setText(f"{len(strip.images)} frames, {strip.endpoints[0]} → {strip.endpoints[1]} "
                                   f"({strip.mode})")
        self.strip_ready.emit(strip)

    def set_playing(self, on: bool) -> None:
        on = on and self.strip is not None
        if self.play_button.isChecked() != on:
            self.play_button.setChecked(on)
        self.play_button.setText("Pause" if on else "Play")
        self.play_button.setIcon(resources.icon("pause" if on else "play"))
        if on:
            self.player.start()
        else:
            self.player.stop()

    @property
    def playing(self) -> bool:
        return self.player.isActive()

    def _next_frame(self) -> None:
        if self.strip is None:
            return
        n = len(self.strip.images)
        self._play_index = (self._play_index + 1) % n
        self.strip_player.set_image(self.strip.images[self._play_index])
        self.strip_view.set_current(self._play_index)


class StripExport(QObject):
    """Writes the strip: a PNG strip, a GIF loop (at the player's speed) or a folder of frames."""

    exported = Signal(str)
    failed = Signal(str, str)  # title, message

    def __init__(self, ctx: AppContext, strip: Callable[[], work.Strip | None], interval_ms: Callable[[], int], parent: QWidget):
        super().__init__(parent)
        self.ctx = ctx
        self._view = parent
        self._strip = strip
        self._interval_ms = interval_ms
        self.button = push_button("Export…", "export")
        self.button.setToolTip("PNG strip, GIF loop, or a folder of frames")
        self.button.clicked.connect(self.ask)
        self.slot = TaskSlot(self)
        self.slot.result.connect(self._done)
        self.slot.failed.connect(lambda m: self.failed.emit("Cannot export the strip", m))

    def ask(self) -> None:
        if self._strip() is None:
            return
        filters = "PNG strip (*.png);;GIF loop (*.gif);;Folder of frames (*)"
        path = dialogs.save_file(self._view, "Export the strip", "interpolation.png", filters, self.ctx.settings,
                                 "latent_export")
        if path is not None:
            self.export(path)

    def export(self, path: str | Path) -> None:
        """``.png`` (or other image suffix): a horizontal strip; ``.gif``: a loop; no suffix: a folder of frames."""
        strip = self._strip()
        if strip is None:
            return
        self.slot.start(work.export_strip(strip.frames, Path(path), self._interval_ms()), f"exporting {Path(path).name}")

    def _done(self, path: Path) -> None:
        self.ctx.notify(f"Exported {path.name}", "success",
                        ("Show", lambda p=path: QDesktopServices.openUrl(QUrl.fromLocalFile(str(p if p.is_dir()
                                                                                                 else p.parent)))))
        self.exported.emit(str(path))


class StripView(QWidget):
    """The interpolation strip's frames side by side; the frame being played is outlined."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._images: list[QImage] = []
        self._current = -1
        self.setMinimumHeight(90)

    @property
    def current(self) -> int:
        """The frame outlined (-1: none)."""
        return self._current

    def set_images(self, images: list[QImage]) -> None:
        self._images = list(images)
        self._current = -1
        self.update()

    def set_current(self, index: int) -> None:
        self._current = index
        self.update()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        paint_backdrop(painter, self, 8, None if self._images else "No strip yet")
        if not self._images:
            return
        c = resources.colors()
        n = len(self._images)
        gap = 4.0
        side = min(self.height() - 12.0, (self.width() - 12.0 - gap * (n - 1)) / n)
        x = (self.width() - (n * side + (n - 1) * gap)) / 2
        y = (self.height() - side) / 2
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)  # decoded frames: no pixel squares
        for i, image in enumerate(self._images):
            rect = QRectF(x + i * (side + gap), y, side, side)
            painter.drawImage(rect, image)
            if i == self._current:
                painter.setPen(QPen(QColor(c["accent"]), 3))
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRect(rect.adjusted(-1, -1, 1, 1))
                painter.setPen(Qt.PenStyle.NoPen)
