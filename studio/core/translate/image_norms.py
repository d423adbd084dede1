"""Normalisation for inference, with whole-image statistics that survive tiling.

At inference every BatchNorm2d / InstanceNorm2d of a generator is replaced by :class:`ImageNorm`,
which normalises each image with its own per-channel statistics:

- instance norm does that anyway;
- batch norm in a pix2pix U-Net is run the way the pix2pix paper and the reference's test script
  run it: with the statistics of the image being translated (a batch of one in train mode),
  never the running averages, and without updating anything.

For tiled translation the statistics must be those of the *whole* image, not of each tile, or
every tile gets its own colour cast. :class:`ImageNorm` can therefore also accumulate sums over
a region of a tile (``collect``) and then normalise with fixed, whole-image statistics (``frozen``).
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class StopForward(Exception):
    """Raised by a collecting norm: the rest of the forward pass is not needed."""


class ImageNorm(nn.Module):
    """Per-image normalisation with an optional affine transform taken from the original layer."""

    def __init__(self, num_features: int, eps: float, weight: torch.Tensor | None, bias: torch.Tensor | None):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.weight = None if weight is None else nn.Parameter(weight.detach().clone(), requires_grad=False)
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(), requires_grad=False)
        self.mode = "local"
        self.mean: torch.Tensor | None = None
        self.var: torch.Tensor | None = None
        self.region: tuple[int, int, int, int] | None = None  # y0, y1, x0, x1 in tile pixels
        self.tile_size: tuple[int, int] | None = None  # (H, W) of the tile being collected
        self._sum: torch.Tensor | None = None
        self._sumsq: torch.Tensor | None = None
        self._count = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.numel() == 0:
            return x  # shape-only runs (see studio.core.translate.layers.profile): no backend has to normalise nothing
        if self.mode == "collect":
            self.accumulate(x)
            raise StopForward
        # Statistics in fp32 even under autocast: fp16 sums over a large image lose the mean.
        if self.mode == "frozen":
            # One fused x * scale + shift: a tile's activations are hundreds of megabytes, and
            # (x - mean) * invstd * weight + bias would make three temporaries of that size.
            assert self.mean is not None and self.var is not None, "frozen without statistics"
            scale = torch.rsqrt(self.var + self.eps)
            shift = -self.mean * scale
            if self.weight is not None and self.bias is not None:
                scale, shift = scale * self.weight, shift * self.weight + self.bias
            y = torch.addcmul(shift.view(1, -1, 1, 1), x.float(), scale.view(1, -1, 1, 1))
            return y.to(x.dtype)
        y = nn.functional.instance_norm(x.float(), eps=self.eps)
        if self.weight is not None and self.bias is not None:
            y = y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)
        return y.to(x.dtype)

    # -- whole-image statistics ------------------------------------------------------------
    def start_collecting(self) -> None:
        self.mode = "collect"
        self._sum = None
        self._sumsq = None
        self._count = 0

    def accumulate(self, x: torch.Tensor) -> None:
        """Add the statistics of ``x``'s core region (``region`` of a ``tile_size`` tile)."""
        assert self.region is not None and self.tile_size is not None, "collecting without a region"
        y0, y1, x0, x1 = self.region
        tile_h, tile_w = self.tile_size
        # The activation is a downscaled copy of the tile; map the region onto it exactly.
        fy, fx = tile_h // x.shape[-2], tile_w // x.shape[-1]
        part = x[..., y0 // fy : y1 // fy, x0 // fx : x1 // fx]
        s = torch.zeros(part.shape[1], dtype=torch.float64, device=x.device)
        sq = torch.zeros_like(s)
        # Double-precision sums, a band of rows at a time: a whole tile in float64 (and its square)
        # would be several times the size of the activation itself.
        band = max(1, (4 << 20) // max(1, part.shape[0] * part.shape[1] * part.shape[3]))
        for r in range(0, part.shape[2], band):
            rows = part[:, :, r : r + band].double()
            s += rows.sum(dim=(0, 2, 3))
            sq += rows.square_().sum(dim=(0, 2, 3))
        self._sum = s if self._sum is None else self._sum + s
        self._sumsq = sq if self._sumsq is None else self._sumsq + sq
        self._count += part.shape[0] * part.shape[2] * part.shape[3]

    def freeze(self) -> None:
        if not self._count or self._sum is None or self._sumsq is None:
            raise RuntimeError("no statistics were collected")
        mean = self._sum / self._count
        var = (self._sumsq / self._count - mean * mean).clamp_min(0.0)
        self.mean, self.var = mean.float(), var.float()
        self.mode = "frozen"

    def release(self) -> None:
        self.mode = "local"
        self.mean = self.var = None


def inference_copy(net: nn.Module, dropout: bool = False) -> nn.Module:
    """A copy of ``net`` ready for translation: :class:`ImageNorm` layers, eval mode.

    ``dropout=True`` keeps dropout active, as the pix2pix paper does to get variations.
    The original network is left untouched.
    """
    net = copy.deepcopy(net).eval()
    _swap_norms(net)
    if dropout:
        for module in net.modules():
            if isinstance(module, nn.Dropout | nn.Dropout2d):
                module.train()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def _swap_norms(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d | nn.InstanceNorm2d):
            weight = child.weight if child.affine else None
            bias = child.bias if child.affine else None
            setattr(module, name, ImageNorm(child.num_features, child.eps, weight, bias))
        else:
            _swap_norms(child)


def image_norms(net: nn.Module) -> list[ImageNorm]:
    return [m for m in net.modules() if isinstance(m, ImageNorm)]
