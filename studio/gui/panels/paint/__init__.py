"""The Paint panel (SPADE semantic image synthesis) and its parts; see :mod:`.panel`."""

from __future__ import annotations

from .panel import PaintPanel

__all__ = ["PaintPanel"]
