"""The translation panels' photo box: open a photo or a sample, decoded in a worker."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QMenu, QVBoxLayout, QWidget

from studio.gui import dialogs, resources
from studio.gui.context import AppContext
from studio.gui.widgets.common import hint, push_button
from studio.gui.worker import TaskSlot

from .work import OpenedImage, open_photo

NO_PHOTO = "No photo yet. Open one, drop it on the view, or try a sample."


class PhotoSource(QGroupBox):
    """Opens one photo at a time; ``opened`` carries it once decoded, ``failed`` says why not.
    Opening another photo drops the one still being decoded."""

    opening = Signal(str)  # the path, as soon as it is asked for
    opened = Signal(object)  # OpenedImage
    failed = Signal(str)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__("Photo", parent)
        self.ctx = ctx
        self.photo: OpenedImage | None = None
        self.slot = TaskSlot(self)
        layout = QVBoxLayout(self)
        self.open_button = push_button("Open photo…", "open")
        self.sample_button = push_button("Samples", "photos")
        samples = QMenu(self.sample_button)
        for path in resources.sample_photos():
            samples.addAction(path.stem.capitalize(), lambda p=path: self.open_image(p))
        self.sample_button.setMenu(samples)
        self.sample_button.setEnabled(bool(samples.actions()))
        row = QHBoxLayout()
        row.addWidget(self.open_button, 1)
        row.addWidget(self.sample_button)
        layout.addLayout(row)
        self.label = hint(NO_PHOTO)
        layout.addWidget(self.label)

        self.open_button.clicked.connect(self.ask_open)
        self.slot.result.connect(self._ready)
        self.slot.failed.connect(self.failed)

    def ask_open(self) -> None:
        path = dialogs.open_file(self, "Open a photo", dialogs.IMAGE_FILTER, self.ctx.settings, "photos")
        if path is not None:
            self.open_image(path)

    def open_image(self, path: str | Path) -> None:
        """Decode a photo in a worker; ``opened`` follows when it is ready."""
        path = Path(path)
        self.label.setText(f"Opening {path.name}…")
        self.opening.emit(str(path))
        self.slot.start(open_photo(path), f"opening {path.name}")

    def reset_label(self) -> None:
        """After a failure: say what is open (nothing, if no photo was ever decoded)."""
        if self.photo is None:
            self.label.setText(NO_PHOTO)

    def _ready(self, opened: OpenedImage) -> None:
        self.photo = opened
        width, height = opened.image.size
        alpha = " · with transparency" if opened.image.alpha is not None else ""
        self.label.setText(f"{opened.image.path.name} · {width}×{height}{alpha}")
        self.opened.emit(opened)
