"""The two image-to-image GANs as training algorithms: networks, optimisers and one step each.

They know nothing of runs, files or events (see :mod:`studio.core.train.job`): a trainer takes a
batch, updates its networks and returns its losses; its whole state goes into a checkpoint.

CycleGAN (Zhu et al. 2017): G_A: A→B, G_B: B→A, D_A judges B images, D_B judges A images;
adversarial + cycle-consistency (λ=10) + identity (0.5·λ) losses, a 50-image history per D.
pix2pix (Isola et al. 2017): G: A→B, a conditional D on concat(A, B); vanilla GAN + L1 (λ=100).
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import torch
from torch import nn

from studio.core import nets
from studio.core.translate.image_norms import inference_copy

from .config import TrainConfig
from .losses import GANLoss, ImagePool, gradient_penalty


def set_requires_grad(networks: list[nn.Module], flag: bool) -> None:
    for net in networks:
        for p in net.parameters():
            p.requires_grad_(flag)


def _unwrap(net: nn.Module) -> nn.Module:
    return getattr(net, "module", net)


class Trainer:
    """What both GANs share: building nets, devices, mixed precision, state and previews."""

    generator_roles: tuple[str, ...] = ()
    discriminator_roles: tuple[str, ...] = ()

    def __init__(self, config: TrainConfig, device: torch.device):
        self.config = config
        self.device = device
        self.amp_dtype = torch.bfloat16 if (config.amp and device.type == "cuda") else None
        self.nets: dict[str, nn.Module] = {}
        for role in self.generator_roles:
            self.nets[role] = nets.build(config.generator["arch"], config.generator["params"])
        for role in self.discriminator_roles:
            params = dict(config.discriminator["params"])
            params["input_nc"] = self.discriminator_input_channels()
            self.nets[role] = nets.build(config.discriminator["arch"], params)
        for net in self.nets.values():
            net.to(device)
            if device.type == "cuda":
                net.to(memory_format=torch.channels_last)
            net.train()
        self.gan_loss = GANLoss(config.gan_mode).to(device)
        betas = (config.beta1, config.beta2)
        self.opt_g = torch.optim.Adam(self._params(self.generator_roles), lr=config.lr, betas=betas)
        # Latent models have no discriminator, and Adam refuses an empty parameter list.
        self.opt_d = (torch.optim.Adam(self._params(self.discriminator_roles), lr=config.lr, betas=betas)
                      if self.discriminator_roles else None)

    def discriminator_input_channels(self) -> int:
        return 3

    def _params(self, roles: tuple[str, ...]) -> list[nn.Parameter]:
        return [p for role in roles for p in self.nets[role].parameters()]

    def wrap(self, wrapper) -> None:
        """Wrap every network (e.g. in DistributedDataParallel)."""
        self.nets = {role: wrapper(net) for role, net in self.nets.items()}

    def autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def set_lr(self, lr: float) -> None:
        for opt in (self.opt_g, self.opt_d):
            if opt is None:
                continue
            for group in opt.param_groups:
                group["lr"] = lr

    def to_device(self, batch: dict[str, Any], key: str) -> torch.Tensor:
        x = batch[key].to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.device.type == "cuda" else x

    def discriminator_loss(self, role: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        d = self.nets[role]
        with self.autocast():
            loss = 0.5 * (self.gan_loss(d(real), True) + self.gan_loss(d(fake.detach()), False))
        if self.config.gan_mode == "wgangp":
            loss = loss + gradient_penalty(d, real, fake, self.config.lambda_gp)
        return loss

    # -- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "nets": {role: _unwrap(net).state_dict() for role, net in self.nets.items()},
            "opt_g": self.opt_g.state_dict(),
            **({"opt_d": self.opt_d.state_dict()} if self.opt_d is not None else {}),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for role, sd in state["nets"].items():
            _unwrap(self.nets[role]).load_state_dict(sd)
        self.opt_g.load_state_dict(state["opt_g"])
        if self.opt_d is not None:
            self.opt_d.load_state_dict(state["opt_d"])

    def generators(self) -> dict[str, nn.Module]:
        return {role: _unwrap(self.nets[role]) for role in self.generator_roles}

    @torch.no_grad()
    def translate(self, role: str, x: torch.Tensor) -> torch.Tensor:
        """How the published model will translate: per-image statistics, no dropout."""
        net = inference_copy(_unwrap(self.nets[role])).to(self.device)
        return net(x.to(self.device)).float().cpu()

    def preview(self, samples: dict[str, torch.Tensor]) -> np.ndarray:
        raise NotImplementedError


class CycleGANTrainer(Trainer):
    generator_roles = ("G_A", "G_B")
    discriminator_roles = ("D_A", "D_B")

    def __init__(self, config: TrainConfig, device: torch.device):
        super().__init__(config, device)
        self.pool_a = ImagePool(config.pool_size, seed=config.seed * 2 + 1)  # fake A images, for D_B
        self.pool_b = ImagePool(config.pool_size, seed=config.seed * 2 + 2)  # fake B images, for D_A

    def step(self, batch: dict[str, Any]) -> dict[str, float]:
        c = self.config
        g_a, g_b = self.nets["G_A"], self.nets["G_B"]
        real_a, real_b = self.to_device(batch, "A"), self.to_device(batch, "B")
        d_a, d_b = _unwrap(self.nets["D_A"]), _unwrap(self.nets["D_B"])
        # Generators: the discriminators are judges here, not learners.
        set_requires_grad([d_a, d_b], False)
        self.opt_g.zero_grad(set_to_none=True)
        with self.autocast():
            fake_b = g_a(real_a)
            rec_a = g_b(fake_b)
            fake_a = g_b(real_b)
            rec_b = g_a(fake_a)
            loss_g_a = self.gan_loss(d_a(fake_b), True)
            loss_g_b = self.gan_loss(d_b(fake_a), True)
            loss_cycle_a = nn.functional.l1_loss(rec_a.float(), real_a.float()) * c.lambda_a
            loss_cycle_b = nn.functional.l1_loss(rec_b.float(), real_b.float()) * c.lambda_b
            if c.lambda_identity > 0:
                loss_idt_a = nn.functional.l1_loss(g_a(real_b).float(), real_b.float()) * c.lambda_b * c.lambda_identity
                loss_idt_b = nn.functional.l1_loss(g_b(real_a).float(), real_a.float()) * c.lambda_a * c.lambda_identity
            else:
                loss_idt_a = loss_idt_b = torch.zeros((), device=self.device)
            loss_g = loss_g_a + loss_g_b + loss_cycle_a + loss_cycle_b + loss_idt_a + loss_idt_b
        loss_g.backward()
        self.opt_g.step()
        # Discriminators, on real images and on fakes drawn from the history pools.
        set_requires_grad([d_a, d_b], True)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d_a = self.discriminator_loss("D_A", real_b, self.pool_b.query(fake_b))
        loss_d_b = self.discriminator_loss("D_B", real_a, self.pool_a.query(fake_a))
        (loss_d_a + loss_d_b).backward()
        self.opt_d.step()
        return {
            "D_A": loss_d_a.item(), "G_A": loss_g_a.item(), "cycle_A": loss_cycle_a.item(), "idt_A": loss_idt_a.item(),
            "D_B": loss_d_b.item(), "G_B": loss_g_b.item(), "cycle_B": loss_cycle_b.item(), "idt_B": loss_idt_b.item(),
        }

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "pool_a": self.pool_a.state_dict(), "pool_b": self.pool_b.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.pool_a.load_state_dict(state["pool_a"])
        self.pool_b.load_state_dict(state["pool_b"])

    def preview(self, samples: dict[str, torch.Tensor]) -> np.ndarray:
        """Rows of A, G_A(A), G_B(G_A(A)) | B, G_B(B), G_A(G_B(B)) as one uint8 image."""
        a, b = samples["A"], samples["B"]
        fake_b = self.translate("G_A", a)
        fake_a = self.translate("G_B", b)
        columns = [a, fake_b, self.translate("G_B", fake_b), b, fake_a, self.translate("G_A", fake_a)]
        return _grid(columns)


class Pix2PixTrainer(Trainer):
    generator_roles = ("G",)
    discriminator_roles = ("D",)

    def discriminator_input_channels(self) -> int:
        return 6  # conditional: the input photo next to the real or generated output

    def step(self, batch: dict[str, Any]) -> dict[str, float]:
        c = self.config
        real_a, real_b = self.to_device(batch, "A"), self.to_device(batch, "B")
        d = _unwrap(self.nets["D"])
        with self.autocast():
            fake_b = self.nets["G"](real_a)
        # Discriminator first, as the reference does.
        set_requires_grad([d], True)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d = self.discriminator_loss("D", torch.cat([real_a, real_b], 1), torch.cat([real_a, fake_b], 1))
        loss_d.backward()
        self.opt_d.step()
        set_requires_grad([d], False)
        self.opt_g.zero_grad(set_to_none=True)
        with self.autocast():
            loss_gan = self.gan_loss(d(torch.cat([real_a, fake_b], 1)), True)
            loss_l1 = nn.functional.l1_loss(fake_b.float(), real_b.float()) * c.lambda_l1
            loss_g = loss_gan + loss_l1
        loss_g.backward()
        self.opt_g.step()
        set_requires_grad([d], True)
        return {"D": loss_d.item(), "G_GAN": loss_gan.item(), "G_L1": loss_l1.item()}

    def preview(self, samples: dict[str, torch.Tensor]) -> np.ndarray:
        """Rows of A, G(A), B (the target)."""
        return _grid([samples["A"], self.translate("G", samples["A"]), samples["B"]])


def _grid(columns: list[torch.Tensor]) -> np.ndarray:
    """(N, 3, H, W) tensors in [-1, 1], one per column -> an (N*H, C*W, 3) uint8 image."""
    rows = [torch.cat([col[i] for col in columns], dim=2) for i in range(columns[0].shape[0])]
    grid = torch.cat(rows, dim=1).clamp(-1, 1)
    return ((grid.permute(1, 2, 0).numpy() + 1) * 127.5).round().astype(np.uint8)


TRAINERS: dict[str, type[Trainer]] = {"cyclegan": CycleGANTrainer, "pix2pix": Pix2PixTrainer}
