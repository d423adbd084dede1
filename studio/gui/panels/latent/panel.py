"""The Latent Explorer: anchor images on a pad, a cursor that blends their latents, live decoding.

The panel composes its parts, each owning at most one TaskSlot (a new request cancels its stale
one): :class:`~.anchors.AnchorSet` (the model and the anchors), :class:`~.canvas.Canvas` (the pad
and the render worker), :class:`~.strip.StripPart` (the interpolation strip and its export),
:class:`~.directions.PcaPart` and :class:`~.directions.AttributePart` (directions to move along),
:class:`~.arithmetic.ArithmeticPart` (C + s·(A − B)) and :class:`~.map_view.MapPart` (a folder's
map, in the "Map" tab beside the pad's "Blend"). A PixelCNN has no latent space: when one is chosen
:class:`~.pixel_part.PixelPart` (its samples and scores) replaces them all. The panel wires the parts
together, lays them out and keeps the API the tests and the self-test drive.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PySide6.QtCore import QSize, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage
from PySide6.QtWidgets import QHBoxLayout, QTabWidget, QVBoxLayout, QWidget

from studio.core import latent
from studio.core.images import is_image_file
from studio.gui.context import AppContext
from studio.gui.panels.base import Panel
from studio.gui.widgets.common import dropped_paths, lay_out_panel, side_column

from . import work
from .anchors import MIN_ANCHORS, AnchorSet
from .arithmetic import ArithmeticPart
from .canvas import Canvas, result_column
from .directions import AttributePart, PcaPart
from .map_view import MapPart
from .pixel_part import PixelPart
from .strip import StripPart


class LatentExplorerPanel(Panel):
    key = "latent"
    title = "Latent Explorer"
    subtitle = ("Blend, interpolate, sample, add and map the latent space of a VAE, autoencoder, flow or GAN "
                "trained on your images; sample and score with a PixelCNN.")
    icon_name = "latent"

    anchors_ready = Signal()  # the anchors were (re-)encoded
    frame_shown = Signal(int)  # the serial of the request whose frame is now shown
    strip_ready = Signal(object)  # work.Strip
    exported = Signal(str)
    directions_ready = Signal()

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self.setAcceptDrops(True)
        self.anchor_set = AnchorSet(ctx, self)
        self.canvas = Canvas(self._offsets, self)
        self.strip_part = StripPart(ctx, self._offsets, self.canvas.blend_mode, self)
        self.pca = PcaPart(ctx, self)
        self.attribute = AttributePart(ctx, self)
        self.arithmetic = ArithmeticPart(ctx, self)
        self.map_part = MapPart(ctx, self.anchor_set.model_loader, self)
        self.pixel_part = PixelPart(ctx, self)
        self.pad = self.canvas.pad
        self._offered_examples = False
        self._build()
        self._connect()
        self._fill_models()

    def _build(self) -> None:
        canvas = QHBoxLayout()
        canvas.setSpacing(12)
        canvas.addWidget(self.pad, 3)
        canvas.addLayout(result_column(self.canvas, self.anchor_set.anchor_caption, self.anchor_set.anchor_strip), 2)
        blend = QWidget()
        blend_layout = QVBoxLayout(blend)
        blend_layout.setContentsMargins(0, 8, 0, 0)
        blend_layout.setSpacing(8)
        blend_layout.addLayout(canvas, 1)
        blend_layout.addLayout(self.canvas.bar)
        self.tabs = QTabWidget(documentMode=True)
        self.tabs.addTab(blend, "Blend")
        self.tabs.addTab(self.map_part.page(), "Map")
        self.tabs.setTabToolTip(1, "A folder's images where their latents lie; the latent under the mouse, decoded")
        left = QVBoxLayout()
        left.setSpacing(8)
        self.pixel_page = self.pixel_part.page()
        left.addWidget(self.tabs, 1)
        left.addWidget(self.pixel_page, 1)
        left.addWidget(self.strip_part.strip_frame)
        self.arithmetic_box = self.arithmetic.box()
        self.latent_boxes = [self.anchor_set.anchors_box(), self.strip_part.box(), self.arithmetic_box,
                             self.canvas.sample_box(), self.pca.box(), self.attribute.box()]
        self.side = side_column([self.anchor_set.model_box(), *self.latent_boxes], 300)
        lay_out_panel(self, (left, 1), (self.side, 0))

    def _connect(self) -> None:
        self.ctx.store.changed.connect(self._fill_models)
        for part in (self.anchor_set, self.canvas, self.strip_part, self.strip_part.export, self.pca, self.attribute,
                     self.arithmetic, self.map_part, self.pixel_part):
            part.failed.connect(self._fail)
        self.anchor_set.model_chosen.connect(self._model_chosen)
        self.anchor_set.changed.connect(self._update_state)
        self.anchor_set.anchors_changed.connect(self._anchors_updated)
        self.anchor_set.anchors_ready.connect(self.anchors_ready)
        self.anchor_set.slot.idle.connect(self._update_state)
        self.canvas.frame_shown.connect(self.frame_shown)
        self.strip_part.strip_ready.connect(self._strip_done)
        self.strip_part.slot.idle.connect(self._update_state)
        self.strip_part.export.exported.connect(self.exported)
        self.pca.moved.connect(self.request_render)
        self.pca.reset_requested.connect(self.reset_directions)
        self.pca.pca_folder_button.clicked.connect(lambda: self.pca.ask_folder(self.model))
        self.pca.ready.connect(self._directions_done)
        self.attribute.moved.connect(self.request_render)
        self.attribute.ready.connect(self._directions_done)
        self.attribute.slot.idle.connect(self._update_state)
        self.map_part.add_requested.connect(lambda path: self.add_images([path]))

    # -- commands ------------------------------------------------------------------------------
    def commands(self) -> dict[str, Any]:
        return {"open": self.anchor_set.ask_add, "save": self.strip_part.export.ask}

    def command_enabled(self, name: str) -> bool:
        if name == "open":
            return self.current_model_name() is not None and not self.pixel_chosen()
        if name == "save":
            return self.strip is not None
        return name in self.commands()

    def is_idle(self) -> bool:
        """The render workers (the pad's, the map's) idle between frames; each is busy only with a frame to draw."""
        loops = (self.canvas.slot, self.map_part.decoder.slot)
        slots = [s for s in self.task_slots() if s not in loops]
        return not any(s.busy for s in slots) and not self.canvas.busy and not self.map_part.decoder.busy

    def _update_state(self) -> None:
        ready = self.model is not None
        self.anchor_set.update_state()
        self.strip_part.update_state(ready)
        self.canvas.sample_button.setEnabled(ready)
        self.pca.update_state(ready)
        self.attribute.update_state(ready)
        self.arithmetic.update_state(ready)
        self.map_part.update_state(self.model_loader_ready())
        self._show_pixel_mode(self.pixel_chosen())
        self.state_changed.emit()

    def _show_pixel_mode(self, pixel: bool) -> None:
        """A PixelCNN's page in place of the latent parts, which are disabled as well as hidden."""
        for widget in (self.tabs, self.strip_part.strip_frame, *self.latent_boxes):
            widget.setEnabled(not pixel)
            widget.setVisible(not pixel)
        self.pixel_page.setVisible(pixel)
        self.pixel_part.update_state()

    # -- models --------------------------------------------------------------------------------
    def current_model_name(self) -> str | None:
        return self.anchor_set.current_model_name()

    @property
    def model(self) -> latent.LatentModel | None:
        return self.anchor_set.model

    def model_names(self) -> list[str]:
        """The models offered (latent ones, then PixelCNNs), in the combo's order."""
        return self.anchor_set.model_names()

    def pixel_chosen(self) -> bool:
        """A PixelCNN is chosen: only its samples and scores are offered."""
        return self.anchor_set.pixel_chosen()

    def model_loader_ready(self) -> bool:
        return self.anchor_set.model_loader() is not None

    def select_model(self, name: str) -> None:
        self.anchor_set.select_model(name)

    def _fill_models(self) -> None:
        if not self.anchor_set.fill_models():
            self._update_state()

    def _model_chosen(self) -> None:
        """Whatever came from the old model is stale."""
        self._set_model(None)
        self.pca.directions = None
        self.attribute.direction = None
        self.strip_part.forget()
        self.arithmetic.forget()
        self.map_part.forget()
        self.pixel_part.set_model(self.current_model_name() if self.pixel_chosen() else None)

    def _set_model(self, model: latent.LatentModel | None) -> None:
        self.canvas.set_model(model)
        self.strip_part.set_model(model)
        self.attribute.model = model
        self.arithmetic.set_model(model)

    # -- anchors -------------------------------------------------------------------------------
    @property
    def anchors(self) -> list[work.Anchor]:
        return self.anchor_set.anchors

    def example_paths(self) -> list[Path]:
        return self.anchor_set.example_paths()

    def add_examples(self) -> None:
        """Place the example images shipped with the chosen model as anchors."""
        self.anchor_set.add_examples()

    def activate(self, argument: object = None) -> None:
        """Shown for the first time with an empty pad and a model that ships examples: place them, so
        the canvas can be dragged at once."""
        if self._offered_examples:
            return
        self._offered_examples = True
        if not self.anchors and not self.anchor_set.encoding and len(self.example_paths()) >= MIN_ANCHORS:
            self.add_examples()

    def add_images(self, paths: list[str | Path]) -> None:
        """Encode images as new anchors (up to six in all), in a worker."""
        self.anchor_set.add_images(paths)

    def clear_anchors(self) -> None:
        self.anchor_set.clear()

    def remove_anchor(self, index: int) -> None:
        self.anchor_set.remove(index)

    def _anchors_updated(self) -> None:
        anchors = self.anchor_set.anchors
        self._set_model(self.anchor_set.model)
        self.strip_part.set_anchors(anchors)
        self.canvas.set_anchors(anchors)
        self.arithmetic.set_anchors(anchors)
        self.map_part.set_anchors(anchors)
        self.pca.anchors_changed(tuple(a.latent for a in anchors))
        self.canvas.clear_frame_if_no_blend()
        self._update_state()

    # -- live rendering ------------------------------------------------------------------------
    def blend_mode(self) -> str:
        return self.canvas.blend_mode()

    def _offsets(self) -> tuple[tuple[torch.Tensor, ...], tuple[float, ...]]:
        """The directions in use and how far along each (PCA sliders, then the attribute)."""
        rows: list[torch.Tensor] = []
        amounts: list[float] = []
        self.pca.offsets(rows, amounts)
        self.attribute.offsets(rows, amounts)
        return tuple(rows), tuple(amounts)

    def request_render(self) -> int | None:
        """Ask the render worker for the frame of the current state; returns the request's serial."""
        return self.canvas.request_render()

    @property
    def serial(self) -> int:
        """The serial of the newest render request."""
        return self.canvas.serial

    @property
    def shown_serial(self) -> int:
        """The serial of the request whose frame is shown."""
        return self.canvas.shown_serial

    @property
    def frame(self) -> QImage | None:
        """The frame shown now (the latest the worker delivered)."""
        return self.canvas.frame

    def frame_rgb(self) -> np.ndarray | None:
        return self.canvas.frame_rgb()

    @property
    def ms_per_frame(self) -> float | None:
        return self.canvas.ms_per_frame

    def random_sample(self, seed: int | None = None) -> None:
        """Show a latent drawn from the prior at the chosen temperature (the pad's cursor brings the blend back)."""
        self.canvas.random_sample(seed)

    # -- strip ---------------------------------------------------------------------------------
    def make_strip(self, a: int | None = None, b: int | None = None, steps: int | None = None) -> None:
        if self.strip_part.make(a, b, steps):
            self._update_state()

    def _strip_done(self, strip: work.Strip) -> None:
        self._update_state()
        self.strip_ready.emit(strip)

    @property
    def strip(self) -> work.Strip | None:
        return self.strip_part.strip

    def set_playing(self, on: bool) -> None:
        self.strip_part.set_playing(on)

    @property
    def playing(self) -> bool:
        return self.strip_part.playing

    def export_strip(self, path: str | Path) -> None:
        """``.png`` (or other image suffix): a horizontal strip; ``.gif``: a loop; no suffix: a folder of frames."""
        self.strip_part.export.export(path)

    # -- directions ----------------------------------------------------------------------------
    def reset_directions(self) -> None:
        self.pca.reset_sliders()
        self.attribute.attribute_strength.setValue(0)
        self.request_render()

    def directions_from_folder(self, folder: str | Path) -> None:
        self.pca.from_folder(self.model, folder)

    def _directions_done(self) -> None:
        self._update_state()
        self.directions_ready.emit()

    def compute_attribute(self) -> None:
        self.attribute.compute()
        self._update_state()

    def save_direction(self, path: str | Path) -> None:
        self.attribute.save(path)

    def load_direction(self, path: str | Path) -> None:
        self.attribute.load(path)

    # -- drag and drop -------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(is_image_file(p) for p in dropped_paths(event)):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        images = [p for p in dropped_paths(event) if p.is_file() and is_image_file(p)]
        if images and self.pixel_chosen():
            self.pixel_part.score(images)
        elif images and self.current_model_name() is not None:
            self.add_images(images)
        elif images:
            self.ctx.notify("Choose a latent model (VAE, autoencoder, flow or DCGAN) first (train one in Train).", "warning")
        event.acceptProposedAction()

    # -- errors and shutdown -------------------------------------------------------------------
    def _fail(self, title: str, message: str) -> None:
        self.anchor_set.reset_status()
        self.ctx.error(title, message)
        self._update_state()

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        self.strip_part.player.stop()
        super().shutdown(timeout_ms)
        self.anchor_set.shutdown()
        self.pixel_part.shutdown()

    def sizeHint(self) -> QSize:
        return QSize(1100, 720)
