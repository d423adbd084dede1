"""The ONNX export row: which part to export and where, the export job with its progress and
Cancel (beside the quick store operations: an export takes a while), and the parity figure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QVBoxLayout, QWidget

from studio.core import export, report
from studio.core.export import export_onnx_job
from studio.core.jobs import Progress
from studio.core.store import ModelInfo
from studio.gui import dialogs
from studio.gui.widgets.progress_row import ProgressRow
from studio.gui.worker import TaskSlot

PART_LABELS = {"a2b": "A → B", "b2a": "B → A", "encoder": "encoder (image → latent)",
               "decoder": "decoder (latent → image)", "forward": "forward (image → latent)",
               "inverse": "inverse (latent → image)"}
CANCELLED = "ONNX export cancelled; nothing was written."


class OnnxExport(QWidget):
    """``exported(result)``: an export finished (the job's Finished value); ``busy_changed``: an
    export started or its thread ended."""

    exported = Signal(object)
    busy_changed = Signal()

    def __init__(self, ctx: Any, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.slot = TaskSlot(self)
        self.row = ProgressRow(bar_width=220)
        self._closing_message: str | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.row)
        self.row.cancel_requested.connect(self.cancel)
        self.slot.progress.connect(self._progress)
        self.slot.result.connect(self._result)
        self.slot.failed.connect(self._failed)
        self.slot.cancelled.connect(lambda: self._close_with(CANCELLED))
        self.slot.idle.connect(self._idle)
        self.hide()  # no gap in the panel's layout until the first export; its closing line stays after

    @property
    def busy(self) -> bool:
        return self.slot.busy

    def ask(self, info: ModelInfo) -> None:
        """Ask for the part (when the model has several) and the file, then export."""
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
            self.start(info.name, path, part)

    def start(self, name: str, path: str | Path, part: str | None = None) -> None:
        """Export in a worker, with progress; the parity figure is shown when it is done."""
        store = self.ctx.store.store
        self._closing_message = None
        self.show()
        self.row.begin(f"Exporting {name}{f' ({part})' if part else ''} to ONNX…")
        self.slot.start(lambda control: export_onnx_job(name, path, part, store=store, control=control),
                        f"exporting {name} to ONNX")
        self.busy_changed.emit()

    def cancel(self) -> None:
        self.slot.cancel()
        self.row.set_message("Cancelling the ONNX export…")

    def _progress(self, progress: Progress) -> None:
        self.row.show_progress(progress, f"ONNX export: {progress.message}…" if progress.message else "")

    def _result(self, done: dict) -> None:
        if done.get("cancelled"):
            self._close_with(CANCELLED)
            return
        self._close_with(report.onnx_summary(done))
        path = Path(done["path"])
        self.ctx.notify(f"Exported {done['model']} ({done['part']}) to {path.name}", "success",
                        ("Show", lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent)))))
        self.exported.emit(done)

    def _failed(self, message: str) -> None:
        self._close_with(f"ONNX export failed: {message}")
        self.ctx.error("The ONNX export failed", message)

    def _close_with(self, message: str) -> None:
        """The line that stays once the bar goes; shown now, kept by :meth:`_idle`."""
        self._closing_message = message
        self.row.set_message(message)

    def _idle(self) -> None:
        self.row.end(self._closing_message or "")
        self.busy_changed.emit()
