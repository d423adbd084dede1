"""GAN inversion: the latent z whose generated image G(z) comes closest to a given image.

A GAN has no encoder, so a photo becomes a point of its latent space by optimisation: start from
``restarts`` random z ~ N(0, I) per image, minimise the mean squared error between G(z) and the
image with Adam for ``steps`` steps (plus a small pull of z towards the prior's typical shell, so
the answer stays a latent the generator knows), and keep the restart that reconstructs best. The
restarts matter: the objective is not convex, and one start often settles on a face of the wrong
shape. Every draw comes from a seeded generator: the same image inverts to the same z.

The generator runs in eval mode (batch norm's running statistics), as it does for samples.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from studio.core.jobs import Control

STEPS = 200
RESTARTS = 4
LR = 0.05
PRIOR_WEIGHT = 1e-3  # weight of (mean z² − 1)²: keeps |z| near the prior's shell without pinning it
CHUNK = 16  # images inverted together (times the restarts)
SEED = 1234


@dataclass(frozen=True)
class Inversion:
    latents: Tensor  # (N, D): the best restart's z for each image
    mse: Tensor  # (N,): its mean squared error in [-1, 1] pixels

    def psnr(self) -> Tensor:
        """PSNR in dB of each reconstruction (pixels in [0, 1]: the [-1, 1] error over 4)."""
        return 10 * torch.log10(4.0 / self.mse.clamp_min(1e-12))


def invert(
    generator: nn.Module,
    images: Tensor,
    latent_dim: int,
    *,
    steps: int = STEPS,
    restarts: int = RESTARTS,
    lr: float = LR,
    seed: int = SEED,
    control: Control | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Inversion:
    """Invert ``images`` (N, 3, S, S) in [-1, 1]; ``progress(done, total)`` is called once per step of
    each chunk of images, ``control`` is checked as often (pause, cancel)."""
    was_training = generator.training
    flags = [p.requires_grad for p in generator.parameters()]
    generator.eval().requires_grad_(False)  # gradients for z only
    device = next(generator.parameters()).device
    g = torch.Generator().manual_seed(seed)
    chunks = images.split(CHUNK)
    total = steps * len(chunks)
    latents, errors = [], []
    try:
        for index, chunk in enumerate(chunks):
            n = chunk.shape[0]
            target = chunk.to(device, torch.float32).repeat_interleave(restarts, dim=0)
            z = torch.randn(n * restarts, latent_dim, generator=g).to(device).requires_grad_(True)
            optimiser = torch.optim.Adam([z], lr=lr)
            for step in range(steps):
                if control is not None:
                    control.checkpoint()
                optimiser.zero_grad(set_to_none=True)
                with torch.enable_grad():
                    error = (generator(z).float() - target).pow(2).flatten(1).mean(1)
                    shell = (z.pow(2).mean(1) - 1.0).pow(2)
                    (error + PRIOR_WEIGHT * shell).sum().backward()
                optimiser.step()
                if progress is not None:
                    progress(index * steps + step + 1, total)
            with torch.no_grad():
                final = (generator(z).float() - target).pow(2).flatten(1).mean(1).view(n, restarts)
                best = final.argmin(1)
                rows = torch.arange(n, device=best.device) * restarts + best
                latents.append(z.detach()[rows].cpu())
                errors.append(final.gather(1, best[:, None])[:, 0].cpu())
    finally:
        generator.train(was_training)
        for parameter, flag in zip(generator.parameters(), flags, strict=True):
            parameter.requires_grad_(flag)
    if not latents:
        return Inversion(torch.zeros(0, latent_dim), torch.zeros(0))
    return Inversion(torch.cat(latents), torch.cat(errors))
