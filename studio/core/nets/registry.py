"""Architecture names -> network classes, so a model card rebuilds its network with no flags.

Every registered class takes only JSON-able constructor parameters and keeps them, defaults
filled in, in ``net.config``; ``build(net.arch, net.config)`` rebuilds the same architecture.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from torch import nn

from studio.core.errors import ModelError


class Network(nn.Module):
    """What every registered architecture is: a module that knows its name and its parameters."""

    arch: ClassVar[str]  # set by @register
    config: dict[str, Any]  # the constructor's parameters, defaults filled in (JSON-able)


_ARCHITECTURES: dict[str, type[Network]] = {}
Net = TypeVar("Net", bound=Network)

# The reference's --netG / --netD names, as (architecture, parameters) of ours.
# 'n_layers' takes its depth from --n_layers_D; pass n_layers explicitly to override the default 3.
REFERENCE_PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "resnet_9blocks": ("resnet_generator", {"n_blocks": 9}),
    "resnet_6blocks": ("resnet_generator", {"n_blocks": 6}),
    "unet_256": ("unet_generator", {"num_downs": 8}),
    "unet_128": ("unet_generator", {"num_downs": 7}),
    "basic": ("patchgan_discriminator", {"n_layers": 3}),
    "n_layers": ("patchgan_discriminator", {}),
    "pixel": ("pixel_discriminator", {}),
}


def register(name: str) -> Callable[[type[Net]], type[Net]]:
    """Class decorator: make the class buildable as ``name`` and set its ``arch`` attribute."""

    def add(cls: type[Net]) -> type[Net]:
        if name in _ARCHITECTURES and _ARCHITECTURES[name] is not cls:
            raise ValueError(
                f"architecture {name!r} is already registered to {_ARCHITECTURES[name].__name__}"
            )
        cls.arch = name
        _ARCHITECTURES[name] = cls
        return cls

    return add


def architectures() -> list[str]:
    """The registered architecture names, sorted."""
    return sorted(_ARCHITECTURES)


def build(arch: str, params: Mapping[str, Any]) -> Network:
    """A new network of architecture ``arch``; parameters not given take their defaults.

    Raises ModelError for an unknown architecture (listing the known ones) and for an
    unknown or invalid parameter (naming it).
    """
    cls = _ARCHITECTURES.get(arch)
    if cls is None:
        raise ModelError(f"unknown architecture {arch!r}; known: {', '.join(architectures())}")
    if not isinstance(params, Mapping):
        raise ModelError(f"{arch}: parameters must be a mapping, got {type(params).__name__}")
    accepted = list(inspect.signature(cls).parameters)
    for key in params:
        if key not in accepted:
            raise ModelError(f"{arch}: unknown parameter {key!r}; accepted: {', '.join(accepted)}")
    return cls(**params)


# Parameter checks for constructors: a card edited by hand should fail with the parameter's name,
# not with a shape error deep inside torch.


def check_int(name: str, value: Any, minimum: int) -> int:
    # bool is an int subclass, but True channels is certainly a mistake.
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ModelError(f"parameter {name!r} must be an integer >= {minimum}, got {value!r}")
    return value


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ModelError(f"parameter {name!r} must be one of {', '.join(choices)}, got {value!r}")
    return value


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ModelError(f"parameter {name!r} must be true or false, got {value!r}")
    return value
