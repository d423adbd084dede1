"""``studio bench interactive``: does the window stay quick while a model trains, and does training
keep its speed while a person works?

Three things compete for the CPU in the window: the latent canvas (one decode per frame), a
translation (a fast copy at 512×512), and a training run. This measures, in one run on this machine:

- the translation latency at 512×512 of a reference-size ResNet-9 and of a fast copy (the ``fast``
  preset's light generator), alone;
- the canvas's frame time (median and p95 over ``seconds``), alone;
- training steps per second (``cyclegan``, ``fast`` preset, 128 px, on a small synthetic folder), alone;
- then each of the canvas (a cursor dragged for ``seconds``: up to 60 frames a second) and the
  fast-copy translation (``repeats`` of them, a second apart) *while* the run trains, and the run's
  speed meanwhile, for the two ways a window can train: in a supervised child process at a lower priority
  (:mod:`studio.core.train.supervise`, what the window does) and in a thread of the same process
  (sharing torch's thread pool, what it did before).

Figures are medians over the measuring windows; the issue's targets are a canvas p95 of 33 ms, a
translation within 2× of its idle latency and training at ≥ 60% of its speed alone. It asserts
nothing: a busy machine moves every figure, so compare the ratios within one run.
"""

from __future__ import annotations

import math
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from studio.core import nets
from studio.core.images import write_image
from studio.core.jobs import Control, Event, Losses
from studio.core.translate.image_norms import inference_copy

TRANSLATE_SIZE = 512
TEACHER = ("resnet_generator", {"n_blocks": 9, "ngf": 64, "norm": "instance"})
STUDENT = ("mobile_resnet_generator", {"n_blocks": 6, "ngf": 16, "norm": "instance", "upsample": "bilinear"})
WARMUP_STEPS = 4
FRAME_INTERVAL = 1 / 60  # the canvas asks for at most 60 frames a second
TRANSLATION_PAUSE = 1.0  # seconds between two translations while training runs


def synthetic_folders(root: Path, count: int = 12, size: int = 160, seed: int = 0) -> tuple[Path, Path]:
    """Two folders of smooth random colour images (training speed does not depend on content)."""
    rng = np.random.default_rng(seed)
    folders = (root / "A", root / "B")
    for folder in folders:
        for k in range(count):
            coarse = rng.random((size // 16, size // 16, 3)).astype(np.float32)
            image = np.kron(coarse, np.ones((16, 16, 1), np.float32))
            write_image(folder / f"{k:03d}.png", np.clip(image + rng.normal(0, 0.05, image.shape), 0, 1))
    return folders


@dataclass
class Training:
    """A training job driven in a thread; ``rate()`` is its steps per second over a window of time."""

    events: Callable[[Control], Iterator[Event]]
    control: Control = field(default_factory=Control)
    steps: list[tuple[float, int]] = field(default_factory=list)
    error: BaseException | None = None
    thread: threading.Thread | None = None

    def start(self) -> Training:
        def drive() -> None:
            try:
                for event in self.events(self.control):
                    if isinstance(event, Losses):
                        self.steps.append((time.perf_counter(), event.step))
            except BaseException as exc:  # reported by the caller
                self.error = exc

        self.thread = threading.Thread(target=drive, name="bench-training", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 300
        while len(self.steps) < WARMUP_STEPS and self.error is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.error is not None:
            raise self.error
        return self

    def rate(self, since: float, until: float) -> float:
        """Steps finished between ``since`` and ``until`` (perf_counter seconds), per second."""
        return sum(1 for t, _ in self.steps if since <= t <= until) / max(until - since, 1e-9)

    def stop(self) -> None:
        self.control.cancel()
        if self.thread is not None:
            self.thread.join(timeout=120)


def _canvas(seconds: float, frame: Callable[[], Any]) -> tuple[float, float, float, float]:
    """(median ms, p95 ms, start, end) of frames drawn for ``seconds`` as a dragged cursor asks for
    them: one every :data:`FRAME_INTERVAL` at most (a frame that takes longer delays the next)."""
    times, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds:
        t = time.perf_counter()
        frame()
        took = time.perf_counter() - t
        times.append(took * 1000)
        time.sleep(max(0.0, FRAME_INTERVAL - took))
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))], start, time.perf_counter()


def _latency(net: torch.nn.Module, repeats: int, pause: float = 0.0) -> tuple[float, float, float]:
    """(median ms, start, end) of ``repeats`` translations of one 512×512 image, ``pause`` seconds
    apart (a person looks at a result before trying the next photo or strength)."""
    x = torch.rand(1, 3, TRANSLATE_SIZE, TRANSLATE_SIZE) * 2 - 1
    times, start = [], time.perf_counter()
    with torch.inference_mode():
        for _ in range(repeats):
            t = time.perf_counter()
            net(x)
            times.append((time.perf_counter() - t) * 1000)
            time.sleep(pause)
    return statistics.median(times), start, time.perf_counter()


def run_benchmark(seconds: float = 20.0, repeats: int = 7, latent_model: str | None = "faces vae",
                  report: Callable[[str], None] = print) -> dict[str, Any]:
    """Measure everything the module docstring lists; ``report`` gets one line per figure."""
    from studio.core.latent import LatentModel, Renderer, Scene
    from studio.core.train.supervise import training_threads

    torch.manual_seed(0)
    teacher = inference_copy(nets.build(*TEACHER))
    student = inference_copy(nets.build(*STUDENT))
    frame: Callable[[], Any]
    if latent_model:
        model = LatentModel.load(latent_model, device="cpu")
        renderer = Renderer(model)
        anchors = tuple(model.sample_latents(4, seed=0))
        counter = iter(range(10**9))

        def frame() -> Any:
            i = next(counter)
            x, y = 0.5 + 0.4 * math.cos(i / 15), 0.5 + 0.4 * math.sin(i / 15)
            return renderer.render(Scene(anchors, ((1 - x) * (1 - y), x * (1 - y), (1 - x) * y, x * y), "linear"))
    else:
        def frame() -> Any:
            return None

    results: dict[str, Any] = {"threads_here": torch.get_num_threads(), "training_threads": training_threads()}
    canvas_alone = _canvas(seconds, frame)
    teacher_ms = _latency(teacher, max(1, repeats // 2))[0]
    copy_alone = _latency(student, repeats)
    results.update(canvas_ms_median=canvas_alone[0], canvas_ms_p95=canvas_alone[1], teacher_ms=teacher_ms,
                   copy_ms=copy_alone[0], copy_speedup=teacher_ms / copy_alone[0])
    report(f"alone: canvas frame {canvas_alone[0]:.1f} ms median, {canvas_alone[1]:.1f} ms p95; "
           f"512² translation: ResNet-9 {teacher_ms:.0f} ms, fast copy {copy_alone[0]:.0f} ms "
           f"({teacher_ms / copy_alone[0]:.1f}× faster)")
    with tempfile.TemporaryDirectory(prefix="studio-bench-interactive-") as tmp:
        a, b = synthetic_folders(Path(tmp) / "data")
        saved_home = os.environ.get("STUDIO_HOME")
        os.environ["STUDIO_HOME"] = str(Path(tmp) / "home")  # the runs never land among the person's own
        try:
            for mode in ("process", "thread"):
                results[mode] = _compete(mode, a, b, seconds, repeats, frame, student, copy_alone[0], report)
        finally:
            if saved_home is None:
                os.environ.pop("STUDIO_HOME", None)
            else:
                os.environ["STUDIO_HOME"] = saved_home
    return results


def _compete(mode: str, a: Path, b: Path, seconds: float, repeats: int, frame: Callable[[], Any],
             student: torch.nn.Module, copy_idle_ms: float, report: Callable[[str], None]) -> dict[str, float]:
    """A training run in a child process (``mode`` "process") or a thread, with the canvas and then a
    fast-copy translation beside it; the figures of :func:`run_benchmark`."""
    from studio.core.train.job import train_job
    from studio.core.train.presets import run_config
    from studio.core.train.supervise import supervised_train_job

    config = run_config("cyclegan", f"bench-{mode}", "fast", {
        "dir_a": str(a), "dir_b": str(b), "max_steps": 10**6, "checkpoint_every": 10**6, "preview_every": 10**6,
        "checkpoint_minutes": 10.0**6, "workers": 0})
    if mode == "process":
        training = Training(lambda control: supervised_train_job(config, control=control)).start()
    else:
        training = Training(lambda control: train_job(config, control=control)).start()
    try:
        time.sleep(1.0)
        start = time.perf_counter()
        time.sleep(seconds)
        alone = training.rate(start, time.perf_counter())
        canvas = _canvas(seconds, frame)
        during_canvas = training.rate(canvas[2], canvas[3])
        copy = _latency(student, repeats, TRANSLATION_PAUSE)
        during_copy = training.rate(copy[1], copy[2])
    finally:
        training.stop()
    figures = {
        "training_steps_per_s_alone": alone, "canvas_ms_median": canvas[0], "canvas_ms_p95": canvas[1],
        "training_steps_per_s_during_canvas": during_canvas, "copy_ms": copy[0], "copy_slowdown": copy[0] / copy_idle_ms,
        "training_steps_per_s_during_translation": during_copy,
        "training_kept_during_canvas": during_canvas / alone, "training_kept_during_translation": during_copy / alone,
    }
    report(f"training in a {mode}: {alone:.2f} steps/s alone; canvas {canvas[0]:.1f} ms median, {canvas[1]:.1f} ms "
           f"p95 (training kept {figures['training_kept_during_canvas']:.0%}); fast-copy translation {copy[0]:.0f} ms "
           f"({figures['copy_slowdown']:.2f}× idle; training kept {figures['training_kept_during_translation']:.0%})")
    return figures
