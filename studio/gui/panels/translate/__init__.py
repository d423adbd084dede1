"""The translation panels (paired and unpaired) and their parts; see :mod:`.panel`."""

from __future__ import annotations

from .panel import PairedTranslatePanel, TranslatePanel, UnpairedTranslatePanel

__all__ = ["PairedTranslatePanel", "TranslatePanel", "UnpairedTranslatePanel"]
