"""The normalizing flow (Glow) as a training algorithm: bits per dimension on dequantised data."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import torch
import torch.distributed as dist

from studio.core.evaluate.metrics import psnr_signed_batch
from studio.core.nets.flow import Glow, bits_per_dim, dequantize, from_flow_space

from .config import TrainConfig
from .latent_trainer import EVAL_SEED, LatentTrainer
from .trainer import preview_grid

FLOW_WARMUP_STEPS = 100  # Glow's linear learning-rate warm-up
FLOW_MAX_GRAD_NORM = 100.0


class FlowTrainer(LatentTrainer):
    """Glow on dequantised 8-bit data, minimising bits per dimension; fp32 throughout (exact log-dets)."""

    kind = "flow"
    title = "Flow — exact latent space of one folder"
    preview_layout = "each row: image, samples at temperature 0.7 and 1.0"
    generator_roles = ("flow",)
    role = "flow"

    def __init__(self, config: TrainConfig, device: torch.device):
        super().__init__(config, device)
        self.amp_dtype = None  # log-determinants of deep flows are not safe in bf16/fp16
        self._ready = False  # actnorms initialised; checked once (fine-tuning loads weights behind our back)

    @property
    def glow(self) -> Glow:
        return cast(Glow, self.net)

    def set_lr(self, lr: float) -> None:
        # Warm up over FLOW_WARMUP_STEPS, or the first tenth of a shorter run.
        warmup = min(FLOW_WARMUP_STEPS, max(1, (self.config.max_steps or FLOW_WARMUP_STEPS) // 10))
        super().set_lr(lr * min(1.0, (self.steps + 1) / warmup))

    def _initialize(self, y: torch.Tensor) -> None:
        glow = self.glow
        glow.initialize(y)
        if dist.is_available() and dist.is_initialized():
            # Every rank initialised from its own batch; keep rank 0's, as DDP keeps rank 0's weights.
            for tensor in (*glow.parameters(), *glow.buffers()):
                dist.broadcast(tensor.data, src=0)

    def step(self, batch: dict[str, Any]) -> dict[str, float]:
        x = self.to_device(batch, "A")
        y = dequantize(x)
        if not self._ready:
            if not self.glow.is_initialized():
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
    def evaluate(self, loader: Any) -> dict[str, float]:
        """Held-out bits per dimension (dequantised with seeded noise) and the exactness of the inverse."""
        glow = self.glow
        g = torch.Generator().manual_seed(EVAL_SEED)
        bpds, psnrs = [], []
        for batch in loader:
            x = batch["A"].to(self.device)
            y = dequantize(x.cpu(), generator=g).to(self.device)
            eps, log_p = glow(y)
            bpds.append(bits_per_dim(log_p, x[0].numel()).cpu())
            psnrs.append(psnr_signed_batch(glow.inverse(eps), y).cpu())
        return {"bits_per_dim": torch.cat(bpds).mean().item(), "inverse_psnr": torch.cat(psnrs).min().item()}

    @torch.no_grad()
    def preview(self, samples: dict[str, torch.Tensor]) -> np.ndarray:
        """Rows of: the image, a sample at temperature 0.7 (Glow's choice), one at 1.0."""
        glow = self.glow
        x = samples["A"]
        shape = (x.shape[0], x[0].numel())
        columns = [x]
        if glow.is_initialized():
            for temperature in (0.7, 1.0):
                columns.append(from_flow_space(glow.inverse(self._sample_noise(shape, temperature))).cpu())
        else:  # a preview before the first step: nothing learned yet, show the inputs alone
            columns += [torch.zeros_like(x)] * 2
        return preview_grid([c.float().clamp(-1, 1) for c in columns])
