"""``studio bench paint``: how long a stroke takes to show its picture, the Paint panel's live update.

A stroke changes the label map (a round brush dragged a few dozen pixels); the figure is the time from
the changed map to the picture as 8-bit RGB, ready to show: what the panel's renderer does for every
map it takes from its mailbox. The map starts as the model's segmentation of the first sample photo (resources/samples) when the
model has a segmenter (a realistic painting), else as blocks of its classes. The baseline, measured in
the same run on the same maps, is the paper's SPADE generator at the same class count (untrained: only
its cost counts), so the ratio says what the light generator buys on this machine.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from studio.core import nets
from studio.core.images import load_rgb_uint8
from studio.core.paths import resources_dir
from studio.core.store import LoadedModel, ModelStore

from .painter import Painter

BASELINE_STROKES = 3  # the paper's generator takes seconds per picture on a CPU


def stroke(labels: np.ndarray, rng: np.random.Generator, classes: int, radius: int = 8) -> np.ndarray:
    """``labels`` with one brush stroke of a random class: a disc dragged along a short random line."""
    height, width = labels.shape
    out = labels.copy()
    y0, x0 = rng.integers(0, height), rng.integers(0, width)
    angle, length = rng.uniform(0, 2 * np.pi), rng.integers(16, 48)
    value = int(rng.integers(0, classes))
    yy, xx = np.mgrid[0:height, 0:width]
    for t in np.linspace(0.0, 1.0, 12):
        cy, cx = y0 + t * length * np.sin(angle), x0 + t * length * np.cos(angle)
        out[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] = value
    return out


def starting_map(painter: Painter, size: int) -> np.ndarray:
    photos = sorted((resources_dir() / "samples").glob("*.jpg"))
    if painter.segmenter is not None and photos:
        return painter.segment(load_rgb_uint8(photos[0], (size, size)))
    blocks = np.random.default_rng(0).integers(0, painter.classes, (size // 32 + 1, size // 32 + 1))
    return np.repeat(np.repeat(blocks, 32, 0), 32, 1)[:size, :size].astype(np.uint8)


def time_strokes(paint: Callable[[np.ndarray], np.ndarray], labels: np.ndarray, strokes: int,
                 classes: int, seed: int = 0) -> list[float]:
    """Milliseconds per stroke: the map changed, painted, and brought to 8-bit RGB."""
    rng = np.random.default_rng(seed)
    paint(labels)  # warm-up: the first call builds oneDNN's kernels
    times = []
    for _ in range(strokes):
        labels = stroke(labels, rng, classes)
        started = time.perf_counter()
        picture = paint(labels)
        np.rint(picture * 255.0).astype(np.uint8)
        times.append(1000.0 * (time.perf_counter() - started))
    return times


def stroke_latency(store: ModelStore, model: str, size: int = 256, strokes: int = 30, threads: int | None = None,
                   report: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Time ``strokes`` strokes on a ``size``² painting with ``model``, and the baseline; print and return figures."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        loaded = store.load(model)
        painter = Painter(loaded, device="cpu")
        labels = starting_map(painter, size)
        times = time_strokes(lambda m: painter.paint(m, 0), labels, strokes, painter.classes)
        paper = nets.build("spade_generator", {"label_nc": painter.classes})
        baseline = Painter(LoadedModel(loaded.info, {"G": paper}), device="cpu")
        base_times = time_strokes(lambda m: baseline.paint(m, 0), labels, BASELINE_STROKES, painter.classes)
    finally:
        torch.set_num_threads(before)
    p50, p95 = statistics.median(times), float(np.percentile(times, 95))
    base = statistics.median(base_times)
    results = {
        "model": model, "size": size, "strokes": strokes, "threads": threads or before,
        "stroke_ms_p50": round(p50, 1), "stroke_ms_p95": round(p95, 1), "stroke_ms_max": round(max(times), 1),
        "paper_generator_ms_p50": round(base, 1), "speedup_vs_paper": round(base / p50, 1),
        "target_ms": 150, "met": p95 <= 150,
    }
    report(f"{model}: a stroke on a {size}×{size} painting shows its picture in {p50:.0f} ms (median), "
           f"{p95:.0f} ms (p95), {max(times):.0f} ms (worst) over {strokes} strokes, "
           f"{threads or before} thread(s)")
    report(f"the paper's SPADE generator on the same maps: {base:.0f} ms ({base / p50:.1f}× slower); "
           f"target ≤ 150 ms: {'met' if p95 <= 150 else 'NOT met'} at p95")
    return results
