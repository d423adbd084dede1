"""Latent arithmetic: three anchors A, B, C and a strength s; the decode of C + s·(A − B).

"man with glasses" − "man" + "woman" ≈ "woman with glasses": A − B is what A has and B lacks. The
latent comes from the engine's :func:`~studio.core.latent.arithmetic` and is decoded by the engine's
:class:`~studio.core.latent.Renderer` in this part's one TaskSlot. While the slider is dragged at
most one decode runs; the newest state is decoded when it ends, so the result follows the hand
without threads piling up. Saving the result runs in :class:`ResultFile`'s own slot.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QComboBox, QGridLayout, QGroupBox, QLabel, QVBoxLayout, QWidget

from studio.core import latent
from studio.gui import dialogs
from studio.gui.context import AppContext
from studio.gui.widgets.common import ImageLabel, hint, push_button, slider_row
from studio.gui.worker import TaskSlot

from . import work

NEEDED = 3  # anchors: A, B and C
STRENGTH_RANGE = 2.0  # the slider spans 0 to this
SLIDER_STEPS = 200  # slider positions over the range
ROLES = (("A", "The image that has the feature (e.g. a man with glasses)"),
         ("B", "The same without it (e.g. a man)"),
         ("C", "The image to give the feature to (e.g. a woman)"))


class ArithmeticPart(QObject):
    """Three anchor combos, a strength slider, the decoded result and its caption."""

    result_ready = Signal()  # a result is shown (the newest state's once ``busy`` is False)
    failed = Signal(str, str)  # title, message

    def __init__(self, ctx: AppContext, parent: QWidget):
        super().__init__(parent)
        self.ctx = ctx
        self._view = parent
        self._renderer: latent.Renderer | None = None
        self._anchors: list[work.Anchor] = []
        self._pending = False  # the state changed while a decode ran: decode again when it ends
        self.rgb: np.ndarray | None = None  # the result shown, (S, S, 3) uint8
        self.caption = ""
        self.slot = TaskSlot(self)
        self.file = ResultFile(ctx, lambda: self.rgb, lambda: self.caption, parent)
        self.slot.result.connect(self._done)
        self.slot.idle.connect(self._idle)
        self.slot.failed.connect(lambda m: self.failed.emit("Cannot decode the arithmetic", m))
        self.file.failed.connect(self.failed)
        self._build()

    def _build(self) -> None:
        self.combos: list[QComboBox] = []
        for role, tip in ROLES:
            combo = QComboBox()
            combo.setToolTip(tip)
            combo.setAccessibleName(f"Anchor {role}")
            combo.currentIndexChanged.connect(lambda _i: self.request())
            self.combos.append(combo)
        self.combo_a, self.combo_b, self.combo_c = self.combos
        row, self.strength, _, self.strength_value = slider_row(
            "Strength", 0, SLIDER_STEPS, SLIDER_STEPS // 2, "s in C + s·(A − B): 0 gives C, 1 adds all of A − B",
            shown="1.00", width=32)
        self.strength_row = row
        self.strength.setSingleStep(5)
        self.strength.setPageStep(25)
        self.strength.setAccessibleName("Arithmetic strength")
        self.strength.valueChanged.connect(self._strength_changed)
        self.result_view = ImageLabel("C + s·(A − B) appears here.", smooth=True)
        self.result_view.setMinimumSize(160, 160)
        self.result_caption = QLabel("", objectName="Muted")
        self.result_caption.setWordWrap(True)
        self.status = hint("")
        self.save_button = self.file.button

    def box(self) -> QGroupBox:
        box = QGroupBox("Latent arithmetic")
        lay = QVBoxLayout(box)
        grid = QGridLayout()
        for row, ((role, _), combo) in enumerate(zip(ROLES, self.combos, strict=True)):
            label = QLabel(role)
            label.setBuddy(combo)
            grid.addWidget(label, row, 0)
            grid.addWidget(combo, row, 1)
        grid.setColumnStretch(1, 1)
        lay.addLayout(grid)
        lay.addLayout(self.strength_row)
        lay.addWidget(self.result_view)
        lay.addWidget(self.result_caption)
        lay.addWidget(self.status)
        lay.addWidget(self.save_button)
        self.update_state(False)
        return box

    @property
    def busy(self) -> bool:
        """A decode runs or waits: the result shown is not yet the newest state's."""
        return self.slot.busy or self._pending

    def strength_f(self) -> float:
        return self.strength.value() / SLIDER_STEPS * STRENGTH_RANGE

    def update_state(self, ready: bool) -> None:
        enough = ready and len(self._anchors) >= NEEDED
        for w in (*self.combos, self.strength):
            w.setEnabled(enough)
        self.save_button.setEnabled(self.rgb is not None)
        if len(self._anchors) < NEEDED:
            self.status.setText(f"Needs {NEEDED} anchors (A, B and C); add {NEEDED - len(self._anchors)} more.")
        else:
            self.status.setText("A − B is what A has and B lacks, added to C.")

    # -- state from the panel ------------------------------------------------------------------
    def set_model(self, model: latent.LatentModel | None) -> None:
        if self._renderer is None or model is not self._renderer.model:
            self._renderer = None if model is None else latent.Renderer(model)

    def forget(self) -> None:
        """Another model: the result shown belongs to the old one."""
        self.slot.detach()
        self._pending = False
        self.rgb, self.caption = None, ""
        self.result_view.set_image(None)
        self.result_caption.setText("")
        self.save_button.setEnabled(False)

    def set_anchors(self, anchors: list[work.Anchor]) -> None:
        """New anchors: the combos list them (A, B, C default to the first three) and the result is decoded again."""
        self._anchors = list(anchors)
        n = len(anchors)
        icons = [QIcon(QPixmap.fromImage(a.thumb)) for a in anchors]
        for default, combo in enumerate(self.combos):
            current = combo.currentIndex()
            combo.blockSignals(True)
            combo.clear()
            for i, a in enumerate(anchors):
                combo.addItem(icons[i], f"{i + 1} · {a.name}", i)
            combo.setCurrentIndex(current if 0 <= current < n else min(default, n - 1))
            combo.blockSignals(False)
        if n < NEEDED:
            self.forget()
        self.update_state(self._renderer is not None)
        self.request()

    # -- the result ----------------------------------------------------------------------------
    def choose(self, a: int, b: int, c: int, strength: float | None = None) -> None:
        """Pick the anchors (indices) and the strength, as a person would; the result follows."""
        for combo, index in zip(self.combos, (a, b, c), strict=True):
            combo.blockSignals(True)
            combo.setCurrentIndex(index)
            combo.blockSignals(False)
        if strength is not None:
            self.strength.blockSignals(True)
            self.strength.setValue(round(strength / STRENGTH_RANGE * SLIDER_STEPS))
            self.strength.blockSignals(False)
            self._show_strength()
        self.request()

    def request(self) -> None:
        """Decode the current state (after the decode running now, if there is one)."""
        if self._renderer is None or len(self._anchors) < NEEDED:
            return
        if self.slot.busy:
            self._pending = True
            return
        self._pending = False
        a, b, c = (self._anchors[combo.currentData()] for combo in self.combos)
        s = self.strength_f()
        self.caption = describe(a.path.stem, b.path.stem, c.path.stem, s)
        self.slot.start(work.arithmetic(self._renderer, a.latent, b.latent, c.latent, s), "latent arithmetic")

    def _strength_changed(self, _value: int) -> None:
        self._show_strength()
        self.request()

    def _show_strength(self) -> None:
        self.strength_value.setText(f"{self.strength_f():.2f}")

    def _done(self, value: tuple[np.ndarray, QImage]) -> None:
        self.rgb, image = value
        self.result_view.set_image(image)
        self.result_caption.setText(self.caption)
        self.save_button.setEnabled(True)
        self.result_ready.emit()

    def _idle(self) -> None:
        if self._pending:
            self.request()


def describe(a: str, b: str, c: str, strength: float) -> str:
    """The caption: "glasses man − man + woman", or "woman + 0.50 × (glasses man − man)"."""
    if abs(strength - 1.0) < 1e-9:
        return f"{a} − {b} + {c}"
    return f"{c} + {strength:.2f} × ({a} − {b})"


class ResultFile(QObject):
    """Writes the result shown as an image file (the format follows the extension)."""

    saved = Signal(str)
    failed = Signal(str, str)  # title, message

    def __init__(self, ctx: AppContext, rgb: Callable[[], np.ndarray | None], caption: Callable[[], str],
                 parent: QWidget):
        super().__init__(parent)
        self.ctx = ctx
        self._view = parent
        self._rgb = rgb
        self._caption = caption
        self.button = push_button("Save result…", "save")
        self.button.setToolTip("Save the result as an image (at the model's size)")
        self.button.clicked.connect(self.ask)
        self.slot = TaskSlot(self)
        self.slot.result.connect(self._done)
        self.slot.failed.connect(lambda m: self.failed.emit("Cannot save the result", m))

    def ask(self) -> None:
        if self._rgb() is None:
            return
        suggested = (self._caption().replace(" × ", "x").replace(" − ", "-minus-").replace(" + ", "-plus-")
                     .replace("(", "").replace(")", "") or "arithmetic") + ".png"
        path = dialogs.save_file(self._view, "Save the arithmetic result", suggested, "PNG (*.png);;JPEG (*.jpg)",
                                 self.ctx.settings, "latent_arithmetic")
        if path is not None:
            self.save(path)

    def save(self, path: str | Path) -> None:
        rgb = self._rgb()
        if rgb is None:
            return
        path = Path(path)
        if not path.suffix:
            path = path.with_suffix(".png")
        self.slot.start(work.save_rgb(rgb, path), f"saving {path.name}")

    def _done(self, path: Path) -> None:
        self.ctx.notify(f"Saved {path.name}", "success")
        self.saved.emit(str(path))
