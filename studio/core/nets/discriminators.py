"""The reference discriminators: PatchGAN (N-layer) and per-pixel (1x1 PatchGAN).

For pix2pix the discriminator sees input and output stacked, so input_nc is usually 6.
"""

from __future__ import annotations

from torch import Tensor, nn

from .norm_layers import NORMS, conv_bias, init_weights, norm_layer
from .registry import Network, check_choice, check_int, register


@register("patchgan_discriminator")
class NLayerDiscriminator(Network):
    """Classifies overlapping patches as real or fake; n_layers=3 ('basic') sees 70x70 patches.

    The output is a map of logits, e.g. 30x30 for a 256x256 input with n_layers=3.
    """

    def __init__(self, input_nc: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "batch"):
        super().__init__()
        self.config = {
            "input_nc": check_int("input_nc", input_nc, 1),
            "ndf": check_int("ndf", ndf, 1),
            "n_layers": check_int("n_layers", n_layers, 1),
            "norm": check_choice("norm", norm, NORMS),
        }
        bias = conv_bias(norm)
        # The first conv has no norm after it, so it always has a bias.
        layers: list[nn.Module] = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        channels = ndf
        for n in range(1, n_layers + 1):
            out = ndf * min(2**n, 8)  # width doubles per layer, capped at 8*ndf
            stride = 2 if n < n_layers else 1  # the last of these keeps the resolution
            layers += [
                nn.Conv2d(channels, out, 4, stride=stride, padding=1, bias=bias),
                norm_layer(norm, out),
                nn.LeakyReLU(0.2, True),
            ]
            channels = out
        layers.append(nn.Conv2d(channels, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


@register("pixel_discriminator")
class PixelDiscriminator(Network):
    """Classifies each pixel on its own (1x1 convolutions); the output keeps the input's size."""

    def __init__(self, input_nc: int = 3, ndf: int = 64, norm: str = "batch"):
        super().__init__()
        self.config = {
            "input_nc": check_int("input_nc", input_nc, 1),
            "ndf": check_int("ndf", ndf, 1),
            "norm": check_choice("norm", norm, NORMS),
        }
        bias = conv_bias(norm)
        self.net = nn.Sequential(
            nn.Conv2d(input_nc, ndf, 1),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 1, bias=bias),
            norm_layer(norm, ndf * 2),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, 1, bias=bias),
        )
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
