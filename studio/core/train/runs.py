"""Run folders: where a run lives and what state it is in.

Every run lives in ``STUDIO_HOME/runs/<name>/``: ``checkpoint.pt`` (all networks, optimisers,
step, RNG states, history pools, config), ``run.json`` (its state for listings), ``losses.jsonl``,
``samples/`` (previews) and ``log.txt``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any

from studio.core import paths
from studio.core.errors import StudioError


class RunError(StudioError):
    """A run cannot be started or resumed."""


def run_dir(name: str) -> Path:
    return paths.runs_dir() / name


def read_run(folder: Path) -> dict[str, Any]:
    """A run's status, with ``interrupted`` for a run whose process died without saying so."""
    try:
        status = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {"name": folder.name, "state": "unknown"}
    if status.get("state") in ("running", "paused") and not _alive(status.get("pid")):
        status["state"] = "interrupted"
    status["resumable"] = status.get("state") in ("interrupted", "cancelled") and (folder / "checkpoint.pt").exists()
    return status


def list_runs() -> list[dict[str, Any]]:
    root = paths.runs_dir()
    if not root.is_dir():
        return []
    runs = [read_run(p) for p in sorted(root.iterdir()) if (p / "run.json").exists()]
    return sorted(runs, key=lambda r: r.get("updated", ""), reverse=True)


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int):
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def now() -> str:
    """The time for run.json and cards: UTC, to the second."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
