"""Starting the desktop app: the QApplication, theme, logging, the main window."""

from __future__ import annotations

import logging
import multiprocessing
import sys
import traceback
from types import TracebackType

import torch  # noqa: F401  (torch before Qt: torch >= 2.9 fails to load after Qt on Windows)
from PySide6.QtWidgets import QApplication

from studio import __version__

from . import resources
from . import settings as settings_mod
from .context import AppContext, StoreHub
from .dialogs import show_error
from .logview import install_logging
from .mainwindow import MainWindow

log = logging.getLogger(__name__)


# How long a thread may hold the GIL before another that asks for it gets a turn (Python's
# default is 5 ms). Training and translation threads run Python between torch calls; with a
# shorter turn the window waits less each time it needs the interpreter to paint or react.
GUI_SWITCH_INTERVAL = 0.001


def create_app(argv: list[str] | None = None) -> QApplication:
    sys.setswitchinterval(GUI_SWITCH_INTERVAL)
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName("Studio")
    app.setOrganizationName("Studio")
    app.setApplicationVersion(__version__)
    app.setApplicationDisplayName("Studio")
    app.setWindowIcon(resources.app_icon())
    return app


def build_window(app: QApplication) -> MainWindow:
    """Settings, theme, logging, the store hub and the window (not shown yet)."""
    settings = settings_mod.Settings()
    resources.apply_theme(app, settings.theme)
    handler = install_logging()
    ctx = AppContext(settings, StoreHub())
    window = MainWindow(ctx, handler)
    log.info("Studio %s started; home %s", __version__, settings.path.parent)
    return window


def install_excepthook(window: MainWindow) -> None:
    """A bug in a slot is logged with its traceback and shown as one readable line."""

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, value, tb)
            return
        log.error("unexpected error:\n%s", "".join(traceback.format_exception(kind, value, tb)))
        first = (str(value).strip().splitlines() or [""])[0]
        show_error(window, "Something went wrong", f"{kind.__name__}: {first}")

    sys.excepthook = hook


def safe_worker_processes() -> None:
    """DataLoader worker processes must not be forked from a process running Qt threads."""
    if sys.platform.startswith("linux") and multiprocessing.get_start_method(allow_none=True) is None:
        multiprocessing.set_start_method("forkserver")


def run_app(argv: list[str] | None = None) -> int:
    """Open the main window and run until it closes; the exit status."""
    settings_mod.apply_chosen_home()
    safe_worker_processes()
    app = create_app(argv)
    window = build_window(app)
    install_excepthook(window)
    window.show()
    try:
        return app.exec()
    finally:
        sys.excepthook = sys.__excepthook__
