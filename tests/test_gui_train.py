"""The training panel: folders checked before starting, a run started, paused, resumed, stopped,
resumed from the list, published to the model manager; closing the window while it trains."""

from __future__ import annotations

import time

import pytest
from gui_helpers import screenshot, window_fixture  # noqa: F401  (the window fixture)
from train_helpers import paired_folders, tiny_config, unpaired_folders

from studio.cli.main import build_parser
from studio.cli.train import train_options
from studio.core.store import ModelStore
from studio.core.train.job import read_run, run_dir, train_job
from studio.core.train.presets import run_config
from studio.gui import dialogs

pytestmark = pytest.mark.timeout(180)


def configure(panel, kind: str, name: str, steps: int, a, b=None, size: int = 32) -> None:
    form = panel.form
    form.set_kind(kind)
    form.name.setText(name)
    form.preset.setCurrentIndex(form.preset.findData("fast"))
    form.size.setValue(size)
    form.steps.setValue(steps)
    form.preview_every.setValue(2)
    form.set_folders(a, b)


def wait_scanned(qtbot, form, roles=("A", "B")) -> None:
    qtbot.waitUntil(lambda: not form.scanning() and all(form.scan(r) is not None for r in roles), timeout=30_000)


def test_train_panel_runs_pauses_resumes_stops_resumes_from_the_list_and_publishes(window, qtbot, tmp_path):
    a, b = unpaired_folders(tmp_path)  # with an unreadable file in each folder
    panel = window.show_panel("train")
    configure(panel, "cyclegan", "photo2art", 10, a, b)
    wait_scanned(qtbot, panel.form)
    assert "6 images" in panel.form.folder_a.status_text() and "1 unreadable" in panel.form.folder_a.status_text()
    assert "notes.png" in panel.form.folder_a.status.toolTip()
    assert "empty.jpg" in panel.form.folder_b.status.toolTip()

    notes = []
    window.ctx.notified.connect(lambda message, level, action: notes.append((message, level, action)))
    panel.start()
    assert panel.state == "starting" and not panel.start_button.isEnabled()
    qtbot.waitUntil(lambda: panel._step >= 2, timeout=60_000)
    panel.toggle_pause()
    qtbot.waitUntil(lambda: panel.state == "paused", timeout=30_000)
    assert read_run(run_dir("photo2art"))["state"] == "paused"
    paused_at = panel._step
    qtbot.wait(400)
    assert panel._step == paused_at  # really paused
    panel.toggle_pause()
    assert panel.state == "running"
    qtbot.waitUntil(lambda: panel._step > paused_at, timeout=30_000)
    with qtbot.waitSignal(panel.run_finished, timeout=60_000) as stopped:
        panel.stop()
    assert stopped.args[0]["cancelled"]
    qtbot.waitUntil(lambda: panel.state == "idle", timeout=10_000)
    status = read_run(run_dir("photo2art"))
    assert status["state"] == "cancelled" and status["resumable"] and status["step"] == stopped.args[0]["step"] < 10
    assert "resumed" in panel.run_log.toPlainText() and "paused at step" in panel.run_log.toPlainText()
    assert notes[-1][1] == "warning" and "stopped at step" in notes[-1][0]

    panel.select_run("photo2art")
    assert panel.resume_button.isEnabled()
    with qtbot.waitSignal(panel.run_finished, timeout=90_000) as finished:
        panel.resume_button.click()
    assert finished.args[0] == {"run": "photo2art", "step": 10, "cancelled": False, "model": "photo2art"}
    qtbot.waitUntil(lambda: panel.state == "idle", timeout=10_000)
    assert read_run(run_dir("photo2art"))["state"] == "finished"
    assert panel.stat_step.value.text() == "10 / 10" and panel.stat_state.value.text() == "Finished"
    assert panel.preview.image is not None and panel.preview.image.height() == 3 * 32
    assert panel.losses.count("G_A") == 10  # the curves so far, then the resumed steps: one point per step
    message, level, action = notes[-1]
    assert level == "success" and "photo2art" in message and action is not None
    card = ModelStore().get("photo2art").card
    assert card["provenance"]["run"] == "photo2art" and card["image_size"] == 32
    screenshot(window, "gui-train")

    action[1]()  # the notification's "Show" opens the model in the manager, with its curves
    manager = window.current_panel()
    assert manager.key == "models" and manager.selected().name == "photo2art"
    qtbot.waitUntil(lambda: manager.curves.isVisible(), timeout=10_000)
    assert {"G_A", "cycle_A", "D_B"} <= set(manager.curves.names()) and manager.curves.count("G_A") == 10
    assert window.panel("translate_unpaired").model_combo.findData("photo2art") >= 0
    screenshot(window, "gui-models-trained")


def test_pix2pix_from_the_panel_pairs_by_name_and_feeds_the_paired_panel(window, qtbot, tmp_path):
    a, b = paired_folders(tmp_path)
    (b / "p0.png").unlink()  # one input without its target
    panel = window.show_panel("train")
    configure(panel, "pix2pix", "colorize", 3, a, b)
    wait_scanned(qtbot, panel.form)
    assert panel.form.pairing.text().startswith("7 pairs matched") and "1 without a partner" in panel.form.pairing.text()
    with qtbot.waitSignal(panel.run_finished, timeout=90_000) as finished:
        window.run_command("start")  # F5
    assert finished.args[0]["model"] == "colorize"
    assert ModelStore().get("colorize").card["provenance"]["images"]["pairs"] == 7
    assert window.panel("translate_paired").model_combo.findData("colorize") >= 0

    qtbot.waitUntil(lambda: panel.state == "idle", timeout=10_000)
    form = panel.form
    form.name.setText("colorize-tuned")
    form.base_model_combo.setCurrentIndex(form.base_model_combo.findData("colorize"))  # fine-tune the model just made
    form.size.setValue(64)  # another size: the generator is the base model's, whatever the preset says
    with qtbot.waitSignal(panel.run_finished, timeout=90_000) as finished:
        panel.start()
    tuned, base = ModelStore().get("colorize-tuned").card, ModelStore().get("colorize").card
    assert finished.args[0]["model"] == "colorize-tuned" and tuned["provenance"]["from_model"] == "colorize"
    assert tuned["networks"]["G"] == base["networks"]["G"] and tuned["provenance"]["config"]["lr"] == 5e-5


def test_start_says_what_is_missing_instead_of_starting(window, qtbot, tmp_path):
    panel = window.show_panel("train")
    panel.form.name.setText("bad/name")
    panel.start()
    assert not panel._slot.busy
    text = panel.problem_label.text()
    assert "invalid model name" in text and "Choose the folder: Domain A images" in text
    empty = tmp_path / "empty"
    empty.mkdir()
    panel.form.set_folders(empty, empty)
    wait_scanned(qtbot, panel.form)
    assert "no usable image (the folder is empty)" in panel.form.folder_a.status_text()
    panel.form.name.setText("fine")
    panel.start()
    assert not panel._slot.busy and "no usable image" in panel.problem_label.text()


def test_closing_while_training_asks_then_stops_with_a_checkpoint(window, qtbot, tmp_path, monkeypatch):
    a, b = unpaired_folders(tmp_path, junk=False)
    panel = window.show_panel("train")
    configure(panel, "cyclegan", "long run", 5000, a, b)
    wait_scanned(qtbot, panel.form)
    panel.start()
    qtbot.waitUntil(lambda: panel._step >= 1, timeout=60_000)
    answers = ["Keep training", "Stop and quit"]
    asked = []
    monkeypatch.setattr(dialogs, "choose", lambda parent, title, text, choices: asked.append(text) or answers.pop(0))
    window._closing = False
    window.close()
    assert window.isVisible() and panel._slot.busy and "long run" in asked[0]
    window.close()
    started = time.monotonic()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=60_000)
    assert time.monotonic() - started < 60
    status = read_run(run_dir("long run"))
    assert status["state"] == "cancelled" and status["resumable"] and 1 <= status["step"] < 5000
    assert (run_dir("long run") / "checkpoint.pt").is_file()


def test_the_form_and_the_command_line_make_the_same_run_config(window, qtbot, tmp_path):
    a, b = unpaired_folders(tmp_path, junk=False)
    store = ModelStore()
    for _ in train_job(tiny_config("cyclegan", "base", a, b, max_steps=1)):
        pass
    window.ctx.store.refresh()
    panel = window.show_panel("train")
    configure(panel, "cyclegan", "tuned", 7, a, b)
    panel.form.epochs.setValue(5)
    panel.form.device.setCurrentIndex(panel.form.device.findData("cpu"))
    panel.form.base_model_combo.setCurrentIndex(panel.form.base_model_combo.findData("base"))
    assert panel.form.base_model() == "base"
    form = run_config("cyclegan", "tuned", panel.form.preset.currentData(), panel.form.options(),
                      panel.form.base_model(), store)
    args = build_parser().parse_args(["train", "cyclegan", "--a", str(a), "--b", str(b), "--name", "tuned",
                                      "--preset", "fast", "--size", "32", "--max-steps", "7", "--preview-every", "2",
                                      "--epochs", "5", "--device", "cpu", "--from", "base"])
    cli = run_config(args.kind, args.name, args.preset, train_options(args), args.from_model, store)
    assert form.to_dict() == cli.to_dict()
    assert form.generator["params"] == store.get("base").card["networks"]["G_A"]["params"] and form.lr == 5e-5


def test_a_fastcut_run_from_the_panel_translates_one_way_in_the_unpaired_panel(window, qtbot, tmp_path):
    a, b = unpaired_folders(tmp_path, junk=False)
    panel = window.show_panel("train")
    form = panel.form
    configure(panel, "cyclegan", "cyc", 2, a, b)
    assert not form.variant.isVisibleTo(form)  # CycleGAN has no variants
    form.set_kind("cut", "fastcut")
    assert form.variant.isVisibleTo(form) and form.variant.count() == 2
    assert form.options()["variant"] == "fastcut"
    form.name.setText("photo2art")
    wait_scanned(qtbot, form)
    with qtbot.waitSignal(panel.run_finished, timeout=90_000) as finished:
        window.run_command("start")
    assert finished.args[0]["model"] == "photo2art"
    card = ModelStore().get("photo2art").card
    assert card["kind"] == "cut" and card["provenance"]["config"]["variant"] == "fastcut"
    assert card["provenance"]["config"]["augment"] == "color,translation,cutout"  # small folder, fast preset

    unpaired = window.show_panel("translate_unpaired")
    index = unpaired.model_combo.findData("photo2art")
    assert index >= 0 and "CUT" in unpaired.model_combo.itemText(index)
    unpaired.select_model("photo2art")
    assert not unpaired.direction_combo.isVisibleTo(unpaired) and unpaired.chooser.current_direction() == "a2b"
    assert "→" in unpaired.chooser.model_hint.text() and "↔" not in unpaired.chooser.model_hint.text()
    screenshot(window, "gui-translate-cut")


def test_a_fast_copy_from_the_models_panel_trains_in_the_train_panel(window, qtbot, tmp_path):
    from helpers import save_cyclegan
    from train_helpers import crops

    from studio.core.images import write_image

    save_cyclegan("teacher")
    for k, img in enumerate(crops("astronaut", 3, size=48) + crops("coffee", 3, size=40)):
        write_image(tmp_path / "photos" / f"p{k}.png", img)
    window.ctx.store.refresh()
    models = window.show_panel("models")
    assert models.select("teacher") and models.fast_copy_button.isEnabled()
    models.fast_copy_button.click()
    panel = window.current_panel()
    form = panel.form
    assert panel.key == "train" and form.current_kind() == "distill"
    assert (form.teacher.currentData(), form.direction.currentData()) == ("teacher", "a2b")
    assert form.direction.currentText() == "photo → painting" and form.direction.count() == 2
    assert form.teacher.isVisibleTo(form) and not form.folder_b.isVisibleTo(form) and not form.variant.isVisibleTo(form)
    assert form.preset.currentData() == "fast" and form.run_name() == "teacher fast"
    assert any("Choose the folder: Photos" in p for p in form.problems())
    form.set_folders(tmp_path / "photos")
    form.size.setValue(32)
    form.steps.setValue(4)
    form.preview_every.setValue(2)
    wait_scanned(qtbot, form, ("A",))
    assert form.problems() == []
    assert {k: form.options()[k] for k in ("teacher", "direction")} == {"teacher": "teacher", "direction": "a2b"}
    with qtbot.waitSignal(panel.run_finished, timeout=90_000) as finished:
        panel.start()
    assert finished.args[0]["model"] == "teacher fast"
    card = ModelStore().get("teacher fast").card
    assert card["kind"] == "cyclegan" and card["provenance"]["teacher"]["name"] == "teacher"
    assert "photo, teacher, student" in panel.preview_caption.text()
    screenshot(window, "gui-train-fast-copy")

    unpaired = window.show_panel("translate_unpaired")
    chooser = unpaired.chooser
    unpaired.select_model("teacher", "b2a")
    assert chooser.fast_copy_button.isVisibleTo(chooser) and chooser.fast_copy_button.text() == "Make a fast copy…"
    unpaired.select_model("teacher", "a2b")  # the copied direction: its copy is offered, with its figures
    offer = chooser.fast_copy_button.text()
    assert offer.startswith("Use its fast copy · ") and "× faster" in offer and "SSIM" in offer
    chooser.fast_copy_button.click()
    assert chooser.current_model().name == "teacher fast" and chooser.current_direction() == "a2b"
    assert chooser.model_hint.text().startswith("fast copy · ") and "of “teacher”" in chooser.model_hint.text()
    assert not chooser.fast_copy_button.isVisibleTo(chooser)  # a copy is not copied again
    unpaired.select_model("teacher", "b2a")
    chooser.fast_copy_button.click()  # no copy of b2a yet: the Train panel, set up to make one
    assert window.current_panel().key == "train" and form.direction.currentData() == "b2a"


def test_a_training_process_killed_by_the_system_leaves_the_window_working_and_the_run_resumable(
        window, qtbot, tmp_path):
    import json
    import os
    import signal

    a, b = unpaired_folders(tmp_path, junk=False)
    panel = window.show_panel("train")
    configure(panel, "cyclegan", "doomed", 40, a, b)
    panel.form.checkpoint_every.setValue(2)
    wait_scanned(qtbot, panel.form)
    errors = []
    window.ctx.error_reported.connect(lambda title, message: errors.append(message))
    panel.start()
    status = run_dir("doomed") / "run.json"
    qtbot.waitUntil(lambda: status.exists() and json.loads(status.read_text()).get("step", 0) >= 4, timeout=60_000)
    child = json.loads(status.read_text())["pid"]
    assert child != os.getpid()  # the run is not in the window's process
    os.kill(child, signal.SIGKILL)  # what the kernel's out-of-memory killer does
    qtbot.waitUntil(lambda: panel.state == "idle", timeout=30_000)
    assert errors and "killed" in errors[-1] and "resume “doomed”" in errors[-1]
    window.show_panel("translate_unpaired")  # the window goes on working
    panel = window.show_panel("train")
    assert read_run(run_dir("doomed"))["state"] == "interrupted"
    with qtbot.waitSignal(panel.run_finished, timeout=120_000) as finished:
        panel.resume("doomed")
    assert finished.args[0]["step"] == 40 and finished.args[0]["model"] == "doomed"


def test_a_spade_run_from_photos_alone_makes_its_own_label_maps(window, qtbot, tmp_path):
    from conftest import photo

    from studio.core.images import write_image

    photos = tmp_path / "photos"
    for name in ("astronaut", "coffee", "chelsea"):
        write_image(photos / f"{name}.jpg", photo(name, (64, 48)))
    panel = window.show_panel("train")
    form = panel.form
    configure(panel, "spade", "", 3, photos)
    assert form.labels_row.isVisibleTo(form) and not form.pair_mode.isVisibleTo(form)
    assert not form.folder_a.isVisibleTo(form) and form.classes.value() == 8  # photos only, by default
    form.set_folders("", photos)
    form.classes.setValue(4)
    wait_scanned(qtbot, form, roles=("B",))
    assert form.problems() == [] and form.suggested_name() == "photos painter"
    assert form.options()["classes"] == 4 and form.options()["dir_b"] == str(photos.resolve())
    args = build_parser().parse_args(["train", "spade", "--photos", str(photos), "--classes", "4",
                                      "--name", "photos painter", "--preset", "fast", "--size", "32",
                                      "--max-steps", "3", "--preview-every", "2"])
    cli = run_config(args.kind, args.name, args.preset, train_options(args), None)
    assert run_config("spade", "photos painter", "fast", form.options()).to_dict() == cli.to_dict()
    form.labels_mode.setCurrentIndex(form.labels_mode.findData("given"))
    assert form.folder_a.isVisibleTo(form) and not form.classes.isVisibleTo(form)
    assert any("Label maps" in line for line in form.problems())
    form.labels_mode.setCurrentIndex(form.labels_mode.findData("auto"))
    with qtbot.waitSignal(panel.run_finished, timeout=90_000) as finished:
        window.run_command("start")
    card = ModelStore().get(finished.args[0]["model"]).card
    assert card["kind"] == "spade" and len(card["palette"]) == 4 and "segmenter" in card
    screenshot(window, "gui-train-spade")


def test_the_preset_suits_the_device_until_the_person_picks_one(window, qtbot):
    from studio.gui.panels.train_form import TrainForm

    qtbot.waitUntil(lambda: window.ctx.device_type != "", timeout=30_000)  # the window's own probe is in
    form = TrainForm(window.ctx)
    qtbot.addWidget(form)
    form.set_kind("cyclegan")
    assert form.preset.currentData() == ("fast" if window.ctx.device_type == "cpu" else "reference")
    window.ctx.set_device("CUDA GPU", ["auto", "cpu", "cuda"], "cuda")
    assert form.preset.currentData() == "reference"
    window.ctx.set_device("CPU (2 threads)", ["auto", "cpu"], "cpu")
    assert form.preset.currentData() == "fast"
    form.preset.setCurrentIndex(form.preset.findData("reference"))
    form.preset.activated.emit(form.preset.currentIndex())  # what a click on the item sends
    window.ctx.set_device("CPU (2 threads)", ["auto", "cpu"], "cpu")
    assert form.preset.currentData() == "reference"  # the person's choice stays
