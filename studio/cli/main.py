"""``studio ...``: everything the window does, on a terminal. One module per command group."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from studio import __version__
from studio.core.errors import StudioError

from . import eval as eval_cmd
from . import latent, models, paint, train, translate


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="studio", description="Image-translation studio: translate, train, explore latents.")
    parser.add_argument("--version", action="version", version=f"studio {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    parser.add_argument("--self-test", metavar="DIR", type=Path,
                        help="open the app, go through every panel, save screenshots into DIR, exit 0 if all worked")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    models.register(sub)
    translate.register(sub)
    train.register(sub)
    eval_cmd.register(sub)
    bench = sub.add_parser("bench", help="benchmarks that print figures")
    bsub = bench.add_subparsers(dest="bench_command", metavar="WHAT", required=True)
    train.register_bench(bsub)
    latent.register_bench(bsub)
    paint.register_bench(bsub)
    latent.register(sub)
    paint.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    if args.self_test is not None:
        from studio.gui.selftest import run_self_test

        return run_self_test(args.self_test)
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
    except BrokenPipeError:  # `studio models list | head`
        sys.stderr.close()
        return 0


def _setup_logging(verbose: bool) -> None:
    """The terminal shows warnings (everything with -v); file handlers, e.g. a run's log, get INFO."""
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.INFO if verbose else logging.WARNING)
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(console)
    root.setLevel(logging.INFO)


def _open_app(parser: argparse.ArgumentParser) -> int:
    try:
        from studio.gui.app import run_app
    except ImportError:
        parser.print_help()
        print("\nThe desktop app is not part of this build yet; use the commands above.", file=sys.stderr)
        return 0
    return run_app()

