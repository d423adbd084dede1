"""``studio latent ...`` and ``studio bench latent``: the latent engine (studio.core.latent) on a terminal.

``studio.cli.main`` calls :func:`register` and :func:`register_bench` while building its parser; the
engine is imported only when a command runs, so ``studio --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

MODES = ("spherical", "linear")
MAP_METHODS = ("pca", "umap")  # studio.core.latent.MAP_METHODS, without importing the engine for --help


def register(sub: Any) -> None:
    """Add ``studio latent interpolate|sample|reconstruct|score|direction|arithmetic|map`` to the top-level subparsers."""
    latent = sub.add_parser("latent", help="interpolate, sample, reconstruct, score, add and map latents "
                                           "of a VAE, autoencoder, flow or DCGAN; sample and score with a PixelCNN")
    lsub = latent.add_subparsers(dest="latent_command", metavar="ACTION", required=True)
    out_help = "OUT.png (or .jpg ...): a horizontal strip; OUT.gif: an animation; a name without suffix: a folder of PNGs"

    p = lsub.add_parser("interpolate", help="frames from one image to the next through the model's latent space")
    _model_args(p)
    p.add_argument("images", nargs="+", metavar="IMAGE", help="two or more images, in order")
    p.add_argument("--steps", type=int, default=8, help="frames from one image to the next, both included (8)")
    p.add_argument("--mode", choices=MODES, default="spherical", help="spherical (slerp, default) or linear")
    p.add_argument("-o", "--output", required=True, help=out_help)
    p.add_argument("--duration", type=int, default=80, metavar="MS", help="GIF: milliseconds per frame (80)")
    p.set_defaults(func=cmd_interpolate)

    p = lsub.add_parser("sample", help="random images from the model (a PixelCNN draws them pixel by pixel)")
    _model_args(p)
    p.add_argument("-n", type=int, default=8, help="how many (8)")
    p.add_argument("--temperature", type=float, help="spread of the latents (VAE default 1.0, flow 0.7)")
    p.add_argument("--seed", type=int, help="repeatable samples")
    p.add_argument("-o", "--output", required=True, help=out_help)
    p.add_argument("--duration", type=int, default=300, metavar="MS", help="GIF: milliseconds per frame (300)")
    p.add_argument("-q", "--quiet", action="store_true", help="PixelCNN: no progress bar")
    p.set_defaults(func=cmd_sample)

    p = lsub.add_parser("reconstruct", help="encode and decode an image (a flow returns it exactly)")
    _model_args(p)
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("-o", "--output", required=True, help="the reconstruction, at the model's size")
    p.add_argument("--side-by-side", action="store_true", help="write the resized input next to the reconstruction")
    p.add_argument("--direction", type=Path, metavar="FILE", help="a direction saved by `studio latent direction`")
    p.add_argument("--strength", type=float, default=1.0, help="how far to move along --direction (1.0)")
    p.set_defaults(func=cmd_reconstruct)

    p = lsub.add_parser("score", help="bits per dimension of images: lower = more typical of the training set")
    p.add_argument("--model", required=True, action="append",
                   help="a pixelcnn (exact), flow or vae (a bound) model in the store; give --model again to put "
                        "several side by side, one column each, with their means")
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_score)

    p = lsub.add_parser("direction", help="save an attribute direction: mean latent of one folder minus another's")
    _model_args(p)
    p.add_argument("--with", dest="with_folder", required=True, metavar="DIR", help="images that have the attribute")
    p.add_argument("--without", dest="without_folder", required=True, metavar="DIR", help="images that do not")
    p.add_argument("-o", "--output", required=True, type=Path, help="FILE.safetensors")
    p.set_defaults(func=cmd_direction)

    p = lsub.add_parser("arithmetic", help="decode(A − B + C): man with glasses − man + woman = woman with glasses")
    _model_args(p)
    p.add_argument("a", metavar="A", help="an image with the attribute (man with glasses)")
    p.add_argument("b", metavar="B", help="the same without it (man)")
    p.add_argument("c", metavar="C", help="the image to give it to (woman)")
    p.add_argument("-o", "--output", required=True, help="OUT.png: the result, at the model's size")
    p.add_argument("--strength", type=float, default=1.0, help="how much of A − B to add to C (1.0)")
    p.add_argument("--strip", action="store_true", help="write A | B | C | result (the inputs resized), to check it")
    p.set_defaults(func=cmd_arithmetic)

    p = lsub.add_parser("map", help="a map of a folder's latent space: every image's thumbnail at its 2-D position")
    _model_args(p)
    p.add_argument("--images", required=True, type=Path, metavar="DIR", help="the folder (searched recursively)")
    p.add_argument("-o", "--output", required=True, type=Path,
                   help="MAP.png; MAP.json beside it gets each image's position and the projection")
    p.add_argument("--method", choices=MAP_METHODS, default="pca",
                   help="pca (default) or umap (needs the optional package umap-learn)")
    p.add_argument("--thumb", type=int, default=48, metavar="PX", help="thumbnail size (48)")
    p.add_argument("--size", type=int, default=1024, metavar="PX", help="canvas width and height (1024)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_map)


def register_bench(bsub: Any) -> None:
    """Add ``studio bench latent`` next to ``studio bench train``."""
    p = bsub.add_parser("latent", help="frames per second of the latent canvas's render path "
                                       "(the engine Renderer the canvas calls: blend + directions + decode + RGB)")
    _model_args(p)
    p.add_argument("--frames", type=int, default=300, help="frames to time (300)")
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--anchors", type=int, default=4, help="latents blended per frame (4: a bilinear pad)")
    p.add_argument("--mode", choices=MODES, default="linear")
    p.add_argument("--directions", type=int, default=0,
                   help="directions moved along per frame, as the canvas's PCA sliders do (0)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.set_defaults(func=cmd_bench_latent)


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="a vae, ae or flow model in the store")
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps")


def _load(args: argparse.Namespace):
    from studio.core.latent import LatentModel

    return LatentModel.load(args.model, device=args.device)


def _describe(path: Path, frames: int, size: int) -> str:
    if path.suffix.lower() == ".gif":
        return f"{path}: an animation of {frames} frames, {size}×{size}"
    if not path.suffix:
        return f"{path}/: {frames} frames, {size}×{size}"
    return f"{path}: a strip of {frames} frames, {frames * size}×{size}"


# -- commands ---------------------------------------------------------------------------------------

def cmd_interpolate(args: argparse.Namespace) -> int:
    from studio.core.errors import StudioError
    from studio.core.latent import interpolate, save_frames

    if len(args.images) < 2:
        raise StudioError("interpolate needs at least two images")
    model = _load(args)
    frames = interpolate(model, model.load_images(args.images), args.steps, args.mode)
    out = save_frames(frames, args.output, duration_ms=args.duration)
    print(_describe(out, len(frames), model.image_size))
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from studio.core.errors import StudioError
    from studio.core.latent import save_frames
    from studio.core.store import ModelStore

    if args.n < 1:
        raise StudioError("-n must be at least 1")
    if ModelStore().get(args.model).kind == "pixelcnn":
        return _sample_pixels(args)
    model = _load(args)
    frames = model.sample(args.n, args.temperature, args.seed)
    out = save_frames(frames, args.output, duration_ms=args.duration)
    print(_describe(out, len(frames), model.image_size))
    return 0


def _sample_pixels(args: argparse.Namespace) -> int:
    from studio.core.errors import StudioError
    from studio.core.latent import PixelModel, save_frames

    from .progress import render

    if args.temperature is not None:
        raise StudioError(f"model {args.model!r} is a PixelCNN: it samples its own distribution, pixel by pixel "
                          "(--temperature is for the latent models)")
    model = PixelModel.load(args.model, device=args.device)
    started = time.perf_counter()
    frames = render(model.sample_job(args.n, args.seed), quiet=args.quiet)
    seconds = time.perf_counter() - started
    out = save_frames(frames, args.output, duration_ms=args.duration)
    print(_describe(out, len(frames), model.image_size))
    print(f"{args.n} sample{'s' if args.n != 1 else ''} in {seconds:.1f} s ({seconds / args.n:.2f} s per sample)")
    return 0


def cmd_reconstruct(args: argparse.Namespace) -> int:
    import torch

    from studio.core.evaluate import metrics
    from studio.core.latent import apply_direction, load_direction, save_frames

    model = _load(args)
    x = model.load_image(args.image)
    z = model.encode(x)
    if args.direction is not None:
        direction, _ = load_direction(args.direction, model)
        z = apply_direction(z, direction, args.strength)
    recon = model.decode(z)
    save_frames(torch.cat([x, recon]) if args.side_by_side else recon, args.output)
    psnr = metrics.psnr(recon.numpy(), x.numpy(), data_range=2.0)
    print(f"{args.output}: {model.image_size}×{model.image_size}; PSNR against the resized input {psnr:.2f} dB")
    return 0


# What each kind's bits/dim is: a flow's density at the 8-bit bin centres, a PixelCNN's discrete likelihood.
SCORE_NOTES = {"flow": "", "pixelcnn": "exact", "vae": "ELBO bound"}


def cmd_score(args: argparse.Namespace) -> int:
    from studio.core.errors import ImageError, StudioError
    from studio.core.latent import load_scorer

    if len(set(args.model)) != len(args.model):
        raise StudioError("give each --model once")
    models = [load_scorer(name, device=args.device) for name in args.model]
    rows, failed = [], 0
    for path in args.images:
        try:
            images = [model.load_image(path) for model in models]  # each at its own model's size
        except ImageError as exc:
            print(f"failed: {exc}", file=sys.stderr)
            failed += 1
            continue
        rows.append((path, [round(float(model.score(x)[0]), 4) for model, x in zip(models, images, strict=True)]))
    notes = [SCORE_NOTES.get(model.kind, "") for model in models]
    if len(models) == 1:
        what = f"bits/dim ({notes[0]})" if notes[0] else "bits/dim"
        _print_scores(models[0].name, models[0].kind, what, rows, args.json)
    else:
        _print_score_table(models, notes, rows, args.json)
    return 1 if failed or not rows else 0


def _print_scores(name: str, kind: str, what: str, rows: list, as_json: bool) -> None:
    results = [{"path": path, "bits_per_dim": values[0]} for path, values in rows]
    if as_json:
        print(json.dumps({"model": name, "kind": kind, "measure": what, "scores": results}, indent=2))
    else:
        for r in results:
            print(f"{r['bits_per_dim']:.4f} {what}  {r['path']}")


def _print_score_table(models: list, notes: list[str], rows: list, as_json: bool) -> None:
    """One column per model, one row per image, then the mean of each column."""
    names = [model.name for model in models]
    means = [round(statistics.fmean(values[i] for _, values in rows), 4) for i in range(len(models))] if rows else []
    if as_json:
        print(json.dumps({
            "models": [{"model": m.name, "kind": m.kind, "measure": f"bits/dim ({note})" if note else "bits/dim"}
                       for m, note in zip(models, notes, strict=True)],
            "scores": [{"path": path, "bits_per_dim": dict(zip(names, values, strict=True))} for path, values in rows],
            "mean": dict(zip(names, means, strict=True)),
        }, indent=2))
        return
    print("bits/dim, lower = more typical: " + ", ".join(
        f"{m.name} ({m.kind}{', ' + note if note else ''})" for m, note in zip(models, notes, strict=True)))
    widths = [max(len(name), 8) for name in names]
    print("  ".join(name.rjust(w) for name, w in zip(names, widths, strict=True)) + "  image")
    for label, values in [*rows, *([("mean", means)] if rows else [])]:
        print("  ".join(f"{v:.4f}".rjust(w) for v, w in zip(values, widths, strict=True)) + f"  {label}")


def cmd_direction(args: argparse.Namespace) -> int:
    from studio.core.latent import attribute_direction, save_direction

    model = _load(args)
    direction = attribute_direction(model, args.with_folder, args.without_folder)
    save_direction(args.output, direction, model, with_folder=str(args.with_folder),
                   without_folder=str(args.without_folder))
    print(f"{args.output}: a {model.latent_dim}-d direction of length {float(direction.norm()):.3f}")
    return 0


def cmd_arithmetic(args: argparse.Namespace) -> int:
    import torch

    from studio.core.errors import StudioError
    from studio.core.latent import analogy, save_frames

    if not math.isfinite(args.strength):
        raise StudioError(f"--strength must be a finite number, got {args.strength}")
    model = _load(args)
    images = model.load_images([args.a, args.b, args.c])  # an unreadable one stops here, before any writing
    result = analogy(model, images, args.strength)
    out = save_frames(torch.cat([images, result]) if args.strip else result, args.output)
    size = model.image_size
    what = f"a strip A | B | C | result, {4 * size}×{size}" if args.strip else f"{size}×{size}"
    print(f"{out}: C + {args.strength:g}·(A − B), {what}")
    return 0


def cmd_map(args: argparse.Namespace) -> int:
    from studio.core.errors import StudioError
    from studio.core.images import is_image_file
    from studio.core.latent import map_job, save_map

    from .progress import render

    if not is_image_file(args.output):
        raise StudioError(f"{args.output}: the map is an image; name it MAP.png (or .jpg, .webp ...)")
    model = _load(args)
    latent_map = render(map_job(model, args.images, args.method, args.thumb, args.size), quiet=args.quiet)
    image, data = save_map(latent_map, args.output)
    skipped = f"; {len(latent_map.failed)} skipped" if latent_map.failed else ""
    print(f"{image}: {len(latent_map.entries)} images on a {args.size}×{args.size} {args.method} map{skipped}; "
          f"positions and projection in {data}")
    return 0


def cmd_bench_latent(args: argparse.Namespace) -> int:
    import torch

    from studio.core import device as devices
    from studio.core.latent import Renderer, Scene, principal_directions
    from studio.core.store import ModelStore

    if args.threads:
        torch.set_num_threads(args.threads)
    if ModelStore().get(args.model).kind == "pixelcnn":
        return _bench_pixels(args)
    model = _load(args)
    renderer = Renderer(model)
    threads = torch.get_num_threads()
    print(f"device: {devices.describe(model.device)} ({threads} CPU threads); model {model.name!r}: {model.kind}, "
          f"{model.image_size} px, {model.latent_dim}-d latents; {args.anchors} anchors, {args.mode} blend, "
          f"{args.directions} directions; "
          f"{args.frames} frames after {args.warmup} warm-up", file=sys.stderr)
    decode_ms, source = _vae64_decode_ms(model, args.frames, args.warmup)
    print(f"vae decode 64x64: {source}", file=sys.stderr)
    # What the canvas hands its render worker: K anchor latents, the pad's weights, the directions in use.
    anchors = tuple(model.sample_latents(args.anchors, seed=0))
    directions: tuple = ()
    if args.directions:
        axes, _ = principal_directions(model.sample_latents(max(args.directions + 1, 8), seed=1), args.directions)
        directions = tuple(axes)
    frame_times = []
    for i in range(args.warmup + args.frames):
        amounts = tuple(0.5 * math.sin(i / 13 + k) for k in range(len(directions)))
        scene = Scene(anchors, tuple(_cursor_weights(i, args.anchors)), args.mode, directions=directions,
                      amounts=amounts)
        start = time.perf_counter()
        frame = renderer.render(scene)
        _sync(model.device)
        if i >= args.warmup:
            frame_times.append(time.perf_counter() - start)
    if frame.dtype.name != "uint8" or frame.shape != (model.image_size, model.image_size, 3):
        raise RuntimeError(f"the render path returned {frame.dtype} {frame.shape}, not a uint8 RGB frame")
    total = sum(frame_times)
    ms = sorted(t * 1000 for t in frame_times)
    print(f"vae_decode_64px_ms: {decode_ms:.3f}")
    print(f"render_ms_median: {statistics.median(ms):.3f}")
    print(f"render_ms_p95: {ms[int(0.95 * (len(ms) - 1))]:.3f}")
    print(f"frames_per_second: {len(frame_times) / total:.1f}")
    return 0


def _bench_pixels(args: argparse.Namespace) -> int:
    """A PixelCNN has no canvas to draw: its costs are scoring (one pass) and sampling (one pass a pixel)."""
    import torch

    from studio.core import device as devices
    from studio.core.latent import PixelModel

    model = PixelModel.load(args.model, device=args.device)
    print(f"device: {devices.describe(model.device)} ({torch.get_num_threads()} CPU threads); model {args.model!r}: "
          f"pixelcnn, {model.image_size} px; no latent space, so no canvas frames: scoring and sampling",
          file=sys.stderr)
    batch = model.sample(2, seed=0).repeat(8, 1, 1, 1)  # a warm-up, and images of its own to score
    start = time.perf_counter()
    for _ in range(max(1, args.frames // 10)):
        model.score(batch)
    _sync(model.device)
    score_ms = (time.perf_counter() - start) * 1000 / (max(1, args.frames // 10) * len(batch))
    timings = {}
    for n in (1, 4):
        start = time.perf_counter()
        model.sample(n, seed=1)
        _sync(model.device)
        timings[n] = (time.perf_counter() - start) / n
    print(f"score_ms_per_image: {score_ms:.3f}")
    print(f"sample_s_per_image_alone: {timings[1]:.3f}")
    print(f"sample_s_per_image_batch4: {timings[4]:.3f}")
    print(f"samples_per_second: {1 / timings[4]:.2f}")
    return 0


def _cursor_weights(i: int, k: int) -> list[float]:
    """A cursor circling the pad: bilinear weights for 4 anchors at the corners, inverse distance otherwise."""
    angle = 2 * math.pi * i / 97
    x, y = 0.5 + 0.4 * math.cos(angle), 0.5 + 0.4 * math.sin(angle)
    if k == 4:
        return [(1 - x) * (1 - y), x * (1 - y), (1 - x) * y, x * y]
    corners = [(0.5 + 0.5 * math.cos(2 * math.pi * j / k), 0.5 + 0.5 * math.sin(2 * math.pi * j / k)) for j in range(k)]
    return [1.0 / (1e-6 + (x - cx) ** 2 + (y - cy) ** 2) for cx, cy in corners]


def _vae64_decode_ms(model, frames: int, warmup: int) -> tuple[float, str]:
    """Median ms of one 64×64 VAE decode: the model's, or the default VAE's (random weights, same cost)."""
    import torch

    from studio.core import nets
    from studio.core.train.presets import latent_preset

    if model.kind == "vae" and model.image_size == 64:
        decoder, source = model.decoder_module(), f"the decoder of {model.name!r}"
    else:
        spec = latent_preset("vae", 64)["generator"]
        vae = nets.build(spec["arch"], spec["params"]).eval().to(model.device)
        vae.to(memory_format=torch.channels_last)
        decoder = vae.decoder
        source = f"the default 64-px VAE architecture {spec['params']} (untrained weights: same cost)"
    z = torch.randn(1, decoder.head.in_features, device=model.device)
    times = []
    with torch.inference_mode():
        for i in range(warmup + frames):
            start = time.perf_counter()
            decoder(z)
            _sync(model.device)
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, source


def _sync(device) -> None:
    if device.type == "cuda":
        import torch

        torch.cuda.synchronize(device)
