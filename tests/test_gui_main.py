"""The main window and its plumbing: navigation and shortcuts, settings (versioned, migrated),
the log view fed from any thread, readable errors, About, workers, and a window that never
freezes while a training run and a translation work in the background."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from gui_helpers import screenshot, window_fixture, write_photo  # noqa: F401  (the window fixture)
from helpers import save_cyclegan
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox
from train_helpers import unpaired_folders

from studio.core.jobs import Control, Finished, Progress, returning
from studio.gui import resources
from studio.gui.dialogs import SettingsDialog
from studio.gui.logview import log_file
from studio.gui.panels import PANELS
from studio.gui.settings import SETTINGS_VERSION, Settings, engine_tile
from studio.gui.worker import TaskSlot, Worker

pytestmark = pytest.mark.timeout(120)


def flush_log_file() -> None:
    for handler in logging.getLogger().handlers:
        if handler.get_name() == "studio-gui-file":  # other tests may leave handlers on closed streams
            handler.flush()


def test_panels_in_order_with_ctrl_number_shortcuts_and_commands_follow_the_panel(window, qtbot):
    assert [p.key for p in PANELS] == ["translate_paired", "translate_unpaired", "paint", "train", "latent",
                                           "models"]
    for index, panel_class in enumerate(PANELS):
        qtbot.keyClick(window, Qt.Key(Qt.Key.Key_1 + index), Qt.KeyboardModifier.ControlModifier)
        assert window.current_panel().key == panel_class.key
        assert window.nav.currentRow() == index and panel_class.title in window.windowTitle()
    actions = window._command_actions
    window.show_panel("translate_paired")
    assert actions["open"].isEnabled() and not actions["save"].isEnabled() and not actions["start"].isEnabled()
    window.show_panel("train")
    assert actions["start"].isEnabled() and not actions["pause"].isEnabled() and not actions["save"].isEnabled()
    assert actions["start"].shortcut().toString() == "F5" and actions["pause"].shortcut().toString() == "Space"
    for panel_class in PANELS:  # every menu command follows whichever panel is shown
        panel = window.show_panel(panel_class.key)
        assert {n: a.isEnabled() for n, a in actions.items()} == {n: panel.command_enabled(n) for n in actions}


def test_settings_are_versioned_migrated_and_applied(window, tmp_path, qtbot):
    legacy = tmp_path / "legacy.ini"
    raw = QSettings(str(legacy), QSettings.Format.IniFormat)
    raw.setValue("device", "TPU")
    raw.setValue("tile", "auto")
    raw.setValue("theme", "Dark")
    raw.sync()
    migrated = Settings(legacy)
    assert migrated.version == SETTINGS_VERSION
    assert (migrated.device, migrated.tile, migrated.theme) == ("auto", 0, "dark")
    raw = QSettings(str(tmp_path / "small.ini"), QSettings.Format.IniFormat)
    raw.setValue("tile", "16")
    raw.sync()
    assert Settings(tmp_path / "small.ini").tile == 0  # a tile too small to be useful falls back to automatic
    newer = tmp_path / "newer.ini"
    raw = QSettings(str(newer), QSettings.Format.IniFormat)
    raw.setValue("version", SETTINGS_VERSION + 1)
    raw.setValue("tile", 512)
    raw.sync()
    assert Settings(newer).version == SETTINGS_VERSION + 1 and Settings(newer).tile == 512  # never downgraded
    assert [engine_tile(v) for v in (0, -1, 384)] == [None, 0, 384]

    settings = window.ctx.settings
    assert settings.path.parent == window.ctx.store.store.user_dir.parent  # in STUDIO_HOME
    dialog = SettingsDialog(settings, ["auto", "cpu"], window)
    assert not dialog.home.isEnabled()  # STUDIO_HOME comes from the environment here
    dialog.theme.setCurrentIndex(dialog.theme.findData("dark"))
    dialog.tile.setCurrentIndex(dialog.tile.findData(512))
    dialog.device.setCurrentIndex(dialog.device.findData("cpu"))
    changed = dialog.apply()
    assert changed == {"device": True, "tile": True, "theme": True, "home": False}
    window.apply_settings(changed)
    assert window.panel("translate_paired").tile_combo.currentData() == 512
    assert resources.current_theme() == "dark" and resources.colors()["window"] in QApplication.instance().styleSheet()
    reread = Settings(settings.path)
    assert (reread.theme, reread.tile, reread.device, reread.version) == ("dark", 512, "cpu", SETTINGS_VERSION)
    qtbot.waitUntil(lambda: window.device_label.text().startswith("Device: CPU"), timeout=10_000)
    screenshot(window, "gui-dark")
    window.show_panel("train")
    screenshot(window, "gui-dark-train")
    window._toggle_theme(False)
    assert resources.current_theme() == "light" and Settings(settings.path).theme == "light"


def test_log_view_takes_records_from_any_thread_and_the_log_file_keeps_them(window, qtbot):
    window.log_action.trigger()
    assert window.log_dock.isVisible()
    thread = threading.Thread(target=lambda: logging.getLogger("studio.test").warning("from a worker thread"))
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: "from a worker thread" in window.log_view.text(), timeout=5000)
    logging.getLogger("studio.test").debug("too detailed")
    QApplication.processEvents()
    assert "too detailed" not in window.log_view.text()
    flush_log_file()
    assert "WARNING studio.test: from a worker thread" in log_file().read_text(encoding="utf-8")


def test_errors_reach_people_as_one_readable_line(window, qtbot, tmp_path):
    broken = tmp_path / "holiday.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    panel = window.show_panel("translate_paired")
    with qtbot.waitSignal(window.ctx.error_reported, timeout=10_000) as reported:
        panel.open_image(broken)
    title, message = reported.args
    assert title == "Cannot open the photo" and message.startswith(str(broken)) and "Traceback" not in message
    qtbot.waitUntil(lambda: any(isinstance(w, QMessageBox) and w.isVisible() for w in QApplication.topLevelWidgets()))
    box = next(w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible())
    assert box.text() == message and str(log_file()) in box.informativeText()
    box.close()

    def buggy(control: Control):
        raise ValueError("a bug\nwith a second line")

    worker = Worker(buggy, "demo task")
    with qtbot.waitSignal(worker.failed, timeout=5000) as failed:
        worker.start()
    assert failed.args[0] == ("demo task failed unexpectedly (ValueError: a bug). The details are in the log file.")
    worker.wait()
    flush_log_file()
    assert "Traceback" in log_file().read_text(encoding="utf-8")  # the details are in the file, not on screen


def test_about_names_the_versions_and_the_device(window, qtbot):
    qtbot.waitUntil(lambda: "detecting" not in window.device_label.text(), timeout=10_000)
    dialog = window.show_about()
    text = dialog.text()
    import torch
    from PySide6 import __version__ as pyside_version

    for expected in ("0.1.0", torch.__version__, pyside_version, window.ctx.device_label, "Studio home"):
        assert expected in text
    screenshot(dialog, "gui-about")
    dialog.close()


def test_worker_pauses_resumes_cancels_and_a_slot_drops_stale_results(qtbot):
    gate = threading.Event()

    def counting(control: Control):
        for i in range(1, 1000):
            control.checkpoint()
            gate.wait(0.005)
            yield Progress(i, 1000)
        yield Finished({"done": True})

    slot = TaskSlot()
    seen = []
    slot.progress.connect(lambda p: seen.append(p.done))
    worker = slot.start(counting, "counting")
    qtbot.waitUntil(lambda: len(seen) >= 3, timeout=5000)
    slot.pause()
    assert slot.paused
    time.sleep(0.2)
    qtbot.wait(100)
    frozen = len(seen)
    qtbot.wait(200)
    assert len(seen) == frozen
    slot.resume()
    qtbot.waitUntil(lambda: len(seen) > frozen, timeout=5000)
    with qtbot.waitSignal(slot.cancelled, timeout=5000):
        slot.cancel()
    qtbot.waitUntil(lambda: not slot.busy, timeout=5000)
    assert worker.outcome == "cancelled" and seen == sorted(seen) and seen[-1] < 999

    results = []
    slot.result.connect(results.append)
    stale = slot.start(returning(lambda control: time.sleep(0.3) or "stale"), "slow")
    slot.start(returning(lambda control: "fresh"), "fast")
    qtbot.waitUntil(lambda: not slot.busy and not stale.isRunning(), timeout=5000)
    qtbot.wait(50)
    assert results == ["fresh"] and stale.control.cancelled


def test_the_window_never_freezes_while_training_and_translating(window, qtbot, tmp_path):
    """A QTimer ticking every 15 ms measures the longest gap on the GUI thread during real work."""
    save_cyclegan("photo2painting", ngf=16, n_blocks=4)
    window.ctx.store.refresh()
    a, b = unpaired_folders(tmp_path, junk=False)
    train = window.show_panel("train")
    form = train.form
    form.set_kind("cyclegan")
    form.name.setText("busy")
    form.preset.setCurrentIndex(form.preset.findData("fast"))
    form.size.setValue(64)
    form.steps.setValue(12)
    form.preview_every.setValue(3)
    form.set_folders(a, b)
    qtbot.waitUntil(lambda: not form.scanning() and form.scan("B") is not None, timeout=30_000)
    translate = window.panel("translate_unpaired")
    photo = write_photo(tmp_path / "big.jpg", "astronaut", (512, 512))
    translate.tile_combo.setCurrentIndex(translate.tile_combo.findData(256))  # tiled: many short forward passes

    # start-up is over: the device is found and the engine warmed up in the background (which holds
    # the interpreter for a moment, once, right after the window appears)
    qtbot.waitUntil(lambda: "detecting" not in window.device_label.text(), timeout=30_000)
    ticks: list[float] = []
    timer = QTimer(interval=15)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    translated = []
    translate.result_shown.connect(translated.append)
    timer.start()
    with qtbot.waitSignal(train.run_finished, timeout=120_000) as finished:
        train.start()
        translate.open_image(photo)
        qtbot.waitUntil(lambda: bool(translated), timeout=60_000)
        for k in range(3):  # keep the translation busy while training goes on
            if train.state == "idle":
                break
            translate.select_model("photo2painting", "b2a" if k % 2 == 0 else "a2b")
            qtbot.waitUntil(lambda: translate.is_idle(), timeout=60_000)
    timer.stop()
    assert finished.args[0]["model"] == "busy" and translated[0].pixels.shape == (512, 512, 3)
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    busy_seconds = ticks[-1] - ticks[0]
    print(f"event loop: {len(ticks)} ticks over {busy_seconds:.1f} s, longest gap {max(gaps) * 1000:.0f} ms, "
          f"median {sorted(gaps)[len(gaps) // 2] * 1000:.0f} ms")
    # a freeze is a long stall; on a shared 2-core machine the scheduler alone can hold a tick ~100 ms once in a
    # while (one make test run saw 104 ms), so: nearly every tick on time, and no stall a person would call a hang
    assert busy_seconds > 1.0 and sorted(gaps)[int(len(gaps) * 0.99)] < 0.050 and max(gaps) < 0.250
