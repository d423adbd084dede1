"""A model's card as readable HTML, with the training curves of the run that made it (read in a
worker: a long run's losses file takes a moment)."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QLabel, QSplitter, QTextBrowser, QVBoxLayout, QWidget

from studio.core import jobs, paths, report
from studio.core.store import ModelInfo
from studio.gui import resources
from studio.gui.widgets.common import hint
from studio.gui.widgets.plots import LossPlot, read_losses
from studio.gui.worker import TaskSlot


def _table(rows: list[tuple[str, str]], muted: str) -> str:
    """(label, HTML) rows as a two-column table; the labels are escaped here, the values by the caller."""
    return "<table cellspacing=3>" + "".join(
        f"<tr><td style='color:{muted}; padding-right:12px; white-space:nowrap'>{html.escape(key)}</td>"
        f"<td>{value}</td></tr>" for key, value in rows) + "</table>"


def card_html(info: ModelInfo) -> str:
    """The card as readable HTML: what the model is, where it came from, what was measured."""
    muted = resources.colors()["muted"]
    view = report.card_view(info)
    esc = html.escape

    def escaped(rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(key, esc(value)) for key, value in rows]

    folder = f"<a href='{QUrl.fromLocalFile(str(info.path)).toString()}'>{esc(str(info.path))}</a>"
    overview = [*escaped(view.overview[:-1]), ("Folder", folder)]
    provenance, metrics = escaped(view.provenance), escaped(view.metrics)
    parts = [
        f"<h2 style='margin-bottom:2px'>{esc(view.title)}</h2>",
        f"<p style='color:{muted}; margin-top:0'>{esc(view.description)}</p>",
        f"<p><b>Limits:</b> {esc(view.limits)}</p>" if view.limits else "",
        _table(overview, muted),
        f"<h4 style='color:{muted}'>Networks</h4>{_table(escaped(view.networks), muted)}",
        f"<h4 style='color:{muted}'>Provenance</h4>",
        _table(provenance, muted) if provenance else "<p>—</p>",
        f"<h4 style='color:{muted}'>Metrics</h4>",
        _table(metrics, muted) if metrics else f"<p style='color:{muted}'>No metrics measured yet.</p>",
    ]
    return "".join(parts)


class ModelDetails(QSplitter):
    """The selected model's card above its training curves; owns the task that reads the curves."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(Qt.Orientation.Vertical, parent)
        self._curves_task = TaskSlot(self)
        self._curves_task.result.connect(self._curves_loaded)
        self._shown: str | None = None
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(False)
        self.browser.setOpenLinks(False)
        self.browser.anchorClicked.connect(lambda url: QDesktopServices.openUrl(url))
        self.curves = LossPlot()
        self.curves_label = QLabel("Training curves", objectName="Muted")
        self.curves_hint = hint("")
        curves_box = QWidget()
        curves_layout = QVBoxLayout(curves_box)
        curves_layout.setContentsMargins(0, 4, 0, 0)
        curves_layout.addWidget(self.curves_label)
        curves_layout.addWidget(self.curves, 1)
        curves_layout.addWidget(self.curves_hint)
        self.addWidget(self.browser)
        self.addWidget(curves_box)
        self.setSizes([420, 300])
        self.setChildrenCollapsible(False)

    def show_model(self, info: ModelInfo | None) -> None:
        """Show ``info``'s card and start reading its run's curves; a placeholder when None."""
        self.curves.clear()
        self._shown = None if info is None else info.name
        if info is None:
            self.browser.setHtml(f"<p style='color:{resources.colors()['muted']}'>Select a model to see its card.</p>")
            self._set_curves_hint("")
            return
        self.browser.setHtml(card_html(info))
        run = info.card.get("provenance", {}).get("run")
        losses = paths.runs_dir() / run / "losses.jsonl" if run else None
        if losses is not None and losses.is_file():
            self._set_curves_hint("Loading the training curves…")
            name = info.name
            self._curves_task.start(jobs.returning(lambda control, p=losses: (name, read_losses(p))),
                                    f"reading {losses}")
        else:
            why = ("The run that trained it is no longer in the runs folder." if run
                   else "No training curves: this model was not trained in this Studio.")
            self._set_curves_hint(why)

    def _set_curves_hint(self, text: str, has_curves: bool = False) -> None:
        self.curves.setVisible(has_curves)
        self.curves_label.setVisible(has_curves)
        self.curves_hint.setText(text)
        self.curves_hint.setVisible(bool(text))

    def _curves_loaded(self, value: tuple[str, dict]) -> None:
        name, series = value
        if name != self._shown:  # the person moved on to another model meanwhile
            return
        if series:
            self.curves.set_series(series)
            self._set_curves_hint("", has_curves=True)
        else:
            self._set_curves_hint("The run has no recorded losses.")
