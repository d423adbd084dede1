"""``studio --self-test DIR``: open the real window, go through every panel, save screenshots.

It is what a packaged build is smoke-tested with, so it needs nothing from the source tree: the
sample photos come from ``resources/``, and when there are no built-in models it makes small
untrained ones itself. Everything happens in a temporary STUDIO_HOME that is removed at the end;
the person's own models, runs and settings are never touched. Exit status 0 only if every step
worked.

It is over 450 lines since the Paint panel's step: one method per panel's step, read in order; the
tiny-model makers (``selftest_data``) are already apart, and the steps would be the next to go.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication, QWidget

from studio.core import jobs

from .qimages import array_from_qimage
from .selftest_data import (
    LATENT_MODEL,
    make_training_folders,
    make_untrained_models,
    serve_folder,
    train_latent_model,
    write_map_folder,
    write_reference_checkpoint,
)

log = logging.getLogger(__name__)

STEP_TIMEOUT = 300.0  # seconds; a slow CPU still trains four tiny steps well within this
WINDOW_SIZE = (1360, 860)


def _report(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def wait_until(predicate: Callable[[], bool], timeout: float = STEP_TIMEOUT) -> bool:
    """Run the event loop until ``predicate()`` holds or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    loop = QEventLoop()
    while not predicate():
        if time.monotonic() > deadline:
            return False
        QTimer.singleShot(20, loop.quit)
        loop.exec()
    return True


class _Catcher:
    """Records the arguments of the next emission of a signal."""

    def __init__(self, signal: Any):
        self.values: list[tuple] = []
        signal.connect(self._caught)

    def _caught(self, *args: Any) -> None:
        self.values.append(args)

    def wait(self, timeout: float = STEP_TIMEOUT) -> tuple:
        if not wait_until(lambda: bool(self.values), timeout):
            raise TimeoutError(f"nothing came within {timeout:.0f} s")
        return self.values[-1]


def _in_worker(job: Callable[[Any], Any], name: str) -> Any:
    """Run ``job(control) -> value`` in a worker thread (never on the GUI thread), keep the event loop
    going, return its value."""
    from .worker import Worker

    worker = Worker(jobs.returning(job), name)
    done = _Catcher(worker.finished)
    worker.start()
    done.wait()
    if worker.outcome != "result":
        raise RuntimeError(worker.error or f"{name} failed")
    return worker.value


class SelfTest:
    def __init__(self, window: Any, out_dir: Path, scratch: Path):
        self.window = window
        self.out_dir = out_dir
        self.scratch = scratch
        self.results: list[tuple[str, bool, str]] = []

    def step(self, name: str, action: Callable[[], str]) -> bool:
        started = time.monotonic()
        try:
            detail = action()
        except Exception as exc:  # every failure is reported, and the next steps still run
            log.error("self-test step %s failed:\n%s", name, traceback.format_exc())
            self.results.append((name, False, f"{type(exc).__name__}: {exc}"))
            _report(f"FAIL {name}: {type(exc).__name__}: {exc}")
            return False
        seconds = time.monotonic() - started
        self.results.append((name, True, detail))
        _report(f"ok   {name} ({seconds:.1f} s): {detail}")
        return True

    def shot(self, name: str, widget: QWidget | None = None) -> Path:
        widget = widget or self.window
        self.window.toast.hide()
        QApplication.processEvents()
        wait_until(lambda: False, 0.3)  # let pending repaints (plots, previews) land
        path = self.out_dir / f"{name}.png"
        if not widget.grab().save(str(path)):
            raise OSError(f"could not write {path}")
        return path

    # -- the steps -----------------------------------------------------------------------------
    def models(self) -> str:
        store = self.window.ctx.store.store
        made = _in_worker(lambda control: make_untrained_models(store), "making self-test models")
        self.window.ctx.store.refresh()
        kinds = {m.kind for m in self.window.ctx.store.models()}
        missing = {"pix2pix", "cyclegan"} - kinds
        if missing:
            raise RuntimeError(f"no {', '.join(sorted(missing))} model in the store")
        return f"made {', '.join(made)}" if made else "using the built-in models"

    def translate(self, key: str, photo: Path, direction: str | None, mode: str, shot: str,
                  model: str | None = None) -> str:
        """Translate ``photo`` in panel ``key`` with ``model`` (default: the first of the panel's first kind)."""
        panel = self.window.show_panel(key)
        name = model or self.window.ctx.store.models([panel.kinds[0]])[0].name
        panel.select_model(name, direction)
        shown = _Catcher(panel.result_shown)
        panel.open_image(photo)
        result = shown.wait()[0]
        # a stale result of an earlier choice could arrive first: wait for this photo's
        wait_until(lambda: panel.is_idle() and panel.result is not None, STEP_TIMEOUT)
        result, opened = panel.result, panel.opened
        if result.pixels.shape != opened.pixels.shape:
            raise AssertionError(f"output {result.pixels.shape} differs from input {opened.pixels.shape}")
        if not np.isfinite(result.pixels).all() or result.pixels.std() == 0:
            raise AssertionError("the output is blank")
        panel.view.set_mode(mode)
        panel.blend_slider.setValue(85 if mode == "wipe" else 100)
        self.shot(shot)
        return (f"{photo.name} {opened.pixels.shape[1]}×{opened.pixels.shape[0]} with {result.model} "
                f"({result.direction}) in {result.seconds:.2f} s on {result.device}")

    def save(self, key: str) -> str:
        from studio.core.images import read_image

        panel = self.window.show_panel(key)
        target = self.scratch / "saved" / "result.jpg"
        saved = _Catcher(panel.saved)
        panel.save_result(target)
        saved.wait()
        back = read_image(target)
        if back.size != (panel.result.picture.width, panel.result.picture.height):
            raise AssertionError(f"saved image is {back.size}")
        return f"saved and read back {target.name} ({back.size[0]}×{back.size[1]})"

    def train(self, photos: list[Path]) -> str:
        panel = self.window.show_panel("train")
        a, b = make_training_folders(self.scratch / "data", photos)
        form = panel.form
        form.set_kind("cut", "fastcut")  # the one-generator kind: the quickest run, and CycleGAN's paths are shared
        form.name.setText("self-test run")
        form.preset.setCurrentIndex(form.preset.findData("fast"))
        form.advanced_toggle.setChecked(True)
        form.size.setValue(32)
        form.steps.setValue(4)
        form.preview_every.setValue(2)
        form.checkpoint_every.setValue(100)
        form.device.setCurrentIndex(form.device.findData("cpu"))  # the self-test checks the app, not the GPU
        form.set_folders(a, b)
        if not wait_until(lambda: not form.scanning() and form.scan("A") is not None and form.scan("B") is not None, 60):
            raise TimeoutError("the folders were not checked in time")
        problems = form.problems()
        if problems:
            raise AssertionError("; ".join(problems))
        finished = _Catcher(panel.run_finished)
        panel.start()
        data = finished.wait()[0]
        if data.get("cancelled") or not data.get("model"):
            raise AssertionError(f"the run did not publish a model: {data}")
        wait_until(lambda: panel.state == "idle", 30)
        if self.window.ctx.store.find(data["model"]) is None:
            raise AssertionError(f"model {data['model']!r} is not in the store")
        if panel.losses.count(panel.losses.names()[0]) < 4:
            raise AssertionError("the loss curves did not get every step")
        if panel.preview.image is None:
            raise AssertionError("no preview image arrived")
        self.shot("3-train")
        return f"trained {data['step']} steps and published {data['model']!r}"

    def fast_copy(self, teacher: str, photos: list[Path]) -> str:
        """"Make a fast copy…" of a model from the Models panel, trained in the Train panel."""
        self.window.show_panel("models", teacher).make_fast_copy()
        panel = self.window.current_panel()
        form = panel.form
        if panel.key != "train" or form.current_kind() != "distill" or form.teacher.currentData() != teacher:
            raise AssertionError("Make a fast copy… did not set the Train panel up")
        folder = self.scratch / "copy-photos"
        folder.mkdir(parents=True, exist_ok=True)
        for photo in photos:
            shutil.copy(photo, folder / photo.name)
        form.advanced_toggle.setChecked(True)
        form.size.setValue(64)
        form.steps.setValue(60)
        form.preview_every.setValue(5)
        form.device.setCurrentIndex(form.device.findData("cpu"))
        form.set_folders(folder)
        if not wait_until(lambda: not form.scanning() and form.scan("A") is not None, 60):
            raise TimeoutError("the folder was not checked in time")
        finished = _Catcher(panel.run_finished)
        panel.start()
        wait_until(lambda: panel.preview.image is not None or panel.state == "idle", STEP_TIMEOUT)
        self.shot("3c-fast-copy")  # in progress: photo | teacher | student
        data = finished.wait()[0]
        if data.get("cancelled") or not data.get("model"):
            raise AssertionError(f"the fast copy did not publish a model: {data}")
        info = self.window.ctx.store.find(data["model"])
        if info is None or info.copy_of() != (teacher, "a2b"):
            raise AssertionError(f"{data['model']!r} is not in the store as a copy of {teacher!r}")
        metrics = info.card["metrics"]
        return (f"copied {teacher!r} in {data['step']} steps: {metrics['speedup']}× faster at 512², "
                f"SSIM {metrics.get('ssim_to_teacher', float('nan')):.3f} to it on a held-out photo")

    def manager(self, name: str) -> str:
        panel = self.window.show_panel("models", name)
        info = panel.selected()
        if info is None or info.name != name:
            raise AssertionError(f"the manager did not select {name!r}")
        wait_until(lambda: panel.curves.isVisible(), 30)
        self.shot("5-models")
        return f"{len(panel.model_names())} models listed; {name} shows its card and curves"

    def latent(self, photos: list[Path]) -> str:
        """Drop four anchors on the built-in VAE (its examples) or, without one, on a tiny VAE trained
        here; drag the cursor, make a strip; the shot shows all of it."""
        starters = [m for m in self.window.ctx.store.models(["vae"]) if m.builtin and len(m.examples()) >= 4]
        starter = next((m for m in starters if m.featured), starters[0] if starters else None)
        if starter is not None:
            model_name, anchors = starter.name, starter.examples()[:4]
        else:
            a, b = make_training_folders(self.scratch / "latent_data", photos, per_photo=6)
            _in_worker(lambda control: train_latent_model(a.parent, LATENT_MODEL, control=control),
                       "training the self-test VAE")
            self.window.ctx.store.refresh()
            model_name, anchors = LATENT_MODEL, [*photos[:3], next(iter(sorted(b.glob("*.png"))))][:4]
        panel = self.window.show_panel("latent")
        panel.select_model(model_name)
        panel.clear_anchors()  # the first visit may have placed the examples already
        panel.add_images(anchors)
        if not wait_until(lambda: len(panel.anchors) == len(anchors) and panel.model is not None, 120):
            raise TimeoutError(f"{len(panel.anchors)} of {len(anchors)} anchors encoded")
        frames = []
        for k in range(12):  # a drag from near the first anchor towards the middle
            panel.pad.set_cursor((0.15 + 0.03 * k, 0.2 + 0.025 * k))
            serial = panel.request_render()
            if not wait_until(lambda s=serial: panel.shown_serial >= s, 60):
                raise TimeoutError("no frame came from the render worker")
            frames.append(panel.frame_rgb())
        if all(np.array_equal(frames[0], f) for f in frames[1:]) or frames[-1].std() == 0:
            raise AssertionError("the live result did not change while the cursor moved")
        strip = _Catcher(panel.strip_ready)
        panel.make_strip(0, 1, steps=8)
        strip.wait(120)
        self.shot("4-latent")
        return (f"{len(panel.anchors)} anchors on {model_name!r}, {len(frames)} live frames at "
                f"{panel.ms_per_frame:.1f} ms/frame, an 8-frame strip")

    def latent_arithmetic(self) -> str:
        """A = B gives C's reconstruction; the shot shows anchors 1 − 2 + 3."""
        panel = self.window.show_panel("latent")
        part = panel.arithmetic
        for a, b, c in ((1, 1, 2), (0, 1, 2)):
            part.choose(a, b, c, 1.0)
            if not wait_until(lambda: not part.busy and part.rgb is not None, 60):
                raise TimeoutError("no arithmetic result came")
            if a == b and not np.array_equal(part.rgb, panel.anchors[c].recon):
                raise AssertionError("C + (A − A) is not the decode of C")
        panel.side.verticalScrollBar().setValue(panel.arithmetic_box.y() - 4)  # the whole box, from its title
        self.shot("4b-latent-arithmetic")
        return f"{part.result_caption.text()} decoded"

    def latent_map(self) -> str:
        """Map the anchors and samples of the model, decode under the cursor, click a thumbnail to add it."""
        panel = self.window.show_panel("latent")
        part, model = panel.map_part, panel.model
        folder = _in_worker(lambda control: write_map_folder(model, [a.path for a in panel.anchors],
                                                             self.scratch / "latent_map"), "writing a folder to map")
        panel.tabs.setCurrentIndex(1)
        ready = _Catcher(part.map_ready)
        part.map_folder(folder)
        ready.wait(120)
        tiles = part.view.tiles
        frames = []
        for x, y in ((0.45, 0.4), (0.62, 0.55)):
            part.view.set_cursor((x * part.result.latent_map.layout.size, y * part.result.latent_map.layout.size))
            if not wait_until(lambda: not part.decoder.busy and part.decoder.frame is not None, 60):
                raise TimeoutError("no frame came for the point under the cursor")
            frames.append(array_from_qimage(part.decoder.frame))
        if np.array_equal(frames[0], frames[1]):
            raise AssertionError("the decoded latent did not follow the cursor")
        self.shot("4c-latent-map")
        count = len(panel.anchors)
        part.view.picked.emit(len(tiles) - 1)
        if not wait_until(lambda: len(panel.anchors) == count + 1, 60):
            raise TimeoutError("a click on a thumbnail did not add an anchor")
        panel.tabs.setCurrentIndex(0)
        return f"{len(tiles)} images mapped, decoded under the cursor, {tiles[-1].name} added as anchor {count + 1}"

    def paint(self, photo: Path) -> str:
        """The Paint panel with the first spade model (a built-in one first): the photo's classes (a blank map
        for a model that cannot segment), two strokes, the live picture. Without one, the empty state."""
        panel = self.window.show_panel("paint")
        if not panel.model_names():
            if panel.canvas.labels is not None or "Train one" not in panel.chooser.hint.text():
                raise AssertionError("without a spade model the Paint panel does not say how to get one")
            self.shot("10-paint")
            return "no spade model in the store: the empty state, saying how to train one"
        name = panel.model_names()[0]
        panel.select_model(name)
        if not wait_until(lambda: panel.painter is not None and panel.painter.name == name, 120):
            raise TimeoutError(f"{name!r} was not loaded")
        segments = panel.painter.segmenter is not None
        if segments:
            opened = _Catcher(panel.map_opened)
            panel.from_photo(photo)
            opened.wait(120)
        else:
            panel.new_map(256, 256)
        pictures = []
        canvas, classes = panel.canvas, len(panel.painter.palette)
        height, width = canvas.labels.shape
        canvas.set_brush_size(max(4, width // 14))
        for k, path in enumerate(((), ((0.1, 0.8), (0.35, 0.6), (0.6, 0.75), (0.9, 0.6)),
                                  ((0.7, 0.1), (0.82, 0.28), (0.7, 0.45)))):
            canvas.set_class(k % classes)
            canvas.stroke([(x * width, y * height) for x, y in path])
            serial = panel.request_render()
            if not wait_until(lambda s=serial: panel.shown_serial >= s and panel.is_idle(), 120):
                raise TimeoutError("no picture came from the render worker")
            pictures.append(panel.result_rgb())
        if pictures[-1].shape != (height, width, 3) or np.array_equal(pictures[0], pictures[-1]):
            raise AssertionError("the picture did not follow the strokes")
        panel.live.view.set_mode("wipe")
        panel.live.view.set_wipe(0.35)
        self.shot("10-paint")
        start = f"{photo.name}'s classes" if segments else "a blank map"
        return f"{start} painted with {name!r} at {width}×{height}; the picture in {panel.ms_per_render:.0f} ms"

    def get_models(self) -> str:
        """Install horse2zebra from a loopback mirror: one shot while it downloads, one when done."""
        root = self.scratch / "mirror"
        _in_worker(lambda control: write_reference_checkpoint(root / "cyclegan" / "pretrained_models"
                                                              / "horse2zebra.pth"), "writing a reference checkpoint")
        server = serve_folder(root)
        settings = self.window.ctx.settings
        settings.model_mirror = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            panel = self.window.show_panel("models")
            dialog = panel.open_get_models()
            if not wait_until(lambda: dialog.banner.reason is not None, 30) or dialog.banner.offline:
                raise RuntimeError(f"the loopback mirror did not answer: {dialog.banner.reason}")
            dialog.tree.select_entry("horse2zebra")
            progress, installed = _Catcher(dialog.slot.progress), _Catcher(dialog.installed)
            dialog.install("horse2zebra", with_pair=False)
            if not wait_until(lambda: bool(progress.values) and 0 < progress.values[-1][0].fraction < 0.7, 60):
                raise TimeoutError("no download progress came")
            self.shot("8-get-models-installing", dialog)
            name = installed.wait(120)[0]
            wait_until(lambda: not dialog.busy, 30)
            if panel.selected() is None or panel.selected().name != name:
                raise AssertionError(f"the Models panel did not select {name!r}")
            self.shot("9-get-models-installed", dialog)
            dialog.close()
        finally:
            settings.model_mirror = ""
            server.shutdown()
            server.server_close()
        return f"installed {name!r} from a loopback mirror ({len(progress.values)} progress reports)"

    def dialogs(self) -> str:
        from .dialogs import SettingsDialog

        settings = SettingsDialog(self.window.ctx.settings, self.window.ctx.devices_available, self.window)
        settings.show()
        self.shot("6-settings", settings)
        settings.close()
        about = self.window.show_about()
        self.shot("7-about", about)
        about.close()
        return "settings and about dialogs drawn"


def run_self_test(out_dir: Path) -> int:
    """Go through every panel, save screenshots into ``out_dir``; 0 if everything worked."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="studio-self-test-"))
    saved_home = os.environ.get("STUDIO_HOME")
    os.environ["STUDIO_HOME"] = str(scratch / "home")  # never the person's own models or settings
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from . import resources
    from .app import build_window, create_app, safe_worker_processes
    from .worker import shutdown_workers

    safe_worker_processes()
    app = create_app()
    window = None
    try:
        window = build_window(app)
        window.resize(*WINDOW_SIZE)
        window.show()
        test = SelfTest(window, out_dir, scratch)
        photos = resources.sample_photos()
        if len(photos) < 2:
            _report(f"FAIL samples: fewer than two sample photos in {resources.resource_path('samples')}")
            return 1
        by_name = {p.stem: p for p in photos}
        first = by_name.get("astronaut", photos[0])
        second = by_name.get("chelsea", photos[1])
        if test.step("models", test.models):
            test.step("translate paired", lambda: test.translate("translate_paired", first, None, "wipe",
                                                                 "1-translate-paired"))
            test.step("translate unpaired", lambda: test.translate("translate_unpaired", second, "a2b", "side",
                                                                   "2-translate-unpaired"))
            test.step("save result", lambda: test.save("translate_unpaired"))
        trained = test.step("train", lambda: test.train(photos))
        if test.step("latent explorer", lambda: test.latent(photos)):
            test.step("latent arithmetic", test.latent_arithmetic)
            test.step("latent map", test.latent_map)
        test.step("paint", lambda: test.paint(first))
        if trained:
            test.step("translate with the trained model", lambda: test.translate(
                "translate_unpaired", first, None, "wipe", "3b-translate-trained", model="self-test run"))
            test.step("fast copy", lambda: test.fast_copy("self-test run", photos))
            test.step("model manager", lambda: test.manager("self-test run"))
        else:
            test.step("model manager", lambda: test.shot("5-models", window.show_panel("models")) and "shown")
        test.step("dialogs", test.dialogs)
        test.step("get models", test.get_models)
        failed = [name for name, ok, _ in test.results if not ok]
        _report(f"self-test: {len(test.results) - len(failed)} of {len(test.results)} steps passed; "
                f"screenshots in {out_dir}")
        return 1 if failed else 0
    except Exception:
        _report("FAIL self-test: " + traceback.format_exc())
        return 1
    finally:
        if window is not None:
            window._closing = True  # no "training in progress" question in a self-test
            window.close()
        shutdown_workers(15_000)
        from .logview import uninstall_logging

        uninstall_logging()
        if saved_home is None:
            os.environ.pop("STUDIO_HOME", None)
        else:
            os.environ["STUDIO_HOME"] = saved_home
        shutil.rmtree(scratch, ignore_errors=True)
