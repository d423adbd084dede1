"""ResNet generators: the reference's (Johnson et al.) and a light mobile variant.

Both are one generator, :class:`ResnetGenerator`, parameterised by its residual block class: the
mobile variant only swaps in :class:`MobileResnetBlock` and a narrower default width.

Layer order and indices follow the reference pix2pix/CycleGAN code exactly, so its state
dicts (``model.1.weight``, ``model.10.conv_block.1.weight``, ...) load unchanged.

``upsample="resize"`` (see :mod:`.upsample`) replaces each stride-2 transposed convolution by one
Sequential at the same index (nearest ×2, then the block class's own stride-1 conv), so the other
layers keep their keys. The default, ``"transposed"``, is the reference's layers, bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from .downsample import BlurPool, downsample_config
from .norm_layers import NORMS, conv_bias, init_weights, norm_layer
from .registry import Network, check_bool, check_choice, check_int, register
from .upsample import (
    bilinear_transposed_init,
    resize_conv,
    resize_separable_conv,
    upsample_config,
    upsample_init_config,
)

PADDINGS = ("reflect", "replicate", "zero")
N_DOWNSAMPLING = 2  # fixed in the reference; makes the size multiple 2**2
STEM_LAYERS = 4  # pad, 7x7 conv, norm, ReLU: the layers before the first downsampling


def _padding(padding_type: str) -> tuple[list[nn.Module], int]:
    """Explicit padding layers before a 3x3 conv, and the conv's own padding."""
    if padding_type == "reflect":
        return [nn.ReflectionPad2d(1)], 0
    if padding_type == "replicate":
        return [nn.ReplicationPad2d(1)], 0
    return [], 1


class ResnetBlock(nn.Module):
    """x + (pad, conv3x3, norm, relu, [dropout], pad, conv3x3, norm)(x)."""

    def __init__(self, dim: int, padding_type: str, norm: str, use_dropout: bool):
        super().__init__()
        layers = [*self.conv3x3(dim, padding_type, norm), norm_layer(norm, dim), nn.ReLU(True)]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        layers += [*self.conv3x3(dim, padding_type, norm), norm_layer(norm, dim)]
        self.conv_block = nn.Sequential(*layers)

    @staticmethod
    def conv3x3(dim: int, padding_type: str, norm: str) -> list[nn.Module]:
        """The padding layers and the 3x3 conv that the block uses twice."""
        pad, p = _padding(padding_type)
        return [*pad, nn.Conv2d(dim, dim, 3, padding=p, bias=conv_bias(norm))]

    @staticmethod
    def resize_conv(in_nc: int, out_nc: int, padding_type: str, norm: str, upsample: str = "resize") -> nn.Module:
        """The generator's ×2 resize-convolution, made of this block's kind of conv."""
        pad, p = _padding(padding_type)
        return resize_conv(in_nc, out_nc, conv_bias(norm), pad, p, upsample)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv_block(x)


class MobileResnetBlock(ResnetBlock):
    """A ResnetBlock whose 3x3 convs are depthwise-separable, as in GAN Compression's mobile ResNet.

    Each conv becomes depthwise 3x3 + norm + pointwise 1x1: about 9x fewer multiply-adds
    at the same width.
    """

    @staticmethod
    def conv3x3(dim: int, padding_type: str, norm: str) -> list[nn.Module]:
        pad, p = _padding(padding_type)
        bias = conv_bias(norm)
        depthwise = nn.Conv2d(dim, dim, 3, padding=p, groups=dim, bias=bias)
        pointwise = nn.Conv2d(dim, dim, 1, bias=bias)
        # One Sequential keeps the block's layer indices (and so its state-dict keys) those of ResnetBlock.
        return [*pad, nn.Sequential(depthwise, norm_layer(norm, dim), pointwise)]

    @staticmethod
    def resize_conv(in_nc: int, out_nc: int, padding_type: str, norm: str, upsample: str = "resize") -> nn.Module:
        pad, p = _padding(padding_type)
        return resize_separable_conv(in_nc, out_nc, conv_bias(norm), pad, p, norm_layer(norm, in_nc), upsample)


@register("resnet_generator")
class ResnetGenerator(Network):
    """The reference ResNet generator (resnet_9blocks / resnet_6blocks). Output in [-1, 1].

    7x7 stem, two stride-2 downsamplings, ``n_blocks`` residual blocks of class ``block``, two
    upsamplings (``upsample``: the reference's transposed convs, or resize-convolution), 7x7 head.
    """

    block: type[ResnetBlock] = ResnetBlock
    size_multiple = 2**N_DOWNSAMPLING

    def __init__(
        self,
        input_nc: int = 3,
        output_nc: int = 3,
        ngf: int = 64,
        norm: str = "instance",
        use_dropout: bool = False,
        n_blocks: int = 9,
        padding_type: str = "reflect",
        upsample: str = "transposed",
        downsample: str = "strided",
        upsample_init: str = "normal",
    ):
        super().__init__()
        self.config = {
            "input_nc": check_int("input_nc", input_nc, 1),
            "output_nc": check_int("output_nc", output_nc, 1),
            "ngf": check_int("ngf", ngf, 1),
            "norm": check_choice("norm", norm, NORMS),
            "use_dropout": check_bool("use_dropout", use_dropout),
            "n_blocks": check_int("n_blocks", n_blocks, 0),
            "padding_type": check_choice("padding_type", padding_type, PADDINGS),
            **upsample_config(upsample),  # absent when "transposed": old cards stay equal to configs
            **downsample_config(downsample),  # absent when "strided", likewise
            **upsample_init_config(upsample_init),  # absent when "normal" (the reference's), likewise
        }
        bias = conv_bias(norm)
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(input_nc, ngf, 7, padding=0, bias=bias),
            norm_layer(norm, ngf),
            nn.ReLU(True),
        ]
        for i in range(N_DOWNSAMPLING):
            c = ngf * 2**i
            blur = downsample == "blur"  # conv at stride 1, then the blur-pool's stride 2
            layers += [
                nn.Conv2d(c, c * 2, 3, stride=1 if blur else 2, padding=1, bias=bias),
                norm_layer(norm, c * 2),
                nn.ReLU(True),
                *([BlurPool(c * 2)] if blur else []),
            ]
        dim = ngf * 2**N_DOWNSAMPLING
        layers += [self.block(dim, padding_type, norm, use_dropout) for _ in range(n_blocks)]
        for i in range(N_DOWNSAMPLING, 0, -1):
            c = ngf * 2**i
            up = (
                self.block.resize_conv(c, c // 2, padding_type, norm, upsample)
                if upsample != "transposed"
                else nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1, bias=bias)
            )
            layers += [
                up,
                norm_layer(norm, c // 2),
                nn.ReLU(True),
            ]
        # The head always has a bias: no norm follows it.
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7, padding=0), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        init_weights(self)
        if upsample_init == "bilinear":
            bilinear_transposed_init(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)

    def features(self, x: Tensor, layers: Sequence[int]) -> list[Tensor]:
        """The outputs of layers ``layers`` (indices into ``model``, ascending) for input ``x``:
        what CUT's PatchNCE compares. Runs only as far as the last of them."""
        wanted, found = set(layers), []
        for index, layer in enumerate(self.model):
            x = layer(x)
            if index in wanted:
                found.append(x)
                if len(found) == len(wanted):
                    break
        return found

    def encoder_layers(self, count: int = 5, pixels: bool = True) -> list[int]:
        """``count`` layers from the stem to the middle of the residual blocks, spaced as CUT spaces
        its default 0,4,8,12,16 in resnet_9blocks (and exactly those there). ``pixels`` False leaves
        out layer 0, the padded input itself."""
        per_downsampling = 4 if self.config.get("downsample") == "blur" else 3
        last = STEM_LAYERS + per_downsampling * N_DOWNSAMPLING + self.config["n_blocks"] * 2 // 3
        return sorted({min(last, 4 * i) for i in range(count)} - (set() if pixels else {0}))


@register("mobile_resnet_generator")
class MobileResnetGenerator(ResnetGenerator):
    """The ResNet generator with depthwise-separable residual blocks and a narrow default width.

    For the "fast" training preset: at ngf=16 it costs roughly 1/50 of resnet_9blocks' multiply-adds.
    Its state dict is its own (not the reference's).
    """

    block = MobileResnetBlock

    # Only the default width differs; the signature is spelled out because the registry reads it.
    def __init__(
        self,
        input_nc: int = 3,
        output_nc: int = 3,
        ngf: int = 16,
        norm: str = "instance",
        use_dropout: bool = False,
        n_blocks: int = 9,
        padding_type: str = "reflect",
        upsample: str = "transposed",
        downsample: str = "strided",
    ):
        super().__init__(input_nc, output_nc, ngf, norm, use_dropout, n_blocks, padding_type, upsample, downsample)
