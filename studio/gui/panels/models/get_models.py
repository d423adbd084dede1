"""The Get models dialog: the catalog of published models by kind, what is installed, and installs
run one after another in a worker, with bytes, speed, ETA and Cancel.

The engine does the work (:func:`studio.core.store.downloads.install_job`: download with resume,
safe import, the card's provenance); the dialog queues requests, shows their progress and says in
one line how each ended. ``installed(name)`` tells the panel that opened it which model to select.
The dialog is kept by that panel and only hidden when closed, so an install carries on meanwhile.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from studio.core import report
from studio.core.errors import StudioError
from studio.core.jobs import Item, Progress
from studio.core.store.catalog import CatalogEntry, load_catalog, mirror_url
from studio.core.store.catalog import installed as installed_entries
from studio.core.store.downloads import install_job
from studio.gui.context import AppContext
from studio.gui.widgets.common import push_button
from studio.gui.widgets.progress_row import ProgressRow
from studio.gui.worker import TaskSlot

from .catalog_view import CatalogTree, OnlineBanner

log = logging.getLogger(__name__)


def progress_line(title: str, progress: Progress) -> str:
    """``Horse → zebra: 12.3 MB of 45.6 MB · 2.1 MB/s · 16s left``."""
    done, total = int(progress.done), int(progress.total)
    text = f"{title}: {report.size(done)}" + (f" of {report.size(total)}" if total > 0 else "")
    speed = progress.stats.get("bytes_per_s")
    eta = progress.stats.get("eta_s")
    if speed:
        text += f" · {report.size(int(speed))}/s"
    if eta is not None and total > 0:
        text += f" · {report.duration(eta)} left"
    return text


class GetModelsDialog(QDialog):
    """``kind`` limits the list to one kind (opened from a translation panel)."""

    installed = Signal(str)  # the model a finished install made or completed
    import_requested = Signal()  # offline: the person would rather import a file by hand

    def __init__(self, ctx: AppContext, kind: str | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx, self.kind = ctx, kind
        self.setWindowTitle("Get models")
        self.resize(900, 580)
        self.catalog = load_catalog()
        self.by_id: dict[str, CatalogEntry] = {e.id: e for e in self.catalog}
        self.slot = TaskSlot(self)
        self.queue: list[list[str]] = []  # requests waiting, each a list of entry ids
        self.running: list[str] = []  # the request being installed
        self.installed_ids: dict[str, str] = {}  # entry id -> the store model holding it
        self.last_message = ""  # how the last install ended
        self._outcome: tuple[str, Any] | None = None
        self._item_errors: list[str] = []
        self._build()
        self._connect()
        self.refresh_installed()

    # -- layout --------------------------------------------------------------------------------
    def _build(self) -> None:
        self.banner = OnlineBanner()
        self.banner.hide()
        self.source_label = QLabel(objectName="Muted")
        self.source_label.setWordWrap(True)
        self.tree = CatalogTree(self.catalog, self.kind)
        self.pair_box = QCheckBox()
        self.pair_box.hide()
        self.install_button = push_button("Install", "check", primary=True)
        self.install_button.setToolTip("Download and install the selected model (Enter or double-click)")
        self.queue_label = QLabel(objectName="Muted")
        self.queue_label.setWordWrap(True)
        self.queue_label.hide()
        self.done_label = QLabel(objectName="Muted")
        self.done_label.setWordWrap(True)
        self.done_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.done_label.hide()
        self.row = ProgressRow(bar_width=240)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        # Enter belongs to the list (install the current row), never to a default button
        for button in (self.install_button, self.row.cancel_button, *buttons.buttons()):
            button.setAutoDefault(False)
            button.setDefault(False)

        actions = QHBoxLayout()
        actions.addWidget(self.pair_box, 1)
        actions.addWidget(self.install_button)
        layout = QVBoxLayout(self)
        layout.setSpacing(8)
        layout.addWidget(self.banner)
        layout.addWidget(self.source_label)
        layout.addWidget(self.tree, 1)
        layout.addLayout(actions)
        layout.addWidget(self.queue_label)
        layout.addWidget(self.row)
        layout.addWidget(self.done_label)
        layout.addWidget(buttons)
        self.tree.setFocus()

    def _connect(self) -> None:
        self.tree.currentItemChanged.connect(lambda *_: self._update_actions())
        self.tree.itemActivated.connect(lambda item, _column: self._activated(item))
        self.install_button.clicked.connect(self.install_selected)
        self.banner.import_requested.connect(self.import_requested)
        self.row.cancel_requested.connect(self.cancel)
        self.slot.progress.connect(self._progress)
        self.slot.item.connect(self._item)
        self.slot.result.connect(lambda value: self._set_outcome("result", value))
        self.slot.failed.connect(lambda message: self._set_outcome("failed", message))
        self.slot.cancelled.connect(lambda: self._set_outcome("cancelled", None))
        self.slot.idle.connect(self._install_over)
        self.ctx.store.changed.connect(self.refresh_installed)  # a model deleted or renamed elsewhere

    def mirror(self) -> str:
        return mirror_url(self.ctx.settings.engine_mirror())

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        try:
            mirror = self.mirror()
        except StudioError as exc:  # a mistyped mirror setting: say so where the offline line goes
            self.banner.label.setText(f"{exc} Change it in Settings.")
            self.banner.show()
            return
        self.source_label.setText(f"The models the reference pytorch-CycleGAN-and-pix2pix publishes, "
                                  f"downloaded from {mirror}. Each is checked and imported like a file you import.")
        if not self.banner.checking:
            self.banner.check(mirror)

    # -- state ---------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self.slot.busy

    def refresh_installed(self) -> None:
        self.installed_ids = installed_entries(self.ctx.store.store, self.catalog)
        self._update_actions()

    def _waiting(self) -> set[str]:
        return {entry_id for request in self.queue for entry_id in request}

    def _update_actions(self) -> None:
        waiting, running = self._waiting(), set(self.running)
        self.tree.show_states(self.installed_ids, waiting, running)
        entry = self.tree.selected_entry()
        pair = self.by_id.get(entry.pair) if entry is not None and entry.pair else None
        offer = pair is not None and not self._taken(pair.id)
        self.pair_box.setVisible(offer)
        if offer:
            self.pair_box.setText(f"Also install {pair.name}: together they make one two-direction model")
        self.install_button.setEnabled(entry is not None and not self._taken(entry.id))
        if entry is not None and entry.id in self.installed_ids:
            self.install_button.setToolTip(f"Already installed as {self.installed_ids[entry.id]}")
        else:
            self.install_button.setToolTip("Download and install the selected model (Enter or double-click)")
        titles = [self._titles(request) for request in self.queue]
        self.queue_label.setText(f"Queued: {'; '.join(titles)}" if titles else "")
        self.queue_label.setVisible(bool(titles))

    def _taken(self, entry_id: str) -> bool:
        """Installed already, or waiting or being installed: asking again would do nothing."""
        return entry_id in self.installed_ids or entry_id in self.running or entry_id in self._waiting()

    def _titles(self, ids: list[str]) -> str:
        return " + ".join(self.by_id[i].title for i in ids if i in self.by_id)

    # -- installing ----------------------------------------------------------------------------
    def _activated(self, item: Any) -> None:
        entry = self.tree.entry_of(item)
        if entry is not None:
            self.install(entry.id)

    def install_selected(self) -> None:
        entry = self.tree.selected_entry()
        if entry is not None:
            self.install(entry.id)

    def install(self, entry_id: str, with_pair: bool | None = None) -> bool:
        """Queue ``entry_id`` (and the other direction of its pair when ``with_pair``, by default
        as the checkbox says for the selected entry); False when there was nothing to do."""
        entry = self.by_id[entry_id]
        if with_pair is None:
            selected = self.tree.selected_entry()
            with_pair = selected is not None and selected.id == entry_id and self.pair_box.isChecked()
        ids = [i for i in ([entry_id] + ([entry.pair] if with_pair and entry.pair else [])) if not self._taken(i)]
        if not ids:
            where = self.installed_ids.get(entry_id)
            self._show_done(f"{entry.title} is already installed as {where}." if where
                            else f"{entry.title} is already queued.")
            return False
        self.queue.append(ids)
        self._start_next()
        self._update_actions()
        return True

    def _start_next(self) -> None:
        if self.slot.busy or not self.queue:
            return
        ids = self.queue.pop(0)
        self.running, self._outcome, self._item_errors = ids, None, []
        store, settings = self.ctx.store.store, self.ctx.settings
        titles = self._titles(ids)
        self.row.begin(f"Installing {titles}…")
        # the mirror is resolved in the worker too: a bad setting then ends as this install's one line
        self.slot.start(lambda control: install_job(ids, store=store, mirror=mirror_url(settings.engine_mirror()),
                                                    control=control),
                        f"installing {', '.join(ids)}")
        self._update_actions()

    def cancel(self) -> None:
        """Stop the install in progress (the queued ones still follow)."""
        self.slot.cancel()
        self.row.set_message(f"Cancelling {self._titles(self.running)}…")

    def cancel_all(self) -> None:
        self.queue.clear()
        if self.slot.busy:
            self.cancel()
        self._update_actions()

    def _progress(self, progress: Progress) -> None:
        """The file being downloaded (the engine says which in ``stats``), bytes, speed and ETA."""
        stats = progress.stats
        entry = self.by_id.get(stats.get("id", ""))
        title = entry.title if entry is not None else self._titles(self.running)
        if (stats.get("count") or 1) > 1:
            title += f" ({stats.get('index', 0) + 1} of {stats['count']})"
        self.row.show_progress(progress, progress_line(title, progress))

    def _item(self, item: Item) -> None:
        if item.error:
            title = self.by_id[item.path].title if item.path in self.by_id else item.path
            self._item_errors.append(f"{title}: {item.error}")

    def _set_outcome(self, how: str, value: Any) -> None:
        self._outcome = (how, value)

    def _install_over(self) -> None:
        """The install's thread is over: say how it ended, refresh the store, start the next one."""
        how, value = self._outcome or ("failed", "the install stopped without a result")
        titles = self._titles(self.running)
        names: list[str] = []
        if how == "result" and isinstance(value, dict):
            names = list(value.get("installed") or [])
            errors = list(self._item_errors)
            known = " ".join(errors)
            for entry_id, reason in value.get("failed") or []:
                title = self.by_id[entry_id].title if entry_id in self.by_id else entry_id
                if str(reason) not in known:
                    errors.append(f"{title}: {reason}")
            parts = [f"Installed {', '.join(names)}." if names else ""]
            if value.get("cancelled"):
                parts.append(f"{titles}: cancelled; nothing half-done was kept.")
            parts.extend(errors)
            message = " ".join(p for p in parts if p) or f"{titles}: nothing was installed."
        elif how == "cancelled":
            message = f"{titles}: cancelled; nothing half-done was kept."
        else:
            message = f"Could not install {titles}: {value}"
        log.info("get models: %s", message)
        self.running = []
        self.ctx.store.refresh()
        self.refresh_installed()
        self.row.end(message)
        if names:
            self.ctx.notify(f"Installed {', '.join(names)}", "success")
            self.installed.emit(names[-1])
        self._start_next()
        self._show_done(message)  # under the next install's row, if one started

    def _show_done(self, message: str) -> None:
        self.last_message = message
        self.done_label.setText(message)
        self.done_label.setVisible(bool(message) and self.slot.busy)  # idle: the row's line says it
        if not self.slot.busy:
            self.row.set_message(message)


def present(dialog: GetModelsDialog) -> GetModelsDialog:
    """Show ``dialog`` in front (it is kept between uses: installs carry on while it is closed)."""
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    return dialog
