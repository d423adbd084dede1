"""DCGAN (Radford, Metz & Chintala, ICLR 2016): a generator from z ~ N(0, I) and its discriminator.

The recipe, as the paper gives it:

- **generator**: z projected to a 4×4 map by a fractionally-strided convolution, then ×2
  upsampling layers that halve the channels, batch norm and ReLU in every layer but the last,
  a tanh output. ``upsample="transposed"`` (the paper's fractionally-strided convolutions) or
  ``"bilinear"`` (resize ×2, then a stride-1 3×3 convolution: no checkerboard; see
  :mod:`.upsample`), which the ``fast`` preset uses;
- **discriminator**: strided 4×4 convolutions that double the channels, LeakyReLU 0.2, batch
  norm in every layer but the first, no pooling and no fully connected hidden layer, one logit
  at the end. WGAN-GP penalises the gradient of each image on its own, and batch norm mixes the
  images of a batch, so the WGAN-GP preset gives its critic layer norm (``norm="layer"``) instead,
  as Gulrajani et al. do; ``"none"`` has no normalisation at all.
- ``minibatch_std``: a remedy for mode collapse, the minibatch standard deviation feature of
  Karras et al. 2018 (a simplified minibatch discrimination, Salimans et al. 2016): before the
  last convolution the discriminator sees, as one more channel, how much the images of its batch
  differ from each other, so a generator that paints one image for every z is easy to tell apart.

Images are (N, 3, S, S) in [-1, 1] for S = 32, 64 or 128; latents are (N, latent_dim).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from studio.core.errors import ModelError

from .registry import Network, check_choice, check_int, register
from .upsample import resize_2x

SIZES = (32, 64, 128)
BOTTOM = 4
UPSAMPLES = ("transposed", "bilinear")
NORMS = ("batch", "layer", "none")


def _check_size(image_size: int) -> None:
    if image_size not in SIZES:
        raise ModelError(f"parameter 'image_size' must be one of {', '.join(map(str, SIZES))}, got {image_size}")


def _levels(image_size: int) -> int:
    return int(math.log2(image_size // BOTTOM))


@register("dcgan_generator")
class DCGANGenerator(Network):
    """z (N, latent_dim) -> images (N, 3, S, S) in [-1, 1]."""

    def __init__(self, image_size: int = 64, latent_dim: int = 100, ngf: int = 64, upsample: str = "transposed"):
        super().__init__()
        _check_size(image_size)
        check_int("latent_dim", latent_dim, 1)
        check_int("ngf", ngf, 1)
        check_choice("upsample", upsample, UPSAMPLES)
        self.config = {"image_size": image_size, "latent_dim": latent_dim, "ngf": ngf, "upsample": upsample}
        self.image_size, self.latent_dim = image_size, latent_dim
        levels = _levels(image_size)
        widths = [ngf * 2 ** (levels - 1 - i) for i in range(levels)]  # at 4, 8, ... S/2
        layers: list[nn.Module] = [nn.ConvTranspose2d(latent_dim, widths[0], BOTTOM, 1, 0, bias=False),
                                   nn.BatchNorm2d(widths[0]), nn.ReLU(True)]
        for c_in, c_out in zip(widths, [*widths[1:], 3], strict=True):
            last = c_out == 3
            if upsample == "transposed":
                layers.append(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=last))
            else:
                layers += [resize_2x("bilinear"), nn.Conv2d(c_in, c_out, 3, 1, 1, bias=last)]
            layers += [nn.Tanh()] if last else [nn.BatchNorm2d(c_out), nn.ReLU(True)]
        self.body = nn.Sequential(*layers)
        for module in self.modules():  # the paper's initialisation: N(0, 0.02); batch norm scales N(1, 0.02)
            if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
                nn.init.normal_(module.weight, 0.0, 0.02)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.normal_(module.weight, 1.0, 0.02)
                nn.init.zeros_(module.bias)

    def forward(self, z: Tensor) -> Tensor:
        return self.body(z.reshape(z.shape[0], self.latent_dim, 1, 1))


class MinibatchStd(nn.Module):
    """One more channel: the standard deviation over the batch, averaged over features and pixels."""

    def forward(self, x: Tensor) -> Tensor:
        spread = x.float().std(dim=0, unbiased=False).mean() if x.shape[0] > 1 else x.new_zeros(())
        return torch.cat([x, spread.to(x.dtype).expand(x.shape[0], 1, *x.shape[2:])], dim=1)


def _norm(kind: str, channels: int) -> list[nn.Module]:
    if kind == "batch":
        return [nn.BatchNorm2d(channels)]
    if kind == "layer":
        return [nn.GroupNorm(1, channels)]  # layer norm over channels and pixels, per image
    return []


@register("dcgan_discriminator")
class DCGANDiscriminator(Network):
    """images (N, input_nc, S, S) -> one logit per image (N, 1, 1, 1)."""

    def __init__(self, image_size: int = 64, ndf: int = 64, norm: str = "batch", minibatch_std: bool = False,
                 input_nc: int = 3):
        super().__init__()
        _check_size(image_size)
        check_int("ndf", ndf, 1)
        check_int("input_nc", input_nc, 1)
        check_choice("norm", norm, NORMS)
        self.config = {"image_size": image_size, "ndf": ndf, "norm": norm, "minibatch_std": bool(minibatch_std),
                       "input_nc": input_nc}
        levels = _levels(image_size)
        widths = [ndf * 2**i for i in range(levels)]  # at S/2, S/4, ... 4
        layers: list[nn.Module] = []
        c_in = input_nc
        for i, c_out in enumerate(widths):
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=i == 0 or norm == "none"),
                       *(_norm(norm, c_out) if i else []), nn.LeakyReLU(0.2, True)]
            c_in = c_out
        if minibatch_std:
            layers.append(MinibatchStd())
            c_in += 1
        layers.append(nn.Conv2d(c_in, 1, BOTTOM, 1, 0))
        self.body = nn.Sequential(*layers)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, 0.0, 0.02)
            elif isinstance(module, nn.BatchNorm2d | nn.GroupNorm):
                nn.init.normal_(module.weight, 1.0, 0.02)
                nn.init.zeros_(module.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)
