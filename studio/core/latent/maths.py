"""Latent arithmetic, pure functions of flat (…, D) latent tensors: interpolation, blends, analogies, directions.

The VAE and the flow put their latents under a unit Gaussian prior, the autoencoder wherever its codes
fell; the same arithmetic serves all of them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from .shared import MODES, LatentError


def lerp(a: Tensor, b: Tensor, t: float | Tensor) -> Tensor:
    """(1 − t)·a + t·b: exactly a at t = 0 and exactly b at t = 1."""
    return (1 - t) * a + t * b


def slerp(a: Tensor, b: Tensor, t: float | Tensor, eps: float = 1e-7) -> Tensor:
    """Spherical interpolation of flat latents (..., D): along the great circle, with the norm interpolated linearly.

    Prior samples of high dimension concentrate on a sphere; a straight line between two of them
    passes through the unlikely middle (blurry, low-contrast images), the arc does not. The
    endpoints are exact: t=0 gives a, t=1 gives b. Nearly parallel inputs fall back to lerp.
    """
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    na, nb = a.norm(dim=-1, keepdim=True), b.norm(dim=-1, keepdim=True)
    ua, ub = a / na.clamp_min(eps), b / nb.clamp_min(eps)
    cos = (ua * ub).sum(-1, keepdim=True).clamp(-1.0, 1.0)
    theta = torch.acos(cos)
    sin = torch.sin(theta)
    parallel = sin < 1e-4
    safe_sin = torch.where(parallel, torch.ones_like(sin), sin)
    direction = (torch.sin((1 - t) * theta) * ua + torch.sin(t * theta) * ub) / safe_sin
    direction = torch.where(parallel, lerp(ua, ub, t), direction)
    out = direction * lerp(na, nb, t)
    # Exact endpoints, whatever the rounding of sin/acos.
    out = torch.where(t == 0, a, out)
    return torch.where(t == 1, b, out)


def path(latents: Tensor, steps: int, mode: str = "spherical") -> Tensor:
    """Frames through K anchors in order: ``steps`` frames per segment, endpoints shared.

    Returns ((K−1)·(steps−1) + 1, D); the first frame is the first anchor, the last is the last.
    """
    check_mode(mode)
    if latents.ndim != 2 or latents.shape[0] < 2:
        raise LatentError(f"an interpolation needs at least two latents, got shape {tuple(latents.shape)}")
    if steps < 2:
        raise LatentError(f"an interpolation needs at least 2 steps (the two endpoints), got {steps}")
    ts = torch.linspace(0, 1, steps, dtype=latents.dtype).unsqueeze(1)
    mix = slerp if mode == "spherical" else lerp
    frames = [latents[:1]]
    for a, b in zip(latents[:-1], latents[1:], strict=True):
        frames.append(mix(a.unsqueeze(0), b.unsqueeze(0), ts[1:]))
    return torch.cat(frames)


def blend(latents: Tensor, weights: Sequence[float] | Tensor, mode: str = "linear", iterations: int = 20) -> Tensor:
    """The weighted mean of K latents (K, D) -> (D,); weights ≥ 0, normalised to sum 1.

    linear: Σ wᵢ zᵢ. spherical: the weighted spherical (Karcher) mean of the directions, with the
    weighted mean of the norms, so that two anchors with weights (1−t, t) give exactly
    ``slerp(z₁, z₂, t)``, and a weight of 1 on one anchor gives that anchor.
    """
    check_mode(mode)
    w = torch.as_tensor(weights, dtype=latents.dtype).flatten()
    if latents.ndim != 2 or latents.shape[0] != w.numel() or w.numel() == 0:
        raise LatentError(f"blend needs K latents (K, D) and K weights, got {tuple(latents.shape)} and {w.numel()}")
    if (w < 0).any() or not torch.isfinite(w).all() or w.sum() <= 0:
        raise LatentError(f"blend weights must be finite, ≥ 0 and not all zero, got {w.tolist()}")
    w = w / w.sum()
    if mode == "linear":
        return w @ latents
    norms = latents.norm(dim=1)
    units = latents / norms.clamp_min(1e-12).unsqueeze(1)
    mean = w @ units
    if mean.norm() < 1e-6:  # directions cancel out: no meaningful spherical mean
        return w @ latents
    mean = mean / mean.norm()
    for _ in range(iterations):
        cos = (units @ mean).clamp(-1.0, 1.0)
        theta = torch.acos(cos)
        tangent = units - cos.unsqueeze(1) * mean
        tn = tangent.norm(dim=1, keepdim=True)
        logs = torch.where(tn > 1e-12, tangent * (theta.unsqueeze(1) / tn.clamp_min(1e-12)), torch.zeros_like(tangent))
        step = w @ logs
        size = step.norm()
        if size < 1e-7:
            break
        mean = torch.cos(size) * mean + torch.sin(size) * step / size
        mean = mean / mean.norm()
    return mean * (w @ norms)


def apply_direction(latents: Tensor, direction: Tensor, strength: float) -> Tensor:
    """Move latents along a direction: z + strength · direction."""
    return latents + strength * direction


def arithmetic(a: Tensor, b: Tensor, c: Tensor, strength: float = 1.0) -> Tensor:
    """Latent analogy: ``c + strength · (a − b)``, the latent to decode for "A is to B as ? is to C".

    a − b is what A has and B lacks ("man with glasses" − "man": the glasses), added to C ("woman"),
    giving "woman with glasses". Strength 1 is a − b + c; 0, or a == b, gives exactly c. Works on
    (D,) or (N, D) latents alike (broadcasting).
    """
    return c + strength * (a - b)


def principal_directions(latents: Tensor, k: int = 8) -> tuple[Tensor, Tensor]:
    """GANSpace-style sliders: the top-k principal axes of a set of latents (k, D), unit length,
    and the standard deviation of the latents along each (k,) — a natural slider range."""
    if latents.ndim != 2 or latents.shape[0] < 2:
        raise LatentError("principal directions need at least two latents")
    centred = latents - latents.mean(0, keepdim=True)
    _, s, vh = torch.linalg.svd(centred.double(), full_matrices=False)
    k = min(k, vh.shape[0])
    return vh[:k].to(latents.dtype), (s[:k] / math.sqrt(max(1, latents.shape[0] - 1))).to(latents.dtype)


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise LatentError(f"unknown interpolation mode {mode!r} (use {' or '.join(MODES)})")

