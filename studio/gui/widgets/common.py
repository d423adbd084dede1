"""Small widgets shared by the panels."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from PySide6.QtCore import QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QImage, QPainter
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.gui import resources


def dropped_paths(event: QDragEnterEvent | QDropEvent) -> list[Path]:
    mime = event.mimeData()
    if not mime.hasUrls():
        return []
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]


def tool_button(icon_name: str, tooltip: str, text: str = "", flat: bool = True) -> QToolButton:
    button = QToolButton()
    button.setIcon(resources.icon(icon_name))
    button.setIconSize(QSize(18, 18))
    button.setToolTip(tooltip)
    if text:
        button.setText(text)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    if flat:
        button.setObjectName("Flat")
    button.setAutoRaise(flat)
    return button


def push_button(text: str, icon_name: str | None = None, primary: bool = False, danger: bool = False) -> QPushButton:
    button = QPushButton(text)
    if icon_name:
        button.setIcon(resources.icon(icon_name, role="accent_text" if primary else "text"))
        button.setIconSize(QSize(16, 16))
    if primary:
        button.setProperty("primary", True)
    if danger:
        button.setProperty("danger", True)
    return button


def hint(text: str) -> QLabel:
    label = QLabel(text, objectName="Hint")
    label.setWordWrap(True)
    return label


def side_column(items: list[QWidget | QLayout], width: int, right_margin: int = 4) -> QScrollArea:
    """A panel's sidebar: its boxes stacked at the top of a fixed-width column that scrolls vertically."""
    side = QWidget(objectName="Sidebar")
    layout = QVBoxLayout(side)
    layout.setContentsMargins(0, 0, right_margin, 0)
    layout.setSpacing(10)
    for item in items:
        if isinstance(item, QLayout):
            layout.addLayout(item)
        else:
            layout.addWidget(item)
    layout.addStretch(1)
    scroll = QScrollArea()
    scroll.setWidget(side)
    scroll.setWidgetResizable(True)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setFixedWidth(width)
    return scroll


def lay_out_panel(panel: QWidget, *columns: tuple[QWidget | QLayout, int]) -> None:
    """The panels' frame: the header (the panel's title and subtitle) over columns of (item, stretch)."""
    body = QHBoxLayout()
    body.setSpacing(14)
    for item, stretch in columns:
        if isinstance(item, QLayout):
            body.addLayout(item, stretch)
        else:
            body.addWidget(item, stretch)
    layout = QVBoxLayout(panel)
    layout.setContentsMargins(20, 16, 20, 14)
    layout.setSpacing(10)
    layout.addWidget(PanelHeader(panel.title, panel.subtitle))
    layout.addLayout(body, 1)


def model_combo() -> QComboBox:
    """The model chooser of a panel: wide enough for a name, never as wide as the longest."""
    combo = QComboBox()
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(14)
    return combo


class SliderRow(NamedTuple):
    layout: QHBoxLayout
    slider: QSlider
    name: QLabel
    value: QLabel | None


def slider_row(
    label: str, lo: int, hi: int, value: int, tooltip: str = "", shown: str | None = None, width: int = 36
) -> SliderRow:
    """``label  [----o----]  shown``: a horizontal slider between its name and (optionally) its value.
    ``width``: the minimum width of the value, or of the name when no value is shown."""
    row = QHBoxLayout()
    name = QLabel(label)
    row.addWidget(name)
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(lo, hi)
    slider.setValue(value)
    slider.setToolTip(tooltip)
    row.addWidget(slider, 1)
    value_label = None
    if shown is None:
        name.setMinimumWidth(width)
    else:
        value_label = QLabel(shown)
        value_label.setMinimumWidth(width)
        row.addWidget(value_label)
    return SliderRow(row, slider, name, value_label)


class PanelHeader(QWidget):
    """A panel's title and one line on what it is for."""

    def __init__(self, title: str, subtitle: str, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 4)
        layout.setSpacing(2)
        self.title = QLabel(title, objectName="PanelTitle")
        self.subtitle = QLabel(subtitle, objectName="PanelSubtitle")
        self.subtitle.setWordWrap(True)
        layout.addWidget(self.title)
        layout.addWidget(self.subtitle)


def paint_backdrop(painter: QPainter, widget: QWidget, radius: float, placeholder: str | None = None) -> None:
    """The rounded dark backdrop of an image view, with ``placeholder`` on it when there is nothing to show."""
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    c = resources.colors()
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(c["view"]))
    painter.drawRoundedRect(QRectF(widget.rect()), radius, radius)
    if placeholder is not None:
        painter.setPen(QColor(c["muted"]))
        painter.drawText(QRectF(widget.rect()).adjusted(24, 0, -24, 0),
                         Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, placeholder)


class ImageLabel(QWidget):
    """Shows one image scaled to fit, keeping its aspect ratio (e.g. a training preview).

    From 3× up it shows the image's pixels as squares, so a preview's grain is seen, not smoothed away;
    ``smooth`` interpolates at any enlargement instead, for pictures a model decodes at a small size (a
    64-px landscape drawn 400 px wide), whose pixels mean nothing to the person looking."""

    def __init__(self, placeholder: str = "", parent: QWidget | None = None, smooth: bool = False):
        super().__init__(parent)
        self._image: QImage | None = None
        self.placeholder = placeholder
        self.smooth = smooth
        self.setMinimumSize(160, 100)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    @property
    def image(self) -> QImage | None:
        return self._image

    def set_image(self, image: QImage | None) -> None:
        self._image = image
        self.update()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        empty = self._image is None or self._image.isNull()
        paint_backdrop(painter, self, 10, self.placeholder if empty else None)
        if empty:
            return
        area = QRectF(self.rect()).adjusted(8, 8, -8, -8)
        scale = min(area.width() / self._image.width(), area.height() / self._image.height())
        w, h = self._image.width() * scale, self._image.height() * scale
        target = QRectF(area.center().x() - w / 2, area.center().y() - h / 2, w, h)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.smooth or scale < 3)
        painter.drawImage(target, self._image)


class FolderField(QWidget):
    """A folder chooser with a status line below it; a folder can be dropped on it."""

    path_changed = Signal(str)
    browse_requested = Signal()

    def __init__(self, title: str, placeholder: str = "Choose or drop a folder", parent: QWidget | None = None):
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.title = QLabel(title)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(placeholder)
        self.edit.editingFinished.connect(lambda: self.path_changed.emit(self.path))
        self.browse = tool_button("folder", "Choose a folder", flat=False)
        self.browse.clicked.connect(self.browse_requested)
        self.status = QLabel(objectName="Hint")
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.RichText)
        row = QHBoxLayout()
        row.setSpacing(6)
        row.addWidget(self.edit, 1)
        row.addWidget(self.browse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(3)
        layout.addWidget(self.title)
        layout.addLayout(row)
        layout.addWidget(self.status)
        self.status.hide()

    @property
    def path(self) -> str:
        return self.edit.text().strip()

    def set_path(self, path: str | Path) -> None:
        self.edit.setText(str(path))
        self.path_changed.emit(self.path)

    def set_status(self, text: str, level: str = "info", tooltip: str = "") -> None:
        """``level``: info, ok, warning, error or busy."""
        c = resources.colors()
        color = {"ok": c["ok"], "warning": c["warn"], "error": c["err"]}.get(level, c["muted"])
        mark = {"ok": "✓ ", "warning": "⚠ ", "error": "✕ ", "busy": "… "}.get(level, "")
        self.status.setText(f'<span style="color:{color}">{mark}{text}</span>')
        self.status.setToolTip(tooltip)
        self.status.setProperty("level", level)
        self.status.setVisible(bool(text))

    def status_text(self) -> str:
        return self.status.text()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(p.is_dir() for p in dropped_paths(event)):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        folders = [p for p in dropped_paths(event) if p.is_dir()]
        if folders:
            self.set_path(folders[0])
            event.acceptProposedAction()


class Toast(QFrame):
    """A short notification in a corner of the window that fades after a few seconds."""

    def __init__(self, parent: QWidget):
        super().__init__(parent, objectName="Toast")
        self.icon = QLabel()
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setMinimumWidth(220)
        self.text.setMaximumWidth(380)
        self.action = QPushButton()
        self.action.hide()
        close = tool_button("cancel", "Dismiss")
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 10, 8, 10)
        layout.setSpacing(10)
        layout.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.action)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self._timer = QTimer(self, singleShot=True)
        self._timer.timeout.connect(self.hide)
        self._callback = None
        self.action.clicked.connect(self._act)
        self.hide()

    def show_message(self, message: str, level: str = "info", action: tuple | None = None, ms: int = 7000) -> None:
        name = {"success": "check", "warning": "warning", "error": "error"}.get(level, "info")
        self.icon.setPixmap(resources.icon_pixmap(name, 20))
        self.text.setText(message)
        self.setProperty("level", level)
        self.style().unpolish(self)
        self.style().polish(self)
        self._callback = action[1] if action else None
        self.action.setText(action[0] if action else "")
        self.action.setVisible(action is not None)
        self.adjustSize()
        self.reposition()
        self.show()
        self.raise_()
        self._timer.start(ms)

    def _act(self) -> None:
        if self._callback is not None:
            self._callback()
        self.hide()

    def reposition(self) -> None:
        parent = self.parentWidget()
        if parent is None:
            return
        self.adjustSize()
        bottom = parent.height() - 40
        self.move(parent.width() - self.width() - 20, bottom - self.height())
