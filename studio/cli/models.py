"""``studio models ...``: list, inspect, import, export and remove models."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.core import report
from studio.core.errors import StudioError

from .progress import render

if TYPE_CHECKING:
    from studio.core.store import ModelStore


def register(sub: Any) -> None:
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
    p.add_argument("-o", "--output", required=True, help="file (or folder, for ONNX)")
    p.add_argument("--direction", choices=["a2b", "b2a"], help="ONNX: the translation direction (default a2b)")
    p.add_argument("--part", choices=["encoder", "decoder", "forward", "inverse"],
                   help="ONNX: the part of a VAE (encoder, decoder) or flow (forward, inverse); default the first")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_models_export)


def open_store() -> ModelStore:
    """The store, imported when a command runs: ``studio --help`` should not wait for torch."""
    from studio.core.store import ModelStore

    return ModelStore()


def cmd_models_list(args: argparse.Namespace) -> int:
    models = open_store().list()
    if args.json:
        print(json.dumps([m.summary() for m in models], indent=2))
        return 0
    if not models:
        print("no models yet: import one with `studio models import FILE`")
        return 0
    for line in report.columns(report.list_rows(models)):
        print(line)
    return 0


def cmd_models_show(args: argparse.Namespace) -> int:
    info = open_store().get(args.name)
    if args.json:
        print(json.dumps({**info.card, "path": str(info.path), "builtin": info.builtin}, indent=2))
        return 0
    for line in report.card_lines(info):
        print(line)
    return 0


def cmd_models_import(args: argparse.Namespace) -> int:
    info = open_store().import_file(args.path, name=args.name, pair=args.pair, kind=args.kind)
    print(f"imported {info.name} ({info.kind}; directions: {', '.join(info.directions())})")
    return 0


def cmd_models_remove(args: argparse.Namespace) -> int:
    store = open_store()
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
    if args.format == "safetensors":
        if args.direction or args.part:
            raise StudioError("--direction and --part are for --format onnx; a safetensors export holds the whole model")
        out = open_store().export_safetensors(args.name, Path(args.output))
        print(f"exported {args.name} to {out}")
        return 0
    from studio.core.export import export_onnx_job

    if args.direction and args.part:
        raise StudioError("give --direction (CycleGAN, pix2pix) or --part (VAE, flow), not both")
    done = render(export_onnx_job(args.name, args.output, args.direction or args.part), quiet=args.quiet)
    if done.get("cancelled"):
        return 1
    print(report.onnx_written(done))
    print(report.onnx_parity(done), file=sys.stderr if done["max_abs_diff"] is None else sys.stdout)
    return 0

