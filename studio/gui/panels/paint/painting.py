"""The Paint panel's painting: the label canvas, its tool bar (brush, fill, eraser, eyedropper, brush
size, undo, redo) and the line under it (the map's size, the class under the cursor). It owns the
painting's undo history; it runs no task (a stroke is numpy on the GUI thread, a few milliseconds)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QFrame,
    QHBoxLayout,
    QLabel,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.core.paint import Palette
from studio.gui.widgets.common import tool_button
from studio.gui.widgets.label_canvas import BRUSH_SIZES, DEFAULT_BRUSH, Edit, LabelCanvas

from .history import History

TOOL_BUTTONS = (("brush", "brush", "Brush (B): paint the chosen class; [ and ] change its size, "
                 "Alt+click picks a class"),
                ("fill", "fill", "Fill (G): the connected region under the click becomes the chosen class"),
                ("eraser", "eraser", "Eraser (E): paints the first class, {first}"),
                ("eyedropper", "eyedropper", "Eyedropper (I): the class under the click becomes the brush's"))


class Painting(QWidget):
    """``changed`` follows every change of the map, strokes under way included; ``history_changed``
    each step that can be undone or redone."""

    changed = Signal()
    history_changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.history = History()
        self.canvas = LabelCanvas()
        frame = QFrame(objectName="ImageFrame")
        frame_layout = QVBoxLayout(frame)
        frame_layout.setContentsMargins(0, 0, 0, 0)
        frame_layout.addWidget(self.canvas)
        self.status = QLabel("", objectName="Muted")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        layout.addLayout(self._tool_bar())
        layout.addWidget(frame, 1)
        layout.addWidget(self.status)
        self._hover = ""
        self.canvas.changed.connect(self.changed)
        self.canvas.edited.connect(self._edited)
        self.canvas.tool_changed.connect(self._show_tool)
        self.canvas.brush_size_changed.connect(self._show_size)
        self.canvas.hovered.connect(self._hovered)
        self._update_buttons()

    def _tool_bar(self) -> QHBoxLayout:
        bar = QHBoxLayout()
        bar.setSpacing(2)
        self.tool_group = QButtonGroup(self)
        self.tool_buttons: dict[str, QToolButton] = {}
        for tool, icon_name, tip in TOOL_BUTTONS:
            button = tool_button(icon_name, tip)
            button.setCheckable(True)
            button.setProperty("tool", tool)
            button.setChecked(tool == self.canvas.tool)
            self.tool_group.addButton(button)
            self.tool_buttons[tool] = button
            bar.addWidget(button)
        self.tool_group.buttonClicked.connect(lambda b: self.canvas.set_tool(b.property("tool")))
        bar.addSpacing(10)
        self.size_slider = QSlider(Qt.Orientation.Horizontal)
        self.size_slider.setRange(0, len(BRUSH_SIZES) - 1)
        self.size_slider.setValue(BRUSH_SIZES.index(DEFAULT_BRUSH))
        self.size_slider.setToolTip("Brush size ([ smaller, ] larger)")
        self.size_slider.setMinimumWidth(60)
        self.size_slider.valueChanged.connect(lambda i: self.canvas.set_brush_size(BRUSH_SIZES[i]))
        self.size_label = QLabel(f"{DEFAULT_BRUSH} px", objectName="Muted")
        self.size_label.setMinimumWidth(42)
        bar.addWidget(self.size_slider, 1)
        bar.addWidget(self.size_label)
        bar.addSpacing(6)
        self.underlay_button = tool_button("photos", "Show the photo beneath the classes")
        self.underlay_button.setCheckable(True)
        self.underlay_button.setChecked(True)
        self.underlay_button.hide()  # shown for a painting started from a photo
        self.underlay_button.toggled.connect(self._underlay_toggled)
        self.undo_button = tool_button("undo", "Undo (Ctrl+Z)")
        self.redo_button = tool_button("redo", "Redo (Ctrl+Shift+Z, Ctrl+Y)")
        self.fit_button = tool_button("fit", "Fit the painting to the view (wheel zooms, middle-drag or "
                                      "Space+drag pans)")
        self.undo_button.clicked.connect(self.undo)
        self.redo_button.clicked.connect(self.redo)
        self.fit_button.clicked.connect(self.canvas.fit)
        for button in (self.underlay_button, self.undo_button, self.redo_button, self.fit_button):
            bar.addWidget(button)
        return bar

    # -- the map -------------------------------------------------------------------------------
    @property
    def labels(self) -> np.ndarray | None:
        return self.canvas.labels

    def set_map(self, labels: np.ndarray, palette: Palette, underlay: np.ndarray | None = None,
                undoable: bool = True) -> None:
        """Start painting on ``labels``; ``undoable``: Undo brings the previous painting back."""
        edit = self.canvas.set_map(labels, palette, underlay)
        if not undoable:
            self.history.clear()
        elif edit is not None:
            self.history.push(edit)
        self.underlay_button.setVisible(underlay is not None)
        first = palette.classes[0].name
        self.tool_buttons["eraser"].setToolTip(TOOL_BUTTONS[2][2].format(first=f"0 · {first}"))
        self._update_buttons()
        self._show_status()

    def _edited(self, edit: Edit) -> None:
        self.history.push(edit)
        self._update_buttons()

    def undo(self) -> bool:
        return self._apply(back=True)

    def redo(self) -> bool:
        return self._apply(back=False)

    def _apply(self, back: bool) -> bool:
        if self.canvas.stroking:
            return False
        edit = self.history.undo() if back else self.history.redo()
        if edit is None:
            return False
        self.canvas.apply(edit, back)
        self._update_buttons()
        self._show_status()
        return True

    def _update_buttons(self) -> None:
        painting = self.canvas.labels is not None
        for widget in (*self.tool_buttons.values(), self.size_slider, self.fit_button):
            widget.setEnabled(painting)
        self.undo_button.setEnabled(self.history.can_undo)
        self.redo_button.setEnabled(self.history.can_redo)
        self.history_changed.emit()

    # -- tools ---------------------------------------------------------------------------------
    def set_tool(self, tool: str) -> None:
        self.canvas.set_tool(tool)

    def _show_tool(self, tool: str) -> None:
        for name, button in self.tool_buttons.items():
            button.setChecked(name == tool)
        self._show_status()

    def _show_size(self, size: int) -> None:
        nearest = min(range(len(BRUSH_SIZES)), key=lambda i: abs(BRUSH_SIZES[i] - size))
        self.size_slider.blockSignals(True)
        self.size_slider.setValue(nearest)
        self.size_slider.blockSignals(False)
        self.size_label.setText(f"{size} px")
        self._show_status()

    def _underlay_toggled(self, on: bool) -> None:
        self.canvas.show_underlay = on
        self.canvas.update()

    def _hovered(self, x: int, y: int, index: int) -> None:
        palette = self.canvas.palette
        if index < 0 or palette is None:
            self._hover = ""
        else:
            self._hover = f"{palette.classes[index].name} ({index}) at {x}, {y}" if index < len(palette) \
                else f"class {index} at {x}, {y}"
        self._show_status()

    def _show_status(self) -> None:
        labels = self.canvas.labels
        if labels is None:
            self.status.setText("")
            return
        parts = [f"{labels.shape[1]}×{labels.shape[0]}"]
        if self.canvas.tool in ("brush", "eraser"):
            parts.append(f"{self.canvas.tool} {self.canvas.brush_size} px")
        if self._hover:
            parts.append(self._hover)
        self.status.setText(" · ".join(parts))
