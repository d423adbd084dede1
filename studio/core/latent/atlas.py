"""A map of a folder's latent space: every image's thumbnail at its latent's 2-D position.

The latents are projected to 2-D (PCA by default; UMAP when the optional ``umap-learn`` package is
installed), the 2-D points are scaled onto a square canvas with a margin, and each image's
thumbnail is pasted there in folder order (later ones over earlier ones).

Every map carries a linear :class:`Projection` (a mean and two components) so that a point of the
map turns back into a latent: :func:`map_to_latent` ``= mean + point @ components``, the inverse a
map view uses to decode the latent under its cursor; :func:`project` is its least-squares inverse.
For PCA this is the map itself: ``map_to_latent(project(z))`` is z's projection onto the principal
plane. UMAP's embedding is not linear, so for it the projection is the best affine fit of the
latents from the embedding, an approximation. :class:`Layout` maps 2-D points to canvas pixels and
back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from studio.core.errors import ImageError
from studio.core.fileio import atomic_write_text
from studio.core.images import load_rgb_uint8, write_image
from studio.core.jobs import Control, Event, Finished, Item, Progress, nested

from .encoding import encode_folder_job
from .maths import principal_directions
from .model import LatentModel
from .shared import LatentError

MAP_METHODS = ("pca", "umap")
UMAP_PACKAGE = "umap-learn"
MAP_FORMAT = 1  # the JSON's format version


@dataclass(frozen=True)
class Projection:
    """A linear map between latents (D,) and 2-D points: ``latent ≈ mean + point @ components``.

    ``components`` is (2, D); for PCA its rows are the orthonormal principal axes of the latents.
    """

    method: str
    mean: Tensor
    components: Tensor

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "mean": self.mean.tolist(), "components": self.components.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Projection:
        mean = torch.tensor(data["mean"], dtype=torch.float32)
        components = torch.tensor(data["components"], dtype=torch.float32)
        if mean.ndim != 1 or components.shape != (2, mean.numel()):
            raise LatentError(f"a map projection needs a (D,) mean and (2, D) components, "
                              f"got {tuple(mean.shape)} and {tuple(components.shape)}")
        return cls(str(data["method"]), mean, components)


def map_to_latent(point_2d: Tensor, projection: Projection) -> Tensor:
    """The latent at a point of the map: ``mean + point @ components``, (2,) -> (D,) or (N, 2) -> (N, D).

    This is what a map view decodes under its cursor (after :meth:`Layout.to_point`).
    """
    point = torch.as_tensor(point_2d, dtype=projection.components.dtype)
    return projection.mean + point @ projection.components


def project(latents: Tensor, projection: Projection) -> Tensor:
    """Latents (D,) or (N, D) -> their 2-D points (2,) or (N, 2): the least-squares inverse of
    :func:`map_to_latent`; for PCA's orthonormal components, ``(z − mean) @ componentsᵀ``."""
    inverse = torch.linalg.pinv(projection.components.double())
    centred = latents.double() - projection.mean.double()
    return (centred @ inverse).to(latents.dtype)


def fit_projection(latents: Tensor, method: str = "pca", seed: int = 0) -> tuple[Projection, Tensor]:
    """Project (N, D) latents to 2-D: (the projection, the (N, 2) points of the map)."""
    check_method(method)
    if latents.ndim != 2 or latents.shape[0] < 2 or latents.shape[1] < 2:
        raise LatentError(f"a map needs at least two latents of at least two dimensions, got {tuple(latents.shape)}")
    latents = latents.float()
    if method == "pca":
        projection = _pca(latents)
        return projection, project(latents, projection)
    embedding = _umap_embedding(latents, seed)
    return _affine_fit(latents, embedding), embedding


def _pca(latents: Tensor) -> Projection:
    axes, _ = principal_directions(latents, 2)
    # SVD signs are arbitrary: make each axis's largest entry positive, so a folder always maps alike.
    rows = torch.arange(axes.shape[0])
    signs = torch.sign(axes[rows, axes.abs().argmax(dim=1)])
    return Projection("pca", latents.mean(0), axes * torch.where(signs == 0, 1.0, signs).unsqueeze(1))


def _umap_module() -> Any:
    try:
        import umap
    except ImportError:
        raise LatentError(f"the umap map method needs the optional package {UMAP_PACKAGE} "
                          f"(pip install {UMAP_PACKAGE}); the pca method needs nothing more") from None
    return umap


def _umap_embedding(latents: Tensor, seed: int) -> Tensor:
    n = latents.shape[0]
    if n < 4:
        raise LatentError(f"a umap map needs at least 4 images, got {n}; use pca")
    reducer = _umap_module().UMAP(n_components=2, n_neighbors=max(2, min(15, n - 1)), random_state=seed)
    embedding = np.asarray(reducer.fit_transform(latents.numpy()), dtype=np.float32)
    return torch.from_numpy(embedding.reshape(n, 2).copy())


def _affine_fit(latents: Tensor, points: Tensor) -> Projection:
    """The least-squares affine map from 2-D points to latents: latents ≈ mean + points @ components."""
    design = torch.cat([torch.ones(len(points), 1, dtype=torch.float64), points.double()], dim=1)
    solution = torch.linalg.lstsq(design, latents.double(), driver="gelsd").solution
    return Projection("umap", solution[0].float(), solution[1:].float())


def check_method(method: str) -> None:
    if method not in MAP_METHODS:
        raise LatentError(f"unknown map method {method!r} (use {' or '.join(MAP_METHODS)})")


@dataclass(frozen=True)
class Layout:
    """Map points to canvas pixels: ``canvas = offset + scale · point`` (x right, y down, as in images).

    One scale for both axes, so that distances on the canvas are distances in the projection.
    """

    size: int
    thumb: int
    scale: float
    offset: tuple[float, float]

    def to_canvas(self, points: Tensor) -> Tensor:
        return torch.as_tensor(points, dtype=torch.float64) * self.scale + torch.tensor(self.offset, dtype=torch.float64)

    def to_point(self, canvas_xy: Tensor) -> Tensor:
        """Canvas pixels -> a 2-D point of the projection (then :func:`map_to_latent` for the latent)."""
        return (torch.as_tensor(canvas_xy, dtype=torch.float64) - torch.tensor(self.offset, dtype=torch.float64)) / self.scale

    def to_dict(self) -> dict[str, Any]:
        return {"width": self.size, "height": self.size, "thumb": self.thumb, "scale": self.scale,
                "offset": list(self.offset)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Layout:
        x, y = data["offset"]
        return cls(int(data["width"]), int(data["thumb"]), float(data["scale"]), (float(x), float(y)))


def fit_layout(points: Tensor, size: int, thumb: int) -> Layout:
    """Scale and centre ``points`` (N, 2) so every thumbnail's centre lies at least half a thumbnail
    and a small margin inside a ``size`` × ``size`` canvas."""
    check_sizes(size, thumb)
    margin = thumb / 2 + max(2, size // 64)
    p = points.double()
    lo, hi = p.min(0).values, p.max(0).values
    extent = float((hi - lo).max())
    scale = (size - 2 * margin) / extent if extent > 1e-12 else 1.0
    centre = (lo + hi) / 2
    return Layout(size, thumb, scale, (size / 2 - scale * float(centre[0]), size / 2 - scale * float(centre[1])))


def check_sizes(size: int, thumb: int) -> None:
    if thumb < 1 or size < 2 * thumb:
        raise LatentError(f"a map needs thumbnails of at least 1 px on a canvas at least twice as wide "
                          f"(got thumbnails of {thumb} px on {size} px)")


@dataclass
class LatentMap:
    """A finished map: the canvas (size, size, 3) uint8, one entry per placed image, how to invert it."""

    image: np.ndarray
    entries: list[dict[str, Any]]
    projection: Projection
    layout: Layout
    model: str = ""
    kind: str = ""
    folder: str = ""
    failed: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"format": MAP_FORMAT, "model": self.model, "kind": self.kind, "folder": self.folder,
                "canvas": self.layout.to_dict(), "projection": self.projection.to_dict(), "images": self.entries,
                "skipped": [{"path": p, "reason": r} for p, r in self.failed]}


def _thumbnail(path: str | Path, thumb: int) -> Image.Image:
    """The whole image, fitted into ``thumb`` × ``thumb`` with its aspect ratio kept. Raises ImageError."""
    pixels = load_rgb_uint8(path)
    h, w = pixels.shape[:2]
    f = thumb / max(w, h)
    return Image.fromarray(pixels).resize((max(1, round(w * f)), max(1, round(h * f))), Image.Resampling.LANCZOS)


def map_job(model: LatentModel, folder: str | Path, method: str = "pca", thumb: int = 48, size: int = 1024,
            control: Control | None = None) -> Iterator[Event]:
    """Encode every readable image under ``folder`` (unreadable ones reported as skipped Items), project
    the latents to 2-D and place each image's thumbnail on a white canvas. Finishes with a :class:`LatentMap`."""
    control = control or Control()
    check_method(method)
    check_sizes(size, thumb)
    if method == "umap":
        _umap_module()  # fail before the encoding, not after
    result = yield from nested(encode_folder_job(model, folder, control), control)
    latents, paths = result["latents"], list(result["paths"])
    failed = [(str(p), str(r)) for p, r in result["failed"]]
    if not paths:
        raise LatentError(f"{folder}: no readable images to map")
    if len(paths) < 2:
        raise LatentError(f"{folder}: a map needs at least two readable images, found 1")
    projection, points = fit_projection(latents, method)
    layout = fit_layout(points, size, thumb)
    centres = layout.to_canvas(points)
    canvas = Image.new("RGB", (size, size), "white")
    entries: list[dict[str, Any]] = []
    yield Progress(0, len(paths), "placing thumbnails")
    for i, (path, point, centre) in enumerate(zip(paths, points.tolist(), centres.tolist(), strict=True)):
        control.checkpoint()
        try:
            image = _thumbnail(path, thumb)
        except ImageError as exc:  # read a moment ago; changed since
            failed.append((path, exc.reason))
            yield Item(path, error=exc.reason)
            continue
        left, top = round(centre[0] - image.width / 2), round(centre[1] - image.height / 2)
        canvas.paste(image, (left, top))
        entries.append({"path": path, "canvas": [round(centre[0], 3), round(centre[1], 3)], "point": point,
                        "box": [left, top, image.width, image.height]})
        yield Progress(i + 1, len(paths), "placing thumbnails")
    yield Finished(LatentMap(np.asarray(canvas), entries, projection, layout, model.name, model.kind, str(folder),
                             failed))


def save_map(latent_map: LatentMap, out: str | Path) -> tuple[Path, Path]:
    """Write the canvas to ``out`` (PNG, or any image format) and the map's data beside it as JSON,
    each atomically: (image path, JSON path)."""
    out = Path(out)
    data = out.with_suffix(".json")
    if data == out:
        raise LatentError(f"{out}: the map's image needs an image suffix such as .png")
    write_image(out, latent_map.image.astype(np.float32) / 255.0)
    atomic_write_text(data, json.dumps(latent_map.to_dict(), indent=1))
    return out, data


def load_map(path: str | Path) -> tuple[Projection, Layout, list[dict[str, Any]]]:
    """A map's JSON (written by :func:`save_map`): its projection, its layout, its image entries."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return Projection.from_dict(data["projection"]), Layout.from_dict(data["canvas"]), list(data["images"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LatentError(f"{path}: not a latent map's JSON ({exc})") from exc
