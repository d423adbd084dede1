"""The latent explorer's map: a folder's thumbnails at their latents' 2-D positions, and a cursor on it.

The map comes from the engine (:func:`studio.core.latent.map_job`) as a square canvas of ``side``
pixels with a tile per image; this view scales it to fit and speaks the canvas's coordinates, so
a point under the mouse goes straight to :meth:`studio.core.latent.Layout.to_point`. Moving the
mouse (or the arrow keys) emits ``hovered``; a click (or Enter) on a thumbnail emits ``picked``
with the index of the image nearest to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QKeyEvent, QMouseEvent, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from studio.gui import resources
from studio.gui.widgets.common import paint_backdrop

MARGIN = 10  # pixels around the map's square
KEY_STEP = 0.01  # of the map's side, per arrow key press (ten times that with shift)


@dataclass(frozen=True)
class MapTile:
    """One image on the map: where its thumbnail lies on the canvas (pixels) and what it shows."""

    path: Path
    centre: tuple[float, float]
    box: tuple[int, int, int, int]  # left, top, width, height
    image: QImage

    @property
    def name(self) -> str:
        return self.path.name


class MapView(QWidget):
    """Draws the tiles scaled to fit; the cursor is kept in canvas pixels."""

    hovered = Signal(float, float)  # the cursor moved to this point of the canvas (pixels)
    picked = Signal(int)  # the index of the tile clicked

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumSize(300, 300)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setAccessibleName("Latent map")
        self._side = 0
        self._tiles: list[MapTile] = []
        self._cursor: tuple[float, float] | None = None
        self._near: int | None = None  # the tile under the cursor, outlined
        self.empty_text = "Map a folder: each image lands where its latent lies."

    # -- state ---------------------------------------------------------------------------------
    @property
    def tiles(self) -> list[MapTile]:
        return list(self._tiles)

    @property
    def cursor(self) -> tuple[float, float] | None:
        return self._cursor

    def set_map(self, side: int, tiles: list[MapTile]) -> None:
        self._side, self._tiles = int(side), list(tiles)
        self._cursor, self._near = None, None
        self.update()

    def clear(self, text: str | None = None) -> None:
        if text is not None:
            self.empty_text = text
        self.set_map(0, [])

    def nearest(self, point: tuple[float, float]) -> int | None:
        """The tile whose centre is nearest ``point``, if the point is within a thumbnail's side of it."""
        if not self._tiles:
            return None
        dists = [math.hypot(point[0] - t.centre[0], point[1] - t.centre[1]) for t in self._tiles]
        index = min(range(len(dists)), key=dists.__getitem__)
        reach = max(self._tiles[index].box[2:])
        return index if dists[index] <= reach else None

    def set_cursor(self, point: tuple[float, float]) -> None:
        """Put the cursor on a point of the canvas (clamped to it) and say so."""
        if not self._side:
            return
        x, y = (min(float(self._side), max(0.0, float(v))) for v in point)
        self._cursor = (x, y)
        self._near = self.nearest(self._cursor)
        self.update()
        self.hovered.emit(x, y)

    # -- geometry ------------------------------------------------------------------------------
    def square(self) -> QRectF:
        side = max(10.0, min(self.width(), self.height()) - 2 * MARGIN)
        return QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)

    def to_widget(self, point: tuple[float, float]) -> QPointF:
        sq, scale = self.square(), self._scale()
        return QPointF(sq.left() + point[0] * scale, sq.top() + point[1] * scale)

    def to_canvas(self, position: QPointF) -> tuple[float, float] | None:
        """A widget position as canvas pixels; None outside the map or when there is no map."""
        sq = self.square()
        if not self._side or not sq.contains(position):
            return None
        scale = self._scale()
        return (position.x() - sq.left()) / scale, (position.y() - sq.top()) / scale

    def _scale(self) -> float:
        return self.square().width() / self._side if self._side else 1.0

    def sizeHint(self) -> QSize:
        return QSize(520, 520)

    # -- input ---------------------------------------------------------------------------------
    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        point = self.to_canvas(event.position())
        if point is not None:
            self.set_cursor(point)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        point = self.to_canvas(event.position())
        if event.button() != Qt.MouseButton.LeftButton or point is None:
            return
        self.set_cursor(point)
        if self._near is not None:
            self.picked.emit(self._near)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = Qt.Key(event.key())
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space) and self._near is not None:
            self.picked.emit(self._near)
            return
        steps = {Qt.Key.Key_Left: (-1, 0), Qt.Key.Key_Right: (1, 0), Qt.Key.Key_Up: (0, -1), Qt.Key.Key_Down: (0, 1)}
        step = steps.get(key)
        if step is None or not self._side:
            super().keyPressEvent(event)
            return
        scale = self._side * KEY_STEP * (10 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 1)
        x, y = self._cursor or (self._side / 2, self._side / 2)
        self.set_cursor((x + step[0] * scale, y + step[1] * scale))

    # -- drawing -------------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        paint_backdrop(painter, self, 10, None if self._tiles else self.empty_text)
        if not self._tiles:
            return
        sq, scale = self.square(), self._scale()
        area = QColor("#ffffff")
        area.setAlpha(14)
        painter.setBrush(area)
        painter.drawRoundedRect(sq, 6, 6)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        for tile in self._tiles:  # in folder order, later ones over earlier ones (as the engine pastes them)
            painter.drawImage(self._rect(tile, sq, scale), tile.image)
        accent = QColor(resources.colors()["accent"])
        if self._near is not None:
            painter.setPen(QPen(accent, 3))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(self._rect(self._tiles[self._near], sq, scale).adjusted(-1, -1, 1, 1))
        if self._cursor is not None:
            centre = self.to_widget(self._cursor)
            painter.setPen(QPen(QColor("#ffffff"), 2))
            painter.setBrush(QColor(0, 0, 0, 90))
            painter.drawEllipse(centre, 7, 7)
            painter.setPen(QPen(accent, 1.5))
            for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                painter.drawLine(centre + QPointF(dx * 9, dy * 9), centre + QPointF(dx * 14, dy * 14))

    @staticmethod
    def _rect(tile: MapTile, sq: QRectF, scale: float) -> QRectF:
        left, top, w, h = tile.box
        return QRectF(sq.left() + left * scale, sq.top() + top * scale, w * scale, h * scale)
