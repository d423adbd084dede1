"""A folder's automatic label maps: consistent classes, clean blobs, a card that round-trips exactly."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from skimage import color, data

from studio.core.paint import LabelError, Palette, Segmenter, colour_name, segment
from studio.core.paint.segment import majority_filter, srgb_to_lab

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SKY, GRASS, ROCK = (110, 160, 225), (70, 130, 50), (128, 128, 128)


def landscape(seed: int, height: int = 96, width: int = 128, horizon: float = 0.5,
              rock: tuple[int, int, int] = (40, 60, 30)) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A blue sky over noisy green grass with a grey square rock; returns the image and each region's mask."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3))
    cut = int(height * horizon)
    image[:cut] = SKY
    image[:cut] += rng.normal(0, 3, (cut, width, 3))
    image[cut:] = GRASS
    image[cut:] += rng.normal(0, 20, (height - cut, width, 1)) * np.array([0.6, 1.0, 0.5])
    top, left, side = rock
    image[top:top + side, left:left + side] = ROCK
    image[top:top + side, left:left + side] += rng.normal(0, 5, (side, side, 1))
    masks = {name: np.zeros((height, width), bool) for name in ("sky", "grass", "rock")}
    masks["sky"][:cut] = True
    masks["grass"][cut:] = True
    for mask in masks.values():
        mask[top:top + side, left:left + side] = False
    masks["rock"][top:top + side, left:left + side] = True
    return np.clip(image, 0, 255).astype(np.uint8), masks


def inner(mask: np.ndarray, margin: int = 4) -> np.ndarray:
    """The mask without a band at its borders (where blur and smoothing may round things off)."""
    eroded = mask.copy()
    for axis in (0, 1):
        for shift in (-margin, margin):
            eroded &= np.roll(mask, shift, axis=axis)
    return eroded


def majority_class(labels: np.ndarray, mask: np.ndarray) -> tuple[int, float]:
    counts = np.bincount(labels[mask], minlength=256)
    return int(counts.argmax()), float(counts.max() / mask.sum())


@pytest.fixture(scope="module")
def photos() -> list[tuple[np.ndarray, dict[str, np.ndarray]]]:
    return [landscape(0), landscape(1, 120, 90, 0.35, (70, 20, 25))]


@pytest.fixture(scope="module")
def fitted(photos) -> Segmenter:
    return Segmenter.fit([image for image, _ in photos], 3, seed=0)


def test_segment_returns_class_indices_of_the_photo_size(fitted, photos):
    for image in [photos[0][0], photos[1][0], np.zeros((1, 1, 3), np.uint8),
                  np.random.default_rng(2).integers(0, 256, (301, 713, 3), dtype=np.uint8)]:
        labels = fitted.segment(image)
        assert labels.shape == image.shape[:2]
        assert labels.dtype == np.uint8
        assert labels.max() < fitted.classes == len(fitted.palette) == 3


def test_classes_are_the_same_in_every_photo(fitted, photos):
    found = []
    for image, masks in photos:
        labels = fitted.segment(image)
        classes = {}
        for name, mask in masks.items():
            classes[name], share = majority_class(labels, inner(mask))
            assert share > 0.97, (name, share)
        found.append(classes)
    assert found[0] == found[1]
    assert len(set(found[0].values())) == 3


def test_names_and_colours_describe_the_regions(fitted, photos):
    image, masks = photos[0]
    labels = fitted.segment(image)
    assert len(set(fitted.palette.names)) == len(fitted.palette)
    assert len({c.colour for c in fitted.palette.classes}) == len(fitted.palette)
    for region, hue_word in (("sky", "blue"), ("grass", "green"), ("rock", "grey")):
        k, _ = majority_class(labels, inner(masks[region]))
        mean = image[inner(masks[region])].reshape(-1, 3).mean(axis=0)
        assert np.abs(np.array(fitted.palette.classes[k].colour) - mean).max() < 12, region
        assert hue_word in fitted.palette.classes[k].name, fitted.palette.names


def test_classes_are_ordered_by_lightness(fitted):
    lightness = fitted.centroids[:, 0]  # feature 0 is L times a positive scale
    assert np.all(np.diff(lightness) >= 0)


def test_fit_is_deterministic_for_a_seed(photos):
    images = [image for image, _ in photos]
    first, second = Segmenter.fit(images, 5, seed=7), Segmenter.fit(images, 5, seed=7)
    assert np.array_equal(first.centroids, second.centroids)
    assert np.array_equal(first.scale, second.scale)
    assert first.palette == second.palette
    for image in images:
        assert np.array_equal(first.segment(image), second.segment(image))


def test_photos_may_come_one_at_a_time_and_many(photos, monkeypatch):
    images = [image for image, _ in photos]
    from_list = Segmenter.fit(images, 4, seed=1)
    from_generator = Segmenter.fit((image for image in images), 4, seed=1)
    assert np.array_equal(from_list.centroids, from_generator.centroids)
    monkeypatch.setattr(segment, "MAX_SAMPLES", 500)  # a big folder is subsampled, not refused
    bounded = Segmenter.fit(images * 3, 4, seed=1)
    assert bounded.segment(images[0]).shape == images[0].shape[:2]


def test_card_round_trip_gives_identical_labels():
    photo = data.astronaut()[::2, ::2]
    segmenter = Segmenter.fit([photo, data.coffee()], 7, seed=3, samples_per_image=1500)
    card = json.loads(json.dumps(segmenter.to_card()))
    again = Segmenter.from_card(card)
    assert again.to_card() == segmenter.to_card()
    assert again.palette == segmenter.palette
    assert (again.working_size, again.smoothing) == (segmenter.working_size, segmenter.smoothing)
    assert np.array_equal(again.segment(photo), segmenter.segment(photo))
    assert isinstance(Palette.from_card(card["palette"]), Palette)


@pytest.mark.parametrize("card, message", [
    ({"features": "something-else", "centroids": [], "scale": []}, "features"),
    ({"features": "lab-texture-1", "scale": [1, 1, 1, 1]}, "centroids"),
    ({"features": "lab-texture-1", "centroids": [[0, 0, 0, 0]] * 2, "scale": [1, 1, 1],
      "palette": [{"name": "a", "colour": [0, 0, 0]}, {"name": "b", "colour": [1, 1, 1]}]}, "scales"),
    ({"features": "lab-texture-1", "centroids": [[0, 0, 0, 0]] * 2, "scale": [1, 1, 1, 1],
      "palette": [{"name": "a", "colour": [0, 0, 0]}]}, "palette"),
])
def test_a_bad_card_is_refused_in_one_line(card, message):
    with pytest.raises(LabelError, match=message) as caught:
        Segmenter.from_card(card)
    assert "\n" not in str(caught.value)


def test_smoothing_removes_speckle():
    labels = np.zeros((40, 40), np.int64)
    labels[20:, :] = 1
    speckle = labels.copy()
    rng = np.random.default_rng(0)
    ys, xs = rng.integers(2, 38, 30), rng.integers(2, 38, 30)
    speckle[ys, xs] = 2  # isolated single pixels of a third class
    cleaned = majority_filter(torch.from_numpy(speckle), 2).numpy()
    assert (cleaned == 2).sum() == 0
    assert np.array_equal(cleaned, labels)  # the straight border between two big regions stays put
    assert np.array_equal(majority_filter(torch.from_numpy(speckle), 0).numpy(), speckle)


def test_segmenting_a_speckled_photo_gives_clean_regions():
    blue, red = (40, 80, 200), (220, 40, 30)
    fit_on = np.zeros((64, 64, 3), np.uint8)
    fit_on[:, :32], fit_on[:, 32:] = blue, red
    segmenter = Segmenter.fit([fit_on], 2)
    speckled = np.zeros((64, 64, 3), np.uint8)
    speckled[:] = blue
    for y, x in [(5, 5), (10, 40), (30, 20), (50, 50), (58, 12)]:
        speckled[y:y + 3, x:x + 3] = red  # a single pixel would not survive the features' 3x3 blur
    raw = dataclasses.replace(segmenter, smoothing=0).segment(speckled)
    red_class = segmenter.segment(fit_on)[0, -1]
    assert (raw[[6, 11, 31, 51, 59], [6, 41, 21, 51, 13]] == red_class).all()  # without smoothing: specks...
    assert (segmenter.segment(speckled) == red_class).sum() == 0  # ...and smoothing removes them


def test_classes_outside_two_to_thirty_two_are_refused(photos):
    for classes in (0, 1, 33, 100):
        with pytest.raises(LabelError, match="2 to 32") as caught:
            Segmenter.fit([photos[0][0]], classes)
        assert "\n" not in str(caught.value)
    with pytest.raises(LabelError):
        Segmenter.fit([], 4)
    with pytest.raises(LabelError, match="uint8"):
        Segmenter.fit([photos[0][0].astype(np.float32)], 4)
    with pytest.raises(LabelError, match="uint8"):
        Segmenter.fit([photos[0][0]], 2).segment(photos[0][0][..., 0])


def test_a_grey_photo_with_more_classes_than_colours_works():
    grey = np.full((48, 64, 3), 128, np.uint8)
    grey[10:30, 10:40] = 60
    segmenter = Segmenter.fit([grey], 12)
    assert np.isfinite(segmenter.centroids).all() and np.isfinite(segmenter.scale).all()
    assert len(segmenter.palette) == 12
    assert len({c.colour for c in segmenter.palette.classes}) == 12
    assert len(set(segmenter.palette.names)) == 12
    assert all("grey" in name for name in segmenter.palette.names)
    labels = segmenter.segment(grey)
    assert labels.max() < 12
    assert labels[20, 25] != labels[40, 55]  # dark block and light background still differ
    flat = Segmenter.fit([np.full((8, 8, 3), 7, np.uint8)], 32)  # one colour, fewer pixels than classes
    assert np.isfinite(flat.centroids).all()
    assert flat.segment(np.full((5, 9, 3), 7, np.uint8)).max() < 32
    Segmenter.from_card(json.loads(json.dumps(flat.to_card())))


def changes(labels: np.ndarray) -> float:
    """The share of neighbouring pixel pairs whose classes differ: high for speckle, low for blobs."""
    return float((labels[1:, :] != labels[:-1, :]).mean() + (labels[:, 1:] != labels[:, :-1]).mean())


def test_real_photos_give_blobs_and_a_fair_likeness():
    photos = [data.astronaut(), data.coffee(), data.chelsea()]
    segmenter = Segmenter.fit(photos, 8)
    unsmoothed = dataclasses.replace(segmenter, smoothing=0)
    for photo in photos:
        labels = segmenter.segment(photo)
        assert labels.shape == photo.shape[:2]
        assert changes(labels) < 0.08
        assert changes(labels) < 0.7 * changes(unsmoothed.segment(photo))
        likeness = np.abs(segmenter.palette.colourise(labels).astype(float) - photo).mean()
        assert likeness < 30  # mean error per channel when each class is drawn in its colour


def test_lab_matches_scikit_image():
    rgb = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    ours = srgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1)[None].double() / 255)[0].permute(1, 2, 0).numpy()
    assert np.abs(ours - color.rgb2lab(rgb)).max() < 0.05


@pytest.mark.parametrize("rgb, name", [
    ((0, 0, 0), "black"), ((255, 255, 255), "white"), ((128, 128, 128), "grey"), ((50, 50, 50), "dark grey"),
    ((0, 0, 128), "dark blue"), ((120, 170, 230), "light blue"), ((0, 255, 0), "green"),
    ((255, 165, 0), "orange"), ((150, 100, 60), "brown"), ((255, 0, 0), "red"), ((255, 255, 0), "yellow"),
])
def test_colour_names(rgb, name):
    assert colour_name(rgb) == name
