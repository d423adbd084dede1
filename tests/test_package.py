"""The standalone app (build.spec): build it, run its self-test in a clean environment, check the shots.

Slow (minutes, several GB on disk): ``make package-test`` runs it after ``make package`` and passes the
bundle it built in ``STUDIO_BUNDLE``; run on its own (``pytest -m slow tests/test_package.py``) it builds
the bundle itself into dist/ first, as ``make package`` does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

ROOT = Path(__file__).resolve().parents[1]
EXE_NAME = "studio.exe" if sys.platform == "win32" else "studio"
SHOTS = ["1-translate-paired.png", "10-paint.png", "2-translate-unpaired.png", "3-train.png", "3b-translate-trained.png",
         "3c-fast-copy.png", "4-latent.png", "4b-latent-arithmetic.png", "4c-latent-map.png", "5-models.png",
         "6-settings.png", "7-about.png", "8-get-models-installing.png", "9-get-models-installed.png"]


@pytest.fixture(scope="module")
def bundle() -> Path:
    given = os.environ.get("STUDIO_BUNDLE")
    if given:
        folder = Path(given).resolve()
        assert (folder / EXE_NAME).is_file(), f"STUDIO_BUNDLE={given} holds no {EXE_NAME}"
        return folder
    pytest.importorskip("PyInstaller", reason="pip install '.[package]' to build the standalone app")
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", "build.spec"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-5000:]
    sys.stderr.write(f"built dist/studio in {time.monotonic() - started:.0f} s\n")
    return ROOT / "dist" / "studio"


def _data_dir(bundle: Path) -> Path:
    """sys._MEIPASS of a one-folder bundle: _internal/ (PyInstaller >= 6), or the folder itself."""
    internal = bundle / "_internal"
    return internal if internal.is_dir() else bundle


def _clean_env(tmp_path: Path) -> dict[str, str]:
    """Nothing from the venv or the source tree: no PYTHONPATH, no VIRTUAL_ENV, a bare PATH."""
    home = tmp_path / "home"
    studio_home = tmp_path / "studio_home"
    home.mkdir()
    studio_home.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "STUDIO_HOME": str(studio_home),
           "QT_QPA_PLATFORM": "offscreen"}
    if sys.platform == "win32":  # Windows cannot start a process without these
        env.update({k: os.environ[k] for k in ("SYSTEMROOT", "TEMP", "TMP") if k in os.environ})
        env["PATH"] = os.environ.get("SYSTEMROOT", r"C:\Windows") + r"\System32"
    return env


def test_bundle_holds_resources_and_starter_models(bundle):
    data = _data_dir(bundle)
    for name in ("style.qss", "themes.json", "icons", "samples"):
        assert (data / "resources" / name).exists(), f"resources/{name} is not in the bundle"
    assert len(list((data / "resources" / "samples").iterdir())) >= 2
    cards = sorted(p.parent.relative_to(ROOT / "models") for p in (ROOT / "models").glob("*/card.json"))
    for model in cards:
        assert (data / "models" / model / "card.json").is_file(), f"starter model {model} is not in the bundle"
        assert any((data / "models" / model).glob("*.safetensors")), f"{model} has no weights in the bundle"


def test_bundle_self_test_in_a_clean_environment(bundle, tmp_path):
    out = tmp_path / "shots"
    work = tmp_path / "cwd"  # outside the source tree: nothing can be imported from it
    work.mkdir()
    env = _clean_env(tmp_path)
    started = time.monotonic()
    done = subprocess.run([str(bundle / EXE_NAME), "--self-test", str(out)], cwd=work, env=env,
                          capture_output=True, text=True, timeout=1800)
    seconds = time.monotonic() - started
    sys.stderr.write(f"bundle self-test: {seconds:.0f} s\n{done.stderr[-2000:]}\n")
    assert done.returncode == 0, done.stderr[-5000:]
    assert "14 of 14 steps passed" in done.stderr, done.stderr[-3000:]
    assert "ok   fast copy" in done.stderr  # training in a child process: the frozen app's own job-worker
    assert sorted(p.name for p in out.glob("*.png")) == SHOTS
    for name in SHOTS:
        with Image.open(out / name) as image:
            pixels = np.asarray(image.convert("RGB"))
        if not name.startswith(("6-", "7-", "8-", "9-")):  # the main window, not a dialog
            assert image.size[0] >= 1200 and image.size[1] >= 700, f"{name} is {image.size}"
        else:  # dialogs
            assert image.size[0] >= 200 and image.size[1] >= 100, f"{name} is {image.size}"
        assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50, f"{name} is (nearly) one colour"
        assert pixels.std() > 10, f"{name} is blank"
    # the self-test works in its own scratch STUDIO_HOME, never the one it was given
    assert not any(Path(env["STUDIO_HOME"]).iterdir())
