"""The translation panels' model box: which model, which direction (a CycleGAN's two), Translate,
and Get models (the catalog of published models of these kinds; a finished install is chosen here)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QGroupBox, QHBoxLayout, QVBoxLayout, QWidget

from studio.core.report import KIND_LABELS, fast_copies, fast_copy_label
from studio.core.store import ModelInfo
from studio.gui import resources
from studio.gui.context import AppContext
from studio.gui.panels.models.get_models import GetModelsDialog, present
from studio.gui.panels.models.panel import IMPORT_COMMAND
from studio.gui.widgets.common import hint, model_combo, push_button, tool_button


class ModelChooser(QGroupBox):
    """The models of ``kinds`` from the store, kept up to date; the choice is remembered under
    ``key`` in the settings. The direction box shows when the chosen model has two directions.

    ``chosen`` is emitted when the model or the direction changes (a shown photo is translated
    again); ``refreshed`` when the store's list changed but the choice did not.
    """

    chosen = Signal()
    refreshed = Signal()

    def __init__(self, ctx: AppContext, kinds: tuple[str, ...], key: str, icon_name: str,
                 parent: QWidget | None = None):
        super().__init__("Model", parent)
        self.ctx, self.kinds, self.key, self.icon_name = ctx, kinds, key, icon_name
        self.kinds_label = " or ".join(KIND_LABELS[kind] for kind in kinds)
        self._shown_model: str | None = None
        self.get_models_dialog: GetModelsDialog | None = None  # made when first asked for, then kept
        layout = QVBoxLayout(self)
        self.model_combo = model_combo()
        # An icon beside the chooser: with its text the row would widen the fixed-width sidebar.
        self.get_models_button = tool_button("import", f"Get models… (Ctrl+Shift+G): download and install the "
                                             f"published {self.kinds_label} models, then choose one here")
        self.get_models_button.clicked.connect(self.open_get_models)
        model_row = QHBoxLayout()
        model_row.setSpacing(4)
        model_row.addWidget(self.model_combo, 1)
        model_row.addWidget(self.get_models_button)
        layout.addLayout(model_row)
        self.direction_combo = QComboBox()
        self.direction_combo.setVisible(False)  # shown for a model with two directions
        layout.addWidget(self.direction_combo)
        self.model_hint = hint("")
        layout.addWidget(self.model_hint)
        # A slow model's fast copy, offered; or the way to make one.
        self.fast_copy_button = push_button("", "train")
        self.fast_copy_button.setObjectName("Flat")
        self.fast_copy_button.clicked.connect(self._fast_copy_clicked)
        layout.addWidget(self.fast_copy_button)
        self.translate_button = push_button("Translate", "translate", primary=True)
        self.translate_button.setToolTip("Translate the photo (Ctrl+T)")
        layout.addWidget(self.translate_button)

        self.model_combo.currentIndexChanged.connect(self._model_changed)
        self.direction_combo.currentIndexChanged.connect(self._direction_changed)
        ctx.store.changed.connect(self.fill)
        self.fill()
        self._model_changed()

    def current_model(self) -> ModelInfo | None:
        name = self.model_combo.currentData()
        return self.ctx.store.find(name) if name else None

    def current_direction(self) -> str:
        """The chosen direction; always ``a2b`` for a one-way model (pix2pix, CUT)."""
        return self.direction_combo.currentData() or "a2b"

    def select_model(self, name: str, direction: str | None = None) -> None:
        index = self.model_combo.findData(name)
        if index < 0:
            raise KeyError(f"no {self.kinds_label} model named {name!r} in this panel")
        self.model_combo.setCurrentIndex(index)
        if direction is not None:
            self.direction_combo.setCurrentIndex(max(0, self.direction_combo.findData(direction)))

    def open_get_models(self) -> GetModelsDialog:
        """Show the Get models dialog for this kind (kept: installs carry on while it is closed)."""
        if self.get_models_dialog is None:
            dialog = GetModelsDialog(self.ctx, self.kinds[0], self)
            dialog.installed.connect(self._installed)
            dialog.import_requested.connect(lambda: self.ctx.navigate("models", IMPORT_COMMAND))
            self.get_models_dialog = dialog
        return present(self.get_models_dialog)

    def _installed(self, name: str) -> None:
        self.ctx.store.refresh()
        if self.model_combo.findData(name) >= 0:
            self.select_model(name)

    def fill(self) -> None:
        """List the store's models of this kind, keeping the choice (or the remembered one)."""
        models = self.ctx.store.models(list(self.kinds))
        current = self.model_combo.currentData() or self.ctx.settings.value(f"{self.key}/model")
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for info in models:
            label = info.name
            if len(self.kinds) > 1:
                label += f"  ·  {KIND_LABELS[info.kind]}"
            if info.builtin:
                label += "  ·  built-in"
            self.model_combo.addItem(resources.icon(self.icon_name), label, info.name)
            domains = info.domains
            self.model_combo.setItemData(self.model_combo.count() - 1,
                                         f"{domains.get('A', 'A')} → {domains.get('B', 'B')}, "
                                         f"{info.size_bytes / 1e6:.1f} MB", Qt.ItemDataRole.ToolTipRole)
        if not models:
            self.model_combo.addItem(f"No {self.kinds_label} models yet", None)
        index = self.model_combo.findData(current) if current else -1
        self.model_combo.setCurrentIndex(max(0, index))
        self.model_combo.setEnabled(bool(models))
        self.model_combo.blockSignals(False)
        changed = self.model_combo.currentData() != self._shown_model
        self._fill_directions()
        if changed:
            self._model_changed()
        else:
            self._update_fast_copy()  # a copy may have been made or deleted
            self.refreshed.emit()

    def _fill_directions(self) -> None:
        info = self.current_model()
        current = self.direction_combo.currentData() or "a2b"
        self.direction_combo.blockSignals(True)
        self.direction_combo.clear()
        if info is not None:
            a, b = info.domains.get("A", "A"), info.domains.get("B", "B")
            names = {"a2b": f"{a} → {b}", "b2a": f"{b} → {a}"}
            for direction in info.directions():
                self.direction_combo.addItem(names.get(direction, direction), direction)
        self.direction_combo.setCurrentIndex(max(0, self.direction_combo.findData(current)))
        self.direction_combo.setVisible(self.direction_combo.count() > 1)
        self.direction_combo.blockSignals(False)

    def _model_changed(self) -> None:
        info = self.current_model()
        self._shown_model = info.name if info else None
        self._fill_directions()
        if info is None:
            self.model_hint.setText(f"Train a {self.kinds_label} model in Train, or import one in Models.")
        else:
            self.ctx.settings.set_value(f"{self.key}/model", info.name)
            source = "built-in" if info.builtin else info.card.get("provenance", {}).get("source", "your model")
            size = info.card.get("image_size")
            arrow = "↔" if len(info.directions()) > 1 else "→"
            text = f"{info.domains.get('A', 'A')} {arrow} {info.domains.get('B', 'B')} · trained at {size} px · {source}"
            if info.copy_of() is not None:
                text = f"{fast_copy_label(info)} of “{info.copy_of()[0]}”"
            self.model_hint.setText(text)
        self._update_fast_copy()
        self.chosen.emit()

    def _direction_changed(self) -> None:
        self._update_fast_copy()
        self.chosen.emit()

    def fast_copy(self) -> ModelInfo | None:
        """The chosen model's best fast copy for the chosen direction, if the store has one."""
        info = self.current_model()
        if info is None:
            return None
        copies = fast_copies(self.ctx.store.models(list(self.kinds)), info.name, self.current_direction())
        return copies[0] if copies else None

    def _update_fast_copy(self) -> None:
        info, copy = self.current_model(), self.fast_copy()
        if copy is not None:
            self.fast_copy_button.setText(f"Use its {fast_copy_label(copy)}")
            self.fast_copy_button.setToolTip(f"Switch to “{copy.name}”, a light copy of this model trained to "
                                             "reproduce it: it translates much faster")
        else:
            self.fast_copy_button.setText("Make a fast copy…")
            self.fast_copy_button.setToolTip("Train a light copy of this model on your photos, in Train: it "
                                             "translates many times faster, on any laptop")
        self.fast_copy_button.setVisible(info is not None and (copy is not None or info.copy_of() is None))

    def _fast_copy_clicked(self) -> None:
        info, copy = self.current_model(), self.fast_copy()
        if copy is not None:
            self.select_model(copy.name, self.current_direction())
        elif info is not None:
            self.ctx.navigate("train", {"kind": "distill", "teacher": info.name,
                                        "direction": self.current_direction()})
