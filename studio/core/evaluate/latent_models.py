"""Latent evaluation (VAE, autoencoder, flow): held-out reconstruction PSNR, and the ELBO or bits per dimension;
and a PixelCNN's exact held-out bits per dimension."""

from __future__ import annotations

import math
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from studio.core.errors import ImageError
from studio.core.jobs import Event, Progress
from studio.core.latent import LatentModel, PixelModel
from studio.core.nets.vae import gaussian_nll, kl_to_unit_gaussian

from . import metrics
from .inputs import Context, Counter, EvalError, folder_images, mean_finite, rounded

LATENT_SEED = 1234  # the ELBO's posterior samples: repeatable, as the training job's held-out metrics
LATENT_BATCH = 16


def evaluate_latent(ctx: Context, a: Path, max_images: int | None) -> Generator[Event, None, tuple[dict, dict]]:
    """Held-out images, resized to the model's size as in training: VAE PSNR and ELBO, autoencoder PSNR, flow
    bits/dim."""
    latent = LatentModel(ctx.model, device=ctx.device)
    files = folder_images(a, "--a", max_images)
    chunks = [files[i : i + LATENT_BATCH] for i in range(0, len(files), LATENT_BATCH)]
    bar = Counter(len(chunks))
    yield Progress(0, bar.total, "starting")
    generator = torch.Generator().manual_seed(LATENT_SEED)
    psnrs: list[float] = []
    values: dict[str, list[torch.Tensor]] = {}
    for index, chunk in enumerate(chunks):
        ctx.control.checkpoint()
        images = []
        for path in chunk:
            try:
                images.append(latent.load_image(path))
            except ImageError as exc:
                ctx.skipped[str(path)] = exc.reason
        if images:
            x = torch.cat(images)
            recon = latent.reconstruct(x)
            for original, rebuilt in zip(x, recon, strict=True):
                psnrs.append(metrics.psnr(((rebuilt + 1) / 2).numpy(), ((original + 1) / 2).numpy()))
            for key, tensor in _latent_scores(latent, x, generator, LATENT_SEED + index).items():
                values.setdefault(key, []).append(tensor)
        yield bar.step(f"{chunk[-1].name}")
    if not psnrs:
        raise EvalError(f"--a {a}: no readable images")
    results: dict[str, Any] = {key: rounded(torch.cat(v).mean().item()) for key, v in values.items()}
    results["reconstruction_psnr_db"] = mean_finite(psnrs)
    exact = sum(1 for p in psnrs if not np.isfinite(p))
    if exact:
        results["exact_reconstructions"] = exact
    notes = {
        "vae": "images resized to the model's size; reconstruction from the posterior mean; ELBO in nats per image "
               "with one seeded posterior sample (β = 1), and as a bound in bits per dimension",
        "dcgan": "images resized to the model's size; reconstruction = the generator's image of the latent found by "
                 "inversion (restarts of Adam steps on the squared error)",
        "ae": "images resized to the model's size; reconstruction of the clean image (an autoencoder has no "
              "likelihood to report)",
        "flow": "images resized to the model's size; bits/dim with seeded uniform dequantisation (the training "
                "objective) and at the 8-bit bin centres; reconstruction = decode(encode(x))",
    }
    record = {
        "type": "latent",
        "data": {"held_out": str(a.resolve()), "images": len(psnrs), "max_images": max_images},
        "notes": notes[latent.kind],
        "results": results,
    }
    return record, {}


@torch.inference_mode()
def _latent_scores(latent: Any, x: torch.Tensor, generator: torch.Generator, seed: int) -> dict[str, torch.Tensor]:
    if latent.kind in ("ae", "dcgan"):
        return {}
    if latent.kind == "flow":
        return {"bits_per_dim": latent.dequantized_bits_per_dim(x, seed=seed),
                "bits_per_dim_bin_centres": latent.score(x)}
    vae = latent.net
    xd = x.to(latent.device)
    mean, logvar = vae.encoder(xd)
    z = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=generator).to(latent.device)
    kl = kl_to_unit_gaussian(mean, logvar)
    elbo = (-gaussian_nll(xd, vae.decoder(z), vae.log_sigma) - kl).float().cpu()
    d = x[0].numel()
    # The Gaussian density at the 8-bit bin centres times the bin width (1/127.5): a bound in bits/dim.
    return {"elbo_nats": elbo, "kl_nats": kl.float().cpu(),
            "elbo_bits_per_dim": (-elbo / d + math.log(127.5)) / math.log(2.0)}


def evaluate_pixels(ctx: Context, a: Path, max_images: int | None) -> Generator[Event, None, tuple[dict, dict]]:
    """A PixelCNN on held-out images, resized to its size as in training: the exact bits/dim, per image in
    the details."""
    model = PixelModel(ctx.model, device=ctx.device)
    files = folder_images(a, "--a", max_images)
    chunks = [files[i : i + LATENT_BATCH] for i in range(0, len(files), LATENT_BATCH)]
    bar = Counter(len(chunks))
    yield Progress(0, bar.total, "starting")
    scores: dict[str, float] = {}
    for chunk in chunks:
        ctx.control.checkpoint()
        paths, images = [], []
        for path in chunk:
            try:
                images.append(model.load_image(path))
                paths.append(str(path))
            except ImageError as exc:
                ctx.skipped[str(path)] = exc.reason
        if images:
            scores.update(zip(paths, model.score(torch.cat(images)).tolist(), strict=True))
        yield bar.step(f"{chunk[-1].name}")
    if not scores:
        raise EvalError(f"--a {a}: no readable images")
    values = list(scores.values())
    record = {
        "type": "likelihood",
        "data": {"held_out": str(a.resolve()), "images": len(values), "max_images": max_images},
        "notes": "images resized to the model's size; the exact discrete likelihood of each 8-bit image (no "
                 "dequantisation noise, no bound), in bits per dimension",
        "results": {"bits_per_dim": rounded(float(np.mean(values))), "bits_per_dim_min": rounded(min(values)),
                    "bits_per_dim_max": rounded(max(values))},
    }
    return record, {"bits_per_dim": {path: rounded(v) for path, v in scores.items()}}
