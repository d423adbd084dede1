"""The map of a folder: every image's thumbnail where its latent lies (the engine's PCA map), the
latent under the mouse decoded live, a click on a thumbnail to make that image an anchor.

:class:`MapPart` runs the engine's :func:`~studio.core.latent.map_job` in its one TaskSlot, with a
progress bar and Cancel. :class:`MapDecoder` (its own TaskSlot) decodes the point under the cursor:
canvas pixels → :meth:`~studio.core.latent.Layout.to_point` → :func:`~studio.core.latent.map_to_latent`
→ decode, on a long-lived render worker fed through a one-place mailbox, as the canvas's is, so the
preview follows the mouse, stale points are dropped and the window never waits.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QVBoxLayout, QWidget

from studio.core import latent
from studio.core.jobs import Item, Preview, Progress
from studio.core.report import KIND_LABELS
from studio.gui import dialogs
from studio.gui.context import AppContext
from studio.gui.widgets.common import ImageLabel, hint, push_button
from studio.gui.widgets.latent_map import MapView
from studio.gui.worker import TaskSlot

from . import work

MAP_SIZE = 768  # the engine's canvas, in pixels (thumbnails sized by work.map_thumb); the view scales it to fit
ModelLoader = Callable[[], Callable[[], latent.LatentModel] | None]

KIND_HINTS = {
    "ae": "An autoencoder's map shows clusters with gaps between them: a point in a gap decodes to "
          "no image it has learnt.",
    "vae": "A VAE's map is one continuous cloud: every point between the images decodes to a plausible one.",
    "dcgan": "A GAN has no encoder: each image was found by inversion, an optimisation of its latent.",
}
USAGE_HINT = ("Move the mouse over the map to decode the latent under it; click a thumbnail (or press "
              "Enter) to add that image as an anchor.")
GENERAL_HINT = f"{USAGE_HINT} An autoencoder's map shows clusters and gaps; a VAE's is a continuous cloud."


class MapPart(QObject):
    """Maps a folder with the chosen model and shows the map; ``loader()`` gives a function that loads
    the chosen model in a worker (None without a model)."""

    map_ready = Signal()
    add_requested = Signal(object)  # Path: an image of the map to add as an anchor
    failed = Signal(str, str)  # title, message

    def __init__(self, ctx: AppContext, loader: ModelLoader, parent: QWidget):
        super().__init__(parent)
        self.ctx = ctx
        self._view = parent
        self._loader = loader
        self.result: work.MapResult | None = None
        self.folder: Path | None = None
        self.skipped: list[str] = []
        self.slot = TaskSlot(self)
        self.decoder = MapDecoder(self)
        self._build()
        self.slot.progress.connect(self._progress)
        self.slot.item.connect(self._item)
        self.slot.result.connect(self._done)
        self.slot.cancelled.connect(lambda: self.status.setText("Mapping cancelled."))
        self.slot.failed.connect(self._failed)
        self.slot.idle.connect(self._idle)
        self.decoder.failed.connect(self.failed)
        self.decoder.frame_shown.connect(self._frame_shown)

    def _build(self) -> None:
        self.view = MapView()
        self.view.hovered.connect(self._hovered)
        self.view.picked.connect(self._picked)
        self.preview = ImageLabel("The latent under the mouse appears here.", smooth=True)
        self.preview.setMinimumSize(200, 200)
        self.preview_caption = QLabel("", objectName="Muted")
        self.preview_caption.setWordWrap(True)
        self.map_button = push_button("Map a folder…", "folder", primary=True)
        self.map_button.setToolTip("Encode every image of a folder and place it where its latent lies (PCA)")
        self.map_button.clicked.connect(self.ask_folder)
        self.cancel_button = push_button("Cancel", "cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(8)
        self.status = hint("")
        self.anchor_line = hint("No anchors yet.")
        self.kind_hint = hint(GENERAL_HINT)

    def page(self) -> QWidget:
        """The Map tab: the map beside the decoded preview and the map's controls."""
        side = QVBoxLayout()
        side.setSpacing(6)
        side.addWidget(self.preview, 3)
        side.addWidget(self.preview_caption)
        buttons = QHBoxLayout()
        buttons.addWidget(self.map_button, 1)
        buttons.addWidget(self.cancel_button)
        side.addLayout(buttons)
        side.addWidget(self.progress)
        side.addWidget(self.status)
        side.addWidget(self.anchor_line)
        side.addWidget(self.kind_hint)
        side.addStretch(1)
        page = QWidget()
        row = QHBoxLayout(page)
        row.setContentsMargins(0, 8, 0, 0)
        row.setSpacing(12)
        row.addWidget(self.view, 3)
        row.addLayout(side, 2)
        self.update_state(False)
        return page

    @property
    def busy(self) -> bool:
        """Mapping, or a frame under the cursor waiting to be drawn (the decoder idles between frames)."""
        return self.slot.busy or self.decoder.busy

    def update_state(self, ready: bool) -> None:
        """``ready``: a model is chosen."""
        mapping = self.slot.busy
        self.map_button.setEnabled(ready and not mapping)
        self.cancel_button.setVisible(mapping)
        self.progress.setVisible(mapping)

    # -- mapping -------------------------------------------------------------------------------
    def ask_folder(self) -> None:
        folder = dialogs.open_folder(self._view, "Folder of images to map", self.ctx.settings, "latent_map")
        if folder is not None:
            self.map_folder(folder)

    def map_folder(self, folder: str | Path) -> bool:
        """Encode and place the folder's images, in a worker; False without a model."""
        load = self._loader()
        if load is None:
            return False
        self.folder = Path(folder)
        self.forget(f"Mapping {self.folder.name}…")
        self.progress.setRange(0, 0)
        self.slot.start(work.map_folder(load, self.folder, MAP_SIZE), f"mapping {self.folder.name}")
        self.update_state(True)
        return True

    def cancel(self) -> None:
        self.slot.cancel()

    def forget(self, status: str = "") -> None:
        """Another model (or a new map): the map shown is stale."""
        self.slot.detach()
        self.decoder.stop()
        self.result, self.skipped = None, []
        self.view.clear()
        self.preview.set_image(None)
        self.preview_caption.setText("")
        self.status.setText(status)
        self.kind_hint.setText(GENERAL_HINT)

    def set_anchors(self, anchors: list[work.Anchor]) -> None:
        names = ", ".join(f"{i + 1} · {a.path.stem}" for i, a in enumerate(anchors))
        self.anchor_line.setText(f"Anchors: {names}." if anchors else "No anchors yet.")

    def _progress(self, progress: Progress) -> None:
        self.progress.setRange(0, max(1, int(progress.total)))
        self.progress.setValue(int(progress.done))
        what = "Encoding" if progress.message.startswith("encoding") else "Placing"
        self.status.setText(f"{what} {int(progress.done)} of {int(progress.total)} images…")

    def _item(self, item: Item) -> None:
        if item.skipped:
            self.skipped.append(f"{Path(item.path).name}: {item.error}")

    def _done(self, result: work.MapResult) -> None:
        self.result = result
        self.decoder.set_model(result.model)
        self.view.set_map(result.latent_map.layout.size, result.tiles)
        skipped = f"; {len(self.skipped)} unreadable skipped" if self.skipped else ""
        self.status.setText(f"{len(result.tiles)} images of {Path(result.latent_map.folder).name} by "
                            f"{result.model.name} ({KIND_LABELS.get(result.model.kind, result.model.kind)}, "
                            f"PCA){skipped}.")
        self.status.setToolTip("\n".join(self.skipped))
        kind = KIND_HINTS.get(result.model.kind)
        self.kind_hint.setText(f"{kind} {USAGE_HINT}" if kind else GENERAL_HINT)
        self.map_ready.emit()

    def _failed(self, message: str) -> None:
        self.status.setText("")
        self.failed.emit("Cannot map the folder", message)

    def _idle(self) -> None:
        self.update_state(self._loader() is not None)

    # -- the cursor ----------------------------------------------------------------------------
    def _hovered(self, x: float, y: float) -> None:
        if self.result is not None:
            m = self.result.latent_map
            self.decoder.request(m.projection, m.layout, (x, y))

    def _frame_shown(self, _serial: int) -> None:
        cursor = self.view.cursor
        if self.result is None or cursor is None:
            return
        point = self.result.latent_map.layout.to_point(list(cursor)).tolist()
        near = self.view.nearest(cursor)
        where = f" · on {self.view.tiles[near].name}" if near is not None else ""
        self.preview_caption.setText(f"The latent at ({point[0]:+.2f}, {point[1]:+.2f}) on the map's principal "
                                     f"plane{where}")

    def _picked(self, index: int) -> None:
        tile = self.view.tiles[index]
        self.anchor_line.setText(f"Adding {tile.name} as an anchor…")
        self.add_requested.emit(tile.path)


class MapDecoder(QObject):
    """Decodes the latent under a point of the map on a long-lived render worker (this object's TaskSlot)."""

    frame_shown = Signal(int)  # the serial of the request whose frame is now shown
    failed = Signal(str, str)  # title, message

    def __init__(self, part: MapPart):
        super().__init__(part)
        self._part = part
        self._renderer: latent.Renderer | None = None
        self.mailbox = work.LatestRequest()
        self.serial = 0  # of the newest request
        self.shown_serial = 0  # of the request whose frame is shown
        self.frame: QImage | None = None
        self.slot = TaskSlot(self)
        self.slot.preview.connect(self._ready)
        self.slot.log.connect(lambda _level, m: part.preview_caption.setText(m))
        self.slot.failed.connect(lambda m: self.failed.emit("Cannot decode the map", m))

    @property
    def busy(self) -> bool:
        return self.mailbox.pending or self.shown_serial != self.serial

    def set_model(self, model: latent.LatentModel) -> None:
        if self._renderer is None or model is not self._renderer.model:
            self._renderer = latent.Renderer(model)

    def stop(self) -> None:
        self.slot.detach()
        self.mailbox.take(0)
        self.shown_serial = self.serial
        self.frame = None

    def request(self, projection: latent.Projection, layout: latent.Layout, canvas_xy: tuple[float, float]) -> int | None:
        if self._renderer is None:
            return None
        self.serial += 1
        self.mailbox.put(work.MapPointRequest(self.serial, self._renderer, projection, layout, canvas_xy))
        if not self.slot.busy:
            self.slot.start(work.render_loop(self.mailbox), "map decoder")
        return self.serial

    def _ready(self, preview: Preview, image: QImage) -> None:
        self.frame = image
        self.shown_serial = preview.step
        self._part.preview.set_image(image)
        self.frame_shown.emit(self.shown_serial)
