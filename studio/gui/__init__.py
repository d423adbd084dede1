"""The desktop app: Qt windows, panels, widgets and workers over the engine in :mod:`studio.core`.

Nothing here does long work on the GUI thread: engine jobs run in :class:`studio.gui.worker.Worker`
threads and report through Qt signals.
"""

# torch before any Qt import: torch >= 2.9 fails to load after Qt on Windows.
import torch  # noqa: F401
