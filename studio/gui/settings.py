"""The app's settings: a versioned INI file in STUDIO_HOME, migrated forward when it is older.

Where STUDIO_HOME itself is (when the ``STUDIO_HOME`` environment variable does not say) is the one
setting that cannot live inside it: it is kept in a small ``location.ini`` in the platform's
config folder and read once at start-up.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, QStandardPaths

from studio.core import paths

log = logging.getLogger(__name__)

SETTINGS_VERSION = 1
DEVICES = ("auto", "cpu", "cuda", "mps")
THEMES = ("light", "dark")
# Default tile size for translation: 0 automatic (by memory), -1 whole image (never tile), N pixels.
TILE_CHOICES = (0, -1, 256, 384, 512, 768, 1024)
DEFAULTS: dict[str, Any] = {"device": "auto", "tile": 0, "theme": "light", "model_mirror": ""}


def _as_int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _from_unversioned(store: QSettings) -> None:
    """Version 0 → 1: files written before settings carried a version (or edited by hand).

    Values are normalised to the current types and ranges; anything unusable falls back to its
    default, with a log line, rather than failing later in a panel.
    """
    device = str(store.value("device", DEFAULTS["device"])).strip().lower()
    if device not in DEVICES and not device.startswith("cuda:"):
        log.warning("settings: unknown device %r, using automatic", device)
        device = DEFAULTS["device"]
    store.setValue("device", device)
    raw_tile = store.value("tile", DEFAULTS["tile"])
    tile = {"auto": 0, "never": -1, "off": -1, "none": -1}.get(str(raw_tile).strip().lower())
    if tile is None:
        tile = _as_int(raw_tile, DEFAULTS["tile"])
    if tile not in (0, -1) and tile < 64:
        log.warning("settings: tile size %r is too small, using automatic", raw_tile)
        tile = 0
    store.setValue("tile", tile)
    theme = str(store.value("theme", DEFAULTS["theme"])).strip().lower()
    store.setValue("theme", theme if theme in THEMES else DEFAULTS["theme"])


# MIGRATIONS[v] upgrades a file of version v to version v + 1.
MIGRATIONS: dict[int, Callable[[QSettings], None]] = {0: _from_unversioned}


class Settings:
    """Typed access to the settings file; ``path`` defaults to ``STUDIO_HOME/settings.ini``."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path is not None else paths.studio_home() / "settings.ini"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._store = QSettings(str(self.path), QSettings.Format.IniFormat)
        self.migrate()

    def migrate(self) -> int:
        """Bring the file to SETTINGS_VERSION; returns the version it had."""
        found = _as_int(self._store.value("version", 0), 0)
        if found > SETTINGS_VERSION:
            log.warning("settings %s were written by a newer Studio (version %d); reading what this one knows",
                        self.path, found)
            return found
        version = found
        while version < SETTINGS_VERSION:
            MIGRATIONS[version](self._store)
            version += 1
            self._store.setValue("version", version)
        if found != version:
            log.info("settings %s migrated from version %d to %d", self.path, found, version)
        self._store.sync()
        return found

    @property
    def version(self) -> int:
        return _as_int(self._store.value("version", 0), 0)

    def _get(self, key: str) -> Any:
        return self._store.value(key, DEFAULTS[key])

    @property
    def device(self) -> str:
        return str(self._get("device"))

    @device.setter
    def device(self, value: str) -> None:
        self._store.setValue("device", value or "auto")

    def engine_device(self) -> str | None:
        """What to pass to the engine: None picks the best device."""
        return None if self.device == "auto" else self.device

    @property
    def tile(self) -> int:
        return _as_int(self._get("tile"), 0)

    @tile.setter
    def tile(self, value: int) -> None:
        self._store.setValue("tile", int(value))

    @property
    def theme(self) -> str:
        theme = str(self._get("theme"))
        return theme if theme in THEMES else "light"

    @theme.setter
    def theme(self, value: str) -> None:
        self._store.setValue("theme", value if value in THEMES else "light")

    @property
    def model_mirror(self) -> str:
        """The base URL Get models downloads from; empty for the default (the reference's host,
        or ``STUDIO_MODEL_MIRROR``)."""
        return str(self._get("model_mirror") or "").strip()

    @model_mirror.setter
    def model_mirror(self, value: str) -> None:
        self._store.setValue("model_mirror", (value or "").strip())

    def engine_mirror(self) -> str | None:
        """What to pass to the engine as the mirror override: None for the default."""
        return self.model_mirror or None

    def geometry(self, key: str) -> QByteArray | None:
        value = self._store.value(f"window/{key}")
        return value if isinstance(value, QByteArray) else None

    def set_geometry(self, key: str, value: QByteArray) -> None:
        self._store.setValue(f"window/{key}", value)

    def value(self, key: str, default: Any = None) -> Any:
        """Free-form values (last folders, panel state) under ``ui/``."""
        return self._store.value(f"ui/{key}", default)

    def set_value(self, key: str, value: Any) -> None:
        self._store.setValue(f"ui/{key}", value)

    def sync(self) -> None:
        self._store.sync()


def engine_tile(setting: int) -> int | None:
    """Tile setting -> the engine's ``tile`` argument (None automatic, 0 never, N pixels)."""
    if setting == 0:
        return None
    if setting < 0:
        return 0
    return setting


def tile_label(setting: int) -> str:
    return {0: "Automatic", -1: "Whole image"}.get(setting, f"{setting} px tiles")


# -- where STUDIO_HOME is --------------------------------------------------------------------------

def _location_file() -> Path:
    folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericConfigLocation)
    return Path(folder or Path.home() / ".config") / "Studio" / "location.ini"


def home_from_environment() -> bool:
    return bool(os.environ.get("STUDIO_HOME"))


def chosen_home() -> str:
    """The folder chosen in the settings dialog, or '' for the default."""
    store = QSettings(str(_location_file()), QSettings.Format.IniFormat)
    return str(store.value("home", "") or "")


def set_chosen_home(folder: str) -> None:
    store = QSettings(str(_location_file()), QSettings.Format.IniFormat)
    store.setValue("home", folder)
    store.sync()


def apply_chosen_home() -> None:
    """At start-up, before anything reads STUDIO_HOME: the environment wins, then the chosen folder."""
    if not home_from_environment():
        folder = chosen_home()
        if folder:
            os.environ["STUDIO_HOME"] = folder
