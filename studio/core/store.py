"""The model store: one folder per model, ``card.json`` next to ``model.safetensors``.

A card fully describes a model (kind, networks with their architecture parameters, domains,
image size, provenance, metrics, format version), so a model is rebuilt from its card alone.
The weights file holds every network of the model, each key prefixed by the network's role
(``G_A.model.1.weight``). Models are written into a hidden staging folder and renamed into
place, so a crash or a full disk never leaves half a model in the store.

Built-in models (the repository's or the bundle's ``models/``) are read-only and listed next to
the user's own.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import logging
import os
import pickle
import re
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from . import nets, paths
from .errors import ArchitectureMismatchError, ModelError, ModelNotFoundError, StoreError, UnsafeModelError
from .fileio import atomic_write_text

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
CARD_NAME = "card.json"
WEIGHTS_NAME = "model.safetensors"
KINDS = ("cyclegan", "pix2pix", "vae", "flow")
# The network that runs each direction of an image-to-image model.
DIRECTION_NETWORK = {
    "cyclegan": {"a2b": "G_A", "b2a": "G_B"},
    "pix2pix": {"a2b": "G"},
}
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


def _check_card(card: Mapping[str, Any], where: Path) -> None:
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


class ModelStore:
    """The user's models (writable) and the built-in models (read-only)."""

    def __init__(self, user_dir: Path | None = None, builtin_dir: Path | None = None):
        self.user_dir = Path(user_dir) if user_dir is not None else paths.user_models_dir()
        self.builtin_dir = Path(builtin_dir) if builtin_dir is not None else paths.builtin_models_dir()

    # -- listing -------------------------------------------------------------------------------
    def list(self) -> list[ModelInfo]:
        found: dict[str, ModelInfo] = {}
        for folder, builtin in ((self.builtin_dir, True), (self.user_dir, False)):
            if not folder.is_dir():
                continue
            for sub in sorted(folder.iterdir()):
                if sub.name.startswith(".") or not (sub / CARD_NAME).is_file():
                    continue
                try:
                    info = self._read_info(sub, builtin)
                except ModelError as exc:
                    log.warning("skipping unreadable model folder %s: %s", sub, exc)
                    continue
                if info.name in found and found[info.name].builtin:
                    log.warning("user model %s is hidden by the built-in model of the same name", sub)
                    continue
                found[info.name] = info
        return sorted(found.values(), key=lambda i: (not i.builtin, i.name.lower()))

    def get(self, name: str) -> ModelInfo:
        for info in self.list():
            if info.name == name:
                return info
        names = [i.name for i in self.list()]
        close = [n for n in names if name.lower() in n.lower()]
        hint = f" Did you mean: {', '.join(close)}?" if close else (f" Known: {', '.join(names)}." if names else "")
        raise ModelNotFoundError(f"no model named {name!r} in the store.{hint}")

    def exists(self, name: str) -> bool:
        return any(i.name == name for i in self.list())

    @staticmethod
    def _read_info(folder: Path, builtin: bool) -> ModelInfo:
        try:
            card = json.loads((folder / CARD_NAME).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelError(f"{folder / CARD_NAME}: unreadable card ({exc})") from exc
        _check_card(card, folder)
        if not (folder / WEIGHTS_NAME).is_file():
            raise ModelError(f"{folder}: {WEIGHTS_NAME} is missing")
        return ModelInfo(name=card.get("name", folder.name), path=folder, card=card, builtin=builtin)

    # -- loading -------------------------------------------------------------------------------
    def load(self, name_or_info: str | ModelInfo) -> LoadedModel:
        info = name_or_info if isinstance(name_or_info, ModelInfo) else self.get(name_or_info)
        networks = build_networks(info.card)
        try:
            flat = load_file(str(info.weights_path), device="cpu")
        except (SafetensorError, OSError) as exc:
            raise ModelError(f"{info.weights_path}: unreadable weights ({exc})") from exc
        for role, sd in split_state(flat, list(networks)).items():
            try:
                nets.load_into(networks[role], sd)
            except ArchitectureMismatchError as exc:
                raise ArchitectureMismatchError(f"model {info.name!r}, network {role}: {exc}") from exc
            networks[role].eval()
        return LoadedModel(info=info, networks=networks)

    # -- writing -------------------------------------------------------------------------------
    def save(
        self,
        name: str,
        card: Mapping[str, Any],
        state_dicts: Mapping[str, Mapping[str, torch.Tensor]],
        *,
        overwrite: bool = False,
        half: bool = False,
        files: Mapping[str, Path] | None = None,
    ) -> ModelInfo:
        """Write a model atomically: staged in a hidden folder, then renamed into place.

        ``files`` maps a relative path inside the model's folder to a file copied there (example
        inputs, listed in ``card["examples"]``)."""
        name = validate_name(name)
        if self._is_builtin_name(name):
            raise StoreError(f"{name!r} is the name of a built-in model; choose another name")
        target = self.user_dir / name
        if target.exists() and not overwrite:
            raise StoreError(f"a model named {name!r} already exists; choose another name or remove it first")
        card = {**card, "name": name}
        _check_card(card, target)
        flat = flatten_state(state_dicts)
        if half:
            flat = {k: v.half() if v.is_floating_point() else v for k, v in flat.items()}
        self.user_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".staging-{name}-", dir=self.user_dir))
        try:
            save_file(flat, str(staging / WEIGHTS_NAME), metadata={"studio_format": str(FORMAT_VERSION)})
            atomic_write_text(staging / CARD_NAME, json.dumps(card, indent=2, sort_keys=False) + "\n")
            for rel, source in (files or {}).items():
                dest = (staging / rel).resolve()
                if staging.resolve() not in dest.parents:
                    raise StoreError(f"model file {rel!r} would land outside the model's folder")
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, dest)
            for f in staging.rglob("*"):
                if not f.is_file():
                    continue
                with open(f, "rb") as handle:
                    os.fsync(handle.fileno())
            if target.exists():
                trash = self.user_dir / f".trash-{name}-{os.getpid()}"
                os.replace(target, trash)
                os.replace(staging, target)
                shutil.rmtree(trash, ignore_errors=True)
            else:
                os.replace(staging, target)
        except OSError as exc:
            raise StoreError(f"could not write model {name!r} to {target}: {exc}") from exc
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        log.info("saved model %s to %s", name, target)
        return self._read_info(target, builtin=False)

    def update_card(self, name: str, changes: Mapping[str, Any]) -> ModelInfo:
        """Merge ``changes`` into a user model's card (e.g. new metrics), atomically."""
        info = self._writable(name)
        card = {**info.card, **changes}
        _check_card(card, info.path)
        atomic_write_text(info.path / CARD_NAME, json.dumps(card, indent=2) + "\n")
        return self._read_info(info.path, builtin=False)

    def remove(self, name: str) -> None:
        info = self._writable(name)
        trash = self.user_dir / f".trash-{name}-{os.getpid()}"
        os.replace(info.path, trash)
        shutil.rmtree(trash, ignore_errors=True)
        log.info("removed model %s", name)

    def rename(self, name: str, new_name: str) -> ModelInfo:
        info = self._writable(name)
        new_name = validate_name(new_name)
        if self.exists(new_name):
            raise StoreError(f"a model named {new_name!r} already exists")
        target = self.user_dir / new_name
        os.replace(info.path, target)
        card = {**info.card, "name": new_name}
        atomic_write_text(target / CARD_NAME, json.dumps(card, indent=2) + "\n")
        return self._read_info(target, builtin=False)

    def duplicate(self, name: str, new_name: str) -> ModelInfo:
        info = self.get(name)
        flat = load_file(str(info.weights_path), device="cpu")
        roles = list(info.card["networks"])
        card = {**info.card, "provenance": {**info.card.get("provenance", {}), "duplicated_from": name}}
        files = {str(p.relative_to(info.path.resolve())): p for p in info.examples()}
        return self.save(new_name, card, split_state(flat, roles), files=files)

    def export_safetensors(self, name: str, out: Path) -> Path:
        """One self-contained file: the weights with the card in the safetensors metadata."""
        info = self.get(name)
        flat = load_file(str(info.weights_path), device="cpu")
        out = Path(out)
        if out.suffix != ".safetensors":
            out = out.with_suffix(".safetensors")
        out.parent.mkdir(parents=True, exist_ok=True)
        meta = {"studio_format": str(FORMAT_VERSION), "studio_card": json.dumps(info.card)}
        from .fileio import atomic_path

        with atomic_path(out) as tmp:
            save_file(flat, str(tmp), metadata=meta)
        return out

    def _writable(self, name: str) -> ModelInfo:
        info = self.get(name)
        if info.builtin:
            raise StoreError(f"{name!r} is a built-in model and cannot be changed; duplicate it first")
        return info

    def _is_builtin_name(self, name: str) -> bool:
        return self.builtin_dir.is_dir() and (self.builtin_dir / name / CARD_NAME).is_file()

    # -- import --------------------------------------------------------------------------------
    def import_file(
        self,
        path: str | Path,
        *,
        name: str | None = None,
        pair: str | Path | None = None,
        kind: str | None = None,
    ) -> ModelInfo:
        """Import a Studio ``.safetensors`` export or a reference ``.pth``/``.pt`` generator.

        For a reference CycleGAN ``*_net_G_A.pth`` the matching ``*_net_G_B.pth`` next to it is
        taken as the B→A direction (or give it as ``pair``). Nothing is added on any error.
        """
        path = Path(path)
        card_from_file, flat = _read_weights_file(path)
        if card_from_file is not None:
            card = card_from_file
            roles = list(card["networks"])
            state_dicts = split_state(flat, roles)
            provenance = {**card.get("provenance", {}), "imported_from": str(path)}
            card = {**card, "provenance": provenance}
            name = validate_name(name or card.get("name") or path.stem)
        else:
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
            if kind == "pix2pix":
                state_dicts = {"G": first}
                networks = {"G": (arch, params)}
                if pair is not None:
                    raise ModelError("a pix2pix model has one direction; --pair is for CycleGAN models")
            elif kind != "cyclegan":
                raise ModelError(f"a .pth generator can be imported as cyclegan or pix2pix, not {kind}")
            sources = [_file_record(path)]
            if pair is not None:
                pair = Path(pair)
                _, flat_b = _read_weights_file(pair)
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
        # Build and load before writing anything: a mismatch must leave the store untouched.
        built = build_networks(card)
        for role, sd in state_dicts.items():
            if role not in built:
                raise ModelError(f"{path}: weights for {role!r}, which the card does not list")
            try:
                nets.load_into(built[role], sd)
            except ArchitectureMismatchError as exc:
                raise ArchitectureMismatchError(f"{path}: {exc}") from exc
        missing = [role for role in built if role not in state_dicts]
        if missing:
            raise ModelError(f"{path}: no weights for {', '.join(missing)}")
        return self.save(name, card, {role: net.state_dict() for role, net in built.items()})


# -- reading foreign files -------------------------------------------------------------------------

def _read_weights_file(path: Path) -> tuple[dict[str, Any] | None, dict[str, torch.Tensor]]:
    """Return ``(card or None, tensors)``. Never unpickles code."""
    if not path.is_file():
        raise ModelError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ModelError(f"{path}: file is empty")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        try:
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as handle:
                meta = handle.metadata() or {}
            flat = load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise ModelError(f"{path}: not a readable safetensors file ({exc})") from exc
        card = json.loads(meta["studio_card"]) if "studio_card" in meta else None
        if card is not None:
            _check_card(card, path)
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
