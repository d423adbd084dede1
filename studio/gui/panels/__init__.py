"""The app's panels, in navigation order (Ctrl+1 … Ctrl+6).

To add or replace a panel, subclass :class:`~studio.gui.panels.base.Panel` and list the class here;
the main window builds one of each, in this order.
"""

from __future__ import annotations

from .base import Panel
from .latent import LatentExplorerPanel
from .models import ModelsPanel
from .paint import PaintPanel
from .train import TrainPanel
from .translate import PairedTranslatePanel, UnpairedTranslatePanel

PANELS: list[type[Panel]] = [
    PairedTranslatePanel,
    UnpairedTranslatePanel,
    PaintPanel,
    TrainPanel,
    LatentExplorerPanel,
    ModelsPanel,
]

__all__ = ["PANELS", "Panel"]
