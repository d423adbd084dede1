"""Seconds per training step on synthetic input, ours and a plain eager baseline, in the same process.

The baseline is the reference implementation's optimisation step written the plainest way in
eager PyTorch (its ``optimize_parameters`` with the reference architecture), so a ratio between
the two says whether Studio's trainer costs anything on top of the networks themselves.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from studio.core import nets
from studio.core.errors import StudioError

from .kinds import TRAINERS
from .losses import GANLoss, ImagePool
from .presets import preset


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _batch(size: int, batch_size: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {"A": torch.rand(batch_size, 3, size, size, generator=g) * 2 - 1,
            "B": torch.rand(batch_size, 3, size, size, generator=g) * 2 - 1}


def studio_step(kind: str, preset_name: str, size: int, device: torch.device,
                batch_size: int = 1, amp: bool = True, variant: str | None = None) -> Callable[[], None]:
    """One training step of Studio's trainer on a fixed synthetic batch."""
    config = preset(kind, "bench", preset_name, dir_a="A", dir_b="B", crop_size=size, batch_size=batch_size, amp=amp,
                    variant=variant)
    torch.manual_seed(0)
    trainer = TRAINERS[kind](config, device)
    batch = _batch(size, batch_size)

    def step() -> None:
        trainer.step(batch)

    return step


def interleaved_seconds(steps: dict[str, Callable[[], None]], rounds: int, warmup: int,
                        device: torch.device) -> dict[str, float]:
    """Median seconds per step of each contender, timed in alternation so machine noise hits all alike."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            _sync(device)
            start = time.perf_counter()
            step()
            _sync(device)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def plain_reference_step(kind: str, size: int, device: torch.device) -> Callable[[], None]:
    """The reference's step in plain eager fp32 PyTorch, reference architecture and defaults."""
    if kind not in ("cyclegan", "pix2pix"):
        raise StudioError(f"there is no plain reference step for {kind}: compare it with --compare-kind cyclegan")
    torch.manual_seed(0)
    batch = {k: v.to(device) for k, v in _batch(size, 1).items()}
    real_a, real_b = batch["A"], batch["B"]
    if kind == "cyclegan":
        g_a, g_b = (nets.build("resnet_generator", {"n_blocks": 9}).to(device) for _ in range(2))
        d_a, d_b = (nets.build("patchgan_discriminator", {"norm": "instance"}).to(device) for _ in range(2))
        crit = GANLoss("lsgan").to(device)
        l1 = nn.L1Loss()
        opt_g = torch.optim.Adam([*g_a.parameters(), *g_b.parameters()], lr=2e-4, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam([*d_a.parameters(), *d_b.parameters()], lr=2e-4, betas=(0.5, 0.999))
        pool_a, pool_b = ImagePool(50), ImagePool(50)

        def step() -> None:
            fake_b = g_a(real_a)
            rec_a = g_b(fake_b)
            fake_a = g_b(real_b)
            rec_b = g_a(fake_a)
            for p in [*d_a.parameters(), *d_b.parameters()]:
                p.requires_grad = False
            opt_g.zero_grad()
            idt_a, idt_b = g_a(real_b), g_b(real_a)
            loss = (crit(d_a(fake_b), True) + crit(d_b(fake_a), True) + l1(rec_a, real_a) * 10 + l1(rec_b, real_b) * 10
                    + l1(idt_a, real_b) * 5 + l1(idt_b, real_a) * 5)
            loss.backward()
            opt_g.step()
            for p in [*d_a.parameters(), *d_b.parameters()]:
                p.requires_grad = True
            opt_d.zero_grad()
            fb, fa = pool_b.query(fake_b), pool_a.query(fake_a)
            ((crit(d_a(real_b), True) + crit(d_a(fb.detach()), False)) * 0.5).backward()
            ((crit(d_b(real_a), True) + crit(d_b(fa.detach()), False)) * 0.5).backward()
            opt_d.step()
    else:
        g = nets.build("unet_generator", {"num_downs": 8 if size % 256 == 0 else 7, "use_dropout": True}).to(device)
        d = nets.build("patchgan_discriminator", {"input_nc": 6}).to(device)
        crit = GANLoss("vanilla").to(device)
        l1 = nn.L1Loss()
        opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))

        def step() -> None:
            fake_b = g(real_a)
            for p in d.parameters():
                p.requires_grad = True
            opt_d.zero_grad()
            fake_ab = torch.cat([real_a, fake_b], 1)
            ((crit(d(fake_ab.detach()), False) + crit(d(torch.cat([real_a, real_b], 1)), True)) * 0.5).backward()
            opt_d.step()
            for p in d.parameters():
                p.requires_grad = False
            opt_g.zero_grad()
            (crit(d(fake_ab), True) + l1(fake_b, real_b) * 100).backward()
            opt_g.step()

    return step
