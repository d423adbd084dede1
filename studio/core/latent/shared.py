"""What every latent module shares: the error, the model kinds, the interpolation modes, batch sizes."""

from __future__ import annotations

from studio.core.errors import StudioError
from studio.core.store import LATENT_KINDS

MODES = ("linear", "spherical")
# Glow's samples look best a little colder; the autoencoder's come from the Gaussian fitted to its codes.
DEFAULT_TEMPERATURE = {"vae": 1.0, "ae": 1.0, "flow": 0.7, "dcgan": 1.0}
__all__ = ["BATCH", "DEFAULT_TEMPERATURE", "LATENT_KINDS", "MODES", "SCORE_SEED", "LatentError"]
BATCH = 16  # images per forward pass when encoding many
SCORE_SEED = 1234


class LatentError(StudioError):
    """A latent operation got something it cannot use (wrong model kind, bad weights, empty folder...)."""

