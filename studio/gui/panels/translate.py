"""The translation panels: open or drop a photo, pick a model (and direction), compare, save.

Decoding the photo, loading the model and translating all run in workers; a new request cancels
the stale one, so the result shown always belongs to the latest choice. Large photos are
translated at their native size, in tiles when they do not fit in memory (the engine decides, or
the tile-size setting does). Whole folders go through the engine's ``translate_job``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PySide6.QtCore import QSize, Qt, QUrl, Signal
from PySide6.QtGui import (
    QDesktopServices,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QKeySequence,
    QShortcut,
)
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from studio.core.images import is_image_file
from studio.core.store import ModelInfo
from studio.gui import dialogs, resources
from studio.gui.context import KIND_LABELS
from studio.gui.qimages import blend
from studio.gui.settings import TILE_CHOICES, engine_tile, tile_label
from studio.gui.widgets.common import (
    dropped_paths,
    hint,
    lay_out_panel,
    model_combo,
    push_button,
    side_column,
    slider_row,
    tool_button,
)
from studio.gui.widgets.compare import CompareView
from studio.gui.worker import TaskSlot

from . import translate_jobs as jobs
from .base import Panel

log = logging.getLogger(__name__)


class TranslatePanel(Panel):
    """Shared by the paired (pix2pix) and unpaired (CycleGAN) panels."""

    kind: ClassVar[str] = ""

    image_opened = Signal(str)
    result_shown = Signal(object)  # jobs.Translation
    saved = Signal(str)
    copied = Signal()
    folder_done = Signal(object)  # the summary of translate_job

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self.setAcceptDrops(True)
        self._opened: jobs.OpenedImage | None = None
        self._result: jobs.Translation | None = None
        self._translators = jobs.TranslatorCache()
        self._folder_translators = jobs.TranslatorCache(size=1)  # a folder run must not hold up the photo's translator
        self._load_slot = TaskSlot(self)
        self._run_slot = TaskSlot(self)
        self._folder_slot = TaskSlot(self)
        self._save_slot = TaskSlot(self)
        self._copy_slot = TaskSlot(self)  # apart from saving: a copy must not cancel a save
        self._last_output_folder: Path | None = None
        self._skipped: list[tuple[str, str]] = []
        self._folder_summary: dict | None = None
        self._offered_sample = False
        self._build()
        self._connect()
        self._fill_models()
        self._model_changed()

    # -- layout --------------------------------------------------------------------------------
    def _build(self) -> None:
        self.view = CompareView()
        frame = QFrame(objectName="ImageFrame")
        frame_layout = QVBoxLayout(frame)
        frame_layout.setContentsMargins(0, 0, 0, 0)
        frame_layout.addWidget(self.view)

        self.info = QLabel(objectName="Muted")
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.zoom_label = QLabel("", objectName="Muted")
        self.mode_group = QButtonGroup(self)
        mode_row = QHBoxLayout()
        mode_row.setSpacing(2)
        for mode, icon_name, tip in (("wipe", "wipe", "Before/after wipe: drag the line"),
                                     ("side", "side-by-side", "Side by side, zoom and pan together"),
                                     ("result", "result", "Result only"),
                                     ("original", "original", "Original only")):
            button = tool_button(icon_name, tip)
            button.setCheckable(True)
            button.setProperty("mode", mode)
            self.mode_group.addButton(button)
            mode_row.addWidget(button)
            if mode == "wipe":
                button.setChecked(True)
        zoom_out = tool_button("zoom-out", "Zoom out (−)")
        zoom_in = tool_button("zoom-in", "Zoom in (+)")
        fit = tool_button("fit", "Fit to window (0, or double-click)")
        actual = tool_button("actual-size", "Actual pixels, 100% (1)")
        zoom_out.clicked.connect(lambda: self.view.zoom_by(0.8))
        zoom_in.clicked.connect(lambda: self.view.zoom_by(1.25))
        fit.clicked.connect(self.view.fit)
        actual.clicked.connect(self.view.actual_size)
        bar = QHBoxLayout()
        bar.addWidget(self.info, 1)
        bar.addLayout(mode_row)
        bar.addSpacing(12)
        for b in (zoom_out, zoom_in, fit, actual):
            bar.addWidget(b)
        bar.addWidget(self.zoom_label)

        left = QVBoxLayout()
        left.setSpacing(8)
        left.addWidget(frame, 1)
        left.addLayout(bar)

        photo = QGroupBox("Photo")
        photo_layout = QVBoxLayout(photo)
        self.open_button = push_button("Open photo…", "open")
        self.sample_button = push_button("Samples", "photos")
        samples = QMenu(self.sample_button)
        for path in resources.sample_photos():
            samples.addAction(path.stem.capitalize(), lambda p=path: self.open_image(p))
        self.sample_button.setMenu(samples)
        self.sample_button.setEnabled(bool(samples.actions()))
        row = QHBoxLayout()
        row.addWidget(self.open_button, 1)
        row.addWidget(self.sample_button)
        photo_layout.addLayout(row)
        self.photo_label = hint("No photo yet. Open one, drop it on the view, or try a sample.")
        photo_layout.addWidget(self.photo_label)

        model_box = QGroupBox("Model")
        model_layout = QVBoxLayout(model_box)
        self.model_combo = model_combo()
        model_layout.addWidget(self.model_combo)
        self.direction_combo = QComboBox()
        self.direction_combo.setVisible(self.kind == "cyclegan")
        model_layout.addWidget(self.direction_combo)
        self.model_hint = hint("")
        model_layout.addWidget(self.model_hint)
        self.translate_button = push_button("Translate", "translate", primary=True)
        self.translate_button.setToolTip("Translate the photo (Ctrl+T)")
        model_layout.addWidget(self.translate_button)

        result_box = QGroupBox("Result")
        result_layout = QVBoxLayout(result_box)
        blend_row, self.blend_slider, _, self.blend_value = slider_row(
            "Strength", 0, 100, 100, "Mix of the original (0%) and the translation (100%); saved and copied as shown",
            shown="100%")
        result_layout.addLayout(blend_row)
        tile_row = QHBoxLayout()
        tile_row.addWidget(QLabel("Tiles"))
        self.tile_combo = QComboBox()
        for value in TILE_CHOICES:
            self.tile_combo.addItem(tile_label(value), value)
        default = self.ctx.settings.tile
        if self.tile_combo.findData(default) < 0:
            self.tile_combo.addItem(tile_label(default), default)
        self.tile_combo.setCurrentIndex(self.tile_combo.findData(default))
        self.tile_combo.setToolTip("Large photos are translated in tiles that fit in memory, with seamless blending")
        tile_row.addWidget(self.tile_combo, 1)
        result_layout.addLayout(tile_row)
        out_row = QHBoxLayout()
        self.save_button = push_button("Save…", "save")
        self.save_button.setToolTip("Save the result (Ctrl+S); the format follows the file extension")
        self.copy_button = push_button("Copy", "copy")
        self.copy_button.setToolTip("Copy the result to the clipboard (Ctrl+C)")
        out_row.addWidget(self.save_button, 1)
        out_row.addWidget(self.copy_button, 1)
        result_layout.addLayout(out_row)

        folder_box = QGroupBox("Folder")
        folder_layout = QVBoxLayout(folder_box)
        self.folder_button = push_button("Translate a folder…", "folder")
        self.folder_button.setToolTip("Translate every image of a folder with this model (Ctrl+Shift+O)")
        folder_layout.addWidget(self.folder_button)
        self.folder_progress = QProgressBar()
        self.folder_progress.setTextVisible(False)
        self.folder_progress.hide()
        folder_layout.addWidget(self.folder_progress)
        self.folder_status = hint("Results are written at full strength, with the folder structure kept.")
        folder_layout.addWidget(self.folder_status)
        folder_buttons = QHBoxLayout()
        self.folder_cancel = push_button("Cancel", "cancel")
        self.folder_cancel.hide()
        self.folder_details = push_button("Skipped files…")
        self.folder_details.hide()
        self.folder_reveal = push_button("Show folder", "reveal")
        self.folder_reveal.hide()
        folder_buttons.addWidget(self.folder_cancel)
        folder_buttons.addWidget(self.folder_details)
        folder_buttons.addWidget(self.folder_reveal)
        folder_layout.addLayout(folder_buttons)

        lay_out_panel(self, (left, 1), (side_column([photo, model_box, result_box, folder_box], 300), 0))
        self._update_state()

    def _connect(self) -> None:
        self.open_button.clicked.connect(self._ask_open)
        self.translate_button.clicked.connect(self.translate)
        self.save_button.clicked.connect(self._ask_save)
        self.copy_button.clicked.connect(self.copy_result)
        self.folder_button.clicked.connect(self._ask_folder)
        self.folder_cancel.clicked.connect(self.cancel_folder)
        stop = QShortcut(QKeySequence(Qt.Key.Key_Escape), self, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        stop.activated.connect(self.cancel_translation)
        self.folder_details.clicked.connect(self._show_skipped)
        self.folder_reveal.clicked.connect(self._reveal_output)
        self.blend_slider.valueChanged.connect(self._blend_changed)
        self.model_combo.currentIndexChanged.connect(self._model_changed)
        self.direction_combo.currentIndexChanged.connect(lambda _i: self._auto_translate())
        self.tile_combo.currentIndexChanged.connect(lambda _i: self._auto_translate())
        self.mode_group.buttonClicked.connect(lambda b: self.view.set_mode(b.property("mode")))
        self.view.mode_changed.connect(self._show_mode)
        self.view.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f}%"))
        self.ctx.store.changed.connect(self._fill_models)

        self._load_slot.result.connect(self._image_ready)
        self._load_slot.failed.connect(lambda msg: self._fail("Cannot open the photo", msg))
        self._load_slot.idle.connect(self._update_state)
        self._run_slot.started.connect(lambda _n: self.view.set_busy("Translating…"))
        self._run_slot.progress.connect(self._translation_progress)
        self._run_slot.result.connect(lambda data: self._translation_ready(data["translation"]))
        self._run_slot.failed.connect(lambda msg: self._fail("Translation failed", msg))
        self._run_slot.idle.connect(self._translation_idle)
        self._folder_slot.progress.connect(self._folder_progress)
        self._folder_slot.item.connect(self._folder_item)
        self._folder_slot.result.connect(self._folder_finished)
        self._folder_slot.failed.connect(lambda msg: self._fail("Folder translation failed", msg))
        self._folder_slot.idle.connect(self._folder_idle)
        for slot, what in ((self._save_slot, "save"), (self._copy_slot, "copy")):
            slot.result.connect(self._output_ready)
            slot.failed.connect(lambda msg, w=what: self._fail(f"Cannot {w} the result", msg))

    # -- commands ------------------------------------------------------------------------------
    def commands(self) -> dict[str, Any]:
        return {"open": self._ask_open, "save": self._ask_save, "copy": self.copy_result,
                "translate": self.translate, "translate_folder": self._ask_folder}

    def command_enabled(self, name: str) -> bool:
        if name in ("save", "copy"):
            return self._result is not None
        if name == "translate":
            return self._opened is not None and self.current_model() is not None
        if name == "translate_folder":
            return self.current_model() is not None
        return name in self.commands()

    def _update_state(self) -> None:
        has_model = self.current_model() is not None
        self.translate_button.setEnabled(self._opened is not None and has_model)
        self.save_button.setEnabled(self.command_enabled("save"))
        self.copy_button.setEnabled(self.command_enabled("copy"))
        self.folder_button.setEnabled(has_model and not self._folder_slot.busy)
        self.state_changed.emit()

    # -- models --------------------------------------------------------------------------------
    def current_model(self) -> ModelInfo | None:
        name = self.model_combo.currentData()
        return self.ctx.store.find(name) if name else None

    def current_direction(self) -> str:
        return self.direction_combo.currentData() or "a2b"

    def select_model(self, name: str, direction: str | None = None) -> None:
        index = self.model_combo.findData(name)
        if index < 0:
            raise KeyError(f"no {self.kind} model named {name!r} in this panel")
        self.model_combo.setCurrentIndex(index)
        if direction is not None:
            self.direction_combo.setCurrentIndex(max(0, self.direction_combo.findData(direction)))

    def _fill_models(self) -> None:
        models = self.ctx.store.models([self.kind])
        current = self.model_combo.currentData() or self.ctx.settings.value(f"{self.key}/model")
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for info in models:
            label = f"{info.name}  ·  built-in" if info.builtin else info.name
            self.model_combo.addItem(resources.icon(self.icon_name), label, info.name)
            domains = info.domains
            self.model_combo.setItemData(self.model_combo.count() - 1,
                                         f"{domains.get('A', 'A')} → {domains.get('B', 'B')}, "
                                         f"{info.size_bytes / 1e6:.1f} MB", Qt.ItemDataRole.ToolTipRole)
        if not models:
            self.model_combo.addItem(f"No {KIND_LABELS[self.kind]} models yet", None)
        index = self.model_combo.findData(current) if current else -1
        self.model_combo.setCurrentIndex(max(0, index))
        self.model_combo.setEnabled(bool(models))
        self.model_combo.blockSignals(False)
        changed = self.model_combo.currentData() != getattr(self, "_shown_model", None)
        self._fill_directions()
        if changed:
            self._model_changed()
        else:
            self._update_state()

    def _fill_directions(self) -> None:
        info = self.current_model()
        current = self.current_direction()
        self.direction_combo.blockSignals(True)
        self.direction_combo.clear()
        if info is not None:
            a, b = info.domains.get("A", "A"), info.domains.get("B", "B")
            names = {"a2b": f"{a} → {b}", "b2a": f"{b} → {a}"}
            for direction in info.directions():
                self.direction_combo.addItem(names.get(direction, direction), direction)
        self.direction_combo.setCurrentIndex(max(0, self.direction_combo.findData(current)))
        self.direction_combo.blockSignals(False)

    def _model_changed(self) -> None:
        info = self.current_model()
        self._shown_model = info.name if info else None
        self._fill_directions()
        if info is None:
            self.model_hint.setText(f"Train a {KIND_LABELS[self.kind]} model in Train, or import one in Models.")
        else:
            self.ctx.settings.set_value(f"{self.key}/model", info.name)
            source = "built-in" if info.builtin else info.card.get("provenance", {}).get("source", "your model")
            size = info.card.get("image_size")
            self.model_hint.setText(f"{info.domains.get('A', 'A')} ↔ {info.domains.get('B', 'B')} · "
                                    f"trained at {size} px · {source}")
        self._update_state()
        self._auto_translate()

    def activate(self, argument: object = None) -> None:
        """The first time the panel is shown with a built-in model chosen and no photo open, open a
        sample photo: someone who has just installed Studio sees a translation at once."""
        if self._offered_sample:
            return
        self._offered_sample = True
        info, photos = self.current_model(), resources.sample_photos()
        if self._opened is None and info is not None and info.builtin and photos:
            self.open_image(photos[0])

    # -- opening -------------------------------------------------------------------------------
    def _ask_open(self) -> None:
        path = dialogs.open_file(self, "Open a photo", dialogs.IMAGE_FILTER, self.ctx.settings, "photos")
        if path is not None:
            self.open_image(path)

    def open_image(self, path: str | Path) -> None:
        """Decode a photo in a worker; the view shows it when it is ready."""
        path = Path(path)
        self.photo_label.setText(f"Opening {path.name}…")

        self._run_slot.detach()  # a translation of the previous photo is stale now
        self._load_slot.start(jobs.open_photo(path), f"opening {path.name}")

    def _image_ready(self, opened: jobs.OpenedImage) -> None:
        self._opened = opened
        self._result = None
        self.view.set_after(None)
        self.view.set_before(opened.picture)
        width, height = opened.image.size
        alpha = " · with transparency" if opened.image.alpha is not None else ""
        self.photo_label.setText(f"{opened.image.path.name} · {width}×{height}{alpha}")
        self.info.setText(f"{opened.image.path.name} — {width}×{height}")
        self.image_opened.emit(str(opened.image.path))
        self._update_state()
        self._auto_translate()

    # -- translating ---------------------------------------------------------------------------
    def _auto_translate(self) -> None:
        if self._opened is not None and self.current_model() is not None:
            self.translate()

    def translate(self) -> None:
        """Translate the open photo with the chosen model; a running translation is cancelled."""
        info, opened = self.current_model(), self._opened
        if info is None or opened is None:
            return
        direction = self.current_direction() if self.kind == "cyclegan" else "a2b"
        tile = engine_tile(self.tile_combo.currentData())
        device = self.ctx.settings.engine_device()
        job = jobs.translate_photo(self._translators, self.ctx.store.store, info, direction, device,
                                   opened.image.rgb, tile)
        self._run_slot.start(job, f"translating with {info.name}")

    def _translation_ready(self, result: jobs.Translation) -> None:
        self._result = result
        self.view.set_after(result.picture)
        tiles = "whole image" if not result.tile else f"{result.tile}-px tiles"
        name = self._opened.image.path.name if self._opened else ""
        width, height = result.picture.width, result.picture.height
        self.info.setText(f"{name} — {width}×{height} · {result.model} ({result.direction}) · "
                          f"{result.seconds:.2f} s on {result.device}, {tiles}")
        self.result_shown.emit(result)
        self._update_state()

    def cancel_translation(self) -> None:
        """Esc: stop the photo's translation (a tiled one stops after its current tile)."""
        if self._run_slot.busy:
            self._run_slot.cancel()
            self.view.set_busy("Stopping…")

    def _translation_progress(self, data: dict) -> None:
        """A tiled translation of a large photo takes a while: say how far it is."""
        total = int(data.get("total", 0))
        if total:
            self.view.set_busy(f"Translating… {int(data.get('done', 0)) * 100 // total}% · Esc to stop")

    def _translation_idle(self) -> None:
        self.view.set_busy("")
        self._update_state()

    @property
    def result(self) -> jobs.Translation | None:
        return self._result

    @property
    def opened(self) -> jobs.OpenedImage | None:
        return self._opened

    def set_tile(self, value: int) -> None:
        """Use ``value`` (a tile setting, see :mod:`studio.gui.settings`) from the next translation."""
        if self.tile_combo.findData(value) < 0:
            self.tile_combo.addItem(tile_label(value), value)
        self.tile_combo.setCurrentIndex(self.tile_combo.findData(value))

    def _show_mode(self, mode: str) -> None:
        for button in self.mode_group.buttons():
            button.setChecked(button.property("mode") == mode)

    def _blend_changed(self, value: int) -> None:
        self.blend_value.setText(f"{value}%")
        self.view.set_blend(value / 100.0)

    def blended(self) -> np.ndarray:
        """The result as shown (mixed with the original by the strength), float32 in [0, 1]."""
        if self._result is None or self._opened is None:
            raise RuntimeError("no result to blend")
        return blend(self._opened.pixels, self._result.pixels, self.blend_slider.value() / 100.0)

    # -- saving and copying --------------------------------------------------------------------
    def _ask_save(self) -> None:
        if self._result is None or self._opened is None:
            return
        suggested = f"{self._opened.image.path.stem}_{self._result.model}.png"
        path = dialogs.save_file(self, "Save the result", suggested,
                                 "PNG (*.png);;JPEG (*.jpg *.jpeg);;WebP (*.webp);;TIFF (*.tif *.tiff);;BMP (*.bmp)",
                                 self.ctx.settings, "results")
        if path is not None:
            self.save_result(path)

    def save_result(self, path: str | Path) -> None:
        """Write the result as shown; the format follows the extension (engine's write_image)."""
        path = Path(path)
        if not path.suffix:
            path = path.with_suffix(".png")
        original, result = self._opened, self._result
        strength = self.blend_slider.value() / 100.0
        if original is None or result is None:
            return

        self._save_slot.start(jobs.save_blended(path, original, result, strength), f"saving {path.name}")

    def copy_result(self) -> None:
        original, result = self._opened, self._result
        if original is None or result is None:
            return
        strength = self.blend_slider.value() / 100.0

        self._copy_slot.start(jobs.copy_blended(original, result, strength), "copying the result")

    def _output_ready(self, value: tuple[str, Any]) -> None:
        what, payload = value
        if what == "saved":
            self.ctx.notify(f"Saved {payload.name}", "success", ("Show", lambda p=payload: _reveal(p.parent)))
            self.saved.emit(str(payload))
        else:
            QGuiApplication.clipboard().setImage(payload)
            self.ctx.notify("Result copied to the clipboard", "success")
            self.copied.emit()

    # -- folders -------------------------------------------------------------------------------
    def _ask_folder(self, source: Path | None = None) -> None:
        if self.current_model() is None:
            return
        source = source or dialogs.open_folder(self, "Folder of images to translate", self.ctx.settings, "batch_in")
        if source is None:
            return
        out = dialogs.open_folder(self, f"Where to write the translations of {source.name}", self.ctx.settings,
                                  "batch_out")
        if out is not None:
            self.translate_folder(source, out)

    def translate_folder(self, source: str | Path, out: str | Path) -> None:
        """Translate every image under ``source`` into ``out`` (structure kept); unreadable files are skipped."""
        info = self.current_model()
        if info is None:
            return
        source, out = Path(source), Path(out)
        if out.resolve() == source.resolve():
            self._fail("Choose another output folder", "The translations would overwrite the originals.")
            return
        direction = self.current_direction() if self.kind == "cyclegan" else "a2b"
        tile = engine_tile(self.tile_combo.currentData())
        device = self.ctx.settings.engine_device()
        job = jobs.translate_folder(self._folder_translators, self.ctx.store.store, info, direction, device,
                                    source, out, tile)

        self._skipped = []
        self._last_output_folder = out
        self.folder_progress.setRange(0, 0)
        self.folder_progress.show()
        self.folder_cancel.show()
        self.folder_details.hide()
        self.folder_reveal.hide()
        self.folder_status.setText(f"Translating {source.name} with {info.name}…")
        self._folder_slot.start(job, f"translating folder {source.name}")
        self._update_state()

    def cancel_folder(self) -> None:
        self._folder_slot.cancel()
        self.folder_status.setText("Cancelling…")

    def _folder_progress(self, data: dict) -> None:
        total, done = int(data.get("total", 0)), int(data.get("done", 0))
        self.folder_progress.setRange(0, max(1, total))
        self.folder_progress.setValue(done)
        if total:
            self.folder_status.setText(f"{done} of {total} · {data.get('message', '')}")

    def _folder_item(self, data: dict) -> None:
        if "error" in data:
            self._skipped.append((data["path"], data["error"]))

    def _folder_finished(self, summary: dict) -> None:
        written, failed = summary.get("written", []), summary.get("failed", [])
        self._skipped = [tuple(f) for f in failed]
        verb = "Cancelled after" if summary.get("cancelled") else "Translated"
        text = f"{verb} {len(written)} image{'s' if len(written) != 1 else ''}"
        if failed:
            text += f"; {len(failed)} skipped (unreadable)"
        self.folder_status.setText(text + ".")
        self.folder_details.setVisible(bool(failed))
        self.folder_reveal.setVisible(bool(written))
        level = "warning" if failed or summary.get("cancelled") else "success"
        self.ctx.notify(text + ".", level)
        self._folder_summary = summary

    def _folder_idle(self) -> None:
        self.folder_progress.hide()
        self.folder_cancel.hide()
        self._update_state()
        summary, self._folder_summary = self._folder_summary, None
        if summary is not None:  # announced once the panel is ready for the next folder
            self.folder_done.emit(summary)

    def _show_skipped(self) -> None:
        dialogs.show_list(self, "Skipped files", f"{len(self._skipped)} files could not be read and were skipped:",
                          [f"{path}: {reason}" for path, reason in self._skipped])

    def _reveal_output(self) -> None:
        if self._last_output_folder is not None:
            _reveal(self._last_output_folder)

    # -- drag and drop -------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        paths = dropped_paths(event)
        if any(p.is_dir() or is_image_file(p) for p in paths):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        paths = dropped_paths(event)
        images = [p for p in paths if p.is_file() and is_image_file(p)]
        folders = [p for p in paths if p.is_dir()]
        if images:
            self.open_image(images[0])
        elif folders:
            self._ask_folder(folders[0])
        event.acceptProposedAction()

    # -- errors and shutdown -------------------------------------------------------------------
    def _fail(self, title: str, message: str) -> None:
        self.view.set_busy("")
        if self._opened is None:
            self.photo_label.setText("No photo yet. Open one, drop it on the view, or try a sample.")
        self.ctx.error(title, message)
        self._update_state()

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        super().shutdown(timeout_ms)
        self._translators.clear()
        self._folder_translators.clear()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(1100, 720)


def _reveal(folder: Path) -> None:
    QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))


class PairedTranslatePanel(TranslatePanel):
    key = "translate_paired"
    kind = "pix2pix"
    title = "Translate · paired"
    subtitle = "pix2pix models turn one kind of image into another, learned from matched pairs."
    icon_name = "translate-paired"


class UnpairedTranslatePanel(TranslatePanel):
    key = "translate_unpaired"
    kind = "cyclegan"
    title = "Translate · unpaired"
    subtitle = "CycleGAN models translate between two collections of images, in both directions."
    icon_name = "translate-unpaired"
