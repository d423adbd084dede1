"""The Latent Explorer: anchor images on a pad, a cursor that blends their latents, live decoding.

Encoding, loading, strips and directions run in TaskSlots (a new request cancels the stale one).
Live frames come from one long-lived render worker fed through a one-place mailbox
(:class:`~studio.gui.panels.latent_jobs.LatestRequest`): while the cursor is dragged, requests the
worker has not reached yet are replaced, never queued, so the picture follows the hand and the GUI
thread never decodes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PySide6.QtCore import QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QDragEnterEvent, QDropEvent, QImage
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.core import latent
from studio.core.images import is_image_file
from studio.gui import dialogs, resources
from studio.gui.context import KIND_LABELS
from studio.gui.qimages import array_from_qimage, qimage_from_array
from studio.gui.widgets.common import (
    FolderField,
    ImageLabel,
    dropped_paths,
    hint,
    lay_out_panel,
    model_combo,
    paint_backdrop,
    push_button,
    side_column,
    slider_row,
)
from studio.gui.widgets.latent_pad import LatentPad
from studio.gui.worker import TaskSlot

from . import latent_jobs as jobs
from .base import Panel

log = logging.getLogger(__name__)

MIN_ANCHORS, MAX_ANCHORS = 2, 6
PCA_SLIDERS = 5
SLIDER_SIGMAS = 3.0  # a PCA slider spans ± this many standard deviations of the latents along its axis
ATTRIBUTE_RANGE = 2.0  # the attribute strength slider spans ± this


class LatentExplorerPanel(Panel):
    key = "latent"
    title = "Latent Explorer"
    subtitle = "Blend, interpolate and sample the latent space of a VAE or a flow trained on your images."
    icon_name = "latent"

    anchors_ready = Signal()  # the anchors were (re-)encoded
    frame_shown = Signal(int)  # the serial of the request whose frame is now shown
    strip_ready = Signal(object)  # jobs.Strip
    exported = Signal(str)
    directions_ready = Signal()

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self.setAcceptDrops(True)
        self._models = jobs.ModelCache()
        self._shown_model: str | None = ""  # no model shown yet (None is "no model at all")
        self._model: latent.LatentModel | None = None
        self._anchors: list[jobs.Anchor] = []
        self._encoding: list[Path] = []  # paths being encoded now
        self._replace = False  # the encoding job re-encodes every anchor (a new model)
        self._mailbox = jobs.LatestRequest()
        self._serial = 0
        self._shown_serial = 0
        self._frame: QImage | None = None
        self._ms: float | None = None
        self._source = "pad"  # or "sample"
        self._sample_seed = 0
        self._pca: tuple[torch.Tensor, torch.Tensor] | None = None  # (k, D) unit directions, (k,) spread
        self._pca_source = "anchors"
        self._attribute: torch.Tensor | None = None
        self._attribute_label = ""
        self._strip: jobs.Strip | None = None
        self._play_index = 0
        self._encode_slot = TaskSlot(self)
        self._render_slot = TaskSlot(self)
        self._strip_slot = TaskSlot(self)
        self._export_slot = TaskSlot(self)
        self._pca_slot = TaskSlot(self)
        self._attribute_slot = TaskSlot(self)
        self._direction_io_slot = TaskSlot(self)
        self._offered_examples = False
        self._examples: list[Path] = []  # the chosen model's example inputs, read when it is chosen
        self._player = QTimer(self, interval=90)
        self._player.timeout.connect(self._next_frame)
        self._build()
        self._connect()
        self._fill_models()

    # -- layout --------------------------------------------------------------------------------
    def _build(self) -> None:
        self.pad = LatentPad()
        self.result_view = ImageLabel("The blend at the cursor appears here.")
        self.result_view.setMinimumSize(220, 220)
        self.result_caption = QLabel("", objectName="Muted")
        self.result_caption.setWordWrap(True)
        self.speed_label = QLabel("", objectName="Muted")
        self.speed_label.setToolTip("Blend + decode + conversion per frame, on the render worker")

        self.layout_group = QButtonGroup(self)
        self.corners_button = _toggle("Corners")
        self.corners_button.setToolTip("Anchors at the pad's corners; four anchors blend bilinearly")
        self.free_button = _toggle("Free")
        self.free_button.setToolTip("Drag anchors anywhere; inverse-distance weights")
        self.linear_button = _toggle("Linear")
        self.linear_button.setToolTip("Weighted mean of the latents")
        self.spherical_button = _toggle("Spherical")
        self.spherical_button.setToolTip("Weighted spherical mean: blends keep the prior's typical norm")
        self.mode_group = QButtonGroup(self)
        for group, buttons in ((self.layout_group, (self.corners_button, self.free_button)),
                               (self.mode_group, (self.linear_button, self.spherical_button))):
            for b in buttons:
                b.setCheckable(True)
                group.addButton(b)
        self.corners_button.setChecked(True)
        self.spherical_button.setChecked(True)
        self.snap_check = QCheckBox("Snap to anchors")
        self.snap_check.setChecked(True)
        self.snap_check.setToolTip("Near an anchor the cursor lands on it: the result is that anchor's reconstruction")
        bar = QHBoxLayout()
        bar.setSpacing(6)
        for w in (self.corners_button, self.free_button):
            bar.addWidget(w)
        bar.addSpacing(14)
        for w in (self.linear_button, self.spherical_button):
            bar.addWidget(w)
        bar.addSpacing(14)
        bar.addWidget(self.snap_check)
        bar.addStretch(1)
        bar.addWidget(self.speed_label)

        # the anchors as a row: thumbnail over reconstruction
        self.anchor_row = QHBoxLayout()
        self.anchor_row.setSpacing(8)
        anchor_strip = QWidget()
        anchor_strip.setLayout(self.anchor_row)
        self.anchor_caption = QLabel("Anchors: image / reconstruction", objectName="Muted")

        result_box = QVBoxLayout()
        result_box.setSpacing(6)
        result_box.addWidget(self.result_view, 3)
        result_box.addWidget(self.result_caption)
        result_box.addWidget(self.anchor_caption)
        result_box.addWidget(anchor_strip)

        canvas = QHBoxLayout()
        canvas.setSpacing(12)
        canvas.addWidget(self.pad, 3)
        canvas.addLayout(result_box, 2)

        self.strip_view = StripView()
        self.strip_player = ImageLabel("")
        self.strip_player.setMinimumSize(110, 110)
        self.strip_player.setMaximumWidth(130)
        strip_row = QHBoxLayout()
        strip_row.setSpacing(10)
        strip_row.addWidget(self.strip_view, 1)
        strip_row.addWidget(self.strip_player)
        self.strip_frame = QFrame(objectName="Card")
        strip_layout = QVBoxLayout(self.strip_frame)
        strip_layout.setContentsMargins(10, 8, 10, 8)
        self.strip_caption = QLabel("Interpolation strip: choose two anchors and press “Make strip”.",
                                    objectName="Muted")
        strip_layout.addWidget(self.strip_caption)
        strip_layout.addLayout(strip_row)
        self.strip_frame.setMaximumHeight(190)

        left = QVBoxLayout()
        left.setSpacing(8)
        left.addLayout(canvas, 1)
        left.addLayout(bar)
        left.addWidget(self.strip_frame)

        boxes = [self._model_box(), self._anchors_box(), self._strip_box(), self._sample_box(), self._pca_box(),
                 self._attribute_box()]
        lay_out_panel(self, (left, 1), (side_column(boxes, 300), 0))

    def _model_box(self) -> QGroupBox:
        box = QGroupBox("Model")
        lay = QVBoxLayout(box)
        self.model_combo = model_combo()
        self.model_hint = hint("")
        lay.addWidget(self.model_combo)
        lay.addWidget(self.model_hint)
        return box

    def _anchors_box(self) -> QGroupBox:
        box = QGroupBox("Anchors")
        lay = QVBoxLayout(box)
        row = QHBoxLayout()
        self.add_button = push_button("Add images…", "open", primary=True)
        self.add_button.setToolTip("2–6 images to blend; you can also drop them on the pad")
        self.clear_button = push_button("Clear", "delete")
        self.examples_button = push_button("Use the model's examples", "photos")
        self.examples_button.setToolTip("Place the example images that come with the model as anchors")
        row.addWidget(self.add_button, 1)
        row.addWidget(self.clear_button)
        lay.addLayout(row)
        lay.addWidget(self.examples_button)
        self.anchor_status = hint(f"Add {MIN_ANCHORS}–{MAX_ANCHORS} of your images.")
        lay.addWidget(self.anchor_status)
        return box

    def _strip_box(self) -> QGroupBox:
        box = QGroupBox("Interpolation strip")
        grid = QGridLayout(box)
        self.strip_a = QComboBox()
        self.strip_b = QComboBox()
        self.strip_steps = QSpinBox()
        self.strip_steps.setRange(2, 64)
        self.strip_steps.setValue(8)
        self.strip_steps.setSuffix(" frames")
        grid.addWidget(QLabel("From"), 0, 0)
        grid.addWidget(self.strip_a, 0, 1)
        grid.addWidget(QLabel("To"), 1, 0)
        grid.addWidget(self.strip_b, 1, 1)
        grid.addWidget(QLabel("Length"), 2, 0)
        grid.addWidget(self.strip_steps, 2, 1)
        self.strip_button = push_button("Make strip", "latent")
        self.play_button = push_button("Play", "play")
        self.play_button.setCheckable(True)
        self.export_button = push_button("Export…", "export")
        self.export_button.setToolTip("PNG strip, GIF loop, or a folder of frames")
        row = QHBoxLayout()
        row.addWidget(self.strip_button, 1)
        row.addWidget(self.play_button)
        grid.addLayout(row, 3, 0, 1, 2)
        grid.addWidget(self.export_button, 4, 0, 1, 2)
        return box

    def _sample_box(self) -> QGroupBox:
        box = QGroupBox("Sample")
        lay = QVBoxLayout(box)
        row, self.temperature, _, self.temperature_value = slider_row(
            "Temperature", 0, 150, 100, "Spread of random latents: lower is closer to the average image",
            shown="1.00", width=32)
        lay.addLayout(row)
        self.sample_button = push_button("Random sample", "refresh")
        lay.addWidget(self.sample_button)
        return box

    def _pca_box(self) -> QGroupBox:
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
        row = QHBoxLayout()
        self.pca_folder_button = push_button("From a folder…", "folder")
        self.pca_reset = push_button("Reset", "refresh")
        row.addWidget(self.pca_folder_button, 1)
        row.addWidget(self.pca_reset)
        lay.addLayout(row)
        return box

    def _attribute_box(self) -> QGroupBox:
        box = QGroupBox("Attribute direction")
        lay = QVBoxLayout(box)
        self.with_field = FolderField("Images with the attribute")
        self.without_field = FolderField("Images without it")
        lay.addWidget(self.with_field)
        lay.addWidget(self.without_field)
        self.attribute_button = push_button("Compute direction", "latent")
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
        return box

    def _connect(self) -> None:
        self.model_combo.currentIndexChanged.connect(lambda _i: self._model_changed())
        self.ctx.store.changed.connect(self._fill_models)
        self.add_button.clicked.connect(self._ask_add)
        self.examples_button.clicked.connect(self.add_examples)
        self.clear_button.clicked.connect(self.clear_anchors)
        self.pad.cursor_changed.connect(self._pad_moved)
        self.pad.anchors_changed.connect(self._pad_moved)
        self.layout_group.buttonClicked.connect(
            lambda b: self.pad.set_layout_mode("free" if b is self.free_button else "corners"))
        self.mode_group.buttonClicked.connect(lambda _b: self.request_render())
        self.snap_check.toggled.connect(self._snap_toggled)
        self.strip_button.clicked.connect(self.make_strip)
        self.play_button.toggled.connect(self.set_playing)
        self.export_button.clicked.connect(self._ask_export)
        self.temperature.valueChanged.connect(self._temperature_changed)
        self.sample_button.clicked.connect(self.random_sample)
        for slider in self.pca_sliders:
            slider.valueChanged.connect(lambda _v: self.request_render())
        self.pca_reset.clicked.connect(self.reset_directions)
        self.pca_folder_button.clicked.connect(self._ask_pca_folder)
        self.with_field.browse_requested.connect(lambda: self._browse(self.with_field))
        self.without_field.browse_requested.connect(lambda: self._browse(self.without_field))
        self.attribute_button.clicked.connect(self.compute_attribute)
        self.attribute_strength.valueChanged.connect(self._attribute_changed)
        self.save_direction_button.clicked.connect(self._ask_save_direction)
        self.load_direction_button.clicked.connect(self._ask_load_direction)

        self._encode_slot.result.connect(self._encoded)
        self._encode_slot.failed.connect(lambda m: self._fail("Cannot encode the images", m))
        self._encode_slot.idle.connect(self._update_state)
        self._render_slot.preview.connect(self._frame_ready)
        self._render_slot.log.connect(lambda _lvl, m: self.result_caption.setText(m))
        self._render_slot.failed.connect(lambda m: self._fail("Rendering failed", m))
        self._strip_slot.result.connect(self._strip_done)
        self._strip_slot.failed.connect(lambda m: self._fail("Cannot make the strip", m))
        self._strip_slot.idle.connect(self._update_state)
        self._export_slot.result.connect(self._export_done)
        self._export_slot.failed.connect(lambda m: self._fail("Cannot export the strip", m))
        self._pca_slot.result.connect(self._pca_done)
        self._pca_slot.progress.connect(lambda d: self.pca_hint.setText(
            f"Encoding {d.get('done', 0)} of {d.get('total', 0)}…"))
        self._pca_slot.failed.connect(lambda m: self._fail("Cannot find directions", m))
        self._attribute_slot.result.connect(self._attribute_done)
        self._attribute_slot.failed.connect(lambda m: self._fail("Cannot compute the direction", m))
        self._attribute_slot.idle.connect(self._update_state)
        self._direction_io_slot.result.connect(self._direction_io_done)
        self._direction_io_slot.failed.connect(lambda m: self._fail("Direction file", m))

    # -- commands ------------------------------------------------------------------------------
    def commands(self) -> dict[str, Any]:
        return {"open": self._ask_add, "save": self._ask_export}

    def command_enabled(self, name: str) -> bool:
        if name == "open":
            return self.current_model_name() is not None
        if name == "save":
            return self._strip is not None
        return name in self.commands()

    def is_idle(self) -> bool:
        """The render worker idles between frames; it is busy only with a frame to draw."""
        slots = [s for s in self.task_slots() if s is not self._render_slot]
        return not any(s.busy for s in slots) and not self._mailbox.pending and self._shown_serial == self._serial

    def _update_state(self) -> None:
        has_model = self.current_model_name() is not None
        n = len(self._anchors)
        self.add_button.setEnabled(has_model and n < MAX_ANCHORS)
        placed = {a.path for a in self._anchors}
        self.examples_button.setVisible(bool(self._examples))
        self.examples_button.setEnabled(n < MAX_ANCHORS and any(p not in placed for p in self._examples))
        self.clear_button.setEnabled(n > 0)
        ready = self._model is not None
        self.strip_button.setEnabled(ready and n >= 2 and not self._strip_slot.busy)
        self.play_button.setEnabled(self._strip is not None)
        self.export_button.setEnabled(self._strip is not None)
        self.sample_button.setEnabled(ready)
        self.pca_folder_button.setEnabled(ready)
        for slider, label in zip(self.pca_sliders, self.pca_labels, strict=True):
            k = self.pca_sliders.index(slider)
            on = self._pca is not None and k < len(self._pca[0])
            slider.setEnabled(on)
            label.setEnabled(on)
        self.attribute_button.setEnabled(ready and not self._attribute_slot.busy)
        self.attribute_strength.setEnabled(self._attribute is not None)
        self.save_direction_button.setEnabled(self._attribute is not None)
        self.load_direction_button.setEnabled(ready)
        self.state_changed.emit()

    # -- models --------------------------------------------------------------------------------
    def current_model_name(self) -> str | None:
        return self.model_combo.currentData()

    @property
    def model(self) -> latent.LatentModel | None:
        return self._model

    def model_names(self) -> list[str]:
        """The VAE and flow models offered, in the combo's order."""
        return [n for i in range(self.model_combo.count()) if (n := self.model_combo.itemData(i))]

    def select_model(self, name: str) -> None:
        index = self.model_combo.findData(name)
        if index < 0:
            raise KeyError(f"no VAE or flow model named {name!r}")
        self.model_combo.setCurrentIndex(index)

    def _fill_models(self) -> None:
        models = self.ctx.store.models(latent.LATENT_KINDS)
        current = self.model_combo.currentData() or self.ctx.settings.value(f"{self.key}/model")
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for info in models:
            label = f"{info.name}  ·  built-in" if info.builtin else info.name
            self.model_combo.addItem(resources.icon("latent"), label, info.name)
        if not models:
            self.model_combo.addItem("No VAE or flow models yet", None)
        index = self.model_combo.findData(current) if current else -1
        self.model_combo.setCurrentIndex(max(0, index))
        self.model_combo.setEnabled(bool(models))
        self.model_combo.blockSignals(False)
        if self.model_combo.currentData() != self._shown_model:
            self._model_changed()
        else:
            self._update_state()

    def _model_changed(self) -> None:
        name = self.current_model_name()
        self._shown_model = name
        self._model = None
        self._pca = None
        self._attribute = None
        self._strip = None
        self.set_playing(False)
        self.strip_view.set_images([])
        self.strip_player.set_image(None)
        info = self.ctx.store.find(name) if name else None
        self._examples = info.examples()[:MAX_ANCHORS] if info is not None else []
        if info is None:
            self.model_hint.setText("Train a VAE or flow in Train (on a folder of your images), "
                                    "or import one in Models.")
        else:
            self.ctx.settings.set_value(f"{self.key}/model", info.name)
            metrics = info.card.get("metrics", {})
            psnr = f" · reconstruction PSNR {metrics['psnr']:.1f} dB" if isinstance(metrics.get("psnr"), float) else ""
            self.model_hint.setText(f"{KIND_LABELS.get(info.kind, info.kind)} · {info.card.get('image_size', '?')} px"
                                    f"{psnr}")
            paths = [a.path for a in self._anchors] or self._encoding
            self._encode(paths, replace=True)
        self._update_state()

    # -- anchors -------------------------------------------------------------------------------
    @property
    def anchors(self) -> list[jobs.Anchor]:
        return list(self._anchors)

    def example_paths(self) -> list[Path]:
        return list(self._examples)

    def add_examples(self) -> None:
        """Place the example images shipped with the chosen model as anchors."""
        self.add_images(self.example_paths())

    def activate(self, argument: object = None) -> None:
        """Shown for the first time with an empty pad and a model that ships examples: place them, so
        the canvas can be dragged at once."""
        if self._offered_examples:
            return
        self._offered_examples = True
        if not self._anchors and not self._encoding and len(self.example_paths()) >= MIN_ANCHORS:
            self.add_examples()

    def _ask_add(self) -> None:
        paths = dialogs.open_files(self, "Images to use as anchors", dialogs.IMAGE_FILTER, self.ctx.settings,
                                   "latent_anchors")
        if paths:
            self.add_images(paths)

    def add_images(self, paths: list[str | Path]) -> None:
        """Encode images as new anchors (up to six in all), in a worker."""
        known = {a.path for a in self._anchors} | set(self._encoding)
        new = [Path(p) for p in paths if Path(p) not in known]
        room = MAX_ANCHORS - len(self._anchors)
        if len(new) > room:
            self.ctx.notify(f"The pad holds {MAX_ANCHORS} anchors; {len(new) - room} image(s) left out.", "warning")
            new = new[: max(0, room)]
        if new:
            self._encode(self._encoding + new, replace=False)

    def _encode(self, paths: list[Path], replace: bool) -> None:
        name = self.current_model_name()
        if name is None or not paths:
            self._encoding = []
            return
        self._encoding = list(paths)
        self._replace = replace
        self.anchor_status.setText(f"Encoding {len(paths)} image{'s' if len(paths) != 1 else ''}…")
        job = jobs.encode_anchors(self._models, self.ctx.store.store, name, self.ctx.settings.engine_device(), paths)
        self._encode_slot.start(job, f"encoding anchors with {name}")

    def _encoded(self, result: dict) -> None:
        self._model = result["model"]
        self._encoding = []
        if self._replace:
            self._anchors = result["anchors"]
        else:
            self._anchors = (self._anchors + result["anchors"])[:MAX_ANCHORS]
        for path, reason in result["failed"]:
            self.ctx.notify(f"{Path(path).name} skipped: {reason}", "warning")
        self._anchors_updated()
        self.anchors_ready.emit()

    def clear_anchors(self) -> None:
        self._encode_slot.detach()
        self._encoding = []
        self._anchors = []
        self._anchors_updated()

    def remove_anchor(self, index: int) -> None:
        del self._anchors[index]
        self._anchors_updated()

    def _anchors_updated(self) -> None:
        n = len(self._anchors)
        if n == 0:
            self.anchor_status.setText(f"Add {MIN_ANCHORS}–{MAX_ANCHORS} of your images.")
        elif n < MIN_ANCHORS:
            self.anchor_status.setText("Add one more image to start blending.")
        else:
            self.anchor_status.setText(f"{n} anchors. Drag the cursor on the pad; shift-drag moves an anchor.")
        self._fill_anchor_row()
        for combo, default in ((self.strip_a, 0), (self.strip_b, 1)):
            current = combo.currentIndex()
            combo.blockSignals(True)
            combo.clear()
            for i, a in enumerate(self._anchors):
                combo.addItem(f"{i + 1} · {a.name}", i)
            combo.setCurrentIndex(current if 0 <= current < n else min(default, n - 1))
            combo.blockSignals(False)
        self._source = "pad"
        self.pad.set_anchors([a.thumb for a in self._anchors], [a.name for a in self._anchors])
        if self._pca_source == "anchors":
            self._pca = None
            self._reset_pca_sliders()
            if n >= 3:
                self._pca_slot.start(jobs.pca_of(tuple(a.latent for a in self._anchors), min(PCA_SLIDERS, n - 1)), "anchor directions")
            self.pca_hint.setText("Principal axes of the anchors' latents (three or more anchors), "
                                  "or of a folder's.")
        if n < MIN_ANCHORS and self._source == "pad":
            self._frame = None
            self.result_view.set_image(None)
        self._update_state()

    def _fill_anchor_row(self) -> None:
        while self.anchor_row.count():
            item = self.anchor_row.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        for i, a in enumerate(self._anchors):
            tile = AnchorTile(i, a)
            tile.remove_requested.connect(self.remove_anchor)
            self.anchor_row.addWidget(tile)
        self.anchor_row.addStretch(1)
        self.anchor_caption.setVisible(bool(self._anchors))

    # -- live rendering ------------------------------------------------------------------------
    def _pad_moved(self) -> None:
        self._source = "pad"
        (self.free_button if self.pad.layout_mode == "free" else self.corners_button).setChecked(True)
        self.request_render()

    def _snap_toggled(self, on: bool) -> None:
        self.pad.snap = on
        self.pad.set_cursor(self.pad.cursor)

    def blend_mode(self) -> str:
        return "spherical" if self.spherical_button.isChecked() else "linear"

    def _offset(self) -> tuple[tuple[torch.Tensor, ...], tuple[float, ...]]:
        """The directions in use and how far along each (PCA sliders, then the attribute)."""
        rows, amounts = [], []
        if self._pca is not None:
            directions, spread = self._pca
            for k in range(len(directions)):
                rows.append(directions[k])
                amounts.append(self.pca_sliders[k].value() / 100.0 * SLIDER_SIGMAS * float(spread[k]))
        if self._attribute is not None:
            rows.append(self._attribute)
            amounts.append(self.attribute_strength.value() / 100.0 * ATTRIBUTE_RANGE)
        return tuple(rows), tuple(amounts)

    def request_render(self) -> int | None:
        """Ask the render worker for the frame of the current state; returns the request's serial."""
        model = self._model
        if model is None:
            return None
        directions, amounts = self._offset()
        if self._source == "sample":
            request = jobs.RenderRequest(self._serial + 1, model, sample=(self.temperature_value_f(), self._sample_seed),
                                         directions=directions, amounts=amounts)
        elif len(self._anchors) >= MIN_ANCHORS:
            request = jobs.RenderRequest(self._serial + 1, model, tuple(a.latent for a in self._anchors), tuple(self.pad.weights()),
                                         self.blend_mode(), directions=directions, amounts=amounts)
        else:
            return None
        self._serial = request.serial
        self._mailbox.put(request)
        if not self._render_slot.busy:
            self._render_slot.start(jobs.render_loop(self._mailbox), "latent renderer")
        return request.serial

    def _frame_ready(self, data: dict) -> None:
        self._frame = data["qimage"]
        self._shown_serial = data["serial"]
        ms = float(data["ms"])
        self._ms = ms if self._ms is None else 0.8 * self._ms + 0.2 * ms
        self.result_view.set_image(self._frame)
        self.speed_label.setText(f"{self._ms:.1f} ms/frame · {self._model.device.type if self._model else ''}")
        self.result_caption.setText(self._describe())
        self.frame_shown.emit(self._shown_serial)

    def _describe(self) -> str:
        if self._source == "sample":
            return f"Random sample · temperature {self.temperature_value_f():.2f} · seed {self._sample_seed}"
        snapped = self.pad.snapped
        if snapped is not None and snapped < len(self._anchors):
            return f"Snapped to anchor {snapped + 1} ({self._anchors[snapped].name}): its reconstruction"
        weights = self.pad.weights()
        parts = [f"{i + 1}: {w * 100:.0f}%" for i, w in enumerate(weights) if w >= 0.005]
        return f"{self.blend_mode().capitalize()} blend · " + ", ".join(parts)

    @property
    def frame(self) -> QImage | None:
        """The frame shown now (the latest the worker delivered)."""
        return self._frame

    def frame_rgb(self) -> np.ndarray | None:
        return None if self._frame is None else array_from_qimage(self._frame)

    @property
    def ms_per_frame(self) -> float | None:
        return self._ms

    # -- sampling ------------------------------------------------------------------------------
    def temperature_value_f(self) -> float:
        return self.temperature.value() / 100.0

    def _temperature_changed(self, value: int) -> None:
        self.temperature_value.setText(f"{value / 100:.2f}")
        if self._source == "sample":
            self.request_render()

    def random_sample(self, seed: int | None = None) -> None:
        """Show a latent drawn from the prior at the chosen temperature (the pad's cursor brings the blend back)."""
        self._sample_seed = int(seed) if seed is not None else int(np.random.default_rng().integers(1, 1_000_000))
        self._source = "sample"
        self.request_render()

    # -- strip ---------------------------------------------------------------------------------
    def make_strip(self, a: int | None = None, b: int | None = None, steps: int | None = None) -> None:
        if self._model is None or len(self._anchors) < 2:
            return
        a = self.strip_a.currentData() if a is None else a
        b = self.strip_b.currentData() if b is None else b
        if steps is not None:
            self.strip_steps.setValue(steps)
        directions, amounts = self._offset()
        ends = (self._anchors[a].name, self._anchors[b].name)
        job = jobs.make_strip(self._model, self._anchors[a].latent, self._anchors[b].latent, self.strip_steps.value(),
                              self.blend_mode(), directions, amounts, ends)
        self.strip_caption.setText("Decoding the strip…")
        self._strip_slot.start(job, "interpolation strip")
        self._update_state()

    def _strip_done(self, strip: jobs.Strip) -> None:
        self._strip = strip
        self._play_index = 0
        self.strip_view.set_images(strip.images)
        self.strip_player.set_image(strip.images[0])
        self.strip_caption.setText(f"{len(strip.images)} frames, {strip.endpoints[0]} → {strip.endpoints[1]} "
                                   f"({strip.mode})")
        self._update_state()
        self.strip_ready.emit(strip)

    @property
    def strip(self) -> jobs.Strip | None:
        return self._strip

    def set_playing(self, on: bool) -> None:
        on = on and self._strip is not None
        if self.play_button.isChecked() != on:
            self.play_button.setChecked(on)
        self.play_button.setText("Pause" if on else "Play")
        self.play_button.setIcon(resources.icon("pause" if on else "play"))
        if on:
            self._player.start()
        else:
            self._player.stop()

    @property
    def playing(self) -> bool:
        return self._player.isActive()

    def _next_frame(self) -> None:
        if self._strip is None:
            return
        n = len(self._strip.images)
        self._play_index = (self._play_index + 1) % n
        self.strip_player.set_image(self._strip.images[self._play_index])
        self.strip_view.set_current(self._play_index)

    def _ask_export(self) -> None:
        if self._strip is None:
            return
        filters = "PNG strip (*.png);;GIF loop (*.gif);;Folder of frames (*)"
        path = dialogs.save_file(self, "Export the strip", "interpolation.png", filters, self.ctx.settings,
                                 "latent_export")
        if path is not None:
            self.export_strip(path)

    def export_strip(self, path: str | Path) -> None:
        """``.png`` (or other image suffix): a horizontal strip; ``.gif``: a loop; no suffix: a folder of frames."""
        if self._strip is None:
            return
        self._export_slot.start(jobs.export_strip(self._strip.frames, Path(path), self._player.interval()),
                                f"exporting {Path(path).name}")

    def _export_done(self, path: Path) -> None:
        self.ctx.notify(f"Exported {path.name}", "success",
                        ("Show", lambda p=path: QDesktopServices.openUrl(QUrl.fromLocalFile(str(p if p.is_dir()
                                                                                                 else p.parent)))))
        self.exported.emit(str(path))

    # -- directions ----------------------------------------------------------------------------
    def _reset_pca_sliders(self) -> None:
        for s in self.pca_sliders:
            s.blockSignals(True)
            s.setValue(0)
            s.blockSignals(False)

    def reset_directions(self) -> None:
        self._reset_pca_sliders()
        self.attribute_strength.setValue(0)
        self.request_render()

    def _ask_pca_folder(self) -> None:
        folder = dialogs.open_folder(self, "Folder whose principal directions to explore", self.ctx.settings,
                                     "latent_pca")
        if folder is not None:
            self.directions_from_folder(folder)

    def directions_from_folder(self, folder: str | Path) -> None:
        if self._model is None:
            return
        self._pca_source = "folder"
        self.pca_hint.setText(f"Encoding {Path(folder).name}…")
        self._pca_slot.start(jobs.folder_pca(self._model, Path(folder), PCA_SLIDERS), "folder directions")

    def _pca_done(self, value: Any) -> None:
        if isinstance(value, dict):
            self._pca = (value["directions"], value["spread"])
            skipped = f", {len(value['failed'])} unreadable skipped" if value["failed"] else ""
            self.pca_hint.setText(f"Principal axes of {value['count']} images in {Path(value['folder']).name}"
                                  f"{skipped}.")
        else:
            self._pca = value
            self.pca_hint.setText(f"Principal axes of the {len(self._anchors)} anchors' latents.")
        self._reset_pca_sliders()
        self._update_state()
        self.directions_ready.emit()

    def _browse(self, field: FolderField) -> None:
        folder = dialogs.open_folder(self, field.title.text(), self.ctx.settings, "latent_attribute")
        if folder is not None:
            field.set_path(folder)

    def compute_attribute(self) -> None:
        if self._model is None:
            return
        a, b = Path(self.with_field.path), Path(self.without_field.path)
        if not (a.is_dir() and b.is_dir()):
            self._fail("Choose two folders", "The attribute direction needs a folder of images with the attribute "
                                             "and one without it.")
            return
        self._attribute_label = f"{a.name} − {b.name}"
        self.attribute_status.setText(f"Encoding {a.name} and {b.name}…")
        self._attribute_slot.start(jobs.attribute(self._model, a, b), "attribute direction")
        self._update_state()

    def _attribute_done(self, direction: torch.Tensor) -> None:
        self._attribute = direction
        self.attribute_status.setText(f"Direction {self._attribute_label} (length {float(direction.norm()):.2f}).")
        self.attribute_strength.setValue(int(100 / ATTRIBUTE_RANGE))  # strength 1: the full mean difference
        self._update_state()
        self.directions_ready.emit()

    def _attribute_changed(self, value: int) -> None:
        self.attribute_value.setText(f"{value / 100 * ATTRIBUTE_RANGE:+.2f}")
        self.request_render()

    def _ask_save_direction(self) -> None:
        if self._attribute is None:
            return
        suggested = (self._attribute_label or "direction").replace(" − ", "-minus-") + ".safetensors"
        path = dialogs.save_file(self, "Save the direction", suggested, "Latent direction (*.safetensors)",
                                 self.ctx.settings, "latent_direction")
        if path is not None:
            self.save_direction(path)

    def save_direction(self, path: str | Path) -> None:
        if self._attribute is None or self._model is None:
            return
        path = Path(path)
        if not path.suffix:
            path = path.with_suffix(".safetensors")
        self._direction_io_slot.start(jobs.save_direction(path, self._attribute, self._model,
                                                          name=self._attribute_label), f"saving {path.name}")

    def _ask_load_direction(self) -> None:
        path = dialogs.open_file(self, "Load a direction", "Latent direction (*.safetensors)", self.ctx.settings,
                                 "latent_direction")
        if path is not None:
            self.load_direction(path)

    def load_direction(self, path: str | Path) -> None:
        if self._model is not None:
            self._direction_io_slot.start(jobs.load_direction(Path(path), self._model), "loading a direction")

    def _direction_io_done(self, value: Any) -> None:
        if isinstance(value, Path):
            self.ctx.notify(f"Saved direction {value.name}", "success")
            return
        direction, meta = value
        self._attribute_label = str(meta.get("name") or "loaded direction")
        self._attribute_done(direction)

    # -- drag and drop -------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if any(is_image_file(p) for p in dropped_paths(event)):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        images = [p for p in dropped_paths(event) if p.is_file() and is_image_file(p)]
        if images and self.current_model_name() is not None:
            self.add_images(images)
        elif images:
            self.ctx.notify("Choose a VAE or flow model first (train one in Train).", "warning")
        event.acceptProposedAction()

    # -- errors and shutdown -------------------------------------------------------------------
    def _fail(self, title: str, message: str) -> None:
        self._encoding = []
        self.ctx.error(title, message)
        self.anchor_status.setText(f"{len(self._anchors)} anchors." if self._anchors else
                                   f"Add {MIN_ANCHORS}–{MAX_ANCHORS} of your images.")
        self._update_state()

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        self._player.stop()
        super().shutdown(timeout_ms)
        self._models.clear()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(1100, 720)


def _toggle(text: str) -> QToolButton:
    """A checkable text button (one of a segmented pair; the style marks the checked one)."""
    button = QToolButton()
    button.setText(text)
    button.setCheckable(True)
    button.setMinimumWidth(72)
    return button


class AnchorTile(QFrame):
    """An anchor under the result: its image over its reconstruction, with a remove button."""

    remove_requested = Signal(int)

    def __init__(self, index: int, anchor: jobs.Anchor, parent: QWidget | None = None):
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


def _pixmap(image: QImage, side: int):
    from PySide6.QtGui import QPixmap

    mode = (Qt.TransformationMode.FastTransformation if image.width() * 2 < side
            else Qt.TransformationMode.SmoothTransformation)
    return QPixmap.fromImage(image.scaled(side, side, Qt.AspectRatioMode.IgnoreAspectRatio, mode))


class StripView(QWidget):
    """The interpolation strip's frames side by side; the frame being played is outlined."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._images: list[QImage] = []
        self._current = -1
        self.setMinimumHeight(90)

    def set_images(self, images: list[QImage]) -> None:
        self._images = list(images)
        self._current = -1
        self.update()

    def set_current(self, index: int) -> None:
        self._current = index
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802
        from PySide6.QtCore import QRectF
        from PySide6.QtGui import QColor, QPainter, QPen

        painter = QPainter(self)
        paint_backdrop(painter, self, 8, None if self._images else "No strip yet")
        if not self._images:
            return
        c = resources.colors()
        n = len(self._images)
        gap = 4.0
        side = min(self.height() - 12.0, (self.width() - 12.0 - gap * (n - 1)) / n)
        x = (self.width() - (n * side + (n - 1) * gap)) / 2
        y = (self.height() - side) / 2
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, side < 2 * self._images[0].width())
        for i, image in enumerate(self._images):
            rect = QRectF(x + i * (side + gap), y, side, side)
            painter.drawImage(rect, image)
            if i == self._current:
                painter.setPen(QPen(QColor(c["accent"]), 3))
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRect(rect.adjusted(-1, -1, 1, 1))
                painter.setPen(Qt.PenStyle.NoPen)
