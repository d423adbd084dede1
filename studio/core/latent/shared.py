"""What every latent module shares: the error, the model kinds, the interpolation modes, batch sizes."""

from __future__ import annotations

from studio.core.errors import StudioError

LATENT_KINDS = ("vae", "flow")
MODES = ("linear", "spherical")
DEFAULT_TEMPERATURE = {"vae": 1.0, "flow": 0.7}  # Glow's samples look best a little colder
BATCH = 16  # images per forward pass when encoding many
SCORE_SEED = 1234


class LatentError(StudioError):
    """A latent operation got something it cannot use (wrong model kind, bad weights, empty folder...)."""

