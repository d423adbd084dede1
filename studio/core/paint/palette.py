"""Label maps and their palettes: the classes a painting is made of.

A label map is an (H, W) uint8 array of class indices. On disk it is either an *indexed* PNG (mode
``P``: each pixel's value is its class, the PNG's own palette gives the colours) or a colour-coded
image whose colours are looked up in a palette file (``palette.json`` next to the maps, or given
explicitly). A :class:`Palette` is the ordered list of classes, each with a name and a display
colour; a ``spade`` model's card holds it, so a model knows what can be painted with it.

``palette.json`` is a list of classes in index order: ``[{"name": "sky", "colour": [120, 170, 230]},
...]`` (``"color"`` and ``"#78aae6"`` strings are accepted too).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from studio.core.errors import ImageError, StudioError
from studio.core.fileio import atomic_path
from studio.core.images import read_image

PALETTE_FILE = "palette.json"
MAX_CLASSES = 64


class LabelError(StudioError):
    """A label map or palette that cannot be used (unknown colours, wrong size, bad file)."""


@dataclass(frozen=True)
class LabelClass:
    name: str
    colour: tuple[int, int, int]

    @property
    def hex(self) -> str:
        return "#{:02x}{:02x}{:02x}".format(*self.colour)


@dataclass(frozen=True)
class Palette:
    """The classes of a label map, in index order."""

    classes: tuple[LabelClass, ...]

    def __post_init__(self) -> None:
        if not 1 <= len(self.classes) <= MAX_CLASSES:
            raise LabelError(f"a palette has 1 to {MAX_CLASSES} classes, got {len(self.classes)}")
        if len({c.colour for c in self.classes}) != len(self.classes):
            raise LabelError("two classes of the palette have the same colour")

    def __len__(self) -> int:
        return len(self.classes)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.classes]

    def colours(self) -> np.ndarray:
        """(K, 3) uint8."""
        return np.array([c.colour for c in self.classes], dtype=np.uint8)

    def to_card(self) -> list[dict[str, Any]]:
        return [{"name": c.name, "colour": list(c.colour)} for c in self.classes]

    @classmethod
    def from_card(cls, entries: Iterable[Mapping[str, Any]]) -> Palette:
        classes = []
        for i, entry in enumerate(entries):
            colour = entry.get("colour", entry.get("color"))
            classes.append(LabelClass(str(entry.get("name") or f"class {i}"), parse_colour(colour)))
        return cls(tuple(classes))

    @classmethod
    def read(cls, path: str | Path) -> Palette:
        """A ``palette.json`` file."""
        path = Path(path)
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise LabelError(f"{path}: no such palette file") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise LabelError(f"{path}: not a readable palette file ({exc})") from None
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise LabelError(f"{path}: a palette file is a JSON list of {{\"name\", \"colour\"}} entries")
        try:
            return cls.from_card(entries)
        except (LabelError, ValueError, TypeError) as exc:
            raise LabelError(f"{path}: {exc}") from None

    def write(self, path: str | Path) -> None:
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(self.to_card(), indent=1), encoding="utf-8")

    def colourise(self, labels: np.ndarray) -> np.ndarray:
        """(H, W) class indices -> (H, W, 3) uint8 in the classes' colours."""
        return self.colours()[np.clip(labels, 0, len(self) - 1)]

    def labels_from_rgb(self, rgb: np.ndarray, where: str = "label map") -> np.ndarray:
        """(H, W, 3) uint8 colour-coded map -> (H, W) class indices; every colour must be a class's."""
        codes = _codes(rgb.reshape(-1, 3))
        table = _codes(self.colours())
        order = np.argsort(table)
        position = np.searchsorted(table[order], codes)
        position = np.clip(position, 0, len(table) - 1)
        found = table[order][position] == codes
        if not found.all():
            unknown, counts = np.unique(codes[~found], return_counts=True)
            top = unknown[np.argsort(-counts)][:3]
            shown = ", ".join(f"#{int(c):06x}" for c in top)
            share = 100.0 * (~found).mean()
            raise LabelError(f"{where}: {share:.1f}% of its pixels have colours that are not in the palette "
                             f"({shown}{', …' if len(unknown) > 3 else ''}); the palette has "
                             f"{', '.join(c.hex for c in self.classes[:8])}{', …' if len(self) > 8 else ''}")
        return order[position].reshape(rgb.shape[:2]).astype(np.uint8)


def _codes(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.int64)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def parse_colour(value: Any) -> tuple[int, int, int]:
    """[r, g, b] or "#rrggbb" -> (r, g, b)."""
    if isinstance(value, str):
        text = value.strip().lstrip("#")
        if len(text) == 6:
            try:
                return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)
            except ValueError:
                pass
        raise LabelError(f"not a colour: {value!r} (use [r, g, b] or \"#rrggbb\")")
    if isinstance(value, Sequence) and len(value) == 3 and all(isinstance(v, int) and 0 <= v <= 255 for v in value):
        return int(value[0]), int(value[1]), int(value[2])
    raise LabelError(f"not a colour: {value!r} (use [r, g, b] with values 0-255, or \"#rrggbb\")")


def default_palette(count: int) -> Palette:
    """``count`` distinct colours for unnamed classes (an indexed PNG without a palette of its own)."""
    colours = []
    for i in range(count):
        hue = (i * 0.618033988749895) % 1.0
        r, g, b = _hsv(hue, 0.55 + 0.35 * (i % 2), 0.9 - 0.25 * ((i // 2) % 2))
        colours.append(LabelClass(f"class {i}", (r, g, b)))
    return Palette(tuple(colours))


def _hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    r, g, b = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return round(r * 255), round(g * 255), round(b * 255)


def read_label_map(path: str | Path, palette: Palette | None = None) -> tuple[np.ndarray, Palette]:
    """A label map file -> ((H, W) uint8 class indices, its palette).

    An indexed PNG's values are the classes (its own colours name them when no ``palette`` is
    given); any other image is colour-coded and needs ``palette`` (or ``palette.json`` beside it).
    Values or colours outside the palette raise a one-line :class:`LabelError`.
    """
    path = Path(path)
    try:
        with Image.open(path) as im:
            mode = im.mode
            if mode == "P":
                labels = np.asarray(im, dtype=np.uint8).copy()
                own = im.getpalette() or []
            else:
                own = []
    except FileNotFoundError:
        raise LabelError(f"{path}: no such file") from None
    except OSError:
        raise LabelError(f"{path}: not an image file") from None
    if mode == "P":
        highest = int(labels.max()) if labels.size else 0
        if palette is None:
            palette = _png_palette(own, highest + 1)
        if highest >= len(palette):
            raise LabelError(f"{path}: class {highest} is used but the palette has {len(palette)} classes "
                             f"(0-{len(palette) - 1})")
        return labels, palette
    if palette is None:
        beside = path.parent / PALETTE_FILE
        if not beside.is_file():
            raise LabelError(f"{path}: a colour-coded label map needs a palette ({PALETTE_FILE} beside it, "
                             "or an indexed PNG)")
        palette = Palette.read(beside)
    try:
        rgb = read_image(path).rgb
    except ImageError as exc:
        raise LabelError(str(exc)) from None
    pixels = np.rint(rgb * 255.0).astype(np.uint8)
    return palette.labels_from_rgb(pixels, str(path)), palette


def _png_palette(flat: list[int], count: int) -> Palette:
    """The first ``count`` colours of a PNG's palette as unnamed classes (default colours where they repeat)."""
    colours = [tuple(flat[3 * i : 3 * i + 3]) for i in range(min(count, len(flat) // 3))]
    if len(colours) < count or len(set(colours)) < len(colours):
        return default_palette(count)
    return Palette(tuple(LabelClass(f"class {i}", (int(c[0]), int(c[1]), int(c[2])))
                         for i, c in enumerate(colours)))


def write_label_map(path: str | Path, labels: np.ndarray, palette: Palette) -> Path:
    """Save ``labels`` as an indexed PNG carrying ``palette``'s colours (atomically)."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise LabelError(f"{path}: label maps are saved as indexed PNG (.png)")
    im = Image.fromarray(np.ascontiguousarray(labels, dtype=np.uint8), mode="P")
    flat = palette.colours().reshape(-1).tolist()
    im.putpalette(flat + [0] * (768 - len(flat)))
    with atomic_path(path) as tmp:
        im.save(tmp, format="PNG")
    return path


def one_hot(labels: torch.Tensor, classes: int) -> torch.Tensor:
    """(N, H, W) integer classes -> (N, K, H, W) float one-hot."""
    out = torch.zeros(labels.shape[0], classes, *labels.shape[1:], dtype=torch.float32, device=labels.device)
    return out.scatter_(1, labels.long().unsqueeze(1), 1.0)


def resize_labels(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W) class indices brought to ``size`` = (width, height) by nearest neighbour (classes never blend)."""
    if (labels.shape[1], labels.shape[0]) == size:
        return labels
    im = Image.fromarray(np.ascontiguousarray(labels, dtype=np.uint8), mode="L")
    return np.asarray(im.resize(size, Image.Resampling.NEAREST), dtype=np.uint8)
