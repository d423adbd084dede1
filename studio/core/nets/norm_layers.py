"""Normalisation layers and weight initialisation, as the reference pix2pix/CycleGAN code defines them."""

from __future__ import annotations

import logging

from torch import nn

log = logging.getLogger(__name__)

NORMS = ("instance", "batch", "none")
INIT_TYPES = ("normal", "xavier", "kaiming", "orthogonal")


def norm_layer(kind: str, channels: int) -> nn.Module:
    """The normalisation layer ``kind`` for ``channels`` feature maps.

    Instance norm has no affine weights and no running statistics, so it adds no state-dict
    keys; batch norm adds weight, bias, running_mean, running_var and num_batches_tracked.
    """
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "batch":
        return nn.BatchNorm2d(channels, affine=True)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r} (use one of {', '.join(NORMS)})")


def conv_bias(kind: str) -> bool:
    """Whether convolutions followed by norm ``kind`` carry a bias.

    Batch norm's shift makes a bias redundant. The reference also leaves it out with no norm
    at all, so its 'none' checkpoints have no bias keys: we do the same to load them unchanged.
    """
    return kind == "instance"


def init_weights(net: nn.Module, init_type: str = "normal", gain: float = 0.02) -> nn.Module:
    """Initialise ``net`` in place like the reference and return it.

    Convolution and linear weights get ``init_type`` (normal(0, gain), xavier, kaiming or
    orthogonal) and zero biases; batch-norm weights get normal(1, gain) and zero biases.
    """
    if init_type not in INIT_TYPES:
        raise ValueError(f"unknown init_type {init_type!r} (use one of {', '.join(INIT_TYPES)})")

    def init_module(module: nn.Module) -> None:
        # Fixed weights (requires_grad off: a blur filter, :mod:`.downsample`) are part of the architecture.
        if isinstance(module, (nn.modules.conv._ConvNd, nn.Linear)) and module.weight.requires_grad:
            if init_type == "normal":
                nn.init.normal_(module.weight, 0.0, gain)
            elif init_type == "xavier":
                nn.init.xavier_normal_(module.weight, gain=gain)
            elif init_type == "kaiming":
                nn.init.kaiming_normal_(module.weight, a=0, mode="fan_in")
            else:
                nn.init.orthogonal_(module.weight, gain=gain)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d) and module.affine:
            nn.init.normal_(module.weight, 1.0, gain)
            nn.init.zeros_(module.bias)

    net.apply(init_module)
    log.debug("initialised %s with %s (gain %s)", type(net).__name__, init_type, gain)
    return net
