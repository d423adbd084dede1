"""The latent explorer's 2D pad: anchor images placed on a square, a cursor that blends them.

Positions are normalised to the unit square (x right, y down). The weights of the anchors at the
cursor are a pure function (:func:`pad_weights`): bilinear on the four-corner pad (StyleGAN3
visualizer's layout), linear between two anchors, inverse-distance weighting otherwise. Weights are
continuous in the cursor position, so a small drag gives a small change of the decoded image; at an
anchor's own position they are exactly one-hot. Snapping moves the cursor onto an anchor within
:data:`SNAP_RADIUS`, so the result is exactly that anchor's reconstruction.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QKeyEvent, QMouseEvent, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from studio.gui import resources

LAYOUTS = ("corners", "free")
SNAP_RADIUS = 0.08  # of the pad's side
IDW_POWER = 2.0
MARGIN = 52  # pixels around the square, so corner thumbnails and the badges under them are not cut
THUMB = 60  # thumbnail side in pixels
KEY_STEP = 0.01


def corner_positions(count: int) -> list[tuple[float, float]]:
    """Where the corner layout puts ``count`` anchors (in the order they were added)."""
    if count == 2:
        return [(0.0, 0.5), (1.0, 0.5)]
    if count == 3:
        return [(0.0, 0.0), (1.0, 0.0), (0.5, 1.0)]
    spots = [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0), (0.5, 0.0), (0.5, 1.0)]
    return spots[:count]


def pad_weights(positions: list[tuple[float, float]], cursor: tuple[float, float], layout: str) -> list[float]:
    """Blend weights of the anchors at ``cursor`` (non-negative, sum 1)."""
    n = len(positions)
    if n == 0:
        return []
    if n == 1:
        return [1.0]
    x, y = min(1.0, max(0.0, cursor[0])), min(1.0, max(0.0, cursor[1]))
    if layout == "corners" and n == 2:
        return [1.0 - x, x]
    if layout == "corners" and n == 4:  # TL, TR, BL, BR
        return [(1 - x) * (1 - y), x * (1 - y), (1 - x) * y, x * y]
    dists = [math.hypot(x - px, y - py) for px, py in positions]
    nearest = min(range(n), key=dists.__getitem__)
    if dists[nearest] < 1e-9:
        return [1.0 if i == nearest else 0.0 for i in range(n)]
    raw = [d ** -IDW_POWER for d in dists]
    total = sum(raw)
    return [r / total for r in raw]


class LatentPad(QWidget):
    """Draws anchors (thumbnails), the cursor and the weights; anchors drag in the free layout."""

    cursor_changed = Signal()  # the cursor moved (or snapped): the weights changed
    anchors_changed = Signal()  # anchors were added, removed or moved

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumSize(300, 300)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAcceptDrops(False)  # the panel takes drops for the whole canvas
        self._thumbs: list[QImage] = []
        self._names: list[str] = []
        self._free: list[tuple[float, float]] = []
        self._layout = "corners"
        self._cursor = (0.5, 0.5)
        self.snap = True
        self.snap_radius = SNAP_RADIUS
        self._snapped: int | None = None
        self._drag: int | str | None = None  # an anchor index or "cursor"
        self.empty_text = "Drop 2–6 images here, or use “Add images…”"

    # -- state ---------------------------------------------------------------------------------
    @property
    def layout_mode(self) -> str:
        return self._layout

    def set_layout_mode(self, layout: str) -> None:
        if layout not in LAYOUTS:
            raise ValueError(f"unknown pad layout {layout!r}")
        if layout == "free" and self._layout == "corners":
            self._free = self.positions()  # start free placement from where the anchors are now
        self._layout = layout
        self.anchors_changed.emit()
        self._settle_cursor()

    def set_anchors(self, thumbs: list[QImage], names: list[str]) -> None:
        """Replace the anchors; those already placed keep their free positions."""
        old = self._free
        self._thumbs, self._names = list(thumbs), list(names)
        defaults = corner_positions(len(thumbs)) if len(thumbs) <= 6 else [(0.5, 0.5)] * len(thumbs)
        self._free = [old[i] if i < len(old) else defaults[i] for i in range(len(thumbs))]
        self.anchors_changed.emit()
        self._settle_cursor()

    def count(self) -> int:
        return len(self._thumbs)

    def positions(self) -> list[tuple[float, float]]:
        return corner_positions(self.count()) if self._layout == "corners" else list(self._free)

    def move_anchor(self, index: int, pos: tuple[float, float]) -> None:
        if self._layout != "free":
            self.set_layout_mode("free")
        self._free[index] = (_clamp(pos[0]), _clamp(pos[1]))
        self.anchors_changed.emit()
        self._settle_cursor()

    @property
    def cursor(self) -> tuple[float, float]:
        return self._cursor

    @property
    def snapped(self) -> int | None:
        """The anchor the cursor sits on after snapping, or None."""
        return self._snapped

    def set_cursor(self, pos: tuple[float, float]) -> None:
        """Move the cursor (normalised); with snapping on, within the radius of an anchor it lands on it."""
        x, y = _clamp(pos[0]), _clamp(pos[1])
        self._snapped = None
        if self.snap and self.count():
            positions = self.positions()
            dists = [math.hypot(x - px, y - py) for px, py in positions]
            nearest = min(range(len(dists)), key=dists.__getitem__)
            if dists[nearest] <= self.snap_radius:
                x, y = positions[nearest]
                self._snapped = nearest
        self._cursor = (x, y)
        self.update()
        self.cursor_changed.emit()

    def _settle_cursor(self) -> None:
        self.set_cursor(self._cursor)

    def weights(self) -> list[float]:
        return pad_weights(self.positions(), self._cursor, self._layout)

    # -- geometry ------------------------------------------------------------------------------
    def square(self) -> QRectF:
        side = max(10.0, min(self.width(), self.height()) - 2 * MARGIN)
        return QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)

    def to_widget(self, pos: tuple[float, float]) -> QPointF:
        sq = self.square()
        return QPointF(sq.left() + pos[0] * sq.width(), sq.top() + pos[1] * sq.height())

    def to_pad(self, point: QPointF) -> tuple[float, float]:
        sq = self.square()
        return _clamp((point.x() - sq.left()) / sq.width()), _clamp((point.y() - sq.top()) / sq.height())

    def sizeHint(self) -> QSize:
        return QSize(520, 520)

    # -- input ---------------------------------------------------------------------------------
    def _anchor_at(self, point: QPointF) -> int | None:
        for index in reversed(range(self.count())):
            centre = self.to_widget(self.positions()[index])
            if abs(point.x() - centre.x()) <= THUMB / 2 and abs(point.y() - centre.y()) <= THUMB / 2:
                return index
        return None

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton or not self.count():
            return
        point = event.position()
        anchor = self._anchor_at(point)
        dragging_anchor = anchor is not None and (self._layout == "free"
                                                  or event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if dragging_anchor:
            self._drag = anchor
        else:
            self._drag = "cursor"
            self.set_cursor(self.to_pad(point))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._drag == "cursor":
            self.set_cursor(self.to_pad(event.position()))
        elif isinstance(self._drag, int):
            self.move_anchor(self._drag, self.to_pad(event.position()))

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._drag = None

    def keyPressEvent(self, event: QKeyEvent) -> None:
        steps = {Qt.Key.Key_Left: (-1, 0), Qt.Key.Key_Right: (1, 0), Qt.Key.Key_Up: (0, -1), Qt.Key.Key_Down: (0, 1)}
        step = steps.get(Qt.Key(event.key()))
        if step is None:
            super().keyPressEvent(event)
            return
        scale = KEY_STEP * (10 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 1)
        snap, self.snap = self.snap, False  # arrow keys nudge off an anchor too
        self.set_cursor((self._cursor[0] + step[0] * scale, self._cursor[1] + step[1] * scale))
        self.snap = snap

    # -- drawing -------------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        c = resources.colors()
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(c["view"]))
        painter.drawRoundedRect(QRectF(self.rect()), 10, 10)
        sq = self.square()
        grid = QColor("#ffffff")
        grid.setAlpha(22)
        painter.setPen(QPen(grid, 1))
        for k in range(1, 8):
            x = sq.left() + sq.width() * k / 8
            y = sq.top() + sq.height() * k / 8
            painter.drawLine(QPointF(x, sq.top()), QPointF(x, sq.bottom()))
            painter.drawLine(QPointF(sq.left(), y), QPointF(sq.right(), y))
        border = QColor("#ffffff")
        border.setAlpha(60)
        painter.setPen(QPen(border, 1, Qt.PenStyle.DashLine))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(sq)
        if not self.count():
            painter.setPen(QColor("#c9ccd6"))
            painter.drawText(sq.adjusted(24, 0, -24, 0), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             self.empty_text)
            return
        accent = QColor(c["accent"])
        weights = self.weights()
        cursor = self.to_widget(self._cursor)
        for pos, w in zip(self.positions(), weights, strict=True):
            line = QColor(accent)
            line.setAlpha(int(40 + 200 * w))
            painter.setPen(QPen(line, 1 + 4 * w))
            painter.drawLine(cursor, self.to_widget(pos))
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        painter.setFont(font)
        for index, (pos, w) in enumerate(zip(self.positions(), weights, strict=True)):
            centre = self.to_widget(pos)
            rect = QRectF(centre.x() - THUMB / 2, centre.y() - THUMB / 2, THUMB, THUMB)
            clip = QPainterPath()
            clip.addRoundedRect(rect, 8, 8)
            painter.save()
            painter.setClipPath(clip)
            painter.drawImage(rect, self._thumbs[index])
            painter.restore()
            ring = QColor(accent) if w > 0.001 else QColor("#ffffff")
            if w <= 0.001:
                ring.setAlpha(110)
            painter.setPen(QPen(ring, 2 + 3 * w))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(rect, 8, 8)
            label = f"{index + 1} · {w * 100:.0f}%"
            badge = QRectF(centre.x() - 34, rect.bottom() + 3, 68, 16)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(0, 0, 0, 150))
            painter.drawRoundedRect(badge, 8, 8)
            painter.setPen(QColor("#ffffff"))
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, label)
        # the cursor: a ring with a cross, filled when snapped
        painter.setPen(QPen(QColor("#ffffff"), 2))
        painter.setBrush(accent if self._snapped is not None else QColor(0, 0, 0, 90))
        painter.drawEllipse(cursor, 9, 9)
        painter.setPen(QPen(QColor("#ffffff"), 1.5))
        for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            painter.drawLine(cursor + QPointF(dx * 12, dy * 12), cursor + QPointF(dx * 18, dy * 18))


def _clamp(v: float) -> float:
    return min(1.0, max(0.0, float(v)))
