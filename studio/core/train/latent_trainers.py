"""The latent models as training algorithms: a VAE on the ELBO and a Glow on bits per dimension.

Like the GANs of :mod:`studio.core.train.gans` they only take a batch, update their network and
return losses; runs, checkpoints, resume and publishing are the shared job's
(:mod:`studio.core.train.job`). Each publishes one network: role ``vae`` or ``flow``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from studio.core.errors import StudioError
from studio.core.nets.flow import Glow, bits_per_dim, dequantize, from_flow_space
from studio.core.nets.vae import (
    ConvVAE,
    elbo,
    elbo_bits_per_dim,
    gaussian_nll,
    kl_to_unit_gaussian,
    optimal_log_sigma,
)

from .config import TrainConfig
from .gans import Trainer, _grid, _unwrap

VAE_SIZES = (32, 64, 128)
EVAL_SEED = 1234  # held-out metrics draw their noise from this seed, so they are repeatable
PREVIEW_SEED = 4321
FLOW_WARMUP_STEPS = 100  # Glow's linear learning-rate warm-up
FLOW_MAX_GRAD_NORM = 100.0


def latent_preset(kind: str, size: int, preset_name: str = "reference") -> dict[str, Any]:
    """Network and optimiser settings for ``kind`` at ``size`` px (``fast``: about a quarter of the work)."""
    fast = preset_name == "fast"
    common = {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "batch_size": 16, "flip": True}
    if kind == "vae":
        if size not in VAE_SIZES:
            raise StudioError(f"a VAE trains at --size {', '.join(map(str, VAE_SIZES))}, got {size}")
        params = {"image_size": size, "latent_dim": 128, "channels": 16 if fast else 32,
                  "max_channels": 128 if fast else 256}
        return {**common, "generator": {"arch": "conv_vae", "params": params}}
    if kind == "flow":
        levels = 4 if size >= 128 else 3
        if size % 2**levels or size < 2**levels:
            raise StudioError(f"a flow at {levels} levels needs --size divisible by {2**levels}, got {size}")
        params = {"image_size": size, "levels": levels, "depth": 4 if fast else 8, "hidden": 64 if fast else 128}
        return {**common, "lr": 5e-4, "generator": {"arch": "glow", "params": params}}
    raise StudioError(f"unknown latent model kind {kind!r} (known: vae, flow)")


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of images in [-1, 1] (peak 2), capped at 100 dB for identical images."""
    mse = (a.float() - b.float()).pow(2).flatten(1).mean(1).clamp(min=4e-10)
    return 10.0 * torch.log10(4.0 / mse)


class _LatentTrainer(Trainer):
    """One network, no discriminator; counts its own steps (part of its state)."""

    role = ""

    def __init__(self, config: TrainConfig, device: torch.device):
        super().__init__(config, device)
        self.steps = 0

    @property
    def net(self) -> nn.Module:
        return _unwrap(self.nets[self.role])

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.steps = int(state["steps"])

    def _sample_noise(self, shape: tuple[int, ...], temperature: float) -> torch.Tensor:
        """Preview noise from a private generator: previews must not shift the training RNG."""
        g = torch.Generator().manual_seed(PREVIEW_SEED)
        return (torch.randn(shape, generator=g) * temperature).to(self.device)


class VAETrainer(_LatentTrainer):
    """β-VAE on the σ-VAE objective: −log N(x; x̂, σ²) with the batch's optimal σ, plus β·KL."""

    generator_roles = ("vae",)
    role = "vae"

    def step(self, batch: dict[str, Any]) -> dict[str, float]:
        x = self.to_device(batch, "A")
        vae = self.nets["vae"]
        self.opt_g.zero_grad(set_to_none=True)
        with self.autocast():
            recon, mean, logvar = vae(x)
        recon, mean, logvar = recon.float(), mean.float(), logvar.float()
        log_sigma = optimal_log_sigma(x, recon)
        nll = gaussian_nll(x, recon, log_sigma)
        kl = kl_to_unit_gaussian(mean, logvar)
        loss = (nll + self.config.beta * kl).mean() / x[0].numel()
        loss.backward()
        self.opt_g.step()
        with torch.no_grad():
            # A running σ for held-out ELBOs; the average ramps up so early steps do not linger.
            momentum = min(0.99, (1 + self.steps) / (10 + self.steps))
            buffer = self.net.log_sigma
            buffer.mul_(momentum).add_((1 - momentum) * log_sigma.detach())
        self.steps += 1
        return {"loss": loss.item(), "psnr": psnr(recon.detach(), x).mean().item(), "kl": kl.mean().item(),
                "sigma": math.exp(log_sigma.item())}

    @torch.no_grad()
    def evaluate(self, loader) -> dict[str, float]:
        """Held-out reconstruction PSNR (posterior mean), ELBO in nats per image (β = 1), and its bits/dim bound."""
        vae: ConvVAE = self.net
        was_training = vae.training
        vae.eval()
        g = torch.Generator().manual_seed(EVAL_SEED)
        psnrs, elbos, kls = [], [], []
        try:
            for batch in loader:
                x = batch["A"].to(self.device)
                psnrs.append(psnr(vae.decode(vae.encode(x)).clamp(-1, 1), x).cpu())
                noise = torch.randn(x.shape[0], vae.latent_dim, generator=g).to(self.device)
                value, kl = elbo(vae, x, noise)
                elbos.append(value.cpu())
                kls.append(kl.cpu())
        finally:
            vae.train(was_training)
        nats = torch.cat(elbos)
        return {"psnr": torch.cat(psnrs).mean().item(), "elbo": nats.mean().item(), "kl": torch.cat(kls).mean().item(),
                "elbo_bits_per_dim": elbo_bits_per_dim(nats, 3 * vae.image_size**2).mean().item()}

    @torch.no_grad()
    def preview(self, samples: dict[str, torch.Tensor]) -> np.ndarray:
        """Rows of: the image, its reconstruction, a random sample (the same noise at every step)."""
        vae: ConvVAE = self.net
        was_training = vae.training
        vae.eval()
        try:
            x = samples["A"].to(self.device)
            recon = vae.decode(vae.encode(x))
            sample = vae.decode(self._sample_noise((x.shape[0], vae.latent_dim), 1.0))
        finally:
            vae.train(was_training)
        return _grid([c.float().cpu() for c in (x, recon, sample)])


class FlowTrainer(_LatentTrainer):
    """Glow on dequantised 8-bit data, minimising bits per dimension; fp32 throughout (exact log-dets)."""

    generator_roles = ("flow",)
    role = "flow"

    def __init__(self, config: TrainConfig, device: torch.device):
        super().__init__(config, device)
        self.amp_dtype = None  # log-determinants of deep flows are not safe in bf16/fp16
        self._ready = False  # actnorms initialised; checked once (fine-tuning loads weights behind our back)

    def set_lr(self, lr: float) -> None:
        # Warm up over FLOW_WARMUP_STEPS, or the first tenth of a shorter run.
        warmup = min(FLOW_WARMUP_STEPS, max(1, (self.config.max_steps or FLOW_WARMUP_STEPS) // 10))
        super().set_lr(lr * min(1.0, (self.steps + 1) / warmup))

    def _initialize(self, y: torch.Tensor) -> None:
        glow: Glow = self.net
        glow.initialize(y)
        if dist.is_available() and dist.is_initialized():
            # Every rank initialised from its own batch; keep rank 0's, as DDP keeps rank 0's weights.
            for tensor in (*glow.parameters(), *glow.buffers()):
                dist.broadcast(tensor.data, src=0)

    def step(self, batch: dict[str, Any]) -> dict[str, float]:
        x = self.to_device(batch, "A")
        y = dequantize(x)
        if not self._ready:
            if not self.net.is_initialized():
                self._initialize(y)
            self._ready = True
        self.opt_g.zero_grad(set_to_none=True)
        _, log_p = self.nets["flow"](y)
        loss = bits_per_dim(log_p, x[0].numel()).mean()
        loss.backward()
        params = [p for p in self.net.parameters() if p.grad is not None]
        norm = torch.nn.utils.clip_grad_norm_(params, FLOW_MAX_GRAD_NORM)
        # Gradients are identical on every rank after DDP's all-reduce, so all ranks skip together.
        skipped = not torch.isfinite(norm)
        if not skipped:
            self.opt_g.step()
        self.steps += 1
        # Skipped steps report a zero norm: the loss log and the card stay plain JSON (no NaN).
        return {"bits_per_dim": loss.item(), "grad_norm": 0.0 if skipped else norm.item(), "skipped": float(skipped)}

    @torch.no_grad()
    def evaluate(self, loader) -> dict[str, float]:
        """Held-out bits per dimension (dequantised with seeded noise) and the exactness of the inverse."""
        glow: Glow = self.net
        g = torch.Generator().manual_seed(EVAL_SEED)
        bpds, psnrs = [], []
        for batch in loader:
            x = batch["A"].to(self.device)
            y = dequantize(x.cpu(), generator=g).to(self.device)
            eps, log_p = glow(y)
            bpds.append(bits_per_dim(log_p, x[0].numel()).cpu())
            psnrs.append(psnr(glow.inverse(eps), y).cpu())
        return {"bits_per_dim": torch.cat(bpds).mean().item(), "inverse_psnr": torch.cat(psnrs).min().item()}

    @torch.no_grad()
    def preview(self, samples: dict[str, torch.Tensor]) -> np.ndarray:
        """Rows of: the image, a sample at temperature 0.7 (Glow's choice), one at 1.0."""
        glow: Glow = self.net
        x = samples["A"]
        shape = (x.shape[0], x[0].numel())
        columns = [x]
        if glow.is_initialized():
            for temperature in (0.7, 1.0):
                columns.append(from_flow_space(glow.inverse(self._sample_noise(shape, temperature))).cpu())
        else:  # a preview before the first step: nothing learned yet, show the inputs alone
            columns += [torch.zeros_like(x)] * 2
        return _grid([c.float().clamp(-1, 1) for c in columns])


LATENT_TRAINERS: dict[str, type[Trainer]] = {"vae": VAETrainer, "flow": FlowTrainer}
