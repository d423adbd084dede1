"""Training folders: which files are usable images, which are skipped and why, and A/B pairing.

A scan only reads headers (and, for PNG, the chunk checksums), so it stays quick on thousands of
files; a file whose pixel data is broken past its header is caught when it is first decoded
(see ``data._TrainingSet._load``).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from studio.core.errors import ImageError, StudioError
from studio.core.images import IMAGE_EXTENSIONS, list_images, probe_image

log = logging.getLogger(__name__)


class DataError(StudioError):
    """A training folder gives no usable data; the message names the folder and why."""


@dataclass
class FolderScan:
    """The image files of one folder: usable ones (sorted) and skipped ones with the reason."""

    folder: Path
    usable: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    sizes: dict[Path, tuple[int, int]] = field(default_factory=dict)  # (w, h) from the header


def scan_folder(folder: str | Path) -> FolderScan:
    """Check every image file under ``folder`` (recursively) from its header, without decoding it."""
    folder = Path(folder)
    try:
        candidates = list_images(folder)
    except ImageError as exc:
        raise DataError(str(exc)) from None
    scan = FolderScan(folder)
    for path in candidates:
        try:
            scan.sizes[path] = probe_image(path)  # the header only: the same rules as read_image
        except ImageError as exc:
            scan.skipped.append((path, exc.reason))
        else:
            scan.usable.append(path)
    if not scan.usable:
        raise DataError(f"{folder}: no usable image ({_why_nothing(scan)})")
    if scan.skipped:
        log.warning("%s: %d of %d image files skipped: %s", folder, len(scan.skipped), len(candidates),
                    _examples(scan.skipped, folder))
    log.info("%s: %d usable images", folder, len(scan.usable))
    return scan


def _why_nothing(scan: FolderScan) -> str:
    if scan.skipped:
        return f"{len(scan.skipped)} files skipped: {_examples(scan.skipped, scan.folder)}"
    others = [p for p in scan.folder.rglob("*") if p.is_file() and not p.name.startswith(".")]
    if not others:
        return "the folder is empty"
    return (f"{len(others)} files, none of them {'/'.join(sorted(IMAGE_EXTENSIONS))}, "
            f"e.g. {others[0].relative_to(scan.folder)}")


def _examples(skipped: list[tuple[Path, str]], folder: Path, limit: int = 4) -> str:
    return ", ".join(skipped_lines(skipped, folder, limit))


def skipped_lines(skipped: list[tuple[Path, str]], folder: Path, limit: int) -> list[str]:
    """``path relative to folder: reason`` for the first ``limit`` skipped files, then how many more."""
    lines = [f"{_relative(path, folder)}: {reason}" for path, reason in skipped[:limit]]
    if len(skipped) > limit:
        lines.append(f"and {len(skipped) - limit} more")
    return lines


def _relative(path: Path, folder: Path) -> str:
    try:
        return path.relative_to(folder).as_posix()
    except ValueError:
        return str(path)


def match_by_name(scan_a: FolderScan, scan_b: FolderScan) -> tuple[list[tuple[Path, Path]], list[tuple[Path, str]]]:
    """Pairs (a, b) sorted by a, matched by relative path without extension, then by bare stem.

    Returns the pairs and the files left without a partner (with the reason). Names that several
    files of one side share (``1.png`` and ``1.jpg``) are ambiguous and never matched.
    """
    pairs: list[tuple[Path, Path]] = []
    left_a, left_b = scan_a.usable, scan_b.usable
    keys: list[Callable[[Path, Path], str]] = [
        lambda path, folder: path.relative_to(folder).with_suffix("").as_posix(),
        lambda path, folder: path.stem,
    ]
    for key in keys:
        by_a, by_b = _unique(left_a, scan_a.folder, key), _unique(left_b, scan_b.folder, key)
        pairs += [(by_a[name], by_b[name]) for name in by_a.keys() & by_b.keys()]
        taken = {path for pair in pairs for path in pair}
        left_a = [path for path in left_a if path not in taken]
        left_b = [path for path in left_b if path not in taken]
    if not pairs:
        raise DataError(
            f"no image in {scan_a.folder} has a partner of the same name in {scan_b.folder} "
            f"(A has e.g. {_stems(scan_a)}; B has e.g. {_stems(scan_b)})"
        )
    stems_a, stems_b = Counter(p.stem for p in scan_a.usable), Counter(p.stem for p in scan_b.usable)
    unmatched = [(path, _why_alone(path, stems_b, scan_b.folder, scan_a.folder)) for path in left_a]
    unmatched += [(path, _why_alone(path, stems_a, scan_a.folder, scan_b.folder)) for path in left_b]
    if unmatched:
        log.warning("%d images have no partner of the same name: %s", len(unmatched),
                    ", ".join(str(path) for path, _ in unmatched[:4]))
    return sorted(pairs), unmatched


def _why_alone(path: Path, theirs: Counter[str], other: Path, folder: Path) -> str:
    # Left over with a namesake on the other side means several files share the name somewhere.
    if not theirs[path.stem]:
        return f"no image of the same name in {other}"
    crowded = other if theirs[path.stem] > 1 else folder
    return f"several images in {crowded} are named {path.stem!r}, so its partner is ambiguous"


def _unique(paths: list[Path], folder: Path, key: Callable[[Path, Path], str]) -> dict[str, Path]:
    groups: dict[str, list[Path]] = defaultdict(list)
    for path in paths:
        groups[key(path, folder)].append(path)
    return {name: found[0] for name, found in groups.items() if len(found) == 1}


def _stems(scan: FolderScan, limit: int = 3) -> str:
    return ", ".join(path.relative_to(scan.folder).with_suffix("").as_posix() for path in scan.usable[:limit])
