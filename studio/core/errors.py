"""Typed errors: every failure a user can cause has a class and a readable message."""

from __future__ import annotations

from pathlib import Path


class StudioError(Exception):
    """Base of every error Studio raises on purpose; its message is meant for people."""


class ImageError(StudioError):
    """An image could not be read or written. The message names the file and the reason."""

    def __init__(self, path: str | Path, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ModelError(StudioError):
    """A model file or folder is unusable."""


class UnsafeModelError(ModelError):
    """The file would run code when loaded, so it is refused."""


class ArchitectureMismatchError(ModelError):
    """The weights do not fit the architecture they were meant for."""


class ModelNotFoundError(ModelError):
    """No model of that name in the store."""


class StoreError(StudioError):
    """The model store refused an operation (name taken, read-only built-in, ...)."""


class Cancelled(StudioError):
    """A job was cancelled by its control object."""
