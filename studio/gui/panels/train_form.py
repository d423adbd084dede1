"""The training form: kind, data folders (scanned in workers before anything starts), preset,
base model and advanced options: the choices that ``train.presets.run_config`` turns into a run.

It is over 450 lines since fast copies added their model-to-copy rows and SPADE its label-map
choice: the form is one set of choices whose rows show, hide and check one another. The data group (folder fields, their scans and
the pairing line, about a quarter of it) is the part to move into a widget of its own next."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.core.jobs import Control, returning
from studio.core.store import DIRECTION_NETWORK, validate_name
from studio.core.train.augment import FULL_POLICY, SMALL_FOLDER
from studio.core.train.folders import FolderScan, match_by_name, scan_folder, skipped_lines
from studio.core.train.kinds import TRAINERS
from studio.gui import dialogs
from studio.gui.context import AppContext
from studio.gui.widgets.common import FolderField, hint, model_combo
from studio.gui.worker import TaskSlot

PRESET_HINTS = {
    "reference": "The reference implementation's models and settings: the best quality, best on a GPU.",
    "fast": "A light model with a quarter of the channels at 128 px: trains on a laptop CPU "
            "(on a GPU it is no faster than the reference).",
}
# The fast preset of the kinds whose fast preset is not the light translator at 128 px.
FAST_HINTS = {
    "distill": "The light generator (about a twelfth of a ResNet-9's time) on 256-px crops: what a fast copy is for.",
    "vae": "Half the channels: trains on a laptop CPU at the chosen size.",
    "ae": "Half the channels: trains on a laptop CPU at the chosen size.",
    "flow": "Half the depth and width: trains on a laptop CPU at the chosen size.",
    "dcgan": "Half the width, batches of 32, resize-convolutions: trains on a laptop CPU.",
    "pixelcnn": "A third of the width, five gated layers: trains on a laptop CPU at 32 px.",
    "spade": "An eighth of the width, one shared hidden layer per scale, 128 px: trains on a laptop CPU "
             "and paints live.",
}
MAX_LISTED_SKIPS = 15


def _spin(maximum: int, special: str, step: int = 1, minimum: int = 0) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(minimum, maximum)
    spin.setSingleStep(step)
    spin.setSpecialValueText(special)
    spin.setAccelerated(True)
    return spin


class TrainForm(QWidget):
    """Everything needed to start a run. ``problems()`` says what is missing, in words."""

    changed = Signal()
    scanned = Signal(str)  # role ("A", "B" or "pairs") whose scan finished

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self._scans: dict[str, FolderScan | str] = {}  # role -> scan, or the reason it failed
        self._scan_slots = {role: TaskSlot(self) for role in ("A", "B")}
        for role, slot in self._scan_slots.items():
            slot.result.connect(lambda scan, r=role: self._scanned(r, scan))
            slot.failed.connect(lambda message, r=role: self._scan_failed(r, message))
        self._pairing: str = ""
        self._build()

    # -- layout --------------------------------------------------------------------------------
    def _build(self) -> None:
        what = QGroupBox("What to train")
        what_form = QFormLayout(what)
        self.kind = QComboBox()
        self.kind.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.kind.setMinimumContentsLength(16)
        for kind, trainer in TRAINERS.items():
            self.kind.addItem(trainer.title or kind, kind)
        self.name = QLineEdit()
        self.name.setPlaceholderText("e.g. horse2zebra")
        self.name.setToolTip("The name of the run, and of the model it publishes to the store")
        # A kind's variants (CUT: CUT or FastCUT), shown for kinds that have them.
        self.variant = QComboBox()
        self.variant.setToolTip("The kind's variant: its own set of loss weights and options")
        # A fast copy's teacher: the translator to copy, and which of its directions.
        self.teacher = model_combo()
        self.teacher.setToolTip("The translator to copy: a light model learns to reproduce it on your photos, "
                                "then translates many times faster")
        self.direction = QComboBox()
        self.direction.setToolTip("The direction of the model to copy")
        what_form.addRow("Kind", self.kind)
        what_form.addRow("Variant", self.variant)
        what_form.addRow("Model to copy", self.teacher)
        what_form.addRow("Direction", self.direction)
        what_form.addRow("Name", self.name)
        self.what_form = what_form

        data = QGroupBox("Data")
        data_layout = QVBoxLayout(data)
        self.pair_mode = QComboBox()
        self.pair_mode.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.pair_mode.setMinimumContentsLength(16)
        self.pair_mode.addItem("Two folders, matched by file name", "folders")
        self.pair_mode.addItem("One folder of side-by-side A|B images", "pairs")
        data_layout.addWidget(self.pair_mode)
        # Kinds that can make their own label maps (SPADE): photos alone, segmented into N classes, or given maps.
        self.labels_row = QWidget()
        labels_layout = QHBoxLayout(self.labels_row)
        labels_layout.setContentsMargins(0, 0, 0, 0)
        self.labels_mode = QComboBox()
        self.labels_mode.addItem("Photos only: automatic label maps", "auto")
        self.labels_mode.addItem("Label maps and photos, matched by name", "given")
        self.labels_mode.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.labels_mode.setMinimumContentsLength(12)
        self.classes = QSpinBox()
        self.classes.setRange(2, 32)
        self.classes.setValue(8)
        self.classes.setSuffix(" classes")
        self.classes.setToolTip("The photos are segmented into this many colour and texture classes, the same in "
                                "every photo: the palette you will paint with")
        labels_layout.addWidget(self.labels_mode, 1)
        labels_layout.addWidget(self.classes)
        data_layout.addWidget(self.labels_row)
        self.folder_a = FolderField("Domain A images")
        self.folder_b = FolderField("Domain B images")
        for role, field in (("A", self.folder_a), ("B", self.folder_b)):
            field.path_changed.connect(lambda path, r=role: self._scan(r, path))
            field.browse_requested.connect(lambda r=role: self._browse(r))
            data_layout.addWidget(field)
        self.pairing = hint("")
        self.pairing.setTextFormat(Qt.TextFormat.RichText)
        self.pairing.hide()
        data_layout.addWidget(self.pairing)
        data_layout.addWidget(hint("Folders are searched recursively; unreadable files are skipped and listed."))

        recipe = QGroupBox("Recipe")
        recipe_form = QFormLayout(recipe)
        self.preset = QComboBox()
        self.preset.addItem("Reference", "reference")
        self.preset.addItem("Fast (CPU-friendly)", "fast")
        self.preset_hint = hint("")
        self.base_model_combo = QComboBox()
        self.base_model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.base_model_combo.setMinimumContentsLength(14)
        self.base_hint = hint("Fine-tuning starts from the model's generators, at a quarter of the learning rate.")
        recipe_form.addRow("Preset", self.preset)
        recipe_form.addRow("", self.preset_hint)
        recipe_form.addRow("Start from", self.base_model_combo)
        recipe_form.addRow("", self.base_hint)

        self.advanced_toggle = QToolButton(text="Advanced options", checkable=True)
        self.advanced_toggle.setObjectName("Flat")
        self.advanced_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced = QWidget()
        adv = QFormLayout(self.advanced)
        adv.setContentsMargins(0, 0, 0, 0)
        self.size = _spin(1024, "preset", step=4)
        self.size.setToolTip("Training crop size in pixels (a multiple of 4; pix2pix: of 32)")
        self.steps = _spin(10_000_000, "full schedule", step=100)
        self.steps.setToolTip("Stop after this many steps; the learning-rate schedule is fitted to them")
        self.epochs = _spin(10_000, "preset")
        self.epochs.setToolTip("Total epochs: half at the initial rate, half decaying")
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(6)
        self.lr.setRange(0.0, 1.0)
        self.lr.setSingleStep(1e-5)
        self.lr.setSpecialValueText("preset")
        self.batch = _spin(256, "preset")
        self.checkpoint_every = _spin(1_000_000, "preset (500)", step=50)
        self.checkpoint_every.setToolTip("Write a checkpoint every N steps (also every 10 minutes, on pause and on stop)")
        self.preview_every = _spin(1_000_000, "preset", step=10)
        self.augment = QComboBox()
        # None: the engine decides (on for a small folder); "": none; else a DiffAugment policy.
        self.augment.addItem("Automatic", None)
        self.augment.addItem("None", "")
        self.augment.addItem("Colour + translation + cutout", FULL_POLICY)
        self.augment.setToolTip("DiffAugment: the discriminators see real and generated images alike recoloured, "
                                f"shifted and cut out, so a small folder (under {SMALL_FOLDER} images) "
                                "does not overfit them. Automatic: on for small folders.")
        self.device = QComboBox()
        self.device.addItem("As in Settings", "")
        for value, label in (("auto", "Automatic"), ("cpu", "CPU"), ("cuda", "CUDA GPU"), ("mps", "Apple MPS")):
            self.device.addItem(label, value)
        for label, widget in (("Image size", self.size), ("Steps", self.steps), ("Epochs", self.epochs),
                              ("Learning rate", self.lr), ("Batch size", self.batch),
                              ("Checkpoint every", self.checkpoint_every), ("Preview every", self.preview_every),
                              ("Augmentation", self.augment), ("Device", self.device)):
            adv.addRow(label, widget)
        self.advanced.hide()
        recipe_form.addRow(self.advanced_toggle)
        recipe_form.addRow(self.advanced)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(10)
        for box in (what, data, recipe):
            layout.addWidget(box)

        self.kind.currentIndexChanged.connect(self._kind_changed)
        self.variant.currentIndexChanged.connect(lambda _i: self.changed.emit())
        self.teacher.currentIndexChanged.connect(self._teacher_changed)
        self.direction.currentIndexChanged.connect(lambda _i: self.changed.emit())
        self.pair_mode.currentIndexChanged.connect(self._kind_changed)
        self.labels_mode.currentIndexChanged.connect(self._kind_changed)
        self.preset.currentIndexChanged.connect(self._preset_changed)
        self._preset_chosen = False  # the person picked a preset: the device no longer picks it
        self.preset.activated.connect(lambda _i: setattr(self, "_preset_chosen", True))
        self.ctx.device_changed.connect(self._preset_for_device)  # a bound method: disconnected with the form
        self.advanced_toggle.toggled.connect(self._toggle_advanced)
        self.name.textChanged.connect(lambda _t: self.changed.emit())
        self.ctx.store.changed.connect(self._fill_base_models)
        self.ctx.store.changed.connect(self._fill_teachers)
        self._fill_teachers()
        self._kind_changed()
        self._preset_for_device()
        self._preset_changed()

    def _toggle_advanced(self, shown: bool) -> None:
        self.advanced.setVisible(shown)
        self.advanced_toggle.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)

    def _kind_changed(self) -> None:
        kind = self.current_kind()
        trainer = TRAINERS[kind]
        paired = trainer.paired
        self.variant.blockSignals(True)
        self.variant.clear()
        for variant in trainer.variants:
            self.variant.addItem(trainer.variant_titles.get(variant, variant), variant)
        self.variant.blockSignals(False)
        self.what_form.setRowVisible(self.variant, bool(trainer.variants))
        for row in (self.teacher, self.direction):
            self.what_form.setRowVisible(row, trainer.copies_a_model)
        if trainer.copies_a_model:
            self.preset.setCurrentIndex(self.preset.findData("fast"))  # what a fast copy is for
        self.pair_mode.setVisible(paired and not trainer.automatic_labels)
        self.labels_row.setVisible(trainer.automatic_labels)
        self.classes.setVisible(self.automatic_labels())
        self.folder_a.setVisible(not self.automatic_labels())
        one_folder = self.one_folder()
        title_a, title_b = trainer.folder_titles
        if paired and one_folder:
            title_a = "Folder of side-by-side A|B images"
        self.folder_a.title.setText(title_a)
        self.folder_b.title.setText(title_b)
        self.folder_b.setVisible(not one_folder)
        self.augment.setEnabled(bool(trainer.discriminator_roles))  # only a GAN has discriminators to augment for
        self._fill_base_models()
        self._update_pairing()
        self._preset_changed()

    def _fill_teachers(self) -> None:
        current = self.teacher.currentData()
        self.teacher.blockSignals(True)
        self.teacher.clear()
        for info in self.ctx.store.models(list(DIRECTION_NETWORK)):
            self.teacher.addItem(info.name, info.name)
        self.teacher.setCurrentIndex(max(0, self.teacher.findData(current)))
        self.teacher.blockSignals(False)
        self._teacher_changed()

    def _teacher_changed(self) -> None:
        info = self.ctx.store.find(self.teacher.currentData() or "")
        current = self.direction.currentData()
        self.direction.blockSignals(True)
        self.direction.clear()
        for direction in info.directions() if info is not None else []:
            a, b = info.domains.get("A", "A"), info.domains.get("B", "B")
            self.direction.addItem(f"{a} → {b}" if direction == "a2b" else f"{b} → {a}", direction)
        self.direction.setCurrentIndex(max(0, self.direction.findData(current)))
        self.direction.blockSignals(False)
        self._suggest_name()
        self.changed.emit()

    def set_teacher(self, name: str, direction: str | None = None) -> None:
        """Choose the model to copy (and its direction), as "Make a fast copy…" does."""
        self.teacher.setCurrentIndex(max(0, self.teacher.findData(name)))
        if direction is not None:
            self.direction.setCurrentIndex(max(0, self.direction.findData(direction)))

    def _preset_for_device(self, _label: str = "") -> None:
        """The preset that suits the device training will run on, until the person picks one: fast on a
        CPU (the reference's steps cost ten times as much there), the reference on a GPU (where the
        light layers save nothing: README "Training speed")."""
        if self._preset_chosen or not self.ctx.device_type or TRAINERS[self.current_kind()].copies_a_model:
            return
        wanted = "fast" if self.ctx.device_type == "cpu" else "reference"
        self.preset.setCurrentIndex(self.preset.findData(wanted))

    def _preset_changed(self) -> None:
        preset = self.preset.currentData()
        fast_hint = FAST_HINTS.get(self.current_kind()) if preset == "fast" else None
        self.preset_hint.setText(fast_hint or PRESET_HINTS[preset])
        self.changed.emit()

    def _fill_base_models(self) -> None:
        current = self.base_model_combo.currentData()
        self.base_model_combo.blockSignals(True)
        self.base_model_combo.clear()
        self.base_model_combo.addItem("Nothing (train from scratch)", None)
        if TRAINERS[self.current_kind()].copies_a_model:  # an earlier fast copy goes on training
            bases = [i for i in self.ctx.store.models(list(DIRECTION_NETWORK))
                     if i.card.get("provenance", {}).get("source") == "distillation"]
        else:
            bases = self.ctx.store.models([self.current_kind()])
        for info in bases:
            self.base_model_combo.addItem(info.name, info.name)
        self.base_model_combo.setCurrentIndex(max(0, self.base_model_combo.findData(current)))
        self.base_model_combo.blockSignals(False)
        self.base_hint.setVisible(self.base_model_combo.count() > 1)

    # -- values --------------------------------------------------------------------------------
    def current_kind(self) -> str:
        return self.kind.currentData()

    def set_kind(self, kind: str, variant: str | None = None) -> None:
        self.kind.setCurrentIndex(self.kind.findData(kind))
        if variant is not None:
            self.variant.setCurrentIndex(self.variant.findData(variant))

    def one_folder(self) -> bool:
        kind = self.current_kind()
        trainer = TRAINERS[kind]
        return trainer.one_domain or (trainer.paired and not trainer.automatic_labels
                                      and self.pair_mode.currentData() == "pairs")

    def automatic_labels(self) -> bool:
        """A kind that makes its own label maps, asked to: only the photos (folder B) are chosen."""
        return TRAINERS[self.current_kind()].automatic_labels and self.labels_mode.currentData() == "auto"

    def run_name(self) -> str:
        return self.name.text().strip() or self.suggested_name()

    def _suggest_name(self) -> None:
        if not self.name.text().strip():
            self.name.setPlaceholderText(self.suggested_name() or "e.g. horse2zebra")

    def suggested_name(self) -> str:
        if TRAINERS[self.current_kind()].copies_a_model:
            teacher = self.teacher.currentData()
            return re.sub(r"[^A-Za-z0-9 ._+-]", "_", f"{teacher} fast").strip("._ ")[:64] if teacher else ""
        a, b = Path(self.folder_a.path).name, Path(self.folder_b.path).name
        if self.automatic_labels():
            return re.sub(r"[^A-Za-z0-9 ._+-]", "_", f"{b} painter").strip("._ ")[:64] if b else ""
        if not a:
            return ""
        if self.one_folder():
            stem = f"{a}-{self.current_kind()}"
        else:
            if not b:
                return ""
            stem = f"{a}2{b}"
        return re.sub(r"[^A-Za-z0-9 ._+-]", "_", stem).strip("._ ")[:64]

    def options(self) -> dict[str, Any]:
        """The run's options as chosen here (only those set); the rules that turn them into a config
        (fine-tuning's architecture and learning rate, the epoch split) are ``presets.run_config``'s."""
        options: dict[str, Any] = {}
        a = str(Path(self.folder_a.path).expanduser().resolve()) if self.folder_a.path else None
        b = str(Path(self.folder_b.path).expanduser().resolve()) if self.folder_b.path else None
        if self.automatic_labels():
            options["dir_b"], options["classes"] = b, self.classes.value()
        elif TRAINERS[self.current_kind()].paired and self.one_folder():
            options["pairs"] = a
        else:
            options["dir_a"] = a
            if not self.one_folder():
                options["dir_b"] = b
        for key, spin in (("crop_size", self.size), ("max_steps", self.steps), ("batch_size", self.batch),
                          ("checkpoint_every", self.checkpoint_every), ("preview_every", self.preview_every),
                          ("epochs", self.epochs)):
            if spin.value():
                options[key] = spin.value()
        if self.lr.value():
            options["lr"] = self.lr.value()
        if self.variant.currentData():
            options["variant"] = self.variant.currentData()
        if TRAINERS[self.current_kind()].copies_a_model:
            options["teacher"] = self.teacher.currentData()
            options["direction"] = self.direction.currentData()
        if TRAINERS[self.current_kind()].discriminator_roles and self.augment.currentData() is not None:
            options["augment"] = self.augment.currentData()
        device = self.device.currentData() or self.ctx.settings.engine_device()
        if device and device != "auto":
            options["device"] = device
        return options

    def base_model(self) -> str | None:
        """The store model to fine-tune, or None to train from scratch."""
        return self.base_model_combo.currentData() or None

    def problems(self) -> list[str]:
        """What stops a run from starting, in words; empty when it can start."""
        found = []
        name = self.run_name()
        if not name:
            found.append("Give the run a name.")
        else:
            try:
                validate_name(name)
            except Exception as exc:  # StoreError: its message says what a valid name is
                found.append(str(exc))
        if TRAINERS[self.current_kind()].copies_a_model and not self.teacher.currentData():
            found.append("Choose the model to copy (install or train a translator first).")
        roles = ["B"] if self.automatic_labels() else ["A"] if self.one_folder() else ["A", "B"]
        for role in roles:
            field = self.folder_a if role == "A" else self.folder_b
            scan = self._scans.get(role)
            if not field.path:
                found.append(f"Choose the folder: {field.title.text()}.")
            elif isinstance(scan, str):
                found.append(scan)
        if (TRAINERS[self.current_kind()].paired and not self.one_folder() and not self.automatic_labels()
                and self._pairing.startswith("error:")):
            found.append(self._pairing[len("error:"):])
        return found

    def scanning(self) -> bool:
        return any(slot.busy for slot in self._scan_slots.values())

    def scan(self, role: str) -> FolderScan | str | None:
        return self._scans.get(role)

    # -- folders -------------------------------------------------------------------------------
    def _browse(self, role: str) -> None:
        field = self.folder_a if role == "A" else self.folder_b
        chosen = dialogs.open_folder(self, field.title.text(), self.ctx.settings, "train_data")
        if chosen is not None:
            field.set_path(chosen)

    def set_folders(self, a: str | Path, b: str | Path | None = None) -> None:
        self.folder_a.set_path(a)
        if b is not None:
            self.folder_b.set_path(b)

    def _scan(self, role: str, path: str) -> None:
        field = self.folder_a if role == "A" else self.folder_b
        self._scans.pop(role, None)
        if not path:
            self._scan_slots[role].detach()
            field.set_status("")
            self._update_pairing()
            return
        field.set_status("Checking the images…", "busy")

        def scan(control: Control) -> FolderScan:
            return scan_folder(Path(path).expanduser())

        self._scan_slots[role].start(returning(scan), f"checking {Path(path).name}")

    def _scanned(self, role: str, scan: FolderScan) -> None:
        field = self.folder_a if role == "A" else self.folder_b
        self._scans[role] = scan
        usable, skipped = len(scan.usable), len(scan.skipped)
        text = f"{usable} image{'s' if usable != 1 else ''}"
        if skipped:
            listed = skipped_lines(scan.skipped, scan.folder, MAX_LISTED_SKIPS)
            field.set_status(f"{text} · {skipped} unreadable, will be skipped", "warning",
                             "Skipped files:\n" + "\n".join(listed))
        else:
            field.set_status(text, "ok")
        self._suggest_name()
        self._update_pairing()
        self.scanned.emit(role)
        self.changed.emit()

    def _scan_failed(self, role: str, message: str) -> None:
        field = self.folder_a if role == "A" else self.folder_b
        self._scans[role] = message
        field.set_status(message, "error")
        self._update_pairing()
        self.scanned.emit(role)
        self.changed.emit()

    def _update_pairing(self) -> None:
        """Paired kinds with two folders: how many files pair up by name (cheap: names only)."""
        self._pairing = ""
        a, b = self._scans.get("A"), self._scans.get("B")
        show = TRAINERS[self.current_kind()].paired and not self.one_folder() and not self.automatic_labels()
        if show and isinstance(a, FolderScan) and isinstance(b, FolderScan):
            try:
                pairs, unmatched = match_by_name(a, b)
            except Exception as exc:  # DataError: no pairs at all
                self._pairing = f"error:{exc}"
                self.pairing.setText(f"✕ {exc}")
                self.pairing.setObjectName("Error")
            else:
                extra = f" · {len(unmatched)} without a partner, skipped" if unmatched else ""
                self._pairing = f"{len(pairs)} pairs"
                self.pairing.setText(f"{len(pairs)} pairs matched by name{extra}")
                self.pairing.setObjectName("Warn" if unmatched else "Ok")
            self.pairing.style().unpolish(self.pairing)
            self.pairing.style().polish(self.pairing)
            self.pairing.show()
        else:
            self.pairing.hide()

    def set_enabled_for_run(self, enabled: bool) -> None:
        for widget in self.findChildren(QGroupBox):
            widget.setEnabled(enabled)

