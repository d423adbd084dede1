"""The model manager: the store's table with its toolbar, the details of the selected model, and
the store operations (import, export, rename, duplicate, delete, reveal), each run in a worker;
the store hub tells the other panels when the list changed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QHBoxLayout, QSplitter, QVBoxLayout, QWidget

from studio.core import jobs, report
from studio.core.errors import StudioError
from studio.core.store import ModelInfo
from studio.gui import dialogs
from studio.gui.panels.base import Panel
from studio.gui.widgets.common import PanelHeader, dropped_paths, push_button
from studio.gui.worker import TaskSlot

from .details import ModelDetails
from .get_models import GetModelsDialog, present
from .onnx import OnnxExport
from .table import ModelTable

log = logging.getLogger(__name__)

MODEL_SUFFIXES = (".safetensors", ".pth", ".pt", ".ckpt", ".bin")
IMPORT_COMMAND = ("command", "import")  # ctx.navigate("models", IMPORT_COMMAND): show the panel and ask for files


class ModelsPanel(Panel):
    key = "models"
    title = "Models"
    subtitle = "Your models and the built-in ones: inspect their cards, import, export, rename, duplicate, delete."
    icon_name = "models"

    operation_done = Signal(str, object)  # what ("import", "export", "onnx", "rename", ...), its result
    details_shown = Signal(str)  # model name

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self.setAcceptDrops(True)
        self._ops = TaskSlot(self)
        self._pending_select: str | None = None
        self._finished_op: tuple[str, Any] | None = None
        self.get_models_dialog: GetModelsDialog | None = None  # made when first asked for, then kept
        self._build()
        self._connect()
        self._show_details()

    # -- layout --------------------------------------------------------------------------------
    def _build(self) -> None:
        self.models = ModelTable(self.ctx.store)
        self.table_model, self.table, self.empty_hint = self.models.model, self.models.view, self.models.empty_hint
        self.details_view = ModelDetails()
        self.details, self.curves, self.curves_hint = (self.details_view.browser, self.details_view.curves,
                                                       self.details_view.curves_hint)
        self.onnx = OnnxExport(self.ctx)

        self.import_button = push_button("Import…", "import", primary=True)
        self.import_button.setToolTip("Import a Studio .safetensors export or a reference .pth generator (Ctrl+O); "
                                      "or drop model files here")
        self.get_models_button = push_button("Get models…", "import")
        self.get_models_button.setToolTip("Install the models the reference pytorch-CycleGAN-and-pix2pix publishes")
        self.export_button = push_button("Export…", "export")
        self.export_button.setToolTip("Export as one .safetensors file with the card inside")
        self.onnx_button = push_button("Export ONNX…", "export")
        self.onnx_button.setToolTip("Export a direction or part as ONNX, checked with onnx.checker and compared "
                                    "with PyTorch by onnxruntime")
        self.fast_copy_button = push_button("Make a fast copy…", "train")
        self.fast_copy_button.setToolTip("Train a light copy of this translator on your photos: it translates many "
                                         "times faster, on any laptop")
        self.rename_button = push_button("Rename…", "rename")
        self.duplicate_button = push_button("Duplicate…", "duplicate")
        self.delete_button = push_button("Delete…", "delete", danger=True)
        self.reveal_button = push_button("Show in folder", "reveal")
        toolbar = QHBoxLayout()
        toolbar.setSpacing(6)
        for button in (self.import_button, self.get_models_button, self.export_button, self.onnx_button,
                       self.fast_copy_button, self.rename_button, self.duplicate_button, self.delete_button,
                       self.reveal_button):
            toolbar.addWidget(button)
        toolbar.addStretch(1)
        toolbar.addWidget(self.models.filter)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.models)
        splitter.addWidget(self.details_view)
        splitter.setSizes([640, 460])
        splitter.setChildrenCollapsible(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 16, 20, 14)
        layout.setSpacing(10)
        layout.addWidget(PanelHeader(self.title, self.subtitle))
        layout.addLayout(toolbar)
        layout.addWidget(self.onnx)
        layout.addWidget(splitter, 1)

    def _connect(self) -> None:
        self.import_button.clicked.connect(self._ask_import)
        self.get_models_button.clicked.connect(self.open_get_models)
        self.export_button.clicked.connect(self._ask_export)
        self.onnx_button.clicked.connect(self._ask_onnx)
        self.onnx.exported.connect(lambda done: self.operation_done.emit("onnx", done))
        self.onnx.busy_changed.connect(self._update_buttons)
        self.fast_copy_button.clicked.connect(self.make_fast_copy)
        self.rename_button.clicked.connect(self._ask_rename)
        self.duplicate_button.clicked.connect(self._ask_duplicate)
        self.delete_button.clicked.connect(self._ask_delete)
        self.reveal_button.clicked.connect(self.reveal_selected)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._show_details())
        self.table_model.modelReset.connect(self._after_reset)
        self._ops.result.connect(self._op_result)
        self._ops.failed.connect(lambda message: self.ctx.error("The model store refused", message))
        self._ops.idle.connect(self._op_idle)

    # -- selection -----------------------------------------------------------------------------
    def selected(self) -> ModelInfo | None:
        return self.models.selected()

    def select(self, name: str) -> bool:
        return self.models.select(name)

    def model_names(self) -> list[str]:
        return self.models.names()

    def _after_reset(self) -> None:
        wanted = self._pending_select
        self._pending_select = None
        if not (wanted and self.select(wanted)):
            self.models.select_first()
        self._show_details()

    def activate(self, argument: object = None) -> None:
        self.ctx.store.refresh()
        if argument == IMPORT_COMMAND:
            self._ask_import()
        elif isinstance(argument, str):
            self.select(argument)
        elif self.selected() is None:
            self.models.select_first()

    def _update_buttons(self) -> None:
        info = self.selected()
        busy = self._ops.busy
        writable = info is not None and not info.builtin
        self.import_button.setEnabled(not busy)
        self.export_button.setEnabled(info is not None and not busy)
        self.onnx_button.setEnabled(info is not None and not self.onnx.busy)
        self.duplicate_button.setEnabled(info is not None and not busy)
        self.fast_copy_button.setEnabled(info is not None and bool(info.directions()))
        self.reveal_button.setEnabled(info is not None)
        for button in (self.rename_button, self.delete_button):
            button.setEnabled(writable and not busy)
            button.setToolTip("" if writable or info is None else "Built-in models are read-only: Duplicate… it and change the copy")
        self.empty_hint.setVisible(self.table_model.rowCount() == 0)
        self.state_changed.emit()

    def _show_details(self) -> None:
        info = self.selected()
        self._update_buttons()
        self.details_view.show_model(info)
        if info is not None:
            self.details_shown.emit(info.name)

    # -- operations ----------------------------------------------------------------------------
    def commands(self) -> dict[str, Any]:
        return {"open": self._ask_import, "import": self._ask_import, "get_models": self.open_get_models}

    def open_get_models(self) -> GetModelsDialog:
        """Show the Get models dialog (one per panel, kept: installs carry on while it is closed);
        a finished install is selected here."""
        if self.get_models_dialog is None:
            dialog = GetModelsDialog(self.ctx, None, self)
            dialog.installed.connect(self._installed)
            dialog.import_requested.connect(self._ask_import)
            self.get_models_dialog = dialog
        return present(self.get_models_dialog)

    def _installed(self, name: str) -> None:
        self.ctx.store.refresh()
        if self.select(name):
            self._show_details()

    def command_enabled(self, name: str) -> bool:
        if name == "get_models":  # installs run in the dialog's own worker
            return True
        return name in self.commands() and not self._ops.busy

    def _run(self, what: str, job: Callable[[], Any], select: str | None = None) -> None:
        self._pending_select = select
        self._ops.start(jobs.returning(lambda control: (what, job())), what)
        self._update_buttons()

    def _op_result(self, value: tuple[str, Any]) -> None:
        self._finished_op = value

    def _op_idle(self) -> None:
        """The operation's thread is over: show what it did (the panel is free for the next one)."""
        value, self._finished_op = self._finished_op, None
        if value is None:  # it failed: the error is already on screen
            self._pending_select = None
            self.ctx.store.refresh()
            self._update_buttons()
            return
        what, result = value
        select = self._pending_select
        self.ctx.store.refresh()
        if what == "import":
            names, errors = result
            for path, message in errors:
                self.ctx.error(f"Cannot import {Path(path).name}", message)
            if names:
                self.ctx.notify(f"Imported {', '.join(names)}", "success")
                select = names[-1]
        elif what == "export":
            self.ctx.notify(f"Exported to {result.name}", "success",
                            ("Show", lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(result.parent)))))
        elif what in ("rename", "duplicate"):
            self.ctx.notify(f"{'Renamed to' if what == 'rename' else 'Duplicated as'} {result.name}", "success")
        elif what == "delete":
            self.ctx.notify(f"Deleted {result}", "info")
        if select:
            self.select(select)
        self._pending_select = None
        self._show_details()
        self.operation_done.emit(what, result)

    def _ask_import(self) -> None:
        files = dialogs.open_files(self, "Import models", dialogs.MODEL_FILTER, self.ctx.settings, "models")
        if files:
            self.import_files(files)

    def import_files(self, files: list[str | Path]) -> None:
        """Import each file with the engine's safe importer (never unpickles code); errors are reported per file."""
        store, files = self.ctx.store.store, [Path(f) for f in files]

        def job() -> tuple[list[str], list[tuple[str, str]]]:
            names, errors = [], []
            for path in files:
                try:
                    names.append(store.import_file(path).name)
                except StudioError as exc:
                    errors.append((str(path), str(exc)))
            return names, errors

        self._run("import", job)

    def _ask_export(self) -> None:
        info = self.selected()
        if info is None:
            return
        path = dialogs.save_file(self, f"Export {info.name}", f"{info.name}.safetensors",
                                 "Safetensors (*.safetensors)", self.ctx.settings, "export")
        if path is not None:
            self.export(info.name, path)

    def export(self, name: str, path: str | Path) -> None:
        store = self.ctx.store.store
        self._run("export", lambda: store.export_safetensors(name, Path(path)), select=name)

    def _ask_onnx(self) -> None:
        info = self.selected()
        if info is not None:
            self.onnx.ask(info)

    def export_onnx(self, name: str, path: str | Path, part: str | None = None) -> None:
        self.onnx.start(name, path, part)

    @property
    def onnx_busy(self) -> bool:
        return self.onnx.busy

    def make_fast_copy(self) -> None:
        """Open the Train panel set up to copy the selected translator (its first direction)."""
        info = self.selected()
        if info is None or not info.directions():
            return
        self.ctx.navigate("train", {"kind": "distill", "teacher": info.name, "direction": info.directions()[0]})

    def _ask_rename(self) -> None:
        info = self.selected()
        if info is None or info.builtin:
            return
        new = dialogs.ask_text(self, "Rename model", f"New name for “{info.name}”:", info.name)
        if new and new != info.name:
            self.rename(info.name, new)

    def rename(self, name: str, new_name: str) -> None:
        store = self.ctx.store.store
        self._run("rename", lambda: store.rename(name, new_name), select=new_name)

    def _ask_duplicate(self) -> None:
        info = self.selected()
        if info is None:
            return
        new = dialogs.ask_text(self, "Duplicate model", f"Name of the copy of “{info.name}”:", f"{info.name} copy")
        if new:
            self.duplicate(info.name, new)

    def duplicate(self, name: str, new_name: str) -> None:
        store = self.ctx.store.store
        self._run("duplicate", lambda: store.duplicate(name, new_name), select=new_name)

    def _ask_delete(self) -> None:
        info = self.selected()
        if info is None or info.builtin:
            return
        if dialogs.confirm(self, "Delete model", f"Delete “{info.name}” ({report.size(info.size_bytes)})?\n\n"
                           "Its folder is removed from the store; this cannot be undone.", "Delete", danger=True):
            self.delete(info.name)

    def delete(self, name: str) -> None:
        store = self.ctx.store.store

        def job() -> str:
            store.remove(name)
            return name

        self._run("delete", job)

    def reveal_selected(self) -> None:
        info = self.selected()
        if info is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(info.path)))

    # -- drag and drop -------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(p.suffix.lower() in MODEL_SUFFIXES for p in dropped_paths(event)):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        files = [p for p in dropped_paths(event) if p.is_file() and p.suffix.lower() in MODEL_SUFFIXES]
        if files:
            self.import_files(files)
            event.acceptProposedAction()
