"""The Latent Explorer panel, in parts: see :mod:`.panel`."""

from .panel import LatentExplorerPanel

__all__ = ["LatentExplorerPanel"]
