"""``studio paint``: a photo's label map in a spade model's classes, to start a painting from, and
``studio bench paint``: how quickly a stroke shows its picture."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .models import open_store as _store


def register(sub: Any) -> None:
    p = sub.add_parser("paint", help="label maps for painting with a spade model")
    psub = p.add_subparsers(dest="paint_command", required=True)
    s = psub.add_parser("segment", help="a photo's label map in the model's classes (models trained with --classes)")
    s.add_argument("photo", help="the photo")
    s.add_argument("--model", required=True, help="a spade model trained on photos alone")
    s.add_argument("-o", "--output", required=True, help="the label map: an indexed PNG with the model's palette")
    s.set_defaults(func=cmd_segment)
    c = psub.add_parser("classes", help="the classes a spade model paints: index, name, colour")
    c.add_argument("--model", required=True)
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_classes)


def register_bench(bsub: Any) -> None:
    p = bsub.add_parser("paint", help="stroke-to-picture latency of a spade model (the Paint panel's live update)")
    p.add_argument("--model", default="photo painter", help="the spade model (default: the built-in photo painter)")
    p.add_argument("--size", type=int, default=256, help="the painting's side in pixels (default 256)")
    p.add_argument("--strokes", type=int, default=30, help="strokes timed (default 30)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench_paint)


def cmd_segment(args: argparse.Namespace) -> int:
    from studio.core.paint import write_label_map
    from studio.core.paint.painter import Painter

    painter = Painter(_store().load(args.model), device="cpu")
    labels = painter.segment_file(args.photo)
    out = write_label_map(Path(args.output), labels, painter.palette)  # type: ignore[arg-type]
    used = sorted(set(labels.ravel().tolist()))
    names = ", ".join(painter.palette.names[i] for i in used)  # type: ignore[union-attr]
    print(f"wrote {out} ({labels.shape[1]}×{labels.shape[0]}, {len(used)} of {painter.classes} classes: {names})",
          file=sys.stderr)
    return 0


def cmd_classes(args: argparse.Namespace) -> int:
    from studio.core.paint.painter import Painter

    painter = Painter(_store().load(args.model), device="cpu")
    assert painter.palette is not None
    if args.json:
        print(json.dumps(painter.palette.to_card(), indent=1))
    else:
        for i, c in enumerate(painter.palette.classes):
            print(f"{i:3d}  {c.hex}  {c.name}")
    return 0


def cmd_bench_paint(args: argparse.Namespace) -> int:
    from studio.core.paint.latency import stroke_latency

    results = stroke_latency(_store(), args.model, size=args.size, strokes=args.strokes, threads=args.threads,
                             report=lambda line: print(line, file=sys.stderr))
    if args.json:
        print(json.dumps(results, indent=2))
    return 0
