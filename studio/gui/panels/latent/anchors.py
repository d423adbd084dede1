"""The model and its anchors: the model combo, the anchor images (encoded in this part's one
TaskSlot), the row of anchor tiles, the model's example images."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QFrame, QGroupBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from studio.core import latent
from studio.core.report import KIND_LABELS
from studio.gui import dialogs, resources
from studio.gui.context import AppContext
from studio.gui.qimages import qimage_from_array
from studio.gui.widgets.common import hint, model_combo, push_button
from studio.gui.worker import TaskSlot

from . import work

MIN_ANCHORS, MAX_ANCHORS = 2, 6
PIXEL_KIND = latent.PixelModel.kind  # offered too, for its samples and scores only (it has no latent space)
SETTINGS_KEY = "latent/model"


class AnchorSet(QObject):
    """The chosen model and the anchors encoded with it (2–6 images)."""

    model_chosen = Signal()  # another model was chosen: whatever depended on the old one is stale
    anchors_changed = Signal()  # the anchors were added, removed, cleared or re-encoded
    anchors_ready = Signal()  # the anchors were (re-)encoded
    changed = Signal()  # what the buttons depend on changed (a model was chosen)
    failed = Signal(str, str)  # title, message

    def __init__(self, ctx: AppContext, parent: QWidget):
        super().__init__(parent)
        self.ctx = ctx
        self._view = parent  # the panel: the parent of dialogs
        self._models = work.ModelCache(latent.LatentModel.load)
        self._shown_model: str | None = ""  # no model shown yet (None is "no model at all")
        self.kind: str | None = None  # the chosen model's
        self.model: latent.LatentModel | None = None
        self._anchors: list[work.Anchor] = []
        self.encoding: list[Path] = []  # paths being encoded now
        self._replace = False  # the encoding job re-encodes every anchor (a new model)
        self._examples: list[Path] = []  # the chosen model's example inputs, read when it is chosen
        self.slot = TaskSlot(self)
        self._build()
        self.slot.result.connect(self._encoded)
        self.slot.failed.connect(lambda m: self.failed.emit("Cannot encode the images", m))

    def _build(self) -> None:
        self.model_combo = model_combo()
        self.model_hint = hint("")
        self.add_button = push_button("Add images…", "open", primary=True)
        self.add_button.setToolTip("2–6 images to blend; you can also drop them on the pad")
        self.clear_button = push_button("Clear", "delete")
        self.examples_button = push_button("Use the model's examples", "photos")
        self.examples_button.setToolTip("Place the example images that come with the model as anchors")
        self.anchor_status = hint(f"Add {MIN_ANCHORS}–{MAX_ANCHORS} of your images.")
        # the anchors as a row: thumbnail over reconstruction
        self.anchor_row = QHBoxLayout()
        self.anchor_row.setSpacing(8)
        self.anchor_strip = QWidget()
        self.anchor_strip.setLayout(self.anchor_row)
        self.anchor_caption = QLabel("Anchors: image / reconstruction", objectName="Muted")
        self.model_combo.currentIndexChanged.connect(lambda _i: self.model_changed())
        self.add_button.clicked.connect(self.ask_add)
        self.examples_button.clicked.connect(self.add_examples)
        self.clear_button.clicked.connect(self.clear)

    def model_box(self) -> QGroupBox:
        box = QGroupBox("Model")
        lay = QVBoxLayout(box)
        lay.addWidget(self.model_combo)
        lay.addWidget(self.model_hint)
        return box

    def anchors_box(self) -> QGroupBox:
        box = QGroupBox("Anchors")
        lay = QVBoxLayout(box)
        row = QHBoxLayout()
        row.addWidget(self.add_button, 1)
        row.addWidget(self.clear_button)
        lay.addLayout(row)
        lay.addWidget(self.examples_button)
        lay.addWidget(self.anchor_status)
        return box

    def update_state(self) -> None:
        n = len(self._anchors)
        self.add_button.setEnabled(self.current_model_name() is not None and not self.pixel_chosen()
                                   and n < MAX_ANCHORS)
        placed = {a.path for a in self._anchors}
        self.examples_button.setVisible(bool(self._examples))
        self.examples_button.setEnabled(n < MAX_ANCHORS and any(p not in placed for p in self._examples))
        self.clear_button.setEnabled(n > 0)

    def reset_status(self) -> None:
        """After a failure anywhere in the panel: nothing is being encoded any more."""
        self.encoding = []
        self.anchor_status.setText(f"{len(self._anchors)} anchors." if self._anchors else
                                   f"Add {MIN_ANCHORS}–{MAX_ANCHORS} of your images.")

    # -- models --------------------------------------------------------------------------------
    def current_model_name(self) -> str | None:
        return self.model_combo.currentData()

    def model_loader(self) -> Callable[[], latent.LatentModel] | None:
        """A function that loads the chosen model (shared with the anchors'), for a job to call in its
        worker; None when no latent model is chosen."""
        name = self.current_model_name()
        if name is None or self.pixel_chosen():
            return None
        models, store, device = self._models, self.ctx.store.store, self.ctx.settings.engine_device()
        return lambda: models.get(store, name, device)

    def model_names(self) -> list[str]:
        """The models offered (latent ones, then PixelCNNs), in the combo's order."""
        return [n for i in range(self.model_combo.count()) if (n := self.model_combo.itemData(i))]

    def select_model(self, name: str) -> None:
        index = self.model_combo.findData(name)
        if index < 0:
            raise KeyError(f"no latent model named {name!r}")
        self.model_combo.setCurrentIndex(index)

    def fill_models(self) -> bool:
        """List the store's latent models and PixelCNNs; True when the shown model changed (and was handled)."""
        models = self.ctx.store.models(latent.LATENT_KINDS) + self.ctx.store.models([PIXEL_KIND])
        current = self.model_combo.currentData() or self.ctx.settings.value(SETTINGS_KEY)
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for info in models:
            label = f"{info.name}  ·  built-in" if info.builtin else info.name
            if info.kind == PIXEL_KIND:
                label += f"  ·  {KIND_LABELS[PIXEL_KIND]}"
            self.model_combo.addItem(resources.icon("latent"), label, info.name)
        if not models:
            self.model_combo.addItem("No latent models yet", None)
        index = self.model_combo.findData(current) if current else -1
        if index < 0:  # nothing chosen before: the model a card features, else the first
            index = next((i for i, info in enumerate(models) if info.featured), 0)
        self.model_combo.setCurrentIndex(max(0, index))
        self.model_combo.setEnabled(bool(models))
        self.model_combo.blockSignals(False)
        if self.model_combo.currentData() != self._shown_model:
            self.model_changed()
            return True
        return False

    def pixel_chosen(self) -> bool:
        """A PixelCNN is chosen: no latent space, so no anchors (the panel shows its samples and scores)."""
        return self.kind == PIXEL_KIND

    def model_changed(self) -> None:
        name = self.current_model_name()
        self._shown_model = name
        self.model = None
        info = self.ctx.store.find(name) if name else None
        self.kind = info.kind if info is not None else None
        self.model_chosen.emit()
        self._examples = info.examples()[:MAX_ANCHORS] if info is not None and not self.pixel_chosen() else []
        if info is not None and self.pixel_chosen():
            self.slot.detach()  # the anchors wait, to be encoded again when a latent model is chosen
            self.ctx.settings.set_value(SETTINGS_KEY, info.name)
            bits = info.card.get("metrics", {}).get("bits_per_dim")
            held_out = f" · held-out {bits:.2f} bits/dim" if isinstance(bits, float) else ""
            self.model_hint.setText(f"PixelCNN · {info.card.get('image_size', '?')} px{held_out} · "
                                    "sampling and scoring only")
        elif info is None:
            self.model_hint.setText("Train a VAE, autoencoder, flow or DCGAN in Train (on a folder of your images), "
                                    "or import one in Models.")
        else:
            self.ctx.settings.set_value(SETTINGS_KEY, info.name)
            metrics = info.card.get("metrics", {})
            psnr = f" · reconstruction PSNR {metrics['psnr']:.1f} dB" if isinstance(metrics.get("psnr"), float) else ""
            self.model_hint.setText(f"{KIND_LABELS.get(info.kind, info.kind)} · {info.card.get('image_size', '?')} px"
                                    f"{psnr}")
            paths = [a.path for a in self._anchors] or self.encoding
            self._encode(paths, replace=True)
        self.changed.emit()

    def shutdown(self) -> None:
        self._models.clear()

    # -- anchors -------------------------------------------------------------------------------
    @property
    def anchors(self) -> list[work.Anchor]:
        return list(self._anchors)

    def example_paths(self) -> list[Path]:
        return list(self._examples)

    def add_examples(self) -> None:
        """Place the example images shipped with the chosen model as anchors."""
        self.add_images(self.example_paths())

    def ask_add(self) -> None:
        paths = dialogs.open_files(self._view, "Images to use as anchors", dialogs.IMAGE_FILTER, self.ctx.settings,
                                   "latent_anchors")
        if paths:
            self.add_images(paths)

    def add_images(self, paths: list[str | Path]) -> None:
        """Encode images as new anchors (up to six in all), in a worker."""
        known = {a.path for a in self._anchors} | set(self.encoding)
        new = [Path(p) for p in paths if Path(p) not in known]
        room = MAX_ANCHORS - len(self._anchors)
        if len(new) > room:
            self.ctx.notify(f"The pad holds {MAX_ANCHORS} anchors; {len(new) - room} image(s) left out.", "warning")
            new = new[: max(0, room)]
        if new:
            self._encode(self.encoding + new, replace=False)

    def _encode(self, paths: list[Path], replace: bool) -> None:
        name = self.current_model_name()
        if name is None or self.pixel_chosen() or not paths:
            self.encoding = []
            return
        self.encoding = list(paths)
        self._replace = replace
        self.anchor_status.setText(f"Encoding {len(paths)} image{'s' if len(paths) != 1 else ''}…")
        job = work.encode_anchors(self._models, self.ctx.store.store, name, self.ctx.settings.engine_device(), paths)
        self.slot.start(job, f"encoding anchors with {name}")

    def _encoded(self, result: dict) -> None:
        self.model = result["model"]
        self.encoding = []
        if self._replace:
            self._anchors = result["anchors"]
        else:
            self._anchors = (self._anchors + result["anchors"])[:MAX_ANCHORS]
        for path, reason in result["failed"]:
            self.ctx.notify(f"{Path(path).name} skipped: {reason}", "warning")
        self._updated()
        self.anchors_ready.emit()

    def clear(self) -> None:
        self.slot.detach()
        self.encoding = []
        self._anchors = []
        self._updated()

    def remove(self, index: int) -> None:
        del self._anchors[index]
        self._updated()

    def _updated(self) -> None:
        n = len(self._anchors)
        if n == 0:
            self.anchor_status.setText(f"Add {MIN_ANCHORS}–{MAX_ANCHORS} of your images.")
        elif n < MIN_ANCHORS:
            self.anchor_status.setText("Add one more image to start blending.")
        else:
            self.anchor_status.setText(f"{n} anchors. Drag the cursor on the pad; shift-drag moves an anchor.")
        self._fill_anchor_row()
        self.anchors_changed.emit()

    def _fill_anchor_row(self) -> None:
        while self.anchor_row.count():
            item = self.anchor_row.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        for i, a in enumerate(self._anchors):
            tile = AnchorTile(i, a)
            tile.remove_requested.connect(self.remove)
            self.anchor_row.addWidget(tile)
        self.anchor_row.addStretch(1)
        self.anchor_caption.setVisible(bool(self._anchors))


class AnchorTile(QFrame):
    """An anchor under the result: its image over its reconstruction, with a remove button."""

    remove_requested = Signal(int)

    def __init__(self, index: int, anchor: work.Anchor, parent: QWidget | None = None):
        super().__init__(parent, objectName="Card")
        self.index = index
        self.setToolTip(f"{index + 1} · {anchor.path}")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.setSpacing(3)
        title = QHBoxLayout()
        title.setSpacing(2)
        number = QLabel(f"<b>{index + 1}</b>")
        remove = push_button("", "cancel")
        remove.setObjectName("Flat")
        remove.setFixedSize(18, 18)
        remove.setToolTip("Remove this anchor")
        remove.clicked.connect(lambda: self.remove_requested.emit(self.index))
        title.addWidget(number)
        title.addStretch(1)
        title.addWidget(remove)
        lay.addLayout(title)
        for image in (anchor.thumb, qimage_from_array(anchor.recon)):
            label = QLabel()
            label.setFixedSize(56, 56)
            label.setPixmap(_pixmap(image, 56))
            lay.addWidget(label)


def _pixmap(image: QImage, side: int) -> QPixmap:
    return QPixmap.fromImage(image.scaled(side, side, Qt.AspectRatioMode.IgnoreAspectRatio,
                                          Qt.TransformationMode.SmoothTransformation))
