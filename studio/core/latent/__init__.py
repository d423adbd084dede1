"""Latent work on VAE, autoencoder and flow models: encode, decode, interpolate, blend, sample,
directions, analogies, score, map.

Images are (N, 3, S, S) float tensors in [-1, 1] at the model's size S; latents are flat (N, D)
tensors (the VAE's posterior means and the flow's standardised ε under a unit Gaussian prior, the
autoencoder's codes as they are), so the same arithmetic serves every kind. One idea per module:

- :mod:`.model`: :class:`LatentModel`, a store model as images ↔ latents, samples and scores;
- :mod:`.maths`: lerp, slerp, paths, blends, analogies, principal directions (pure tensor functions);
- :mod:`.render`: the canvas's one render path, :class:`Scene` → :class:`Renderer` → uint8 RGB;
- :mod:`.encoding`: jobs over folders of images (encode, principal and attribute directions);
- :mod:`.atlas`: a folder's latents projected to 2-D (PCA, UMAP), thumbnails on a map, and back;
- :mod:`.frames`: uint8 frames, strips, GIFs, frame folders and direction files;
- :mod:`.pixels`: :class:`PixelModel`, a PixelCNN (no latent space): exact scores, samples pixel by pixel.
"""

from .atlas import (
    MAP_METHODS,
    LatentMap,
    Layout,
    Projection,
    fit_layout,
    fit_projection,
    load_map,
    map_job,
    map_to_latent,
    project,
    save_map,
)
from .encoding import attribute_direction, encode_folder, encode_folder_job, folder_directions_job
from .frames import load_direction, save_direction, save_frames, to_rgb8
from .maths import apply_direction, arithmetic, blend, lerp, path, principal_directions, slerp
from .model import LatentModel, VAEMeanEncoder
from .pixels import PixelModel, load_scorer
from .render import LatentCache, Renderer, Scene, analogy, apply_offset, interpolate
from .shared import BATCH, DEFAULT_TEMPERATURE, LATENT_KINDS, MODES, SCORE_SEED, LatentError

__all__ = [
    "BATCH", "DEFAULT_TEMPERATURE", "LATENT_KINDS", "MAP_METHODS", "MODES", "SCORE_SEED", "LatentCache", "LatentError",
    "LatentMap", "LatentModel", "Layout", "PixelModel", "Projection", "Renderer", "Scene", "VAEMeanEncoder", "analogy",
    "apply_direction", "apply_offset", "arithmetic", "attribute_direction", "blend", "encode_folder",
    "encode_folder_job", "fit_layout", "fit_projection", "folder_directions_job", "interpolate", "lerp",
    "load_direction", "load_map", "load_scorer", "map_job", "map_to_latent", "path", "principal_directions", "project",
    "save_direction", "save_frames", "save_map", "slerp", "to_rgb8",
]
