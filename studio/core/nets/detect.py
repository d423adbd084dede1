"""Recognise and load state dicts saved by the reference pix2pix/CycleGAN code (``latest_net_G.pth``).

Everything is inferred from key names and tensor shapes, never from the file name, and every
failure says what was expected and what was found.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from torch import Tensor, nn

from studio.core.errors import ArchitectureMismatchError

log = logging.getLogger(__name__)

_RUNNING_STATS = ("running_mean", "running_var", "num_batches_tracked")
_SHOWN = 5  # keys quoted in an error message


def _quote(keys: Iterable[str], limit: int = _SHOWN) -> str:
    keys = list(keys)
    shown = ", ".join(repr(k) for k in keys[:limit])
    return shown + (", ..." if len(keys) > limit else "")


def clean_state_dict(sd: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """A copy of ``sd`` with the two harmless differences of reference checkpoints removed.

    1. A ``module.`` prefix on every key (saved from a DataParallel wrapper) is stripped.
    2. Running statistics of a norm layer *without* an affine ``weight`` are dropped. Only
       InstanceNorm looks like that (the reference's BatchNorm is always affine), and
       checkpoints from PyTorch < 0.4 saved such buffers although the layer ignores them.
       BatchNorm's own ``num_batches_tracked`` is kept; if an old checkpoint lacks it, torch
       fills it in at load time.
    """
    if not isinstance(sd, Mapping):
        raise ArchitectureMismatchError(
            f"expected a state dict (a mapping of names to tensors), found {type(sd).__name__}"
        )
    not_tensors = [k for k, v in sd.items() if not isinstance(v, Tensor)]
    if not_tensors:
        raise ArchitectureMismatchError(
            f"expected a state dict of tensors, found non-tensor values at {_quote(not_tensors)}"
        )
    keys = list(sd)
    if keys and all(k.startswith("module.") for k in keys):
        sd = {k[len("module.") :]: v for k, v in sd.items()}
    cleaned: dict[str, Tensor] = {}
    dropped = []
    for key, value in sd.items():
        layer, _, leaf = key.rpartition(".")
        if leaf in _RUNNING_STATS and f"{layer}.weight" not in sd:
            dropped.append(key)
        else:
            cleaned[key] = value
    if dropped:
        log.info("ignored %d legacy InstanceNorm buffers (%s)", len(dropped), _quote(dropped, 3))
    return cleaned


def _shape(sd: Mapping[str, Tensor], key: str) -> tuple[int, ...] | None:
    return tuple(sd[key].shape) if key in sd else None


def _norm_kind(sd: Mapping[str, Tensor], conv_key: str, norm_key: str) -> str:
    """Which norm follows the conv ``conv_key``: batch norm has keys, instance norm only shows as a conv bias."""
    if f"{norm_key}.weight" in sd and f"{norm_key}.running_mean" in sd:
        return "batch"
    return "instance" if f"{conv_key}.bias" in sd else "none"


def _detect_resnet(sd: Mapping[str, Tensor]) -> dict[str, Any]:
    stem = _shape(sd, "model.1.weight")
    if stem is None or len(stem) != 4 or stem[2:] != (7, 7):
        raise ArchitectureMismatchError(
            f"expected a 7x7 conv at 'model.1.weight' (resnet), found shape {stem}"
        )
    ngf, input_nc = stem[0], stem[1]
    # Residual blocks: model.<block>.conv_block.<layer>.weight; the convs are the layers with 4-d weights.
    convs: dict[int, list[int]] = {}
    for key, value in sd.items():
        block = re.match(r"model\.(\d+)\.conv_block\.", key)
        if block:
            layer = re.fullmatch(r"model\.\d+\.conv_block\.(\d+)\.weight", key)
            convs.setdefault(int(block[1]), [])
            if layer and value.dim() == 4:
                convs[int(block[1])].append(int(layer[1]))
    n_blocks = len(convs)
    if sorted(convs) != list(range(10, 10 + n_blocks)) or any(len(v) != 2 for v in convs.values()):
        found = ", ".join(f"model.{b}: {sorted(v)}" for b, v in sorted(convs.items()))
        raise ArchitectureMismatchError(
            f"expected resnet blocks at model.10 onwards with two plain convs each, found convs at {found}"
        )
    first, second = sorted(convs[10]) if n_blocks else (1, 5)
    head = f"model.{17 + n_blocks}.weight"  # stem 4 + down 6 + blocks + up 6 + pad
    if head not in sd:
        raise ArchitectureMismatchError(
            f"expected the resnet output conv at {head!r} after {n_blocks} blocks, found no such key"
        )
    return {
        "input_nc": input_nc,
        "output_nc": sd[head].shape[0],
        "ngf": ngf,
        "n_blocks": n_blocks,
        "norm": _norm_kind(sd, "model.1", "model.2"),
        # With padding layers the first conv sits at index 1; 'zero' pads inside the conv (index 0).
        # Reflect and replicate padding leave no trace in the weights: reflect is the reference default.
        "padding_type": "zero" if first == 0 else "reflect",
        # Between the convs sit norm, relu and the padding layer (if any, as many as before the
        # first conv); dropout adds one more.
        "use_dropout": second - first > 3 + first,
    }


def _detect_unet(sd: Mapping[str, Tensor]) -> dict[str, Any]:
    stem = _shape(sd, "model.model.0.weight")
    head = _shape(sd, "model.model.3.weight")
    if stem is None or len(stem) != 4 or head is None or len(head) != 4:
        raise ArchitectureMismatchError(
            f"expected unet outer convs at 'model.model.0.weight' and 'model.model.3.weight', found shapes {stem} and {head}"
        )
    # Each nested block's Sequential is at '<parent>.<1 or 3>.model.'; its down conv is layer 1.
    num_downs, prefix = 1, "model.model.1.model."
    while f"{prefix}1.weight" in sd:
        num_downs += 1
        prefix += "3.model."
    if num_downs < 5:
        raise ArchitectureMismatchError(f"expected a unet at least 5 blocks deep, found {num_downs}")
    return {
        "input_nc": stem[1],
        "output_nc": head[1],  # ConvTranspose2d weights are (in, out, k, k)
        "ngf": stem[0],
        "num_downs": num_downs,
        "norm": _norm_kind(sd, "model.model.1.model.1", "model.model.1.model.2"),
        # Dropout has no weights, so it cannot be seen; the reference trains pix2pix with it.
        "use_dropout": True,
    }


def detect_generator(sd: Mapping[str, Tensor]) -> tuple[str, dict[str, Any]]:
    """(architecture, parameters) of a reference generator state dict, ready for ``build``.

    Recognises the ResNet and U-Net generators. Raises ArchitectureMismatchError otherwise.
    """
    sd = clean_state_dict(sd)
    if "model.1.weight" in sd:
        return "resnet_generator", _detect_resnet(sd)
    if "model.model.0.weight" in sd:
        return "unet_generator", _detect_unet(sd)
    raise ArchitectureMismatchError(
        "not a generator of a known architecture: expected keys like 'model.1.weight' (resnet) or "
        f"'model.model.0.weight' (unet), found {_quote(sd)} ({len(sd)} keys)"
    )


def _describe(net: nn.Module) -> str:
    arch = getattr(net, "arch", None)
    config = getattr(net, "config", None)
    name = type(net).__name__ + (f" ({arch})" if arch else "")
    if config:
        name += " with " + ", ".join(f"{k}={v!r}" for k, v in config.items())
    return name


def load_into(net: nn.Module, sd: Mapping[str, Tensor]) -> None:
    """Load ``sd`` into ``net`` strictly, after ``clean_state_dict``.

    On any missing key, unexpected key or shape mismatch, nothing is loaded and
    ArchitectureMismatchError names the expected architecture and the offending keys.
    """
    sd = clean_state_dict(sd)
    expected = net.state_dict()
    # torch fills in a BatchNorm counter that old checkpoints lack, so that one may be missing.
    missing = [k for k in expected if k not in sd and not k.endswith(".num_batches_tracked")]
    unexpected = [k for k in sd if k not in expected]
    wrong = [
        f"{k!r} expected {tuple(expected[k].shape)}, found {tuple(sd[k].shape)}"
        for k in expected
        if k in sd and sd[k].shape != expected[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys: {_quote(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys: {_quote(unexpected)}")
    if wrong:
        more = "; ..." if len(wrong) > _SHOWN else ""
        problems.append(f"{len(wrong)} shape mismatches: " + "; ".join(wrong[:_SHOWN]) + more)
    if problems:
        raise ArchitectureMismatchError(f"weights do not fit {_describe(net)}: " + "; ".join(problems))
    net.load_state_dict(sd, strict=True)
