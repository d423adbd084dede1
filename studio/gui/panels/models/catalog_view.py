"""The parts of the Get models dialog that only show things: the catalog as a tree grouped by kind,
and the one-line reachability banner (its check runs in a worker, so an unreachable mirror never
freezes the window)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QWidget,
)

from studio.core import jobs, report
from studio.core.report import KIND_LABELS
from studio.core.store.catalog import CatalogEntry, check_online
from studio.gui import resources
from studio.gui.widgets.common import push_button
from studio.gui.worker import TaskSlot

from .table import KIND_ICONS

ID_ROLE = Qt.ItemDataRole.UserRole
COLUMNS = ("Model", "Description", "Size", "State")
KIND_ORDER = ("cyclegan", "pix2pix")


class CatalogTree(QTreeWidget):
    """The catalog's entries under one heading per kind; the entry id is each row's ``ID_ROLE``."""

    def __init__(self, entries: Iterable[CatalogEntry], kind: str | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.entries = {e.id: e for e in entries if kind is None or e.kind == kind}
        self.items: dict[str, QTreeWidgetItem] = {}
        self.setColumnCount(len(COLUMNS))
        self.setHeaderLabels(list(COLUMNS))
        self.setRootIsDecorated(False)
        self.setAlternatingRowColors(True)
        self.setUniformRowHeights(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.header()
        header.setStretchLastSection(False)
        for column, mode in enumerate((QHeaderView.ResizeMode.ResizeToContents, QHeaderView.ResizeMode.Stretch,
                                       QHeaderView.ResizeMode.ResizeToContents,
                                       QHeaderView.ResizeMode.ResizeToContents)):
            header.setSectionResizeMode(column, mode)
        kinds = sorted({e.kind for e in self.entries.values()},
                       key=lambda k: (KIND_ORDER.index(k) if k in KIND_ORDER else len(KIND_ORDER), k))
        for group_kind in kinds:
            group = QTreeWidgetItem(self, [KIND_LABELS.get(group_kind, group_kind)])
            group.setFlags(Qt.ItemFlag.ItemIsEnabled)  # a heading: not selectable, not installable
            group.setFirstColumnSpanned(True)
            font = group.font(0)
            font.setBold(True)
            group.setFont(0, font)
            for entry in (e for e in self.entries.values() if e.kind == group_kind):
                size = f"~{report.size(entry.size_bytes)}" if entry.size_bytes else "—"
                item = QTreeWidgetItem(group, [entry.title, entry.description, size, ""])
                item.setData(0, ID_ROLE, entry.id)
                item.setIcon(0, resources.icon(KIND_ICONS.get(entry.kind, "models")))
                item.setToolTip(0, f"{entry.name} · {entry.arch} · {entry.source}")
                item.setToolTip(1, entry.description)
                item.setTextAlignment(2, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.items[entry.id] = item
        self.expandAll()
        first = next(iter(self.items.values()), None)
        if first is not None:
            self.setCurrentItem(first)

    def entry_of(self, item: QTreeWidgetItem | None) -> CatalogEntry | None:
        entry_id = item.data(0, ID_ROLE) if item is not None else None
        return self.entries.get(entry_id) if entry_id else None

    def selected_entry(self) -> CatalogEntry | None:
        return self.entry_of(self.currentItem())

    def select_entry(self, entry_id: str) -> bool:
        item = self.items.get(entry_id)
        if item is None:
            return False
        self.setCurrentItem(item)
        self.scrollToItem(item)
        return True

    def show_states(self, installed: Mapping[str, str], queued: Iterable[str], running: Iterable[str]) -> None:
        """The State column: installed as which model, queued, or being installed now."""
        queued, running = set(queued), set(running)
        for entry_id, item in self.items.items():
            if entry_id in running:
                text = "Installing…"
            elif entry_id in queued:
                text = "Queued"
            elif entry_id in installed:
                text = f"Installed as {installed[entry_id]}"
            else:
                text = ""
            item.setText(3, text)

    def state_text(self, entry_id: str) -> str:
        return self.items[entry_id].text(3)


class OnlineBanner(QWidget):
    """One line at the top of the dialog when the mirror cannot be reached, with a button that
    imports a file downloaded some other way. ``import_requested``: that button was pressed;
    ``checked(reason)``: the check ended ('' when the mirror answered)."""

    import_requested = Signal()
    checked = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.slot = TaskSlot(self)
        self.reason: str | None = None  # None until a check ends
        self.label = QLabel(objectName="Muted")
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.import_button = push_button("Import a downloaded file…", "import")
        self.import_button.setAutoDefault(False)
        self.import_button.clicked.connect(self.import_requested)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.import_button)
        self.slot.result.connect(self._checked)
        self.slot.failed.connect(self._checked)
        self.import_button.hide()

    @property
    def checking(self) -> bool:
        return self.slot.busy

    def check(self, mirror: str) -> None:
        """Ask ``mirror`` whether it answers, in a worker (the engine sets short timeouts)."""
        self.reason = None
        self.label.setText(f"Checking {mirror}…")
        self.import_button.hide()
        self.show()
        self.slot.start(jobs.returning(lambda control: check_online(mirror)), f"checking {mirror}")

    @property
    def offline(self) -> bool:
        return bool(self.reason)

    def _checked(self, reason: str | None) -> None:
        self.reason = reason or ""
        if self.reason:
            self.label.setText(f"Offline: {self.reason.rstrip('.')}. Import a file you downloaded instead.")
            self.import_button.show()
            self.show()
        else:
            self.hide()
        self.checked.emit(self.reason)
