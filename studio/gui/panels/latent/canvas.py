"""The live canvas: the pad, the frame at the cursor, the blend controls and random samples.

Frames come from one long-lived render worker (this part's one TaskSlot) fed through a one-place
mailbox (:class:`~.work.LatestRequest`): while the cursor is dragged, requests the worker has not
reached yet are replaced, never queued, so the picture follows the hand and the GUI thread never
decodes. The worker draws each request with the engine's :class:`~studio.core.latent.Renderer`;
this part only builds the :class:`~studio.core.latent.Scene` and shows the QImage that comes back.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.core import latent
from studio.core.jobs import Preview, Progress
from studio.gui.qimages import array_from_qimage
from studio.gui.widgets.common import ImageLabel, push_button, slider_row
from studio.gui.widgets.latent_pad import LatentPad
from studio.gui.worker import TaskSlot

from . import work

MIN_ANCHORS = 2
Offsets = Callable[[], tuple[tuple[torch.Tensor, ...], tuple[float, ...]]]


class Canvas(QObject):
    """Owns the render worker. ``offsets`` gives the directions in use and how far along each."""

    frame_shown = Signal(int)  # the serial of the request whose frame is now shown
    failed = Signal(str, str)  # title, message

    def __init__(self, offsets: Offsets, parent: QObject | None = None):
        super().__init__(parent)
        self._offsets = offsets
        self._renderer: latent.Renderer | None = None
        self._anchors: list[work.Anchor] = []
        self.mailbox = work.LatestRequest()
        self.serial = 0  # of the newest request
        self.shown_serial = 0  # of the request whose frame is shown
        self._frame: QImage | None = None
        self._ms: float | None = None
        self._frame_ms = 0.0  # the Renderer's time for the frame about to arrive
        self.source = "pad"  # or "sample"
        self.sample_seed = 0
        self.slot = TaskSlot(self)
        self._build()
        self._connect()

    def _build(self) -> None:
        self.pad = LatentPad()
        self.result_view = ImageLabel("The blend at the cursor appears here.", smooth=True)
        self.result_view.setMinimumSize(220, 220)
        self.result_caption = QLabel("", objectName="Muted")
        self.result_caption.setWordWrap(True)
        self.speed_label = QLabel("", objectName="Muted")
        self.speed_label.setToolTip("Blend + decode + conversion per frame, on the render worker")

        self.layout_group = QButtonGroup(self)
        self.corners_button = _toggle("Corners")
        self.corners_button.setToolTip("Anchors at the pad's corners; four anchors blend bilinearly")
        self.free_button = _toggle("Free")
        self.free_button.setToolTip("Drag anchors anywhere; inverse-distance weights")
        self.linear_button = _toggle("Linear")
        self.linear_button.setToolTip("Weighted mean of the latents")
        self.spherical_button = _toggle("Spherical")
        self.spherical_button.setToolTip("Weighted spherical mean: blends keep the prior's typical norm")
        self.mode_group = QButtonGroup(self)
        for group, buttons in ((self.layout_group, (self.corners_button, self.free_button)),
                               (self.mode_group, (self.linear_button, self.spherical_button))):
            for b in buttons:
                b.setCheckable(True)
                group.addButton(b)
        self.corners_button.setChecked(True)
        self.spherical_button.setChecked(True)
        self.snap_check = QCheckBox("Snap to anchors")
        self.snap_check.setChecked(True)
        self.snap_check.setToolTip("Near an anchor the cursor lands on it: the result is that anchor's reconstruction")
        self.bar = QHBoxLayout()
        self.bar.setSpacing(6)
        for w in (self.corners_button, self.free_button):
            self.bar.addWidget(w)
        self.bar.addSpacing(14)
        for w in (self.linear_button, self.spherical_button):
            self.bar.addWidget(w)
        self.bar.addSpacing(14)
        self.bar.addWidget(self.snap_check)
        self.bar.addStretch(1)
        self.bar.addWidget(self.speed_label)

    def sample_box(self) -> QGroupBox:
        box = QGroupBox("Sample")
        lay = QVBoxLayout(box)
        row, self.temperature, _, self.temperature_value = slider_row(
            "Temperature", 0, 150, 100, "Spread of random latents: lower is closer to the average image",
            shown="1.00", width=32)
        lay.addLayout(row)
        self.sample_button = push_button("Random sample", "refresh")
        lay.addWidget(self.sample_button)
        self.temperature.valueChanged.connect(self._temperature_changed)
        self.sample_button.clicked.connect(lambda: self.random_sample())  # not clicked(checked) as a seed
        return box

    def _connect(self) -> None:
        self.pad.cursor_changed.connect(self._pad_moved)
        self.pad.anchors_changed.connect(self._pad_moved)
        self.layout_group.buttonClicked.connect(
            lambda b: self.pad.set_layout_mode("free" if b is self.free_button else "corners"))
        self.mode_group.buttonClicked.connect(lambda _b: self.request_render())
        self.snap_check.toggled.connect(self._snap_toggled)
        self.slot.progress.connect(self._frame_timed)
        self.slot.preview.connect(self._frame_ready)
        self.slot.log.connect(lambda _lvl, m: self.result_caption.setText(m))
        self.slot.failed.connect(lambda m: self.failed.emit("Rendering failed", m))

    # -- state from the panel ------------------------------------------------------------------
    def set_model(self, model: latent.LatentModel | None) -> None:
        if self._renderer is None or model is not self._renderer.model:
            self._renderer = None if model is None else latent.Renderer(model)

    def set_anchors(self, anchors: list[work.Anchor]) -> None:
        """New anchors: the pad shows them and the blend is drawn again."""
        self._anchors = list(anchors)
        self.source = "pad"
        self.pad.set_anchors([a.thumb for a in anchors], [a.name for a in anchors])

    def clear_frame_if_no_blend(self) -> None:
        if len(self._anchors) < MIN_ANCHORS and self.source == "pad":
            self._frame = None
            self.result_view.set_image(None)

    @property
    def busy(self) -> bool:
        """A frame is waiting or being drawn (the worker idles between frames)."""
        return self.mailbox.pending or self.shown_serial != self.serial

    # -- rendering -----------------------------------------------------------------------------
    def _pad_moved(self) -> None:
        self.source = "pad"
        (self.free_button if self.pad.layout_mode == "free" else self.corners_button).setChecked(True)
        self.request_render()

    def _snap_toggled(self, on: bool) -> None:
        self.pad.snap = on
        self.pad.set_cursor(self.pad.cursor)

    def blend_mode(self) -> str:
        return "spherical" if self.spherical_button.isChecked() else "linear"

    def scene(self) -> latent.Scene | None:
        """What the canvas shows now, for the engine's Renderer (None: nothing to draw)."""
        directions, amounts = self._offsets()
        if self.source == "sample":
            return latent.Scene(sample=(self.temperature_value_f(), self.sample_seed), directions=directions,
                                amounts=amounts)
        if len(self._anchors) >= MIN_ANCHORS:
            return latent.Scene(tuple(a.latent for a in self._anchors), tuple(self.pad.weights()), self.blend_mode(),
                                directions=directions, amounts=amounts)
        return None

    def request_render(self) -> int | None:
        """Ask the render worker for the frame of the current state; returns the request's serial."""
        renderer = self._renderer
        scene = self.scene() if renderer is not None else None
        if renderer is None or scene is None:
            return None
        self.serial += 1
        self.mailbox.put(work.RenderRequest(self.serial, renderer, scene))
        if not self.slot.busy:
            self.slot.start(work.render_loop(self.mailbox), "latent renderer")
        return self.serial

    def _frame_timed(self, progress: Progress) -> None:
        self._frame_ms = float(progress.stats.get("ms", 0.0))

    def _frame_ready(self, preview: Preview, image: QImage) -> None:
        self._frame = image
        self.shown_serial = preview.step
        ms = self._frame_ms
        self._ms = ms if self._ms is None else 0.8 * self._ms + 0.2 * ms
        self.result_view.set_image(self._frame)
        device = self._renderer.model.device.type if self._renderer is not None else ""
        self.speed_label.setText(f"{self._ms:.1f} ms/frame · {device}")
        self.result_caption.setText(self._describe())
        self.frame_shown.emit(self.shown_serial)

    def _describe(self) -> str:
        if self.source == "sample":
            return f"Random sample · temperature {self.temperature_value_f():.2f} · seed {self.sample_seed}"
        snapped = self.pad.snapped
        if snapped is not None and snapped < len(self._anchors):
            return f"Snapped to anchor {snapped + 1} ({self._anchors[snapped].name}): its reconstruction"
        weights = self.pad.weights()
        parts = [f"{i + 1}: {w * 100:.0f}%" for i, w in enumerate(weights) if w >= 0.005]
        return f"{self.blend_mode().capitalize()} blend · " + ", ".join(parts)

    @property
    def frame(self) -> QImage | None:
        """The frame shown now (the latest the worker delivered)."""
        return self._frame

    def frame_rgb(self) -> np.ndarray | None:
        return None if self._frame is None else array_from_qimage(self._frame)

    @property
    def ms_per_frame(self) -> float | None:
        return self._ms

    # -- sampling ------------------------------------------------------------------------------
    def temperature_value_f(self) -> float:
        return self.temperature.value() / 100.0

    def _temperature_changed(self, value: int) -> None:
        self.temperature_value.setText(f"{value / 100:.2f}")
        if self.source == "sample":
            self.request_render()

    def random_sample(self, seed: int | None = None) -> None:
        """Show a latent drawn from the prior at the chosen temperature (the pad's cursor brings the blend back)."""
        self.sample_seed = int(seed) if seed is not None else int(np.random.default_rng().integers(1, 1_000_000))
        self.source = "sample"
        self.request_render()


def _toggle(text: str) -> QToolButton:
    """A checkable text button (one of a segmented pair; the style marks the checked one)."""
    button = QToolButton()
    button.setText(text)
    button.setCheckable(True)
    button.setMinimumWidth(72)
    return button


def result_column(canvas: Canvas, anchor_caption: QLabel, anchor_strip: QWidget) -> QVBoxLayout:
    """The frame at the cursor, its caption, and the anchors' row under it."""
    box = QVBoxLayout()
    box.setSpacing(6)
    box.addWidget(canvas.result_view, 3)
    box.addWidget(canvas.result_caption)
    box.addWidget(anchor_caption)
    box.addWidget(anchor_strip)
    return box
