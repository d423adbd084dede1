"""The training panel: configure a run, start / pause / resume / stop it, watch it learn.

The run is the engine's ``train_job`` in a child process (``supervise.supervised_train_job``: a
crash or an out-of-memory kill ends the child, not the window, and the run resumes; the child runs
at a lower priority so the canvas and translations stay quick), driven from a worker thread: its
events feed the stats, the preview of fixed samples (A→B→A), the loss curves and the run log. Interrupted runs are listed and resume
where their last checkpoint left them. A finished run's model appears in the model manager.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QSize, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.core import report
from studio.core.jobs import Checkpoint, Control, Losses, Preview, Progress, returning
from studio.core.report import KIND_LABELS
from studio.core.train.job import list_runs, read_run, run_dir
from studio.core.train.kinds import TRAINERS
from studio.core.train.presets import run_config
from studio.core.train.supervise import supervised_train_job
from studio.gui import resources
from studio.gui.widgets.common import ImageLabel, hint, lay_out_panel, push_button, side_column, tool_button
from studio.gui.widgets.plots import LossPlot, read_losses
from studio.gui.worker import TaskSlot

from .base import Panel
from .train_form import TrainForm

log = logging.getLogger(__name__)

def _loss_history(name: str) -> dict[str, tuple[list[float], list[float]]]:
    """A run's recorded losses up to its last checkpoint (later records are trained again on resume)."""
    losses = run_dir(name) / "losses.jsonl"
    if not losses.is_file():
        return {}
    upto = read_run(run_dir(name)).get("step")
    series = read_losses(losses)
    if isinstance(upto, int):
        series = {key: ([s for s in steps if s <= upto], [v for s, v in zip(steps, values, strict=True) if s <= upto])
                  for key, (steps, values) in series.items()}
    return series


class _Stat(QWidget):
    def __init__(self, caption: str):
        super().__init__()
        self.value = QLabel("—", objectName="Stat")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(QLabel(caption, objectName="StatCaption"))
        layout.addWidget(self.value)

    def set(self, text: str) -> None:
        self.value.setText(text)


class TrainPanel(Panel):
    key = "train"
    title = "Train"
    subtitle = "Train or fine-tune a model on your own folders. Runs can be paused, stopped and resumed."
    icon_name = "train"

    run_started = Signal(str)
    run_finished = Signal(object)  # the value of the job's Finished: {"run", "step", "cancelled", "model"}
    state_text_changed = Signal(str)

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(ctx, parent)
        self._slot = TaskSlot(self)
        # A resumed run's recorded curves are read off the GUI thread (losses.jsonl grows with the run);
        # this second slot only reads that file, for the curves part of the panel.
        self._history = TaskSlot(self)
        self._history.result.connect(lambda series: self.losses.prepend(series))
        self._run_name: str | None = None
        self._run_kind = ""
        self._step = 0
        self._total = 0
        self._state = "idle"  # idle, starting, running, pausing, paused, stopping
        self._run_over = False  # the run reported its end; its worker may still wind down: no long work
        self._build()
        self._connect()
        self.refresh_runs()
        self._set_state("idle")

    # -- layout --------------------------------------------------------------------------------
    def _build(self) -> None:
        self.form = TrainForm(self.ctx)
        self.start_button = push_button("Start", "play", primary=True)
        self.start_button.setToolTip("Start training (F5)")
        self.pause_button = push_button("Pause", "pause")
        self.pause_button.setToolTip("Pause or resume (Space); a checkpoint is written when it pauses")
        self.stop_button = push_button("Stop", "stop", danger=True)
        self.stop_button.setToolTip("Stop after writing a checkpoint; the run can be resumed (Shift+F5)")
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button, 2)
        buttons.addWidget(self.pause_button, 1)
        buttons.addWidget(self.stop_button, 1)
        self.problem_label = hint("")
        self.problem_label.setObjectName("Warn")

        runs_box = QGroupBox("Runs")
        runs_layout = QVBoxLayout(runs_box)
        self.runs = QTreeWidget()
        self.runs.setHeaderLabels(["Run", "Kind", "State", "Step"])
        self.runs.setRootIsDecorated(False)
        self.runs.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.runs.setMinimumHeight(130)
        header = self.runs.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2, 3):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.resume_button = push_button("Resume", "play")
        self.resume_button.setToolTip("Continue the selected run from its last checkpoint")
        self.run_folder_button = tool_button("reveal", "Show the run's folder", flat=False)
        refresh = tool_button("refresh", "Refresh the list", flat=False)
        refresh.clicked.connect(self.refresh_runs)
        run_buttons = QHBoxLayout()
        run_buttons.addWidget(self.resume_button, 1)
        run_buttons.addWidget(self.run_folder_button)
        run_buttons.addWidget(refresh)
        runs_layout.addWidget(self.runs)
        runs_layout.addLayout(run_buttons)

        scroll = side_column([self.form, buttons, self.problem_label, runs_box], 400, right_margin=6)

        stats = QFrame(objectName="Card")
        stats_layout = QGridLayout(stats)
        stats_layout.setContentsMargins(14, 10, 14, 10)
        self.stat_run = _Stat("Run")
        self.stat_state = _Stat("State")
        self.stat_step = _Stat("Step")
        self.stat_speed = _Stat("Speed")
        self.stat_eta = _Stat("Time left")
        self.stat_epoch = _Stat("Epoch")
        for column, stat in enumerate((self.stat_run, self.stat_state, self.stat_step, self.stat_speed,
                                       self.stat_eta, self.stat_epoch)):
            stats_layout.addWidget(stat, 0, column)
        for column in range(6):
            stats_layout.setColumnStretch(column, 2 if column == 0 else 1)
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        stats_layout.addWidget(self.progress, 1, 0, 1, 6)

        self.preview = ImageLabel("The preview of fixed samples appears here while training")
        self.preview_caption = QLabel("Preview", objectName="Muted")
        preview_box = QWidget()
        preview_layout = QVBoxLayout(preview_box)
        preview_layout.setContentsMargins(0, 0, 0, 0)
        preview_layout.addWidget(self.preview_caption)
        preview_layout.addWidget(self.preview, 1)

        self.losses = LossPlot()
        losses_box = QWidget()
        losses_layout = QVBoxLayout(losses_box)
        losses_layout.setContentsMargins(0, 0, 0, 0)
        losses_layout.addWidget(QLabel("Losses", objectName="Muted"))
        losses_layout.addWidget(self.losses, 1)

        self.run_log = QPlainTextEdit(readOnly=True, objectName="Log")
        self.run_log.setMaximumBlockCount(3000)
        self.run_log.setPlaceholderText("The run's log")

        upper = QSplitter(Qt.Orientation.Horizontal)
        upper.addWidget(preview_box)
        upper.addWidget(losses_box)
        upper.setSizes([500, 500])
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(upper)
        right.addWidget(self.run_log)
        right.setSizes([460, 160])

        right_column = QVBoxLayout()
        right_column.setSpacing(10)
        right_column.addWidget(stats)
        right_column.addWidget(right, 1)

        lay_out_panel(self, (scroll, 0), (right_column, 1))

    def _connect(self) -> None:
        self.start_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.stop)
        self.resume_button.clicked.connect(self._resume_selected)
        self.run_folder_button.clicked.connect(self._reveal_selected)
        self.runs.itemSelectionChanged.connect(self._update_buttons)
        self.runs.itemDoubleClicked.connect(lambda _item, _col: self._resume_selected())
        self.form.changed.connect(self._update_buttons)
        self._slot.progress.connect(self._on_progress)
        self._slot.losses.connect(self._on_losses)
        self._slot.preview.connect(self._on_preview)
        self._slot.checkpoint.connect(self._on_checkpoint)
        self._slot.log.connect(self._on_log)
        self._slot.result.connect(self._on_finished)
        self._slot.failed.connect(self._on_failed)
        self._slot.idle.connect(self._on_idle)

    # -- commands ------------------------------------------------------------------------------
    def commands(self) -> dict[str, Any]:
        return {"start": self.start, "pause": self.toggle_pause, "stop": self.stop}

    def command_enabled(self, name: str) -> bool:
        if name == "start":
            return not self._slot.busy
        if name == "pause":
            return self._state in ("running", "paused", "pausing")
        if name == "stop":
            return self._state in ("starting", "running", "paused", "pausing")
        return False

    def activate(self, argument: object = None) -> None:
        if isinstance(argument, dict) and argument.get("kind"):
            self.form.set_kind(str(argument["kind"]))
            if argument.get("teacher"):  # "Make a fast copy…": a new copy, named after its teacher unless renamed
                self.form.name.clear()
                self.form.set_teacher(str(argument["teacher"]), argument.get("direction"))
        self.refresh_runs()

    @property
    def state(self) -> str:
        return self._state

    @property
    def run_name(self) -> str | None:
        return self._run_name

    # -- starting ------------------------------------------------------------------------------
    def start(self) -> None:
        """Start a new run from the form; what is missing is shown instead of starting."""
        if self._slot.busy:
            return
        problems = self.form.problems()
        if self.form.scanning():
            problems.append("The folders are still being checked; start again in a moment.")
        if problems:
            self.problem_label.setText("\n".join(problems))
            self.problem_label.show()
            self.ctx.notify(problems[0], "warning")
            return
        kind, name, preset_name = self.form.current_kind(), self.form.run_name(), self.form.preset.currentData()
        options, base_model = self.form.options(), self.form.base_model()
        store = self.ctx.store.store

        def job(control: Control):
            # In the worker: the base model's card is read from the store, off the GUI thread.
            config = run_config(kind, name, preset_name, options, base_model, store)
            yield from supervised_train_job(config, control=control)  # its own process: see supervise.py

        self._run_kind = kind
        self._begin(name, job, f"Starting {KIND_LABELS[kind]} run “{name}” ({preset_name} preset)")

    def resume(self, name: str) -> None:
        """Continue an interrupted or stopped run from its last checkpoint."""
        if self._slot.busy:
            return
        def job(control: Control):
            yield from supervised_train_job(resume=name, control=control)

        self._run_kind = next((r.get("kind", "") for r in list_runs() if r.get("name") == name), "")
        self._begin(name, job, f"Resuming run “{name}”")
        self._history.start(returning(lambda _control: _loss_history(name)), f"reading the curves of {name}")

    def _begin(self, name: str, job, message: str) -> None:
        self.problem_label.hide()
        self._history.detach()  # a previous resume's curves must not land on this run's
        self._run_name = name
        self._step, self._total, self._run_over = 0, 0, False
        self.losses.clear()
        self.preview.set_image(None)
        self.preview_caption.setText("Preview")
        self.run_log.clear()
        self.run_log.appendPlainText(message)
        self.stat_run.set(name)
        for stat in (self.stat_step, self.stat_speed, self.stat_eta, self.stat_epoch):
            stat.set("—")
        self.progress.setRange(0, 0)
        self._slot.start(job, f"training {name}")
        self._set_state("starting")
        self.run_started.emit(name)

    def toggle_pause(self) -> None:
        if self._state in ("running",):
            self._slot.pause()
            self._set_state("pausing")
        elif self._state in ("paused", "pausing"):
            self._slot.resume()
            self._set_state("running")

    def stop(self) -> None:
        if self._state in ("starting", "running", "paused", "pausing"):
            self._slot.cancel()
            self._set_state("stopping")

    # -- events --------------------------------------------------------------------------------
    def _on_progress(self, progress: Progress) -> None:
        self._step, self._total = int(progress.done), int(progress.total)
        self.progress.setRange(0, max(1, self._total))
        self.progress.setValue(self._step)
        self.stat_step.set(f"{self._step:,} / {self._total:,}")
        rate = progress.stats.get("it_per_s")
        if rate:
            self.stat_speed.set(f"{rate:.2f} it/s" if rate < 100 else f"{rate:.0f} it/s")
        self.stat_eta.set(report.clock(progress.stats.get("eta_s")) if self._step < self._total else "0:00")
        if "epoch" in progress.stats:
            self.stat_epoch.set(str(int(progress.stats["epoch"]) + 1))
        if self._state == "starting":
            self._set_state("running")

    def _on_losses(self, losses: Losses) -> None:
        self.losses.append(losses.step, losses.values)

    def _on_preview(self, preview: Preview, image: Any) -> None:
        if image is not None:
            self.preview.set_image(image)
            trainer = TRAINERS.get(self._run_kind)
            layout = trainer.preview_layout if trainer is not None else "fixed samples"
            self.preview_caption.setText(f"Preview at step {preview.step:,} · {layout}")

    def _on_checkpoint(self, checkpoint: Checkpoint) -> None:
        self.run_log.appendPlainText(f"checkpoint at step {checkpoint.step} ({checkpoint.reason})")

    def _on_log(self, level: str, message: str) -> None:
        prefix = "" if level == "info" else f"{level.upper()}: "
        self.run_log.appendPlainText(prefix + message)
        if message.startswith("paused at step"):
            self._set_state("paused")
            self.losses.flush()

    def _on_finished(self, data: dict) -> None:
        self._run_over = True
        name = data.get("run", self._run_name)
        if data.get("cancelled"):
            self.stat_eta.set("—")
            self.ctx.notify(f"Run “{name}” stopped at step {data.get('step')}. It can be resumed from the Runs list.",
                            "warning")
        else:
            self.ctx.store.refresh()
            model = data.get("model")
            self.ctx.notify(f"Training finished: model “{model}” is in the model manager.", "success",
                            ("Show", lambda m=model: self.ctx.navigate("models", m)))
        self.run_finished.emit(data)

    def _on_failed(self, message: str) -> None:
        self.run_log.appendPlainText(f"ERROR: {message}")
        self.ctx.error("Training could not continue", message)

    def _on_idle(self) -> None:
        self.losses.flush()
        self.progress.setRange(0, max(1, self._total))
        self._set_state("idle")
        self.refresh_runs()

    # -- state ---------------------------------------------------------------------------------
    def _set_state(self, state: str) -> None:
        self._state = state
        labels = {"idle": "Ready", "starting": "Starting…", "running": "Training", "pausing": "Pausing…",
                  "paused": "Paused", "stopping": "Stopping…"}
        if state != "idle" or self._run_name is None:
            self.stat_state.set(labels[state])
        else:
            self.stat_state.set("Finished" if self._step and self._step >= self._total else "Stopped")
        self.pause_button.setText("Resume" if state in ("paused", "pausing") else "Pause")
        self.pause_button.setIcon(resources.icon("play" if state in ("paused", "pausing") else "pause"))
        self.form.set_enabled_for_run(state == "idle")
        self.state_text_changed.emit(state)
        self._update_buttons()

    def _update_buttons(self) -> None:
        self.start_button.setEnabled(self.command_enabled("start"))
        self.pause_button.setEnabled(self.command_enabled("pause"))
        self.stop_button.setEnabled(self.command_enabled("stop"))
        item = self.runs.currentItem()
        run = item.data(0, Qt.ItemDataRole.UserRole) if item else None
        self.resume_button.setEnabled(bool(run and run.get("resumable")) and not self._slot.busy)
        self.run_folder_button.setEnabled(run is not None)
        self.state_changed.emit()

    def refresh_runs(self) -> None:
        selected = self.selected_run()
        self.runs.clear()
        for run in list_runs():
            total = run.get("total_steps", "?")
            item = QTreeWidgetItem([run.get("name", "?"), KIND_LABELS.get(run.get("kind", ""), run.get("kind", "?")),
                                    run.get("state", "?"), f"{run.get('step', 0)} / {total}"])
            item.setData(0, Qt.ItemDataRole.UserRole, run)
            tip = "Resumable: it continues from its last checkpoint" if run.get("resumable") else ""
            if run.get("model"):
                tip = f"Published model: {run['model']}"
            for column in range(4):
                item.setToolTip(column, tip)
            self.runs.addTopLevelItem(item)
            if run.get("name") == selected:
                self.runs.setCurrentItem(item)
        self._update_buttons()

    def selected_run(self) -> str | None:
        item = self.runs.currentItem()
        return item.data(0, Qt.ItemDataRole.UserRole).get("name") if item else None

    def select_run(self, name: str) -> None:
        for index in range(self.runs.topLevelItemCount()):
            item = self.runs.topLevelItem(index)
            if item.text(0) == name:
                self.runs.setCurrentItem(item)
                return
        raise KeyError(f"no run named {name!r} in the list")

    def _resume_selected(self) -> None:
        item = self.runs.currentItem()
        run = item.data(0, Qt.ItemDataRole.UserRole) if item else None
        if run and run.get("resumable"):
            self.resume(run["name"])

    def _reveal_selected(self) -> None:
        name = self.selected_run()
        if name:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(run_dir(name))))

    # -- closing -------------------------------------------------------------------------------
    def long_work(self) -> str | None:
        if not self._slot.busy or self._run_over:
            return None
        where = f" (step {self._step:,} of {self._total:,})" if self._total else ""
        return f"Training run “{self._run_name}” is in progress{where}."

    def request_stop(self) -> None:
        self.stop()

    def sizeHint(self) -> QSize:
        return QSize(1100, 720)
