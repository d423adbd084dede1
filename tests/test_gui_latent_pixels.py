"""The Latent Explorer with a PixelCNN: no latent space, so only its samples (drawn in a worker, cancellable)
and its exact scores are offered; a latent model brings the explorer back."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from gui_helpers import screenshot, window_fixture, write_photo  # noqa: F401  (the window fixture)
from PySide6.QtCore import Qt
from test_gui_latent import WAIT, save_tiny_vae
from test_latent import photo_folder
from test_pixelcnn import px_config

from studio.core import latent
from studio.core.store import ModelStore
from studio.core.train.job import train_job


@pytest.fixture(name="pixel_explorer")
def pixel_explorer_fixture(window, tmp_path):
    """The explorer over a tiny VAE and a tiny PixelCNN (16 px, trained a few steps), the VAE chosen."""
    events = list(train_job(px_config("tiny-px", photo_folder(tmp_path, junk=False), max_steps=4)))
    assert events[-1].value["model"] == "tiny-px"
    save_tiny_vae()
    window.ctx.store.refresh()
    panel = window.show_panel("latent")
    panel.select_model("tiny-vae")
    return panel


def test_a_pixelcnn_offers_samples_and_exact_scores_only(pixel_explorer, qtbot, tmp_path):
    panel = pixel_explorer
    part = panel.pixel_part
    assert panel.model_names() == ["tiny-vae", "tiny-px"]
    combo = panel.anchor_set.model_combo
    assert "PixelCNN" in combo.itemText(combo.findData("tiny-px"))
    assert panel.pad.isEnabled() and not panel.pixel_page.isVisible()

    # a PixelCNN: its page says why, the blend, map, anchors, strip, arithmetic and directions are off
    panel.select_model("tiny-px")
    assert panel.pixel_chosen() and panel.pixel_page.isVisible() and "no latent space" in part.why.text()
    assert not panel.tabs.isEnabled() and not panel.pad.isEnabled() and not panel.tabs.isVisible()
    assert not any(box.isEnabled() or box.isVisible() for box in panel.latent_boxes)
    assert not panel.command_enabled("open") and "PixelCNN · 16 px" in panel.anchor_set.model_hint.text()

    # two samples, drawn in a worker: exactly the engine's, at the model's size, timed
    model = latent.PixelModel.load("tiny-px", ModelStore(), device=panel.ctx.settings.engine_device())
    part.count.setValue(2)
    part.seed.setValue(3)
    with qtbot.waitSignal(part.samples_ready, timeout=WAIT):
        qtbot.mouseClick(part.draw_button, Qt.MouseButton.LeftButton)
        assert not part.draw_button.isEnabled() and part.progress.cancel_button.isVisible()
    qtbot.waitUntil(lambda: not part.sample_slot.busy, timeout=WAIT)
    assert part.samples.rgb.shape == (2, 16, 16, 3) and len(part.samples.images) == 2
    assert all(image.width() == 16 and image.height() == 16 for image in part.samples.images)
    assert np.array_equal(part.samples.rgb, latent.to_rgb8(model.sample(2, seed=3)))
    assert re.fullmatch(r"2 samples in \d+\.\d s \(\d+\.\d\d s per sample\)", part.progress.status.text())
    assert part.draw_button.isEnabled() and not part.progress.cancel_button.isVisible()
    screenshot(panel.window(), "gui-latent-pixelcnn")

    # cancelled at once: it stops at its first row, the samples shown stay, the buttons come back
    shown = part.samples
    part.count.setValue(16)
    part.draw()
    qtbot.mouseClick(part.progress.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not part.sample_slot.busy, timeout=WAIT)
    assert part.progress.status.text() == "Sampling cancelled." and part.samples is shown
    assert part.draw_button.isEnabled() and not part.progress.cancel_button.isVisible()

    # scores: each file's exact bits/dim, as the engine computes them; an unreadable file is skipped
    paths = [write_photo(tmp_path / f"{name}.png", name) for name in ("astronaut", "coffee")]
    (tmp_path / "broken.png").write_bytes(b"not an image")
    with qtbot.waitSignal(part.scores_ready, timeout=WAIT):
        part.score([*paths, tmp_path / "broken.png"])
    expected = model.score(model.load_images(paths)).tolist()
    bits = [b for _, b, _ in part.scores]
    assert bits[2] is None and all(math.isfinite(b) for b in bits[:2])
    assert bits[:2] == pytest.approx(expected, abs=1e-4)
    assert part.score_list.count() == 3 and "bits/dim" in part.score_list.item(0).text()
    assert "2 images scored" in part.score_status.text()

    # a latent model again: the explorer is back, the PixelCNN's results are gone
    panel.select_model("tiny-vae")
    assert not panel.pixel_chosen() and not panel.pixel_page.isVisible()
    assert panel.tabs.isEnabled() and panel.tabs.isVisible() and panel.pad.isEnabled()
    assert all(box.isEnabled() for box in panel.latent_boxes) and panel.command_enabled("open")
    assert part.samples is None and part.score_list.count() == 0
