"""A PixelCNN in the explorer: samples drawn pixel by pixel, and images scored in exact bits/dim.

A PixelCNN has no latent space, so the blend, the map, the anchors and the directions do not apply;
when one is chosen the panel shows this part's page instead. Sampling runs
:meth:`~studio.core.latent.PixelModel.sample_job` in this part's sampling TaskSlot (a progress bar
and Cancel, as it runs the network once per pixel); scoring runs in its own TaskSlot.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QSpinBox, QVBoxLayout, QWidget

from studio.core import latent
from studio.core.jobs import Progress
from studio.gui import dialogs
from studio.gui.context import AppContext
from studio.gui.widgets.common import hint, push_button
from studio.gui.widgets.progress_row import ProgressRow
from studio.gui.worker import TaskSlot

from . import work
from .strip import StripView

WHY = ("A PixelCNN has no latent space: it models each pixel given the ones before it, so it gives exact "
       "likelihoods and draws samples pixel by pixel — nothing to blend or map.")
MAX_SAMPLES = 16


class PixelPart(QObject):
    """The chosen PixelCNN's samples and scores; ``set_model(None)`` when a latent model is chosen."""

    samples_ready = Signal()
    scores_ready = Signal()
    failed = Signal(str, str)  # title, message

    def __init__(self, ctx: AppContext, parent: QWidget):
        super().__init__(parent)
        self.ctx = ctx
        self._view = parent
        self._models = work.ModelCache(latent.PixelModel.load)
        self.name: str | None = None
        self.samples: work.PixelSamples | None = None
        self.scores: list[tuple[Path, float | None, str]] = []
        self.sample_slot = TaskSlot(self)
        self.score_slot = TaskSlot(self)
        self._build()
        self.sample_slot.progress.connect(self._sample_progress)
        self.sample_slot.result.connect(self._sampled)
        self.sample_slot.cancelled.connect(lambda: self.progress.end("Sampling cancelled."))
        self.sample_slot.failed.connect(self._sample_failed)
        self.sample_slot.idle.connect(self.update_state)
        self.score_slot.progress.connect(self._score_progress)
        self.score_slot.result.connect(self._scored)
        self.score_slot.failed.connect(self._score_failed)
        self.score_slot.idle.connect(self.update_state)

    def _build(self) -> None:
        self.why = hint(WHY)
        self.count = QSpinBox()
        self.count.setRange(1, MAX_SAMPLES)
        self.count.setValue(4)
        self.count.setSuffix(" samples")
        self.count.setAccessibleName("Number of samples")
        self.seed = QSpinBox()
        self.seed.setRange(0, 999_999)
        self.seed.setPrefix("seed ")
        self.seed.setToolTip("The same seed draws the same images")
        self.seed.setAccessibleName("Seed")
        self.draw_button = push_button("Draw samples", "refresh", primary=True)
        self.draw_button.setToolTip("Draw images pixel by pixel: the network runs once per pixel")
        self.draw_button.clicked.connect(lambda: self.draw())  # not clicked(checked) as a count
        self.progress = ProgressRow("", stacked=False)
        self.progress.cancel_requested.connect(self.sample_slot.cancel)
        self.sample_view = StripView()
        self.sample_view.setMinimumHeight(140)
        self.score_button = push_button("Score images…", "open")
        self.score_button.setToolTip("Each image's exact bits per dimension: lower is more typical of the "
                                     "training images (you can also drop images here)")
        self.score_button.clicked.connect(self.ask_score)
        self.score_status = hint("")
        self.score_list = QListWidget()
        self.score_list.setMaximumHeight(160)
        self.score_list.setAccessibleName("Bits per dimension of each image")

    def page(self) -> QWidget:
        """Shown in place of the Blend and Map tabs while a PixelCNN is chosen."""
        page = QWidget()
        lay = QVBoxLayout(page)
        lay.setContentsMargins(0, 8, 0, 0)
        lay.setSpacing(8)
        lay.addWidget(self.why)
        row = QHBoxLayout()
        for w in (self.count, self.seed, self.draw_button):
            row.addWidget(w)
        row.addStretch(1)
        lay.addLayout(row)
        lay.addWidget(self.progress)
        lay.addWidget(self.sample_view, 1)
        row = QHBoxLayout()
        row.addWidget(self.score_button)
        row.addWidget(self.score_status, 1)
        lay.addLayout(row)
        lay.addWidget(QLabel("Bits per dimension (exact)", objectName="Muted"))
        lay.addWidget(self.score_list)
        self.update_state()
        return page

    @property
    def busy(self) -> bool:
        return self.sample_slot.busy or self.score_slot.busy

    def update_state(self) -> None:
        chosen = self.name is not None
        self.draw_button.setEnabled(chosen and not self.sample_slot.busy)
        self.score_button.setEnabled(chosen and not self.score_slot.busy)

    def set_model(self, name: str | None) -> None:
        """Another model (None: a latent one): whatever was shown belongs to the old one."""
        self.sample_slot.detach()
        self.score_slot.detach()
        self.name = name
        self.samples, self.scores = None, []
        self.sample_view.set_images([])
        self.progress.end("")
        self.score_list.clear()
        self.score_status.setText("")
        self.update_state()

    def shutdown(self) -> None:
        self._models.clear()

    def _loader(self, name: str) -> Callable[[], latent.PixelModel]:
        models, store, device = self._models, self.ctx.store.store, self.ctx.settings.engine_device()
        return lambda: models.get(store, name, device)

    # -- samples -------------------------------------------------------------------------------
    def draw(self, n: int | None = None, seed: int | None = None) -> None:
        """Draw ``n`` samples (default: the spin's) with ``seed`` (default: the spin's), in a worker."""
        if self.name is None:
            return
        n = self.count.value() if n is None else n
        seed = self.seed.value() if seed is None else seed
        self.progress.begin(f"Drawing {n} sample{'s' if n != 1 else ''}, pixel by pixel…")
        self.sample_slot.start(work.pixel_samples(self._loader(self.name), n, seed), f"sampling {self.name}")
        self.update_state()

    def _sample_progress(self, progress: Progress) -> None:
        self.progress.show_progress(progress, f"Row {int(progress.done)} of {int(progress.total)}…")

    def _sampled(self, samples: work.PixelSamples) -> None:
        self.samples = samples
        self.sample_view.set_images(samples.images)
        n = len(samples.images)
        self.progress.end(f"{n} sample{'s' if n != 1 else ''} in {samples.seconds:.1f} s "
                          f"({samples.seconds / n:.2f} s per sample)")
        self.samples_ready.emit()

    def _sample_failed(self, message: str) -> None:
        self.progress.end("")
        self.failed.emit("Cannot draw samples", message)

    # -- scores --------------------------------------------------------------------------------
    def ask_score(self) -> None:
        paths = dialogs.open_files(self._view, "Images to score", dialogs.IMAGE_FILTER, self.ctx.settings,
                                   "latent_score")
        if paths:
            self.score(paths)

    def score(self, paths: Sequence[str | Path]) -> None:
        """Each file's exact bits/dim, computed in a worker and listed."""
        if self.name is None or not paths:
            return
        self.score_status.setText(f"Scoring {len(paths)} image{'s' if len(paths) != 1 else ''}…")
        job = work.pixel_scores(self._loader(self.name), [Path(p) for p in paths])
        self.score_slot.start(job, f"scoring with {self.name}")
        self.update_state()

    def _score_progress(self, progress: Progress) -> None:
        self.score_status.setText(f"Scoring {int(progress.done) + 1} of {int(progress.total)}…")

    def _scored(self, scores: list[tuple[Path, float | None, str]]) -> None:
        self.scores = scores
        self.score_list.clear()
        for path, bits, reason in scores:
            self.score_list.addItem(f"{path.name}  ·  {bits:.3f} bits/dim" if bits is not None
                                    else f"{path.name}  ·  skipped: {reason}")
        scored = sum(bits is not None for _, bits, _ in scores)
        self.score_status.setText(f"{scored} image{'s' if scored != 1 else ''} scored by {self.name}; "
                                  "lower is more typical of its training images.")
        self.scores_ready.emit()

    def _score_failed(self, message: str) -> None:
        self.score_status.setText("")
        self.failed.emit("Cannot score the images", message)
