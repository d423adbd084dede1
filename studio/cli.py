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

    def update(self, done: int, total: int, message: str = "", part: float = 0.0) -> None:
        """``done`` of ``total`` items, and ``part`` (0..1) of the next one when it reports its own progress."""
        now = time.monotonic()
        if not self.tty and done != total and now - self._last_line < 5:
            return
        if self.tty and done != total and now - self._last_line < 0.1:
            return  # a tiled photo reports every tile; redrawing faster than this is only noise
        self._last_line = now
        position = min(done + part, total)
        frac = position / total if total else 1.0
        filled = int(round(self.width * frac))
        elapsed = now - self.started
        eta = f" ETA {_duration(elapsed / position * (total - position))}" if 0 < position < total else ""
        within = f" ({part:.0%} of this one)" if part else ""
        line = (f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} {_duration(elapsed)}{eta} "
                f"{message}{within}")
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
            data = event.data
            bar.update(data["done"], data["total"], data.get("message", ""), data.get("part", 0.0))
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
    if args.format == "safetensors":
        if args.direction or args.part:
            raise StudioError("--direction and --part are for --format onnx; a safetensors export holds the whole model")
        out = _store().export_safetensors(args.name, Path(args.output))
        print(f"exported {args.name} to {out}")
        return 0
    from .core.export import export_onnx_job

    if args.direction and args.part:
        raise StudioError("give --direction (CycleGAN, pix2pix) or --part (VAE, flow), not both")
    done = render(export_onnx_job(args.name, args.output, args.direction or args.part), quiet=args.quiet)
    if done.get("cancelled"):
        return 1
    print(f"exported {done['model']} {done['part']} to {done['path']} (ONNX opset {done['opset']}, "
          f"{done['bytes'] / 1e6:.1f} MB; onnx.checker passed)")
    if done["max_abs_diff"] is None:
        print(f"not verified: {done['note']}", file=sys.stderr)
    else:
        shapes = ", ".join("×".join(map(str, s[0])) for s in done["checked_shapes"])
        print(f"{done['verified_with']} vs PyTorch on {shapes}: max abs diff {done['max_abs_diff']:.2e} "
              f"(tolerance {done['tolerance']:g})")
    return 0


def cmd_translate(args: argparse.Namespace) -> int:
    from .core.translate import Translator, translate_job

    model = _store().load(args.model)
    translator = Translator(model, args.direction, device=args.device, precision=args.precision, dropout=args.dropout)
    summary = render(translate_job(translator, args.inputs, args.output, tile=args.tile), quiet=args.quiet)
    written, failed = summary.get("written", []), summary.get("failed", [])  # each failure was printed as it came
    print(f"translated {len(written)} file(s) with {model.info.name} ({args.direction})"
          + (f"; {len(failed)} failed" if failed else ""), file=sys.stderr)
    return 0 if not failed and written else 1


def _train_overrides(args: argparse.Namespace) -> dict[str, Any]:
    def folder(value: str | None) -> str | None:
        return str(Path(value).expanduser().resolve()) if value else None

    over: dict[str, Any] = {
        "dir_a": folder(args.a or args.images), "dir_b": folder(args.b), "pairs": folder(args.pairs), "crop_size": args.size,
        "load_size": args.load_size, "preprocess": args.preprocess, "max_steps": args.max_steps,
        "checkpoint_every": args.checkpoint_every, "preview_every": args.preview_every, "from_model": args.from_model,
        "device": args.device, "lr": args.lr, "batch_size": args.batch_size, "gan_mode": args.gan_mode,
        "lambda_identity": args.lambda_identity, "lambda_l1": args.lambda_l1, "pool_size": args.pool_size, "beta": args.beta,
        "seed": args.seed, "workers": args.workers, "n_epochs": args.n_epochs, "n_epochs_decay": args.n_epochs_decay,
    }
    if args.lambda_cycle is not None:
        over["lambda_a"] = over["lambda_b"] = args.lambda_cycle
    if args.epochs is not None:
        over["n_epochs"] = (args.epochs + 1) // 2
        over["n_epochs_decay"] = args.epochs // 2
    if args.no_flip:
        over["flip"] = False
    if args.keep_discriminators:
        over["keep_discriminators"] = True
    if args.no_amp:
        over["amp"] = False
    if args.from_model and args.lr is None:
        over["lr"] = 5e-5  # fine-tuning: a quarter of the reference's rate
    return over


def cmd_train(args: argparse.Namespace) -> int:
    from .core.train.config import preset
    from .core.train.job import train_job

    if args.resume:
        events = train_job(resume=args.resume)
    else:
        if not args.kind or not args.name:
            raise StudioError("say what to train: studio train cyclegan|pix2pix|vae|flow ... --name NAME "
                              "(or --resume NAME)")
        config = preset(args.kind, args.name, args.preset, **_train_overrides(args))
        events = train_job(config)
    summary = render(_train_events(events, args.quiet), quiet=args.quiet)
    if summary.get("cancelled"):
        print(f"stopped at step {summary['step']}; resume with: studio train --resume {summary['run']}", file=sys.stderr)
        return 1
    if summary.get("model"):
        print(f"trained {summary['step']} steps; model {summary['model']!r} is in the store", file=sys.stderr)
    return 0


def _train_events(events: Iterable[Event], quiet: bool) -> Iterable[Event]:
    """Show the latest losses next to the progress bar, and preview/checkpoint paths in the log."""
    latest = ""
    for event in events:
        if event.kind == "losses":
            latest = " ".join(f"{k}={v:.3f}" for k, v in event.data["values"].items())
        elif event.kind == "progress":
            rate = event.data.get("it_per_s")
            speed = f"{rate:.2f} it/s " if rate else ""
            event.data["message"] = f"{event.data.get('message', '')} {speed}{latest}".strip()
        elif event.kind == "log" and not quiet:
            print(f"\r\033[K{event.data['message']}" if sys.stderr.isatty() else event.data["message"], file=sys.stderr)
            continue
        elif event.kind == "checkpoint":
            log.info("checkpoint at step %s: %s", event.data["step"], event.data["path"])
        yield event


def cmd_runs_list(args: argparse.Namespace) -> int:
    from .core.train.job import list_runs

    runs = list_runs()
    if args.json:
        print(json.dumps(runs, indent=2))
        return 0
    if not runs:
        print("no training runs yet")
        return 0
    for r in runs:
        extra = " (resumable: studio train --resume {})".format(r["name"]) if r.get("resumable") else ""
        model = f" -> model {r['model']}" if r.get("model") else ""
        print(f"{r['name']:<24} {r.get('kind', '?'):<9} {r.get('state', '?'):<12} "
              f"step {r.get('step', 0)}/{r.get('total_steps', '?')}{model}{extra}")
    return 0


def cmd_runs_show(args: argparse.Namespace) -> int:
    from .core.train.job import read_run, run_dir

    folder = run_dir(args.name)
    if not (folder / "run.json").exists():
        raise StudioError(f"no run named {args.name!r}")
    status = read_run(folder)
    losses = folder / "losses.jsonl"
    if losses.exists():
        lines = losses.read_text(encoding="utf-8").splitlines()
        if lines:
            status["last_losses"] = json.loads(lines[-1])
    status["folder"] = str(folder)
    print(json.dumps(status, indent=2))
    return 0


def cmd_bench_train(args: argparse.Namespace) -> int:
    from .core import device as devices
    from .core.train.bench import interleaved_seconds, plain_reference_step, studio_step

    device = devices.pick_device(args.device)
    print(f"device: {devices.describe(device)}; {args.kind} at {args.size} px, median of {args.steps} steps "
          f"after {args.warmup} warm-up", file=sys.stderr)
    contenders = {"studio": studio_step(args.kind, args.preset, args.size, device)}
    if args.baseline:
        contenders["plain_reference"] = plain_reference_step(args.kind, args.size, device)
    if args.compare_preset:
        contenders["studio_" + args.compare_preset] = studio_step(args.kind, args.compare_preset, args.size, device)
    seconds = interleaved_seconds(contenders, args.steps, args.warmup, device)
    ours = seconds.pop("studio")
    for name, value in seconds.items():
        print(f"{name}_seconds_per_step: {value:.4f}")
        print(f"ratio_{name}_over_{args.preset}: {value / ours:.2f}")
    print(f"seconds_per_step: {ours:.4f}")
    return 0


# -- parser --------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="studio", description="Image-translation studio: translate, train, explore latents.")
    parser.add_argument("--version", action="version", version=f"studio {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    parser.add_argument("--self-test", metavar="DIR", type=Path,
                        help="open the app, go through every panel, save screenshots into DIR, exit 0 if all worked")
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
    p.add_argument("-o", "--output", required=True, help="file (or folder, for ONNX)")
    p.add_argument("--direction", choices=["a2b", "b2a"], help="ONNX: the translation direction (default a2b)")
    p.add_argument("--part", choices=["encoder", "decoder", "forward", "inverse"],
                   help="ONNX: the part of a VAE (encoder, decoder) or flow (forward, inverse); default the first")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
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

    p = sub.add_parser("train", help="train or fine-tune a model on your folders, or resume a run")
    p.add_argument("kind", nargs="?", choices=["cyclegan", "pix2pix", "vae", "flow"])
    p.add_argument("--resume", metavar="NAME", help="resume an interrupted run")
    p.add_argument("--name", help="name of the run and of the model it publishes")
    p.add_argument("--a", metavar="DIR", help="folder of domain A images (searched recursively)")
    p.add_argument("--b", metavar="DIR", help="folder of domain B images")
    p.add_argument("--pairs", metavar="DIR", help="pix2pix: one folder of side-by-side AB images")
    p.add_argument("--images", metavar="DIR", help="vae / flow: the folder of images to model")
    p.add_argument("--preset", default="reference", choices=["reference", "fast"],
                   help="reference: the reference implementation's defaults; fast: a light model for CPUs")
    p.add_argument("--size", type=int, help="training crop size (reference 256, fast 128)")
    p.add_argument("--load-size", type=int, help="resize before cropping (default: size × 286/256)")
    p.add_argument("--preprocess", choices=["resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none"])
    p.add_argument("--no-flip", action="store_true", help="no random horizontal flips")
    p.add_argument("--epochs", type=int, help="total epochs: half at the initial rate, half decaying")
    p.add_argument("--n-epochs", type=int, help="epochs at the initial learning rate (reference: 100)")
    p.add_argument("--n-epochs-decay", type=int, help="epochs of linear decay (reference: 100)")
    p.add_argument("--max-steps", type=int, help="stop after this many steps (the schedule is fitted to it)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float, help="learning rate (2e-4; 5e-5 when fine-tuning)")
    p.add_argument("--gan-mode", choices=["lsgan", "vanilla", "wgangp"])
    p.add_argument("--lambda-cycle", type=float, help="CycleGAN cycle-consistency weight (10)")
    p.add_argument("--lambda-identity", type=float, help="CycleGAN identity weight, times the cycle weight (0.5)")
    p.add_argument("--lambda-l1", type=float, help="pix2pix L1 weight (100)")
    p.add_argument("--beta", type=float, help="VAE: weight of the KL term (1: the plain ELBO; >1: a smoother latent space)")
    p.add_argument("--pool-size", type=int, help="fake-image history per discriminator (CycleGAN 50)")
    p.add_argument("--seed", type=int)
    p.add_argument("--checkpoint-every", type=int, metavar="STEPS")
    p.add_argument("--preview-every", type=int, metavar="STEPS")
    p.add_argument("--from", dest="from_model", metavar="MODEL", help="fine-tune from a model in the store")
    p.add_argument("--keep-discriminators", action="store_true",
                   help="with --from: also start from the discriminators of the run that made MODEL")
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA")
    p.add_argument("--workers", type=int, help="data-loading worker processes (default: automatic)")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_train)

    runs = sub.add_parser("runs", help="training runs: list and inspect")
    rsub = runs.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    p = rsub.add_parser("list", help="all runs, newest first")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_runs_list)
    p = rsub.add_parser("show", help="one run's state")
    p.add_argument("name")
    p.set_defaults(func=cmd_runs_show)

    from .cli_eval import register as register_eval

    register_eval(sub)

    bench = sub.add_parser("bench", help="benchmarks that print figures")
    bsub = bench.add_subparsers(dest="bench_command", metavar="WHAT", required=True)
    p = bsub.add_parser("train", help="seconds per training step on synthetic input")
    p.add_argument("--kind", default="cyclegan", choices=["cyclegan", "pix2pix"])
    p.add_argument("--preset", default="reference", choices=["reference", "fast"])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--device")
    p.add_argument("--baseline", action="store_true", help="also time the plain eager reference step, interleaved")
    p.add_argument("--compare-preset", choices=["reference", "fast"], help="also time another preset, interleaved")
    p.set_defaults(func=cmd_bench_train)

    from .cli_latent import register as register_latent
    from .cli_latent import register_bench as register_latent_bench

    register_latent_bench(bsub)
    register_latent(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    if args.self_test is not None:
        from .gui.selftest import run_self_test

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
        from .gui.app import run_app
    except ImportError:
        parser.print_help()
        print("\nThe desktop app is not part of this build yet; use the commands above.", file=sys.stderr)
        return 0
    return run_app()
