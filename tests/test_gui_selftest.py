"""``studio --self-test DIR``, as a packaged build runs it: a separate process, exit status, screenshots."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.timeout(300)


def test_self_test_goes_through_every_panel_and_saves_screenshots(tmp_path, studio_home):
    out = tmp_path / "shots"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "studio", "--self-test", str(out)], env=env,
                          capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "14 of 14 steps passed" in done.stderr
    assert "copied 'self-test run'" in done.stderr  # a fast copy of it, made in the Train panel
    assert "with self-test run (a2b)" in done.stderr  # the FastCUT model it trained, in the unpaired panel
    shots = sorted(p.name for p in out.glob("*.png"))
    assert shots == ["1-translate-paired.png", "10-paint.png", "2-translate-unpaired.png", "3-train.png", "3b-translate-trained.png",
                     "3c-fast-copy.png", "4-latent.png", "4b-latent-arithmetic.png", "4c-latent-map.png",
                     "5-models.png", "6-settings.png", "7-about.png", "8-get-models-installing.png",
                     "9-get-models-installed.png"]
    arithmetic = done.stderr.split("ok   latent arithmetic")[1].splitlines()[0]
    assert arithmetic.count(" − ") == 1 and arithmetic.count(" + ") == 1  # "A − B + C decoded"
    assert "images mapped, decoded under the cursor" in done.stderr
    for name in [s for s in shots if not s.startswith(("6-", "7-"))]:  # the settings and about dialogs are small
        with Image.open(out / name) as image:
            window = not name.startswith(("8-", "9-"))  # the Get models dialog is smaller than the window
            least = (1200, 700) if window else (700, 450)
            assert image.size[0] >= least[0] and image.size[1] >= least[1], (name, image.size)
            assert len(np.unique(np.asarray(image.convert("L").resize((64, 40))))) > 20  # drawn, not blank
    assert not any(studio_home.iterdir())  # the self-test never touches the person's own STUDIO_HOME
