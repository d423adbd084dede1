"""The Latent Explorer's arithmetic box (C + s·(A − B)) and its map of a folder (hover decodes, click adds)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gui_helpers import screenshot, window_fixture, write_photo  # noqa: F401  (the window fixture)
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication
from test_gui_latent import PHOTOS, SIZE, WAIT, explorer_fixture, save_tiny_vae  # noqa: F401  (the explorer fixture)

from studio.core import latent
from studio.core.images import read_image
from studio.gui.qimages import array_from_qimage


def arithmetic_result(panel, qtbot) -> np.ndarray:
    part = panel.arithmetic
    qtbot.waitUntil(lambda: not part.busy and part.rgb is not None, timeout=WAIT)
    return part.rgb.astype(int)


def engine_arithmetic(panel, a: int, b: int, c: int, strength: float) -> np.ndarray:
    z = [panel.anchors[i].latent for i in (a, b, c)]
    return latent.to_rgb8(panel.model.decode(latent.arithmetic(*z, strength))[0]).astype(int)


def test_arithmetic_of_three_anchors_is_the_engines_and_a_equal_b_gives_c(explorer, qtbot, tmp_path):
    panel, _ = explorer
    part = panel.arithmetic
    assert "autoencoder" in panel.subtitle and "GAN" in panel.subtitle
    # four anchors: A, B, C default to the first three, and the result is decoded at strength 1
    assert [c.currentIndex() for c in part.combos] == [0, 1, 2] and part.strength_f() == 1.0
    assert all(w.isEnabled() for w in (*part.combos, part.strength))
    first = arithmetic_result(panel, qtbot)
    assert np.array_equal(first, engine_arithmetic(panel, 0, 1, 2, 1.0))
    assert part.result_caption.text() == "astronaut − coffee + chelsea"
    assert part.result_view.image is not None

    # A == B: nothing is added, the result is exactly the decode of C (its reconstruction), at any strength
    recon_c = panel.anchors[2].recon.astype(int)
    for strength in (1.0, 2.0):
        part.choose(3, 3, 2, strength)
        assert np.array_equal(arithmetic_result(panel, qtbot), recon_c)
    part.choose(0, 1, 2, 0.0)
    assert np.array_equal(arithmetic_result(panel, qtbot), recon_c)
    assert part.result_caption.text() == "chelsea + 0.00 × (astronaut − coffee)"

    # the strength moves the result, by the keyboard too
    results = {}
    for strength in (0.5, 1.0, 2.0):
        part.choose(0, 1, 2, strength)
        results[strength] = arithmetic_result(panel, qtbot)
        assert np.array_equal(results[strength], engine_arithmetic(panel, 0, 1, 2, strength))
    assert np.abs(results[0.5] - recon_c).mean() > 0.5
    assert np.abs(results[2.0] - results[1.0]).mean() > 0.5
    part.strength.setFocus()
    qtbot.keyClick(part.strength, Qt.Key.Key_PageDown)
    assert part.strength_f() == pytest.approx(1.75) and part.strength_value.text() == "1.75"
    assert np.array_equal(arithmetic_result(panel, qtbot), engine_arithmetic(panel, 0, 1, 2, 1.75))

    # a slider dragged faster than decodes: one decode at a time, the last state wins
    for value in range(0, 200, 7):
        part.strength.setValue(value)
    assert np.array_equal(arithmetic_result(panel, qtbot), engine_arithmetic(panel, 0, 1, 2, part.strength_f()))

    # the result saves as shown
    with qtbot.waitSignal(part.file.saved, timeout=WAIT):
        part.file.save(tmp_path / "result")
    saved = np.rint(read_image(tmp_path / "result.png").rgb * 255).astype(int)
    assert saved.shape == (SIZE, SIZE, 3) and np.array_equal(saved, part.rgb.astype(int))

    # another model: the anchors are encoded again and the result follows
    save_tiny_vae("other-vae", seed=1)
    panel.ctx.store.refresh()
    panel.select_model("other-vae")
    assert part.rgb is None  # the old model's result is not shown meanwhile
    qtbot.waitUntil(lambda: panel.model is not None and panel.model.name == "other-vae" and len(panel.anchors) == 4,
                    timeout=WAIT)
    assert np.array_equal(arithmetic_result(panel, qtbot), engine_arithmetic(panel, 0, 1, 2, part.strength_f()))

    # fewer than three anchors: disabled, with a hint, nothing shown
    panel.remove_anchor(3)
    panel.remove_anchor(2)
    assert not any(w.isEnabled() for w in (*part.combos, part.strength, part.save_button))
    assert part.rgb is None and "add 1 more" in part.status.text()


def move_mouse(widget, pos: QPointF) -> None:
    """A mouse move with no button pressed (hover), as the window system delivers it."""
    event = QMouseEvent(QEvent.Type.MouseMove, pos, widget.mapToGlobal(pos), Qt.MouseButton.NoButton,
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def test_map_of_a_folder_decodes_under_the_mouse_and_a_click_adds_an_anchor(explorer, qtbot, tmp_path):
    panel, _ = explorer
    part = panel.map_part
    folder = tmp_path / "folder"
    for k, name in enumerate(PHOTOS):
        write_photo(folder / f"{name}.png", name, (60 + 10 * k, 50))
    write_photo(folder / "sub" / "astronaut_small.png", "astronaut", (40, 40))
    (folder / "broken.png").write_bytes(b"not an image")
    panel.tabs.setCurrentIndex(1)
    assert part.view.isVisible() and part.map_button.isEnabled()
    with qtbot.waitSignal(part.map_ready, timeout=WAIT):
        assert part.map_folder(folder)
        assert part.cancel_button.isVisible() and not part.map_button.isEnabled()
    qtbot.waitUntil(lambda: not part.slot.busy, timeout=WAIT)
    assert not part.cancel_button.isVisible() and part.map_button.isEnabled()
    tiles = part.view.tiles
    assert len(tiles) == 5 and len(part.skipped) == 1 and "broken.png" in part.skipped[0]
    assert {t.name for t in tiles} == {*(f"{n}.png" for n in PHOTOS), "astronaut_small.png"}
    assert "5 images" in part.status.text() and "1 unreadable skipped" in part.status.text()
    assert "continuous cloud" in part.kind_hint.text()

    # the mouse over the map: the latent under it, decoded (exactly the engine's), stale points dropped
    result = part.result.latent_map
    decoder = part.decoder
    frames = []
    for xy in ((0.3, 0.4), (0.7, 0.6)):
        pos = part.view.to_widget((xy[0] * result.layout.size, xy[1] * result.layout.size))
        move_mouse(part.view, pos)
        qtbot.waitUntil(lambda: decoder.serial > 0 and not decoder.busy, timeout=WAIT)
        cursor = part.view.cursor
        assert cursor == pytest.approx((xy[0] * result.layout.size, xy[1] * result.layout.size), abs=1.0)
        z = latent.map_to_latent(result.layout.to_point(torch.tensor(cursor)), result.projection)
        expected = latent.to_rgb8(panel.model.decode(z)[0])
        frame = array_from_qimage(part.preview.image)
        assert np.array_equal(frame, expected)
        frames.append(frame)
    assert np.abs(frames[0].astype(int) - frames[1].astype(int)).mean() > 0.5
    assert "principal plane" in part.preview_caption.text()
    for k in range(30):  # faster than frames are decoded: only the newest point is drawn last
        part.view.set_cursor((100 + 10 * k, 300))
    qtbot.waitUntil(lambda: not decoder.busy, timeout=WAIT)
    assert decoder.shown_serial == decoder.serial

    # a click on a thumbnail adds its image as an anchor
    target = next(t for t in tiles if t.name == "astronaut_small.png")
    qtbot.mouseClick(part.view, Qt.MouseButton.LeftButton, pos=part.view.to_widget(target.centre).toPoint())
    qtbot.waitUntil(lambda: len(panel.anchors) == 5, timeout=WAIT)
    assert panel.anchors[4].path == target.path and "5 · astronaut_small" in part.anchor_line.text()
    screenshot(panel.window(), "gui-latent-map")

    # by the keyboard: arrows move the cursor (and decode), Enter adds the image under it
    part.view.setFocus()
    serial = decoder.serial
    before = part.view.cursor
    qtbot.keyClick(part.view, Qt.Key.Key_Left)
    assert part.view.cursor[0] == pytest.approx(before[0] - 0.01 * result.layout.size) and decoder.serial == serial + 1
    target = next(t for t in tiles if t.name == "rocket.png")
    part.view.set_cursor(target.centre)
    qtbot.keyClick(part.view, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: len(panel.anchors) == 6, timeout=WAIT)
    assert panel.anchors[5].path == target.path

    # another model: the map is stale
    panel.anchor_set.model_changed()
    assert part.result is None and part.view.tiles == []
