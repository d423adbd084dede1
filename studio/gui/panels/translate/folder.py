"""The translation panels' folder box: translate every image of a folder with the chosen model,
with progress, cancel, the list of skipped files and a way to show the results."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QVBoxLayout, QWidget

from studio.core.jobs import Item, Progress
from studio.gui import dialogs
from studio.gui.context import AppContext
from studio.gui.widgets.common import push_button
from studio.gui.widgets.progress_row import ProgressRow
from studio.gui.worker import TaskSlot

from .reveal import reveal
from .work import Choice, TranslatorCache, translate_folder

IDLE_TEXT = "Results are written at full strength, with the folder structure kept."


class FolderBox(QGroupBox):
    """Runs the engine's ``translate_job`` over a folder with what ``choice()`` says (None: no
    model to run). ``done`` carries the job's summary once the box is ready for the next folder;
    ``failed`` carries (title, reason); ``busy_changed`` follows a start and an end."""

    done = Signal(object)  # {"written": [...], "failed": [(path, reason)], "cancelled": bool}
    failed = Signal(str, str)
    busy_changed = Signal()

    def __init__(self, ctx: AppContext, choice: Callable[[], Choice | None], parent: QWidget | None = None):
        super().__init__("Folder", parent)
        self.ctx = ctx
        self._choice = choice
        # a translator of its own: a folder run must not hold up the photo's translator
        self.translators = TranslatorCache(size=1)
        self.slot = TaskSlot(self)
        self.skipped: list[tuple[str, str]] = []
        self._output: Path | None = None
        self._summary: dict | None = None
        self._closing: str | None = None  # the status line once the run is over

        layout = QVBoxLayout(self)
        self.start_button = push_button("Translate a folder…", "folder")
        self.start_button.setToolTip("Translate every image of a folder with this model (Ctrl+Shift+O)")
        layout.addWidget(self.start_button)
        self.row = ProgressRow(IDLE_TEXT, stacked=True)
        layout.addWidget(self.row)
        buttons = QHBoxLayout()
        self.details_button = push_button("Skipped files…")
        self.details_button.hide()
        self.reveal_button = push_button("Show folder", "reveal")
        self.reveal_button.hide()
        buttons.addWidget(self.details_button)
        buttons.addWidget(self.reveal_button)
        layout.addLayout(buttons)

        self.start_button.clicked.connect(lambda: self.ask())
        self.row.cancel_requested.connect(self.cancel)
        self.details_button.clicked.connect(self._show_skipped)
        self.reveal_button.clicked.connect(self._reveal_output)
        self.slot.progress.connect(self._progress)
        self.slot.item.connect(self._item)
        self.slot.result.connect(self._finished)
        self.slot.failed.connect(self._failed)
        self.slot.cancelled.connect(self._cancelled)
        self.slot.idle.connect(self._idle)

    @property
    def busy(self) -> bool:
        return self.slot.busy

    def set_ready(self, has_model: bool) -> None:
        self.start_button.setEnabled(has_model and not self.slot.busy)

    def ask(self, source: Path | None = None) -> None:
        """Ask for the folder (unless given) and where to write its translations, then start."""
        if self._choice() is None:
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
        choice = self._choice()
        if choice is None:
            return
        source, out = Path(source), Path(out)
        if out.resolve() == source.resolve():
            self.failed.emit("Choose another output folder", "The translations would overwrite the originals.")
            return
        job = translate_folder(self.translators, self.ctx.store.store, choice, source, out)
        self.skipped, self._output, self._closing = [], out, None
        self.details_button.hide()
        self.reveal_button.hide()
        self.row.begin(f"Translating {source.name} with {choice.info.name}…")
        self.slot.start(job, f"translating folder {source.name}")
        self.busy_changed.emit()

    def cancel(self) -> None:
        self.slot.cancel()
        self.row.set_message("Cancelling…")

    def _progress(self, progress: Progress) -> None:
        total, done = int(progress.total), int(progress.done)
        self.row.show_progress(progress, f"{done} of {total} · {progress.message}" if total else "")

    def _item(self, item: Item) -> None:
        if item.skipped:
            self.skipped.append((item.path, str(item.error)))

    def _finished(self, summary: dict) -> None:
        written, failed = summary.get("written", []), summary.get("failed", [])
        self.skipped = [tuple(f) for f in failed]
        verb = "Cancelled after" if summary.get("cancelled") else "Translated"
        text = f"{verb} {len(written)} image{'s' if len(written) != 1 else ''}"
        if failed:
            text += f"; {len(failed)} skipped (unreadable)"
        self._closing = text + "."
        self.details_button.setVisible(bool(failed))
        self.reveal_button.setVisible(bool(written))
        level = "warning" if failed or summary.get("cancelled") else "success"
        self.ctx.notify(text + ".", level)
        self._summary = summary

    def _failed(self, message: str) -> None:
        self._closing = "The folder translation failed."
        self.failed.emit("Folder translation failed", message)

    def _cancelled(self) -> None:  # stopped before the engine could say how far it got
        self._closing = "Cancelled."

    def _idle(self) -> None:
        self.row.end(self._closing)
        self.busy_changed.emit()
        summary, self._summary = self._summary, None
        if summary is not None:  # announced once the box is ready for the next folder
            self.done.emit(summary)

    def _show_skipped(self) -> None:
        dialogs.show_list(self, "Skipped files", f"{len(self.skipped)} files could not be read and were skipped:",
                          [f"{path}: {reason}" for path, reason in self.skipped])

    def _reveal_output(self) -> None:
        if self._output is not None:
            reveal(self._output)
