"""Directions to move the blend along: principal axes (:class:`PcaPart`) of the anchors or of a
folder, and an attribute direction (:class:`AttributePart`) between two folders, which
:class:`DirectionFiles` saves and loads. Each owns one TaskSlot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from studio.core import latent
from studio.core.jobs import Progress
from studio.gui import dialogs
from studio.gui.context import AppContext
from studio.gui.widgets.common import FolderField, hint, push_button, slider_row
from studio.gui.worker import TaskSlot

from . import work

PCA_SLIDERS = 5
SLIDER_SIGMAS = 3.0  # a PCA slider spans ± this many standard deviations of the latents along its axis
ATTRIBUTE_RANGE = 2.0  # the attribute strength slider spans ± this



class PcaPart(QObject):
    """Sliders along the principal axes of the anchors' latents (three or more) or of a folder's."""

    moved = Signal()  # a slider moved: the blend is drawn again
    reset_requested = Signal()
    ready = Signal()  # new directions
    failed = Signal(str, str)  # title, message

    def __init__(self, ctx: AppContext, parent: QWidget):
        super().__init__(parent)
        self.ctx = ctx
        self._view = parent
        self.directions: tuple[torch.Tensor, torch.Tensor] | None = None  # (k, D) unit directions, (k,) spread
        self.source = "anchors"  # or "folder"
        self._count = 0  # anchors now
        self.slot = TaskSlot(self)
        self.slot.result.connect(self._done)
        self.slot.progress.connect(self._progress)
        self.slot.failed.connect(lambda m: self.failed.emit("Cannot find directions", m))

    def box(self) -> QGroupBox:
        box = QGroupBox("Directions (PCA)")
        lay = QVBoxLayout(box)
        self.pca_hint = hint("Principal axes of the anchors' latents, or of a folder's.")
        lay.addWidget(self.pca_hint)
        self.pca_sliders: list[QSlider] = []
        self.pca_labels: list[QLabel] = []
        for k in range(PCA_SLIDERS):
            row, slider, label, _ = slider_row(
                f"PC{k + 1}", -100, 100, 0, f"Move along principal axis {k + 1} (± {SLIDER_SIGMAS:g} standard deviations)",
                width=34)
            lay.addLayout(row)
            self.pca_sliders.append(slider)
            self.pca_labels.append(label)
            slider.valueChanged.connect(lambda _v: self.moved.emit())
        row = QHBoxLayout()
        self.pca_folder_button = push_button("From a folder…", "folder")
        self.pca_reset = push_button("Reset", "refresh")
        row.addWidget(self.pca_folder_button, 1)
        row.addWidget(self.pca_reset)
        lay.addLayout(row)
        self.pca_reset.clicked.connect(self.reset_requested)
        return box

    def update_state(self, ready: bool) -> None:
        self.pca_folder_button.setEnabled(ready)
        for k, (slider, label) in enumerate(zip(self.pca_sliders, self.pca_labels, strict=True)):
            on = self.directions is not None and k < len(self.directions[0])
            slider.setEnabled(on)
            label.setEnabled(on)

    def offsets(self, rows: list[torch.Tensor], amounts: list[float]) -> None:
        """Append the axes and how far along each the sliders say."""
        if self.directions is None:
            return
        directions, spread = self.directions
        for k in range(len(directions)):
            rows.append(directions[k])
            amounts.append(self.pca_sliders[k].value() / 100.0 * SLIDER_SIGMAS * float(spread[k]))

    def reset_sliders(self) -> None:
        for s in self.pca_sliders:
            s.blockSignals(True)
            s.setValue(0)
            s.blockSignals(False)

    def anchors_changed(self, latents: tuple[torch.Tensor, ...]) -> None:
        """New anchors: their axes replace the old ones (unless a folder's are in use)."""
        self._count = n = len(latents)
        if self.source != "anchors":
            return
        self.directions = None
        self.reset_sliders()
        if n >= 3:
            self.slot.start(work.pca_of(latents, min(PCA_SLIDERS, n - 1)), "anchor directions")
        self.pca_hint.setText("Principal axes of the anchors' latents (three or more anchors), "
                              "or of a folder's.")

    def ask_folder(self, model: latent.LatentModel | None) -> None:
        folder = dialogs.open_folder(self._view, "Folder whose principal directions to explore", self.ctx.settings,
                                     "latent_pca")
        if folder is not None:
            self.from_folder(model, folder)

    def from_folder(self, model: latent.LatentModel | None, folder: str | Path) -> None:
        if model is None:
            return
        self.source = "folder"
        self.pca_hint.setText(f"Encoding {Path(folder).name}…")
        self.slot.start(work.folder_pca(model, Path(folder), PCA_SLIDERS), "folder directions")

    def _progress(self, progress: Progress) -> None:
        self.pca_hint.setText(f"Encoding {progress.done} of {progress.total}…")

    def _done(self, value: Any) -> None:
        if isinstance(value, dict):
            self.directions = (value["directions"], value["spread"])
            skipped = f", {len(value['failed'])} unreadable skipped" if value["failed"] else ""
            self.pca_hint.setText(f"Principal axes of {value['count']} images in {Path(value['folder']).name}"
                                  f"{skipped}.")
        else:
            self.directions = value
            self.pca_hint.setText(f"Principal axes of the {self._count} anchors' latents.")
        self.reset_sliders()
        self.ready.emit()


class AttributePart(QObject):
    """The mean latent of one folder minus another's, and a strength slider along it."""

    moved = Signal()  # the strength changed: the blend is drawn again
    ready = Signal()  # a new direction (computed or loaded)
    failed = Signal(str, str)  # title, message

    def __init__(self, ctx: AppContext, parent: QWidget):
        super().__init__(parent)
        self.ctx = ctx
        self._view = parent
        self.direction: torch.Tensor | None = None
        self.label = ""
        self.model: latent.LatentModel | None = None  # the panel's model, set by the panel
        self.slot = TaskSlot(self)
        self.files = DirectionFiles(ctx, parent)
        self.slot.result.connect(self._done)
        self.slot.failed.connect(lambda m: self.failed.emit("Cannot compute the direction", m))
        self.files.loaded.connect(self._loaded)
        self.files.failed.connect(self.failed)

    def box(self) -> QGroupBox:
        box = QGroupBox("Attribute direction")
        lay = QVBoxLayout(box)
        self.with_field = FolderField("Images with the attribute")
        self.without_field = FolderField("Images without it")
        lay.addWidget(self.with_field)
        lay.addWidget(self.without_field)
        self.attribute_button = push_button("Compute direction", "latent")
        self.attribute_button.clicked.connect(self.compute)
        lay.addWidget(self.attribute_button)
        row, self.attribute_strength, _, self.attribute_value = slider_row("Strength", -100, 100, 0, shown="0.00")
        lay.addLayout(row)
        row = QHBoxLayout()
        self.save_direction_button = push_button("Save direction…", "save")
        self.load_direction_button = push_button("Load…", "open")
        row.addWidget(self.save_direction_button, 1)
        row.addWidget(self.load_direction_button)
        lay.addLayout(row)
        self.attribute_status = hint("Mean latent of the first folder minus the second's.")
        lay.addWidget(self.attribute_status)
        self.with_field.browse_requested.connect(lambda: self._browse(self.with_field))
        self.without_field.browse_requested.connect(lambda: self._browse(self.without_field))
        self.attribute_strength.valueChanged.connect(self._strength_changed)
        self.save_direction_button.clicked.connect(self._ask_save)
        self.load_direction_button.clicked.connect(self._ask_load)
        return box

    def update_state(self, ready: bool) -> None:
        self.attribute_button.setEnabled(ready and not self.slot.busy)
        self.attribute_strength.setEnabled(self.direction is not None)
        self.save_direction_button.setEnabled(self.direction is not None)
        self.load_direction_button.setEnabled(ready)

    def offsets(self, rows: list[torch.Tensor], amounts: list[float]) -> None:
        """Append the direction and how far along it the strength slider says."""
        if self.direction is not None:
            rows.append(self.direction)
            amounts.append(self.attribute_strength.value() / 100.0 * ATTRIBUTE_RANGE)

    def _browse(self, field: FolderField) -> None:
        folder = dialogs.open_folder(self._view, field.title.text(), self.ctx.settings, "latent_attribute")
        if folder is not None:
            field.set_path(folder)

    def compute(self) -> None:
        model = self.model
        if model is None:
            return
        a, b = Path(self.with_field.path), Path(self.without_field.path)
        if not (a.is_dir() and b.is_dir()):
            self.failed.emit("Choose two folders", "The attribute direction needs a folder of images with the "
                                                   "attribute and one without it.")
            return
        self.label = f"{a.name} − {b.name}"
        self.attribute_status.setText(f"Encoding {a.name} and {b.name}…")
        self.slot.start(work.attribute(model, a, b), "attribute direction")

    def _done(self, direction: torch.Tensor) -> None:
        self.direction = direction
        self.attribute_status.setText(f"Direction {self.label} (length {float(direction.norm()):.2f}).")
        self.attribute_strength.setValue(int(100 / ATTRIBUTE_RANGE))  # strength 1: the full mean difference
        self.ready.emit()

    def _loaded(self, direction: torch.Tensor, meta: dict) -> None:
        self.label = str(meta.get("name") or "loaded direction")
        self._done(direction)

    def _strength_changed(self, value: int) -> None:
        self.attribute_value.setText(f"{value / 100 * ATTRIBUTE_RANGE:+.2f}")
        self.moved.emit()

    def _ask_save(self) -> None:
        if self.direction is None:
            return
        suggested = (self.label or "direction").replace(" − ", "-minus-") + ".safetensors"
        path = dialogs.save_file(self._view, "Save the direction", suggested, "Latent direction (*.safetensors)",
                                 self.ctx.settings, "latent_direction")
        if path is not None:
            self.save(path)

    def save(self, path: str | Path) -> None:
        if self.direction is not None:
            self.files.save(path, self.direction, self.model, self.label)

    def _ask_load(self) -> None:
        path = dialogs.open_file(self._view, "Load a direction", "Latent direction (*.safetensors)", self.ctx.settings,
                                 "latent_direction")
        if path is not None:
            self.load(path)

    def load(self, path: str | Path) -> None:
        self.files.load(path, self.model)


class DirectionFiles(QObject):
    """Saves and loads direction files (``.safetensors``, with the model they belong to)."""

    loaded = Signal(object, object)  # direction (D,), its metadata
    failed = Signal(str, str)  # title, message

    def __init__(self, ctx: AppContext, parent: QWidget):
        super().__init__(parent)
        self.ctx = ctx
        self.slot = TaskSlot(self)
        self.slot.result.connect(self._done)
        self.slot.failed.connect(lambda m: self.failed.emit("Direction file", m))

    def save(self, path: str | Path, direction: torch.Tensor, model: latent.LatentModel | None, name: str) -> None:
        if model is None:
            return
        path = Path(path)
        if not path.suffix:
            path = path.with_suffix(".safetensors")
        self.slot.start(work.save_direction(path, direction, model, name=name), f"saving {path.name}")

    def load(self, path: str | Path, model: latent.LatentModel | None) -> None:
        if model is not None:
            self.slot.start(work.load_direction(Path(path), model), "loading a direction")

    def _done(self, value: Any) -> None:
        if isinstance(value, Path):
            self.ctx.notify(f"Saved direction {value.name}", "success")
            return
        direction, meta = value
        self.loaded.emit(direction, meta)
