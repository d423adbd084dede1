"""The ×2 upsampling layers of the generators: the reference's transposed convolution, or resize-convolution.

A stride-2 transposed convolution gives output pixels of alternating parity different sets of
kernel taps, so even at initialisation (and on a flat image) its output carries a period-2
pattern: the checkerboard (Odena, Dumoulin & Olah, "Deconvolution and Checkerboard Artifacts",
Distill 2016). Resize-convolution separates the two jobs: a fixed ×2 resize, then a stride-1
convolution that every output pixel sees the same way.

Two resizes: ``"resize"``, nearest neighbour (what Odena et al. measured), and ``"bilinear"``
(``align_corners=False``: exactly CUT's [1, 3, 3, 1] upsampling filter). Both are one ONNX
``Resize`` op and read at most one neighbouring input pixel (the tiling profile's context). At
initialisation neither has a Nyquist peak (tests/test_upsample.py), but a *trained* nearest
resize-convolution can learn one back: nearest ×2 leaves each 2×2 block flat, and a 3×3 kernel
after it sees even and odd output pixels straddle those blocks differently, which training is
free to exploit. In ``benchmarks/unpaired_quality.py`` (2026-12-02, 12.5 min per model on one
thread) nearest layers ended with 12× (CycleGAN), 49× (CUT) and 368× (FastCUT) the target's
Nyquist share on the held-out photo, bilinear ones at about 0.2-2×: the bilinear filter has a
double zero at Nyquist, so there is nothing left there to shape. The ``fast`` presets use
``"bilinear"`` since; models saved with ``"resize"`` keep it.

``UPSAMPLES`` names the choices generators take as their ``upsample`` parameter. The default
is ``"transposed"``: every card saved without the parameter rebuilds the old layers exactly. Unlike
the other parameters, ``upsample`` appears in a network's ``config`` only when it is not the
default (:func:`upsample_config`), so a transposed-conv network's config, and so its card, is
exactly what it was before the parameter existed: cards compared with configs (fine-tuning checks
``--from`` models that way) and reference imports stay equal.

:func:`bilinear_transposed_init` keeps the reference's transposed convolutions (so checkpoints
stay interchangeable) but starts them checkerboard-free, in the spirit of Aitken et al.'s ICNR
("Checkerboard artifact free sub-pixel convolution", 2017): each kernel is a random channel
mixing times the separable taps [½, 1, ½], which makes a 3×3 stride-2 transposed convolution
(padding 1, output padding 1) exactly "mix the channels, then interpolate linearly ×2" at the
start of training. ``upsample_init="bilinear"`` on a transposed-conv generator asks for it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .registry import check_choice

UPSAMPLE_INITS = ("normal", "bilinear")  # how transposed convolutions start: the reference's, or :func:`bilinear_transposed_init`

UPSAMPLES = ("transposed", "resize", "bilinear")
RESIZE_MODES = {"resize": "nearest", "bilinear": "bilinear"}  # the resize-convolutions' ×2 resize


def upsample_config(upsample: str) -> dict[str, Any]:
    """The ``config`` entry for ``upsample``, checked: none for the default (see the module docstring)."""
    check_choice("upsample", upsample, UPSAMPLES)
    return {} if upsample == UPSAMPLES[0] else {"upsample": upsample}


def upsample_init_config(upsample_init: str) -> dict[str, Any]:
    """The ``config`` entry for ``upsample_init``, checked: none for the reference's default."""
    check_choice("upsample_init", upsample_init, UPSAMPLE_INITS)
    return {} if upsample_init == UPSAMPLE_INITS[0] else {"upsample_init": upsample_init}


@torch.no_grad()
def bilinear_transposed_init(net: nn.Module, gain: float = 0.02) -> None:
    """Every 3×3 stride-2 transposed convolution of ``net``: weight = N(0, gain) channel mixing ⊗ [½, 1, ½]²,
    so its first output is a linear ×2 interpolation of mixed channels (no period-2 pattern)."""
    taps = torch.tensor([0.5, 1.0, 0.5])
    kernel = torch.outer(taps, taps)
    for module in net.modules():
        if isinstance(module, nn.ConvTranspose2d) and module.kernel_size == (3, 3) and module.stride == (2, 2):
            mixing = torch.randn(module.weight.shape[:2]) * gain
            module.weight.copy_(mixing[:, :, None, None] * kernel)


def resize_2x(upsample: str = "resize") -> nn.Upsample:
    """The fixed ×2 resize of ``upsample`` ("resize": nearest; "bilinear"): no weights."""
    mode = RESIZE_MODES[upsample]
    return nn.Upsample(scale_factor=2, mode=mode, **({"align_corners": False} if mode == "bilinear" else {}))


def resize_conv(in_nc: int, out_nc: int, bias: bool, padding: list[nn.Module], conv_padding: int,
                upsample: str = "resize") -> nn.Sequential:
    """Resize ×2, then ``padding`` layers and a stride-1 3×3 conv: the U-Net's and reference ResNet's form."""
    return nn.Sequential(resize_2x(upsample), *padding,
                         nn.Conv2d(in_nc, out_nc, 3, padding=conv_padding, bias=bias))


def resize_separable_conv(
    in_nc: int, out_nc: int, bias: bool, padding: list[nn.Module], conv_padding: int, norm: nn.Module,
    upsample: str = "resize",
) -> nn.Sequential:
    """Resize ×2, then depthwise 3×3 + ``norm`` + pointwise 1×1: the mobile ResNet's blocks' form.

    The depthwise conv runs at the input width (``in_nc``) and the pointwise conv changes it, as
    in the mobile blocks (GAN Compression).
    """
    depthwise = nn.Conv2d(in_nc, in_nc, 3, padding=conv_padding, groups=in_nc, bias=bias)
    pointwise = nn.Conv2d(in_nc, out_nc, 1, bias=bias)
    return nn.Sequential(resize_2x(upsample), *padding, depthwise, norm, pointwise)
