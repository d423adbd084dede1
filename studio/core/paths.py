"""Where Studio keeps its data: STUDIO_HOME holds models/, runs/ and settings."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def studio_home() -> Path:
    """The user's data folder (``STUDIO_HOME`` or the platform's app-data folder)."""
    env = os.environ.get("STUDIO_HOME")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("Studio", appauthor=False))


def user_models_dir() -> Path:
    return studio_home() / "models"


def runs_dir() -> Path:
    return studio_home() / "runs"


def scratch_dir() -> Path:
    """Temporary working files (a tiled translation's kept activations). On disk, in the data folder:
    the system's temporary folder is often a RAM disk, which would defeat the point."""
    return studio_home() / "scratch"


def builtin_models_dir() -> Path:
    """The read-only starter models shipped with the app (the repository's or the bundle's models/)."""
    env = os.environ.get("STUDIO_BUILTIN_MODELS")
    if env:
        return Path(env)
    if getattr(sys, "frozen", False):
        return Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent)) / "models"
    return Path(__file__).resolve().parents[2] / "models"


def resources_dir() -> Path:
    if getattr(sys, "frozen", False):
        return Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent)) / "resources"
    return Path(__file__).resolve().parents[2] / "resources"
