"""Translation at a model's working size, with the photo's own detail brought back by a guided filter.

A light generator trained on 128-px crops draws its textures at the scale it learned. Run on a
600-px photo it draws them again at every 128 px of the photo, and a GAN's small periodic
mistakes (grain, a faint checkerboard) come out 2-4× finer than anything it was trained to avoid.
Translating a downscaled copy at the scale the model was trained at, then upsampling, avoids
that but gives a soft picture.

:func:`guided_upsample` takes the best of both, as the fast guided filter does (He & Sun 2015,
"Fast Guided Filter"; Wu et al., CVPR 2018, "Fast End-to-End Trainable Guided Filter", used it for
image-to-image networks). Around every pixel of the small translation, the output is fitted as an
affine function of the input's colour (He et al., ECCV 2010: the colour guided filter, a 3×3
regularised least-squares fit per window); the fitted coefficients are smooth, so they are
upsampled bilinearly and applied to the full-size photo. The output's colours are the model's, its
edges and fine structure the photo's. It suits translations that restyle what is there (colour,
tone, flattening, pencil lines) and not ones that invent texture the photo lacks (zebra stripes,
painting from label maps): a card opts in with ``working_scale`` (see :class:`WorkingScale`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from studio.core.errors import StudioError

BAND_PIXELS = 1 << 21  # full-size pixels combined at once: bounds memory on a 50-megapixel photo


@dataclass(frozen=True)
class WorkingScale:
    """How a card asks to be translated: at a short side of ``short_side`` px, detail from the photo.

    ``radius``: the fit's window radius in pixels of the small image (window 2r+1); ``eps``: the
    regulariser, in units of variance of [0, 1] colours. Larger ``eps`` keeps more of the photo's
    contrast, smaller follows the translation's own edges more closely.
    """

    short_side: int
    radius: int = 2
    eps: float = 1e-2

    def __post_init__(self) -> None:
        if self.short_side < 16:
            raise StudioError(f"a working size of {self.short_side} px is too small: use 0 (the photo's own size) "
                              "or at least 16 px")
        if self.radius < 1 or not self.eps > 0:
            raise StudioError(f"invalid guided filter: radius {self.radius} (use ≥ 1), ε {self.eps} (use > 0)")

    @classmethod
    def from_card(cls, card: Mapping[str, Any]) -> WorkingScale | None:
        value = card.get("working_scale")
        if not value:
            return None
        return cls(int(value["short_side"]), int(value.get("radius", 2)), float(value.get("eps", 1e-2)))

    def to_card(self) -> dict[str, Any]:
        return {"short_side": self.short_side, "radius": self.radius, "eps": self.eps}

    def applies(self, height: int, width: int) -> bool:
        """True when a photo of that size is larger than the working size (smaller ones are translated as they are)."""
        return min(height, width) > self.short_side

    def small_size(self, height: int, width: int) -> tuple[int, int]:
        scale = self.short_side / min(height, width)
        return max(1, round(height * scale)), max(1, round(width * scale))

    def describe(self) -> str:
        return (f"translated at {self.short_side} px on the short side, detail from the photo "
                f"(guided filter, radius {self.radius}, ε {self.eps:g})")


def downscale(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, C, H, W) resized to ``size`` with an antialiasing filter (no aliasing from the shrink)."""
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


def _box(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a (2r+1)² window; the border is extended by replication, so edges are fitted too."""
    k = 2 * radius + 1
    return F.avg_pool2d(F.pad(x, (radius,) * 4, mode="replicate"), k, stride=1)


def fit(guide: torch.Tensor, target: torch.Tensor, radius: int, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-window affine fit of ``target`` (1, C, h, w) from ``guide`` (1, G, h, w), both in [0, 1].

    Returns the smoothed coefficients: ``a`` (1, C, G, h, w) and ``b`` (1, C, h, w), so that
    ``sum_g a[:, c, g] * guide[:, g] + b[:, c]`` approximates ``target[:, c]``.
    """
    guide, target = guide.double(), target.double()  # the 3×3 solves lose digits in float32 on flat windows
    g, c = guide.shape[1], target.shape[1]
    h, w = guide.shape[-2:]
    mean_i = _box(guide, radius)
    mean_p = _box(target, radius)
    products = torch.cat([guide[:, i:i + 1] * guide[:, j:j + 1] for i in range(g) for j in range(g)], 1)
    cov_ii = (_box(products, radius).view(1, g, g, h, w) - mean_i[:, :, None] * mean_i[:, None])
    cov_ip = torch.stack([_box(guide * target[:, k:k + 1], radius) - mean_i * mean_p[:, k:k + 1]
                          for k in range(c)], 1)  # (1, C, G, h, w)
    system = cov_ii.permute(0, 3, 4, 1, 2) + eps * torch.eye(g, dtype=guide.dtype)  # (1, h, w, G, G)
    a = torch.linalg.solve(system, cov_ip.permute(0, 3, 4, 2, 1))  # (1, h, w, G, C)
    a = a.permute(0, 4, 3, 1, 2).contiguous()  # (1, C, G, h, w)
    b = mean_p - (a * mean_i[:, None]).sum(2)
    a = _box(a.view(1, c * g, h, w), radius).view(1, c, g, h, w)
    return a.float(), _box(b, radius).float()


def _source_positions(out_len: int, in_len: int, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Bilinear sampling (align_corners=False, as F.interpolate) of output rows ``start:stop``."""
    pos = ((torch.arange(start, stop, dtype=torch.float64) + 0.5) * (in_len / out_len) - 0.5).clamp(min=0)
    low = pos.floor().long().clamp(max=in_len - 1)
    high = (low + 1).clamp(max=in_len - 1)
    return low, high, (pos - low).float()


def apply(a: torch.Tensor, b: torch.Tensor, photo: torch.Tensor) -> torch.Tensor:
    """The fitted coefficients upsampled bilinearly to ``photo`` (1, G, H, W) and applied to it: (1, C, H, W).

    Done in bands of rows, so a very large photo needs only a band's worth of upsampled coefficients.
    """
    _, c, g, h, w = a.shape
    height, width = photo.shape[-2:]
    coeffs = torch.cat([a.view(1, c * g, h, w), b], 1)
    x0, x1, fx = _source_positions(width, w, 0, width)
    out = torch.empty(1, c, height, width, dtype=photo.dtype)
    rows = max(1, BAND_PIXELS // max(1, width))
    for start in range(0, height, rows):
        stop = min(height, start + rows)
        y0, y1, fy = _source_positions(height, h, start, stop)
        top = torch.lerp(coeffs[..., y0, :], coeffs[..., y1, :], fy[:, None])
        band = torch.lerp(top[..., x0], top[..., x1], fx)  # (1, C·G + C, rows, W)
        ab, bb = band[:, :c * g].view(1, c, g, stop - start, width), band[:, c * g:]
        out[..., start:stop, :] = (ab * photo[:, None, :, start:stop, :]).sum(2) + bb
    return out


def guided_upsample(small_in: torch.Tensor, small_out: torch.Tensor, photo: torch.Tensor,
                    radius: int = 2, eps: float = 1e-2) -> torch.Tensor:
    """``small_out`` (the translation of ``small_in``) brought to ``photo``'s size with the photo's detail.

    All three are (1, C, H, W) in [0, 1] on the CPU; ``small_in`` is ``photo`` downscaled. The result
    is clamped to [0, 1].
    """
    a, b = fit(small_in, small_out, radius, eps)
    return apply(a, b, photo).clamp_(0.0, 1.0)
