"""The store as a sortable, filterable table: one row per model, refreshed when the store hub says
the listing changed."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSize, QSortFilterProxyModel, Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLineEdit, QTableView, QVBoxLayout, QWidget

from studio.core import report
from studio.core.report import KIND_LABELS
from studio.core.store import ModelInfo
from studio.gui import resources
from studio.gui.context import StoreHub
from studio.gui.widgets.common import hint

KIND_ICONS = {"cyclegan": "translate-unpaired", "cut": "translate-unpaired", "pix2pix": "translate-paired",
              "vae": "latent", "ae": "latent", "flow": "latent", "dcgan": "latent",
              "pixelcnn": "latent", "spade": "paint"}
COLUMNS = ("Name", "Kind", "Domains", "Size", "Created", "Source")
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
INFO_ROLE = Qt.ItemDataRole.UserRole


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

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
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
        domains = report.domains_column(info)
        if role == Qt.ItemDataRole.DisplayRole:
            return (info.name, KIND_LABELS.get(info.kind, info.kind), domains, report.size(info.size_bytes),
                    report.created(info.created), "Built-in" if info.builtin else "Yours")[column]
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


class ModelTable(QWidget):
    """The table over the store, its filter box (placed by the panel, in its toolbar) and the hint
    shown when the store is empty."""

    def __init__(self, hub: StoreHub, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = StoreTableModel(hub, self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setFilterKeyColumn(-1)
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(4, Qt.SortOrder.DescendingOrder)
        self.view.verticalHeader().hide()
        self.view.setShowGrid(False)
        self.view.setAlternatingRowColors(True)
        self.view.setIconSize(QSize(18, 18))
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.view.horizontalHeader()
        for column in range(len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)  # domains give way to names
        header.setHighlightSections(False)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)

        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter models")
        self.filter.setClearButtonEnabled(True)
        self.filter.setMaximumWidth(220)
        self.filter.textChanged.connect(self.proxy.setFilterFixedString)
        self.empty_hint = hint("No models yet. Import one (a Studio .safetensors export or a reference "
                               "pytorch-CycleGAN-and-pix2pix .pth generator), drop model files here, "
                               "or train one in Train.")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.empty_hint)

    def selected(self) -> ModelInfo | None:
        rows = self.view.selectionModel().selectedRows()
        if not rows:
            return None
        return self.proxy.data(rows[0], INFO_ROLE)

    def select(self, name: str) -> bool:
        """Select the model called ``name`` (clearing a filter that hides it); False when there is none."""
        row = self.model.row_of(name)
        if row < 0:
            return False
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        if not index.isValid():
            self.filter.clear()
            index = self.proxy.mapFromSource(self.model.index(row, 0))
        self.view.selectRow(index.row())
        self.view.scrollTo(index)
        return True

    def select_first(self) -> None:
        if self.proxy.rowCount():
            self.view.selectRow(0)

    def names(self) -> list[str]:
        return [self.model.info(r).name for r in range(self.model.rowCount())]
