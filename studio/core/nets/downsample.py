"""The generators' ×2 downsampling: the reference's stride-2 convolution, or blur-pooled (antialiased).

A stride-2 convolution samples its output at every other pixel with no low-pass filter before, so
detail at the Nyquist frequency of its input aliases into coarse features. In CUT that is a
loophole: PatchNCE compares the generator's *encoder* features of input and output, and a
generator can make its output's patches tell apart by painting a fine period-2 pattern that the
aliasing encoder turns into distinct features — a checkerboard it is rewarded for. Blur pooling
(Zhang, "Making Convolutional Networks Shift-Invariant Again", ICML 2019; CUT's default
``--no_antialias`` off) convolves at stride 1, then low-passes with the fixed [1, 2, 1] ⊗ [1, 2, 1]
/ 16 filter and subsamples, so that pattern no longer reaches the features.

``downsample="blur"`` builds each downsampling as conv (stride 1), norm, ReLU, then the blur as a
depthwise stride-2 ``nn.Conv2d`` with fixed weights (``requires_grad`` off): an ordinary layer for the tiling profile and for ONNX, and in the state dict, so
a saved model reloads bit for bit (:func:`.norm_layers.init_weights` leaves fixed weights alone).
The default, ``"strided"``, is the reference's layers and
appears in no config (as with :mod:`.upsample`'s default).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .registry import check_choice

DOWNSAMPLES = ("strided", "blur")


def downsample_config(downsample: str) -> dict[str, Any]:
    """The ``config`` entry for ``downsample``, checked: none for the default."""
    check_choice("downsample", downsample, DOWNSAMPLES)
    return {} if downsample == DOWNSAMPLES[0] else {"downsample": downsample}


class BlurPool(nn.Conv2d):
    """Reflect-padded [1, 2, 1]² / 16 low-pass per channel, then every other pixel (a fixed conv)."""

    def __init__(self, channels: int):
        super().__init__(channels, channels, 3, stride=2, padding=1, padding_mode="reflect", groups=channels,
                         bias=False)
        self.reset_filter()

    def reset_filter(self) -> None:
        """(Re)write the fixed filter: call after any weight initialisation of the network."""
        taps = torch.tensor([1.0, 2.0, 1.0])
        kernel = (taps[:, None] * taps[None, :]) / 16.0
        with torch.no_grad():
            self.weight.copy_(kernel.expand_as(self.weight))
        self.weight.requires_grad_(False)
