"""A photo's automatic label map: K colour/texture classes fitted once on a folder of photos.

When an artist gives only photos, :meth:`Segmenter.fit` clusters the pixels of the whole folder into
K classes, and :meth:`Segmenter.segment` labels any photo with those same classes, so class 3 means
"the sky-like blue" in every photo (the ``spade`` model learns what each class looks like). A
segmenter lives in the model's card (:meth:`Segmenter.to_card`) and is reused to segment new photos.

How, and why:

* Photos are first brought to a long side of at most ``working_size`` px (area average). Fitting
  and segmenting see the same scale, so texture means the same in a 4000 px and a 500 px photo, and
  segmenting costs the same whatever the photo's size.
* Features per pixel are CIE Lab (after a 3x3 binomial blur that calms noise and JPEG blocks) and
  one texture feature: ``log(1 + local standard deviation of L over 7x7)``. Lab distances are
  roughly perceptual, so the three colour channels share *one* scale (the pooled standard deviation
  over the folder) instead of being standardised one by one: per-channel standardisation would blow
  up tiny chroma differences in a dull folder (and noise in a grey one). The texture feature is
  standardised on its own and weighted at ``TEXTURE_WEIGHT`` of a colour channel, so grass and a flat
  lawn-green wall can part, but colour decides. The log squeezes the large spread at region
  borders, so a border seldom becomes a class of its own.
* Clustering is k-means on ``samples_per_image`` random pixels of every photo (each photo counts
  the same; at most ``MAX_SAMPLES`` in all), in float64 numpy, seeded greedy k-means++ (a few candidates per centre, as scikit-learn does) then Lloyd
  iterations, best of ``RESTARTS`` starts. An empty cluster moves to the sample farthest from its
  centre; when the folder has fewer distinct colours than classes, the surplus centres stay where
  they are (duplicates), so nothing is ever NaN: those classes are simply never used.
* Segmenting assigns each pixel its nearest centre (one float64 matrix product, the same ranking
  as fitting), then ``smoothing`` passes of a 5x5 majority filter (uint8 vote counts from shifted
  one-hot planes, several times faster on a CPU than a pooling layer; a pixel keeps its class on a
  tie) turn speckle into the blobs a painter would draw. Labels go back to the photo's size by nearest neighbour.
* Classes are ordered by lightness, then hue, so the palette's order is stable; each is named after
  its mean colour (:func:`colour_name`, made unique with "blue 2") and drawn in its mean RGB over the
  fit samples (nudged by one step where two coincide, since a palette's colours are unique).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .palette import LabelClass, LabelError, Palette, resize_labels

log = logging.getLogger(__name__)

MIN_CLASSES = 2
MAX_CLASSES = 32
FEATURES = 4  # L, a, b, texture
FEATURE_KIND = "lab-texture-1"  # bump when the features change: old cards must not silently mislabel
TEXTURE_WEIGHT = 0.5
TEXTURE_WINDOW = 7
MAJORITY_WINDOW = 5
RESTARTS = 3
ITERATIONS = 100
MAX_SAMPLES = 200_000  # pixels k-means sees at most, whatever the folder's size
TOLERANCE = 1e-4  # of the features' mean variance (as scikit-learn): Lloyd stops when the centres move less
COLOUR_SD_FLOOR = 1.0  # Lab units: a flat grey folder must not divide by zero
TEXTURE_SD_FLOOR = 0.05


@dataclass(frozen=True, eq=False)
class Segmenter:
    """K classes fitted on a folder of photos; segments any photo into them."""

    centroids: np.ndarray  # (K, F) float32 in feature space
    scale: np.ndarray  # (F,) float32: feature = raw feature * scale
    palette: Palette
    working_size: int = 256
    smoothing: int = 2

    def __post_init__(self) -> None:
        centroids = np.array(self.centroids, dtype=np.float32)
        scale = np.array(self.scale, dtype=np.float32)
        if centroids.ndim != 2 or centroids.shape[1] != FEATURES or scale.shape != (FEATURES,):
            raise LabelError(f"a segmenter has (K, {FEATURES}) centroids and {FEATURES} scales, got "
                             f"{centroids.shape} and {scale.shape}")
        if not MIN_CLASSES <= len(centroids) <= MAX_CLASSES or len(centroids) != len(self.palette):
            raise LabelError(f"a segmenter has {MIN_CLASSES} to {MAX_CLASSES} classes, one per palette entry; "
                             f"got {len(centroids)} centroids and {len(self.palette)} palette classes")
        if not (np.isfinite(centroids).all() and np.isfinite(scale).all() and (scale > 0).all()):
            raise LabelError("a segmenter's centroids and scales must be finite (scales positive)")
        if self.working_size < 8 or self.smoothing < 0:
            raise LabelError(f"a segmenter works at 8 px or more with 0 or more smoothing passes, got "
                             f"{self.working_size} px and {self.smoothing}")
        centroids.setflags(write=False)
        scale.setflags(write=False)
        object.__setattr__(self, "centroids", centroids)
        object.__setattr__(self, "scale", scale)

    @property
    def classes(self) -> int:
        return len(self.centroids)

    @classmethod
    def fit(cls, images: Iterable[np.ndarray], classes: int, *, seed: int = 0,
            samples_per_image: int = 4000, working_size: int = 256, smoothing: int = 2) -> Segmenter:
        """Cluster the photos' pixels into ``classes`` classes. ``images``: (H, W, 3) uint8 RGB, any sizes;
        they are read once, one at a time, so a lazy sequence keeps a big folder out of memory."""
        if isinstance(classes, bool) or not isinstance(classes, int) or not MIN_CLASSES <= classes <= MAX_CLASSES:
            raise LabelError(f"the number of classes is {MIN_CLASSES} to {MAX_CLASSES}, got {classes!r}")
        if samples_per_image < 1:
            raise LabelError(f"samples_per_image must be 1 or more, got {samples_per_image}")
        started = time.perf_counter()
        rng = np.random.default_rng(seed)
        features, colours = [], []
        for i, image in enumerate(images):
            check_rgb(image, f"photo {i}")
            small = to_working_size(image, working_size)
            raw = raw_features(small).numpy()
            pick = rng.choice(len(raw), size=min(len(raw), samples_per_image), replace=False)
            features.append(raw[pick])
            colours.append(small.reshape(-1, 3)[pick])
        if not features:
            raise LabelError("no photos to learn the classes from")
        raw = np.concatenate(features).astype(np.float64)
        rgb = np.concatenate(colours).astype(np.float64)
        if len(raw) > MAX_SAMPLES:  # a big folder: k-means memory and time stay bounded
            keep = np.sort(rng.choice(len(raw), size=MAX_SAMPLES, replace=False))
            raw, rgb = raw[keep], rgb[keep]

        colour_sd = max(math.sqrt(float(raw[:, :3].var(axis=0).mean())), COLOUR_SD_FLOOR)
        texture_sd = max(float(raw[:, 3].std()), TEXTURE_SD_FLOOR)
        scale = np.array([1 / colour_sd] * 3 + [TEXTURE_WEIGHT / texture_sd], dtype=np.float32)
        x = raw * scale.astype(np.float64)

        centres = kmeans(x, classes, rng)
        labels = nearest(with_ones(x), centres)
        mean_rgb = np.empty((classes, 3))
        for k in range(classes):
            members = labels == k
            if members.any():
                mean_rgb[k] = rgb[members].mean(axis=0)
            else:  # a surplus centre: draw it in the colour of the sample it sits on
                mean_rgb[k] = rgb[((x - centres[k]) ** 2).sum(axis=1).argmin()]

        lab = centres[:, :3] / scale[:3]
        hue = np.degrees(np.arctan2(lab[:, 2], lab[:, 1])) % 360
        order = np.lexsort((np.arange(classes), hue, lab[:, 0]))
        centres, mean_rgb = centres[order], mean_rgb[order]
        used = np.bincount(labels, minlength=classes)[order]
        palette = make_palette(mean_rgb)
        segmenter = cls(centres.astype(np.float32), scale, palette, working_size, smoothing)
        empty = int((used == 0).sum())
        log.info("fitted %d classes on %d photos (%d samples) in %.2f s%s", classes, len(features), len(x),
                 time.perf_counter() - started,
                 f"; the photos have too few distinct colours: {empty} classes are never used" if empty else "")
        return segmenter

    def segment(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> (H, W) uint8 class indices."""
        check_rgb(rgb, "photo")
        small = to_working_size(rgb, self.working_size)
        x = raw_features(small).numpy().astype(np.float64) * self.scale
        nearest_class = nearest(with_ones(x), self.centroids.astype(np.float64)).reshape(small.shape[:2])
        labels = majority_filter(torch.from_numpy(nearest_class), self.smoothing).numpy().astype(np.uint8)
        return resize_labels(labels, (rgb.shape[1], rgb.shape[0]))

    def to_card(self) -> dict[str, Any]:
        """JSON-friendly; float32 values survive JSON exactly, so labels are identical after a round trip."""
        return {
            "features": FEATURE_KIND,
            "centroids": self.centroids.tolist(),
            "scale": self.scale.tolist(),
            "palette": self.palette.to_card(),
            "working_size": int(self.working_size),
            "smoothing": int(self.smoothing),
        }

    @classmethod
    def from_card(cls, data: Mapping[str, Any]) -> Segmenter:
        if not isinstance(data, Mapping):
            raise LabelError("a segmenter card is a JSON object")
        kind = data.get("features")
        if kind != FEATURE_KIND:
            raise LabelError(f"this segmenter uses features {kind!r}, which this Studio does not compute "
                             f"(it knows {FEATURE_KIND!r}); fit it again")
        try:
            return cls(np.asarray(data["centroids"], dtype=np.float32), np.asarray(data["scale"], dtype=np.float32),
                       Palette.from_card(data["palette"]), int(data.get("working_size", 256)),
                       int(data.get("smoothing", 2)))
        except KeyError as exc:
            raise LabelError(f"a segmenter card needs {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise LabelError(f"not a usable segmenter card ({exc})") from None


def check_rgb(image: np.ndarray, where: str) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise LabelError(f"{where}: expected an (H, W, 3) uint8 RGB array, got {shape} {dtype}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise LabelError(f"{where}: the image is empty ({image.shape[1]}x{image.shape[0]})")


def to_working_size(rgb: np.ndarray, working_size: int) -> np.ndarray:
    """Area-average down to a long side of at most ``working_size`` px (never up)."""
    height, width = rgb.shape[:2]
    factor = working_size / max(height, width)
    if factor >= 1:
        return rgb
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return np.asarray(Image.fromarray(np.ascontiguousarray(rgb)).resize(size, Image.Resampling.BOX))


def srgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) sRGB in [0, 1] -> CIE Lab (D65): L in 0..100, a and b roughly -110..110."""
    linear = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    to_xyz = torch.tensor([[0.4124564, 0.3575761, 0.1804375],
                           [0.2126729, 0.7151522, 0.0721750],
                           [0.0193339, 0.1191920, 0.9503041]], dtype=rgb.dtype)
    white = torch.tensor([0.95047, 1.0, 1.08883], dtype=rgb.dtype)
    xyz = torch.einsum("ij,njhw->nihw", to_xyz, linear) / white.view(1, 3, 1, 1)
    f = torch.where(xyz > (6 / 29) ** 3, xyz.clamp_min(1e-12) ** (1 / 3), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return torch.cat([116 * f[:, 1:2] - 16, 500 * (f[:, 0:1] - f[:, 1:2]), 200 * (f[:, 1:2] - f[:, 2:3])], dim=1)


def box_mean(x: torch.Tensor, window: int) -> torch.Tensor:
    """Mean over a window x window square (edges replicated), same size."""
    pad = window // 2
    return F.avg_pool2d(F.pad(x, (pad, pad, pad, pad), mode="replicate"), window, stride=1)


def raw_features(rgb: np.ndarray) -> torch.Tensor:
    """(h, w, 3) uint8 -> (h * w, FEATURES) float32 unscaled features: L, a, b, log(1 + local sd of L)."""
    x = torch.tensor(rgb).permute(2, 0, 1).unsqueeze(0).float() / 255
    binomial = torch.tensor([1.0, 2.0, 1.0]) / 4
    kernel = (binomial[:, None] * binomial[None, :]).expand(3, 1, 3, 3)
    x = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel, groups=3)
    lab = srgb_to_lab(x)
    lightness = lab[:, :1]
    mean = box_mean(lightness, TEXTURE_WINDOW)
    variance = (box_mean(lightness * lightness, TEXTURE_WINDOW) - mean * mean).clamp_min(0)
    texture = torch.log1p(variance.sqrt())
    return torch.cat([lab, texture], dim=1)[0].reshape(FEATURES, -1).T.contiguous()


def majority_filter(labels: torch.Tensor, passes: int) -> torch.Tensor:
    """Each (h, w) pixel takes the most common class of its 5x5 neighbourhood; on a tie it keeps its own.
    Votes are small integers (uint8 is plenty) summed from shifted one-hot planes of the classes present:
    several times faster than a pooling layer on a CPU."""
    pad = MAJORITY_WINDOW // 2
    height, width = labels.shape
    for _ in range(passes):
        present, compact = torch.unique(labels, return_inverse=True)
        if len(present) < 2:
            break
        one_hot = (compact[:, :, None] == torch.arange(len(present))).to(torch.uint8)  # (h, w, classes)
        padded = F.pad(one_hot, (0, 0, pad, pad, pad, pad))
        rows = padded[:height].clone()
        for dy in range(1, MAJORITY_WINDOW):
            rows += padded[dy:dy + height]
        votes = rows[:, :width].clone()
        for dx in range(1, MAJORITY_WINDOW):
            votes += rows[:, dx:dx + width]
        labels = present[(2 * votes + one_hot).argmax(dim=2)]  # + its own class: ties go to it
    return labels


def nearest(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """(N, F + 1) samples with a column of ones, (K, F) centres -> (N,) nearest centre. |x - c|^2 =
    |x|^2 - 2 x.c + |c|^2 and |x|^2 is the same for every centre, so one matrix product ranks them."""
    augmented = np.concatenate([-2 * centres, (centres * centres).sum(axis=1, keepdims=True)], axis=1)
    return (x @ augmented.T).argmin(axis=1)


def with_ones(x: np.ndarray) -> np.ndarray:
    return np.concatenate([x, np.ones((len(x), 1))], axis=1)


def kmeans(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Best of ``RESTARTS`` k-means runs (greedy k-means++ then Lloyd) -> (k, F) centres."""
    best, best_inertia = None, math.inf
    tolerance = TOLERANCE * float(x.var(axis=0).mean())
    for _ in range(RESTARTS):
        centres, inertia = lloyd(x, kmeans_plus_plus(x, k, rng), tolerance)
        if inertia < best_inertia:
            best, best_inertia = centres, inertia
    assert best is not None
    return best


def kmeans_plus_plus(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Greedy k-means++: each new centre is the best of a few candidates drawn in proportion to D^2."""
    n = len(x)
    trials = 2 + int(math.log(k))
    norms = (x * x).sum(axis=1)
    centres = np.empty((k, x.shape[1]))
    centres[0] = x[rng.integers(n)]
    closest = ((x - centres[0]) ** 2).sum(axis=1)
    for i in range(1, k):
        total = closest.sum()
        if total <= 0:  # every sample already sits on a centre: fewer distinct points than classes
            centres[i:] = x[rng.integers(n, size=k - i)]
            break
        candidates = np.searchsorted(np.cumsum(closest), rng.random(trials) * total, side="right")
        candidates = np.minimum(candidates, n - 1)
        to_candidates = norms[candidates][:, None] - 2 * x[candidates] @ x.T + norms[None, :]
        distances = np.minimum(np.maximum(to_candidates, 0.0), closest)
        pick = int(distances.sum(axis=1).argmin())
        centres[i] = x[candidates[pick]]
        closest = distances[pick]
    return centres


def lloyd(x: np.ndarray, centres: np.ndarray, tolerance: float) -> tuple[np.ndarray, float]:
    """Lloyd iterations until the centres settle -> (centres, inertia). An empty cluster moves to the
    sample farthest from its centre; with none left to take it stays put (never NaN)."""
    k, features = centres.shape
    ones = with_ones(x)
    previous = None
    for _ in range(ITERATIONS):
        labels = nearest(ones, centres)
        if previous is not None and np.array_equal(labels, previous):
            break
        previous = labels
        counts = np.bincount(labels, minlength=k)
        sums = np.stack([np.bincount(labels, weights=x[:, f], minlength=k) for f in range(features)], axis=1)
        filled = counts > 0
        moved = centres.copy()
        moved[filled] = sums[filled] / counts[filled, None]
        empty = np.flatnonzero(~filled)
        if len(empty):
            spread = ((x - centres[labels]) ** 2).sum(axis=1)
            farthest = np.argsort(-spread, kind="stable")[: len(empty)]
            for cluster, sample in zip(empty, farthest, strict=False):  # more empties than samples: the rest stay
                if spread[sample] > 0:
                    moved[cluster] = x[sample]
                    previous = None
        shift = float(((moved - centres) ** 2).sum())
        centres = moved
        if shift <= tolerance:
            break
    labels = nearest(ones, centres)
    return centres, float(((x - centres[labels]) ** 2).sum())


def make_palette(mean_rgb: np.ndarray) -> Palette:
    """Classes named after their mean colours (unique names), drawn in them (unique colours)."""
    names: list[str] = []
    taken: set[tuple[int, int, int]] = set()
    classes = []
    for value in mean_rgb:
        colour = (int(round(value[0])), int(round(value[1])), int(round(value[2])))
        base = colour_name(colour)
        name, count = base, 1
        while name in names:
            count += 1
            name = f"{base} {count}"
        names.append(name)
        step = 0
        while colour in taken:  # nudge one channel by one step, round robin, away from the edge
            channel = step % 3
            delta = 1 + step // 3
            moved = colour[channel] + delta if colour[channel] + delta <= 255 else colour[channel] - delta
            colour = tuple(moved if c == channel else v for c, v in enumerate(colour))  # type: ignore[assignment]
            step += 1
        taken.add(colour)
        classes.append(LabelClass(name, colour))
    return Palette(tuple(classes))


def colour_name(rgb: tuple[int, int, int]) -> str:
    """A plain name for a colour: "dark blue", "light green", "grey", "white", "orange", "brown", ..."""
    values = torch.tensor([float(v) / 255 for v in rgb], dtype=torch.float64).view(1, 3, 1, 1)
    lightness, a, b = (float(v) for v in srgb_to_lab(values).flatten())
    chroma = math.hypot(a, b)
    high, low = max(rgb) / 255, min(rgb) / 255
    saturation = 0.0 if high == 0 else (high - low) / high
    if lightness < 10 or (chroma < 8 and lightness < 15):
        return "black"
    if chroma < 8:
        if lightness < 40:
            return "dark grey"
        if lightness < 65:
            return "grey"
        return "light grey" if lightness < 88 else "white"
    hue = hsv_hue(rgb)
    if 8 <= hue < 48 and high < 0.65:
        return "dark brown" if high < 0.35 else "brown"
    if 8 <= hue < 50 and saturation < 0.5:
        return "beige" if high >= 0.85 else "light brown"
    if 48 <= hue < 75 and high < 0.55:
        return "dark olive" if high < 0.3 else "olive"
    word = hue_word(hue, saturation, lightness)
    if high < 0.5 or lightness < 25:
        shade = "dark"
    elif high > 0.75 and saturation < 0.55:
        shade = "pale" if chroma < 18 else "light"
    elif saturation > 0.8 and high < 0.8:
        shade = "deep"
    else:
        shade = ""
    muted = "greyish " if chroma < 18 and shade != "pale" else ""
    return f"{shade} {muted}{word}".strip()


def hsv_hue(rgb: tuple[int, int, int]) -> float:
    """HSV hue in degrees (0 = red, 120 = green, 240 = blue)."""
    r, g, b = (float(v) for v in rgb)
    high, low = max(r, g, b), min(r, g, b)
    if high == low:
        return 0.0
    span = high - low
    if high == r:
        hue = ((g - b) / span) % 6
    elif high == g:
        hue = (b - r) / span + 2
    else:
        hue = (r - g) / span + 4
    return 60.0 * hue


def hue_word(hue: float, saturation: float, lightness: float) -> str:
    pink = saturation < 0.6 and lightness >= 55  # a whitened red or magenta
    for limit, word in ((12, "pink" if pink else "red"), (45, "orange"), (70, "yellow"), (165, "green"),
                        (195, "cyan"), (255, "blue"), (285, "purple"), (335, "pink" if pink else "magenta")):
        if hue < limit:
            return word
    return "pink" if pink else "red"
