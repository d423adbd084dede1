"""Fixtures and helpers of the GUI tests: a real main window in the test's STUDIO_HOME, drops,
photos on disk, screenshots. Test modules import ``window_fixture`` to get the ``window`` fixture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import photo
from PySide6.QtCore import QEvent, QMimeData, QPointF, QStandardPaths, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication

from studio.core.images import write_image

SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"


@pytest.fixture(name="window")
def window_fixture(qapp, qtbot):
    """The real main window over the test's own STUDIO_HOME; closed and cleaned up afterwards."""
    # The test machine's two cores are shared by several jobs: one torch thread is much faster there.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    QStandardPaths.setTestModeEnabled(True)
    from studio.gui.app import build_window, create_app
    from studio.gui.logview import uninstall_logging
    from studio.gui.worker import shutdown_workers

    app = create_app()
    win = build_window(app)
    qtbot.addWidget(win)
    win.resize(1360, 860)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win._closing = True  # tests that leave work running are not asked about it
    win.close()
    assert shutdown_workers(20_000), "a worker did not stop"
    uninstall_logging()
    torch.set_num_threads(threads)


def write_photo(path: Path, name: str = "astronaut", size: tuple[int, int] = (90, 70)) -> Path:
    write_image(path, photo(name, size))
    return path


def drop(widget, paths: list[Path]) -> QDropEvent:
    """Deliver a drop of local files onto ``widget`` as a file manager would."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    widget.dropEvent(event)
    return event


def screenshot(widget, name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    # What a person would see: the layouts' pending updates (a label that now wraps to more lines) done first.
    # grab() paints the widgets where they are, so without this a changed text shows in its old space. Only
    # layout requests: other posted events (a worker's progress) would change what the test has just checked.
    QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
    assert widget.grab().save(str(path))
    return path


def uint8(rgb: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(rgb, 0, 1) * 255).astype(np.uint8)
