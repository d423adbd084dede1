"""The model manager: a table over the store, a details pane with the card and the training
curves, and import / export (safetensors, ONNX) / rename / duplicate / delete / reveal. Every store
operation runs in a worker; the store hub tells the other panels when the list changed."""

from __future__ import annotations

import datetime as _dt
import html
import json
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSize, QSortFilterProxyModel, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QSplitter,
    QTableView,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from studio.core import paths
from studio.core.errors import StudioError
from studio.core.store import ModelInfo
from studio.gui import dialogs, resources
from studio.gui.context import KIND_LABELS, StoreHub
from studio.gui.widgets.common import PanelHeader, dropped_paths, hint, push_button
from studio.gui.widgets.plots import LossPlot, read_losses
from studio.gui.worker import TaskSlot

from .base import Panel

log = logging.getLogger(__name__)

MODEL_SUFFIXES = (".safetensors", ".pth", ".pt", ".ckpt", ".bin")
KIND_ICONS = {"cyclegan": "translate-unpaired", "pix2pix": "translate-paired", "vae": "latent", "flow": "latent"}
COLUMNS = ("Name", "Kind", "Domains", "Size", "Created", "Source")
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
INFO_ROLE = Qt.ItemDataRole.UserRole


def format_size(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def format_created(created: str) -> str:
    try:
        when = _dt.datetime.fromisoformat(created)
    except (TypeError, ValueError):
        return created or "—"
    return when.astimezone().strftime("%Y-%m-%d %H:%M")


class StoreTableModel(QAbstractTableModel):
    """The store's models, one row each, refreshed when the store hub says it changed."""

    def __init__(self, hub: StoreHub, parent: Any = None):
        super().__init__(parent)
        self._hub = hub
        self._rows: list[ModelInfo] = hub.models()
        hub.changed.connect(self.reload)

    def reload(self) -> None:
        self.beginResetModel()
        self._rows = self._hub.models()
        self.endResetModel()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def info(self, row: int) -> ModelInfo:
        return self._rows[row]

    def row_of(self, name: str) -> int:
        return next((i for i, m in enumerate(self._rows) if m.name == name), -1)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        info, column = self._rows[index.row()], index.column()
        if role == INFO_ROLE:
            return info
        domains = f"{info.domains.get('A', 'A')} ↔ {info.domains.get('B', 'B')}"
        if info.kind in ("vae", "flow"):
            domains = info.domains.get("A", "—")
        if role == Qt.ItemDataRole.DisplayRole:
            return (info.name, KIND_LABELS.get(info.kind, info.kind), domains, format_size(info.size_bytes),
                    format_created(info.created), "Built-in" if info.builtin else "Yours")[column]
        if role == SORT_ROLE:
            return (info.name.lower(), info.kind, domains.lower(), info.size_bytes, info.created,
                    int(info.builtin))[column]
        if role == Qt.ItemDataRole.DecorationRole and column == 0:
            return resources.icon(KIND_ICONS.get(info.kind, "models"))
        if role == Qt.ItemDataRole.ToolTipRole:
            return str(info.path)
        if role == Qt.ItemDataRole.TextAlignmentRole and column == 3:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


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
        self._curves = TaskSlot(self)
        self._onnx = TaskSlot(self)  # an ONNX export runs beside the quick store operations
        self._pending_select: str | None = None
        self._finished_op: tuple[str, Any] | None = None
        self._build()
        self._connect()
        self._show_details()

    # -- layout --------------------------------------------------------------------------------
    def _build(self) -> None:
        self.table_model = StoreTableModel(self.ctx.store, self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.table_model)
        self.proxy.setSortRole(SORT_ROLE)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setFilterKeyColumn(-1)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(4, Qt.SortOrder.DescendingOrder)
        self.table.verticalHeader().hide()
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        self.table.setIconSize(QSize(18, 18))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        for column in range(len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)  # domains give way to names
        header.setHighlightSections(False)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)

        self.import_button = push_button("Import…", "import", primary=True)
        self.import_button.setToolTip("Import a Studio .safetensors export or a reference .pth generator (Ctrl+O); "
                                      "or drop model files here")
        self.export_button = push_button("Export…", "export")
        self.export_button.setToolTip("Export as one .safetensors file with the card inside")
        self.onnx_button = push_button("Export ONNX…", "export")
        self.onnx_button.setToolTip("Export a direction or part as ONNX, checked with onnx.checker and compared "
                                    "with PyTorch by onnxruntime")
        self.rename_button = push_button("Rename…", "rename")
        self.duplicate_button = push_button("Duplicate…", "duplicate")
        self.delete_button = push_button("Delete…", "delete", danger=True)
        self.reveal_button = push_button("Show in folder", "reveal")
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter models")
        self.filter.setClearButtonEnabled(True)
        self.filter.setMaximumWidth(220)
        toolbar = QHBoxLayout()
        toolbar.setSpacing(6)
        for button in (self.import_button, self.export_button, self.onnx_button, self.rename_button,
                       self.duplicate_button, self.delete_button, self.reveal_button):
            toolbar.addWidget(button)
        toolbar.addStretch(1)
        toolbar.addWidget(self.filter)

        self.empty_hint = hint("No models yet. Import one (a Studio .safetensors export or a reference "
                               "pytorch-CycleGAN-and-pix2pix .pth generator), drop model files here, "
                               "or train one in Train.")
        self.onnx_progress = QProgressBar()
        self.onnx_progress.setMaximumWidth(220)
        self.onnx_progress.setTextVisible(False)
        self.onnx_status = QLabel("", objectName="Muted")
        self.onnx_status.setWordWrap(True)
        self.onnx_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.onnx_cancel = push_button("Cancel", "cancel")
        self.onnx_cancel.clicked.connect(self.cancel_onnx)
        onnx_row = QHBoxLayout()
        onnx_row.setSpacing(8)
        onnx_row.addWidget(self.onnx_progress)
        onnx_row.addWidget(self.onnx_cancel)
        onnx_row.addWidget(self.onnx_status, 1)
        for widget in (self.onnx_progress, self.onnx_cancel, self.onnx_status):
            widget.hide()

        table_box = QWidget()
        table_layout = QVBoxLayout(table_box)
        table_layout.setContentsMargins(0, 0, 0, 0)
        table_layout.addWidget(self.table, 1)
        table_layout.addWidget(self.empty_hint)

        self.details = QTextBrowser()
        self.details.setOpenExternalLinks(False)
        self.details.setOpenLinks(False)
        self.details.anchorClicked.connect(lambda url: QDesktopServices.openUrl(url))
        self.curves = LossPlot()
        self.curves_label = QLabel("Training curves", objectName="Muted")
        self.curves_hint = hint("")
        curves_box = QWidget()
        curves_layout = QVBoxLayout(curves_box)
        curves_layout.setContentsMargins(0, 4, 0, 0)
        curves_layout.addWidget(self.curves_label)
        curves_layout.addWidget(self.curves, 1)
        curves_layout.addWidget(self.curves_hint)
        details_box = QSplitter(Qt.Orientation.Vertical)
        details_box.addWidget(self.details)
        details_box.addWidget(curves_box)
        details_box.setSizes([420, 300])
        details_box.setChildrenCollapsible(False)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(table_box)
        splitter.addWidget(details_box)
        splitter.setSizes([640, 460])
        splitter.setChildrenCollapsible(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 16, 20, 14)
        layout.setSpacing(10)
        layout.addWidget(PanelHeader(self.title, self.subtitle))
        layout.addLayout(toolbar)
        layout.addLayout(onnx_row)
        layout.addWidget(splitter, 1)

    def _connect(self) -> None:
        self.import_button.clicked.connect(self._ask_import)
        self.export_button.clicked.connect(self._ask_export)
        self.onnx_button.clicked.connect(self._ask_onnx)
        self._onnx.progress.connect(self._onnx_progress)
        self._onnx.result.connect(self._onnx_result)
        self._onnx.failed.connect(self._onnx_failed)
        self._onnx.cancelled.connect(lambda: self._onnx_status("ONNX export cancelled; nothing was written."))
        self._onnx.idle.connect(self._onnx_idle)
        self.rename_button.clicked.connect(self._ask_rename)
        self.duplicate_button.clicked.connect(self._ask_duplicate)
        self.delete_button.clicked.connect(self._ask_delete)
        self.reveal_button.clicked.connect(self.reveal_selected)
        self.filter.textChanged.connect(self.proxy.setFilterFixedString)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._show_details())
        self.table_model.modelReset.connect(self._after_reset)
        self._ops.result.connect(self._op_result)
        self._ops.failed.connect(lambda message: self.ctx.error("The model store refused", message))
        self._ops.idle.connect(self._op_idle)
        self._curves.result.connect(self._curves_loaded)

    # -- selection -----------------------------------------------------------------------------
    def selected(self) -> ModelInfo | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.proxy.data(rows[0], INFO_ROLE)

    def select(self, name: str) -> bool:
        row = self.table_model.row_of(name)
        if row < 0:
            return False
        index = self.proxy.mapFromSource(self.table_model.index(row, 0))
        if not index.isValid():
            self.filter.clear()
            index = self.proxy.mapFromSource(self.table_model.index(row, 0))
        self.table.selectRow(index.row())
        self.table.scrollTo(index)
        return True

    def model_names(self) -> list[str]:
        return [self.table_model.info(r).name for r in range(self.table_model.rowCount())]

    def _after_reset(self) -> None:
        wanted = self._pending_select
        self._pending_select = None
        if not (wanted and self.select(wanted)) and self.proxy.rowCount():
            self.table.selectRow(0)
        self._show_details()

    def activate(self, argument: object = None) -> None:
        self.ctx.store.refresh()
        if isinstance(argument, str):
            self.select(argument)
        elif self.selected() is None and self.proxy.rowCount():
            self.table.selectRow(0)

    def _update_buttons(self) -> None:
        info = self.selected()
        busy = self._ops.busy
        writable = info is not None and not info.builtin
        self.import_button.setEnabled(not busy)
        self.export_button.setEnabled(info is not None and not busy)
        self.onnx_button.setEnabled(info is not None and not self._onnx.busy)
        self.duplicate_button.setEnabled(info is not None and not busy)
        self.reveal_button.setEnabled(info is not None)
        for button in (self.rename_button, self.delete_button):
            button.setEnabled(writable and not busy)
            button.setToolTip("" if writable or info is None else "Built-in models are read-only; duplicate it first")
        self.empty_hint.setVisible(self.table_model.rowCount() == 0)
        self.state_changed.emit()

    # -- details -------------------------------------------------------------------------------
    def _show_details(self) -> None:
        info = self.selected()
        self._update_buttons()
        self.curves.clear()
        if info is None:
            self.details.setHtml(f"<p style='color:{resources.colors()['muted']}'>Select a model to see its card.</p>")
            self._set_curves_hint("")
            return
        self.details.setHtml(card_html(info))
        run = info.card.get("provenance", {}).get("run")
        losses = paths.runs_dir() / run / "losses.jsonl" if run else None
        if losses is not None and losses.is_file():
            self._set_curves_hint("Loading the training curves…")
            self._curves.start(lambda control, p=losses: (info.name, read_losses(p)), f"reading {losses}")
        else:
            why = ("The run that trained it is no longer in the runs folder." if run
                   else "No training curves: this model was not trained in this Studio.")
            self._set_curves_hint(why)
        self.details_shown.emit(info.name)

    def _set_curves_hint(self, text: str, has_curves: bool = False) -> None:
        self.curves.setVisible(has_curves)
        self.curves_label.setVisible(has_curves)
        self.curves_hint.setText(text)
        self.curves_hint.setVisible(bool(text))

    def _curves_loaded(self, value: tuple[str, dict]) -> None:
        name, series = value
        info = self.selected()
        if info is None or info.name != name:
            return
        if series:
            self.curves.set_series(series)
            self._set_curves_hint("", has_curves=True)
        else:
            self._set_curves_hint("The run has no recorded losses.")

    # -- operations ----------------------------------------------------------------------------
    def commands(self) -> dict[str, Any]:
        return {"open": self._ask_import, "import": self._ask_import}

    def command_enabled(self, name: str) -> bool:
        return name in self.commands() and not self._ops.busy

    def _run(self, what: str, job, select: str | None = None) -> None:
        self._pending_select = select
        self._ops.start(lambda control: (what, job()), what)
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

    # -- ONNX ------------------------------------------------------------------------------------
    def _ask_onnx(self) -> None:
        from studio.core import export

        info = self.selected()
        if info is None:
            return
        choices = export.parts(info)
        part = choices[0]
        if len(choices) > 1:
            labels = [PART_LABELS.get(c, c) for c in choices]
            chosen = dialogs.choose(self, f"Export {info.name} as ONNX", "Which part?", labels)
            if chosen is None:
                return
            part = choices[labels.index(chosen)]
        path = dialogs.save_file(self, f"Export {info.name} ({part}) as ONNX", f"{info.name} {part}.onnx",
                                 "ONNX (*.onnx)", self.ctx.settings, "export_onnx")
        if path is not None:
            self.export_onnx(info.name, path, part)

    def export_onnx(self, name: str, path: str | Path, part: str | None = None) -> None:
        """Export in a worker, with progress; the parity figure is shown when it is done."""
        from studio.core.export import export_onnx_job

        store = self.ctx.store.store
        self.onnx_progress.setRange(0, 0)
        for widget in (self.onnx_progress, self.onnx_cancel, self.onnx_status):
            widget.show()
        self.onnx_status.setText(f"Exporting {name}{f' ({part})' if part else ''} to ONNX…")
        self._onnx.start(lambda control: export_onnx_job(name, path, part, store=store, control=control),
                         f"exporting {name} to ONNX")
        self._update_buttons()

    def cancel_onnx(self) -> None:
        self._onnx.cancel()
        self.onnx_status.setText("Cancelling the ONNX export…")

    def _onnx_progress(self, data: dict) -> None:
        total, done = int(data.get("total", 0)), int(data.get("done", 0))
        self.onnx_progress.setRange(0, max(1, total))
        self.onnx_progress.setValue(done)
        if data.get("message"):
            self.onnx_status.setText(f"ONNX export: {data['message']}…")

    def _onnx_result(self, done: dict) -> None:
        if done.get("cancelled"):
            self._onnx_status("ONNX export cancelled; nothing was written.")
            return
        self._onnx_status(onnx_summary(done))
        path = Path(done["path"])
        self.ctx.notify(f"Exported {done['model']} ({done['part']}) to {path.name}", "success",
                        ("Show", lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent)))))
        self.operation_done.emit("onnx", done)

    def _onnx_failed(self, message: str) -> None:
        self._onnx_status(f"ONNX export failed: {message}")
        self.ctx.error("The ONNX export failed", message)

    def _onnx_status(self, text: str) -> None:
        self.onnx_status.setText(text)
        self.onnx_status.show()

    def _onnx_idle(self) -> None:
        self.onnx_progress.hide()
        self.onnx_cancel.hide()
        self._update_buttons()

    @property
    def onnx_busy(self) -> bool:
        return self._onnx.busy

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
        if dialogs.confirm(self, "Delete model", f"Delete “{info.name}” ({format_size(info.size_bytes)})?\n\n"
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
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if any(p.suffix.lower() in MODEL_SUFFIXES for p in dropped_paths(event)):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        files = [p for p in dropped_paths(event) if p.is_file() and p.suffix.lower() in MODEL_SUFFIXES]
        if files:
            self.import_files(files)
            event.acceptProposedAction()


PART_LABELS = {"a2b": "A → B", "b2a": "B → A", "encoder": "encoder (image → latent)",
               "decoder": "decoder (latent → image)", "forward": "forward (image → latent)",
               "inverse": "inverse (latent → image)"}


def onnx_summary(done: dict) -> str:
    """One line about a finished export: where it went and how closely onnxruntime matched PyTorch."""
    head = (f"{done['model']} ({done['part']}) → {Path(done['path']).name}: {done['bytes'] / 1e6:.1f} MB, "
            f"opset {done['opset']}, onnx.checker passed")
    if done.get("max_abs_diff") is None:
        return f"{head}; not verified: {done.get('note') or 'onnxruntime is not installed'}"
    return (f"{head}; {done['verified_with']} vs PyTorch: max abs diff {done['max_abs_diff']:.1e} "
            f"(tolerance {done['tolerance']:g})")


def metric_rows(metrics: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Nested metrics (``eval`` → direction → figure) as readable (label, value) rows."""
    rows: list[tuple[str, str]] = []
    for key, value in metrics.items():
        label = f"{prefix}{key.replace('_', ' ')}"
        if isinstance(value, dict):
            rows.extend(metric_rows(value, f"{label} · "))
        elif isinstance(value, float):
            rows.append((label, f"{value:.4g}"))
        elif isinstance(value, list):
            shown = f"{len(value)} item(s)" if value and isinstance(value[0], (list, dict)) else ", ".join(map(str, value))
            rows.append((label, shown or "—"))
        elif value is not None:
            rows.append((label, str(value)))
    return rows


def card_html(info: ModelInfo) -> str:
    """The card as readable HTML: what the model is, where it came from, what was measured."""
    c = resources.colors()
    card = info.card
    esc = html.escape

    def row(key: str, value: Any) -> str:
        return (f"<tr><td style='color:{c['muted']}; padding-right:12px; white-space:nowrap'>{esc(key)}</td>"
                f"<td>{value}</td></tr>")

    domains = info.domains
    rows = [
        row("Kind", esc(KIND_LABELS.get(info.kind, info.kind))),
        row("Domains", esc(f"A = {domains.get('A', 'A')}, B = {domains.get('B', 'B')}")),
        row("Directions", esc(", ".join(info.directions()) or "—")),
        row("Image size", esc(f"{card.get('image_size', '?')} px")),
        row("Created", esc(format_created(info.created))),
        row("Size", esc(format_size(info.size_bytes))),
        row("Source", "built-in (read-only)" if info.builtin else "your model"),
        row("Folder", f"<a href='{QUrl.fromLocalFile(str(info.path)).toString()}'>{esc(str(info.path))}</a>"),
    ]
    networks = "".join(
        row(role, esc(f"{spec['arch']}({', '.join(f'{k}={v}' for k, v in spec['params'].items())})"))
        for role, spec in card.get("networks", {}).items())
    provenance = card.get("provenance", {})
    prov_rows = []
    for key, value in provenance.items():
        if key == "skipped":
            shown = f"{len(value)} file(s)" + (": " + esc(", ".join(Path(str(v[0])).name for v in value[:5])) if value else "")
            prov_rows.append(row("skipped", shown))
        elif isinstance(value, dict):
            inner = ", ".join(f"{k}: {v}" for k, v in value.items() if v is not None)
            prov_rows.append(row(key.replace("_", " "), esc(inner or "—")))
        elif isinstance(value, list):
            prov_rows.append(row(key.replace("_", " "), esc(json.dumps(value)[:400])))
        elif value is not None:
            prov_rows.append(row(key.replace("_", " "), esc(str(value))))
    metrics = "".join(row(label, esc(value)) for label, value in metric_rows(card.get("metrics", {})))
    parts = [
        f"<h2 style='margin-bottom:2px'>{esc(info.name)}</h2>",
        f"<p style='color:{c['muted']}; margin-top:0'>{esc(card.get('description') or '')}</p>",
        f"<p><b>Limits:</b> {esc(card['limits'])}</p>" if card.get("limits") else "",
        "<table cellspacing=3>" + "".join(rows) + "</table>",
        f"<h4 style='color:{c['muted']}'>Networks</h4><table cellspacing=3>{networks}</table>",
        f"<h4 style='color:{c['muted']}'>Provenance</h4>",
        "<table cellspacing=3>" + "".join(prov_rows) + "</table>" if prov_rows else "<p>—</p>",
        f"<h4 style='color:{c['muted']}'>Metrics</h4>",
        f"<table cellspacing=3>{metrics}</table>" if metrics
        else f"<p style='color:{c['muted']}'>No metrics measured yet.</p>",
    ]
    return "".join(parts)
