"""Latent arithmetic (A − B + C) and latent maps (a folder's latents in 2-D): the maths, the engine, the CLI.

The tiny trained VAE and flow come from test_latent's module fixture (trained once more for this module).
"""

from __future__ import annotations

import json
import shutil
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import test_latent
import torch
from PIL import Image
from test_latent import SIZE, good_photos, install, load

from studio.cli import main
from studio.core import latent
from studio.core.errors import StudioError
from studio.core.images import read_image
from studio.core.jobs import Finished, Item, Progress

# test_latent's fixture, used here as this module's own: the tiny trained models.
trained = test_latent.trained
pytestmark = pytest.mark.usefixtures("one_torch_thread")

# -- arithmetic --------------------------------------------------------------------------------------------------


def test_arithmetic_is_c_plus_strength_times_a_minus_b():
    torch.manual_seed(0)
    a, b, c = torch.randn(3, 24)
    assert torch.allclose(latent.arithmetic(a, b, c), a - b + c)
    assert torch.allclose(latent.arithmetic(a, b, c, 0.5), c + 0.5 * (a - b))
    assert torch.equal(latent.arithmetic(a, a, c), c) and torch.equal(latent.arithmetic(a, b, c, 0.0), c)
    batch = latent.arithmetic(torch.stack([a, b]), b, c)  # (N, D) against (D,): broadcasts
    assert batch.shape == (2, 24) and torch.equal(batch[1], c)


@pytest.mark.parametrize("kind", ["vae", "flow"])
def test_analogy_decodes_c_when_a_equals_b_or_strength_is_zero(trained, kind):
    model = load(trained, kind)
    a, b, c = model.load_images(good_photos(trained["folder"])[:3])
    reconstruction_of_c = model.reconstruct(c.unsqueeze(0))
    same = latent.analogy(model, torch.stack([a, a, c]))
    assert same.shape == (1, 3, SIZE[kind], SIZE[kind])
    assert torch.allclose(same, reconstruction_of_c, atol=1e-5)
    assert torch.allclose(latent.analogy(model, torch.stack([a, b, c]), strength=0.0), reconstruction_of_c, atol=1e-5)
    z = model.encode(torch.stack([a, b, c]))
    moved = latent.analogy(model, torch.stack([a, b, c]), strength=0.7)
    assert torch.allclose(moved, model.decode(z[2] + 0.7 * (z[0] - z[1])), atol=1e-5)
    assert not torch.allclose(moved, reconstruction_of_c, atol=1e-3)
    with pytest.raises(StudioError, match="three images"):
        latent.analogy(model, torch.stack([a, b]))


# -- the map's projection and layout --------------------------------------------------------------------------------


def dominant_latents(n: int = 300, d: int = 20, seed: int = 0):
    """Latents spread 6 along axis 4, 2 along axis 9, 0.05 elsewhere, around a mean of 3 on every axis."""
    g = torch.Generator().manual_seed(seed)
    first, second = torch.zeros(d), torch.zeros(d)
    first[4], second[9] = 1.0, 1.0
    z = (3.0 + 6 * torch.randn(n, 1, generator=g) * first + 2 * torch.randn(n, 1, generator=g) * second
         + 0.05 * torch.randn(n, d, generator=g))
    return z, first, second


def test_pca_projection_recovers_the_dominant_directions_and_inverts_onto_their_plane():
    z, first, second = dominant_latents()
    projection, points = latent.fit_projection(z)
    c = projection.components
    assert projection.method == "pca" and c.shape == (2, 20) and points.shape == (300, 2)
    assert abs(float(c[0] @ first)) > 0.99 and abs(float(c[1] @ second)) > 0.99
    assert float(c[0, 4]) > 0 and float(c[1, 9]) > 0  # signs fixed: the largest entry is positive
    assert torch.allclose(c @ c.T, torch.eye(2), atol=1e-5)
    assert torch.allclose(projection.mean, z.mean(0), atol=1e-5)
    assert points[:, 0].std().item() == pytest.approx(6.0, rel=0.15)
    assert torch.allclose(latent.project(z, projection), points) and torch.allclose(points, (z - z.mean(0)) @ c.T, atol=1e-4)
    # Back from the map: z's orthogonal projection onto the principal plane through the mean.
    back = latent.map_to_latent(latent.project(z, projection), projection)
    expected = projection.mean + (z - projection.mean) @ c.T @ c
    assert torch.allclose(back, expected, atol=1e-4)
    on_plane = projection.mean + torch.tensor([[1.5, -0.5], [0.0, 2.0]]) @ c
    assert torch.allclose(latent.map_to_latent(latent.project(on_plane, projection), projection), on_plane, atol=1e-5)
    assert latent.map_to_latent(torch.tensor([1.0, 2.0]), projection).shape == (20,)
    assert torch.equal(latent.Projection.from_dict(json.loads(json.dumps(projection.to_dict()))).components, c)
    with pytest.raises(StudioError, match="method"):
        latent.fit_projection(z, "tsne")
    with pytest.raises(StudioError, match="two latents"):
        latent.fit_projection(z[:1])


def test_layout_keeps_every_thumbnail_inside_the_canvas_with_one_scale():
    points = torch.tensor([[-3.0, 1.0], [5.0, 2.0], [0.0, -1.0]])
    layout = latent.fit_layout(points, 200, 40)
    xy = layout.to_canvas(points)
    assert (xy >= 20).all() and (xy <= 180).all()
    assert float(xy[:, 0].min()) == pytest.approx(200 - float(xy[:, 0].max()))  # centred along the long axis...
    assert float(xy[:, 0].max() - xy[:, 0].min()) > 140  # ... and filling it, less the margin
    assert torch.allclose(layout.to_point(xy), points.double())
    assert (xy[1] - xy[0]).norm() / (points[1] - points[0]).norm() == pytest.approx(layout.scale)
    assert latent.Layout.from_dict(layout.to_dict()) == layout
    alone = latent.fit_layout(torch.ones(2, 2), 100, 10)  # every image in one place: the centre
    assert torch.allclose(alone.to_canvas(torch.ones(2)), torch.tensor([50.0, 50.0], dtype=torch.float64))
    with pytest.raises(StudioError, match="thumbnails"):
        latent.fit_layout(points, 60, 40)


def test_umap_method_needs_its_package_and_fits_a_linear_inverse(monkeypatch):
    z, _, _ = dominant_latents(n=40, d=12)
    monkeypatch.setitem(sys.modules, "umap", None)  # as if not installed
    with pytest.raises(StudioError, match="pip install umap-learn"):
        latent.fit_projection(z, "umap")
    g = torch.Generator().manual_seed(1)
    embedding, mean, components = torch.randn(40, 2, generator=g), torch.randn(12, generator=g), torch.randn(2, 12, generator=g)

    class FakeUMAP:
        def __init__(self, n_components, n_neighbors, random_state):
            assert n_components == 2 and 2 <= n_neighbors < 40

        def fit_transform(self, data):
            assert data.shape == (40, 12)
            return embedding.numpy()

    monkeypatch.setitem(sys.modules, "umap", SimpleNamespace(UMAP=FakeUMAP))
    linear = mean + embedding @ components  # latents exactly affine in the embedding: the fit is exact
    projection, points = latent.fit_projection(linear, "umap")
    assert projection.method == "umap" and torch.equal(points, embedding)
    assert torch.allclose(projection.mean, mean, atol=1e-4) and torch.allclose(projection.components, components, atol=1e-4)
    assert torch.allclose(latent.project(linear, projection), embedding, atol=1e-4)


# -- maps of a trained model's folder --------------------------------------------------------------------------------


def test_map_job_places_each_readable_image_and_writes_its_json(trained, tmp_path):
    model = load(trained, "vae")
    folder = trained["folder"]
    events = list(latent.map_job(model, folder, thumb=16, size=160))
    assert isinstance(events[-1], Finished) and all(isinstance(e, (Progress, Item, Finished)) for e in events)
    assert sorted(e.path.rsplit("/", 1)[-1] for e in events if isinstance(e, Item) and e.skipped) == ["empty.jpg", "notes.png"]
    result = events[-1].value
    files = good_photos(folder)
    assert [e["path"] for e in result.entries] == [str(p) for p in files] and len(result.failed) == 2
    assert result.image.shape == (160, 160, 3) and result.image.dtype == np.uint8
    assert (result.image[:3, :3] == 255).all() and (result.image[-3:, -3:] == 255).all()  # white around
    z = model.encode(model.load_images(files))
    assert torch.allclose(torch.tensor([e["point"] for e in result.entries]), latent.project(z, result.projection), atol=1e-4)
    for entry in result.entries:
        x, y = entry["canvas"]
        left, top, w, h = entry["box"]
        assert 8 <= x <= 152 and 8 <= y <= 152 and max(w, h) == 16
        assert 0 <= left and left + w <= 160 and 0 <= top and top + h <= 160
    # Later thumbnails over earlier ones: the last one is whole on the canvas.
    left, top, w, h = result.entries[-1]["box"]
    last = np.asarray(Image.open(files[-1]).convert("RGB").resize((w, h), Image.Resampling.LANCZOS))
    assert np.abs(result.image[top : top + h, left : left + w].astype(int) - last.astype(int)).max() <= 1
    image, data = latent.save_map(result, tmp_path / "map.png")
    assert read_image(image).size == (160, 160) and data == tmp_path / "map.json"
    saved = json.loads(data.read_text())
    assert saved["model"] == "tiny-vae" and saved["canvas"]["width"] == 160 and len(saved["images"]) == 12
    assert [s["path"] for s in saved["skipped"]] == [p for p, _ in result.failed]
    projection, layout, entries = latent.load_map(data)
    assert projection.components.shape == (2, model.latent_dim) and len(entries) == 12
    # A cursor on an image's centre maps back to (the principal-plane part of) that image's latent.
    cursor = layout.to_point(torch.tensor(entries[0]["canvas"])).float()
    assert torch.allclose(cursor, latent.project(z[0], projection), atol=1e-3)
    c = projection.components
    on_plane = projection.mean + (z[0] - projection.mean) @ c.T @ c
    assert torch.allclose(latent.map_to_latent(cursor, projection), on_plane, atol=1e-3)
    with pytest.raises(StudioError, match="not a latent map"):
        latent.load_map(image)


# -- the command line ------------------------------------------------------------------------------------------------


def test_cli_arithmetic_writes_the_result_or_a_strip_and_refuses_unreadable_images(trained, tmp_path, capsys):
    install(trained, "flow")
    a, b, c = (str(p) for p in good_photos(trained["folder"])[:3])
    assert main(["latent", "arithmetic", "--model", "tiny-flow", a, b, c, "-o", str(tmp_path / "r.png")]) == 0
    assert read_image(tmp_path / "r.png").size == (16, 16)
    assert main(["latent", "arithmetic", "--model", "tiny-flow", a, b, c, "--strength", "0.5", "--strip",
                 "-o", str(tmp_path / "s.png")]) == 0
    assert "strip" in capsys.readouterr().out
    assert read_image(tmp_path / "s.png").size == (4 * 16, 16)
    # A == B: the flow inverts exactly, so the result is C itself (to the 8-bit level).
    assert main(["latent", "arithmetic", "--model", "tiny-flow", a, a, c, "--strip", "-o", str(tmp_path / "same.png")]) == 0
    frames = np.split(np.asarray(Image.open(tmp_path / "same.png")).astype(int), 4, axis=1)
    assert np.abs(frames[3] - frames[2]).max() <= 1 and np.array_equal(frames[0], frames[1])
    capsys.readouterr()
    junk = str(trained["folder"] / "notes.png")
    assert main(["latent", "arithmetic", "--model", "tiny-flow", a, junk, c, "-o", str(tmp_path / "bad.png")]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("studio: error:") and "notes.png" in err
    assert not (tmp_path / "bad.png").exists()


def test_cli_map_writes_png_and_json_and_reports_errors_in_one_line(trained, tmp_path, capsys, monkeypatch):
    install(trained, "vae")
    out = tmp_path / "map.png"
    assert main(["latent", "map", "--model", "tiny-vae", "--images", str(trained["folder"]), "-o", str(out),
                 "--size", "200", "--thumb", "20"]) == 0
    captured = capsys.readouterr()
    assert "12 images" in captured.out and "2 skipped" in captured.out
    assert "notes.png" in captured.err and "empty.jpg" in captured.err  # skipped files, as they come
    assert read_image(out).size == (200, 200)
    saved = json.loads((tmp_path / "map.json").read_text())
    assert saved["projection"]["method"] == "pca" and len(saved["projection"]["components"]) == 2
    assert all(0 <= v < 200 for entry in saved["images"] for v in entry["canvas"])

    junk_only = tmp_path / "junk"
    junk_only.mkdir()
    shutil.copy(trained["folder"] / "notes.png", junk_only)
    monkeypatch.setitem(sys.modules, "umap", None)
    for folder, extra, message in ((tmp_path / "missing", [], "no such folder"),
                                   (junk_only, [], "no readable images"),
                                   (trained["folder"], ["--method", "umap"], "umap-learn")):
        bad = tmp_path / "bad.png"
        assert main(["latent", "map", "--model", "tiny-vae", "--images", str(folder), "-o", str(bad), "-q", *extra]) == 1
        lines = capsys.readouterr().err.strip().splitlines()
        assert lines[-1].startswith("studio: error:") and message in lines[-1]
        assert not bad.exists() and not bad.with_suffix(".json").exists()
        assert all(line.startswith("skipped ") for line in lines[:-1])
