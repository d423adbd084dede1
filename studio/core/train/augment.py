"""Differentiable augmentation of what a discriminator sees (DiffAugment, Zhao et al. 2020).

A GAN trained on a small folder overfits its discriminator: it memorises the few real images and
its judgement stops teaching the generator. DiffAugment transforms the real images and the
generated ones alike, every time the discriminator sees them, with differentiable operations so
the generator's loss also flows through the augmented fakes. The policies, as the paper gives them
for images in [-1, 1]:

- ``color``: brightness (add U(-0.5, 0.5)), saturation (scale the distance from the per-pixel
  channel mean by U(0, 2)), contrast (scale the distance from the image mean by U(0.5, 1.5)); the
  result is clamped to [-1, 1] so an augmented image is still an image (our choice: the paper's
  code leaves it unclamped);
- ``translation``: shift by up to 1/8 of the image in each direction, padding with zeros;
- ``cutout``: zero one square of half the image's size, centred anywhere in the image (clipped at
  its borders).

Each sample of a batch gets its own parameters. One :class:`Draw` is applied to every tensor
a discriminator judges in one step (the real and the generated batch), so both move together.
For a conditional discriminator's 6-channel input (A next to B) the geometric ops move all six
channels together, and the colour ops act on each 3-channel image with the sample's same
parameters. The random numbers come from the augmenter's own CPU generator, seeded from the
run's seed and saved in the trainer's checkpoint, so a resumed run draws exactly what an
uninterrupted one would, on any device.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from studio.core.errors import ImageError, StudioError
from studio.core.images import list_images

POLICIES = ("color", "translation", "cutout")
ALIASES = {"colour": "color", "translate": "translation"}
FULL_POLICY = "color,translation,cutout"  # the paper's choice for 100-image training
TRANSLATION_RATIO = 1 / 8
CUTOUT_RATIO = 1 / 2
SMALL_FOLDER = 1000  # images: below this in the smaller folder, a GAN run augments by default
SEED_OFFSET = 7919  # the augmenter's stream is not the data order's or the pools' (seed*2+1, seed*2+2)


def parse_policy(text: str | None) -> tuple[str, ...]:
    """The operations of a policy text ("color,translation,cutout"; "" or "none": none), in order."""
    if text is None or text.strip().lower() in ("", "none", "off"):
        return ()
    ops: list[str] = []
    for raw in text.split(","):
        name = raw.strip().lower()
        name = ALIASES.get(name, name)
        if name not in POLICIES:
            raise StudioError(f"unknown augmentation {raw.strip()!r} (known: {', '.join(POLICIES)})")
        if name in ops:
            raise StudioError(f"augmentation {name!r} given twice in {text!r}")
        ops.append(name)
    return tuple(ops)


def normalise_policy(text: str | None) -> str:
    """The canonical text of a policy ("" for none); raises StudioError for an unknown operation."""
    return ",".join(parse_policy(text))


def default_policy(image_counts: Mapping[str, int] | Iterable[int]) -> str:
    """The policy a GAN run gets when the person did not choose: the full policy when the smaller
    folder (or the number of pairs) has fewer than :data:`SMALL_FOLDER` images, none otherwise."""
    counts = list(image_counts.values() if isinstance(image_counts, Mapping) else image_counts)
    return FULL_POLICY if counts and min(counts) < SMALL_FOLDER else ""


def default_for_folders(*folders: str | None) -> str:
    """:func:`default_policy` for the image files in ``folders`` (None ones ignored: pix2pix's one
    folder of pairs, or A and B). Only names are listed, nothing is decoded; a folder that cannot
    be listed counts as none, its error being the data checks' to give."""
    counts = []
    for folder in folders:
        if folder:
            try:
                counts.append(len(list_images(folder)))
            except ImageError:
                continue
    return default_policy(counts)


@dataclass
class Draw:
    """The random parameters of one augmentation, per sample (None for an operation not in the policy)."""

    size: tuple[int, int, int]  # (N, H, W) of the tensors it applies to
    brightness: torch.Tensor | None = None  # (N,) in [-0.5, 0.5)
    saturation: torch.Tensor | None = None  # (N,) in [0, 2)
    contrast: torch.Tensor | None = None  # (N,) in [0.5, 1.5)
    shift: torch.Tensor | None = None  # (N, 2) integer (dy, dx), each within ±round(size/8)
    cutout: torch.Tensor | None = None  # (N, 2) integer (top, left) of the square, may start off the image


class DiffAugment:
    """A policy and its own random stream: ``augment(real, fake)`` -> both with one draw."""

    def __init__(self, policy: str, seed: int = 0):
        self.ops = parse_policy(policy)
        self.generator = torch.Generator()
        self.generator.manual_seed(seed + SEED_OFFSET)

    def __bool__(self) -> bool:
        return bool(self.ops)

    def __call__(self, *images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Every image batch augmented with one draw (they must share N, H and W)."""
        n, _, h, w = images[0].shape
        draw = self.draw(n, h, w)
        return tuple(apply(x, draw, self.ops) for x in images)

    def draw(self, n: int, height: int, width: int) -> Draw:
        g = self.generator
        d = Draw((n, height, width))
        if "color" in self.ops:
            d.brightness = torch.rand(n, generator=g) - 0.5
            d.saturation = torch.rand(n, generator=g) * 2
            d.contrast = torch.rand(n, generator=g) + 0.5
        if "translation" in self.ops:
            sy, sx = int(height * TRANSLATION_RATIO + 0.5), int(width * TRANSLATION_RATIO + 0.5)
            d.shift = torch.stack([torch.randint(-sy, sy + 1, (n,), generator=g),
                                   torch.randint(-sx, sx + 1, (n,), generator=g)], 1)
        if "cutout" in self.ops:
            ch, cw = int(height * CUTOUT_RATIO + 0.5), int(width * CUTOUT_RATIO + 0.5)
            # The square's centre is anywhere in the image; its top-left corner is centre - size//2.
            d.cutout = torch.stack([torch.randint(0, height + (1 - ch % 2), (n,), generator=g) - ch // 2,
                                    torch.randint(0, width + (1 - cw % 2), (n,), generator=g) - cw // 2], 1)
        # The order of operations is the policy's, as the paper's code applies them.
        return d

    def state_dict(self) -> dict[str, Any]:
        return {"policy": ",".join(self.ops), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])


def apply(x: torch.Tensor, draw: Draw, ops: Iterable[str] = POLICIES) -> torch.Tensor:
    """``x`` (N, C, H, W) transformed by ``draw``'s operations, differentiably."""
    if tuple(x.shape[:1]) + tuple(x.shape[2:]) != draw.size:
        raise ValueError(f"a draw for (N, H, W) = {draw.size} cannot augment a batch of shape {tuple(x.shape)}")
    for op in ops:
        if op == "color" and draw.brightness is not None:
            x = color(x, draw)
        elif op == "translation" and draw.shift is not None:
            x = translate(x, draw.shift)
        elif op == "cutout" and draw.cutout is not None:
            x = cut_out(x, draw.cutout)
    return x


def color(x: torch.Tensor, draw: Draw) -> torch.Tensor:
    """Brightness, saturation, contrast on each 3-channel image of ``x`` (1 or 2 of them), clamped to [-1, 1]."""
    assert draw.brightness is not None and draw.saturation is not None and draw.contrast is not None
    n, c, h, w = x.shape
    groups = c // 3 if c % 3 == 0 else 1
    y = x.reshape(n, groups, c // groups, h, w)

    def per_sample(v: torch.Tensor) -> torch.Tensor:
        return v.to(device=x.device, dtype=x.dtype).view(n, 1, 1, 1, 1)

    y = y + per_sample(draw.brightness)
    mean = y.mean(dim=2, keepdim=True)
    y = (y - mean) * per_sample(draw.saturation) + mean
    mean = y.mean(dim=(2, 3, 4), keepdim=True)
    y = (y - mean) * per_sample(draw.contrast) + mean
    return y.clamp(-1.0, 1.0).reshape(n, c, h, w)


def translate(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Each sample moved by its (dy, dx) pixels; what comes in from outside is zero."""
    n, _, h, w = x.shape
    shift = shift.to(x.device)
    rows = torch.arange(h, device=x.device)[None, :] - shift[:, :1]  # (N, H): output row y shows input row y - dy
    cols = torch.arange(w, device=x.device)[None, :] - shift[:, 1:]  # (N, W)
    inside = (((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :])  # (N, H, W)
    batch = torch.arange(n, device=x.device)[:, None, None]
    moved = x[batch, :, rows.clamp(0, h - 1)[:, :, None], cols.clamp(0, w - 1)[:, None, :]]  # (N, H, W, C)
    return (moved * inside[..., None].to(x.dtype)).permute(0, 3, 1, 2)


def cut_out(x: torch.Tensor, corner: torch.Tensor) -> torch.Tensor:
    """Each sample with a square of half its size, top-left at ``corner`` (clipped to the image), set to zero."""
    n, _, h, w = x.shape
    ch, cw = int(h * CUTOUT_RATIO + 0.5), int(w * CUTOUT_RATIO + 0.5)
    corner = corner.to(x.device)
    ys = torch.arange(h, device=x.device)[None, :] - corner[:, :1]  # row relative to the square's top
    xs = torch.arange(w, device=x.device)[None, :] - corner[:, 1:]
    inside = ((ys >= 0) & (ys < ch))[:, :, None] & ((xs >= 0) & (xs < cw))[:, None, :]  # (N, H, W)
    return x * (~inside)[:, None].to(x.dtype)
