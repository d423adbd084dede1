"""A fast copy of a reference-size ResNet-9: how faithful, how fast, after how long (issue 17).

    OMP_NUM_THREADS=1 python benchmarks/distill_quality.py                     # teacher 10 min, copy 15 min
    OMP_NUM_THREADS=1 python benchmarks/distill_quality.py --teacher-from /tmp/dq --minutes 5 --set lambda_ssim=0
    OMP_NUM_THREADS=1 python benchmarks/distill_quality.py --teacher-minutes 0.3 --minutes 0.3 --photos 14   # smoke

1. The user's photos: ``--photos`` square crops (half to all of the short side, 320 px) of the
   colour photos scikit-image ships, all but coffee (``recipes/starter_data.py``; nothing is
   downloaded).
2. The teacher: a reference-size ResNet-9 generator (``resnet_generator``, 9 blocks, ngf 64,
   instance norm: what the reference publishes) trained by the engine as a pix2pix model (L1 + GAN)
   on those photos and a procedural style of them (``--style``: the recipes' comic-book ``poster``, the
   default; their pencil ``sketch``; or the unpaired benchmark's global ``colour`` mapping), for ``--teacher-minutes`` (or
   ``--teacher-steps``; ``--teacher-only`` stops there; ``--teacher-set FIELD=JSON`` changes a field of its
   config (``--teacher-set lambda_gan=0``: L1 alone, no discriminator); ``--teacher-upsample bilinear``
   makes it CUT's ResNet-9 (bilinear resize-convolutions, blur-pooled downsampling) instead of the reference's;
   ``--teacher-upsample-init bilinear`` starts its
   transposed convolutions checkerboard-free, :func:`studio.core.nets.upsample.bilinear_transposed_init`), at
   128-px crops of the photos at a short side of 286 (the scale the copy works at).
   ``--teacher-from DIR`` reuses the teacher of an earlier run's ``--out`` (``--teacher-name``: another model
   of its store, such as that teacher trained on with ``studio train pix2pix --from teacher``).
3. The copy: ``studio distill`` as the engine runs it (the ``fast`` preset: the light generator,
   L1 + SSIM), for ``--minutes`` of training after the teacher's outputs are cached (that time is
   printed too). ``--set FIELD=JSON`` changes a config field (``--set lambda_feat=1``).
4. Figures, on the held-out coffee photo (never seen by teacher or copy), whole at a short side of
   286 and translated as the app translates (:class:`studio.core.translate.Translator`): PSNR and
   SSIM of the copy against the teacher; the run's own figure on its held-out tenth of the
   folder; and the latency of both networks on a 512×512 image, interleaved, median of
   ``--repeats``, at ``--threads`` threads, with their ratio. Also how close teacher and copy are to
   the style itself, with their checkerboard index against it (``--style`` must name the teacher's).

Prints a Markdown table and the JSON; writes ``coffee.png`` (photo | teacher | copy) and the
copy's card into ``--out``. Asserts nothing. Run with ``OMP_NUM_THREADS=1`` on a busy 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SIZE = 320  # the photos' side
SHORT_SIDE = 286  # the working scale of teacher and copy


def starter_data() -> Any:
    if str(REPO / "recipes") not in sys.path:
        sys.path.insert(0, str(REPO / "recipes"))
    import starter_data as module

    return module


def style_function(name: str) -> Any:
    """The teacher's procedural style: the recipes' ``poster`` or ``sketch``, or the quality benchmark's ``colour``."""
    if name == "colour":
        from unpaired_quality import colour_style  # this script's folder is on the path

        return colour_style
    recipes = starter_data()
    return {"poster": recipes.poster, "sketch": recipes.pencil_sketch}[name]


def build_photos(root: Path, count: int, seed: int, style: str) -> np.ndarray:
    """``count`` crops into ``root``/photos and their styled versions into ``root``/posters; returns coffee."""
    recipes = starter_data()
    paint = style_function(style)
    rng = np.random.default_rng(seed)
    photos = recipes.colour_photos()
    held = photos.pop(recipes.HELD_OUT)
    for folder in ("photos", "posters"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    per = [count // len(photos) + (k < count % len(photos)) for k in range(len(photos))]
    for (name, rgb), n in zip(photos.items(), per, strict=True):
        short = min(rgb.shape[:2])
        for k in range(n):
            side = int(rng.integers(short // 2, short + 1))
            y, x = int(rng.integers(0, rgb.shape[0] - side + 1)), int(rng.integers(0, rgb.shape[1] - side + 1))
            crop = np.asarray(Image.fromarray(rgb[y:y + side, x:x + side]).resize((SIZE, SIZE), Image.Resampling.LANCZOS))
            Image.fromarray(crop).save(root / "photos" / f"{name}_{k:03d}.png")
            Image.fromarray(paint(crop)).save(root / "posters" / f"{name}_{k:03d}.png")
    return held


def run_job(events: Any, label: str) -> Any:
    """Drive a job, printing its log lines and a progress line now and then; returns its value."""
    from studio.core.jobs import Finished, Log, Progress

    value, last = None, 0.0
    for event in events:
        if isinstance(event, Finished):
            value = event.value
        elif isinstance(event, Log):
            print(f"[{label}] {event.message}", file=sys.stderr)
        elif isinstance(event, Progress) and time.monotonic() - last > 30:
            last = time.monotonic()
            print(f"[{label}] {event.done:.0f}/{event.total:.0f} {event.message}", file=sys.stderr)
    return value


def train_teacher(root: Path, minutes: float, steps: int | None, upsample_init: str = "normal",
                  upsample: str = "transposed", fields: dict[str, Any] | None = None) -> None:
    from studio.core.train.job import train_job
    from studio.core.train.presets import run_config

    params: dict[str, Any] = {"n_blocks": 9, "ngf": 64, "norm": "instance"}
    if upsample == "transposed":  # the reference's resnet_9blocks
        params["upsample_init"] = upsample_init
    else:  # CUT's resnet_9blocks: antialiased, blur-pooled down and bilinear up
        params.update(upsample="bilinear", downsample="blur")
    options = {"dir_a": str(root / "photos"), "dir_b": str(root / "posters"), "crop_size": 128,
               "load_size": SHORT_SIDE, "minutes": None if steps else minutes, "max_steps": steps, "augment": "",
               "preview_every": 500, **(fields or {}),
               "generator": {"arch": "resnet_generator", "params": params}}
    config = run_config("pix2pix", "teacher", "reference", options)
    run_job(train_job(config), "teacher")


def whole(rgb: np.ndarray, side: int = SHORT_SIDE) -> np.ndarray:
    h, w = rgb.shape[:2]
    scale = side / min(h, w)
    size = (round(w * scale / 4) * 4, round(h * scale / 4) * 4)
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS))


def latencies(teacher: Any, student: Any, repeats: int) -> dict[str, float]:
    """Median seconds of each network on one 512×512 image, interleaved, after a warm-up."""
    import torch

    x = torch.rand(1, 3, 512, 512) * 2 - 1
    times: dict[str, list[float]] = {"teacher": [], "student": []}
    with torch.inference_mode():
        teacher(x)
        student(x)
        for _ in range(repeats):
            for name, net in (("teacher", teacher), ("student", student)):
                started = time.perf_counter()
                net(x)
                times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=70, help="crops in the user's folder (default 70)")
    parser.add_argument("--teacher-minutes", type=float, default=10.0)
    parser.add_argument("--teacher-steps", type=int, help="train the teacher for this many steps instead")
    parser.add_argument("--style", default="poster", choices=["poster", "sketch", "colour"],
                        help="the procedural style the teacher learns (default poster)")
    parser.add_argument("--teacher-only", action="store_true", help="build the photos and the teacher, then stop")
    parser.add_argument("--teacher-set", action="append", default=[], metavar="FIELD=JSON",
                        help="a config field of the teacher's run (lambda_gan=0: L1 alone)")
    parser.add_argument("--teacher-upsample", choices=("transposed", "bilinear"), default="transposed",
                        help="the teacher's ResNet-9: the reference's (transposed convolutions) or CUT's (bilinear "
                             "resize-convolutions, blur-pooled downsampling)")
    parser.add_argument("--teacher-upsample-init", choices=("normal", "bilinear"), default="normal",
                        help="the teacher's transposed convolutions start as the reference's (normal) or "
                             "checkerboard-free (bilinear; same architecture)")
    parser.add_argument("--teacher-from", type=Path, help="an earlier run's --out: reuse its teacher and photos")
    parser.add_argument("--teacher-name", default="teacher",
                        help="with --teacher-from: the teacher's name in that run's store (default teacher; e.g. one "
                             "trained on with `studio train pix2pix --from teacher`)")
    parser.add_argument("--minutes", type=float, default=15.0, help="the copy's training budget (default 15)")
    parser.add_argument("--preset", default="fast", choices=["fast", "reference"])
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=JSON", help="a config field of the copy")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    out = (args.out or Path(tempfile.mkdtemp(prefix="distill-quality-"))).resolve()
    out.mkdir(parents=True, exist_ok=True)
    source = (args.teacher_from or out).resolve()
    os.environ["STUDIO_HOME"] = str(source / "home")
    import torch

    torch.set_num_threads(args.threads)
    from unpaired_quality import config_fields  # this script's folder is on the path

    from studio.core.evaluate.checkerboard import checkerboard_index
    from studio.core.evaluate.metrics import psnr, ssim
    from studio.core.store import ModelStore
    from studio.core.train.job import train_job
    from studio.core.train.presets import run_config
    from studio.core.translate import Translator
    from studio.core.translate.image_norms import inference_copy

    recipes = starter_data()
    coffee = recipes.colour_photos()[recipes.HELD_OUT]
    started = time.monotonic()
    overrides, teacher_fields = config_fields(args.set), config_fields(args.teacher_set)
    if args.teacher_from is None:
        build_photos(out, args.photos, args.seed, args.style)
        train_teacher(out, args.teacher_minutes, args.teacher_steps, args.teacher_upsample_init, args.teacher_upsample,
                      teacher_fields)
    teacher_s = time.monotonic() - started
    if args.teacher_only:
        print(f"teacher built in {teacher_s / 60:.1f} min: reuse it with --teacher-from {out}")
        return 0
    name = f"copy-{time.strftime('%H%M%S')}-{os.getpid()}"  # unique when two runs share a --teacher-from
    config = run_config("distill", name, args.preset, {"teacher": args.teacher_name, "dir_a": str(source / "photos"),
                                                       "minutes": args.minutes, "seed": args.seed, **overrides})
    started = time.monotonic()
    run_job(train_job(config), "copy")
    copy_s = time.monotonic() - started

    store = ModelStore()
    teacher_model, copy_model = store.load(args.teacher_name), store.load(name)
    photo = whole(coffee)
    teacher_out = Translator(teacher_model, device="cpu").translate_array(photo / 255.0)
    copy_out = Translator(copy_model, device="cpu").translate_array(photo / 255.0)
    t8, c8 = (np.round(np.clip(a, 0, 1) * 255) / 255 for a in (teacher_out, copy_out))
    seconds = latencies(inference_copy(teacher_model.generator()), inference_copy(copy_model.generator()),
                        args.repeats)
    card = copy_model.card
    target = style_function(args.style)(photo).astype(np.float32) / 255.0  # the style the teacher learned
    results = {
        "teacher_psnr_to_style": psnr(t8, target), "teacher_checkerboard": checkerboard_index(t8, target),
        "copy_psnr_to_style": psnr(c8, target), "copy_checkerboard": checkerboard_index(c8, target),
        "psnr_coffee": psnr(c8, t8), "ssim_coffee": ssim(c8, t8),
        "psnr_held_out": card["metrics"].get("psnr_to_teacher"), "ssim_held_out": card["metrics"].get("ssim_to_teacher"),
        "held_out_photos": card["metrics"].get("held_out_images"),
        "teacher_ms": seconds["teacher"] * 1000, "copy_ms": seconds["student"] * 1000,
        "speedup": seconds["teacher"] / seconds["student"], "threads": args.threads,
        "steps": card["provenance"]["steps"], "train_s": card["provenance"]["duration_s"], "job_s": copy_s,
        "teacher_build_s": teacher_s, "card_latency_ms": card["metrics"].get("latency_ms"),
        "config": {k: card["provenance"]["config"].get(k) for k in ("lr", "batch_size", "crop_size", "lambda_l1",
                                                                     "lambda_ssim", "lambda_feat")},
        "set": overrides, "out": str(out),
    }
    sheet = np.concatenate([photo, (t8 * 255).astype(np.uint8), (c8 * 255).astype(np.uint8)], axis=1)
    Image.fromarray(sheet).save(out / f"coffee-{name}.png")
    (out / f"card-{name}.json").write_text(json.dumps(card, indent=2) + "\n")
    print("| copy of a ResNet-9 | SSIM to teacher, coffee | PSNR, coffee | SSIM, held-out tenth | teacher 512² | copy "
          "512² | speed-up | steps | training | whole job |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {args.preset} {overrides or ''} | {results['ssim_coffee']:.3f} | {results['psnr_coffee']:.1f} dB | "
          f"{results['ssim_held_out'] or float('nan'):.3f} | {results['teacher_ms']:.0f} ms | {results['copy_ms']:.0f} ms | "
          f"{results['speedup']:.1f}× | {results['steps']} | {results['train_s'] / 60:.1f} min | {copy_s / 60:.1f} min |")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
