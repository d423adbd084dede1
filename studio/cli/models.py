"""``studio models ...``: list, inspect, install, import, export and remove models."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.core import report
from studio.core.errors import StudioError

from .progress import render

if TYPE_CHECKING:
    from studio.core.store import ModelStore


def register(sub: Any) -> None:
    models = sub.add_parser("models", help="list, inspect, install, import, copy, rename, export and remove models")
    msub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    p = msub.add_parser("list", help="list built-in and user models")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models_list)
    p = msub.add_parser("show", help="show a model's card")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models_show)
    p = msub.add_parser("available", help="the models Studio can install (the published reference models)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models_available)
    p = msub.add_parser("install", help="download and install models from the catalog (`studio models available`)")
    p.add_argument("names", nargs="+", metavar="NAME", help="catalog ids; both directions of a pair make one model")
    p.add_argument("--as", dest="local_name", metavar="LOCAL_NAME", help="name in the store (default: the id)")
    p.add_argument("--mirror", metavar="URL", help="base URL to download from (default: $STUDIO_MODEL_MIRROR, "
                   "else the reference's host)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_models_install)
    p = msub.add_parser("import", help="import a .safetensors export or a reference .pth generator (a path or URL)")
    p.add_argument("path", help="a file, or an http(s) URL to download first")
    p.add_argument("--name", help="name in the store (default: from the file or its folder)")
    p.add_argument("--pair", type=Path, help="the B→A generator of a CycleGAN (default: *_net_G_B next to *_net_G_A)")
    p.add_argument("--kind", choices=["cyclegan", "cut", "pix2pix"], help="override the detected model kind")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar (URL downloads)")
    p.set_defaults(func=cmd_models_import)
    p = msub.add_parser("remove", help="remove a user model")
    p.add_argument("name")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=cmd_models_remove)
    for action, text, func in (
            ("duplicate", "copy a model under a new name (a built-in one too), to change or fine-tune it",
             cmd_models_duplicate),
            ("rename", "rename a user model", cmd_models_rename)):
        p = msub.add_parser(action, help=text)
        p.add_argument("name")
        p.add_argument("new_name", metavar="NEW_NAME")
        p.set_defaults(func=func)
    p = msub.add_parser("set", help="change how a user model is used: its working scale")
    p.add_argument("name")
    p.add_argument("--working-size", type=int, required=True, metavar="PX",
                   help="translate photos larger than PX (short side) at PX and bring back their detail with a "
                        "guided filter; 0: at the photo's own size")
    p.set_defaults(func=cmd_models_set)
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


def cmd_models_available(args: argparse.Namespace) -> int:
    from studio.core.store import installed, load_catalog

    catalog = load_catalog()
    have = installed(open_store(), catalog)
    if args.json:
        print(json.dumps([report.catalog_record(e, have.get(e.id)) for e in catalog], indent=2, ensure_ascii=False))
        return 0
    for line in report.columns(report.catalog_rows(catalog, have)):
        print(line)
    print("install with `studio models install ID...`; both directions of a pair make one model")
    return 0


def cmd_models_install(args: argparse.Namespace) -> int:
    from studio.core.store import install_job

    job = iter(install_job(args.names, store=open_store(), mirror=args.mirror, local_name=args.local_name))
    done = _render_cancellable(job, args.quiet, failed="could not install")
    if done is None:
        return 130
    for name in done["installed"]:
        print(f"installed {name}")
    if done["cancelled"]:
        print("cancelled", file=sys.stderr)
        return 130
    return 1 if done["failed"] else 0


def cmd_models_import(args: argparse.Namespace) -> int:
    path: str | Path = args.path
    if args.path.startswith(("http://", "https://")):
        from studio.core.store import download_job, downloads_dir, file_name_for

        path = _render_cancellable(iter(download_job(args.path, downloads_dir() / file_name_for(args.path))),
                                   args.quiet)
        if path is None:
            return 130
        try:
            info = open_store().import_file(path, name=args.name, pair=args.pair, kind=args.kind)
        except StudioError:
            Path(path).unlink(missing_ok=True)  # not a model: keeping it would only be reused next time
            Path(f"{path}.json").unlink(missing_ok=True)
            raise
        print(f"imported {info.name} ({info.kind}; directions: {', '.join(info.directions())})")
        return 0
    info = open_store().import_file(path, name=args.name, pair=args.pair, kind=args.kind)
    print(f"imported {info.name} ({info.kind}; directions: {', '.join(info.directions())})")
    return 0


def _render_cancellable(job: Iterator[Any], quiet: bool, failed: str = "skipped") -> Any:
    """Render ``job``; on Ctrl+C close it at once (its clean-up removes a partial download), say so
    and return None."""
    try:
        return render(job, quiet=quiet, failed=failed)
    except KeyboardInterrupt:
        close = getattr(job, "close", None)
        if close is not None:
            close()
        print("\ncancelled: nothing was installed and no partial download was kept", file=sys.stderr)
        return None


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


def cmd_models_duplicate(args: argparse.Namespace) -> int:
    info = open_store().duplicate(args.name, args.new_name)
    print(f"copied {args.name!r} to {info.name!r}")
    return 0


def cmd_models_rename(args: argparse.Namespace) -> int:
    info = open_store().rename(args.name, args.new_name)
    print(f"renamed {args.name!r} to {info.name!r}")
    return 0


def cmd_models_set(args: argparse.Namespace) -> int:
    from studio.core.translate.guided import WorkingScale

    store = open_store()
    info = store.get(args.name)
    if info.kind not in ("cyclegan", "cut", "pix2pix"):
        raise StudioError(f"{info.name!r} is a {info.kind} model; a working scale is for translators")
    scale = None
    if args.working_size:  # under 16 px is one error line; the card's own filter settings are kept
        old = WorkingScale.from_card(info.card)
        scale = WorkingScale(args.working_size, *((old.radius, old.eps) if old else ()))
    store.update_card(info.name, {"working_scale": scale.to_card() if scale else None})
    print(f"{info.name}: " + (scale.describe() if scale else "translated at the photo's own size"))
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

