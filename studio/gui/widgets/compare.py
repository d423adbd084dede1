"""A before/after image view: wipe slider, side by side, result or original alone.

Both halves of the side-by-side view share one zoom and one centre, so they are synchronised by
construction. Images are drawn from a pyramid (:class:`~studio.gui.qimages.Picture`) with the
visible part only, so panning a 24-megapixel photo stays fluid. The blend of input and output is
drawn with painter opacity: changing it costs one repaint, not a pass over the pixels.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QMouseEvent, QPainter, QPainterPath, QPen, QWheelEvent
from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QSizePolicy, QWidget

from studio.gui import resources
from studio.gui.qimages import Picture
from studio.gui.widgets.common import tool_button

MODES = ("wipe", "side", "result", "original")
MODE_BUTTONS = (("wipe", "wipe", "Before/after wipe: drag the line"),  # mode, icon, tooltip
                ("side", "side-by-side", "Side by side, zoom and pan together"),
                ("result", "result", "Result only"),
                ("original", "original", "Original only"))
MIN_ZOOM, MAX_ZOOM = 0.02, 32.0
FIT_MAX_ZOOM = 8.0  # small images are enlarged to fit, but not beyond this
GAP = 6  # pixels between the two halves of the side-by-side view
WIPE_GRAB = 10  # pixels either side of the wipe line that grab it


class CompareView(QWidget):
    zoom_changed = Signal(float)
    wipe_changed = Signal(float)
    mode_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumSize(320, 220)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._before: Picture | None = None
        self._after: Picture | None = None
        self._blend = 1.0
        self._mode = "wipe"
        self._zoom = 1.0
        self._center = QPointF(0, 0)  # image point shown at the centre of each viewport
        self._fit = True
        self._wipe = 0.5  # fraction of the viewport width
        self._drag: str | None = None
        self._last = QPointF()
        self._busy = ""
        self.empty_text = "Drop a photo here, or press Ctrl+O"
        self.before_name = "Original"  # the badges' words for the two pictures

    # -- content -------------------------------------------------------------------------------
    @property
    def before(self) -> Picture | None:
        return self._before

    @property
    def after(self) -> Picture | None:
        return self._after

    def set_before(self, picture: Picture | None) -> None:
        same_size = (picture is not None and self._before is not None
                     and (picture.width, picture.height) == (self._before.width, self._before.height))
        self._before = picture
        if not same_size:
            self._fit = True
        self._relayout()

    def set_after(self, picture: Picture | None) -> None:
        self._after = picture
        self._relayout()

    def set_busy(self, text: str) -> None:
        self._busy = text
        self.update()

    @property
    def blend(self) -> float:
        return self._blend

    def set_blend(self, value: float) -> None:
        self._blend = min(1.0, max(0.0, value))
        self.update()

    @property
    def mode(self) -> str:
        return self._mode

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown compare mode {mode!r}")
        if mode != self._mode:
            self._mode = mode
            self.mode_changed.emit(mode)
        self._relayout()

    @property
    def wipe(self) -> float:
        return self._wipe

    def set_wipe(self, fraction: float) -> None:
        self._wipe = min(1.0, max(0.0, fraction))
        self.wipe_changed.emit(self._wipe)
        self.update()

    # -- geometry ------------------------------------------------------------------------------
    def _reference(self) -> Picture | None:
        return self._before or self._after

    def viewports(self) -> list[QRectF]:
        r = QRectF(self.rect())
        if self._mode == "side":
            half = (r.width() - GAP) / 2
            return [QRectF(r.left(), r.top(), half, r.height()), QRectF(r.left() + half + GAP, r.top(), half, r.height())]
        return [r]

    def viewport_at(self, pos: QPointF) -> QRectF:
        ports = self.viewports()
        return next((vp for vp in ports if vp.contains(pos)), ports[0])

    @property
    def zoom(self) -> float:
        return self._zoom

    @property
    def center(self) -> QPointF:
        return QPointF(self._center)

    def fit_zoom(self) -> float:
        ref = self._reference()
        if ref is None:
            return 1.0
        vp = self.viewports()[0].adjusted(8, 8, -8, -8)
        return max(MIN_ZOOM, min(FIT_MAX_ZOOM, vp.width() / ref.width, vp.height() / ref.height))

    def fit(self) -> None:
        self._fit = True
        self._relayout()

    def actual_size(self) -> None:
        self.set_zoom(1.0)

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        """Zoom keeping the image point under ``anchor`` (widget coordinates) where it is."""
        zoom = min(MAX_ZOOM, max(MIN_ZOOM, zoom))
        if anchor is not None:
            vp = self.viewport_at(anchor)
            fixed = self.widget_to_image(anchor, vp)
            offset = anchor - vp.center()
            self._center = QPointF(fixed.x() - offset.x() / zoom, fixed.y() - offset.y() / zoom)
        self._zoom = zoom
        self._fit = False
        self._clamp_center()
        self.zoom_changed.emit(self._zoom)
        self.update()

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        self.set_zoom(self._zoom * factor, anchor)

    def pan_by(self, dx: float, dy: float) -> None:
        """Move the picture by (dx, dy) widget pixels."""
        self._center -= QPointF(dx / self._zoom, dy / self._zoom)
        self._fit = False
        self._clamp_center()
        self.update()

    def image_to_widget(self, point: QPointF, viewport: QRectF) -> QPointF:
        return viewport.center() + (point - self._center) * self._zoom

    def widget_to_image(self, point: QPointF, viewport: QRectF | None = None) -> QPointF:
        viewport = viewport or self.viewport_at(point)
        return self._center + (point - viewport.center()) / self._zoom

    def _relayout(self) -> None:
        ref = self._reference()
        if ref is not None and self._fit:
            self._zoom = self.fit_zoom()
            self._center = QPointF(ref.width / 2, ref.height / 2)
            self.zoom_changed.emit(self._zoom)
        self._clamp_center()
        self.update()

    def _clamp_center(self) -> None:
        ref = self._reference()
        if ref is None:
            return
        self._center = QPointF(min(max(self._center.x(), 0.0), float(ref.width)),
                               min(max(self._center.y(), 0.0), float(ref.height)))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._relayout()

    # -- painting ------------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        c = resources.colors()
        outline = QPainterPath()
        outline.addRoundedRect(QRectF(self.rect()), 10, 10)
        painter.setClipPath(outline)
        painter.fillRect(self.rect(), QColor(c["view"]))
        if self._reference() is None:
            self._paint_empty(painter)
        else:
            ports = self.viewports()
            if self._mode == "side":
                self._paint_picture(painter, ports[0], self._before, None)
                self._paint_picture(painter, ports[1], self._before, self._after)
                self._badge(painter, ports[0], self.before_name, left=True)
                self._badge(painter, ports[1], "Result" if self._after else "Result (not yet)", left=True)
            elif self._mode == "wipe":
                vp = ports[0]
                self._paint_picture(painter, vp, self._before, self._after)
                if self._after is not None:
                    x = vp.left() + self._wipe * vp.width()
                    left = QRectF(vp.left(), vp.top(), x - vp.left(), vp.height())
                    self._paint_picture(painter, vp, self._before, None, clip=left)
                    self._paint_wipe_line(painter, vp, x)
                    self._badge(painter, vp, self.before_name, left=True)
                    self._badge(painter, vp, "Result", left=False)
            elif self._mode == "result":
                self._paint_picture(painter, ports[0], self._before, self._after)
            else:
                self._paint_picture(painter, ports[0], self._before, None)
        if self._busy:
            self._paint_busy(painter)
        painter.end()

    def _paint_picture(self, painter: QPainter, vp: QRectF, base: Picture | None, over: Picture | None,
                       clip: QRectF | None = None) -> None:
        painter.save()
        painter.setClipRect(clip.intersected(vp) if clip is not None else vp)
        if base is not None:
            self._draw(painter, vp, base)
        if over is not None:
            painter.setOpacity(self._blend if base is not None else 1.0)
            self._draw(painter, vp, over)
        painter.restore()

    def _draw(self, painter: QPainter, vp: QRectF, picture: Picture) -> None:
        image, scale = picture.level_for(self._zoom)
        factor = self._zoom / scale
        painter.save()
        origin = self.image_to_widget(QPointF(0, 0), vp)
        painter.translate(origin)
        painter.scale(factor, factor)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, factor < 3.0)
        painter.drawImage(QPointF(0, 0), image)
        painter.restore()

    def _paint_wipe_line(self, painter: QPainter, vp: QRectF, x: float) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor(0, 0, 0, 90), 4))
        painter.drawLine(QPointF(x, vp.top()), QPointF(x, vp.bottom()))
        painter.setPen(QPen(QColor("#ffffff"), 2))
        painter.drawLine(QPointF(x, vp.top()), QPointF(x, vp.bottom()))
        center = QPointF(x, vp.center().y())
        painter.setBrush(QColor("#ffffff"))
        painter.setPen(QPen(QColor(0, 0, 0, 70), 1))
        painter.drawEllipse(center, 14, 14)
        painter.setPen(QPen(QColor(resources.colors()["accent"]), 2.2, Qt.PenStyle.SolidLine,
                            Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin))
        for sign in (-1, 1):
            path = QPainterPath(center + QPointF(sign * 3, -5))
            path.lineTo(center + QPointF(sign * 8, 0))
            path.lineTo(center + QPointF(sign * 3, 5))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawPath(path)
        painter.restore()

    def _badge(self, painter: QPainter, vp: QRectF, text: str, left: bool) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        font = QFont(self.font())
        font.setPointSizeF(max(7.5, font.pointSizeF() * 0.85))
        font.setBold(True)
        painter.setFont(font)
        width = painter.fontMetrics().horizontalAdvance(text) + 16
        x = vp.left() + 10 if left else vp.right() - 10 - width
        rect = QRectF(x, vp.top() + 10, width, 22)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 140))
        painter.drawRoundedRect(rect, 11, 11)
        painter.setPen(QColor("#ffffff"))
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()

    def _paint_empty(self, painter: QPainter) -> None:
        rect = QRectF(self.rect())
        pix = resources.icon_pixmap("photos", 56, role="muted")
        painter.drawPixmap(int(rect.center().x() - 28), int(rect.center().y() - 56), pix)
        painter.setPen(QColor(resources.colors()["muted"]))
        text_rect = QRectF(rect.left(), rect.center().y() + 10, rect.width(), 40)
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, self.empty_text)

    def _paint_busy(self, painter: QPainter) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        width = painter.fontMetrics().horizontalAdvance(self._busy) + 28
        rect = QRectF(self.width() / 2 - width / 2, 12, width, 28)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 160))
        painter.drawRoundedRect(rect, 14, 14)
        painter.setPen(QColor("#ffffff"))
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, self._busy)
        painter.restore()

    # -- interaction ---------------------------------------------------------------------------
    def _near_wipe(self, pos: QPointF) -> bool:
        if self._mode != "wipe" or self._after is None:
            return False
        vp = self.viewports()[0]
        return abs(pos.x() - (vp.left() + self._wipe * vp.width())) <= WIPE_GRAB

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self._reference() is None:
            return super().mousePressEvent(event)
        self._drag = "wipe" if self._near_wipe(event.position()) else "pan"
        self._last = event.position()
        if self._drag == "pan":
            self.setCursor(Qt.CursorShape.ClosedHandCursor)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        if self._drag == "wipe":
            vp = self.viewports()[0]
            self.set_wipe((pos.x() - vp.left()) / max(1.0, vp.width()))
        elif self._drag == "pan":
            delta = pos - self._last
            self.pan_by(delta.x(), delta.y())
        else:
            self.setCursor(Qt.CursorShape.SplitHCursor if self._near_wipe(pos) else
                           Qt.CursorShape.OpenHandCursor if self._reference() else Qt.CursorShape.ArrowCursor)
        self._last = pos

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._drag = None
        self.setCursor(Qt.CursorShape.OpenHandCursor if self._reference() else Qt.CursorShape.ArrowCursor)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        self.fit()

    def wheelEvent(self, event: QWheelEvent) -> None:
        if self._reference() is None:
            return
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_by(1.25 ** steps, event.position())

    def keyPressEvent(self, event) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom_by(1.25)
        elif key == Qt.Key.Key_Minus:
            self.zoom_by(0.8)
        elif key == Qt.Key.Key_0:
            self.fit()
        elif key == Qt.Key.Key_1:
            self.actual_size()
        else:
            super().keyPressEvent(event)


class ModeButtons(QButtonGroup):
    """The checkable buttons of a :class:`CompareView`'s modes. Its slot is a method, so Qt drops the
    connection when either object goes (no closure outliving its buttons)."""

    def show_mode(self, mode: str) -> None:
        for button in self.buttons():
            button.setChecked(button.property("mode") == mode)


def mode_buttons(view: CompareView, parent: QWidget, tips: dict[str, str] | None = None) -> tuple[QHBoxLayout, QButtonGroup]:
    """A row of checkable buttons, one per mode of ``view``, that set its mode and follow it when
    the mode changes elsewhere (a shortcut); ``tips`` replaces some tooltips (the Paint panel's)."""
    group = ModeButtons(parent)
    row = QHBoxLayout()
    row.setSpacing(2)
    for mode, icon_name, tip in MODE_BUTTONS:
        button = tool_button(icon_name, (tips or {}).get(mode, tip))
        button.setCheckable(True)
        button.setProperty("mode", mode)
        button.setChecked(mode == view.mode)
        group.addButton(button)
        row.addWidget(button)
    group.buttonClicked.connect(lambda b: view.set_mode(b.property("mode")))
    view.mode_changed.connect(group.show_mode)
    return row, group
