"""The translation panels: open or drop a photo, pick a model (and direction), compare, save.

A panel composes its parts, each running at most one kind of work in its own worker:
:class:`PhotoSource` decodes the photo, :class:`LiveTranslation` translates it and shows the
comparison, :class:`ResultBox` saves and copies the result as shown, :class:`FolderBox` translates
whole folders through the engine's ``translate_job``; :class:`ModelChooser` says with what. A new
request cancels the stale one, so the result shown always belongs to the latest choice. Large
photos are translated at their native size, in tiles when they do not fit in memory (the engine
decides, or the tile-size setting does).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import QWidget

from studio.core.images import is_image_file
from studio.core.store import UNPAIRED_KINDS, ModelInfo
from studio.gui import resources
from studio.gui.context import AppContext
from studio.gui.panels.base import Panel
from studio.gui.panels.models.get_models import GetModelsDialog
from studio.gui.widgets.common import dropped_paths, lay_out_panel, side_column

from .chooser import ModelChooser
from .folder import FolderBox
from .live import LiveTranslation
from .photo import PhotoSource
from .result import ResultBox
from .work import Choice, OpenedImage, Translation


class TranslatePanel(Panel):
    """Shared by the paired (pix2pix) and unpaired (CycleGAN, CUT) panels."""

    kinds: ClassVar[tuple[str, ...]] = ()  # the model kinds this panel lists

    image_opened = Signal(str)
    result_shown = Signal(object)  # Translation
    saved = Signal(str)
    copied = Signal()
    folder_done = Signal(object)  # the summary of translate_job

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self.setAcceptDrops(True)
        self._offered_sample = False
        self.live = LiveTranslation(self)
        self.source = PhotoSource(ctx, self)
        self.chooser = ModelChooser(ctx, self.kinds, self.key, self.icon_name, self)
        self.output = ResultBox(ctx, self)
        self.folder = FolderBox(ctx, self.choice, self)
        # the controls the window's tests and the self-test drive by hand
        self.view, self.blend_slider, self.tile_combo = self.live.view, self.output.blend_slider, self.output.tile_combo
        self.model_combo, self.direction_combo = self.chooser.model_combo, self.chooser.direction_combo
        lay_out_panel(self, (self.live, 1),
                      (side_column([self.source, self.chooser, self.output, self.folder], 300), 0))
        self._connect()
        self._update_state()

    def _connect(self) -> None:
        stop = QShortcut(QKeySequence(Qt.Key.Key_Escape), self, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        stop.activated.connect(self.cancel_translation)
        self.source.opening.connect(lambda _path: self.live.drop())  # a translation of the previous photo is stale
        self.source.opened.connect(self._image_ready)
        self.source.failed.connect(lambda msg: self._fail("Cannot open the photo", msg))
        self.source.slot.idle.connect(self._update_state)
        self.chooser.translate_button.clicked.connect(self.translate)
        self.chooser.chosen.connect(self._choice_changed)
        self.chooser.refreshed.connect(self._update_state)
        self.live.shown.connect(self._translation_ready)
        self.live.failed.connect(lambda msg: self._fail("Translation failed", msg))
        self.live.idle.connect(self._update_state)
        self.output.blend_slider.valueChanged.connect(lambda value: self.view.set_blend(value / 100.0))
        self.output.settings_changed.connect(self._auto_translate)
        self.output.saved.connect(self.saved)
        self.output.copied.connect(self.copied)
        self.output.failed.connect(self._fail)
        self.folder.failed.connect(self._fail)
        self.folder.busy_changed.connect(self._update_state)
        self.folder.done.connect(self.folder_done)

    # -- commands ------------------------------------------------------------------------------
    def commands(self) -> dict[str, Any]:
        return {"open": self.source.ask_open, "save": self.output.ask_save, "copy": self.copy_result,
                "translate": self.translate, "translate_folder": self.folder.ask,
                "get_models": self.open_get_models}

    def command_enabled(self, name: str) -> bool:
        if name in ("save", "copy"):
            return self.result is not None
        if name == "translate":
            return self.opened is not None and self.current_model() is not None
        if name == "translate_folder":
            return self.current_model() is not None
        return name in self.commands()

    def _update_state(self) -> None:
        info = self.current_model()
        has_model = info is not None
        self.output.show_model_scale(info.card.get("working_scale") if info is not None else None)
        self.chooser.translate_button.setEnabled(self.opened is not None and has_model)
        self.output.set_result(self.opened, self.result)
        self.folder.set_ready(has_model)
        self.state_changed.emit()

    # -- what is chosen ------------------------------------------------------------------------
    def current_model(self) -> ModelInfo | None:
        return self.chooser.current_model()

    def current_direction(self) -> str:
        return self.chooser.current_direction()

    def select_model(self, name: str, direction: str | None = None) -> None:
        self.chooser.select_model(name, direction)

    def open_get_models(self) -> GetModelsDialog:
        """The Get models dialog for this panel's kind; a finished install becomes the chosen model."""
        return self.chooser.open_get_models()

    def set_tile(self, value: int) -> None:
        """Use ``value`` (a tile setting, see :mod:`studio.gui.settings`) from the next translation."""
        self.output.set_tile(value)

    def choice(self) -> Choice | None:
        """What a translation started now runs with; None without a model."""
        info = self.current_model()
        if info is None:
            return None
        return Choice(info, self.current_direction(), self.ctx.settings.engine_device(), self.output.engine_tile(),
                      self.output.working_size())

    def _choice_changed(self) -> None:
        self._update_state()
        self._auto_translate()

    def activate(self, argument: object = None) -> None:
        """The first time the panel is shown with a built-in model chosen and no photo open, open a
        sample photo: someone who has just installed Studio sees a translation at once."""
        if self._offered_sample:
            return
        self._offered_sample = True
        info, photos = self.current_model(), resources.sample_photos()
        if self.opened is None and info is not None and info.builtin and photos:
            self.open_image(photos[0])

    # -- the photo -----------------------------------------------------------------------------
    @property
    def opened(self) -> OpenedImage | None:
        return self.source.photo

    @property
    def result(self) -> Translation | None:
        return self.live.result

    def open_image(self, path: str | Path) -> None:
        """Decode a photo in a worker; the view shows it when it is ready."""
        self.source.open_image(path)

    def _image_ready(self, opened: OpenedImage) -> None:
        self.live.show_photo(opened)
        self.image_opened.emit(str(opened.image.path))
        self._update_state()
        self._auto_translate()

    def _auto_translate(self) -> None:
        if self.opened is not None and self.current_model() is not None:
            self.translate()

    def translate(self) -> None:
        """Translate the open photo with the chosen model; a running translation is cancelled."""
        choice, opened = self.choice(), self.opened
        if choice is not None and opened is not None:
            self.live.translate(self.ctx.store.store, choice, opened)

    def cancel_translation(self) -> None:
        """Esc: stop the photo's translation (a tiled one stops after its current tile)."""
        self.live.cancel()

    def _translation_ready(self, result: Translation) -> None:
        self.result_shown.emit(result)
        self._update_state()

    def blended(self) -> np.ndarray:
        """The result as shown (mixed with the original by the strength), float32 in [0, 1]."""
        return self.output.blended()

    def save_result(self, path: str | Path) -> None:
        """Write the result as shown; the format follows the extension (engine's write_image)."""
        self.output.save_result(path)

    def copy_result(self) -> None:
        self.output.copy_result()

    # -- folders -------------------------------------------------------------------------------
    def translate_folder(self, source: str | Path, out: str | Path) -> None:
        """Translate every image under ``source`` into ``out`` (structure kept); unreadable files are skipped."""
        self.folder.translate_folder(source, out)

    def cancel_folder(self) -> None:
        self.folder.cancel()

    # -- drag and drop -------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        paths = dropped_paths(event)
        if any(p.is_dir() or is_image_file(p) for p in paths):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = dropped_paths(event)
        images = [p for p in paths if p.is_file() and is_image_file(p)]
        folders = [p for p in paths if p.is_dir()]
        if images:
            self.open_image(images[0])
        elif folders:
            self.folder.ask(folders[0])
        event.acceptProposedAction()

    # -- errors and shutdown -------------------------------------------------------------------
    def _fail(self, title: str, message: str) -> None:
        self.view.set_busy("")
        self.source.reset_label()
        self.ctx.error(title, message)
        self._update_state()

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        super().shutdown(timeout_ms)
        self.live.translators.clear()
        self.folder.translators.clear()

    def sizeHint(self) -> QSize:
        return QSize(1100, 720)


class PairedTranslatePanel(TranslatePanel):
    key = "translate_paired"
    kinds = ("pix2pix",)
    title = "Translate · paired"
    subtitle = "pix2pix models turn one kind of image into another, learned from matched pairs."
    icon_name = "translate-paired"


class UnpairedTranslatePanel(TranslatePanel):
    key = "translate_unpaired"
    kinds = UNPAIRED_KINDS
    title = "Translate · unpaired"
    subtitle = ("CycleGAN and CUT models translate between two collections of images: CycleGAN both ways, "
                "CUT one way.")
    icon_name = "translate-unpaired"
