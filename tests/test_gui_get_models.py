"""The Get models dialog over a real HTTP server on 127.0.0.1 that serves reference-layout
checkpoints built here: install and select, a queue, cancel, the pair offer, offline, errors."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from pathlib import Path

import pytest
import torch
from gui_helpers import screenshot, window_fixture  # noqa: F401  (the window fixture)
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QScrollArea
from reference_arch import randomize, reference_resnet, reference_unet

from studio.core import paths
from studio.core.store import ModelStore
from studio.gui import dialogs

pytestmark = pytest.mark.timeout(120)


class Mirror(http.server.ThreadingHTTPServer):
    """Serves ``root`` like the reference's host; ``delay`` seconds between 4 kB chunks makes a
    download slow enough to watch; ``requests`` records every path asked for."""

    daemon_threads = True

    def __init__(self, root: Path):
        self.root, self.delay, self.requests = root, 0.0, []
        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def handle_error(self, request, client_address) -> None:
        pass  # a cancelled download closes its connection mid-file: expected, not worth a traceback


class Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=str(args[2].root), **kwargs)

    def log_message(self, *args) -> None:  # keep pytest's output clean
        pass

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        super().do_GET()

    def copyfile(self, source, outputfile) -> None:
        while chunk := source.read(4096):
            outputfile.write(chunk)
            outputfile.flush()
            if self.server.delay:
                time.sleep(self.server.delay)


def write_checkpoints(root: Path) -> None:
    """Tiny reference generators at the reference's paths (cyclegan/pretrained_models/NAME.pth,
    pix2pix/models-pytorch/NAME.pth), and an HTML page where facades_label2photo should be."""
    cyclegan = root / "cyclegan" / "pretrained_models"
    cyclegan.mkdir(parents=True)
    for seed, name in enumerate(("horse2zebra", "zebra2horse", "apple2orange")):
        torch.save(randomize(reference_resnet(ngf=8, blocks=2), seed).state_dict(), cyclegan / f"{name}.pth")
    pix2pix = root / "pix2pix" / "models-pytorch"
    pix2pix.mkdir(parents=True)
    torch.save(randomize(reference_unet(num_downs=5, ngf=8)).state_dict(), pix2pix / "edges2shoes.pth")
    (pix2pix / "facades_label2photo.pth").write_text("<html><body>Moved. Please log in.</body></html>")


@pytest.fixture(name="mirror", scope="module")
def mirror_fixture(tmp_path_factory):
    root = tmp_path_factory.mktemp("mirror")
    write_checkpoints(root)
    server = Mirror(root)
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def quick_mirror(mirror):
    mirror.delay, mirror.requests[:] = 0.0, []


def open_dialog(opener, qtbot):
    dialog = opener()
    qtbot.waitExposed(dialog)
    qtbot.waitUntil(lambda: dialog.banner.reason is not None, timeout=10_000)
    return dialog


def leftovers() -> list[Path]:
    folder = paths.studio_home() / "downloads"
    return sorted(folder.rglob("*")) if folder.exists() else []


def test_install_from_the_models_panel_selects_the_model(window, qtbot, mirror):
    window.ctx.settings.model_mirror = mirror.url
    panel = window.show_panel("models")
    panel.get_models_button.click()
    dialog = open_dialog(lambda: panel.get_models_dialog, qtbot)
    assert not dialog.banner.offline and not dialog.banner.isVisible()
    groups = [dialog.tree.topLevelItem(i).text(0) for i in range(dialog.tree.topLevelItemCount())]
    assert groups == ["CycleGAN", "pix2pix"] and len(dialog.tree.items) == 23
    item = dialog.tree.items["horse2zebra"]
    assert item.text(0) == "Horse → zebra" and item.text(1) and item.text(3) == ""
    assert dialog.tree.select_entry("horse2zebra")
    assert dialog.pair_box.isVisible() and "zebra2horse" in dialog.pair_box.text()
    with qtbot.waitSignal(dialog.installed, timeout=60_000) as done:
        qtbot.keyClick(dialog.tree, Qt.Key.Key_Return)  # Enter installs the current row
    name = done.args[0]
    qtbot.waitUntil(lambda: not dialog.busy, timeout=10_000)
    assert panel.selected() is not None and panel.selected().name == name
    card = ModelStore().get(name).card
    assert card["provenance"]["catalog_id"] == "horse2zebra"
    assert card["provenance"]["url"] == f"{mirror.url}/cyclegan/pretrained_models/horse2zebra.pth"
    assert dialog.tree.state_text("horse2zebra") == f"Installed as {name}"
    assert f"Installed {name}" in dialog.row.status.text() and not dialog.row.bar.isVisible()
    assert not dialog.install_button.isEnabled()  # already installed
    assert window.panel("translate_unpaired").model_combo.findData(name) >= 0  # the hub told the others
    qtbot.wait(50)  # let the layout settle (the bar's room goes) before the picture
    screenshot(dialog, "gui-get-models-installed")
    assert not dialog.install("horse2zebra") and "already installed" in dialog.row.status.text()


def test_installs_queue_and_cancel_leaves_nothing_behind(window, qtbot, mirror, monkeypatch):
    monkeypatch.setenv("STUDIO_MODEL_MIRROR", mirror.url)  # the environment, without the setting
    mirror.delay = 0.03
    panel = window.show_panel("models")
    dialog = open_dialog(panel.open_get_models, qtbot)
    seen = []
    dialog.slot.progress.connect(seen.append)
    installed = []
    dialog.installed.connect(installed.append)
    assert dialog.install("horse2zebra", with_pair=False)
    qtbot.waitUntil(lambda: bool(seen) and 0 < seen[-1].done < seen[-1].total, timeout=20_000)
    dialog.tree.select_entry("apple2orange")
    dialog.install_button.click()  # while one runs: queued
    assert dialog.queue == [["apple2orange"]] and dialog.queue_label.isVisible()
    assert "Apple → orange" in dialog.queue_label.text()
    assert dialog.tree.state_text("apple2orange") == "Queued"
    assert dialog.tree.state_text("horse2zebra") == "Installing…"
    assert dialog.row.bar.isVisible() and dialog.row.cancel_button.isVisible()
    assert "Horse → zebra:" in dialog.row.status.text() and " of " in dialog.row.status.text()
    screenshot(dialog, "gui-get-models-installing")

    dialog.row.cancel_button.click()
    qtbot.waitUntil(lambda: "apple2orange" in dialog.running, timeout=20_000)  # the queue moved on
    assert "cancelled" in dialog.last_message and dialog.done_label.isVisible()
    assert "horse2zebra" not in dialog.installed_ids
    qtbot.waitUntil(lambda: not dialog.busy and bool(installed), timeout=60_000)
    assert installed == ["apple2orange"] and panel.selected().name == "apple2orange"
    assert [m.name for m in ModelStore().list()] == ["apple2orange"]  # no half model of the cancelled one
    assert not [p for p in leftovers() if "horse2zebra" in p.name]  # no stray partial file
    assert not dialog.queue_label.isVisible()


def test_the_pair_offer_from_the_unpaired_panel_makes_one_two_way_model(window, qtbot, mirror):
    window.ctx.settings.model_mirror = mirror.url
    panel = window.show_panel("translate_unpaired")
    assert panel.chooser.get_models_button.isVisible()
    panel.chooser.get_models_button.click()
    dialog = open_dialog(lambda: panel.chooser.get_models_dialog, qtbot)
    assert {e.kind for e in dialog.tree.entries.values()} == {"cyclegan"}
    assert dialog.tree.topLevelItemCount() == 1
    dialog.tree.select_entry("horse2zebra")
    dialog.pair_box.setChecked(True)
    with qtbot.waitSignal(dialog.installed, timeout=60_000) as done:
        dialog.install_button.click()
    name = done.args[0]
    qtbot.waitUntil(lambda: not dialog.busy, timeout=10_000)
    assert panel.current_model() is not None and panel.current_model().name == name  # chosen in the panel
    assert ModelStore().get(name).directions() == ["a2b", "b2a"]
    assert [panel.direction_combo.itemData(i) for i in range(panel.direction_combo.count())] == ["a2b", "b2a"]
    assert dialog.tree.state_text("zebra2horse") == f"Installed as {name}" and not dialog.pair_box.isVisible()
    assert len([m for m in ModelStore().list()]) == 1


def test_offline_says_so_in_one_line_fast_and_offers_the_import(window, qtbot, monkeypatch):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    window.ctx.settings.model_mirror = f"http://127.0.0.1:{port}"
    panel = window.show_panel("translate_paired")
    started = time.monotonic()
    dialog = open_dialog(panel.open_get_models, qtbot)
    assert time.monotonic() - started < 5
    assert {e.kind for e in dialog.tree.entries.values()} == {"pix2pix"}
    assert dialog.banner.offline and dialog.banner.isVisible()
    line = dialog.banner.label.text()
    assert line.startswith("Offline: ") and "connection refused" in line and "\n" not in line
    assert "Import" in dialog.banner.import_button.text() and dialog.banner.import_button.isVisible()
    asked = []
    monkeypatch.setattr(dialogs, "open_files", lambda *args, **kw: asked.append(args[1]) or [])
    dialog.banner.import_button.click()
    assert asked == ["Import models"] and window.current_panel().key == "models"
    dialog.install("edges2shoes")  # trying anyway: one line, and the dialog stays usable
    qtbot.waitUntil(lambda: not dialog.busy, timeout=20_000)
    assert dialog.last_message.startswith("Could not install Edges → shoes") or "refused" in dialog.last_message
    assert "\n" not in dialog.last_message and "Traceback" not in dialog.last_message
    assert dialog.install_button.isEnabled() and ModelStore().list() == []


def test_server_errors_arrive_as_one_line_and_the_dialog_stays_usable(window, qtbot, mirror):
    window.ctx.settings.model_mirror = mirror.url
    panel = window.show_panel("translate_paired")
    dialog = open_dialog(panel.open_get_models, qtbot)
    lines = []
    for entry_id in ("day2night", "facades_label2photo"):  # a 404, then an HTML page instead of weights
        entry = next(e for e in dialog.tree.entries.values() if e.name == entry_id)
        dialog.install(entry.id)
        qtbot.waitUntil(lambda: not dialog.busy, timeout=20_000)
        lines.append(dialog.row.status.text())
    assert all(line and "\n" not in line and "Traceback" not in line for line in lines), lines
    assert "404" in lines[0] or "not found" in lines[0].lower()
    assert ModelStore().list() == [] and not leftovers()
    with qtbot.waitSignal(dialog.installed, timeout=60_000) as done:  # still usable
        dialog.install("edges2shoes")
    qtbot.waitUntil(lambda: not dialog.busy, timeout=10_000)
    assert panel.current_model().name == done.args[0]


def test_the_menu_opens_the_current_panels_dialog_or_the_models_one(window, qtbot):
    assert window.get_models_action.shortcut().toString() == "Ctrl+Shift+G"
    for key in ("translate_paired", "translate_unpaired"):  # the button must not widen the sidebar
        chooser = window.show_panel(key).chooser
        qtbot.wait(50)
        scroll = chooser.parentWidget()
        while not isinstance(scroll, QScrollArea):
            scroll = scroll.parentWidget()
        assert chooser.mapTo(scroll.widget(), chooser.rect().topRight()).x() <= scroll.viewport().width()
        assert "Ctrl+Shift+G" in chooser.get_models_button.toolTip()
    window.show_panel("translate_paired")
    window.get_models_action.trigger()
    paired = window.show_panel("translate_paired").chooser.get_models_dialog
    assert paired is not None and paired.isVisible() and paired.kind == "pix2pix"
    paired.close()
    window.show_panel("train")
    window.get_models_action.trigger()
    assert window.current_panel() is window.show_panel("models")
    every = window.show_panel("models").get_models_dialog
    assert every is not None and every.isVisible() and every.kind is None
    every.close()
