"""The Paint panel's start box: a blank painting of a chosen size, a label map from a file, or a
photo's automatic label map (the model's segmenter). Reading and segmenting run in this box's one
worker; a file that does not fit the model's palette is refused in one line and the painting stays."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QMenu,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from studio.core.paint import Palette
from studio.core.paint.painter import Painter
from studio.gui import dialogs, resources
from studio.gui.context import AppContext
from studio.gui.widgets.common import hint, push_button
from studio.gui.worker import TaskSlot

from .classes import swatch
from .work import OpenedMap, open_label_map, segment_photo

DEFAULT_SIZE = (256, 256)
MIN_SIDE, MAX_SIDE_NEW = 16, 2048
MAP_FILTER = "Label maps (*.png *.bmp *.gif *.tif *.tiff *.webp);;All files (*)"
NO_SEGMENTER = ("This model was trained on label maps of its own, so it cannot turn a photo into one: only "
                "models trained from photos alone (automatic classes) can.")


class NewMapDialog(QDialog):
    """The size of a blank painting and the class it starts as."""

    def __init__(self, palette: Palette, size: tuple[int, int], fill: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("New painting")
        self.width_box, self.height_box = QSpinBox(), QSpinBox()
        for box, value in ((self.width_box, size[0]), (self.height_box, size[1])):
            box.setRange(MIN_SIDE, MAX_SIDE_NEW)
            box.setSingleStep(32)
            box.setSuffix(" px")
            box.setValue(value)
        self.fill_combo = QComboBox()
        for index, cls in enumerate(palette.classes):
            self.fill_combo.addItem(swatch(cls.colour), f"{cls.name} ({index})", index)
        self.fill_combo.setCurrentIndex(max(0, min(fill, len(palette) - 1)))
        form = QFormLayout()
        form.addRow("Width", self.width_box)
        form.addRow("Height", self.height_box)
        form.addRow("Filled with", self.fill_combo)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(hint("The picture is painted at the painting's own size; larger paints more slowly."))
        layout.addWidget(buttons)

    def values(self) -> tuple[int, int, int]:
        """(width, height, class)."""
        return self.width_box.value(), self.height_box.value(), int(self.fill_combo.currentData())


class StartBox(QGroupBox):
    """``new_requested`` carries (width, height, class) for a blank painting; ``opened`` an
    :class:`OpenedMap`; ``failed`` (title, one-line reason)."""

    new_requested = Signal(int, int, int)
    opened = Signal(object)
    failed = Signal(str, str)

    def __init__(self, ctx: AppContext, painter: Callable[[], Painter | None], parent: QWidget | None = None):
        super().__init__("Start from", parent)
        self.ctx = ctx
        self._painter = painter
        self.slot = TaskSlot(self)
        self._title = ""  # what the running task's failure is called
        self._said = ""  # the line before the running task, shown again if it fails
        self.new_button = push_button("Blank…", "new")
        self.new_button.setToolTip("A blank painting of a size you choose, filled with one class (Ctrl+N)")
        self.open_button = push_button("Label map…", "open")
        self.open_button.setToolTip("Open a label map (Ctrl+O): an indexed PNG, or an image colour-coded in "
                                    "the model's palette")
        self.photo_button = push_button("Photo…", "open")
        self.sample_button = push_button("Samples", "photos")
        self.sample_button.setToolTip("Start from one of the sample photos, or a label map the model ships")
        self.sample_button.setMenu(QMenu(self.sample_button))
        self._samples_for: Painter | None = None  # the painter whose samples the menu lists
        files = QHBoxLayout()
        files.setSpacing(6)
        files.addWidget(self.new_button, 1)
        files.addWidget(self.open_button, 1)
        photo = QHBoxLayout()
        photo.setSpacing(6)
        photo.addWidget(self.photo_button, 1)
        photo.addWidget(self.sample_button, 1)
        self.label = hint("")
        self.label.hide()
        layout = QVBoxLayout(self)
        layout.addLayout(files)
        layout.addLayout(photo)
        layout.addWidget(self.label)
        self.new_button.clicked.connect(self.ask_new)
        self.open_button.clicked.connect(self.ask_open)
        self.photo_button.clicked.connect(self.ask_photo)
        self.slot.result.connect(self._ready)
        self.slot.failed.connect(self._failed)
        self.slot.idle.connect(self.update_state)
        self.update_state()

    @property
    def busy(self) -> bool:
        return self.slot.busy

    def update_state(self) -> None:
        painter = self._painter()
        ready = painter is not None and not self.slot.busy
        for button in (self.new_button, self.open_button):
            button.setEnabled(ready)
        segments = painter is not None and painter.segmenter is not None
        if painter is not self._samples_for:
            self._fill_samples(painter)
        self.photo_button.setEnabled(ready and segments)
        self.sample_button.setEnabled(ready and bool(self.sample_button.menu().actions()))
        self.photo_button.setToolTip(NO_SEGMENTER if painter is not None and not segments else
                                     "Start from a photo (Ctrl+Shift+O): the model's own classes, found in it")

    def _fill_samples(self, painter: Painter | None) -> None:
        """The sample photos (for a model that segments photos), then the label maps the model ships."""
        menu = self.sample_button.menu()
        menu.clear()
        self._samples_for = painter
        if painter is None:
            return
        if painter.segmenter is not None:
            for path in resources.sample_photos():
                menu.addAction(f"Photo: {path.stem.capitalize()}", lambda p=path: self.from_photo(p))
        examples = [path for path in painter.model.info.examples() if path.suffix.lower() == ".png"]
        if examples and menu.actions():
            menu.addSeparator()
        for path in examples:
            menu.addAction(f"Label map: {path.stem.capitalize()}", lambda p=path: self.open_map(p))

    def say(self, text: str) -> None:
        """What the painting started from."""
        self._show(text)
        self._said = text

    def _show(self, text: str) -> None:
        self.label.setText(text)
        self.label.setVisible(bool(text))

    # -- asking --------------------------------------------------------------------------------
    def ask_new(self, size: tuple[int, int] = DEFAULT_SIZE, fill: int = 0) -> None:
        painter = self._painter()
        if painter is None:
            return
        dialog = NewMapDialog(painter.palette, size, fill, self)
        if dialog.exec():
            self.new_requested.emit(*dialog.values())

    def ask_open(self) -> None:
        if self._painter() is None:
            return
        path = dialogs.open_file(self, "Open a label map", MAP_FILTER, self.ctx.settings, "label_maps")
        if path is not None:
            self.open_map(path)

    def ask_photo(self) -> None:
        if self._painter() is None:
            return
        path = dialogs.open_file(self, "Start from a photo", dialogs.IMAGE_FILTER, self.ctx.settings, "photos")
        if path is not None:
            self.from_photo(path)

    # -- the work ------------------------------------------------------------------------------
    def open_map(self, path: str | Path) -> None:
        """Read a label map in a worker; ``opened`` or ``failed`` follows."""
        painter, path = self._painter(), Path(path)
        if painter is None:
            return
        self._title = f"Cannot open {path.name}"
        self._show(f"Opening {path.name}…")
        self.slot.start(open_label_map(path, painter.palette), f"opening {path.name}")
        self.update_state()

    def from_photo(self, path: str | Path) -> None:
        """Segment a photo into the model's classes in a worker; ``opened`` or ``failed`` follows."""
        painter, path = self._painter(), Path(path)
        if painter is None:
            return
        if painter.segmenter is None:
            self.failed.emit(f"Cannot start from {path.name}", NO_SEGMENTER)
            return
        self._title = f"Cannot start from {path.name}"
        self._show(f"Finding the classes of {path.name}…")
        self.slot.start(segment_photo(painter, path), f"segmenting {path.name}")
        self.update_state()

    def _ready(self, opened: OpenedMap) -> None:
        height, width = opened.labels.shape
        how = "its classes found by the model" if opened.underlay is not None else "a label map"
        note = f" ({opened.note})" if opened.note else ""
        self.say(f"{opened.source.name}: {how}, {width}×{height}{note}.")
        self.opened.emit(opened)

    def _failed(self, message: str) -> None:
        self._show(self._said)  # the painting is still what it was
        self.failed.emit(self._title, message)
