"""The starter models' training data, made from photographs that scikit-image ships.

Nothing is downloaded. Every folder is a pure function of the seed: the same crops, flips and
filters on every machine. The photographs are the colour pictures of ``skimage.data`` (astronaut,
chelsea, coffee, rocket, Hubble deep field, immunohistochemistry, retina, motorcycle) and the
Labeled Faces in the Wild subset that scikit-image bundles for its face-detection example.

- ``photos``: square crops of 1/4 to all of the short side of each colour photo, resized to the
  training size and flipped at random;
- ``sketch``: the same crops drawn as a pencil sketch (grey divided by its blurred negative, the
  "colour dodge" that drawing programs use), for the paired photo → sketch model;
- ``poster_photos`` / ``poster``: two *different* crop sets, the second flattened into a comic-book
  poster (flat colour regions, quantised, dark outlines), for the unpaired photo ↔ poster model;
- ``faces``: the 100 face images of the LFW subset (25 px, grey), resized to 32 px.

One photograph (coffee) is kept out of every training set; the ``held_out_*`` folders hold its
crops, for the evaluation written into the model cards.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

HELD_OUT = "coffee"


def colour_photos() -> dict[str, np.ndarray]:
    from skimage import data

    photos = {name: getattr(data, name)() for name in
              ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina")}
    left, _right, _disparity = data.stereo_motorcycle()
    photos["motorcycle"] = left
    return photos


def random_crops(rgb: np.ndarray, count: int, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``count`` square crops (1/4 to all of the short side), resized to ``size``, half of them flipped."""
    height, width = rgb.shape[:2]
    short = min(height, width)
    crops = []
    for _ in range(count):
        side = int(rng.integers(short // 4, short + 1))
        y, x = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
        crop = Image.fromarray(rgb[y:y + side, x:x + side]).resize((size, size), Image.Resampling.LANCZOS)
        out = np.asarray(crop)
        if rng.random() < 0.5:
            out = out[:, ::-1]
        crops.append(np.ascontiguousarray(out))
    return crops


def pencil_sketch(rgb: np.ndarray) -> np.ndarray:
    """A pencil drawing of ``rgb`` (uint8): the grey image colour-dodged with its blurred negative."""
    from skimage.filters import gaussian

    grey = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114]) / 255.0
    blurred = gaussian(1.0 - grey, sigma=max(1.0, rgb.shape[0] / 48))
    dodge = np.clip(grey / np.maximum(1.0 - blurred, 1e-3), 0.0, 1.0)
    dodge = dodge ** 2.2  # darker strokes, as a soft pencil
    out = (dodge * 255).round().astype(np.uint8)
    return np.repeat(out[..., None], 3, axis=2)


def poster(rgb: np.ndarray) -> np.ndarray:
    """A comic-book poster of ``rgb`` (uint8): flat colour regions (total-variation smoothing),
    a little more saturated, quantised to six levels a channel, with dark Canny outlines."""
    from skimage.feature import canny
    from skimage.restoration import denoise_tv_chambolle

    image = rgb.astype(np.float64) / 255.0
    flat = denoise_tv_chambolle(image, weight=0.1, channel_axis=-1)
    grey = flat.mean(axis=2, keepdims=True)
    flat = np.clip(grey + (flat - grey) * 1.3, 0.0, 1.0)
    levels = 6
    flat = np.round(flat * (levels - 1)) / (levels - 1)
    flat[canny(image @ np.array([0.299, 0.587, 0.114]), sigma=2.0)] *= 0.15
    return (flat * 255).round().astype(np.uint8)


def faces(size: int = 32) -> list[np.ndarray]:
    from skimage import data

    grey = data.lfw_subset()[:100]  # the first 100 are faces, the other 100 are not
    out = []
    for face in grey:
        image = Image.fromarray((face * 255).round().astype(np.uint8)).resize((size, size), Image.Resampling.LANCZOS)
        out.append(np.repeat(np.asarray(image)[..., None], 3, axis=2))
    return out


def _save(folder: Path, name: str, rgb: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(folder / f"{name}.png")


def build(root: Path, size: int = 144, per_photo: int = 80, seed: int = 0) -> dict[str, Path]:
    """Write every folder under ``root`` and return them by name."""
    rng = np.random.default_rng(seed)
    folders = {name: root / name for name in
               ("photos", "sketch", "poster_photos", "poster", "faces",
                "held_out_photos", "held_out_sketch", "held_out_poster")}
    for name, rgb in colour_photos().items():
        held = name == HELD_OUT
        count = per_photo // 4 if held else per_photo
        for k, crop in enumerate(random_crops(rgb, count, size, rng)):
            _save(folders["held_out_photos" if held else "photos"], f"{name}_{k:03d}", crop)
            _save(folders["held_out_sketch" if held else "sketch"], f"{name}_{k:03d}", pencil_sketch(crop))
        if held:
            for k, crop in enumerate(random_crops(rgb, count, size, rng)):
                _save(folders["held_out_poster"], f"{name}_{k:03d}", poster(crop))
            continue
        # the unpaired model's two domains come from different crops of the photos
        for k, crop in enumerate(random_crops(rgb, per_photo, size, rng)):
            _save(folders["poster_photos"], f"{name}_{k:03d}", crop)
        for k, crop in enumerate(random_crops(rgb, per_photo, size, rng)):
            _save(folders["poster"], f"{name}_{k:03d}", poster(crop))
    for k, face in enumerate(faces()):
        _save(folders["faces"], f"face_{k:03d}", face)
    return folders
