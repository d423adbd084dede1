"""The starter models' training data, made from photographs that scikit-image ships, and painted
landscapes drawn here.

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
- ``landscapes``: painted landscapes at 64 px, drawn here from a seed (a sky along the day from noon
  to night, a sun or moon with its glow, one to three mountain ridges fading into the haze, a field or
  a lake that mirrors them), for the latent canvas's colour starter.

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


# Sky colours along the day, (zenith, horizon, sun, near land) in 0..1 RGB. A landscape picks a point between
# two neighbours, so the set is a continuum from noon to night, not five classes.
DAY = np.array([
    [[0.10, 0.28, 0.62], [0.62, 0.80, 0.95], [1.00, 0.98, 0.90], [0.16, 0.30, 0.14]],  # noon
    [[0.16, 0.30, 0.58], [0.96, 0.80, 0.52], [1.00, 0.90, 0.60], [0.22, 0.24, 0.12]],  # golden hour
    [[0.22, 0.16, 0.42], [0.98, 0.50, 0.24], [1.00, 0.70, 0.35], [0.16, 0.10, 0.12]],  # sunset
    [[0.10, 0.08, 0.26], [0.82, 0.38, 0.46], [1.00, 0.56, 0.42], [0.10, 0.06, 0.12]],  # dusk
    [[0.02, 0.03, 0.10], [0.10, 0.16, 0.32], [0.92, 0.94, 1.00], [0.03, 0.04, 0.08]],  # night, a moon
])


def _ridge(width: int, rng: np.random.Generator) -> np.ndarray:
    """A mountain profile in [-1, 1]: four octaves of sines with random phases."""
    x = np.linspace(0.0, 1.0, width)
    y = np.zeros(width)
    amplitude, frequency, roughness = 1.0, rng.uniform(1.0, 2.5), rng.uniform(0.35, 0.6)
    for _ in range(4):
        y += amplitude * np.sin(2 * np.pi * frequency * x + rng.uniform(0, 2 * np.pi))
        amplitude *= roughness
        frequency *= 2.1
    return y / np.abs(y).max()


def landscape(rng: np.random.Generator, size: int = 64, supersample: int = 4) -> np.ndarray:
    """One painted landscape (uint8, ``size`` square), drawn at ``supersample`` times the size and reduced."""
    n = size * supersample
    yy, xx = np.mgrid[0:n, 0:n] / (n - 1)
    t = rng.uniform(0, len(DAY) - 1)
    k = min(int(t), len(DAY) - 2)
    palette = DAY[k] * (1 - (t - k)) + DAY[k + 1] * (t - k)
    zenith, horizon_colour, sun_colour, land = np.clip(palette * rng.uniform(0.92, 1.08, size=(4, 3)), 0, 1)
    horizon = rng.uniform(0.5, 0.72)
    along = np.clip(yy / horizon, 0, 1) ** rng.uniform(1.2, 2.2)
    image = zenith * (1 - along[..., None]) + horizon_colour * along[..., None]
    sun_x, sun_y = rng.uniform(0.15, 0.85), horizon * (1 - rng.uniform(0.05, 0.4))
    distance = np.hypot(xx - sun_x, yy - sun_y)
    glow = np.exp(-distance / rng.uniform(0.08, 0.2)) * rng.uniform(0.3, 0.6)
    image = image + 0.8 * glow[..., None] * (sun_colour - image)
    disk = np.clip((rng.uniform(0.035, 0.07) - distance) * n / 2 + 0.5, 0, 1)[..., None]  # antialiased edge
    image = image * (1 - disk) + sun_colour * disk
    lake = rng.random() < 0.4
    layers = int(rng.integers(1, 4))
    for i in range(layers):  # far ridges first: lighter, hazier, taller
        near = (i + 1) / layers
        height = rng.uniform(0.08, 0.3) * (1.2 - 0.6 * near)
        profile = horizon - height * (0.55 + 0.45 * _ridge(n, rng))
        colour = land * near + (1 - near) * (0.85 * horizon_colour + 0.15 * zenith)
        mask = np.clip((yy - profile[None, :]) * n / 2 + 0.5, 0, 1)
        if lake:
            mask = mask * (yy <= horizon)
        image = image * (1 - mask[..., None]) + colour * mask[..., None]
    below = (yy > horizon)[..., None]
    if lake:  # sky and ridges mirrored, darker and bluer
        rows = np.clip((np.clip(2 * horizon - yy, 0, 1) * (n - 1)).round().astype(int), 0, n - 1)
        mirrored = image[rows, np.arange(n)[None, :]] * 0.7 + zenith * 0.15
        image = np.where(below, mirrored, image)
    else:  # a field of the near land's colour, lighter toward the horizon
        towards = 1 - np.clip((yy - horizon) / (1 - horizon), 0, 1)[..., None]
        image = np.where(below, land * (0.7 + 0.5 * towards) + 0.12 * towards * horizon_colour, image)
    out = Image.fromarray((np.clip(image, 0, 1) * 255).round().astype(np.uint8))
    return np.asarray(out.resize((size, size), Image.Resampling.LANCZOS))


def _save(folder: Path, name: str, rgb: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(folder / f"{name}.png")


def build(root: Path, size: int = 144, per_photo: int = 80, seed: int = 0, landscapes: int = 2400) -> dict[str, Path]:
    """Write every folder under ``root`` and return them by name."""
    rng = np.random.default_rng(seed)
    folders = {name: root / name for name in
               ("photos", "sketch", "poster_photos", "poster", "faces", "landscapes",
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
    painter = np.random.default_rng([seed, 1])  # its own stream: the photo folders stay as they were
    for k in range(landscapes):
        _save(folders["landscapes"], f"landscape_{k:04d}", landscape(painter))
    return folders
