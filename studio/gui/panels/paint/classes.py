"""The Paint panel's classes box: the model's palette, one row per class (swatch, name, index); a
click chooses the brush's class, keys 1–9 the first nine."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.core.paint import Palette
from studio.gui.widgets.common import hint

ROW_HEIGHT = 28
VISIBLE_ROWS = 9  # more classes scroll
SWATCH = 18
HINT = "Click a class to paint with it; keys 1–9 choose the first nine, Alt+click on the painting picks one."


def swatch(colour: tuple[int, int, int], side: int = SWATCH) -> QPixmap:
    """A rounded square of ``colour`` with a faint outline (light colours stay visible on white)."""
    pixmap = QPixmap(side, side)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QPen(QColor(0, 0, 0, 70), 1))
    painter.setBrush(QColor(*colour))
    painter.drawRoundedRect(QRectF(0.5, 0.5, side - 1, side - 1), 4, 4)
    painter.end()
    return pixmap


class ClassList(QGroupBox):
    """``class_chosen`` carries the index of the class clicked (or picked with a number key)."""

    class_chosen = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Classes", parent)
        self.palette_: Palette | None = None
        layout = QVBoxLayout(self)
        self.list = QListWidget()
        self.list.setObjectName("ClassList")
        self.list.setUniformItemSizes(True)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.hint = hint(HINT)
        layout.addWidget(self.list)
        layout.addWidget(self.hint)
        self.list.currentRowChanged.connect(self._row_changed)
        self.set_palette(None)

    def set_palette(self, palette: Palette | None) -> None:
        """Show ``palette``'s classes (None: no model yet); the first is chosen."""
        self.palette_ = palette
        self.list.blockSignals(True)
        self.list.clear()
        for index, cls in enumerate(palette.classes if palette is not None else ()):
            item = QListWidgetItem()
            item.setSizeHint(QSize(0, ROW_HEIGHT))
            key = f" · key {index + 1}" if index < 9 else ""
            item.setToolTip(f"{cls.name}: class {index}{key} · {cls.hex}")
            self.list.addItem(item)
            self.list.setItemWidget(item, _row(cls.colour, cls.name, index))
        self.list.blockSignals(False)
        rows = min(VISIBLE_ROWS, max(1, self.list.count()))
        self.list.setFixedHeight(rows * ROW_HEIGHT + 2 * self.list.frameWidth() + 4)
        self.setEnabled(palette is not None)
        self.list.setVisible(palette is not None)
        self.hint.setText(HINT if palette is not None else "The chosen model's classes appear here.")
        if palette is not None:
            self.set_current(0)

    def set_current(self, index: int) -> None:
        """Show ``index`` as the brush's class (no ``class_chosen``: the caller already knows)."""
        if 0 <= index < self.list.count():
            self.list.blockSignals(True)
            self.list.setCurrentRow(index)
            self.list.blockSignals(False)
            self.list.scrollToItem(self.list.item(index))

    def current(self) -> int:
        return max(0, self.list.currentRow())

    def choose(self, index: int) -> None:
        """A number key: class ``index`` becomes the brush's, if the palette has it."""
        if 0 <= index < self.list.count():
            self.list.setCurrentRow(index)

    def _row_changed(self, row: int) -> None:
        if row >= 0:
            self.class_chosen.emit(row)


def _row(colour: tuple[int, int, int], name: str, index: int) -> QWidget:
    row = QWidget()
    row.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)  # the list takes the clicks
    layout = QHBoxLayout(row)
    layout.setContentsMargins(6, 0, 8, 0)
    layout.setSpacing(8)
    icon = QLabel()
    icon.setPixmap(swatch(colour))
    text = QLabel(name)
    number = QLabel(str(index), objectName="Muted")
    number.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    layout.addWidget(icon)
    layout.addWidget(text, 1)
    layout.addWidget(number)
    return row
