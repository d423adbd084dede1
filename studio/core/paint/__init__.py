"""Semantic image synthesis: label maps and palettes (:mod:`.palette`), a photo's automatic label
map (:mod:`.segment`), and painting a label map into a picture with a ``spade`` model
(:mod:`.painter`)."""

from __future__ import annotations

from .palette import (
    PALETTE_FILE,
    LabelClass,
    LabelError,
    Palette,
    default_palette,
    one_hot,
    read_label_map,
    resize_labels,
    write_label_map,
)
from .segment import Segmenter, colour_name

__all__ = [
    "PALETTE_FILE", "LabelClass", "LabelError", "Palette", "default_palette", "one_hot", "read_label_map",
    "resize_labels", "write_label_map", "Segmenter", "colour_name",
]
