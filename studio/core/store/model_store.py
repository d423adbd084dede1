"""The model store: one folder per model, ``card.json`` next to ``model.safetensors``.

Models are written into a hidden staging folder and renamed into place, so a crash or a full disk
never leaves half a model in the store. Built-in models (the repository's or the bundle's
``models/``) are read-only and listed next to the user's own.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from studio.core import nets, paths
from studio.core.errors import ArchitectureMismatchError, ModelError, ModelNotFoundError, StoreError
from studio.core.fileio import atomic_write_text

from .card import (
    CARD_NAME,
    FORMAT_VERSION,
    WEIGHTS_NAME,
    LoadedModel,
    ModelInfo,
    build_networks,
    check_card,
    flatten_state,
    split_state,
    validate_name,
)
from .importers import import_plan, write_safetensors

log = logging.getLogger(__name__)


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
        check_card(card, folder)
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
        check_card(card, target)
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
        """Merge ``changes`` into a user model's card (e.g. new metrics), atomically; a None value removes its key."""
        info = self._writable(name)
        card = {key: value for key, value in {**info.card, **changes}.items() if value is not None}
        check_card(card, info.path)
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
        return write_safetensors(flat, info.card, out)

    def _writable(self, name: str) -> ModelInfo:
        info = self.get(name)
        if info.builtin:
            raise StoreError(f"{name!r} is a built-in model and cannot be changed; change a copy of it (Duplicate… in "
                             f"the Models panel, or: studio models duplicate {name!r} NEW_NAME)")
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
        domains: Mapping[str, str] | None = None,
        provenance: Mapping[str, Any] | None = None,
    ) -> ModelInfo:
        """Import a Studio ``.safetensors`` export or a reference ``.pth``/``.pt`` generator.

        For a reference CycleGAN ``*_net_G_A.pth`` the matching ``*_net_G_B.pth`` next to it is
        taken as the B→A direction (or give it as ``pair``). ``domains`` replaces the guessed
        domains and ``provenance`` is merged into the card's (a catalog install records its source
        there). Nothing is added on any error.
        """
        path = Path(path)
        name, card, state_dicts = import_plan(path, name, pair, kind)
        if domains is not None:
            card = {**card, "domains": dict(domains)}
        if provenance is not None:
            card = {**card, "provenance": {**card.get("provenance", {}), **provenance}}
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

    def add_direction(self, name: str, path: str | Path, *, provenance: Mapping[str, Any] | None = None) -> ModelInfo:
        """Add a reference generator file as the B→A direction of a one-direction CycleGAN model.

        The file is read as safely as by :meth:`import_file` and checked against its detected
        architecture before anything is written; the model is then rewritten atomically (the old
        folder stays as it was on any error). ``provenance`` is merged into the card's."""
        info = self._writable(name)
        if info.kind != "cyclegan" or "G_B" in info.card["networks"]:
            raise StoreError(f"model {name!r} is not a one-direction CycleGAN model; cannot add a B→A direction to it")
        path = Path(path)
        _, plan, planned = import_plan(path, None, None, "cyclegan")
        spec = plan["networks"]["G_A"]
        network = build_networks({"networks": {"G_B": spec}})["G_B"]
        try:
            nets.load_into(network, planned["G_A"])
        except ArchitectureMismatchError as exc:
            raise ArchitectureMismatchError(f"{path}: {exc}") from exc
        flat = load_file(str(info.weights_path), device="cpu")
        state_dicts = split_state(flat, list(info.card["networks"]))
        state_dicts["G_B"] = network.state_dict()
        old = info.card.get("provenance", {})
        reference_arch = {**old.get("reference_arch", {}),
                          "G_B": plan["provenance"].get("reference_arch", {}).get("G_A", spec["arch"])}
        card = {**info.card, "networks": {**info.card["networks"], "G_B": spec},
                "provenance": {**old, "reference_arch": reference_arch,
                               "files": [*old.get("files", []), *plan["provenance"].get("files", [])],
                               **(provenance or {})}}
        files = {str(p.relative_to(info.path.resolve())): p for p in info.examples()}
        return self.save(name, card, state_dicts, overwrite=True, files=files)
