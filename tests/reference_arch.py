"""Test-only restatement of the reference pix2pix/CycleGAN networks (junyanz/pytorch-CycleGAN-and-pix2pix).

Written independently of ``studio.core.nets`` and in another style (flat spec tables, a
recursive U-Net built from the outside in), so that agreement between the two is evidence
that both follow the published architecture. Produces reference-style state dicts and outputs.
"""

from __future__ import annotations

import torch
from torch import nn


def _make(row: tuple, norm: str) -> nn.Module:
    """One layer from a spec row: (kind, *arguments)."""
    kind, *args = row
    bias = norm == "instance"  # the reference: bias only when the norm is InstanceNorm
    if kind == "rpad":
        return nn.ReflectionPad2d(args[0])
    if kind == "conv":  # (in, out, kernel, stride, padding, has_bias or None for "per norm")
        cin, cout, k, s, p, b = args
        return nn.Conv2d(cin, cout, k, s, p, bias=bias if b is None else b)
    if kind == "deconv":
        cin, cout, k, s, p, op, b = args
        return nn.ConvTranspose2d(cin, cout, k, s, p, output_padding=op, bias=bias if b is None else b)
    if kind == "norm":
        if norm == "batch":
            return nn.BatchNorm2d(args[0])
        if norm == "instance":
            return nn.InstanceNorm2d(args[0])
        return nn.Identity()
    if kind == "relu":
        return nn.ReLU(inplace=True)
    if kind == "lrelu":
        return nn.LeakyReLU(0.2, inplace=True)
    if kind == "tanh":
        return nn.Tanh()
    if kind == "drop":
        return nn.Dropout(0.5)
    raise KeyError(kind)


class RefResidual(nn.Module):
    def __init__(self, rows: list[tuple], norm: str):
        super().__init__()
        self.conv_block = nn.Sequential(*[_make(r, norm) for r in rows])

    def forward(self, x):
        return x + self.conv_block(x)


class RefNet(nn.Module):
    """Holds ``model`` (or ``net``) like the reference classes, so the keys match."""

    def __init__(self, attr: str, body: nn.Module):
        super().__init__()
        self.attr = attr
        setattr(self, attr, body)

    def forward(self, x):
        return getattr(self, self.attr)(x)


def reference_resnet(
    input_nc=3, output_nc=3, ngf=64, norm="instance", dropout=False, blocks=9, zero_pad=False
):
    d = ngf * 4
    if zero_pad:
        half = [("conv", d, d, 3, 1, 1, None), ("norm", d)]
    else:
        half = [("rpad", 1), ("conv", d, d, 3, 1, 0, None), ("norm", d)]
    residual = half + [("relu",)] + ([("drop",)] if dropout else []) + half
    # fmt: off
    spec: list = [
        ("rpad", 3), ("conv", input_nc, ngf, 7, 1, 0, None), ("norm", ngf), ("relu",),
        ("conv", ngf, ngf * 2, 3, 2, 1, None), ("norm", ngf * 2), ("relu",),
        ("conv", ngf * 2, ngf * 4, 3, 2, 1, None), ("norm", ngf * 4), ("relu",),
    ]
    spec += [("residual", residual)] * blocks
    spec += [
        ("deconv", ngf * 4, ngf * 2, 3, 2, 1, 1, None), ("norm", ngf * 2), ("relu",),
        ("deconv", ngf * 2, ngf, 3, 2, 1, 1, None), ("norm", ngf), ("relu",),
        ("rpad", 3), ("conv", ngf, output_nc, 7, 1, 0, True), ("tanh",),
    ]
    # fmt: on
    layers = [RefResidual(r[1], norm) if r[0] == "residual" else _make(r, norm) for r in spec]
    return RefNet("model", nn.Sequential(*layers))


class RefSkip(nn.Module):
    def __init__(self, layers: list[nn.Module], outermost: bool):
        super().__init__()
        self.outermost = outermost
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        y = self.model(x)
        return y if self.outermost else torch.cat([x, y], dim=1)


def _unet_level(level: int, depth: int, ngf: int, input_nc: int, output_nc: int, norm: str, dropout: bool):
    """The skip block at ``level`` (0 = outermost) of a ``depth``-deep U-Net, with everything inside it."""
    widths = [ngf, ngf * 2, ngf * 4] + [ngf * 8] * depth  # inner channels per level
    inner = widths[level]
    outer = output_nc if level == 0 else widths[level - 1]
    cin = input_nc if level == 0 else outer
    if level == 0:
        sub = _unet_level(1, depth, ngf, input_nc, output_nc, norm, dropout)
        rows = [
            ("conv", cin, inner, 4, 2, 1, None),
            sub,
            ("relu",),
            ("deconv", inner * 2, outer, 4, 2, 1, 0, True),
            ("tanh",),
        ]
    elif level == depth - 1:
        rows = [
            ("lrelu",),
            ("conv", cin, inner, 4, 2, 1, None),
            ("relu",),
            ("deconv", inner, outer, 4, 2, 1, 0, None),
            ("norm", outer),
        ]
    else:
        sub = _unet_level(level + 1, depth, ngf, input_nc, output_nc, norm, dropout)
        rows = [("lrelu",), ("conv", cin, inner, 4, 2, 1, None), ("norm", inner), sub,
                ("relu",), ("deconv", inner * 2, outer, 4, 2, 1, 0, None), ("norm", outer)]  # fmt: skip
        if dropout and level >= 4:  # only the repeated ngf*8 blocks carry dropout
            rows.append(("drop",))
    return RefSkip([r if isinstance(r, nn.Module) else _make(r, norm) for r in rows], outermost=level == 0)


def reference_unet(input_nc=3, output_nc=3, num_downs=8, ngf=64, norm="batch", dropout=False):
    return RefNet("model", _unet_level(0, num_downs, ngf, input_nc, output_nc, norm, dropout))


def reference_patchgan(input_nc=3, ndf=64, n_layers=3, norm="batch"):
    widths = [ndf * min(2**n, 8) for n in range(n_layers + 1)]
    spec: list = [("conv", input_nc, ndf, 4, 2, 1, True), ("lrelu",)]
    for n in range(1, n_layers + 1):
        stride = 1 if n == n_layers else 2
        spec += [("conv", widths[n - 1], widths[n], 4, stride, 1, None), ("norm", widths[n]), ("lrelu",)]
    spec.append(("conv", widths[-1], 1, 4, 1, 1, True))
    return RefNet("model", nn.Sequential(*[_make(r, norm) for r in spec]))


def randomize(net: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial weights and batch-norm statistics, so a wrong wiring shows in the output."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in net.state_dict().values():
            if tensor.is_floating_point():
                # Weights scaled by 1/sqrt(fan) keep activations alive through deep stacks.
                scale = tensor[0].numel() ** -0.5 if tensor.dim() > 1 else 0.1
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * scale)
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.add_(1.0)
                module.running_var.abs_().add_(0.5)
                module.num_batches_tracked.fill_(7)
    return net
