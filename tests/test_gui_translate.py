"""The translation panels, driven like a person would: drop a photo, pick a model, compare, save."""

from __future__ import annotations

import numpy as np
import pytest
from gui_helpers import drop, screenshot, uint8, window_fixture, write_photo  # noqa: F401  (the window fixture)
from helpers import save_cyclegan, save_pix2pix
from PIL import Image
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QGuiApplication, QImage

from studio.core.images import read_image
from studio.core.jobs import Progress
from studio.core.store import ModelStore
from studio.core.translate import Translator
from studio.gui.qimages import array_from_qimage, make_picture
from studio.gui.widgets.compare import CompareView

pytestmark = pytest.mark.timeout(120)


def engine_output(name: str, rgb: np.ndarray, direction: str = "a2b") -> np.ndarray:
    return uint8(Translator(ModelStore().load(name), direction, device="cpu").translate_array(rgb))


def test_paired_panel_translates_a_dropped_photo_at_native_size_blends_saves_and_copies(window, qtbot, tmp_path):
    save_pix2pix("sketcher")
    window.ctx.store.refresh()
    panel = window.show_panel("translate_paired")
    assert panel.model_combo.currentData() == "sketcher"
    path = write_photo(tmp_path / "portrait.png", "astronaut", (90, 70))  # not a multiple of the U-Net's 32

    with qtbot.waitSignal(panel.result_shown, timeout=60_000) as shown:
        drop(panel, [path])
    result = shown.args[0]
    assert result.pixels.shape == (70, 90, 3) == panel.opened.pixels.shape
    # exactly what the engine computes for this photo
    np.testing.assert_array_equal(result.pixels, engine_output("sketcher", read_image(path).rgb))
    assert panel.view.after is result.picture and panel.view.before is panel.opened.picture
    assert "90×70" in panel.live.info.text() and "sketcher" in panel.live.info.text()

    panel.blend_slider.setValue(40)
    assert panel.view.blend == pytest.approx(0.4) and panel.output.blend_value.text() == "40%"
    target = tmp_path / "out" / "portrait_sketch.webp"
    with qtbot.waitSignal(panel.saved, timeout=20_000):
        panel.save_result(target)
    assert Image.open(target).format == "WEBP"  # the format follows the extension
    target = tmp_path / "out" / "portrait_sketch.png"
    with qtbot.waitSignal(panel.saved, timeout=20_000):
        panel.save_result(target)
    saved = read_image(target).rgb
    assert saved.shape == (70, 90, 3)
    expected = 0.6 * panel.opened.pixels / 255.0 + 0.4 * result.pixels / 255.0
    assert np.abs(saved - expected).max() <= 1 / 255 + 1e-6  # saved as shown: 40% strength

    with qtbot.waitSignal(panel.copied, timeout=20_000):
        window.run_command("copy")
    copied = array_from_qimage(QGuiApplication.clipboard().image())
    assert copied.shape == (70, 90, 3)
    assert np.abs(copied.astype(int) - np.rint(expected * 255)).max() <= 1
    screenshot(window, "gui-translate-paired")


def test_unpaired_panel_runs_both_directions_and_a_new_request_cancels_the_stale_one(window, qtbot, tmp_path):
    save_cyclegan("photo2painting")
    window.ctx.store.refresh()
    panel = window.show_panel("translate_unpaired")
    labels = [panel.direction_combo.itemText(i) for i in range(panel.direction_combo.count())]
    assert labels == ["photo → painting", "painting → photo"]
    path = write_photo(tmp_path / "cat.jpg", "chelsea", (120, 80))
    with qtbot.waitSignal(panel.result_shown, timeout=60_000):
        panel.open_image(path)
    rgb = read_image(path).rgb
    np.testing.assert_array_equal(panel.result.pixels, engine_output("photo2painting", rgb, "a2b"))

    shown = []
    panel.result_shown.connect(shown.append)
    panel.translate()  # a2b again...
    stale = panel.live.slot.current
    panel.select_model("photo2painting", "b2a")  # ...replaced at once by the other direction
    qtbot.waitUntil(lambda: panel.is_idle() and not stale.isRunning(), timeout=60_000)
    assert stale.control.cancelled
    assert [r.direction for r in shown] == ["b2a"]  # the stale result never reached the view
    np.testing.assert_array_equal(panel.result.pixels, engine_output("photo2painting", rgb, "b2a"))
    assert panel.view.after is panel.result.picture

    panel.view.set_mode("side")
    assert panel.live.mode_group.checkedButton().property("mode") == "side"  # the toolbar follows the view
    screenshot(window, "gui-translate-unpaired")


def test_a_tiled_translation_shows_its_progress_and_esc_stops_it(window, qtbot, tmp_path):
    save_cyclegan("photo2painting")
    window.ctx.store.refresh()
    panel = window.show_panel("translate_unpaired")
    panel.set_tile(256)
    path = write_photo(tmp_path / "wide.png", "astronaut", (1024, 768))  # 12 tiles of 256 px
    busy_texts, reported = [], []
    panel.live.slot.progress.connect(lambda _d: busy_texts.append(panel.view._busy))
    panel.live.slot.progress.connect(reported.append)
    with qtbot.waitSignal(panel.live.slot.progress, timeout=60_000):
        panel.open_image(path)
    worker = panel.live.slot.current
    screenshot(window, "gui-translate-tiled-progress")
    panel.view.setFocus()
    qtbot.keyClick(panel.view, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: panel.is_idle() and not worker.isRunning(), timeout=60_000)
    assert worker.outcome == "cancelled" and panel.result is None
    assert any("%" in text and "Esc" in text for text in busy_texts)
    # the translator's own tile progress, as it reports it: no rescaling on the way
    assert reported and all(isinstance(p, Progress) and 0 <= p.done <= p.total > 1 for p in reported)
    assert panel.view._busy == ""

    with qtbot.waitSignal(panel.result_shown, timeout=120_000):
        panel.translate()
    expected = Translator(ModelStore().load("photo2painting"), device="cpu").translate_array(read_image(path).rgb, tile=256)
    np.testing.assert_array_equal(panel.result.pixels, uint8(expected))
    assert panel.result.tile == 256 and "256-px tiles" in panel.live.info.text()


def test_folder_translation_reports_progress_skips_unreadable_files_and_cancels(window, qtbot, tmp_path):
    save_cyclegan("photo2painting")
    window.ctx.store.refresh()
    panel = window.show_panel("translate_unpaired")
    source = tmp_path / "shoot"
    for k, name in enumerate(("astronaut", "coffee", "rocket")):
        write_photo(source / ("sub" if k == 2 else "") / f"{name}.jpg", name, (48 + 8 * k, 40))
    (source / "broken.jpg").write_text("not a photo")
    progress = []
    panel.folder.slot.progress.connect(progress.append)
    with qtbot.waitSignal(panel.folder_done, timeout=60_000) as done:
        panel.translate_folder(source, tmp_path / "out")
    summary = done.args[0]
    assert len(summary["written"]) == 3 and not summary["cancelled"]
    assert [(p.split("/")[-1], r) for p, r in summary["failed"]] == [("broken.jpg", "not an image file")], summary
    for k, name in enumerate(("astronaut", "coffee", "rocket")):
        out = read_image(tmp_path / "out" / ("sub" if k == 2 else "") / f"{name}.jpg")
        assert out.size == (48 + 8 * k, 40)
    assert all(isinstance(p, Progress) for p in progress)
    assert progress[-1].done == progress[-1].total == 4 and progress[-1].fraction == 1.0
    assert "3 images" in panel.folder.row.status.text() and "1 skipped" in panel.folder.row.status.text()
    assert panel.folder.details_button.isVisible() and not panel.folder.row.cancel_button.isVisible()

    many = tmp_path / "many"
    for k in range(12):
        write_photo(many / f"p{k}.png", "coffee", (64, 48))
    with qtbot.waitSignal(panel.folder_done, timeout=60_000) as done:
        panel.translate_folder(many, tmp_path / "out2")
        panel.cancel_folder()
    assert done.args[0]["cancelled"] and len(done.args[0]["written"]) < 12
    assert panel.folder.row.status.text().startswith("Cancelled after")


def _solid(color: str, size: tuple[int, int] = (200, 100)) -> QImage:
    image = QImage(size[0], size[1], QImage.Format.Format_RGB888)
    image.fill(QColor(color))
    return image


def test_compare_view_wipe_side_by_side_blend_zoom_and_pan(qtbot):
    view = CompareView()
    qtbot.addWidget(view)
    view.resize(420, 220)
    view.show()
    view.set_before(make_picture(_solid("#ff0000")))
    view.set_after(make_picture(_solid("#0000ff")))
    assert view.zoom == pytest.approx(view.fit_zoom())

    def pixel(x: int, y: int) -> tuple[int, int, int]:
        c = view.grab().toImage().pixelColor(x, y)
        return c.red(), c.green(), c.blue()

    view.set_wipe(0.5)
    assert pixel(150, 110) == (255, 0, 0) and pixel(270, 110) == (0, 0, 255)  # original | result
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=view.rect().center())  # grab the line...
    qtbot.mouseMove(view, view.rect().center() + QPointF(80, 0).toPoint())  # ...and drag it right
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=view.rect().center() + QPointF(80, 0).toPoint())
    assert view.wipe == pytest.approx(0.5 + 80 / 420, abs=0.01)
    assert pixel(270, 110) == (255, 0, 0)

    view.set_blend(0.5)
    red, _, blue = pixel(380, 110)
    assert abs(red - 128) <= 2 and abs(blue - 127) <= 2  # half original, half result

    view.set_mode("side")
    left, right = view.viewports()
    anchor = QPointF(left.center().x() + 30, left.center().y() - 10)
    before = view.widget_to_image(anchor, left)
    view.zoom_by(2.0, anchor)
    assert view.widget_to_image(anchor, left).x() == pytest.approx(before.x())  # zoom keeps the point under the cursor
    view.pan_by(15, -7)
    # the same image point sits at the same place in both halves: synchronised by construction
    mirror = anchor - left.center() + right.center()
    assert view.widget_to_image(mirror, right) == view.widget_to_image(anchor, left)
    view.fit()
    assert view.zoom == pytest.approx(view.fit_zoom())


def test_size_setting_translates_at_the_models_working_size_or_the_photos_own(window, qtbot, tmp_path):
    from studio.core.translate.guided import WorkingScale

    name = save_cyclegan("grainy")
    ModelStore().update_card(name, {"working_scale": WorkingScale(48).to_card()})
    window.ctx.store.refresh()
    panel = window.show_panel("translate_unpaired")
    panel.select_model(name)
    assert panel.output.size_combo.itemText(0) == "Model's choice · 48 px"
    path = write_photo(tmp_path / "cat.jpg", "chelsea", (120, 80))
    with qtbot.waitSignal(panel.result_shown, timeout=60_000):
        panel.open_image(path)
    rgb = read_image(path).rgb
    model = ModelStore().load(name)
    guided = uint8(Translator(model, device="cpu").translate_array(rgb))
    native = uint8(Translator(model, device="cpu", working_size=0).translate_array(rgb))
    assert not np.array_equal(guided, native)
    np.testing.assert_array_equal(panel.result.pixels, guided)
    assert "at 48 px + photo detail" in panel.live.info.text()
    with qtbot.waitSignal(panel.result_shown, timeout=60_000):  # a new size translates the photo again
        panel.output.size_combo.setCurrentIndex(panel.output.size_combo.findData(0))
    np.testing.assert_array_equal(panel.result.pixels, native)
    assert "photo detail" not in panel.live.info.text()
