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
- ``faces``: the 100 face images of the LFW subset (25 px, grey), resized to 32 px;
- ``glyphs``: the 62 letters and digits in the TrueType face that Pillow ships, each drawn 24 times
  at 64 px in random colours, sizes, weights and slants, for the colour latent model.

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


GLYPHS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def glyphs(size: int = 64, per_glyph: int = 24, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """Coloured letters and digits: each of the 62 characters of ``GLYPHS`` drawn ``per_glyph`` times
    in the TrueType face Pillow ships (Aileron), at a random size, weight (outline stroke) and slant,
    off-centre by a little, in a random ink on a random paper colour at least 0.35 apart in luminance.
    Returns (name, uint8 H×W×3) pairs."""
    from PIL import ImageDraw, ImageFont

    rng = np.random.default_rng(seed)
    big = size * 4  # drawn at 4× and shrunk: smooth edges
    out = []
    for char in GLYPHS:
        for k in range(per_glyph):
            while True:
                ink, paper = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
                weights = np.array([0.299, 0.587, 0.114])
                if abs(float(ink @ weights - paper @ weights)) >= 0.35:
                    break
            font = ImageFont.load_default(size=int(big * rng.uniform(0.55, 0.8)))
            stroke = int(rng.integers(0, big // 28 + 1))
            canvas = Image.new("L", (big, big), 0)
            draw = ImageDraw.Draw(canvas)
            left, top, right, bottom = draw.textbbox((0, 0), char, font=font, stroke_width=stroke)
            x = (big - (right - left)) / 2 - left + rng.uniform(-0.05, 0.05) * big
            y = (big - (bottom - top)) / 2 - top + rng.uniform(-0.05, 0.05) * big
            draw.text((x, y), char, fill=255, font=font, stroke_width=stroke, stroke_fill=255)
            shear = rng.uniform(-0.25, 0.25)  # slant: x' = x + shear * (y - centre)
            canvas = canvas.transform((big, big), Image.Transform.AFFINE, (1, shear, -shear * big / 2, 0, 1, 0),
                                      resample=Image.Resampling.BICUBIC)
            alpha = np.asarray(canvas.resize((size, size), Image.Resampling.LANCZOS), np.float64)[..., None] / 255.0
            rgb = (alpha * ink + (1 - alpha) * paper) * 255
            name = f"{'upper' if char.isupper() else 'lower' if char.islower() else 'digit'}_{char}_{k:02d}"
            out.append((name, rgb.round().clip(0, 255).astype(np.uint8)))
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
    folders["glyphs"] = root / "glyphs"
    for name, glyph in glyphs():
        _save(folders["glyphs"], name, glyph)
    return folders
