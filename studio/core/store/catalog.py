"""The catalog of models Studio can install: ``resources/catalog.json``, kept as data.

Each entry is one published generator file of the reference implementation
(pytorch-CycleGAN-and-pix2pix), at a path under a base URL laid out as the reference's download
scripts lay it out. Adding a source means adding entries (an entry may name its own ``base`` host
and ``source``), not code. Which entries are installed is read from the cards' provenance
(``catalog_id`` for the A→B file, ``pair.catalog_id`` for a B→A file added to the same model).
"""

from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from studio.core import paths
from studio.core.errors import StudioError

from .model_store import ModelStore

DEFAULT_MIRROR = "http://efrosgans.eecs.berkeley.edu"  # the host the reference's download scripts use
MIRROR_ENV = "STUDIO_MODEL_MIRROR"
CATALOG_FORMAT = 1
CATALOG_NAME = "catalog.json"


class CatalogError(StudioError):
    """The catalog is unreadable, or names no such model."""


@dataclass(frozen=True)
class CatalogEntry:
    """One installable generator file."""

    id: str  # unique: "horse2zebra"; "pix2pix/sat2map" where a NAME exists in both kinds
    name: str  # the reference's NAME ("sat2map")
    kind: str  # "cyclegan" | "pix2pix"
    arch: str  # the reference's generator name: "resnet_9blocks", "unet_256"
    domains: tuple[str, str]  # (A, B) of this file's direction
    title: str  # "Horse → zebra"
    description: str  # one line an artist understands
    path: str  # under the base URL: "cyclegan/pretrained_models/horse2zebra.pth"
    pair: str | None  # id of the other direction, or None
    size_bytes: int | None = None  # approximate, for the dialog
    source: str = "pytorch-CycleGAN-and-pix2pix"
    base: str | None = None  # another host for this entry (used unless a mirror is set)
    sha256: str | None = None  # checked after the download when known

    @property
    def model_name(self) -> str:
        """The default name in the store: the id, with ``/`` (not allowed in names) as ``-``."""
        return self.id.replace("/", "-")


def default_catalog_path() -> Path:
    return paths.resources_dir() / CATALOG_NAME


def load_catalog(path: Path | None = None) -> list[CatalogEntry]:
    """Every entry of the catalog file (``resources/catalog.json`` by default)."""
    path = Path(path) if path is not None else default_catalog_path()
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CatalogError(f"{path}: unreadable catalog ({exc})") from exc
    version = doc.get("format_version") if isinstance(doc, dict) else None
    if not isinstance(version, int) or version > CATALOG_FORMAT:
        raise CatalogError(f"{path}: catalog format version {version!r} is not supported (this Studio reads ≤ {CATALOG_FORMAT})")
    default_source = doc.get("source", CatalogEntry.source)
    entries = [_entry(raw, default_source, path) for raw in doc.get("entries", [])]
    ids = [e.id for e in entries]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise CatalogError(f"{path}: duplicate catalog ids: {', '.join(duplicates)}")
    return entries


def _entry(raw: Mapping[str, Any], default_source: str, where: Path) -> CatalogEntry:
    try:
        domains = raw["domains"]
        if len(domains) != 2:
            raise ValueError("domains must be two names")
        return CatalogEntry(
            id=str(raw["id"]), name=str(raw["name"]), kind=str(raw["kind"]), arch=str(raw["arch"]),
            domains=(str(domains[0]), str(domains[1])), title=str(raw["title"]),
            description=str(raw["description"]), path=str(raw["path"]).lstrip("/"),
            pair=raw.get("pair"), size_bytes=raw.get("size_bytes"),
            source=str(raw.get("source", default_source)), base=raw.get("base"), sha256=raw.get("sha256"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CatalogError(f"{where}: bad catalog entry {raw.get('id', '?')!r} ({exc})") from exc


def find_entry(catalog: Iterable[CatalogEntry], name_or_id: str) -> CatalogEntry:
    """The entry of that id (or ``kind/NAME``, or a NAME only one kind publishes)."""
    entries = list(catalog)
    for entry in entries:
        if entry.id == name_or_id or f"{entry.kind}/{entry.name}" == name_or_id:
            return entry
    named = [e for e in entries if e.name == name_or_id]
    if len(named) == 1:
        return named[0]
    close = [e.id for e in entries if name_or_id.lower() in e.id.lower()]
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise CatalogError(f"no model {name_or_id!r} in the catalog.{hint} `studio models available` lists them.")


def mirror_url(override: str | None = None) -> str:
    """The base URL: ``override`` (a setting, ``--mirror``), else $STUDIO_MODEL_MIRROR, else the reference's host."""
    url = override or os.environ.get(MIRROR_ENV) or DEFAULT_MIRROR
    if urlsplit(url).scheme not in ("http", "https"):
        raise CatalogError(f"model mirror {url!r} is not an http(s) URL")
    return url.rstrip("/")


def entry_url(entry: CatalogEntry, mirror: str) -> str:
    """Where the entry's file is: under its own ``base`` when it has one and no mirror was chosen."""
    base = entry.base if entry.base and mirror.rstrip("/") == DEFAULT_MIRROR else mirror
    return f"{base.rstrip('/')}/{entry.path}"


def installed(store: ModelStore, catalog: Iterable[CatalogEntry]) -> dict[str, str]:
    """Entry id -> name of the store model holding that file."""
    ids = {e.id for e in catalog}
    found: dict[str, str] = {}
    for info in store.list():
        provenance = info.card.get("provenance", {})
        if provenance.get("source") != "catalog":
            continue
        for record in (provenance, provenance.get("pair") or {}):
            catalog_id = record.get("catalog_id")
            if catalog_id in ids:
                found.setdefault(catalog_id, info.name)
    return found


def check_online(mirror: str, timeout: float = 3.0) -> str | None:
    """None when the mirror answers at all (any HTTP status), else one line saying why not."""
    host = urlsplit(mirror).netloc or mirror
    request = urllib.request.Request(mirror.rstrip("/") + "/", method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None  # it answered: reachable
    except urllib.error.URLError as exc:
        return f"cannot reach {host}: {reason_text(exc.reason)}"
    except TimeoutError:
        return f"cannot reach {host}: no answer within {timeout:g} s"
    except OSError as exc:
        return f"cannot reach {host}: {reason_text(exc)}"


def reason_text(reason: object) -> str:
    """A network error as people read it: "connection refused", "timed out"."""
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return "timed out"
    if isinstance(reason, socket.gaierror):
        return "unknown host (offline?)"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror.lower()
    return str(reason) or type(reason).__name__
