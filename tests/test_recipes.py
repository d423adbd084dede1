"""The starter models' recipe: its data are made from scikit-image's photos, reproducibly, with the
held-out photo kept out of every training folder."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recipes"))

import starter_data
import starter_models


def _images(folder: Path) -> dict[str, np.ndarray]:
    return {p.name: np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.glob("*.png"))}


def test_recipe_data_are_reproducible_and_keep_the_held_out_photo_apart(tmp_path):
    first = starter_data.build(tmp_path / "one", size=48, per_photo=4, landscapes=3)
    second = starter_data.build(tmp_path / "two", size=48, per_photo=4, landscapes=3)
    for name, folder in first.items():
        a, b = _images(folder), _images(second[name])
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a), name
    photos, sketches = _images(first["photos"]), _images(first["sketch"])
    assert photos.keys() == sketches.keys() and len(photos) == 7 * 4  # seven training photos
    assert not any(name.startswith(starter_data.HELD_OUT) for name in photos)
    assert all(name.startswith(starter_data.HELD_OUT) for name in _images(first["held_out_photos"]))
    assert len(_images(first["faces"])) == 100
    assert {im.shape for im in _images(first["landscapes"]).values()} == {(64, 64, 3)}
    assert {im.shape for im in photos.values()} == {(48, 48, 3)}


def test_the_filters_do_what_their_names_say():
    rgb = starter_data.random_crops(starter_data.colour_photos()["astronaut"], 1, 96, np.random.default_rng(0))[0]
    sketch = starter_data.pencil_sketch(rgb)
    assert (sketch[..., 0] == sketch[..., 1]).all() and (sketch[..., 1] == sketch[..., 2]).all()  # grey
    assert np.median(sketch) > 200 and sketch.min() < 80  # mostly paper, with dark strokes
    poster = starter_data.poster(rgb)
    levels = {v for v in np.unique(poster) if v > 60}  # flat colours: six levels a channel (outlines are darker)
    assert len(levels) <= 6 < len(np.unique(rgb))
    assert poster.shape == rgb.shape


def test_landscapes_are_skies_over_land_along_the_whole_day():
    rng = np.random.default_rng(3)
    scenes = [starter_data.landscape(rng).astype(np.float64) for _ in range(40)]
    for scene in scenes:
        top = scene[:4]
        assert top.std(axis=1).mean() < 6  # the sky's top is a smooth gradient, without speckle
        assert top[..., 2].mean() > top[..., 0].mean() + 10  # and bluer than red, at noon as at night
    brightness = sorted(scene.mean() for scene in scenes)
    assert brightness[0] < 40 and brightness[-1] > 110  # nights and noons both
    rows = np.stack([scene.mean(axis=(1, 2)) for scene in scenes])
    assert (np.abs(np.diff(rows, axis=1)).max(axis=1) > 8).mean() > 0.9  # a horizon or a ridge in almost every one


def test_latent_recipes_ship_held_out_faces_as_examples(tmp_path):
    data = starter_data.build(tmp_path, size=32, per_photo=1, landscapes=0)
    vae = next(r for r in starter_models.RECIPES if r.kind == "vae")
    files = starter_models.example_files(vae, data)
    assert len(files) == 4 and all(rel.startswith("examples/face_") for rel in files)
    from studio.core.train.data import Preprocess, single

    training = {g[0] for g in single(data["faces"], Preprocess("resize_and_crop", 32, 32), seed=0).groups}
    assert not training & set(files.values())  # never a face the model was trained on
    pix2pix = next(r for r in starter_models.RECIPES if r.kind == "pix2pix")
    assert starter_models.example_files(pix2pix, data) == {}
