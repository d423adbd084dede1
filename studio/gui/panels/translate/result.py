"""The translation panels' result box: strength, the size the model works at, tile size, and saving
or copying the result as shown. Saving and copying run in workers of their own, so a copy never cancels a save."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QComboBox, QGroupBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from studio.gui import dialogs
from studio.gui.context import AppContext
from studio.gui.qimages import blend
from studio.gui.settings import TILE_CHOICES, engine_tile, tile_label
from studio.gui.widgets.common import push_button, slider_row
from studio.gui.worker import TaskSlot

from .reveal import reveal
from .work import OpenedImage, PanelJob, Translation, copy_blended, save_blended

# The "Size" choices, as Translator takes them: None the model's own working scale (its card's,
# else the photo's size), 0 the photo's own size, N a short side of N px with the photo's detail.
WORKING_SIZES: tuple[tuple[str, int | None], ...] = (
    ("Model's choice", None), ("Photo's own size", 0),
    ("256 px + photo detail", 256), ("384 px + photo detail", 384), ("512 px + photo detail", 512))

SAVE_FILTER = "PNG (*.png);;JPEG (*.jpg *.jpeg);;WebP (*.webp);;TIFF (*.tif *.tiff);;BMP (*.bmp)"


class Output(QObject):
    """A button whose work (write a file, make a clipboard image) runs in its own worker;
    ``done`` carries the job's value, ``failed`` the reason it has none."""

    done = Signal(object)
    failed = Signal(str)

    def __init__(self, text: str, icon_name: str, tooltip: str, parent: QObject | None = None):
        super().__init__(parent)
        self.button = push_button(text, icon_name)
        self.button.setToolTip(tooltip)
        self.slot = TaskSlot(self)
        self.slot.result.connect(self.done)
        self.slot.failed.connect(self.failed)

    def run(self, job: PanelJob, name: str) -> None:
        self.slot.start(job, name)


class ResultBox(QGroupBox):
    """``saved`` carries the written path, ``copied`` follows a copy; ``failed`` carries
    (what failed, why). ``settings_changed`` asks for the photo to be translated again (the tile or the
    size setting changed)."""

    saved = Signal(str)
    copied = Signal()
    failed = Signal(str, str)
    settings_changed = Signal()

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__("Result", parent)
        self.ctx = ctx
        self._original: OpenedImage | None = None
        self._result: Translation | None = None
        layout = QVBoxLayout(self)
        blend_row, self.blend_slider, _, self.blend_value = slider_row(
            "Strength", 0, 100, 100, "Mix of the original (0%) and the translation (100%); saved and copied as shown",
            shown="100%")
        layout.addLayout(blend_row)
        size_row = QHBoxLayout()
        size_row.addWidget(QLabel("Size"))
        self.size_combo = QComboBox()
        # the entries' length must not widen the side column (the window would grow past the screen's)
        self.size_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.size_combo.setMinimumContentsLength(12)
        for label, value in WORKING_SIZES:
            self.size_combo.addItem(label, value)
        self.size_combo.setToolTip(
            "The size the model works at. A smaller size keeps a light model's textures at the scale it was "
            "trained at; the photo's own edges and detail are brought back by a guided filter.\n"
            "Model's choice: the size its card sets, else the photo's own size.")
        size_row.addWidget(self.size_combo, 1)
        layout.addLayout(size_row)
        tile_row = QHBoxLayout()
        tile_row.addWidget(QLabel("Tiles"))
        self.tile_combo = QComboBox()
        for value in TILE_CHOICES:
            self.tile_combo.addItem(tile_label(value), value)
        self.tile_combo.setToolTip("Large photos are translated in tiles that fit in memory, with seamless blending")
        self.set_tile(ctx.settings.tile)
        tile_row.addWidget(self.tile_combo, 1)
        layout.addLayout(tile_row)
        out_row = QHBoxLayout()
        self.save = Output("Save…", "save", "Save the result (Ctrl+S); the format follows the file extension", self)
        self.copy = Output("Copy", "copy", "Copy the result to the clipboard (Ctrl+C)", self)
        self.save_button, self.copy_button = self.save.button, self.copy.button
        out_row.addWidget(self.save_button, 1)
        out_row.addWidget(self.copy_button, 1)
        layout.addLayout(out_row)

        self.blend_slider.valueChanged.connect(lambda value: self.blend_value.setText(f"{value}%"))
        self.tile_combo.currentIndexChanged.connect(lambda _i: self.settings_changed.emit())
        self.size_combo.currentIndexChanged.connect(lambda _i: self.settings_changed.emit())
        self.save_button.clicked.connect(self.ask_save)
        self.copy_button.clicked.connect(self.copy_result)
        self.save.done.connect(self._saved)
        self.copy.done.connect(self._copied)
        self.save.failed.connect(lambda msg: self.failed.emit("Cannot save the result", msg))
        self.copy.failed.connect(lambda msg: self.failed.emit("Cannot copy the result", msg))
        self.set_result(None, None)

    # -- what is shown -------------------------------------------------------------------------
    @property
    def strength(self) -> float:
        return self.blend_slider.value() / 100.0

    def engine_tile(self) -> int | None:
        """The tile setting as the engine takes it (None automatic, 0 whole image, N pixels)."""
        return engine_tile(self.tile_combo.currentData())

    def working_size(self) -> int | None:
        """The size setting as the engine's Translator takes it (None: the model's choice)."""
        return self.size_combo.currentData()

    def show_model_scale(self, card_scale: dict | None) -> None:
        """Name the chosen model's own working size in the "Model's choice" entry."""
        label = "Model's choice"
        if card_scale:
            label += f" · {card_scale['short_side']} px"
        self.size_combo.setItemText(0, label)

    def set_tile(self, value: int) -> None:
        """Use ``value`` (a tile setting, see :mod:`studio.gui.settings`)."""
        if self.tile_combo.findData(value) < 0:
            self.tile_combo.addItem(tile_label(value), value)
        self.tile_combo.setCurrentIndex(self.tile_combo.findData(value))

    def set_result(self, original: OpenedImage | None, result: Translation | None) -> None:
        """The photo and translation that saving and copying use (None: nothing to save)."""
        self._original, self._result = original, result
        ready = original is not None and result is not None
        self.save_button.setEnabled(ready)
        self.copy_button.setEnabled(ready)

    def blended(self) -> np.ndarray:
        """The result as shown (mixed with the original by the strength), float32 in [0, 1]."""
        if self._result is None or self._original is None:
            raise RuntimeError("no result to blend")
        return blend(self._original.pixels, self._result.pixels, self.strength)

    # -- saving and copying --------------------------------------------------------------------
    def ask_save(self) -> None:
        if self._result is None or self._original is None:
            return
        suggested = f"{self._original.image.path.stem}_{self._result.model}.png"
        path = dialogs.save_file(self, "Save the result", suggested, SAVE_FILTER, self.ctx.settings, "results")
        if path is not None:
            self.save_result(path)

    def save_result(self, path: str | Path) -> None:
        """Write the result as shown; the format follows the extension (engine's write_image)."""
        path = Path(path)
        if not path.suffix:
            path = path.with_suffix(".png")
        if self._original is None or self._result is None:
            return
        self.save.run(save_blended(path, self._original, self._result, self.strength), f"saving {path.name}")

    def copy_result(self) -> None:
        if self._original is None or self._result is None:
            return
        self.copy.run(copy_blended(self._original, self._result, self.strength), "copying the result")

    def _saved(self, value: tuple[str, Any]) -> None:
        path: Path = value[1]
        self.ctx.notify(f"Saved {path.name}", "success", ("Show", lambda p=path: reveal(p.parent)))
        self.saved.emit(str(path))

    def _copied(self, value: tuple[str, Any]) -> None:
        QGuiApplication.clipboard().setImage(value[1])
        self.ctx.notify("Result copied to the clipboard", "success")
        self.copied.emit()
