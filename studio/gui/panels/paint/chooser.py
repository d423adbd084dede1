"""The Paint panel's model box: which spade model paints, loaded into a painter in a worker.

Nothing is loaded until the panel asks (:meth:`PainterChooser.load`, when it is first shown); after
that a new choice loads at once, cancelling a load still under way.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGroupBox, QVBoxLayout, QWidget

from studio.core import device as devices
from studio.core.paint.painter import Painter
from studio.core.store import ModelInfo
from studio.gui import resources
from studio.gui.context import AppContext
from studio.gui.widgets.common import hint, model_combo
from studio.gui.worker import TaskSlot

from .work import PainterCache, load_painter

KIND = "spade"
SETTINGS_KEY = "paint/model"
NO_MODELS = "Train one in the Train panel: SPADE, photos only with automatic classes."


class PainterChooser(QGroupBox):
    """The store's spade models, kept up to date; the choice is remembered in the settings.

    ``chosen`` follows a change of model; ``loaded`` carries the :class:`Painter` of the chosen model
    once it is ready, ``failed`` the reason it could not be loaded. This box's one task is loading.
    """

    chosen = Signal()
    loaded = Signal(object)  # Painter
    failed = Signal(str)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__("Model", parent)
        self.ctx = ctx
        self.painter: Painter | None = None
        self.cache = PainterCache()
        self.slot = TaskSlot(self)
        self._shown: str | None = None
        layout = QVBoxLayout(self)
        self.combo = model_combo()
        self.hint = hint("")
        layout.addWidget(self.combo)
        layout.addWidget(self.hint)
        self.combo.currentIndexChanged.connect(self._changed)
        self.slot.result.connect(self._loaded)
        self.slot.failed.connect(self._failed)
        ctx.store.changed.connect(self.fill)
        self.fill()

    # -- the list ------------------------------------------------------------------------------
    def models(self) -> list[ModelInfo]:
        return self.ctx.store.models([KIND])

    def current_model(self) -> ModelInfo | None:
        name = self.combo.currentData()
        return self.ctx.store.find(name) if name else None

    def select_model(self, name: str) -> None:
        index = self.combo.findData(name)
        if index < 0:
            raise KeyError(f"no spade model named {name!r} in this panel")
        self.combo.setCurrentIndex(index)

    def fill(self) -> None:
        """List the store's spade models, keeping the choice (or the remembered one)."""
        models = self.models()
        current = self.combo.currentData() or self.ctx.settings.value(SETTINGS_KEY)
        self.combo.blockSignals(True)
        self.combo.clear()
        for info in models:
            label = info.name + ("  ·  built-in" if info.builtin else "")
            self.combo.addItem(resources.icon("paint"), label, info.name)
            classes = len(info.card.get("palette", []))
            self.combo.setItemData(self.combo.count() - 1, f"{classes} classes · {info.size_bytes / 1e6:.1f} MB",
                                   Qt.ItemDataRole.ToolTipRole)
        if not models:
            self.combo.addItem("No painter models yet", None)
        index = self.combo.findData(current) if current else -1
        self.combo.setCurrentIndex(max(0, index))
        self.combo.setEnabled(bool(models))
        self.combo.blockSignals(False)
        if self.combo.currentData() != self._shown:
            self._changed()
        elif not models:
            self.hint.setText(NO_MODELS)

    def _changed(self) -> None:
        info = self.current_model()
        self._shown = info.name if info else None
        self.slot.detach()  # a load of the previous choice is stale
        self.painter = None
        if info is None:
            self.hint.setText(NO_MODELS)
        else:
            self.ctx.settings.set_value(SETTINGS_KEY, info.name)
            self.hint.setText(self._describe(info))
        self.chosen.emit()

    # -- loading -------------------------------------------------------------------------------
    @property
    def loading(self) -> bool:
        return self.slot.busy

    def load(self) -> None:
        """Load the chosen model in a worker (``loaded`` follows); nothing to do without one."""
        info = self.current_model()
        if info is None:
            return
        self.hint.setText(f"Loading {info.name}…")
        self.slot.start(load_painter(self.cache, self.ctx.store.store, info, self.ctx.settings.engine_device()),
                        f"loading {info.name}")

    def _loaded(self, painter: Painter) -> None:
        self.painter = painter
        self.hint.setText(self._describe(painter.model.info, painter))
        self.loaded.emit(painter)

    def _failed(self, message: str) -> None:
        info = self.current_model()
        self.hint.setText(f"Cannot paint with {info.name if info else 'this model'}.")
        self.failed.emit(message)

    @staticmethod
    def _describe(info: ModelInfo, painter: Painter | None = None) -> str:
        classes = len(info.card.get("palette", []))
        size = info.card.get("image_size")
        source = "built-in" if info.builtin else info.card.get("provenance", {}).get("source", "your model")
        text = f"{classes} classes · trained at {size} px · {source}"
        if painter is not None:
            text += " · " + ("a seed varies its noise" if painter.varies else "one picture per map")
            text += f" · on {devices.describe(painter.device)}"
        return text
