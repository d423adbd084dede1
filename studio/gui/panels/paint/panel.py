"""The Paint panel: paint a label map with a spade model's classes, see the picture it paints, live.

The panel composes its parts, each owning at most one task: :class:`~.chooser.PainterChooser` (the
model, loaded in a worker when the panel is first shown), :class:`~.painting.Painting` (the label
canvas, its tools and undo history: no task, strokes are numpy), :class:`~.live.LiveResult` (the
render worker fed through a one-place mailbox, and the compare view), :class:`~.start.StartBox`
(blank, a label map file, a photo's classes: reading and segmenting in a worker),
:class:`~.classes.ClassList` (the palette) and :class:`~.output.PictureBox` (the seed, saving).
The panel wires them together, owns the keyboard and keeps the API the tests and the self-test drive.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QWidget

from studio.core.images import is_image_file
from studio.core.paint.painter import Painter
from studio.core.store import ModelInfo
from studio.gui.context import AppContext
from studio.gui.panels.base import Panel
from studio.gui.widgets.common import dropped_paths, lay_out_panel, side_column

from .chooser import NO_MODELS, PainterChooser
from .classes import ClassList
from .live import LiveResult
from .output import PictureBox
from .painting import Painting
from .start import DEFAULT_SIZE, StartBox
from .work import OpenedMap, is_indexed_png

log = logging.getLogger(__name__)

TOOL_KEYS = {"B": "brush", "G": "fill", "E": "eraser", "I": "eyedropper"}


class PaintPanel(Panel):
    key = "paint"
    title = "Paint"
    subtitle = "Paint a label map, get a picture: a SPADE model paints what your classes say, live as you draw."
    icon_name = "paint"

    painter_ready = Signal()  # the chosen model is loaded and its classes shown
    map_opened = Signal(str)  # a painting was started from this file
    result_shown = Signal(int)  # the serial of the request whose picture is now shown
    saved = Signal(str)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self.setAcceptDrops(True)
        self._active = False
        self._name = "painting"  # the suggested name of saved files
        self.chooser = PainterChooser(ctx, self)
        self.painting = Painting(self)
        self.canvas = self.painting.canvas
        self.live = LiveResult(self)
        self.start = StartBox(ctx, lambda: self.painter, self)
        self.classes = ClassList(self)
        self.picture = PictureBox(ctx, self)
        # the changes of one turn of the event loop (a burst of mouse moves) make one request
        self._refresh = QTimer(self, singleShot=True, interval=0)
        columns = QHBoxLayout()
        columns.setSpacing(12)
        columns.addWidget(self.painting, 1)
        columns.addWidget(self.live, 1)
        self.side = side_column([self.chooser, self.start, self.classes, self.picture], 300)
        lay_out_panel(self, (columns, 1), (self.side, 0))
        self._connect()
        self._shortcuts()
        self._show_empty()
        self._update_state()

    def _connect(self) -> None:
        self.chooser.chosen.connect(self._model_chosen)
        self.chooser.loaded.connect(self._painter_loaded)
        self.chooser.failed.connect(lambda message: self._fail("Cannot load the model", message))
        self.painting.changed.connect(self._refresh.start)
        self.painting.history_changed.connect(self.state_changed)
        self._refresh.timeout.connect(self._painting_changed)
        self.canvas.class_picked.connect(self.classes.set_current)
        self.classes.class_chosen.connect(self._class_chosen)
        self.start.new_requested.connect(self.new_map)
        self.start.opened.connect(self._opened)
        self.start.failed.connect(self._fail)
        self.start.slot.idle.connect(self._update_state)
        self.live.shown.connect(self._shown)
        self.live.failed.connect(lambda message: self._fail("Painting failed", message))
        self.picture.seed_changed.connect(lambda _seed: self.request_render())
        self.picture.saved.connect(self.saved)
        self.picture.failed.connect(self._fail)

    def _shortcuts(self) -> None:
        """Keys for the whole panel (a focused spin box keeps its digits)."""
        keys: list[tuple[Any, Any]] = [(key, lambda t=tool: self.canvas.set_tool(t)) for key, tool in TOOL_KEYS.items()]
        keys += [("[", lambda: self.canvas.step_brush(-1)), ("]", lambda: self.canvas.step_brush(1)),
                 (QKeySequence.StandardKey.Undo, self.undo), ("Ctrl+Shift+Z", self.redo), ("Ctrl+Y", self.redo),
                 ("Ctrl+R", self._new_seed_key), ("Ctrl+N", lambda: self.start.ask_new()),
                 ("Ctrl+Shift+S", self.ask_save_painting)]
        keys += [(str(n), lambda i=n - 1: self.classes.choose(i)) for n in range(1, 10)]
        self.shortcuts: list[QShortcut] = []
        for key, action in keys:
            shortcut = QShortcut(QKeySequence(key), self, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(action)
            self.shortcuts.append(shortcut)

    # -- commands ------------------------------------------------------------------------------
    def commands(self) -> dict[str, Any]:
        return {"open": self.start.ask_open, "save": self.ask_save_result, "copy": self.copy_result}

    def command_enabled(self, name: str) -> bool:
        if name == "open":
            return self.painter is not None and not self.start.busy
        if name in ("save", "copy"):
            return self.live.rgb is not None
        return name in self.commands()

    def is_idle(self) -> bool:
        """The render worker idles between pictures; it is busy only with a map to paint."""
        others = [slot for slot in self.task_slots() if slot is not self.live.slot]
        return not any(slot.busy for slot in others) and not self.live.busy and not self._refresh.isActive()

    def activate(self, argument: object = None) -> None:
        """Shown: load the chosen model the first time (``argument``: a model to choose first)."""
        if isinstance(argument, str) and self.chooser.combo.findData(argument) >= 0:
            self.chooser.select_model(argument)
        self._active = True
        if self.painter is None and not self.chooser.loading:
            self.chooser.load()
        self.canvas.setFocus()

    def _update_state(self) -> None:
        painter, painting = self.painter, self.canvas.labels is not None and self.canvas.palette is not None
        self.picture.set_state(painting, self.live.rgb is not None, painter is not None and painter.varies)
        self.start.update_state()
        self.state_changed.emit()

    # -- the model -----------------------------------------------------------------------------
    @property
    def painter(self) -> Painter | None:
        return self.chooser.painter

    def current_model(self) -> ModelInfo | None:
        return self.chooser.current_model()

    def model_names(self) -> list[str]:
        return [info.name for info in self.chooser.models()]

    def select_model(self, name: str) -> None:
        """Choose ``name``; it is loaded at once if the panel has been shown."""
        self.chooser.select_model(name)

    def _model_chosen(self) -> None:
        if self.current_model() is None:
            self._show_empty()
        elif self._active:
            self.chooser.load()
        self._update_state()

    def _show_empty(self) -> None:
        """No spade model in the store: say how to get one."""
        if self.current_model() is None:
            self.canvas.placeholder = f"No painter model yet.\n{NO_MODELS}"
            self.classes.set_palette(None)
            self.live.stop()
            self.canvas.update()
        else:
            self.canvas.placeholder = "Loading the model…"

    def _painter_loaded(self, painter: Painter) -> None:
        palette, labels = painter.palette, self.canvas.labels
        log.info("painting with %s: %d classes, %s", painter.name, len(palette),
                 "a picture per seed" if painter.varies else "one picture per map")
        self.classes.set_palette(palette)
        self.canvas.set_class(0)
        if labels is None:
            self.new_map(*DEFAULT_SIZE, fill=0, undoable=False)
        elif int(labels.max(initial=0)) >= len(palette):
            self.ctx.notify(f"The painting uses classes {painter.name} does not have: a blank one is started", "warning")
            self.new_map(labels.shape[1], labels.shape[0], fill=0, undoable=False)
        else:
            self.canvas.set_palette(palette)  # the same painting in this model's colours
        self.canvas.placeholder = ""
        self._update_state()
        self.painter_ready.emit()
        self._painting_changed()

    # -- the painting --------------------------------------------------------------------------
    def new_map(self, width: int, height: int, fill: int = 0, undoable: bool = True) -> None:
        """A blank painting of ``width`` × ``height`` filled with class ``fill`` (Undo brings the old one back)."""
        painter = self.painter
        if painter is None:
            return
        fill = max(0, min(int(fill), len(painter.palette) - 1))
        self.painting.set_map(np.full((int(height), int(width)), fill, np.uint8), painter.palette, undoable=undoable)
        self._name = "painting"
        self.start.say(f"A blank {width}×{height} painting of {painter.palette.classes[fill].name}.")
        self._update_state()

    def open_label_map(self, path: str | Path) -> None:
        """Read a label map (indexed PNG, or colour-coded in the model's palette) in a worker."""
        self.start.open_map(path)

    def from_photo(self, path: str | Path) -> None:
        """Start from a photo's classes, found by the model's segmenter in a worker."""
        self.start.from_photo(path)

    def _opened(self, opened: OpenedMap) -> None:
        painter = self.painter
        if painter is None:
            return
        self.painting.set_map(opened.labels, painter.palette, opened.underlay)
        self._name = opened.source.stem
        log.info("painting from %s (%d×%d)", opened.source, opened.labels.shape[1], opened.labels.shape[0])
        self.map_opened.emit(str(opened.source))
        self._update_state()

    def _class_chosen(self, index: int) -> None:
        self.canvas.set_class(index)
        if self.canvas.tool in ("eraser", "eyedropper"):
            self.canvas.set_tool("brush")  # choosing a class means painting with it

    def undo(self) -> bool:
        return self.painting.undo()

    def redo(self) -> bool:
        return self.painting.redo()

    # -- the picture ---------------------------------------------------------------------------
    def _painting_changed(self) -> None:
        self._refresh.stop()
        self.live.show_painting(self.canvas.colour_image())
        self.request_render()
        self._update_state()

    def request_render(self) -> int | None:
        """Paint the map as it is now (in the render worker); returns the request's serial."""
        painter, labels = self.painter, self.canvas.labels
        if painter is None or labels is None:
            return None
        return self.live.request(painter, labels, self.picture.seed)

    @property
    def shown_serial(self) -> int:
        return self.live.shown_serial

    @property
    def ms_per_render(self) -> float | None:
        return self.live.ms

    def result_rgb(self) -> np.ndarray | None:
        """The picture shown, (H, W, 3) uint8."""
        return self.live.rgb

    def _shown(self, serial: int) -> None:
        self.result_shown.emit(serial)
        self._update_state()

    def set_seed(self, seed: int) -> None:
        self.picture.set_seed(seed)

    def new_seed(self) -> int:
        return self.picture.new_seed()

    def _new_seed_key(self) -> None:
        if self.painter is not None and self.painter.varies:
            self.new_seed()

    # -- saving --------------------------------------------------------------------------------
    def ask_save_painting(self) -> None:
        self.picture.ask_save_painting(self.canvas.labels, self.canvas.palette, self._name)

    def save_painting(self, path: str | Path) -> None:
        labels, palette = self.canvas.labels, self.canvas.palette
        if labels is not None and palette is not None:
            self.picture.write_painting(path, labels, palette)

    def ask_save_result(self) -> None:
        self.picture.ask_save_picture(self.live.rgb, f"{self._name}_painted")

    def save_result(self, path: str | Path) -> None:
        if self.live.rgb is not None:
            self.picture.write_picture(path, self.live.rgb)

    def copy_result(self) -> None:
        if self.live.image is not None:
            QGuiApplication.clipboard().setImage(self.live.image)
            self.ctx.notify("Picture copied to the clipboard", "success")

    # -- drops, errors, shutdown ---------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self.painter is not None and any(is_image_file(p) for p in dropped_paths(event)):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        """An indexed PNG is a label map to open; any other image a photo to start from."""
        images = [p for p in dropped_paths(event) if p.is_file() and is_image_file(p)]
        if images and self.painter is not None:
            if is_indexed_png(images[0]) or self.painter.segmenter is None:
                self.open_label_map(images[0])
            else:
                self.from_photo(images[0])
        event.acceptProposedAction()

    def _fail(self, title: str, message: str) -> None:
        self.ctx.error(title, message)
        self._update_state()

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        super().shutdown(timeout_ms)
        self.chooser.cache.clear()

    def sizeHint(self) -> QSize:
        return QSize(1100, 720)
