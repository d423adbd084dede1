"""Loss curves with pyqtgraph: appended live during training, or loaded from a run's losses.jsonl."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from studio.gui import resources

# Distinct, colour-blind-friendly line colours (Okabe-Ito), in the order losses first appear.
LINE_COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#8c6d31", "#7f7f7f")
MAX_LOSS_RECORDS = 200_000


class LossPlot(QWidget):
    """One curve per loss name against the step; redraws at most twice a second.

    The view range is managed here rather than by pyqtgraph's auto-range: it grows in jumps
    (round numbers with headroom), so the axes, whose tick layout pyqtgraph recomputes in Python
    whenever the range moves, are laid out again a few times per run instead of every redraw.
    """

    def __init__(self, placeholder: str = "Loss curves appear here once training starts",
                 parent: QWidget | None = None):
        super().__init__(parent)
        pg.setConfigOptions(antialias=True)
        self.plot = pg.PlotWidget()
        self.plot.setMinimumHeight(160)
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.plot.setLabel("bottom", "step")
        item = self.plot.getPlotItem()
        item.setClipToView(True)
        item.setDownsampling(auto=True, mode="peak")
        item.hideButtons()
        item.layout.setContentsMargins(4, 8, 12, 4)
        self.plot.disableAutoRange()
        self.plot.setRange(xRange=(0, 10), yRange=(0, 5), padding=0)  # where most runs start
        self._follow = True  # until the person zooms or pans; a double-click follows again
        item.getViewBox().sigRangeChangedManually.connect(lambda *_: setattr(self, "_follow", False))
        self.plot.scene().sigMouseClicked.connect(self._clicked)
        # A Qt label as the legend: pyqtgraph's LegendItem costs ~20 ms of Python per entry to lay
        # out, paid on the GUI thread while a run has just started.
        self.legend = QLabel(objectName="Hint")
        self.legend.setWordWrap(True)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        # room for two lines from the start, so that names arriving never resize the plot
        self.legend.setFixedHeight(2 * self.legend.fontMetrics().lineSpacing() + 4)
        # The placeholder lies over the empty plot instead of replacing it: the plot's first paint
        # (its slowest) then happens when the panel is shown, not when a run has just started.
        self.placeholder = QLabel(placeholder, self.plot, objectName="Hint")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.placeholder.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.legend)
        layout.addWidget(self.plot, 1)
        self._steps: dict[str, list[float]] = {}
        self._values: dict[str, list[float]] = {}
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._dirty = False
        self._timer = QTimer(self, interval=500)
        self._timer.timeout.connect(self._redraw)
        self._timer.start()
        self._style()

    def clear(self) -> None:
        for curve in self._curves.values():
            self.plot.removeItem(curve)
        self.legend.clear()
        self._curves.clear()
        self._steps.clear()
        self._values.clear()
        self._dirty = False
        self._follow = True
        self.placeholder.show()

    def append(self, step: float, values: dict[str, float]) -> None:
        for name, value in values.items():
            self._steps.setdefault(name, []).append(float(step))
            self._values.setdefault(name, []).append(float(value))
        self._dirty = True

    def set_series(self, series: dict[str, tuple[list[float], list[float]]]) -> None:
        self.clear()
        for name, (steps, values) in series.items():
            self._steps[name] = list(steps)
            self._values[name] = list(values)
        self._dirty = True
        self._redraw()
        self.plot.autoRange(padding=0.05)  # a finished run: fit it tightly, once

    def prepend(self, series: dict[str, tuple[list[float], list[float]]]) -> None:
        """Put recorded ``series`` (a resumed run's curves so far, read in a worker) before what has
        been appended meanwhile."""
        for name, (steps, values) in series.items():
            self._steps[name] = [*map(float, steps), *self._steps.get(name, [])]
            self._values[name] = [*map(float, values), *self._values.get(name, [])]
        self._dirty = True
        self._redraw()

    def flush(self) -> None:
        """Draw what has arrived now rather than at the next tick (a run just ended or paused)."""
        self._redraw()

    def names(self) -> list[str]:
        return list(self._steps)

    def count(self, name: str) -> int:
        return len(self._steps.get(name, []))

    def _clicked(self, event) -> None:
        if event.double():
            self._follow = True
            self._dirty = True
            self._redraw()

    def _redraw(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        if not self._steps:
            return
        self.placeholder.hide()
        added = False
        bounds = []
        for name in self._steps:
            curve = self._curves.get(name)
            if curve is None:
                color = LINE_COLORS[len(self._curves) % len(LINE_COLORS)]
                curve = self.plot.plot(pen=pg.mkPen(color, width=1.4))
                self._curves[name] = curve
                added = True
            xs, ys = np.asarray(self._steps[name]), np.asarray(self._values[name])
            curve.setData(xs, ys)
            finite = ys[np.isfinite(ys)]
            if xs.size and finite.size:
                bounds.append((xs.min(), xs.max(), finite.min(), finite.max()))
        if added:
            self.legend.setText("&nbsp;&nbsp; ".join(
                f"<span style='color:{LINE_COLORS[i % len(LINE_COLORS)]}'>■</span>&nbsp;{name}"
                for i, name in enumerate(self._curves)))
        if bounds and self._follow:
            lows, highs = np.min(bounds, axis=0), np.max(bounds, axis=0)
            self._follow_data(lows[0], highs[1], lows[2], highs[3])

    def _follow_data(self, x_min: float, x_max: float, y_min: float, y_max: float) -> None:
        (x0, x1), (y0, y1) = self.plot.getViewBox().viewRange()
        new_x = (x0, x1)
        if x_max > x1 or x_min < x0 or x1 - x0 > 4 * max(x_max - x_min, 10):
            new_x = (x_min, x_min + _nice_ceiling(max(x_max - x_min, 10) * 1.2))
        new_y = (y0, y1)
        span = max(y_max - y_min, 1e-6)
        if y_min < y0 or y_max > y1 or y1 - y0 > 4 * span:
            # losses are mostly positive: keep zero in view, and leave headroom so that noise does
            # not move the axis at every redraw
            low = min(0.0, y_min - 0.1 * span)
            new_y = (low, low + _nice_ceiling((y_max - low) * 1.3))
        if (new_x, new_y) != ((x0, x1), (y0, y1)):
            self.plot.setRange(xRange=new_x, yRange=new_y, padding=0)

    def _style(self) -> None:
        c = resources.colors()
        self.plot.setBackground(c["plot_bg"])
        for axis in ("left", "bottom"):
            item = self.plot.getAxis(axis)
            item.setPen(pg.mkPen(c["border"]))
            item.setTextPen(pg.mkPen(c["plot_fg"]))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.placeholder.setGeometry(self.plot.rect().adjusted(40, 20, -20, -30))

    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.StyleChange):
            self._style()
        super().changeEvent(event)


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 1.5, 2, 3, 5, 7.5 × 10^k that is at least ``value``."""
    exponent = 10 ** np.floor(np.log10(value))
    for factor in (1, 1.5, 2, 3, 5, 7.5, 10):
        if factor * exponent >= value:
            return float(factor * exponent)
    return float(10 * exponent)


def read_losses(path: Path, limit: int = MAX_LOSS_RECORDS) -> dict[str, tuple[list[float], list[float]]]:
    """Loss series from a run's ``losses.jsonl`` (thinned evenly when longer than ``limit``)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    stride = max(1, len(lines) // limit)
    series: dict[str, tuple[list[float], list[float]]] = {}
    for line in lines[::stride]:
        try:
            record = json.loads(line)
            step = float(record["step"])
            losses = record["losses"]
        except (ValueError, KeyError, TypeError):
            continue
        for name, value in losses.items():
            steps, values = series.setdefault(name, ([], []))
            steps.append(step)
            values.append(float(value))
    return series
