"""The main window: navigation between the panels, menus and shortcuts, the status bar (device,
memory), the log dock, notifications, settings and About, and a careful close while training."""

from __future__ import annotations

import gc
import logging
from typing import Any

from PySide6.QtCore import QSize, Qt, QTimer, QUrl
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QDockWidget,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from studio import __version__
from studio.core import paths
from studio.core.store import UNPAIRED_KINDS

from . import dialogs, resources
from .context import AppContext
from .logview import LogView, QtLogHandler, log_file
from .panels import PANELS, Panel
from .system import MemoryMonitor, device_job
from .widgets.common import Toast, dropped_paths
from .worker import TaskSlot, shutdown_workers

log = logging.getLogger(__name__)

# (command, menu text, shortcut, icon); the current panel handles the command if it offers it.
FILE_COMMANDS = (
    ("open", "&Open…", QKeySequence.StandardKey.Open, "open"),
    ("save", "&Save result…", QKeySequence.StandardKey.Save, "save"),
    ("copy", "&Copy result", QKeySequence.StandardKey.Copy, "copy"),
    ("translate", "&Translate", "Ctrl+T", "translate"),
    ("translate_folder", "Translate a &folder…", "Ctrl+Shift+O", "folder"),
)
TRAIN_COMMANDS = (
    ("start", "&Start training", "F5", "play"),
    ("pause", "&Pause / resume", "Space", "pause"),
    ("stop", "S&top (checkpoint first)", "Shift+F5", "stop"),
)


class MainWindow(QMainWindow):
    def __init__(self, ctx: AppContext, log_handler: QtLogHandler | None = None):
        super().__init__()
        self.ctx = ctx
        self.setWindowTitle("Studio")
        self.setWindowIcon(resources.app_icon())
        self.setAcceptDrops(True)
        self.panels: dict[str, Panel] = {}
        self._command_actions: dict[str, QAction] = {}
        self._closing = False
        self._stopping = False
        self._settled = False
        self._build(log_handler)
        self._build_menus()
        self._connect()
        self._device_slot = TaskSlot(self)
        self._device_slot.result.connect(self._device_found)
        self._device_slot.failed.connect(lambda message: self._device_found({"label": f"unavailable ({message})",
                                                                                  "available": ["auto", "cpu"]}))
        self.probe_device()
        self._memory = MemoryMonitor()
        self._memory.sampled.connect(self.memory_label.setText)
        self._memory.start()
        geometry = ctx.settings.geometry("main")
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1280, 820)
        self.show_panel(PANELS[0].key)

    # -- layout --------------------------------------------------------------------------------
    def _build(self, log_handler: QtLogHandler | None) -> None:
        self.nav = QListWidget(objectName="Nav")
        self.nav.setIconSize(QSize(20, 20))
        self.nav.setFixedWidth(210)
        self.nav.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.stack = QStackedWidget()
        for index, panel_class in enumerate(PANELS):
            panel = panel_class(self.ctx)
            self.panels[panel.key] = panel
            self.stack.addWidget(panel)
            item = QListWidgetItem(resources.icon(panel.icon_name), panel.title)
            item.setToolTip(f"{panel.subtitle}  (Ctrl+{index + 1})")
            item.setData(Qt.ItemDataRole.UserRole, panel.key)
            self.nav.addItem(item)
            panel.state_changed.connect(self._update_actions)

        brand = QWidget(objectName="NavHeader")
        brand.setFixedWidth(210)
        logo = QLabel()
        logo.setPixmap(resources.app_icon().pixmap(34, 34))
        name = QLabel("Studio", objectName="AppTitle")
        tagline = QLabel("image translation", objectName="AppSubtitle")
        text = QVBoxLayout()
        text.setSpacing(0)
        text.addWidget(name)
        text.addWidget(tagline)
        brand_layout = QHBoxLayout(brand)
        brand_layout.setContentsMargins(16, 16, 12, 8)
        brand_layout.addWidget(logo)
        brand_layout.addLayout(text, 1)
        side = QFrame(objectName="Side")
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.setSpacing(0)
        side_layout.addWidget(brand)
        side_layout.addWidget(self.nav, 1)

        central = QWidget()
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(side)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        self.device_label = QLabel("Device: detecting…")
        self.device_label.setToolTip("The device translations and training run on (Settings → Device)")
        self.memory_label = QLabel("")
        self.memory_label.setToolTip("Memory used by Studio")
        self.statusBar().addPermanentWidget(self.memory_label)
        self.statusBar().addPermanentWidget(self.device_label)
        self.statusBar().setSizeGripEnabled(False)

        self.log_view = LogView(log_handler)
        self.log_dock = QDockWidget("Log", self)
        self.log_dock.setObjectName("LogDock")
        self.log_dock.setWidget(self.log_view)
        self.log_dock.setAllowedAreas(Qt.DockWidgetArea.BottomDockWidgetArea)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.log_dock)
        self.log_dock.hide()
        self.toast = Toast(self)

    def _action(self, text: str, shortcut: Any = None, icon: str | None = None, slot: Any = None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if icon:
            action.setIcon(resources.icon(icon))
        if slot is not None:
            action.triggered.connect(slot)
        self.addAction(action)  # shortcuts work with the menu bar hidden too
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        for command, text, shortcut, icon in FILE_COMMANDS:
            action = self._action(text, shortcut, icon, lambda _=False, c=command: self.run_command(c))
            self._command_actions[command] = action
            file_menu.addAction(action)
        file_menu.addSeparator()
        import_action = self._action("&Import model…", "Ctrl+I", "import", self._import_model)
        file_menu.addAction(import_action)
        self.get_models_action = self._action("&Get models…", "Ctrl+Shift+G", "import", self._get_models)
        file_menu.addAction(self.get_models_action)
        file_menu.addSeparator()
        file_menu.addAction(self._action("Se&ttings…", QKeySequence.StandardKey.Preferences, "settings",
                                         self.open_settings))
        self.settings_action = file_menu.actions()[-1]
        if self.settings_action.shortcut().isEmpty():
            self.settings_action.setShortcut(QKeySequence("Ctrl+,"))
        file_menu.addSeparator()
        file_menu.addAction(self._action("&Quit", QKeySequence.StandardKey.Quit, None, self.close))

        view = bar.addMenu("&View")
        group = QActionGroup(self)
        self._panel_actions: dict[str, QAction] = {}
        for index, panel_class in enumerate(PANELS):
            action = self._action(panel_class.title, f"Ctrl+{index + 1}", panel_class.icon_name,
                                  lambda _=False, k=panel_class.key: self.show_panel(k))
            action.setCheckable(True)
            group.addAction(action)
            view.addAction(action)
            self._panel_actions[panel_class.key] = action
        view.addSeparator()
        self.log_action = self.log_dock.toggleViewAction()
        self.log_action.setText("&Log")
        self.log_action.setShortcut(QKeySequence("Ctrl+L"))
        self.log_action.setIcon(resources.icon("log"))
        self.addAction(self.log_action)
        view.addAction(self.log_action)
        self.theme_action = self._action("&Dark theme", "Ctrl+Shift+D", None, self._toggle_theme)
        self.theme_action.setCheckable(True)
        self.theme_action.setChecked(self.ctx.settings.theme == "dark")
        view.addAction(self.theme_action)

        train = bar.addMenu("&Training")
        for command, text, shortcut, icon in TRAIN_COMMANDS:
            action = self._action(text, shortcut, icon, lambda _=False, c=command: self.run_command(c))
            self._command_actions[command] = action
            train.addAction(action)

        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self._action("&Keyboard shortcuts", "F1", None, self.show_shortcuts))
        help_menu.addAction(self._action("Open the &log file", None, "log",
                                         lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(log_file())))))
        help_menu.addAction(self._action("Open the Studio &home folder", None, "folder",
                                         lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(paths.studio_home())))))
        help_menu.addSeparator()
        help_menu.addAction(self._action("&About Studio", None, "info", self.show_about))

    def _connect(self) -> None:
        self.nav.currentRowChanged.connect(self._nav_changed)
        self.ctx.notified.connect(self._notify)
        self.ctx.error_reported.connect(self._show_error)
        self.ctx.navigate_requested.connect(self.show_panel)

    # -- panels and commands -------------------------------------------------------------------
    def panel(self, key: str) -> Panel:
        return self.panels[key]

    def current_panel(self) -> Panel:
        return self.stack.currentWidget()

    def show_panel(self, key: str, argument: object = None) -> Panel:
        panel = self.panels[key]
        index = self.stack.indexOf(panel)
        if self.nav.currentRow() != index:
            self.nav.setCurrentRow(index)  # _nav_changed switches the stack
        panel.activate(argument)
        self._update_actions()
        return panel

    def _nav_changed(self, row: int) -> None:
        if row < 0:
            return
        self.stack.setCurrentIndex(row)
        panel = self.current_panel()
        self._panel_actions[panel.key].setChecked(True)
        self.setWindowTitle(f"{panel.title} — Studio")
        panel.activate(None)
        self._update_actions()

    def run_command(self, name: str) -> None:
        self.current_panel().run_command(name)

    def _update_actions(self) -> None:
        panel = self.current_panel()
        if panel is None:
            return
        for name, action in self._command_actions.items():
            action.setEnabled(panel.command_enabled(name))

    def _import_model(self) -> None:
        self.show_panel("models").run_command("import")

    def _get_models(self) -> None:
        """The Get models dialog of the current panel when it has one (a translation panel shows its own
        kind and selects what it installs), else the Models panel's."""
        panel = self.current_panel()
        if panel is None or "get_models" not in panel.commands():
            panel = self.show_panel("models")
        panel.run_command("get_models")

    # -- notifications and errors --------------------------------------------------------------
    def _notify(self, message: str, level: str, action: object) -> None:
        self.statusBar().showMessage(message, 8000)
        self.toast.show_message(message, level, action if isinstance(action, tuple) else None)

    def _show_error(self, title: str, message: str) -> None:
        dialogs.show_error(self, title, message)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.toast.isVisible():
            self.toast.reposition()

    # -- device and settings -------------------------------------------------------------------
    def probe_device(self) -> None:
        self.device_label.setText("Device: detecting…")
        self._device_slot.start(device_job(self.ctx.settings.engine_device()), "probing the device")

    def _device_found(self, found: dict) -> None:
        self.ctx.set_device(found["label"], list(found.get("available", ["auto", "cpu"])), found.get("type", ""))
        self.device_label.setText(f"Device: {found['label']}")
        if not self._settled:
            # Start-up (Qt, torch, the device probe) leaves a few hundred thousand long-lived
            # objects. Every full garbage collection would walk them all while holding the GIL:
            # 100-300 ms in which the window cannot repaint, each time a job churns objects.
            # Frozen, they are never scanned again.
            self._settled = True
            gc.freeze()
            log.info("start-up objects frozen out of garbage collection: %d", gc.get_freeze_count())

    def open_settings(self) -> None:
        dialog = dialogs.SettingsDialog(self.ctx.settings, self.ctx.devices_available, self)
        if dialog.exec():
            self.apply_settings(dialog.apply())

    def apply_settings(self, changed: dict[str, bool]) -> None:
        from PySide6.QtWidgets import QApplication

        if changed.get("theme"):
            resources.apply_theme(QApplication.instance(), self.ctx.settings.theme)
            self.theme_action.setChecked(self.ctx.settings.theme == "dark")
        if changed.get("tile"):
            for panel in self.panels.values():
                if hasattr(panel, "set_tile"):
                    panel.set_tile(self.ctx.settings.tile)
        if changed.get("device"):
            self.probe_device()
            self.ctx.notify("The new device is used from the next translation or training run.")
        if changed.get("home"):
            self.ctx.notify("The new Studio home folder is used from the next start.")

    def _toggle_theme(self, dark: bool) -> None:
        self.ctx.settings.theme = "dark" if dark else "light"
        self.apply_settings({"theme": True})

    def show_about(self) -> dialogs.AboutDialog:
        dialog = dialogs.AboutDialog(self.ctx.device_label, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def show_shortcuts(self) -> None:
        lines = []
        for action in self.actions():
            if not action.shortcut().isEmpty():
                text = action.text().replace("&", "")
                lines.append(f"{action.shortcut().toString(QKeySequence.SequenceFormat.NativeText):<16} {text}")
        lines += ["+ / − / 0 / 1        zoom in, out, fit, 100% (image view)",
                  "drag / wheel          pan and zoom; drag the white line to wipe"]
        dialogs.show_list(self, "Keyboard shortcuts", "Shortcuts of the current version:", lines)

    # -- drag and drop anywhere else -----------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if dropped_paths(event):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        from .panels.models import MODEL_SUFFIXES

        paths_ = dropped_paths(event)
        if any(p.suffix.lower() in MODEL_SUFFIXES for p in paths_):
            self.show_panel("models").dropEvent(event)
            return
        target = self.current_panel()
        if target.key not in ("translate_paired", "translate_unpaired", "models"):
            unpaired = self.ctx.store.models(list(UNPAIRED_KINDS))
            target = self.show_panel("translate_unpaired" if unpaired else "translate_paired")
        target.dropEvent(event)

    # -- closing -------------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._closing:
            work = [text for panel in self.panels.values() if (text := panel.long_work())]
            if work and not self._stopping:
                answer = dialogs.choose(
                    self, "Training in progress",
                    "\n".join(work) + "\n\nStop it and quit? The run writes a checkpoint first, so you can resume "
                    "it later from the Train panel.", ["Stop and quit", "Keep training"])
                if answer != "Stop and quit":
                    event.ignore()
                    return
                self._stop_then_close()
                event.ignore()
                return
            if work:  # still stopping
                event.ignore()
                return
        self._shutdown()
        event.accept()

    def _stop_then_close(self) -> None:
        self._stopping = True
        for panel in self.panels.values():
            panel.request_stop()
        self.statusBar().showMessage("Stopping training: writing a checkpoint…")
        self._close_timer = QTimer(self, interval=100)
        self._close_timer.timeout.connect(self._close_when_stopped)
        self._close_timer.start()

    def _close_when_stopped(self) -> None:
        if all(panel.long_work() is None for panel in self.panels.values()):
            self._close_timer.stop()
            self._closing = True
            self.close()

    def _shutdown(self) -> None:
        self._closing = True
        self.ctx.settings.set_geometry("main", self.saveGeometry())
        self.ctx.settings.sync()
        for panel in self.panels.values():
            panel.shutdown(timeout_ms=15_000)
        self._device_slot.shutdown(5000)
        self._memory.stop()
        if not shutdown_workers(10_000):
            log.warning("some background tasks did not stop in time")
        log.info("Studio %s closed", __version__)
