"""benchmarks/unpaired_quality.py: its styles, its baseline row and one tiny contender run."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from studio.core.evaluate import metrics

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "unpaired_quality.py"


def _load_benchmark():
    spec = importlib.util.spec_from_file_location("unpaired_quality", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _load_benchmark()


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("task")
    bench.build_task(root, "colour", crops=8, size=32, held_out_crops=4, seed=0)
    return root


def _photo() -> np.ndarray:
    rng = np.random.default_rng(1)
    return (rng.random((48, 48, 3)) * 255).round().astype(np.uint8)


@pytest.mark.parametrize("style", bench.STYLES)
def test_styles_are_deterministic_and_change_the_image(style: str) -> None:
    f, photo = bench.style_function(style), _photo()
    once, again = f(photo), f(photo.copy())
    assert once.shape == photo.shape and once.dtype == np.uint8
    np.testing.assert_array_equal(once, again)
    assert np.abs(once.astype(int) - photo.astype(int)).mean() > 10


def test_crops_are_shared_out_evenly() -> None:
    assert bench.crop_counts(160, 7) == [23, 23, 23, 23, 23, 23, 22]
    assert sum(bench.crop_counts(8, 7)) == 8


def test_task_folders_hold_two_different_crop_sets_and_the_held_out_photo(task: Path) -> None:
    a, b = sorted((task / "A").glob("*.png")), sorted((task / "B").glob("*.png"))
    assert len(a) == len(b) == 8
    assert not any(p.name.startswith("coffee") for p in a + b)
    held = bench.load_held_out(task)
    assert len(held["x"]) == len(held["fx"]) == 4
    assert min(held["whole_x"].shape[:2]) == bench.WHOLE_SIDE
    # B is not f(A): the domains are unpaired
    first_a, first_b = bench.load_folder(task / "A")[0], bench.load_folder(task / "B")[0]
    styled_a = bench.colour_style((first_a * 255).round().astype(np.uint8)) / 255.0
    assert np.abs(styled_a - first_b).mean() > 0.01


def test_identity_row_is_the_direct_psnr(task: Path) -> None:
    rows = bench.baseline_rows(task)
    held = bench.load_held_out(task)
    direct = np.mean([metrics.psnr(x, fx) for x, fx in zip(held["x"], held["fx"], strict=True)])
    assert rows["identity"]["psnr_db"] == pytest.approx(direct)
    assert rows["target f(x)"]["checkerboard_median"] == pytest.approx(1.0)


def test_a_tiny_contender_run_writes_finite_figures(task: Path, tmp_path: Path) -> None:
    result = tmp_path / "fastcut.json"
    args = {"root": str(task), "out": str(tmp_path), "size": 32, "minutes": 0.05, "seed": 0, "max_steps": 3,
            "contender": "fastcut", "result": str(result)}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "STUDIO_HOME": str(tmp_path / "home")}
    subprocess.run(bench.child_command(args), check=True, env=env, timeout=120, capture_output=True)
    row = json.loads(result.read_text())
    assert row["steps"] == 3
    for key in ("psnr_db", "ssim", "kid", "checkerboard_median", "checkerboard_whole", "nyquist_power_median",
                "nyquist_power_whole", "seconds_per_step"):
        assert math.isfinite(row[key]), key
    assert Path(row["sheet"]).is_file()


def test_a_kept_task_folder_is_reused_with_the_settings_it_was_built_with(tmp_path: Path) -> None:
    folder = tmp_path / "kept"
    bench.main(["--task", str(folder), "--build-only", "--crops", "8", "--size", "32", "--held-out-crops", "2",
                "--style", "poster", "--seed", "3"])
    assert len(list((folder / "A").glob("*.png"))) == 8
    first = (folder / "A").iterdir().__next__().read_bytes()
    # Another run asks for other settings: the kept task wins and is not rebuilt.
    opts = bench.parse(["--task", str(folder), "--crops", "160", "--size", "128", "--style", "colour"])
    assert bench.task_folder(folder, opts) == folder
    assert (opts.style, opts.crops, opts.size, opts.held_out_crops, opts.seed) == ("poster", 8, 32, 2, 3)
    assert (folder / "A").iterdir().__next__().read_bytes() == first
    with pytest.raises(SystemExit, match="--task"):
        bench.main(["--build-only"])
