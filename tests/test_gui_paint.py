"""The Paint panel: strokes, fill, eraser, eyedropper, undo, the live picture, seeds, opening label maps
and photos, saving; its empty state; a screenshot."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import photo
from gui_helpers import screenshot, window_fixture, write_photo  # noqa: F401  (the window fixture)
from paint_helpers import TINY_GENERATOR, blob_labels, make_spade_model
from PIL import Image
from PySide6.QtCore import Qt
from skimage.measure import label as connected_components

from studio.core import nets
from studio.core.images import read_image
from studio.core.paint import Palette, read_label_map, write_label_map
from studio.core.paint.painter import Painter
from studio.core.store import ModelStore, new_card
from studio.gui.panels.paint.history import History
from studio.gui.panels.paint.start import NO_SEGMENTER
from studio.gui.widgets.label_canvas import Edit, capsule

pytestmark = pytest.mark.timeout(120)

WAIT = 30_000
W, H = 96, 64  # small maps paint in milliseconds


def make_plain_model(name: str = "plain painter", classes: int = 3) -> None:
    """A spade model trained without noise (one picture per map) and without a segmenter."""
    palette = Palette.from_card([{"name": f"c{i}", "colour": [30 + 80 * i, 160 - 40 * i, 90]} for i in range(classes)])
    generator = nets.build("spade_generator", {"label_nc": classes, **{**TINY_GENERATOR, "z_dim": 0}})
    card = new_card("spade", {"G": (generator.arch, generator.config)}, domains={"A": "labels", "B": "photos"},
                    image_size=64)
    card["palette"] = palette.to_card()
    ModelStore().save(name, card, {"G": generator.state_dict()})


@pytest.fixture(name="paint")
def paint_fixture(window, qtbot):
    """The Paint panel with the tiny painter (4 classes, noise, a segmenter) on a blank W×H map, its picture shown."""
    make_spade_model(ModelStore())
    window.ctx.store.refresh()
    hidden = window.panel("paint")
    assert hidden.current_model() is not None and hidden.painter is None and not hidden.chooser.loading
    panel = window.show_panel("paint")  # the model is loaded when the panel is first shown
    qtbot.waitUntil(lambda: panel.painter is not None, timeout=WAIT)
    panel.new_map(W, H, fill=0, undoable=False)
    picture(panel, qtbot)
    return panel


def picture(panel, qtbot) -> np.ndarray:
    """The picture of the painting as it is now, once the render worker has caught up."""
    qtbot.waitUntil(lambda: panel.is_idle() and panel.result_rgb() is not None, timeout=WAIT)
    rgb = panel.result_rgb()
    assert rgb.shape == (*panel.canvas.labels.shape, 3)
    return rgb.copy()


def press_path(qtbot, canvas, points, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """A mouse stroke through map points: press, a move per point, release."""
    widget = [canvas.to_widget(x, y) for x, y in points]
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, modifier, widget[0])
    for pos in widget[1:]:
        qtbot.mouseMove(canvas, pos)
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, modifier, widget[-1])


def segment_distance(shape, start, end) -> np.ndarray:
    """Each pixel centre's distance to the segment start–end (map x, y)."""
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]] + 0.5
    (x0, y0), (x1, y1) = start, end
    d = np.array([x1 - x0, y1 - y0], dtype=float)
    t = np.clip(((xs - x0) * d[0] + (ys - y0) * d[1]) / (d @ d), 0, 1)
    return np.hypot(xs - (x0 + t * d[0]), ys - (y0 + t * d[1]))


def test_a_fast_mouse_stroke_paints_without_gaps_and_the_picture_follows_live(paint, qtbot):
    canvas, before_picture = paint.canvas, picture(paint, qtbot)
    paint.classes.list.setCurrentRow(2)  # a click on the class list chooses the brush's class
    canvas.set_brush_size(6)
    serial = paint.live.serial
    start, end = (5.5, 6.5), (88.5, 57.5)  # two move events far apart: a fast stroke
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=canvas.to_widget(*start))
    qtbot.mouseMove(canvas, canvas.to_widget(40.5, 30.5))
    qtbot.waitUntil(lambda: paint.live.serial > serial, timeout=WAIT)  # a render was asked for mid-stroke
    assert canvas.stroking
    qtbot.mouseMove(canvas, canvas.to_widget(*end))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=canvas.to_widget(*end))
    labels = canvas.labels
    # the pixels along the path, however far apart the events were, are class 2; far from it, untouched
    mid = (40.5, 30.5)
    near = np.minimum(segment_distance(labels.shape, start, mid), segment_distance(labels.shape, mid, end))
    tolerance = 0.05 * W / canvas.zoom  # mouse positions are whole widget pixels
    assert (labels[near <= 3 - tolerance - 0.5] == 2).all()
    assert (labels[near > 3 + tolerance + 0.5] == 0).all()
    assert not canvas.stroking and paint.painting.history.can_undo
    after_picture = picture(paint, qtbot)
    assert not np.array_equal(after_picture, before_picture), "the picture did not follow the stroke"
    assert "ms" in paint.live.info.text() and paint.ms_per_render > 0


def test_brush_capsule_covers_every_pixel_within_the_radius():
    hit = capsule((40, 50), (3.2, 4.7), (45.9, 30.1), 2.5)
    top, left, mask = hit
    full = np.zeros((40, 50), bool)
    full[top:top + mask.shape[0], left:left + mask.shape[1]] = mask
    assert np.array_equal(full, segment_distance((40, 50), (3.2, 4.7), (45.9, 30.1)) <= 2.5)
    assert capsule((40, 50), (-30, -30), (-20, -25), 3) is None


def test_fill_changes_exactly_the_connected_region_and_the_eraser_paints_class_zero(paint, qtbot):
    canvas = paint.canvas
    labels = blob_labels(H, W, 4, seed=3)
    labels[20:24, :] = 1  # a band splitting the map, so some class-0 pixels are not connected to others
    paint.painting.set_map(labels, paint.painter.palette)
    x, y = 2, 2
    region = connected_components(labels == labels[y, x], connectivity=1) == \
        connected_components(labels == labels[y, x], connectivity=1)[y, x]
    assert 0 < region.sum() < (labels == labels[y, x]).sum()  # a fill that must stop somewhere
    paint.classes.choose(3)
    qtbot.keyClick(canvas, Qt.Key.Key_G)
    assert canvas.tool == "fill"
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=canvas.to_widget(x + 0.5, y + 0.5))
    expected = labels.copy()
    expected[region] = 3
    assert np.array_equal(canvas.labels, expected)

    qtbot.keyClick(canvas, Qt.Key.Key_E)
    assert canvas.tool == "eraser" and "first class, 0" in paint.painting.tool_buttons["eraser"].toolTip()
    canvas.set_brush_size(4)
    press_path(qtbot, canvas, [(60.5, 10.5), (60.5, 50.5)])
    assert (canvas.labels[12:49, 60] == 0).all()  # erased: the first class, whatever the brush's class
    assert canvas.current_class == 3
    picture(paint, qtbot)


def test_eyedropper_and_alt_click_pick_the_class_under_the_cursor(paint, qtbot):
    canvas = paint.canvas
    labels = np.zeros((H, W), np.uint8)
    labels[10:30, 10:30], labels[40:60, 50:90] = 3, 1
    paint.painting.set_map(labels, paint.painter.palette)
    qtbot.keyClick(canvas, Qt.Key.Key_I)
    assert canvas.tool == "eyedropper"
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=canvas.to_widget(20.5, 20.5))
    assert canvas.current_class == 3 and paint.classes.current() == 3
    assert np.array_equal(canvas.labels, labels)  # picking paints nothing
    qtbot.keyClick(canvas, Qt.Key.Key_B)
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.AltModifier, canvas.to_widget(70.5, 50.5))
    assert canvas.current_class == 1 and paint.classes.current() == 1 and canvas.tool == "brush"
    assert np.array_equal(canvas.labels, labels)
    qtbot.keyClick(canvas, Qt.Key.Key_3)  # number keys choose the first nine classes
    assert canvas.current_class == 2 and paint.classes.current() == 2
    size = canvas.brush_size
    qtbot.keyClick(canvas, Qt.Key.Key_BracketRight)
    assert canvas.brush_size > size
    qtbot.keyClick(canvas, Qt.Key.Key_BracketLeft)
    qtbot.keyClick(canvas, Qt.Key.Key_BracketLeft)
    assert canvas.brush_size < size and f"{canvas.brush_size} px" in paint.painting.size_label.text()
    paint.picture.seed_box.setFocus()  # a focused spin box keeps its digits
    paint.picture.seed_box.selectAll()
    qtbot.keyClicks(paint.picture.seed_box, "57")
    assert paint.picture.seed == 57 and canvas.current_class == 2


def test_undo_and_redo_restore_the_exact_maps(paint, qtbot):
    canvas = paint.canvas
    states = [canvas.labels.copy()]
    for k, path in enumerate(([(5.5, 5.5), (60.5, 40.5)], [(80.5, 5.5), (20.5, 60.5)], [(50.5, 2.5), (52.5, 62.5)])):
        paint.classes.choose(k + 1)
        press_path(qtbot, canvas, path)
        states.append(canvas.labels.copy())
    canvas.set_tool("fill")
    canvas.fill(1, 62, 3)
    states.append(canvas.labels.copy())
    paint.new_map(40, 30, fill=2)  # a new painting is a step too
    states.append(canvas.labels.copy())
    assert len({s.tobytes() + bytes(s.shape) for s in states}) == len(states)
    for expected in reversed(states[:-1]):
        qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
        assert np.array_equal(canvas.labels, expected)
    assert not paint.painting.undo_button.isEnabled() and not paint.undo()
    for index, expected in enumerate(states[1:]):
        keys = (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier, Qt.Key.Key_Z) \
            if index % 2 else (Qt.KeyboardModifier.ControlModifier, Qt.Key.Key_Y)
        qtbot.keyClick(canvas, keys[1], keys[0])
        assert np.array_equal(canvas.labels, expected)
    assert not paint.redo()
    # a step after an undo drops what could have been redone
    assert paint.undo() and paint.painting.history.can_redo
    assert paint.canvas.fill(1, 1, (int(paint.canvas.labels[1, 1]) + 1) % 4)
    assert not paint.painting.history.can_redo
    assert picture(paint, qtbot).shape == (H, W, 3)


def test_history_is_bounded_in_steps_and_bytes():
    history = History(steps=50, budget=10_000)
    for k in range(60):
        history.push(Edit(0, 0, np.zeros((10, 10), np.uint8), np.full((10, 10), k, np.uint8)))
    assert len(history) == 50 and history.undo().after[0, 0] == 59
    big = np.zeros((80, 80), np.uint8)
    history.push(Edit(0, 0, big, big, whole=True))
    assert history.nbytes <= 2 * big.nbytes and len(history) == 1  # the newest step is always kept
    assert history.undo() is not None and history.undo() is None


def test_the_seed_changes_the_picture_and_a_model_without_noise_has_no_seed(paint, qtbot, window):
    paint.canvas.stroke([(10, 10), (80, 50)])
    paint.set_seed(1)
    first = picture(paint, qtbot)
    paint.set_seed(2)
    second = picture(paint, qtbot)
    assert not np.array_equal(first, second)
    paint.set_seed(1)
    assert np.array_equal(picture(paint, qtbot), first)  # the same seed, the same picture
    seed = paint.picture.seed
    qtbot.keyClick(paint.canvas, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert paint.picture.seed != seed
    assert not np.array_equal(picture(paint, qtbot), first)
    assert paint.picture.new_seed_button.isEnabled()

    make_plain_model()
    window.ctx.store.refresh()
    paint.select_model("plain painter")
    qtbot.waitUntil(lambda: paint.painter is not None and paint.painter.name == "plain painter", timeout=WAIT)
    assert not paint.painter.varies
    assert not paint.picture.new_seed_button.isEnabled() and not paint.picture.seed_box.isEnabled()
    assert "one picture per map" in paint.picture.new_seed_button.toolTip()
    # no segmenter: starting from a photo is offered, disabled, with the reason
    assert not paint.start.photo_button.isEnabled() and paint.start.photo_button.toolTip() == NO_SEGMENTER
    assert paint.classes.list.count() == 3
    picture(paint, qtbot)


def test_label_maps_open_and_a_wrong_colour_is_refused_in_one_line(paint, qtbot, window, tmp_path):
    palette = paint.painter.palette
    labels = blob_labels(50, 70, len(palette), seed=5)
    coded = tmp_path / "coded.png"
    Image.fromarray(palette.colourise(labels)).save(coded)  # colour-coded, in the model's palette
    with qtbot.waitSignal(paint.map_opened, timeout=WAIT):
        paint.open_label_map(coded)
    assert np.array_equal(paint.canvas.labels, labels)
    assert "coded.png" in paint.start.label.text()
    picture(paint, qtbot)

    painted = paint.canvas.labels.copy()
    errors = []
    window.ctx.error_reported.connect(lambda title, message: errors.append((title, message)))
    wrong = palette.colourise(labels)
    wrong[5:10, 5:10] = (1, 2, 3)
    bad = tmp_path / "wrong.png"
    Image.fromarray(wrong).save(bad)
    paint.open_label_map(bad)
    qtbot.waitUntil(lambda: bool(errors) and paint.is_idle(), timeout=WAIT)
    title, message = errors[-1]
    assert "wrong.png" in title and "#010203" in message and "\n" not in message
    assert np.array_equal(paint.canvas.labels, painted)  # nothing lost
    assert "coded.png" in paint.start.label.text()

    indexed = tmp_path / "indexed.png"
    write_label_map(indexed, labels[::-1].copy(), palette)
    with qtbot.waitSignal(paint.map_opened, timeout=WAIT):
        paint.open_label_map(indexed)
    assert np.array_equal(paint.canvas.labels, labels[::-1])


def test_from_a_photo_the_canvas_gets_its_labels_at_the_photo_size(paint, qtbot, tmp_path):
    photo = write_photo(tmp_path / "coffee.png", "coffee", (90, 70))
    with qtbot.waitSignal(paint.map_opened, timeout=WAIT):
        paint.from_photo(photo)
    labels = paint.canvas.labels
    assert labels.shape == (70, 90) and labels.max() < len(paint.painter.palette)
    assert len(np.unique(labels)) > 1
    assert np.array_equal(labels, paint.painter.segment_file(photo))
    assert paint.painting.underlay_button.isVisible()
    assert picture(paint, qtbot).shape == (70, 90, 3)
    paint.undo()  # back to the blank map
    assert paint.canvas.labels.shape == (H, W) and (paint.canvas.labels == 0).all()


def test_save_painting_round_trips_and_save_picture_writes_the_picture(paint, qtbot, tmp_path):
    paint.canvas.set_class(3)
    paint.canvas.stroke([(10, 10), (80, 40), (30, 60)])
    shown = picture(paint, qtbot)
    with qtbot.waitSignal(paint.saved, timeout=WAIT):
        paint.save_painting(tmp_path / "painting")
    labels, palette = read_label_map(tmp_path / "painting.png")
    assert np.array_equal(labels, paint.canvas.labels)
    assert [c.colour for c in palette.classes] == [c.colour for c in paint.painter.palette.classes]
    with qtbot.waitSignal(paint.saved, timeout=WAIT):
        paint.save_result(tmp_path / "picture.png")
    back = read_image(tmp_path / "picture.png").rgb
    assert np.abs(np.rint(back * 255) - shown).max() <= 1
    assert paint.command_enabled("save") and paint.command_enabled("copy") and paint.command_enabled("open")


def test_without_a_spade_model_the_panel_says_how_to_get_one(window, qtbot):
    panel = window.show_panel("paint")
    assert panel.painter is None and panel.canvas.labels is None
    assert "Train one in the Train panel" in panel.chooser.hint.text()
    assert "Train one in the Train panel" in panel.canvas.placeholder
    assert not panel.start.new_button.isEnabled() and not panel.start.open_button.isEnabled()
    assert not any(panel.command_enabled(name) for name in ("open", "save", "copy"))
    assert panel.is_idle()
    make_spade_model(ModelStore(), name="arrived later")
    window.ctx.store.refresh()  # a model trained meanwhile is loaded at once: the panel is shown
    qtbot.waitUntil(lambda: panel.painter is not None and panel.result_rgb() is not None, timeout=WAIT)
    assert panel.canvas.labels.shape == (256, 256)


def fit_output_layer(name: str = "tiny painter", fitted: str = "fitted painter") -> str:
    """A copy of ``name`` whose last layer is fitted by least squares to paint a photo from its labels.

    An untrained painter paints a flat grey; this one paints a picture that follows the map, so the
    screenshot shows what the panel is for, without a training run in a GUI test."""
    store = ModelStore()
    model = store.load(name)
    painter = Painter(model, "cpu")
    target = photo("astronaut", (128, 96))
    features = []
    hook = painter.net.conv_img.register_forward_hook(lambda _m, inputs, _out: features.append(inputs[0]))
    painter.paint(painter.segment(target), 0)
    hook.remove()
    columns = torch.nn.functional.unfold(features[0], 3, padding=1)[0].T
    design = torch.cat([columns, torch.ones(len(columns), 1)], 1).double()
    wanted = torch.from_numpy(np.arctanh(np.clip(target * 2 - 1, -0.95, 0.95))).reshape(-1, 3).double()
    solution = torch.linalg.lstsq(design, wanted).solution.float()
    generator = model.networks["G"]
    with torch.no_grad():
        generator.conv_img.weight.copy_(solution[:-1].T.reshape(generator.conv_img.weight.shape))
        generator.conv_img.bias.copy_(solution[-1])
    store.save(fitted, dict(model.info.card), {"G": generator.state_dict()})
    return fitted


def test_screenshot_of_a_painting_from_a_photo_and_its_picture(paint, qtbot, window, tmp_path):
    name = fit_output_layer()
    window.ctx.store.refresh()
    paint.select_model(name)
    qtbot.waitUntil(lambda: paint.painter is not None and paint.painter.name == name, timeout=WAIT)
    paint.from_photo(write_photo(tmp_path / "astronaut.png", "astronaut", (200, 150)))
    qtbot.waitUntil(lambda: paint.canvas.labels.shape == (150, 200), timeout=WAIT)
    paint.canvas.set_brush_size(12)
    paint.classes.choose(3)
    press_path(qtbot, paint.canvas, [(20.5, 130.5), (60.5, 100.5), (110.5, 120.5), (180.5, 95.5)])
    paint.classes.choose(1)
    paint.canvas.set_tool("brush")
    press_path(qtbot, paint.canvas, [(150.5, 20.5), (175.5, 45.5), (150.5, 70.5)])
    picture(paint, qtbot)
    qtbot.mouseMove(paint.canvas, paint.canvas.to_widget(120.5, 60.5))  # the brush's circle shows
    paint.live.view.set_mode("wipe")
    path = screenshot(paint.window(), "gui-paint")
    assert path.stat().st_size > 50_000


def test_samples_offer_the_sample_photos_and_the_label_maps_a_model_ships(window, qtbot, tmp_path):
    make_spade_model(ModelStore(), "shipped painter", example=tmp_path / "harbour.png")
    window.ctx.store.refresh()
    panel = window.show_panel("paint")
    panel.select_model("shipped painter")
    qtbot.waitUntil(lambda: panel.painter is not None and panel.painter.name == "shipped painter", timeout=WAIT)
    menu = panel.start.sample_button.menu()
    texts = [a.text() for a in menu.actions() if not a.isSeparator()]
    assert texts[-1] == "Label map: Harbour" and any(t.startswith("Photo: ") for t in texts)
    with qtbot.waitSignal(panel.map_opened, timeout=WAIT):
        [a for a in menu.actions() if a.text() == "Label map: Harbour"][0].trigger()
    assert panel.canvas.labels.shape == (48, 64) and len(np.unique(panel.canvas.labels)) > 1
