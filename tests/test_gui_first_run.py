"""The first minute: with starter (built-in) models, the app shows a translation and a draggable canvas
without the person opening anything."""

from __future__ import annotations

import numpy as np
import pytest
from gui_helpers import screenshot, uint8, window_fixture, write_photo  # noqa: F401  (the window fixture)
from helpers import save_pix2pix
from test_gui_latent import save_tiny_vae

from studio.core.images import read_image
from studio.core.store import ModelStore
from studio.core.translate import Translator
from studio.gui import resources

pytestmark = pytest.mark.timeout(120)
WAIT = 60_000


@pytest.fixture
def starter_window(builtin_dir, tmp_path, request):
    """A window over built-in models: a pix2pix, and a VAE that ships four example images."""
    save_pix2pix("starter sketch")
    save_tiny_vae("starter vae")
    store = ModelStore()
    vae = store.get("starter vae")
    examples = {f"examples/{name}.png": write_photo(tmp_path / f"{name}.png", name, (32, 32))
                for name in ("astronaut", "coffee", "chelsea", "rocket")}
    store.save("starter vae", {**vae.card, "examples": sorted(examples)}, {"vae": store.load(vae).networks["vae"].state_dict()},
               overwrite=True, files=examples)
    for name in ("starter sketch", "starter vae"):
        store.get(name).path.rename(builtin_dir / name)
    return request.getfixturevalue("window")


def test_the_paired_panel_opens_a_sample_photo_with_the_starter_model(starter_window, qtbot):
    panel = starter_window.panel("translate_paired")
    assert starter_window.current_panel() is panel
    assert panel.current_model().name == "starter sketch" and panel.current_model().builtin
    qtbot.waitUntil(lambda: panel.result is not None, timeout=WAIT)
    sample = resources.sample_photos()[0]
    assert panel.opened.image.path == sample
    expected = uint8(Translator(ModelStore().load("starter sketch"), device="cpu").translate_array(read_image(sample).rgb))
    assert np.abs(panel.result.pixels.astype(int) - expected.astype(int)).max() <= 1
    screenshot(starter_window, "first_run_paired")


def test_a_user_model_does_not_open_a_sample_on_its_own(window, qtbot):
    save_pix2pix("mine")
    window.ctx.store.refresh()
    panel = window.show_panel("translate_paired")
    assert panel.current_model().name == "mine"
    qtbot.wait(300)
    assert panel.opened is None


def test_the_latent_canvas_places_the_starter_models_examples(starter_window, qtbot):
    panel = starter_window.show_panel("latent")
    assert panel.current_model_name() == "starter vae"
    info = ModelStore().get("starter vae")
    assert len(info.examples()) == 4
    qtbot.waitUntil(lambda: len(panel.anchors) == 4 and panel.frame is not None, timeout=WAIT)
    assert [a.path for a in panel.anchors] == info.examples()
    assert not panel.anchor_set.examples_button.isEnabled()  # every example is on the pad already
    panel.clear_anchors()
    assert panel.anchors == [] and panel.anchor_set.examples_button.isEnabled() and panel.anchor_set.examples_button.isVisible()
    panel.anchor_set.examples_button.click()
    qtbot.waitUntil(lambda: len(panel.anchors) == 4, timeout=WAIT)
    qtbot.waitUntil(lambda: panel.is_idle() and panel.frame is not None, timeout=WAIT)
    screenshot(starter_window, "first_run_latent")
