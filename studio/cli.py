"""``studio ...``: everything the window does, on a terminal. Renders engine jobs as progress bars."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

from . import __version__
from .core.errors import StudioError
from .core.jobs import Event

log = logging.getLogger("studio")


class ProgressBar:
    """A one-line progress bar on a terminal; plain periodic lines when output is not a terminal."""

    def __init__(self, stream: TextIO | None = None, width: int = 30):
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = self.stream.isatty()
        self.started = time.monotonic()
        self._last_line = 0.0

    def update(self, done: int, total: int, message: str = "") -> None:
        now = time.monotonic()
        if not self.tty and done != total and now - self._last_line < 5:
            return
        self._last_line = now
        frac = done / total if total else 1.0
        filled = int(round(self.width * frac))
        elapsed = now - self.started
        eta = f" ETA {_duration(elapsed / done * (total - done))}" if 0 < done < total else ""
        line = f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} {_duration(elapsed)}{eta} {message}"
        if self.tty:
            self.stream.write("\r\033[K" + line[:200])
            if done >= total:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def clear(self) -> None:
        if self.tty:
            self.stream.write("\r\033[K")


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m"


def render(events: Iterable[Event], quiet: bool = False) -> dict[str, Any]:
    """Drive a job to its end, drawing progress; return the data of its ``finished`` event."""
    bar = None if quiet else ProgressBar()
    summary: dict[str, Any] = {}
    for event in events:
        if event.kind == "progress" and bar is not None:
            bar.update(event.data["done"], event.data["total"], event.data.get("message", ""))
        elif event.kind == "item" and "error" in event.data:
            if bar is not None:
                bar.clear()
            print(f"skipped {event.data['path']}: {event.data['error']}", file=sys.stderr)
        elif event.kind == "log":
            log.log(logging.getLevelName(event.data.get("level", "info").upper()), event.data["message"])
        elif event.kind == "finished":
            summary = event.data
        elif event.kind == "failed":
            raise StudioError(str(event.data.get("error")))
    return summary


# -- commands ------------------------------------------------------------------------------------

def _store():
    from .core.store import ModelStore

    return ModelStore()


def cmd_models_list(args: argparse.Namespace) -> int:
    models = _store().list()
    if args.json:
        print(json.dumps([m.summary() for m in models], indent=2))
        return 0
    if not models:
        print("no models yet: import one with `studio models import FILE`")
        return 0
    rows = [("NAME", "KIND", "DOMAINS", "DIRECTIONS", "SIZE", "WHERE")]
    for m in models:
        rows.append((
            m.name, m.kind, f"{m.domains.get('A', 'A')} ↔ {m.domains.get('B', 'B')}",
            ",".join(m.directions()) or "-", f"{m.size_bytes / 1e6:.1f} MB", "built-in" if m.builtin else "user",
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return 0


def cmd_models_show(args: argparse.Namespace) -> int:
    info = _store().get(args.name)
    if args.json:
        print(json.dumps({**info.card, "path": str(info.path), "builtin": info.builtin}, indent=2))
        return 0
    card = info.card
    print(f"{info.name}  ({card['kind']}, {'built-in' if info.builtin else 'user'} model)")
    print(f"  folder:     {info.path}")
    print(f"  domains:    A = {info.domains.get('A')}, B = {info.domains.get('B')}")
    print(f"  image size: {card.get('image_size')}")
    print(f"  created:    {card.get('created', '?')}")
    for role, spec in card["networks"].items():
        params = ", ".join(f"{k}={v}" for k, v in spec["params"].items())
        print(f"  {role:<10}  {spec['arch']}({params})")
    if card.get("description"):
        print(f"  about:      {card['description']}")
    for section in ("provenance", "metrics"):
        if card.get(section):
            print(f"  {section}:")
            for line in json.dumps(card[section], indent=2).splitlines()[1:-1]:
                print(f"  {line}")
    return 0


def cmd_models_import(args: argparse.Namespace) -> int:
    info = _store().import_file(args.path, name=args.name, pair=args.pair, kind=args.kind)
    print(f"imported {info.name} ({info.kind}; directions: {', '.join(info.directions())})")
    return 0


def cmd_models_remove(args: argparse.Namespace) -> int:
    store = _store()
    info = store.get(args.name)
    if not args.yes and sys.stdin.isatty():
        answer = input(f"remove model {info.name!r} ({info.path})? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing removed")
            return 1
    store.remove(args.name)
    print(f"removed {args.name}")
    return 0


def cmd_models_export(args: argparse.Namespace) -> int:
    if args.format != "safetensors":
        raise StudioError(f"export format {args.format!r} is not available yet (available: safetensors)")
    out = _store().export_safetensors(args.name, Path(args.output))
    print(f"exported {args.name} to {out}")
    return 0


def cmd_translate(args: argparse.Namespace) -> int:
    from .core.translate import Translator, translate_job

    model = _store().load(args.model)
    translator = Translator(model, args.direction, device=args.device, precision=args.precision, dropout=args.dropout)
    summary = render(translate_job(translator, args.inputs, args.output, tile=args.tile), quiet=args.quiet)
    written, failed = summary.get("written", []), summary.get("failed", [])
    for path, reason in failed:
        print(f"failed: {path}: {reason}", file=sys.stderr)
    print(f"translated {len(written)} file(s) with {model.info.name} ({args.direction})"
          + (f"; {len(failed)} failed" if failed else ""), file=sys.stderr)
    return 0 if not failed and written else 1


# -- parser --------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="studio", description="Image-translation studio: translate, train, explore latents.")
    parser.add_argument("--version", action="version", version=f"studio {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    models = sub.add_parser("models", help="list, inspect, import, export and remove models")
    msub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    p = msub.add_parser("list", help="list built-in and user models")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models_list)
    p = msub.add_parser("show", help="show a model's card")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models_show)
    p = msub.add_parser("import", help="import a .safetensors export or a reference .pth generator")
    p.add_argument("path", type=Path)
    p.add_argument("--name", help="name in the store (default: from the file or its folder)")
    p.add_argument("--pair", type=Path, help="the B→A generator of a CycleGAN (default: *_net_G_B next to *_net_G_A)")
    p.add_argument("--kind", choices=["cyclegan", "pix2pix"], help="override the detected model kind")
    p.set_defaults(func=cmd_models_import)
    p = msub.add_parser("remove", help="remove a user model")
    p.add_argument("name")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=cmd_models_remove)
    p = msub.add_parser("export", help="export a model to a single file")
    p.add_argument("name")
    p.add_argument("--format", default="safetensors", choices=["safetensors", "onnx"])
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=cmd_models_export)

    p = sub.add_parser("translate", help="translate photos or folders with a model")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    p.add_argument("-o", "--output", required=True, help="output file (one input file) or folder")
    p.add_argument("--model", required=True)
    p.add_argument("--direction", default="a2b", choices=["a2b", "b2a"])
    p.add_argument("--tile", type=int, default=None, help="tile size in pixels (0: never tile; default: automatic)")
    p.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "fp16", "bf16"])
    p.add_argument("--dropout", action="store_true", help="keep dropout on, for variations (pix2pix)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_translate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.command is None:
        return _open_app(parser)
    try:
        return args.func(args)
    except StudioError as exc:
        print(f"studio: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("studio: interrupted", file=sys.stderr)
        return 130


def _open_app(parser: argparse.ArgumentParser) -> int:
    try:
        from .gui.app import run_app  # noqa: PLC0415 - the GUI is optional until it exists
    except ImportError:
        parser.print_help()
        print("\nThe desktop app is not part of this build yet; use the commands above.", file=sys.stderr)
        return 0
    return run_app()
