"""Reading model files from elsewhere, and writing the one-file export.

A Studio ``.safetensors`` export carries its card in the metadata; a reference
(pytorch-CycleGAN-and-pix2pix) ``.pth``/``.pt`` generator carries only weights, so its card is
made here from the detected architecture, the file names and the files' hashes. Nothing here
unpickles code: ``torch.load(weights_only=True)`` refuses any Python object.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from studio.core import nets
from studio.core.errors import ModelError, UnsafeModelError
from studio.core.fileio import atomic_path

from .card import FORMAT_VERSION, check_card, new_card, split_state, validate_name

log = logging.getLogger(__name__)

StateDicts = dict[str, dict[str, torch.Tensor]]


def import_plan(
    path: Path, name: str | None, pair: str | Path | None, kind: str | None
) -> tuple[str, dict[str, Any], StateDicts]:
    """``(name, card, state dicts)`` for a file to import, nothing written yet.

    For a reference CycleGAN ``*_net_G_A.pth`` the matching ``*_net_G_B.pth`` next to it is taken
    as the B→A direction (or give it as ``pair``)."""
    path = Path(path)
    card_from_file, flat = read_weights_file(path)
    if card_from_file is not None:
        card = card_from_file
        roles = list(card["networks"])
        state_dicts = split_state(flat, roles)
        provenance = {**card.get("provenance", {}), "imported_from": str(path)}
        card = {**card, "provenance": provenance}
        name = validate_name(name or card.get("name") or path.stem)
    else:
        name, card, state_dicts = _reference_plan(path, flat, name, pair, kind)
    return name, card, state_dicts


def _reference_plan(path: Path, flat: dict[str, torch.Tensor], name: str | None, pair: str | Path | None,
                    kind: str | None) -> tuple[str, dict[str, Any], StateDicts]:
    """A card for reference generator weights: architecture detected, domains guessed from the name."""
    if pair is None:
        pair = _sibling_pair(path)
        if pair is not None:
            log.info("found the other direction next to it: %s", pair)
    arch, params = nets.detect_generator(flat)
    first = nets.clean_state_dict(flat)
    state_dicts = {"G_A": first}
    networks = {"G_A": (arch, params)}
    if kind is None:
        kind = _guess_kind(path, arch, pair)
    if kind in ("pix2pix", "cut"):
        state_dicts = {"G": first}
        networks = {"G": (arch, params)}
        if pair is not None:
            raise ModelError(f"a {kind} model has one direction; --pair is for CycleGAN models")
        if kind == "cut" and arch not in ("resnet_generator", "mobile_resnet_generator"):
            raise ModelError(f"a CUT model has a ResNet generator; this file holds a {arch}")
    elif kind != "cyclegan":
        raise ModelError(f"a .pth generator can be imported as cyclegan, cut or pix2pix, not {kind}")
    sources = [_file_record(path)]
    if pair is not None:
        pair = Path(pair)
        _, flat_b = read_weights_file(pair)
        arch_b, params_b = nets.detect_generator(flat_b)
        state_dicts["G_B"] = nets.clean_state_dict(flat_b)
        networks["G_B"] = (arch_b, params_b)
        sources.append(_file_record(pair))
    stem = _model_stem(path)
    name = validate_name(name or stem)
    domains = _guess_domains(stem)
    card = new_card(
        kind,
        networks,
        domains=domains,
        image_size=256,
        provenance={
            "source": "import",
            "files": sources,
            "reference_arch": {role: _reference_name(a, p) for role, (a, p) in networks.items()},
        },
    )
    return name, card, state_dicts


def write_safetensors(flat: Mapping[str, torch.Tensor], card: Mapping[str, Any], out: Path) -> Path:
    """One self-contained file: the weights with the card in the safetensors metadata."""
    out = Path(out)
    if out.suffix != ".safetensors":
        out = out.with_suffix(".safetensors")
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"studio_format": str(FORMAT_VERSION), "studio_card": json.dumps(card)}
    with atomic_path(out) as tmp:
        save_file(dict(flat), str(tmp), metadata=meta)
    return out


# -- reading foreign files -------------------------------------------------------------------------

def read_weights_file(path: Path) -> tuple[dict[str, Any] | None, dict[str, torch.Tensor]]:
    """Return ``(card or None, tensors)``. Never unpickles code."""
    if not path.is_file():
        raise ModelError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ModelError(f"{path}: file is empty")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        try:
            with safe_open(str(path), framework="pt") as handle:
                meta = handle.metadata() or {}
            flat = load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise ModelError(f"{path}: not a readable safetensors file ({exc})") from exc
        card = json.loads(meta["studio_card"]) if "studio_card" in meta else None
        if card is not None:
            check_card(card, path)
        return card, flat
    if suffix in (".pth", ".pt", ".ckpt", ".bin"):
        return None, _safe_torch_load(path)
    raise ModelError(f"{path}: unsupported model file type {suffix!r} (use .safetensors, .pth or .pt)")


def _safe_torch_load(path: Path) -> dict[str, torch.Tensor]:
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UnsafeModelError(
            f"{path}: refused: the file contains Python objects that would run code when loaded "
            f"(only plain weights are accepted). Details: {_first_line(exc)}"
        ) from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ModelError(f"{path}: not a readable PyTorch checkpoint ({_first_line(exc)})") from exc
    sd = _find_state_dict(obj)
    if sd is None:
        raise ModelError(f"{path}: no generator weights found (expected a state dict of tensors)")
    return sd


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _find_state_dict(obj: Any) -> dict[str, torch.Tensor] | None:
    if isinstance(obj, Mapping):
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return dict(obj)
        for key in ("state_dict", "model_state_dict", "model", "netG", "G", "netG_A", "G_A"):
            inner = obj.get(key)
            if isinstance(inner, Mapping):
                found = _find_state_dict(inner)
                if found is not None:
                    return found
    return None


def _sibling_pair(path: Path) -> Path | None:
    match = re.match(r"^(.*net_G_)A(\.\w+)$", path.name)
    if match:
        sibling = path.with_name(f"{match.group(1)}B{match.group(2)}")
        if sibling.is_file():
            return sibling
    return None


def _guess_kind(path: Path, arch: str, pair: Any) -> str:
    if pair is not None or re.search(r"net_G_[AB]\b", path.stem):
        return "cyclegan"
    return "pix2pix" if arch == "unet_generator" else "cyclegan"


def _model_stem(path: Path) -> str:
    """A name from the file: ``checkpoints/horse2zebra/latest_net_G_A.pth`` -> ``horse2zebra``."""
    stem = path.stem
    if re.match(r"^(latest|\d+)_net_[A-Za-z_]+$", stem) and path.parent.name:
        stem = path.parent.name
    stem = re.sub(r"[^A-Za-z0-9 ._+-]", "_", stem).strip("._ ") or "imported"
    return stem[:64]


def _reference_name(arch: str, params: Mapping[str, Any]) -> str:
    """The reference's --netG name for an architecture, e.g. ``resnet_9blocks``, else the arch itself."""
    for ref_name, (ref_arch, ref_params) in nets.REFERENCE_PRESETS.items():
        if ref_arch == arch and ref_params and all(params.get(k) == v for k, v in ref_params.items()):
            return ref_name
    return arch


def _guess_domains(stem: str) -> dict[str, str]:
    match = re.match(r"^([A-Za-z]+)2([A-Za-z]+)", stem)
    if match:
        return {"A": match.group(1), "B": match.group(2)}
    return {"A": "A", "B": "B"}


def _file_record(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return {"file": path.name, "sha256": digest.hexdigest(), "bytes": path.stat().st_size}
