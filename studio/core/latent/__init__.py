"""Latent work on VAE and flow models: encode, decode, interpolate, blend, sample, directions, score.

Images are (N, 3, S, S) float tensors in [-1, 1] at the model's size S; latents are flat (N, D)
tensors under a unit Gaussian prior (the VAE's posterior means, the flow's standardised ε), so the
same arithmetic serves both kinds. One idea per module:

- :mod:`.model`: :class:`LatentModel`, a store model as images ↔ latents, samples and scores;
- :mod:`.maths`: lerp, slerp, paths, blends, principal directions (pure tensor functions);
- :mod:`.render`: the canvas's one render path, :class:`Scene` → :class:`Renderer` → uint8 RGB;
- :mod:`.folders`: jobs over folders of images (encode, principal and attribute directions);
- :mod:`.frames`: uint8 frames, strips, GIFs, frame folders and direction files.
"""

from .encoding import attribute_direction, encode_folder, encode_folder_job, folder_directions_job
from .frames import load_direction, save_direction, save_frames, to_rgb8
from .maths import apply_direction, blend, lerp, path, principal_directions, slerp
from .model import LatentModel, VAEMeanEncoder
from .render import LatentCache, Renderer, Scene, apply_offset, interpolate
from .shared import BATCH, DEFAULT_TEMPERATURE, LATENT_KINDS, MODES, SCORE_SEED, LatentError

__all__ = [
    "BATCH", "DEFAULT_TEMPERATURE", "LATENT_KINDS", "MODES", "SCORE_SEED", "LatentCache", "LatentError",
    "LatentModel", "Renderer", "Scene", "VAEMeanEncoder", "apply_direction", "apply_offset",
    "attribute_direction", "blend", "encode_folder", "encode_folder_job", "folder_directions_job", "interpolate",
    "lerp", "load_direction", "path", "principal_directions", "save_direction", "save_frames", "slerp", "to_rgb8",
]
