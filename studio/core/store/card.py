"""Model cards and what a listing holds: a card fully describes a model (kind, networks with their
architecture parameters, domains, image size, provenance, metrics, format version), so a model is
rebuilt from its card alone. The weights file holds every network of the model, each key prefixed
by the network's role (``G_A.model.1.weight``).
"""

from __future__ import annotations

import datetime as _dt
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from studio.core import nets
from studio.core.errors import ModelError, StoreError

FORMAT_VERSION = 1
CARD_NAME = "card.json"
WEIGHTS_NAME = "model.safetensors"
KINDS = ("cyclegan", "cut", "pix2pix", "vae", "ae", "flow", "dcgan", "pixelcnn", "spade")
LATENT_KINDS = ("vae", "ae", "flow", "dcgan")  # models of one folder's latent space, not translators
# The network that runs each direction of an image-to-image model.
DIRECTION_NETWORK = {
    "cyclegan": {"a2b": "G_A", "b2a": "G_B"},
    "cut": {"a2b": "G"},
    "pix2pix": {"a2b": "G"},
}
UNPAIRED_KINDS = ("cyclegan", "cut")  # translators trained on two unpaired collections
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._+-]{0,63}$")


def validate_name(name: str) -> str:
    name = name.strip()
    if not _NAME_RE.match(name) or name.endswith("."):
        raise StoreError(
            f"invalid model name {name!r}: use 1-64 letters, digits, spaces, '.', '_', '+' or '-', "
            "starting with a letter or digit"
        )
    return name


@dataclass
class ModelInfo:
    """A model in the store, as listed: its card and where it lives."""

    name: str
    path: Path
    card: dict[str, Any]
    builtin: bool = False

    @property
    def kind(self) -> str:
        return self.card["kind"]

    @property
    def domains(self) -> dict[str, str]:
        return self.card.get("domains", {"A": "A", "B": "B"})

    @property
    def weights_path(self) -> Path:
        return self.path / WEIGHTS_NAME

    @functools.cached_property
    def size_bytes(self) -> int:
        """Bytes of the model's folder, read once per listing (a listing is a snapshot)."""
        return sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())

    @property
    def featured(self) -> bool:
        """The card asks to be what its panel shows first (a starter model chosen as the default)."""
        return bool(self.card.get("featured", False))

    @property
    def created(self) -> str:
        return self.card.get("created", "")

    def examples(self) -> list[Path]:
        """Example inputs shipped inside the model's folder (``card["examples"]``: relative paths)."""
        root = self.path.resolve()
        found = []
        for rel in self.card.get("examples", []):
            path = (root / str(rel)).resolve()
            if root in path.parents and path.is_file():
                found.append(path)
        return found

    def directions(self) -> list[str]:
        roles = DIRECTION_NETWORK.get(self.kind, {})
        return [d for d, role in roles.items() if role in self.card.get("networks", {})]

    def copy_of(self) -> tuple[str, str] | None:
        """(teacher, direction) when this model is a fast copy of another (``studio distill``)."""
        teacher = self.card.get("provenance", {}).get("teacher")
        if not isinstance(teacher, dict) or not teacher.get("name"):
            return None
        return str(teacher["name"]), str(teacher.get("direction", "a2b"))

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "domains": self.domains,
            "directions": self.directions(),
            "image_size": self.card.get("image_size"),
            "builtin": self.builtin,
            "size_bytes": self.size_bytes,
            "created": self.created,
            "path": str(self.path),
        }


@dataclass
class LoadedModel:
    """A model's card with its networks built and weights loaded (on the CPU, eval mode)."""

    info: ModelInfo
    networks: dict[str, nn.Module] = field(default_factory=dict)

    @property
    def card(self) -> dict[str, Any]:
        return self.info.card

    def generator(self, direction: str = "a2b") -> nn.Module:
        roles = DIRECTION_NETWORK.get(self.info.kind)
        if roles is None:
            raise ModelError(f"model {self.info.name!r} is a {self.info.kind} model, not an image translator")
        role = roles.get(direction)
        if role is None or role not in self.networks:
            have = ", ".join(self.info.directions()) or "none"
            raise ModelError(f"model {self.info.name!r} cannot translate {direction} (it has: {have})")
        return self.networks[role]


def new_card(
    kind: str,
    networks: Mapping[str, tuple[str, Mapping[str, Any]]],
    *,
    domains: Mapping[str, str] | None = None,
    image_size: int = 256,
    provenance: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    description: str = "",
) -> dict[str, Any]:
    """Build a card. ``networks`` maps a role (``G_A``, ``G``, ...) to ``(architecture, params)``."""
    if kind not in KINDS:
        raise ModelError(f"unknown model kind {kind!r} (known: {', '.join(KINDS)})")
    return {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "networks": {role: {"arch": arch, "params": dict(params)} for role, (arch, params) in networks.items()},
        "domains": dict(domains or {"A": "A", "B": "B"}),
        "image_size": int(image_size),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "description": description,
        "provenance": dict(provenance or {}),
        "metrics": dict(metrics or {}),
    }


def check_card(card: Mapping[str, Any], where: Path) -> None:
    version = card.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelError(f"{where}: card format version {version!r} is not supported (this Studio reads ≤ {FORMAT_VERSION})")
    if card.get("kind") not in KINDS:
        raise ModelError(f"{where}: unknown model kind {card.get('kind')!r}")
    networks = card.get("networks")
    if not isinstance(networks, dict) or not networks:
        raise ModelError(f"{where}: the card lists no networks")


def build_networks(card: Mapping[str, Any]) -> dict[str, nn.Module]:
    """Rebuild every network of a card, untrained."""
    return {role: nets.build(spec["arch"], spec["params"]) for role, spec in card["networks"].items()}


def split_state(flat: Mapping[str, torch.Tensor], roles: list[str]) -> dict[str, dict[str, torch.Tensor]]:
    """Split ``{"G_A.model.1.weight": t}`` into ``{"G_A": {"model.1.weight": t}}``."""
    out: dict[str, dict[str, torch.Tensor]] = {role: {} for role in roles}
    for key, tensor in flat.items():
        role, _, rest = key.partition(".")
        if role in out:
            out[role][rest] = tensor
    return out


def flatten_state(state_dicts: Mapping[str, Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    # safetensors refuses shared or non-contiguous storage; a clone per tensor is cheap at model sizes.
    return {
        f"{role}.{key}": tensor.detach().to("cpu").contiguous().clone()
        for role, sd in state_dicts.items()
        for key, tensor in sd.items()
    }
