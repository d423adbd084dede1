"""Downloading model files, resumably, and installing catalog entries through the safe import.

A download goes to ``NAME.part`` in ``STUDIO_HOME/downloads/`` with a sidecar ``NAME.part.json``
(URL, ETag, length), so a resume (an HTTP ``Range`` request) is only ever made against the same
file. A server that answers 200 to a Range request is started over. The complete file is renamed
into place with a sidecar ``NAME.json`` (URL, length, sha256, date); a file whose sidecar matches
is not fetched again.

Cancelled (``Control.cancel``, Ctrl+C, the job closed) means the person stopped it: the partial
file is removed. Interrupted (a dropped connection, a stalled server, the process killed) keeps
the partial file, and the next attempt resumes it; a dropped connection is resumed up to
:data:`RETRIES` times within the same job. Errors are :class:`DownloadError` with one line.
"""

from __future__ import annotations

import datetime as _dt
import errno
import hashlib
import http.client
import json
import logging
import os
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Generator, Mapping
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from studio.core import paths
from studio.core.errors import Cancelled, ModelError, StudioError
from studio.core.fileio import atomic_write_text
from studio.core.jobs import Control, Event, Finished, Item, Job, Progress, log_event, nested

from .catalog import (
    CatalogEntry,
    CatalogError,
    entry_url,
    find_entry,
    installed,
    load_catalog,
    mirror_url,
    reason_text,
)
from .model_store import ModelStore

log = logging.getLogger(__name__)

READ_TIMEOUT = 30.0  # seconds without a byte (connecting, or between reads) before a download gives up
RETRIES = 2  # a dropped connection is resumed this many times within one job
RETRY_DELAY = 1.0
CHUNK = 64 * 1024
PROGRESS_EVERY = 0.1  # seconds between Progress events while bytes arrive


class DownloadError(StudioError):
    """A download failed; ``resumable`` when its partial file was kept for the next attempt."""

    def __init__(self, message: str, resumable: bool = False):
        super().__init__(message)
        self.resumable = resumable


class _Interrupted(Exception):
    """The connection dropped or stalled mid-file: resume from what arrived."""


def downloads_dir() -> Path:
    return paths.studio_home() / "downloads"


def part_path(target: Path) -> Path:
    return target.with_name(target.name + ".part")


def record_path(target: Path) -> Path:
    return target.with_name(target.name + ".json")


def download_record(target: Path) -> dict[str, Any]:
    """The sidecar of a complete download (url, etag, bytes, sha256, downloaded); {} when none."""
    return _read_json(record_path(Path(target)))


def file_name_for(url: str) -> str:
    """The file name a URL's download gets: the last part of its path."""
    name = Path(unquote(urlsplit(url).path)).name
    return name if name and name not in (".", "..") else "download.pth"


def write_chunk(handle: IO[Any], data: bytes) -> None:
    """One chunk to disk, unbuffered: what a killed process leaves is exactly what arrived (a
    function of its own so that the tests can fill the disk)."""
    view = memoryview(data)
    while view:
        view = view[handle.write(view) or 0:]


# -- one file --------------------------------------------------------------------------------------

def download_job(
    url: str, target: Path, control: Control | None = None, *, expected_sha256: str | None = None
) -> Job:
    """Download ``url`` to ``target``: Progress(done_bytes, total_bytes, message,
    stats={"bytes_per_s", "eta_s"}) ... Finished(target). ``expected_sha256`` is checked when given."""
    control = control or Control()
    target = Path(target)
    if urlsplit(url).scheme not in ("http", "https"):
        raise DownloadError(f"{url}: only http(s) addresses can be downloaded")
    done = download_record(target)
    if target.is_file() and done.get("url") == url and done.get("bytes") == target.stat().st_size:
        yield log_event(log, "info", f"{target.name} is already downloaded; not fetching it again")
        yield Finished(target)
        return
    part = part_path(target)
    keep = True  # an interruption keeps the partial file; cancelling or a bad file removes it
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        attempt = 0
        while True:
            try:
                meta = yield from _fetch(url, part, control)
                break
            except _Interrupted as exc:
                attempt += 1
                if attempt > RETRIES:
                    raise DownloadError(f"{url}: {exc}; run it again to resume", resumable=True) from exc
                yield log_event(log, "warning", f"{exc}; resuming ({attempt} of {RETRIES})")
                _sleep(RETRY_DELAY, control)
        digest = _sha256(part)
        if expected_sha256 and digest != expected_sha256.lower():
            raise DownloadError(f"{url}: the file's sha256 is {digest}, the catalog says {expected_sha256}")
        os.replace(part, target)
        record = {**meta, "bytes": target.stat().st_size, "sha256": digest,
                  "downloaded": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
        atomic_write_text(record_path(target), json.dumps(record, indent=2) + "\n")
        _remove(record_path(part))
    except DownloadError as exc:
        keep = exc.resumable
        raise
    except OSError as exc:
        keep = False
        if exc.errno == errno.ENOSPC:
            raise DownloadError(f"the disk is full: {target.parent} has no room for {target.name}") from exc
        raise DownloadError(f"could not write {part}: {exc.strerror or exc}") from exc
    except BaseException:  # Cancelled, KeyboardInterrupt, GeneratorExit: the person stopped it
        keep = False
        raise
    finally:
        if not keep or (part.is_file() and part.stat().st_size == 0):
            _remove(part)
            _remove(record_path(part))
    yield Finished(target)


def _fetch(url: str, part: Path, control: Control) -> Generator[Event, None, dict[str, Any]]:
    """Append the rest of ``url`` to ``part`` (or start it over); the part's sidecar record."""
    meta = _read_json(record_path(part))
    offset = part.stat().st_size if part.is_file() and meta.get("url") == url else 0
    if not offset:
        _remove(part)
    headers = {"User-Agent": "Studio", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if meta.get("etag"):
            headers["If-Range"] = meta["etag"]
    host = urlsplit(url).netloc
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=READ_TIMEOUT)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # the partial file no longer fits the server's: start over
            _remove(part)
            return (yield from _fetch(url, part, control))
        raise DownloadError(f"{url}: the server answered {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise DownloadError(f"cannot download from {host}: {reason_text(exc.reason)}", resumable=True) from exc
    except TimeoutError as exc:
        raise DownloadError(f"cannot download from {host}: no answer within {READ_TIMEOUT:g} s", resumable=True) from exc
    except OSError as exc:
        raise DownloadError(f"cannot download from {host}: {reason_text(exc)}", resumable=True) from exc
    with response:
        if "text/html" in response.headers.get("Content-Type", ""):
            raise DownloadError(f"{url}: the server sent a web page, not model weights (check the address or mirror)")
        length = response.headers.get("Content-Length")
        etag = response.headers.get("ETag")
        if response.status == 206 and _range_start(response.headers.get("Content-Range")) != offset:
            _remove(part)  # a range other than the one asked for: fetch the whole file instead
            return (yield from _fetch(url, part, control))
        if response.status == 206:
            total = _range_total(response.headers.get("Content-Range")) or (offset + int(length) if length else None)
            mode = "ab"
        else:
            if offset:
                yield log_event(log, "info", f"{host} does not resume downloads; starting {part.stem} over")
            offset = 0
            total = int(length) if length else None
            mode = "wb"
        meta = {"url": url, "etag": etag, "bytes": total}
        atomic_write_text(record_path(part), json.dumps(meta) + "\n")
        if total is not None and shutil.disk_usage(part.parent).free < total - offset:
            raise OSError(errno.ENOSPC, "no space left")
        yield from _receive(response, part, mode, offset, total, control)
    return meta


def _receive(response: Any, part: Path, mode: str, offset: int, total: int | None,
             control: Control) -> Generator[Event, None, None]:
    done = offset
    started = time.monotonic()
    last = 0.0
    with open(part, mode, buffering=0) as handle:
        while True:
            control.checkpoint()
            try:
                chunk = response.read1(CHUNK)  # what has arrived: a stall still leaves it on disk
            except TimeoutError as exc:
                raise _Interrupted(f"the server stopped sending (nothing for {READ_TIMEOUT:g} s) "
                                   f"after {_of(done, total)}") from exc
            except (OSError, http.client.HTTPException) as exc:
                raise _Interrupted(f"the connection dropped after {_of(done, total)}") from exc
            if not chunk:
                break
            if done == 0 and chunk.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")):
                raise DownloadError(f"{response.url}: the server sent a web page, not model weights")
            write_chunk(handle, chunk)
            done += len(chunk)
            now = time.monotonic()
            if now - last >= PROGRESS_EVERY or done == total:
                last = now
                yield _progress(part, done, offset, total, now - started)
    if total is not None and done < total:
        raise _Interrupted(f"the connection dropped after {_of(done, total)}")
    if total is not None and done > total:
        raise DownloadError(f"{response.url}: the server sent {done} bytes, more than the {total} it announced")


def _progress(part: Path, done: int, offset: int, total: int | None, elapsed: float) -> Progress:
    rate = (done - offset) / elapsed if elapsed > 0 else 0.0
    eta = (total - done) / rate if total is not None and rate > 0 else None
    name = part.name.removesuffix(".part")
    return Progress(done, total or 0, f"downloading {name}", stats={"bytes_per_s": rate, "eta_s": eta})


def _of(done: int, total: int | None) -> str:
    return f"{done} of {total} bytes" if total is not None else f"{done} bytes"


def _range_start(content_range: str | None) -> int | None:
    try:  # "bytes 100-999/1000"
        return int((content_range or "").split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def _range_total(content_range: str | None) -> int | None:
    try:
        return int((content_range or "").rsplit("/", 1)[1])
    except (IndexError, ValueError):
        return None


def _sleep(seconds: float, control: Control) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        control.checkpoint()
        time.sleep(min(0.05, max(0.0, end - time.monotonic())))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


# -- catalog entries -------------------------------------------------------------------------------

def install_job(
    ids: list[str],
    *,
    store: ModelStore | None = None,
    mirror: str | None = None,
    local_name: str | None = None,
    control: Control | None = None,
    catalog: list[CatalogEntry] | None = None,
) -> Job:
    """Install catalog entries: download (or reuse), import safely, record the provenance.

    Both directions of a CycleGAN pair asked together become one model; a direction whose other
    one is installed already is added to that model. Yields Progress (bytes of the current file,
    ``stats["id"]``, ``["index"]``, ``["count"]``), Log, one Item per id, then
    Finished({"installed": [names], "failed": [[id, reason]], "cancelled": bool})."""
    control = control or Control()
    store = store or ModelStore()
    catalog = catalog if catalog is not None else load_catalog()
    base = mirror_url(mirror)
    entries: list[CatalogEntry] = []
    for wanted in ids:
        entry = find_entry(catalog, wanted)
        if entry not in entries:
            entries.append(entry)
    groups = _groups(entries)
    if local_name is not None and len(groups) > 1:
        raise CatalogError("--as names one model; install these one at a time to name each")
    result: dict[str, Any] = {"installed": [], "failed": [], "cancelled": False}
    try:
        for index, group in enumerate(groups):
            try:
                name = yield from _install(group, store, catalog, base, local_name, control, (index, len(groups)))
            except StudioError as exc:
                if isinstance(exc, Cancelled):
                    raise
                for entry in group:
                    result["failed"].append([entry.id, str(exc)])
                    yield Item(entry.id, error=str(exc))
                continue
            if name not in result["installed"]:
                result["installed"].append(name)
            for entry in group:
                yield Item(entry.id, output=name)
    except Cancelled:
        result["cancelled"] = True
        yield log_event(log, "warning", "install cancelled; nothing half-done was kept")
    yield Finished(result)


def _groups(entries: list[CatalogEntry]) -> list[tuple[CatalogEntry, ...]]:
    """One group per model to make: a CycleGAN pair asked together is one group (A→B first)."""
    by_id = {e.id: e for e in entries}
    groups: list[tuple[CatalogEntry, ...]] = []
    grouped: set[str] = set()
    for entry in entries:
        if entry.id in grouped:
            continue
        other = by_id.get(entry.pair or "")
        if entry.kind == "cyclegan" and other is not None and other.kind == "cyclegan":
            groups.append((entry, other))
            grouped.update((entry.id, other.id))
        else:
            groups.append((entry,))
            grouped.add(entry.id)
    return groups


def _install(group: tuple[CatalogEntry, ...], store: ModelStore, catalog: list[CatalogEntry], base: str,
             local_name: str | None, control: Control, position: tuple[int, int]) -> Generator[Event, None, str]:
    have = installed(store, catalog)
    missing = [e for e in group if e.id not in have]
    if not missing:
        name = have[group[0].id]
        yield log_event(log, "info", f"{group[0].id} is already installed as {name}")
        return name
    holder = None  # a one-direction model to add the missing direction to
    if len(missing) == 1 and (local_name is None or len(group) > 1):
        entry = missing[0]
        other = group[0].id if len(group) > 1 and entry is group[1] else entry.pair
        holder = have.get(other or "") if entry.kind == "cyclegan" else None
        if holder is not None and (store.get(holder).builtin or store.get(holder).directions() != ["a2b"]):
            holder = None
    files = []
    index, count = position
    for entry in missing:
        url = entry_url(entry, base)
        target = downloads_dir() / f"{entry.model_name}.pth"

        def to_event(p: Progress, entry: CatalogEntry = entry) -> Progress:
            where = f" ({index + 1} of {count})" if count > 1 else ""
            return Progress(p.done, p.total, f"{entry.title}{where}",
                            stats={**p.stats, "id": entry.id, "index": index, "count": count})

        path = yield from nested(download_job(url, target, control, expected_sha256=entry.sha256), control, to_event)
        files.append((entry, path, _provenance(entry, url, path)))
    control.checkpoint()
    try:
        if holder is not None:
            entry, path, record = files[0]
            yield log_event(log, "info", f"adding {entry.id} to {holder} as its B→A direction")
            return store.add_direction(holder, path, provenance={"pair": record}).name
        first, path, record = files[0]
        pair_path = files[1][1] if len(files) > 1 else None
        provenance = {"source": "catalog", **record, "publisher": first.source}
        if len(files) > 1:
            provenance["pair"] = files[1][2]
        info = store.import_file(path, name=local_name or first.model_name, pair=pair_path, kind=first.kind,
                                 domains={"A": first.domains[0], "B": first.domains[1]}, provenance=provenance)
        return info.name
    except ModelError:
        for _, bad, _ in files:  # a file that does not import is no use to keep: fetch afresh next time
            _remove(bad)
            _remove(record_path(bad))
        raise


def _provenance(entry: CatalogEntry, url: str, path: Path) -> dict[str, Any]:
    record: Mapping[str, Any] = download_record(path)
    return {"catalog_id": entry.id, "url": url, "sha256": record.get("sha256"),
            "bytes": record.get("bytes"), "downloaded": record.get("downloaded")}
