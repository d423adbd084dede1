"""The Paint panel's picture box: the seed (another seed, another picture, for a model trained with
noise) and saving the painting or the picture. Each save runs in a worker of its own
(:class:`~studio.gui.panels.translate.result.Output`), so saving the painting never cancels saving
the picture."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QSizePolicy, QSpinBox, QVBoxLayout, QWidget

from studio.core.paint import Palette
from studio.gui import dialogs
from studio.gui.context import AppContext
from studio.gui.panels.translate.result import SAVE_FILTER, Output
from studio.gui.panels.translate.reveal import reveal
from studio.gui.widgets.common import push_button

from .work import save_label_map, save_picture

MAX_SEED = 999_999  # six digits: a seed is something to note down and type again
PAINTING_FILTER = "Indexed PNG label map (*.png)"
NO_NOISE = "This model paints one picture per map: it was trained without noise, so the seed changes nothing."


class PictureBox(QGroupBox):
    """``seed_changed`` carries a new seed; ``saved`` the path written; ``failed`` (what, why)."""

    seed_changed = Signal(int)
    saved = Signal(str)
    failed = Signal(str, str)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__("Picture", parent)
        self.ctx = ctx
        self.seed_box = QSpinBox()
        self.seed_box.setRange(0, MAX_SEED)
        self.seed_box.setToolTip("The noise the picture is painted with: the same seed, the same picture")
        self.seed_box.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.seed_box.setMinimumWidth(80)
        self.new_seed_button = push_button("New seed", "dice")
        self.new_seed_button.setToolTip("Paint the same map with another noise (Ctrl+R)")
        seed_row = QHBoxLayout()
        seed_row.addWidget(QLabel("Seed"))
        seed_row.addWidget(self.seed_box, 1)
        seed_row.addWidget(self.new_seed_button)
        self.save_painting = Output("Save painting…", "save", "Save the painting as an indexed PNG label map "
                                    "(Ctrl+Shift+S); Label map… opens it again", self)
        self.save_picture = Output("Save picture…", "export", "Save the picture (Ctrl+S); the format follows "
                                   "the file extension", self)
        layout = QVBoxLayout(self)
        layout.addLayout(seed_row)
        layout.addWidget(self.save_painting.button)
        layout.addWidget(self.save_picture.button)
        self.seed_box.valueChanged.connect(self.seed_changed)
        self.new_seed_button.clicked.connect(lambda: self.new_seed())
        for output, what in ((self.save_painting, "the painting"), (self.save_picture, "the picture")):
            output.done.connect(self._saved)
            output.failed.connect(lambda message, w=what: self.failed.emit(f"Cannot save {w}", message))
        self.set_state(False, False, False)

    @property
    def seed(self) -> int:
        return self.seed_box.value()

    def set_seed(self, seed: int) -> None:
        self.seed_box.setValue(int(seed) % (MAX_SEED + 1))

    def new_seed(self) -> int:
        """Another seed, chosen at random (the picture is painted again)."""
        seed = random.randint(0, MAX_SEED)
        while seed == self.seed:
            seed = random.randint(0, MAX_SEED)
        self.set_seed(seed)
        return seed

    def set_state(self, painting: bool, picture: bool, varies: bool) -> None:
        """What can be done: save a ``painting``, save a ``picture``, change the seed (``varies``)."""
        self.save_painting.button.setEnabled(painting)
        self.save_picture.button.setEnabled(picture)
        for widget in (self.seed_box, self.new_seed_button):
            widget.setEnabled(varies)
        tip = "" if varies or not painting else NO_NOISE
        self.seed_box.setToolTip(tip or "The noise the picture is painted with: the same seed, the same picture")
        self.new_seed_button.setToolTip(tip or "Paint the same map with another noise (Ctrl+R)")

    # -- saving --------------------------------------------------------------------------------
    def ask_save_painting(self, labels: np.ndarray | None, palette: Palette | None, name: str) -> None:
        if labels is None or palette is None:
            return
        path = dialogs.save_file(self, "Save the painting", f"{name}.png", PAINTING_FILTER, self.ctx.settings,
                                 "label_maps")
        if path is not None:
            self.write_painting(path, labels, palette)

    def write_painting(self, path: str | Path, labels: np.ndarray, palette: Palette) -> None:
        """Write ``labels`` (copied here) as an indexed PNG; a path without an extension gets ``.png``."""
        path = Path(path)
        if not path.suffix:
            path = path.with_suffix(".png")
        self.save_painting.run(save_label_map(path, labels.copy(), palette), f"saving {path.name}")

    def ask_save_picture(self, rgb: np.ndarray | None, name: str) -> None:
        if rgb is None:
            return
        path = dialogs.save_file(self, "Save the picture", f"{name}.png", SAVE_FILTER, self.ctx.settings, "results")
        if path is not None:
            self.write_picture(path, rgb)

    def write_picture(self, path: str | Path, rgb: np.ndarray) -> None:
        path = Path(path)
        if not path.suffix:
            path = path.with_suffix(".png")
        self.save_picture.run(save_picture(path, rgb), f"saving {path.name}")

    def _saved(self, value: tuple[str, Any]) -> None:
        path = Path(value[1])
        self.ctx.notify(f"Saved {path.name}", "success", ("Show", lambda p=path: reveal(p.parent)))
        self.saved.emit(str(path))
