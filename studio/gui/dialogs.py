"""Dialogs: questions, file choosers that remember their folder, errors, settings and About.

Every question a panel asks goes through a function here, so tests replace one function
instead of clicking through modal dialogs.
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from studio import __version__
from studio.core import paths
from studio.core.images import IMAGE_EXTENSIONS
from studio.core.store.catalog import DEFAULT_MIRROR, MIRROR_ENV

from . import resources
from . import settings as settings_mod
from .logview import log_file
from .settings import TILE_CHOICES, Settings, tile_label

IMAGE_FILTER = "Images ({})".format(" ".join(f"*{ext}" for ext in sorted(IMAGE_EXTENSIONS)))
MODEL_FILTER = "Model files (*.safetensors *.pth *.pt *.ckpt *.bin)"


def confirm(parent: QWidget | None, title: str, text: str, ok_text: str = "OK", danger: bool = False) -> bool:
    box = QMessageBox(QMessageBox.Icon.Warning if danger else QMessageBox.Icon.Question, title, text,
                      QMessageBox.StandardButton.Cancel, parent)
    ok = box.addButton(ok_text, QMessageBox.ButtonRole.AcceptRole)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel if danger else ok)
    box.exec()
    return box.clickedButton() is ok


def ask_text(parent: QWidget | None, title: str, label: str, text: str = "") -> str | None:
    value, ok = QInputDialog.getText(parent, title, label, QLineEdit.EchoMode.Normal, text)
    return value.strip() if ok and value.strip() else None


def choose(parent: QWidget | None, title: str, text: str, choices: list[str]) -> str | None:
    """Buttons for each choice; returns the chosen label or None (closed)."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.NoButton, parent)
    buttons = {box.addButton(label, QMessageBox.ButtonRole.ActionRole): label for label in choices}
    box.exec()
    return buttons.get(box.clickedButton())


def _start_folder(settings: Settings | None, key: str) -> str:
    if settings is None:
        return str(Path.home())
    return str(settings.value(f"last_folder/{key}", str(Path.home())))


def _remember(settings: Settings | None, key: str, chosen: str) -> None:
    if settings is not None and chosen:
        path = Path(chosen)
        settings.set_value(f"last_folder/{key}", str(path if path.is_dir() else path.parent))


def open_file(parent: QWidget | None, title: str, file_filter: str, settings: Settings | None = None,
              key: str = "open") -> Path | None:
    chosen, _ = QFileDialog.getOpenFileName(parent, title, _start_folder(settings, key), file_filter)
    _remember(settings, key, chosen)
    return Path(chosen) if chosen else None


def open_files(parent: QWidget | None, title: str, file_filter: str, settings: Settings | None = None,
               key: str = "open") -> list[Path]:
    chosen, _ = QFileDialog.getOpenFileNames(parent, title, _start_folder(settings, key), file_filter)
    if chosen:
        _remember(settings, key, chosen[0])
    return [Path(c) for c in chosen]


def save_file(parent: QWidget | None, title: str, suggested: str, file_filter: str,
              settings: Settings | None = None, key: str = "save") -> Path | None:
    start = str(Path(_start_folder(settings, key)) / suggested)
    chosen, _ = QFileDialog.getSaveFileName(parent, title, start, file_filter)
    _remember(settings, key, chosen)
    return Path(chosen) if chosen else None


def open_folder(parent: QWidget | None, title: str, settings: Settings | None = None,
                key: str = "folder") -> Path | None:
    chosen = QFileDialog.getExistingDirectory(parent, title, _start_folder(settings, key))
    _remember(settings, key, chosen)
    return Path(chosen) if chosen else None


def show_error(parent: QWidget | None, title: str, message: str) -> QMessageBox:
    """A non-blocking error box: the message, and where the log file is."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, parent)
    box.setInformativeText(f"The log file has more: {log_file()}")
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box


def show_list(parent: QWidget | None, title: str, heading: str, lines: list[str]) -> QDialog:
    """A non-blocking dialog with a heading and a scrollable list (e.g. skipped files)."""
    dialog = QDialog(parent)
    dialog.setWindowTitle(title)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    text = QTextBrowser()
    text.setPlainText("\n".join(lines))
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.reject)
    layout = QVBoxLayout(dialog)
    label = QLabel(heading)
    label.setWordWrap(True)
    layout.addWidget(label)
    layout.addWidget(text)
    layout.addWidget(buttons)
    dialog.resize(640, 360)
    dialog.open()
    return dialog


class SettingsDialog(QDialog):
    """Device, default tile size, theme, where Studio keeps its data and where Get models downloads from."""

    def __init__(self, settings: Settings, devices_available: list[str], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(520)
        self._settings = settings
        self.device = QComboBox()
        labels = {"auto": "Automatic (best available)", "cpu": "CPU", "cuda": "NVIDIA GPU (CUDA)", "mps": "Apple GPU (MPS)"}
        for name in dict.fromkeys(["auto", *devices_available, "cpu"]):
            self.device.addItem(labels.get(name, name), name)
        if self.device.findData(settings.device) < 0:
            self.device.addItem(f"{settings.device} (not available now)", settings.device)
        self.device.setCurrentIndex(self.device.findData(settings.device))
        self.tile = QComboBox()
        for value in TILE_CHOICES:
            self.tile.addItem(tile_label(value), value)
        if self.tile.findData(settings.tile) < 0:
            self.tile.addItem(tile_label(settings.tile), settings.tile)
        self.tile.setCurrentIndex(self.tile.findData(settings.tile))
        self.theme = QComboBox()
        self.theme.addItem("Light", "light")
        self.theme.addItem("Dark", "dark")
        self.theme.setCurrentIndex(self.theme.findData(settings.theme))
        self.home = QLineEdit(str(paths.studio_home()))
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._browse_home)
        home_row = QHBoxLayout()
        home_row.addWidget(self.home, 1)
        home_row.addWidget(browse)
        home_note = QLabel(objectName="Hint")
        home_note.setWordWrap(True)
        if settings_mod.home_from_environment():
            self.home.setEnabled(False)
            browse.setEnabled(False)
            home_note.setText("Set by the STUDIO_HOME environment variable.")
        else:
            home_note.setText("Models, training runs, settings and logs live here. A new folder is used "
                              "from the next start.")
        self.mirror = QLineEdit(settings.model_mirror)
        self.mirror.setPlaceholderText(DEFAULT_MIRROR)
        self.mirror.setClearButtonEnabled(True)
        mirror_note = QLabel(f"Where Get models downloads from: a mirror laid out like the reference's host. "
                             f"Empty: ${MIRROR_ENV} if it is set, else the reference's host.", objectName="Hint")
        mirror_note.setWordWrap(True)
        tile_note = QLabel("Large photos are translated in tiles that fit in memory; the seams are blended "
                           "and every tile uses the whole image's statistics.", objectName="Hint")
        tile_note.setWordWrap(True)
        form = QFormLayout()
        form.setVerticalSpacing(10)
        form.addRow("Device", self.device)
        form.addRow("Tile size", self.tile)
        form.addRow("", tile_note)
        form.addRow("Theme", self.theme)
        form.addRow("Studio home", home_row)
        form.addRow("", home_note)
        form.addRow("Model mirror", self.mirror)
        form.addRow("", mirror_note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addStretch(1)
        layout.addWidget(buttons)

    def _browse_home(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Studio home", self.home.text())
        if chosen:
            self.home.setText(chosen)

    def apply(self) -> dict[str, bool]:
        """Write the chosen values; returns which ones changed."""
        s = self._settings
        changed = {
            "device": self.device.currentData() != s.device,
            "tile": self.tile.currentData() != s.tile,
            "theme": self.theme.currentData() != s.theme,
            "home": self.home.isEnabled() and self.home.text().strip() != str(paths.studio_home()),
        }
        s.model_mirror = self.mirror.text()  # read at each download: nothing to apply now
        s.device = self.device.currentData()
        s.tile = self.tile.currentData()
        s.theme = self.theme.currentData()
        if changed["home"]:
            settings_mod.set_chosen_home(self.home.text().strip())
        s.sync()
        return changed


def versions() -> list[tuple[str, str]]:
    import numpy
    import pyqtgraph
    import PySide6
    import torch
    import torchvision
    from PySide6.QtCore import qVersion

    return [
        ("Studio", __version__),
        ("Python", platform.python_version()),
        ("PyTorch", torch.__version__),
        ("torchvision", torchvision.__version__),
        ("PySide6 / Qt", f"{PySide6.__version__} / {qVersion()}"),
        ("NumPy", numpy.__version__),
        ("pyqtgraph", pyqtgraph.__version__),
        ("System", f"{platform.system()} {platform.release()} ({platform.machine()})"),
    ]


class AboutDialog(QDialog):
    def __init__(self, device_label: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("About Studio")
        logo = QLabel()
        logo.setPixmap(resources.app_icon().pixmap(72, 72))
        title = QLabel(f"<b style='font-size:16pt'>Studio</b><br>version {__version__}")
        intro = QLabel("An image-translation studio: translate photos with pix2pix and CycleGAN models, "
                       "train them on your own folders, and explore VAE and flow latent spaces.")
        intro.setWordWrap(True)
        head = QHBoxLayout()
        head.addWidget(logo)
        head.addWidget(title, 1)
        rows = versions() + [
            ("Device", device_label),
            ("Studio home", str(paths.studio_home())),
            ("Log file", str(log_file())),
            ("Executable", "frozen app" if getattr(sys, "frozen", False) else sys.executable),
        ]
        self.details = QLabel("<table cellspacing=4>" + "".join(
            f"<tr><td style='color:{resources.colors()['muted']}'>{k}</td><td>{v}</td></tr>" for k, v in rows)
            + "</table>")
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        credits = QLabel("Sample photos: NASA (public domain) and scikit-image contributors (CC0).",
                         objectName="Hint")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addWidget(intro)
        layout.addWidget(self.details)
        layout.addWidget(credits)
        layout.addWidget(buttons)
        self.setMinimumWidth(520)

    def text(self) -> str:
        return self.details.text()
