"""A label map to paint on: brush, fill, eraser and eyedropper, zoom and pan, undo and redo.

The map is an (H, W) uint8 array of class indices drawn in its palette's colours, pixel for pixel
(nearest neighbour at every zoom, so a class edge is exactly where it will be painted). A brush
stroke covers every pixel whose centre lies within the brush's radius of the path between two mouse
positions, so a fast stroke has no gaps however far apart its move events are. Each stroke, fill or
new map is reported as one :class:`Edit` holding only the box it changed (the whole map for a new
map), for a history to undo and redo with :meth:`LabelCanvas.apply`.

Everything here is numpy on the GUI thread (a stroke touches a few thousand pixels); no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QKeyEvent, QMouseEvent, QPainter, QPen, QWheelEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from studio.core.paint import Palette
from studio.gui.qimages import qimage_from_array
from studio.gui.widgets.common import paint_backdrop

TOOLS = ("brush", "fill", "eraser", "eyedropper")
BRUSH_SIZES = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128)
DEFAULT_BRUSH = 16
MIN_ZOOM, MAX_ZOOM = 0.05, 32.0
MARGIN = 10  # pixels around the fitted map
UNDERLAY_OPACITY = 0.75  # how opaque the classes are over the photo they were segmented from


def capsule(shape: tuple[int, int], start: tuple[float, float], end: tuple[float, float],
            radius: float) -> tuple[int, int, np.ndarray] | None:
    """The pixels whose centres lie within ``radius`` of the segment ``start``–``end`` (map x, y):
    (top, left, boolean mask of the box from there), or None when it misses the map."""
    height, width = shape
    (x0, y0), (x1, y1) = start, end
    left, right = max(0, int(np.floor(min(x0, x1) - radius))), min(width, int(np.ceil(max(x0, x1) + radius)) + 1)
    top, bottom = max(0, int(np.floor(min(y0, y1) - radius))), min(height, int(np.ceil(max(y0, y1) + radius)) + 1)
    if left >= right or top >= bottom:
        return None
    ys = np.arange(top, bottom, dtype=np.float32)[:, None] + 0.5
    xs = np.arange(left, right, dtype=np.float32)[None, :] + 0.5
    dx, dy = x1 - x0, y1 - y0
    length2 = dx * dx + dy * dy
    t = np.clip(((xs - x0) * dx + (ys - y0) * dy) / length2, 0.0, 1.0) if length2 > 0 else np.float32(0.0)
    mask = (xs - (x0 + t * dx)) ** 2 + (ys - (y0 + t * dy)) ** 2 <= radius * radius + 1e-6
    return (top, left, mask) if mask.any() else None


def flood_region(labels: np.ndarray, x: int, y: int) -> np.ndarray:
    """The 4-connected region of ``labels[y, x]``'s class that holds (x, y), as a boolean mask.

    A scanline fill: each step takes a whole run of a row with numpy and queues the runs it touches
    in the rows above and below, so a large region costs a few hundred numpy calls, not a Python
    step per pixel."""
    same = labels == labels[y, x]
    region = np.zeros(labels.shape, dtype=bool)
    height = labels.shape[0]
    pending = [(y, x)]
    while pending:
        row, col = pending.pop()
        if region[row, col]:
            continue
        line = same[row]
        back, ahead = line[col::-1], line[col:]
        left = col - (int(np.argmin(back)) if not back.all() else len(back)) + 1
        right = col + (int(np.argmin(ahead)) if not ahead.all() else len(ahead))
        region[row, left:right] = True
        for near in (row - 1, row + 1):
            if 0 <= near < height:
                open_ = same[near, left:right] & ~region[near, left:right]
                starts = np.flatnonzero(open_ & ~np.concatenate(([False], open_[:-1])))
                pending.extend((near, left + int(s)) for s in starts)
    return region


@dataclass(frozen=True)
class Edit:
    """One undo step: the box at (top, left) before and after it; ``whole``: the map itself was replaced."""

    top: int
    left: int
    before: np.ndarray
    after: np.ndarray
    whole: bool = False


class LabelCanvas(QWidget):
    """Paint class indices with the mouse. ``changed`` follows every change of the map (during a
    stroke too, for a live result); ``edited`` carries each finished step as an :class:`Edit`."""

    changed = Signal()
    edited = Signal(object)  # Edit
    class_picked = Signal(int)  # the eyedropper chose this class
    tool_changed = Signal(str)
    brush_size_changed = Signal(int)
    hovered = Signal(int, int, int)  # map x, y and the class there; (-1, -1, -1) off the map

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumSize(240, 220)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.placeholder = "Choose a model to paint with."
        self._labels: np.ndarray | None = None
        self._palette: Palette | None = None
        self._colours = np.zeros((1, 3), np.uint8)
        self._rgb = np.zeros((1, 1, 3), np.uint8)
        self._image: QImage | None = None  # a view of _rgb, redrawn in place as the map changes
        self._underlay: QImage | None = None
        self.show_underlay = True
        self.tool = "brush"
        self.brush_size = DEFAULT_BRUSH
        self.current_class = 0
        self._zoom, self._origin, self._fit = 1.0, QPointF(), True
        self._stroke: tuple[np.ndarray, tuple[float, float], list[int] | None] | None = None  # before, last, box
        self._pan_from: QPointF | None = None
        self._space_held = False  # Space + drag pans, as in most paint programs
        self._mouse: QPointF | None = None

    # -- the map -------------------------------------------------------------------------------
    @property
    def labels(self) -> np.ndarray | None:
        """The map being painted (the live array: copy it to keep it)."""
        return self._labels

    @property
    def palette(self) -> Palette | None:
        return self._palette

    def set_map(self, labels: np.ndarray, palette: Palette, underlay: np.ndarray | None = None) -> Edit | None:
        """Paint on ``labels`` (copied) in ``palette``'s colours, over ``underlay`` (the (H, W, 3) photo it
        came from) if given. Returns the step that brings the map it replaces back (None: there was none)."""
        labels = np.ascontiguousarray(labels, dtype=np.uint8).copy()
        edit = None if self._labels is None else Edit(0, 0, self._labels, labels.copy(), whole=True)
        self._stroke = None  # a stroke under way belonged to the map replaced
        self._underlay = qimage_from_array(underlay) if underlay is not None else None
        self._palette, self._colours = palette, palette.colours()
        self._replace(labels)
        self.fit()
        return edit

    def set_palette(self, palette: Palette) -> None:
        """The same map drawn in ``palette``'s colours (another model's classes)."""
        self._palette, self._colours = palette, palette.colours()
        if self._labels is not None:
            self._replace(self._labels)

    def _replace(self, labels: np.ndarray) -> None:
        rgb = np.ascontiguousarray(self._colours[np.minimum(labels, len(self._colours) - 1)])
        height, width = labels.shape
        image = QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888)  # a view of rgb
        self._labels, self._rgb, self._image = labels, rgb, image
        self.update()
        self.changed.emit()

    def colour_image(self) -> QImage | None:
        """The map in its palette's colours (a copy: it does not change as the map does)."""
        return None if self._image is None else self._image.copy()

    def _write(self, top: int, left: int, mask: np.ndarray | None, value: np.ndarray | int) -> None:
        """Set the box at (top, left) (where ``mask`` holds) to ``value`` and redraw it."""
        assert self._labels is not None
        shape = mask.shape if mask is not None else np.shape(value)
        box = (slice(top, top + shape[0]), slice(left, left + shape[1]))
        if mask is None:
            self._labels[box] = value
        else:
            self._labels[box][mask] = value
        self._rgb[box] = self._colours[np.minimum(self._labels[box], len(self._colours) - 1)]
        self.update(self._widget_rect(left, top, shape[1], shape[0]))
        self.changed.emit()

    # -- tools ---------------------------------------------------------------------------------
    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}")
        if tool != self.tool:
            self.tool = tool
            self.tool_changed.emit(tool)
            self.update()

    def set_brush_size(self, size: int) -> None:
        size = int(min(BRUSH_SIZES[-1], max(1, size)))
        if size != self.brush_size:
            self.brush_size = size
            self.brush_size_changed.emit(size)
            self.update()

    def step_brush(self, steps: int) -> None:
        """The next larger (``steps`` > 0) or smaller brush size of :data:`BRUSH_SIZES`."""
        nearest = int(np.argmin([abs(size - self.brush_size) for size in BRUSH_SIZES]))
        self.set_brush_size(BRUSH_SIZES[max(0, min(len(BRUSH_SIZES) - 1, nearest + steps))])

    def set_class(self, index: int) -> None:
        self.current_class = int(index)

    def paint_class(self) -> int:
        """What the current tool paints: the eraser paints the first class."""
        return 0 if self.tool == "eraser" else self.current_class

    def class_at(self, x: int, y: int) -> int | None:
        if self._labels is None or not (0 <= y < self._labels.shape[0] and 0 <= x < self._labels.shape[1]):
            return None
        return int(self._labels[y, x])

    def pick(self, x: int, y: int) -> int | None:
        """The eyedropper: the class at (x, y) becomes the brush's."""
        found = self.class_at(x, y)
        if found is not None:
            self.current_class = found
            self.class_picked.emit(found)
        return found

    def fill(self, x: int, y: int, value: int | None = None) -> bool:
        """Flood the connected region under (x, y) with ``value`` (default: what the tool paints)."""
        value = self.paint_class() if value is None else int(value)
        if self.class_at(x, y) in (None, value):
            return False
        assert self._labels is not None
        region = flood_region(self._labels, x, y)
        rows, cols = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
        box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        before = self._labels.copy()
        self._write(int(rows[0]), int(cols[0]), region[box], value)
        self._record(before, (int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1))
        return True

    def _record(self, before: np.ndarray, box: tuple[int, int, int, int]) -> None:
        """One undo step: the map in ``box`` (top, left, bottom, right) was ``before`` there."""
        assert self._labels is not None
        top, left, bottom, right = box
        self.edited.emit(Edit(top, left, before[top:bottom, left:right].copy(),
                              self._labels[top:bottom, left:right].copy()))

    # -- strokes (the mouse drives these; a script may too) -------------------------------------
    def begin_stroke(self, x: float, y: float) -> None:
        if self._labels is None:
            return
        self._stroke = (self._labels.copy(), (x, y), None)
        self.continue_stroke(x, y)

    def continue_stroke(self, x: float, y: float) -> None:
        if self._stroke is None:
            return
        before, last, box = self._stroke
        assert self._labels is not None
        hit = capsule(self._labels.shape, last, (x, y), self.brush_size / 2.0)
        if hit is not None:
            top, left, mask = hit
            value = self.paint_class()
            mask &= self._labels[top:top + mask.shape[0], left:left + mask.shape[1]] != value
            if mask.any():
                self._write(top, left, mask, value)
                bottom, right = top + mask.shape[0], left + mask.shape[1]
                box = [top, left, bottom, right] if box is None else \
                    [min(box[0], top), min(box[1], left), max(box[2], bottom), max(box[3], right)]
        self._stroke = (before, (x, y), box)

    def end_stroke(self) -> None:
        if self._stroke is None:
            return
        before, _last, box = self._stroke
        self._stroke = None
        if box is not None:
            self._record(before, (box[0], box[1], box[2], box[3]))

    def stroke(self, points: list[tuple[float, float]]) -> None:
        """A whole stroke through ``points`` (map x, y) with the current tool's class and brush."""
        if points:
            self.begin_stroke(*points[0])
            for point in points[1:]:
                self.continue_stroke(*point)
            self.end_stroke()

    # -- undo ----------------------------------------------------------------------------------
    @property
    def stroking(self) -> bool:
        """A stroke is under way (undo waits for its end)."""
        return self._stroke is not None

    def apply(self, edit: Edit, back: bool) -> None:
        """Undo (``back``) or redo ``edit``."""
        value = edit.before if back else edit.after
        if edit.whole:
            self._replace(value.copy())
            self.fit()
        else:
            self._write(edit.top, edit.left, None, value)

    # -- geometry ------------------------------------------------------------------------------
    @property
    def zoom(self) -> float:
        return self._zoom

    def fit(self) -> None:
        self._fit = True
        self._layout()

    def _layout(self) -> None:
        if self._labels is None:
            return
        height, width = self._labels.shape
        if self._fit:
            area = QRectF(self.rect()).adjusted(MARGIN, MARGIN, -MARGIN, -MARGIN)
            self._zoom = max(MIN_ZOOM, min(MAX_ZOOM, area.width() / width, area.height() / height))
            self._origin = QPointF(self.width() / 2 - width * self._zoom / 2, self.height() / 2 - height * self._zoom / 2)
        self.update()

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Zoom keeping the map point under ``anchor`` (widget coordinates) where it is."""
        anchor = anchor if anchor is not None else QPointF(self.width() / 2, self.height() / 2)
        zoom = min(MAX_ZOOM, max(MIN_ZOOM, self._zoom * factor))
        self._origin = anchor - (anchor - self._origin) * (zoom / self._zoom)
        self._zoom, self._fit = zoom, False
        self.update()

    def to_map(self, pos: QPointF) -> tuple[float, float]:
        """Widget coordinates -> map coordinates (pixel (i, j) spans [j, j+1) × [i, i+1))."""
        return (pos.x() - self._origin.x()) / self._zoom, (pos.y() - self._origin.y()) / self._zoom

    def to_widget(self, x: float, y: float) -> QPoint:
        """The widget point over map point (x, y): (x + 0.5, y + 0.5) is pixel (x, y)'s centre."""
        return QPointF(self._origin.x() + x * self._zoom, self._origin.y() + y * self._zoom).toPoint()

    def _widget_rect(self, left: float, top: float, width: float, height: float) -> QRect:
        return QRectF(self._origin.x() + left * self._zoom, self._origin.y() + top * self._zoom,
                      width * self._zoom, height * self._zoom).adjusted(-2, -2, 2, 2).toAlignedRect()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._layout()

    # -- drawing -------------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        paint_backdrop(painter, self, 10, self.placeholder if self._image is None else None)
        if self._image is None or self._labels is None:
            return
        height, width = self._labels.shape
        target = QRectF(self._origin.x(), self._origin.y(), width * self._zoom, height * self._zoom)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)  # crisp class edges
        underlay = self._underlay if self.show_underlay else None
        if underlay is not None and (underlay.width(), underlay.height()) == (width, height):
            painter.drawImage(target, underlay)
            painter.setOpacity(UNDERLAY_OPACITY)
        painter.drawImage(target, self._image)
        painter.setOpacity(1.0)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor(255, 255, 255, 60), 1))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(target.adjusted(-0.5, -0.5, 0.5, 0.5))
        if self._mouse is not None and self.tool in ("brush", "eraser") and self._pan_from is None:
            radius = max(1.5, self.brush_size * self._zoom / 2)
            for colour, width_ in ((QColor(0, 0, 0, 160), 3.0), (QColor(255, 255, 255, 230), 1.2)):
                painter.setPen(QPen(colour, width_))
                painter.drawEllipse(self._mouse, radius, radius)

    # -- the mouse -----------------------------------------------------------------------------
    def _pixel(self, pos: QPointF) -> tuple[int, int]:
        x, y = self.to_map(pos)
        return int(np.floor(x)), int(np.floor(y))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        if event.button() == Qt.MouseButton.MiddleButton or (event.button() == Qt.MouseButton.LeftButton
                                                             and self._space_held):
            self._pan_from = event.position()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        if event.button() != Qt.MouseButton.LeftButton or self._labels is None:
            return super().mousePressEvent(event)
        x, y = self._pixel(event.position())
        if self.tool == "eyedropper" or event.modifiers() & Qt.KeyboardModifier.AltModifier:
            self.pick(x, y)
        elif self.tool == "fill":
            self.fill(x, y)
        else:
            self.begin_stroke(*self.to_map(event.position()))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        if self._pan_from is not None:
            self._origin += pos - self._pan_from
            self._pan_from, self._fit = pos, False
            self.update()
            return
        self._update_hover(pos)
        if self._stroke is not None:
            self.continue_stroke(*self.to_map(pos))

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            self._pan_from = None
            self.setCursor(Qt.CursorShape.OpenHandCursor if self._space_held else Qt.CursorShape.CrossCursor)
        elif event.button() == Qt.MouseButton.LeftButton:
            if self._stroke is not None:
                self.continue_stroke(*self.to_map(event.position()))
            self.end_stroke()

    def _update_hover(self, pos: QPointF) -> None:
        old = self._mouse
        self._mouse = pos
        radius = self.brush_size * self._zoom / 2 + 4
        for point in (old, pos):
            if point is not None:
                self.update(QRectF(point.x() - radius, point.y() - radius, 2 * radius, 2 * radius).toAlignedRect())
        x, y = self._pixel(pos)
        found = self.class_at(x, y)
        self.hovered.emit(x if found is not None else -1, y if found is not None else -1,
                          found if found is not None else -1)

    def leaveEvent(self, event) -> None:
        if self._mouse is not None:
            self._mouse = None
            self.update()
        self.hovered.emit(-1, -1, -1)

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps and self._labels is not None:
            self.zoom_by(1.25 ** steps, event.position())

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.MiddleButton:
            self.fit()
        else:
            self.mousePressEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = True
            self.setCursor(Qt.CursorShape.OpenHandCursor)
        else:
            super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = False
            self.setCursor(Qt.CursorShape.CrossCursor)
        else:
            super().keyReleaseEvent(event)
