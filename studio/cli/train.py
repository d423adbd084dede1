"""``studio train``, ``studio runs`` and ``studio bench train``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from studio.core.errors import StudioError
from studio.core.jobs import Event, Log, Losses, Progress

from .progress import render

# studio.core.train.kinds.KINDS but distill (`studio distill`), spelled out so that parsing the command
# line does not import torch (tests/test_cut.py checks that the two agree).
TRAIN_KINDS = ("cyclegan", "cut", "pix2pix", "vae", "ae", "flow", "dcgan", "pixelcnn", "spade")


def register(sub: Any) -> None:
    p = sub.add_parser("train", help="train or fine-tune a model on your folders, or resume a run")
    p.add_argument("kind", nargs="?", choices=TRAIN_KINDS)
    p.add_argument("--resume", metavar="NAME", help="resume an interrupted run")
    p.add_argument("--name", help="name of the run and of the model it publishes")
    p.add_argument("--a", metavar="DIR", help="folder of domain A images (searched recursively)")
    p.add_argument("--b", metavar="DIR", help="folder of domain B images")
    p.add_argument("--pairs", metavar="DIR", help="pix2pix: one folder of side-by-side AB images")
    p.add_argument("--images", metavar="DIR", help="vae / ae / flow / pixelcnn: the folder of images to model")
    p.add_argument("--labels", metavar="DIR", help="spade: label maps (indexed PNGs, or colour-coded with a "
                                                    "palette.json), named as the photos")
    p.add_argument("--photos", metavar="DIR", help="spade: the photos the label maps describe")
    p.add_argument("--classes", type=int, metavar="K",
                   help="spade without --labels: segment the photos into K classes automatically (2-32)")
    p.add_argument("--palette", metavar="FILE", help="spade: the palette.json of colour-coded label maps "
                                                     "(default: the one in the labels folder)")
    p.add_argument("--lambda-fm", type=float, help="spade: discriminator feature-matching weight (10)")
    p.add_argument("--lambda-ms", type=float, help="spade with noise: mode-seeking weight, so seeds vary the picture "
                                                   "(fast 1, reference 0)")
    p.add_argument("--preset", default="reference", choices=["reference", "fast"],
                   help="reference: the reference implementation's defaults; fast: a light model for CPUs")
    p.add_argument("--size", type=int, help="training crop size (reference 256, fast 128; latent models: the "
                                            "image size, pixelcnn 16 or 32)")
    p.add_argument("--load-size", type=int, help="resize before cropping (default: size × 286/256)")
    p.add_argument("--preprocess", choices=["resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none"])
    p.add_argument("--no-flip", action="store_true", help="no random horizontal flips")
    p.add_argument("--epochs", type=int, help="total epochs: half at the initial rate, half decaying")
    p.add_argument("--n-epochs", type=int, help="epochs at the initial learning rate (reference: 100)")
    p.add_argument("--n-epochs-decay", type=int, help="epochs of linear decay (reference: 100)")
    p.add_argument("--max-steps", type=int, help="stop after this many steps (the schedule is fitted to it)")
    p.add_argument("--minutes", type=float,
                   help="a budget of training time: the steps (and the schedule) are fitted to it after the first few")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float, help="learning rate (2e-4; 5e-5 when fine-tuning)")
    p.add_argument("--gan-mode", choices=["lsgan", "vanilla", "wgangp", "hinge"])
    p.add_argument("--lambda-cycle", type=float, help="CycleGAN cycle-consistency weight (10)")
    p.add_argument("--lambda-identity", type=float, help="CycleGAN identity weight, times the cycle weight (0.5)")
    p.add_argument("--cycle-noise", type=float, help="CycleGAN: noise (std, images in [-1, 1]) added to a translation "
                                                     "before it goes back, so no detail hides in grain (0: off)")
    p.add_argument("--ema", type=float, metavar="DECAY",
                   help="GAN translators: previews and the model use the generators' weights averaged over the "
                        "steps with this decay a step (0.999 typical; 0: the last step's weights, as the reference)")
    p.add_argument("--lambda-l1", type=float, help="pix2pix L1 weight (100)")
    p.add_argument("--lambda-gan", type=float, help="pix2pix GAN weight (1; 0: L1 alone, no discriminator: "
                                                    "faster, no invented texture, but blurrier where the answer is uncertain)")
    p.add_argument("--beta", type=float, help="VAE: weight of the KL term (1: the plain ELBO; >1: a smoother latent space)")
    p.add_argument("--denoise", type=float, metavar="SIGMA",
                   help="autoencoder: corrupt its inputs with Gaussian noise of this σ (pixels in [-1, 1]; 0.1-0.3 "
                        "typical) and learn to give back the clean image (a denoising autoencoder)")
    p.add_argument("--pool-size", type=int, help="fake-image history per discriminator (CycleGAN 50; DCGAN 0: "
                                                 "a history against mode collapse)")
    p.add_argument("--minibatch-std", action="store_true", default=None,
                   help="DCGAN: the discriminator also sees how much the images of a batch differ (against mode "
                        "collapse)")
    p.add_argument("--variant", choices=["cut", "fastcut"],
                   help="cut: cut (PatchNCE λ 1 with an identity term) or fastcut (λ 10, no identity term, "
                        "flip equivariance; about twice as fast)")
    p.add_argument("--lambda-nce", type=float, help="CUT: PatchNCE weight (cut 1, fastcut 10)")
    p.add_argument("--num-patches", type=int, help="CUT: patches compared per layer and image (256)")
    p.add_argument("--nce-pixels", action=argparse.BooleanOptionalAction, default=None,
                   help="CUT: PatchNCE also on the raw pixels, as CUT's paper does (default: on; off lets colours "
                        "change more freely, and let FastCUT collapse to one colour in a benchmark)")
    aug = p.add_mutually_exclusive_group()
    aug.add_argument("--augment", metavar="POLICY",
                     help="GANs: DiffAugment of what the discriminators see, a comma list of color, translation, "
                          "cutout (color,translation,cutout: all three; helps folders of tens to hundreds of images)")
    aug.add_argument("--no-augment", action="store_true", help="GANs: no augmentation for the discriminators")
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

    p = sub.add_parser("distill", help="make a fast copy of a translator: a light model trained on your photos "
                                       "to reproduce it")
    p.add_argument("model", help="the translator to copy (the teacher), by name")
    p.add_argument("--photos", metavar="DIR", required=True,
                   help="a folder of your photos (searched recursively); a tenth is held out to measure the copy")
    p.add_argument("--name", required=True, help="name of the run and of the fast copy")
    p.add_argument("--direction", default="a2b", choices=["a2b", "b2a"], help="the teacher's direction to copy")
    p.add_argument("--preset", default="fast", choices=["fast", "reference"],
                   help="fast: the light generator (default); reference: a reference-size ResNet")
    p.add_argument("--size", type=int, help="training crop size (fast 256: nearly whole photos)")
    p.add_argument("--short-side", type=int, metavar="PX",
                   help="photos are brought down to this short side for the teacher (fast 286, reference 512)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--max-steps", type=int, help="stop after this many steps")
    budget.add_argument("--minutes", type=float, help="a budget of training time (the steps are fitted to it)")
    p.add_argument("--from", dest="from_model", metavar="STUDENT", help="go on training an earlier copy")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float, help="learning rate (1e-3)")
    p.add_argument("--lambda-l1", type=float, help="weight of the L1 to the teacher's output (1)")
    p.add_argument("--lambda-ssim", type=float, help="weight of 1 - SSIM to the teacher's output")
    p.add_argument("--lambda-feat", type=float,
                   help="weight of the L1 between the teacher's own encoder features of both outputs (ResNet teachers)")
    p.add_argument("--seed", type=int)
    p.add_argument("--checkpoint-every", type=int, metavar="STEPS")
    p.add_argument("--preview-every", type=int, metavar="STEPS")
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--workers", type=int, help="data-loading worker processes (default: automatic)")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_distill)

    p = sub.add_parser("job-worker", help="(for the window) run a training job in this process, events on stdout")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--nice", type=int, default=0)
    p.set_defaults(func=cmd_job_worker)

    runs = sub.add_parser("runs", help="training runs: list and inspect")
    rsub = runs.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    p = rsub.add_parser("list", help="all runs, newest first")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_runs_list)
    p = rsub.add_parser("show", help="one run's state")
    p.add_argument("name")
    p.set_defaults(func=cmd_runs_show)


def register_bench(bsub: Any) -> None:
    p = bsub.add_parser("train", help="seconds per training step on synthetic input")
    p.add_argument("--kind", default="cyclegan", choices=["cyclegan", "cut", "pix2pix"])
    p.add_argument("--preset", default="reference", choices=["reference", "fast"])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--device")
    p.add_argument("--baseline", action="store_true", help="also time the plain eager reference step, interleaved")
    p.add_argument("--compare-preset", choices=["reference", "fast"], help="also time another preset, interleaved")
    p.add_argument("--variant", choices=["cut", "fastcut"], help="cut: the variant to time")
    p.add_argument("--compare-kind", choices=["cyclegan", "cut", "pix2pix"],
                   help="also time another kind at the same preset, interleaved (e.g. fastcut against cyclegan)")
    p.set_defaults(func=cmd_bench_train)

    p = bsub.add_parser("interactive", help="is the window quick while a model trains? canvas, translation and "
                                            "training speed, alone and side by side")
    p.add_argument("--seconds", type=float, default=20.0, help="each measuring window (default 20)")
    p.add_argument("--repeats", type=int, default=7, help="translations per latency figure (default 7)")
    p.add_argument("--latent-model", default="faces vae", help="the canvas's model (default: the built-in faces vae)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=cmd_bench_interactive)


def train_options(args: argparse.Namespace) -> dict[str, Any]:
    """The run's options as given on the command line (None: not given); the rules that turn them
    into a config are the engine's (``studio.core.train.presets.run_config``)."""
    def folder(value: str | None) -> str | None:
        return str(Path(value).expanduser().resolve()) if value else None

    options: dict[str, Any] = {
        "dir_a": folder(args.a or args.images or args.labels), "dir_b": folder(args.b or args.photos), "pairs": folder(args.pairs), "crop_size": args.size,
        "load_size": args.load_size, "preprocess": args.preprocess, "max_steps": args.max_steps, "minutes": args.minutes,
        "checkpoint_every": args.checkpoint_every, "preview_every": args.preview_every,
        "device": args.device, "lr": args.lr, "batch_size": args.batch_size, "gan_mode": args.gan_mode,
        "lambda_identity": args.lambda_identity, "lambda_l1": args.lambda_l1,
        "lambda_gan": args.lambda_gan, "pool_size": args.pool_size, "beta": args.beta,
        "cycle_noise": args.cycle_noise, "ema": args.ema,
        "denoise": args.denoise, "minibatch_std": args.minibatch_std,
        "seed": args.seed, "workers": args.workers, "epochs": args.epochs, "n_epochs": args.n_epochs,
        "n_epochs_decay": args.n_epochs_decay, "augment": "" if args.no_augment else args.augment,
        "variant": args.variant, "lambda_nce": args.lambda_nce, "num_patches": args.num_patches,
        "nce_pixels": args.nce_pixels, "classes": args.classes, "palette": folder(args.palette),
        "lambda_fm": args.lambda_fm, "lambda_ms": args.lambda_ms,
    }
    if args.lambda_cycle is not None:
        options["lambda_a"] = options["lambda_b"] = args.lambda_cycle
    if args.no_flip:
        options["flip"] = False
    if args.keep_discriminators:
        options["keep_discriminators"] = True
    if args.no_amp:
        options["amp"] = False
    return options


def cmd_train(args: argparse.Namespace) -> int:
    from studio.core.train.job import train_job
    from studio.core.train.presets import run_config

    if args.resume:
        events = train_job(resume=args.resume)
    else:
        if not args.kind or not args.name:
            raise StudioError(f"say what to train: studio train {'|'.join(TRAIN_KINDS)} ... --name NAME "
                              "(or --resume NAME)")
        config = run_config(args.kind, args.name, args.preset, train_options(args), base_model=args.from_model)
        events = train_job(config)
    return _run_to_end(events, args.quiet, "model")


def _run_to_end(events: Iterable[Event], quiet: bool, what: str) -> int:
    """Render a training job on the terminal, then say where it ended: 1 when stopped early (with how to resume)."""
    summary = render(_train_events(events, quiet), quiet=quiet)
    if summary.get("cancelled"):
        print(f"stopped at step {summary['step']}; resume with: studio train --resume {summary['run']}", file=sys.stderr)
        return 1
    if summary.get("model"):
        print(f"trained {summary['step']} steps; {what} {summary['model']!r} is in the store", file=sys.stderr)
    return 0


def cmd_distill(args: argparse.Namespace) -> int:
    from studio.core.train.job import train_job
    from studio.core.train.presets import run_config

    options = {
        "teacher": args.model, "direction": args.direction, "dir_a": str(Path(args.photos).expanduser().resolve()),
        "crop_size": args.size, "load_size": args.short_side, "max_steps": args.max_steps, "minutes": args.minutes,
        "batch_size": args.batch_size, "lr": args.lr, "lambda_l1": args.lambda_l1, "lambda_ssim": args.lambda_ssim,
        "lambda_feat": args.lambda_feat, "seed": args.seed, "checkpoint_every": args.checkpoint_every,
        "preview_every": args.preview_every, "device": args.device, "workers": args.workers,
    }
    config = run_config("distill", args.name, args.preset, options, base_model=args.from_model)
    return _run_to_end(train_job(config), args.quiet, "the fast copy")


def cmd_bench_interactive(args: argparse.Namespace) -> int:
    from studio.core.interactive import run_benchmark

    results = run_benchmark(args.seconds, args.repeats, args.latent_model,
                            report=lambda line: print(line, file=sys.stderr))
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for key, value in results.items():
        if isinstance(value, dict):
            for inner, figure in value.items():
                print(f"{key}_{inner}: {figure:.4g}")
        else:
            print(f"{key}: {value:.4g}" if isinstance(value, float) else f"{key}: {value}")
    return 0


def cmd_job_worker(args: argparse.Namespace) -> int:
    from studio.core.train.supervise import serve

    return serve(args.threads, args.nice)


def _train_events(events: Iterable[Event], quiet: bool) -> Iterable[Event]:
    """Show the latest losses and the speed next to the progress bar; log lines go to stderr as they come."""
    latest = ""
    for event in events:
        if isinstance(event, Losses):
            latest = " ".join(f"{k}={v:.3f}" for k, v in event.values.items())
        elif isinstance(event, Progress):
            rate = event.stats.get("it_per_s")
            speed = f"{rate:.2f} it/s " if rate else ""
            event = dataclasses.replace(event, message=f"{event.message} {speed}{latest}".strip())
        elif isinstance(event, Log) and not quiet:
            print(f"\r\033[K{event.message}" if sys.stderr.isatty() else event.message, file=sys.stderr)
            continue
        yield event


def cmd_runs_list(args: argparse.Namespace) -> int:
    from studio.core.train.job import list_runs

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
    from studio.core.train.job import read_run, run_dir

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
    from studio.core import device as devices
    from studio.core.train.bench import interleaved_seconds, plain_reference_step, studio_step

    device = devices.pick_device(args.device)
    print(f"device: {devices.describe(device)}; {args.kind} at {args.size} px, median of {args.steps} steps "
          f"after {args.warmup} warm-up", file=sys.stderr)
    contenders = {"studio": studio_step(args.kind, args.preset, args.size, device, variant=args.variant)}
    if args.baseline:
        contenders["plain_reference"] = plain_reference_step(args.kind, args.size, device)
    if args.compare_preset:
        contenders["studio_" + args.compare_preset] = studio_step(args.kind, args.compare_preset, args.size, device,
                                                                  variant=args.variant)
    if args.compare_kind:
        contenders["studio_" + args.compare_kind] = studio_step(args.compare_kind, args.preset, args.size, device)
    seconds = interleaved_seconds(contenders, args.steps, args.warmup, device)
    ours = seconds.pop("studio")
    for name, value in seconds.items():
        print(f"{name}_seconds_per_step: {value:.4f}")
        print(f"ratio_{name}_over_{args.preset}: {value / ours:.2f}")
    print(f"seconds_per_step: {ours:.4f}")
    return 0

