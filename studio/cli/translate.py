"""``studio translate``: photos and folders through a model, at their own size or the model's working size."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .models import open_store as _store
from .progress import render


def register(sub: Any) -> None:
    p = sub.add_parser("translate", help="translate photos or folders with a model (a spade model paints label maps)")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders (spade: label maps)")
    p.add_argument("-o", "--output", required=True, help="output file (one input file) or folder")
    p.add_argument("--model", required=True)
    p.add_argument("--direction", default="a2b", choices=["a2b", "b2a"])
    p.add_argument("--tile", type=int, default=None, help="tile size in pixels (0: never tile; default: automatic)")
    p.add_argument("--working-size", type=int, default=None, metavar="N",
                   help="translate at a short side of N px and bring back the photo's detail with a guided filter "
                        "(0: at the photo's own size; default: the model's working size, if its card has one)")
    p.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "fp16", "bf16"])
    p.add_argument("--dropout", action="store_true", help="keep dropout on, for variations (pix2pix)")
    p.add_argument("--seed", type=int, default=0, help="spade: the noise seed (another seed, another rendering)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_translate)


def cmd_translate(args: argparse.Namespace) -> int:
    from studio.core.translate import Translator, translate_job

    model = _store().load(args.model)
    if model.info.kind == "spade":
        return _paint(model, args)
    translator = Translator(model, args.direction, device=args.device, precision=args.precision, dropout=args.dropout,
                            working_size=args.working_size)
    summary = render(translate_job(translator, args.inputs, args.output, tile=args.tile), quiet=args.quiet)
    written, failed = summary.get("written", []), summary.get("failed", [])  # each failure was printed as it came
    print(f"translated {len(written)} file(s) with {model.info.name} ({args.direction})"
          + (f"; {len(failed)} failed" if failed else ""), file=sys.stderr)
    return 0 if not failed and written else 1



def _paint(model: Any, args: argparse.Namespace) -> int:
    """A spade model paints each label map at its own size."""
    from studio.core.paint.painter import Painter, paint_job

    painter = Painter(model, device=args.device)
    summary = render(paint_job(painter, args.inputs, args.output, seed=args.seed), quiet=args.quiet)
    written, failed = summary.get("written", []), summary.get("failed", [])
    print(f"painted {len(written)} label map(s) with {model.info.name} (seed {args.seed})"
          + (f"; {len(failed)} failed" if failed else ""), file=sys.stderr)
    return 0 if not failed and written else 1
