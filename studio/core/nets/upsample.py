"""The ×2 upsampling layers of the generators: the reference's transposed convolution, or resize-convolution.

A stride-2 transposed convolution gives output pixels of alternating parity different sets of
kernel taps, so even at initialisation (and on a flat image) its output carries a period-2
pattern: the checkerboard (Odena, Dumoulin & Olah, "Deconvolution and Checkerboard Artifacts",
Distill 2016). Resize-convolution separates the two jobs: a fixed ×2 resize, then a stride-1
convolution that every output pixel sees the same way.

The resize is **nearest neighbour**, not CUT's [1, 3, 3, 1] blur. Nearest is what Odena et al.
recommend and measured; the 3×3 convolution after it can learn any smoothing the blur would
impose; it is one ONNX ``Resize`` op that every runtime has; and it adds no fixed-weight layer for
the tiling profile to model (its context is the following convolution's alone). Every output pixel
then goes through the same kernel, so a flat region stays exactly flat, and a fresh network has no
peak at the Nyquist frequencies (tests/test_upsample.py measures both layers at initialisation).

``UPSAMPLES`` names the two choices generators take as their ``upsample`` parameter. The default
is ``"transposed"``: every card saved without the parameter rebuilds the old layers exactly. Unlike
the other parameters, ``upsample`` appears in a network's ``config`` only when it is not the
default (:func:`upsample_config`), so a transposed-conv network's config, and so its card, is
exactly what it was before the parameter existed: cards compared with configs (fine-tuning checks
``--from`` models that way) and reference imports stay equal.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from .registry import check_choice

UPSAMPLES = ("transposed", "resize")


def upsample_config(upsample: str) -> dict[str, Any]:
    """The ``config`` entry for ``upsample``, checked: none for the default (see the module docstring)."""
    check_choice("upsample", upsample, UPSAMPLES)
    return {} if upsample == UPSAMPLES[0] else {"upsample": upsample}


def resize_2x() -> nn.Upsample:
    """Nearest-neighbour ×2: a fixed resize with no weights (see the module docstring for why nearest)."""
    return nn.Upsample(scale_factor=2, mode="nearest")


def resize_conv(in_nc: int, out_nc: int, bias: bool, padding: list[nn.Module], conv_padding: int) -> nn.Sequential:
    """Resize ×2, then ``padding`` layers and a stride-1 3×3 conv: the U-Net's and reference ResNet's form."""
    return nn.Sequential(resize_2x(), *padding, nn.Conv2d(in_nc, out_nc, 3, padding=conv_padding, bias=bias))


def resize_separable_conv(
    in_nc: int, out_nc: int, bias: bool, padding: list[nn.Module], conv_padding: int, norm: nn.Module
) -> nn.Sequential:
    """Resize ×2, then depthwise 3×3 + ``norm`` + pointwise 1×1: the mobile ResNet's blocks' form.

    The depthwise conv runs at the input width (``in_nc``) and the pointwise conv changes it, as
    in the mobile blocks (GAN Compression).
    """
    depthwise = nn.Conv2d(in_nc, in_nc, 3, padding=conv_padding, groups=in_nc, bias=bias)
    pointwise = nn.Conv2d(in_nc, out_nc, 1, bias=bias)
    return nn.Sequential(resize_2x(), *padding, depthwise, norm, pointwise)
