"""Tiny spade models and label-map folders for the painting tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from conftest import photo

from studio.core import nets
from studio.core.images import write_image
from studio.core.paint import Palette, write_label_map
from studio.core.paint.segment import Segmenter
from studio.core.store import ModelStore, new_card

TINY_GENERATOR = {"ngf": 4, "max_mult": 4, "n_up": 3, "n_middle": 1, "hidden": 8, "norm": "instance",
                  "upsample": "bilinear", "spectral": True, "shared_mlp": True, "z_dim": 4}


def make_spade_model(store: ModelStore, name: str = "tiny painter", classes: int = 4,
                     segmenter: bool = True, example: Path | None = None) -> Palette:
    """An untrained spade model in ``store`` with a palette (and a segmenter fitted on two sample photos);
    ``example``: a label map written there and shipped in the model's folder as ``examples/``."""
    fitted = Segmenter.fit([(photo(n, (96, 64)) * 255).astype(np.uint8) for n in ("astronaut", "coffee")],
                           classes, seed=0)
    generator = nets.build("spade_generator", {"label_nc": classes, **TINY_GENERATOR})
    card = new_card("spade", {"G": (generator.arch, generator.config)}, domains={"A": "labels", "B": "photos"},
                    image_size=64, description="a tiny untrained painter for tests")
    card["palette"] = fitted.palette.to_card()
    if segmenter:
        card["segmenter"] = fitted.to_card()
    files = {}
    if example is not None:
        write_label_map(example, blob_labels(48, 64, classes), fitted.palette)
        files[f"examples/{example.name}"] = example
        card["examples"] = sorted(files)
    store.save(name, card, {"G": generator.state_dict()}, files=files)
    return fitted.palette


def blob_labels(height: int, width: int, classes: int, seed: int = 0) -> np.ndarray:
    """A label map of a few rectangles of random classes over a background of class 0."""
    rng = np.random.default_rng(seed)
    labels = np.zeros((height, width), np.uint8)
    for _ in range(6):
        y, x = int(rng.integers(0, height - 4)), int(rng.integers(0, width - 4))
        labels[y:y + int(rng.integers(4, height // 2)), x:x + int(rng.integers(4, width // 2))] = rng.integers(0, classes)
    return labels


def labelled_folders(root: Path, classes: int = 3, count: int = 4, size: tuple[int, int] = (48, 40)) -> tuple[Path, Path]:
    """``labels/`` (indexed PNGs) and ``photos/`` (JPEGs) of the same names: photos coloured by their labels."""
    palette = Palette.from_card([{"name": f"c{i}", "colour": [40 + 70 * i, 200 - 60 * i, 90]} for i in range(classes)])
    labels_dir, photos_dir = root / "labels", root / "photos"
    labels_dir.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        labels = blob_labels(size[1], size[0], classes, seed=i)
        write_label_map(labels_dir / f"img{i}.png", labels, palette)
        rng = np.random.default_rng(i)
        picture = palette.colourise(labels).astype(np.float32) / 255 + rng.normal(0, 0.03, (size[1], size[0], 3))
        write_image(photos_dir / f"img{i}.jpg", np.clip(picture, 0, 1).astype(np.float32))
    return labels_dir, photos_dir
