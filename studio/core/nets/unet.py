"""The reference U-Net generator (unet_256 / unet_128), built from nested skip-connection blocks.

The nesting is what the reference's state-dict keys spell out (``model.model.1.model.3.model...``),
so we keep it instead of a flat encoder/decoder list.

``upsample="resize"`` (see :mod:`.upsample`) puts, where each block's stride-2 transposed conv
was, nearest ×2 then a zero-padded stride-1 3×3 conv (the downconvs' padding): same output size,
same skip concatenations. The default, ``"transposed"``, is the reference's layers, bit for bit.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .norm_layers import NORMS, conv_bias, init_weights, norm_layer
from .registry import Network, check_bool, check_choice, check_int, register
from .upsample import resize_conv, upsample_config

MIN_DOWNS = 5  # the five blocks every reference U-Net has; deeper ones repeat the ngf*8 block


class UnetSkipConnectionBlock(nn.Module):
    """Downsample, run ``submodule``, upsample; all but the outermost concatenate the input back.

    Sequential layouts (indices matter for state-dict keys):
      outermost: downconv, submodule, relu, upconv (with bias), tanh
      innermost: leaky relu, downconv, relu, upconv, upnorm
      middle:    leaky relu, downconv, downnorm, submodule, relu, upconv, upnorm, [dropout]
    """

    def __init__(
        self,
        outer_nc: int,
        inner_nc: int,
        input_nc: int | None = None,
        submodule: nn.Module | None = None,
        outermost: bool = False,
        innermost: bool = False,
        norm: str = "batch",
        use_dropout: bool = False,
        upsample: str = "transposed",
    ):
        super().__init__()
        if not innermost and submodule is None:
            raise ValueError("only the innermost U-Net block may have no submodule")
        self.outermost = outermost
        bias = conv_bias(norm)
        downconv = nn.Conv2d(
            outer_nc if input_nc is None else input_nc, inner_nc, 4, stride=2, padding=1, bias=bias
        )
        up_nc = inner_nc if innermost else inner_nc * 2  # the others see their submodule's concatenation
        up_bias = True if outermost else bias  # the outermost has no norm after it
        upconv: nn.Module = (
            resize_conv(up_nc, outer_nc, up_bias, [], 1, upsample)
            if upsample != "transposed"
            else nn.ConvTranspose2d(up_nc, outer_nc, 4, stride=2, padding=1, bias=up_bias)
        )
        layers: list[nn.Module]
        if outermost:
            assert submodule is not None  # checked above; the outermost block is never the innermost
            layers = [downconv, submodule, nn.ReLU(True), upconv, nn.Tanh()]
        elif innermost:
            layers = [nn.LeakyReLU(0.2, True), downconv, nn.ReLU(True), upconv, norm_layer(norm, outer_nc)]
        else:
            assert submodule is not None  # checked above
            layers = [nn.LeakyReLU(0.2, True), downconv, norm_layer(norm, inner_nc), submodule]
            layers += [nn.ReLU(True), upconv, norm_layer(norm, outer_nc)]
            if use_dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


@register("unet_generator")
class UnetGenerator(Network):
    """The reference U-Net: ``num_downs`` halvings, so inputs must be multiples of 2**num_downs.

    ``upsample``: the reference's transposed convs, or resize-convolution (:mod:`.upsample`).
    """

    def __init__(
        self,
        input_nc: int = 3,
        output_nc: int = 3,
        num_downs: int = 8,
        ngf: int = 64,
        norm: str = "batch",
        use_dropout: bool = False,
        upsample: str = "transposed",
    ):
        super().__init__()
        self.config = {
            "input_nc": check_int("input_nc", input_nc, 1),
            "output_nc": check_int("output_nc", output_nc, 1),
            "num_downs": check_int("num_downs", num_downs, MIN_DOWNS),
            "ngf": check_int("ngf", ngf, 1),
            "norm": check_choice("norm", norm, NORMS),
            "use_dropout": check_bool("use_dropout", use_dropout),
            **upsample_config(upsample),  # absent when "transposed": old cards stay equal to configs
        }
        self.size_multiple = 2**num_downs
        # Built innermost-out, as each block wraps the previous one.
        block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, innermost=True, norm=norm, upsample=upsample)
        for _ in range(num_downs - MIN_DOWNS):
            block = UnetSkipConnectionBlock(
                ngf * 8, ngf * 8, submodule=block, norm=norm, use_dropout=use_dropout, upsample=upsample
            )
        for mult in (4, 2, 1):
            block = UnetSkipConnectionBlock(ngf * mult, ngf * mult * 2, submodule=block, norm=norm, upsample=upsample)
        self.model = UnetSkipConnectionBlock(
            output_nc, ngf, input_nc=input_nc, submodule=block, outermost=True, norm=norm, upsample=upsample
        )
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)
