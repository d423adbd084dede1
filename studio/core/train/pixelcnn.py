"""The PixelCNN as a training algorithm: the exact negative log-likelihood, in bits per dimension.

Every pixel is predicted from the true pixels before it in one pass (teacher forcing), so a step
costs one forward and one backward pass however large the image; only sampling is sequential.

Previews stay as cheap as a step: drawing one 32-px sample takes 1024 network passes, seconds on
a CPU, too slow to repeat during training. Each row shows the image, the network's guess of every
pixel from the true pixels before it (the mean of its predicted distribution: sharp where the
image is predictable, wrong at the first pixel of an edge), and a heat map of the bits each pixel
costs (black 0, red, yellow, white at 8 bits per sub-pixel or more): where the model is surprised.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import torch

from studio.core.nets.pixelcnn import (
    GatedPixelCNN,
    bits_per_dim,
    expected_image,
    log_likelihood,
    subpixel_log_probs,
)

from .config import TrainConfig
from .latent_trainer import LatentTrainer
from .trainer import preview_grid

HEAT_MAX_BITS = 8.0  # a sub-pixel costing this much is as surprising as a uniform guess: white
NO_LATENT_NOTE = (
    "A PixelCNN has no latent space: it models each pixel given the ones before it, so there is nothing "
    "to interpolate, blend or move along a direction. It scores images (exact bits/dim: studio latent "
    "score) and samples them pixel by pixel (studio latent sample), which is slow: one network pass per "
    "pixel, about a thousand for a 32-px image.")


def heat_map(bits: torch.Tensor) -> torch.Tensor:
    """(N, H, W) bits per sub-pixel -> (N, 3, H, W) in [-1, 1]: black, red, yellow, white at HEAT_MAX_BITS."""
    t = (bits / HEAT_MAX_BITS).clamp(0, 1).unsqueeze(1)
    return torch.cat([(3 * t).clamp(0, 1), (3 * t - 1).clamp(0, 1), (3 * t - 2).clamp(0, 1)], dim=1) * 2 - 1


class PixelCNNTrainer(LatentTrainer):
    """Gated PixelCNN with a discretised logistic mixture, minimising bits per dimension."""

    kind = "pixelcnn"
    title = "PixelCNN — exact likelihood, pixel by pixel"
    preview_layout = "each row: image, each pixel's prediction from the pixels before it, bits per pixel"
    generator_roles = ("pixelcnn",)
    role = "pixelcnn"

    def __init__(self, config: TrainConfig, device: torch.device):
        super().__init__(config, device)
        # fp32 throughout: bf16 keeps 3 significant digits, and near ±1 a mean would then move in steps
        # of half an 8-bit bin, which the exact likelihood notices.
        self.amp_dtype = None

    @property
    def pixelcnn(self) -> GatedPixelCNN:
        return cast(GatedPixelCNN, self.net)

    def step(self, batch: dict[str, Any]) -> dict[str, float]:
        x = self.to_device(batch, "A")
        self.opt_g.zero_grad(set_to_none=True)
        out = self.nets["pixelcnn"](x)
        loss = bits_per_dim(log_likelihood(out, x, self.pixelcnn.mixtures), x[0].numel()).mean()
        loss.backward()
        self.opt_g.step()
        self.steps += 1
        return {"bits_per_dim": loss.item()}

    @torch.no_grad()
    def evaluate(self, loader: Any) -> dict[str, float]:
        """Held-out bits per dimension: the exact discrete likelihood, no noise, so no seed."""
        net = self.pixelcnn
        bpds = [bits_per_dim(log_likelihood(net(x), x, net.mixtures), x[0].numel()).cpu()
                for x in (batch["A"].to(self.device) for batch in loader)]
        return {"bits_per_dim": torch.cat(bpds).mean().item()}

    def finish_card(self, card: dict[str, Any]) -> None:
        card["limits"] = NO_LATENT_NOTE

    @torch.no_grad()
    def preview(self, samples: dict[str, torch.Tensor]) -> np.ndarray:
        """Rows of: the image, each pixel's expected value given the true pixels before it, its bits."""
        net = self.pixelcnn
        x = samples["A"].to(self.device)
        out = net(x)
        guess = expected_image(out, x, net.mixtures)
        bits = -subpixel_log_probs(out, x, net.mixtures).mean(dim=1) / np.log(2.0)
        return preview_grid([c.float().cpu() for c in (x, guess, heat_map(bits))])
