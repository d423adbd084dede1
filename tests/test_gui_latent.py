"""The Latent Explorer panel: anchors from real photos, a live cursor, snapping, strips, directions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gui_helpers import drop, screenshot, window_fixture, write_photo  # noqa: F401  (the window fixture)
from PIL import Image
from PySide6.QtCore import Qt

from studio.core import latent, nets
from studio.core.images import read_image
from studio.core.store import ModelStore, new_card
from studio.gui.selftest_data import train_latent_model
from studio.gui.widgets.latent_pad import corner_positions, pad_weights

SIZE = 32
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
WAIT = 30_000


def save_tiny_vae(name: str = "tiny-vae", size: int = SIZE, seed: int = 0) -> str:
    """A freshly initialised VAE, its weights jittered so that every latent axis shows in the image."""
    torch.manual_seed(seed)
    vae = nets.build("conv_vae", {"image_size": size, "latent_dim": 16, "channels": 8, "max_channels": 32})
    with torch.no_grad():
        for p in vae.parameters():
            p.add_(0.05 * torch.randn_like(p))
    card = new_card("vae", {"vae": ("conv_vae", vae.config)}, image_size=size, provenance={"source": "test"})
    ModelStore().save(name, card, {"vae": vae.state_dict()})
    return name


@pytest.fixture(name="explorer")
def explorer_fixture(window, qtbot, tmp_path):
    """The panel with the tiny VAE chosen and four photos dropped on it as anchors."""
    save_tiny_vae()
    window.ctx.store.refresh()
    panel = window.show_panel("latent")
    panel.select_model("tiny-vae")
    paths = [write_photo(tmp_path / f"{name}.png", name) for name in PHOTOS]
    drop(panel, paths)
    qtbot.waitUntil(lambda: len(panel.anchors) == 4 and panel.model is not None, timeout=WAIT)
    return panel, paths


def show(panel, qtbot, cursor=None) -> np.ndarray:
    """Move the cursor (if given), wait for the frame of exactly this state, return it as uint8 RGB."""
    if cursor is not None:
        panel.pad.set_cursor(cursor)
    serial = panel.request_render()
    qtbot.waitUntil(lambda: panel.shown_serial >= serial, timeout=WAIT)
    assert panel.shown_serial == serial  # only the newest request is ever answered last
    return panel.frame_rgb().astype(int)


def reference_reconstructions(paths) -> np.ndarray:
    model = latent.LatentModel.load("tiny-vae", ModelStore(), device="cpu")
    return latent.to_rgb8(model.reconstruct(model.load_images(paths))).astype(int)


def test_decoded_pictures_are_drawn_smooth_at_any_enlargement_previews_show_their_pixels(qtbot):
    """A 64-px landscape drawn 400 px wide is interpolated in the latent views; a training preview enlarged 3×
    or more shows its pixels as squares (a grain stays visible)."""
    from PySide6.QtGui import QImage

    from studio.gui.widgets.common import ImageLabel

    checker = np.kron(np.array([[0, 255], [255, 0]], np.uint8), np.ones((4, 4), np.uint8))  # 8×8, 4-px squares
    rgb = np.ascontiguousarray(np.repeat(checker[..., None], 3, axis=2))
    image = QImage(rgb.data, 8, 8, 24, QImage.Format.Format_RGB888).copy()
    levels = {}
    for smooth in (False, True):
        label = ImageLabel("", smooth=smooth)
        qtbot.addWidget(label)
        label.resize(216, 216)  # 200 px of image: 25× enlargement
        label.set_image(image)
        grab = label.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
        row = np.array([grab.pixelColor(x, 108).red() for x in range(20, 196)])
        levels[smooth] = len(np.unique(row))
    assert levels[False] == 2  # black and white squares only
    assert levels[True] > 5  # a ramp of greys between them


def test_pad_weights_are_bilinear_on_corners_inverse_distance_when_free_and_one_hot_on_anchors():
    corners = corner_positions(4)
    assert pad_weights(corners, (0.25, 0.5), "corners") == pytest.approx([0.375, 0.125, 0.375, 0.125])
    free = [(0.1, 0.2), (0.8, 0.3), (0.4, 0.9)]
    for layout, positions in (("corners", corners), ("free", free)):
        for i, p in enumerate(positions):
            assert pad_weights(positions, p, layout) == [1.0 if j == i else 0.0 for j in range(len(positions))]
        w = pad_weights(positions, (0.45, 0.5), layout)
        assert sum(w) == pytest.approx(1.0) and min(w) > 0
        # continuous: a small move changes the weights a little
        w2 = pad_weights(positions, (0.46, 0.5), layout)
        assert max(abs(a - b) for a, b in zip(w, w2, strict=True)) < 0.05
    near = pad_weights(free, (0.8, 0.3001), "free")
    assert near[1] > 0.99


def test_anchors_cursor_snapping_and_continuity(explorer, qtbot):
    panel, paths = explorer
    recon = reference_reconstructions(paths)
    # each anchor shows its own reconstruction, as the engine computes it
    for anchor, expected in zip(panel.anchors, recon, strict=True):
        assert anchor.recon.shape == (SIZE, SIZE, 3)
        assert np.abs(anchor.recon.astype(int) - expected).max() <= 1
        assert anchor.thumb.width() > 0

    # a click on the pad moves the cursor there
    centre = panel.pad.to_widget((0.5, 0.5)).toPoint()
    qtbot.mouseClick(panel.pad, Qt.MouseButton.LeftButton, pos=centre)
    assert panel.pad.cursor == pytest.approx((0.5, 0.5), abs=0.01)

    # small steps across the pad: small, bounded, non-zero changes
    for mode_button in (panel.canvas.linear_button, panel.canvas.spherical_button):
        mode_button.click()
        step = 0.025
        xs = np.arange(0.3, 0.7 + 1e-9, step)
        frames = [show(panel, qtbot, (float(x), 0.4)) for x in xs]
        diffs = np.array([np.abs(b - a).mean() for a, b in zip(frames, frames[1:], strict=False)])
        total = np.abs(frames[-1] - frames[0]).mean()
        assert total > 1.0, "the blend does not change across the pad"
        assert (diffs > 0).mean() >= 0.8, f"most steps should change the image: {diffs}"
        # Lipschitz in the cursor: no step changes more than 3× its share of the whole move
        assert diffs.max() <= 3.0 * total * step / (xs[-1] - xs[0]) + 1.0, diffs

    # snapping: near a corner the cursor lands on the anchor and the frame is its reconstruction
    for mode_button in (panel.canvas.linear_button, panel.canvas.spherical_button):
        mode_button.click()
        for index, (x, y) in enumerate(corner_positions(4)):
            frame = show(panel, qtbot, (abs(x - 0.03), abs(y - 0.02)))
            assert panel.pad.snapped == index and panel.pad.weights()[index] == 1.0
            assert np.abs(frame - recon[index]).max() <= 1
    assert "Snapped to anchor" in panel.canvas.result_caption.text()
    assert "ms/frame" in panel.canvas.speed_label.text() and panel.ms_per_frame > 0

    # snapping off: the same spot blends
    panel.canvas.snap_check.setChecked(False)
    frame = show(panel, qtbot, (0.03, 0.02))
    assert panel.pad.snapped is None and np.abs(frame - recon[0]).max() > 1

    # free layout: dragging an anchor (shift-drag in corners switches to free) changes the blend under the cursor
    before = show(panel, qtbot, (0.3, 0.3))
    panel.pad.move_anchor(3, (0.35, 0.35))
    assert panel.pad.layout_mode == "free" and panel.canvas.free_button.isChecked()
    after = show(panel, qtbot)
    assert np.abs(after - before).mean() > 0.5

    # a random sample at a temperature, exactly the engine's
    panel.canvas.temperature.setValue(60)
    panel.random_sample(seed=7)
    frame = show(panel, qtbot)
    model = latent.LatentModel.load("tiny-vae", ModelStore(), device="cpu")
    assert np.abs(frame - latent.to_rgb8(model.sample(1, 0.6, seed=7))[0].astype(int)).max() <= 1


def test_stale_requests_are_dropped_and_the_last_one_wins(explorer, qtbot):
    panel, _ = explorer
    first = panel.request_render()
    for k in range(40):
        panel.pad.set_cursor((0.2 + k * 0.01, 0.6))  # each emits a request, faster than frames are decoded
    last = panel.serial
    qtbot.waitUntil(lambda: panel.is_idle(), timeout=WAIT)
    assert panel.shown_serial == last and last > first + 39
    assert panel.canvas.mailbox.dropped > 0  # some were replaced before the worker saw them


def test_the_canvas_shows_exactly_what_the_engine_renderer_draws(explorer, qtbot):
    """One render path: the panel's frame for a state is the engine Renderer's frame for that scene, bit for bit."""
    panel, _ = explorer
    qtbot.waitUntil(lambda: panel.pca.directions is not None, timeout=WAIT)
    panel.pca.pca_sliders[1].setValue(40)
    panel.canvas.snap_check.setChecked(False)
    renderer = latent.Renderer(panel.model)
    axes, spread = panel.pca.directions
    for mode, button in (("linear", panel.canvas.linear_button), ("spherical", panel.canvas.spherical_button)):
        button.click()
        frame = show(panel, qtbot, (0.37, 0.61))
        scene = panel.canvas.scene()
        # the scene is the panel's state: the anchors, the pad's weights, the mode, the slider's move
        assert torch.equal(torch.stack(scene.anchors), torch.stack([a.latent for a in panel.anchors]))
        assert scene.weights == tuple(panel.pad.weights()) and scene.mode == mode and scene.sample is None
        assert len(scene.directions) == len(axes) and all(torch.equal(d, a) for d, a in zip(scene.directions, axes,
                                                                                          strict=True))
        assert scene.amounts == (0.0, 0.4 * 3.0 * float(spread[1]), 0.0)
        assert np.array_equal(frame, renderer.render(scene).astype(int))
    panel.canvas.temperature.setValue(80)
    panel.random_sample(seed=3)
    frame = show(panel, qtbot)
    assert panel.canvas.scene().sample == (0.8, 3)
    assert np.array_equal(frame, renderer.render(panel.canvas.scene()).astype(int))


def test_strip_play_and_export(explorer, qtbot, tmp_path):
    panel, paths = explorer
    recon = reference_reconstructions(paths)
    with qtbot.waitSignal(panel.strip_ready, timeout=WAIT) as caught:
        panel.make_strip(0, 2, steps=6)
    strip = caught.args[0]
    assert len(strip.images) == 6 and strip.frames.shape == (6, 3, SIZE, SIZE)
    rgb = latent.to_rgb8(strip.frames).astype(int)
    assert np.abs(rgb[0] - recon[0]).max() <= 1 and np.abs(rgb[-1] - recon[2]).max() <= 1
    panel.set_playing(True)
    qtbot.waitUntil(lambda: panel.strip_part.strip_view.current >= 2, timeout=5000)
    assert panel.playing and panel.strip_part.play_button.text() == "Pause"
    panel.set_playing(False)

    for name in ("strip.png", "loop.gif", "frames"):
        with qtbot.waitSignal(panel.exported, timeout=WAIT):
            panel.export_strip(tmp_path / name)
    assert read_image(tmp_path / "strip.png").size == (6 * SIZE, SIZE)
    with Image.open(tmp_path / "loop.gif") as gif:
        assert gif.n_frames == 6 and gif.size == (SIZE, SIZE)
    assert len(list((tmp_path / "frames").glob("frame_*.png"))) == 6


def test_pca_and_attribute_directions_move_the_result_and_save(explorer, qtbot, tmp_path):
    panel, _ = explorer
    qtbot.waitUntil(lambda: panel.pca.directions is not None, timeout=WAIT)  # four anchors: three principal axes
    assert [s.isEnabled() for s in panel.pca.pca_sliders] == [True, True, True, False, False]
    base = show(panel, qtbot, (0.5, 0.5))
    panel.pca.pca_sliders[0].setValue(100)
    moved = show(panel, qtbot)
    assert np.abs(moved - base).mean() > 0.5
    panel.reset_directions()
    assert np.array_equal(show(panel, qtbot), base)

    with_dir, without_dir = tmp_path / "cats", tmp_path / "other"
    for i, name in enumerate(("chelsea", "chelsea")):
        write_photo(with_dir / f"cat{i}.png", name, (60 + 10 * i, 50))
    for i, name in enumerate(("coffee", "astronaut")):
        write_photo(without_dir / f"x{i}.png", name)
    panel.attribute.with_field.set_path(with_dir)
    panel.attribute.without_field.set_path(without_dir)
    with qtbot.waitSignal(panel.directions_ready, timeout=WAIT):
        panel.compute_attribute()
    model = panel.model
    expected = latent.attribute_direction(model, with_dir, without_dir)
    assert torch.allclose(panel.attribute.direction, expected, atol=1e-5)
    assert panel.attribute.attribute_strength.value() == 50  # strength 1
    assert np.abs(show(panel, qtbot) - base).mean() > 0.5
    with qtbot.waitSignal(panel.ctx.notified, timeout=WAIT):
        panel.save_direction(tmp_path / "cat")
    loaded, meta = latent.load_direction(tmp_path / "cat.safetensors", model)
    assert torch.equal(loaded, expected) and meta["model"] == "tiny-vae" and meta["name"] == "cats − other"

    with qtbot.waitSignal(panel.directions_ready, timeout=WAIT):
        panel.directions_from_folder(without_dir)  # two images: one axis
    assert [s.isEnabled() for s in panel.pca.pca_sliders] == [True, False, False, False, False]
    assert "2 images in other" in panel.pca.pca_hint.text()


def test_model_list_follows_the_store_and_the_panel_is_shown_whole(window, qtbot, tmp_path):
    panel = window.show_panel("latent")
    assert panel.current_model_name() is None and not panel.anchor_set.add_button.isEnabled()
    assert panel.model_names() == [] and "Train a VAE" in panel.anchor_set.model_hint.text()
    folder = tmp_path / "training"
    for name in PHOTOS:
        for k, (w, h) in enumerate(((90, 70), (60, 80))):
            write_photo(folder / f"{name}_{k}.png", name, (w, h))
    train_latent_model(folder, "faces-vae", steps=60)  # a few seconds: blurry, but it reads its images
    window.ctx.store.refresh()
    assert panel.model_names() == ["faces-vae"]
    assert panel.current_model_name() == "faces-vae" and panel.anchor_set.add_button.isEnabled()
    drop(panel, [write_photo(tmp_path / f"{n}.png", n) for n in PHOTOS[:3]])
    qtbot.waitUntil(lambda: len(panel.anchors) == 3 and not panel.anchor_set.encoding, timeout=WAIT)
    assert panel.pad.positions() == corner_positions(3)
    qtbot.mouseClick(panel.pad, Qt.MouseButton.LeftButton, pos=panel.pad.to_widget((0.45, 0.55)).toPoint())
    qtbot.waitUntil(lambda: panel.frame is not None and panel.is_idle(), timeout=WAIT)
    with qtbot.waitSignal(panel.strip_ready, timeout=WAIT):
        panel.make_strip(0, 1, steps=8)
    panel.set_playing(True)
    qtbot.wait(300)
    screenshot(window, "gui-latent-explorer")
    panel.set_playing(False)
    panel.remove_anchor(2)
    assert len(panel.anchors) == 2 and panel.pad.count() == 2


def test_with_nothing_chosen_before_the_panel_opens_on_the_featured_model(window, qtbot):
    """The starter a card features (the glyphs VAE) is the first thing the explorer shows, wherever it lists."""
    for name in ("a-vae", "b-vae", "c-vae"):
        save_tiny_vae(name)
    ModelStore().update_card("b-vae", {"featured": True})
    window.ctx.store.refresh()
    panel = window.show_panel("latent")
    assert panel.model_names()[:3] == ["a-vae", "b-vae", "c-vae"]
    assert panel.current_model_name() == "b-vae"
    panel.select_model("c-vae")  # a choice, once made, is kept over the featured model
    window.ctx.store.refresh()
    assert panel.current_model_name() == "c-vae"
