"""Unpaired translation quality on a task whose true mapping is known: CycleGAN, CUT and FastCUT at one budget.

    python benchmarks/unpaired_quality.py                                 # all six contenders, 12.5 min each
    python benchmarks/unpaired_quality.py --jobs 2                        # two at a time (one core each)
    python benchmarks/unpaired_quality.py --style poster --contenders fastcut,cyclegan+aug --minutes 5
    python benchmarks/unpaired_quality.py --minutes 0.3 --crops 16 --size 64 --contenders cyclegan,fastcut
    python benchmarks/unpaired_quality.py --task T --build-only --size 256      # build a task here, keep it in T
    python benchmarks/unpaired_quality.py --task T --preset reference --size 256 --device cuda --jobs 3

The task: domain A is crops of the colour photos scikit-image ships (nothing is downloaded; see
``recipes/starter_data.py``); domain B is a procedural style f applied to a *different* set of
crops of the same photos, so the two domains are unpaired but the right answer G(x) = f(x) is
known. One photo, coffee (``starter_data.HELD_OUT``), is kept out of both domains: the figures
are measured on 16 crops of it at the training size and on the whole photo (short side 256).

Styles (``--style``):

- ``colour`` (default): a global colour mapping, a channel rotation (the output's R, G, B are
  0.9 of the input's B, R, G plus 0.1 of its R, G, B: nearly a 120° hue turn, an invertible
  matrix whose rows sum to 1) followed by the tone curve v -> v^1.5 in each channel. Smooth,
  invertible on [0, 1], and far from the identity: at the defaults the identity's PSNR against
  f(x) on the held-out crops is 9.9 dB, as on issue 16's yardstick task;
- ``poster`` and ``sketch``: the recipes' comic-book poster and pencil sketch.

Contenders (``--contenders``, comma separated): ``cyclegan``, ``cut``, ``fastcut``, each also as
``NAME+aug`` (DiffAugment "color,translation,cutout" before the discriminators), all at the
``fast`` preset (``--preset reference``: the papers' networks, with ``--size 256``), configured by
``studio.core.train.presets.preset`` as ``studio train`` does and trained by the engine's own
trainer, data and step loop on the CPU (or ``--device``). Each trains for the same budget
of training time (``--minutes``) as ``studio train --minutes`` does (:class:`studio.core.train.hooks.TimeBudget`):
the total is fitted to the budget after the first steps and again at a tenth of it, the reference's
schedule (half constant, half linear decay) is fitted to that total, and training stops at the total or
when the budget runs out, whichever is first. (Before 2026-12-04 the benchmark fitted once, after 20
steps; runs whose first steps were slow stopped early, at 9-12 of 15 minutes.)

Figures on the held-out photo, one row per contender plus the identity baseline (G(x) = x) and the
target itself (G(x) = f(x), for the distribution and checkerboard figures):

- PSNR and SSIM of G(x) against f(x), mean over the crops;
- KID of G(crops) against the real B images (the training B set), in the space of
  ``metrics.pixel_features()`` (32×32 downsampled pixels) unless an Inception-v3 extractor is
  installed (``studio[metrics]``): the table says which. Pixel KID compares colours and coarse
  layout, not perceptual features, and 16 held-out crops make it noisy; the target's own row is
  its floor for this content;
- the checkerboard index (``studio.core.evaluate.checkerboard``): G(x)'s share of spectral power at
  the Nyquist frequencies over f(x)'s, the median over the crops and on the whole photo (≤ 1.5: none);
- the Nyquist power itself over f(x)'s (``nyquist_power_ratio``), median crop and whole photo: a
  share also rises when G(x) has less contrast than f(x), this ratio only with a pattern f(x) lacks;
- the whole photo as the app translates it with a working scale of the training's load size
  (``studio models set NAME --working-size PX``: translated at that short side, the photo's detail
  brought back by the guided filter, :mod:`studio.core.translate.guided`): PSNR and checkerboard index;
- steps done and seconds per step ("180 of 196": the wall clock ran out before the planned total,
  so the learning rate had not decayed to zero; a busy machine slows the steps after calibration).

Flags: ``--style``, ``--contenders``, ``--minutes`` (per contender), ``--crops`` (per domain, default
160), ``--size`` (px, default 128), ``--held-out-crops`` (16), ``--jobs`` (children at once),
``--seed``, ``--max-steps`` (a cap, for smoke runs), ``--preset``, ``--device`` (``cuda``: the trainers'
bf16 autocast and channels_last, as ``studio train`` on a GPU), ``--task DIR`` (reuse the task built
there, with the style, crops, size and seed its ``task.json`` records, or build it there and keep it:
a GPU machine without scikit-image runs a task built elsewhere; ``--build-only`` stops after building),
``--out DIR`` (default: a new temporary folder). Into ``--out`` go one PNG per contender (rows of
x | f(x) | G(x) for held-out crops), each child's log and ``results.json``. Prints a Markdown table for the README and the JSON.

Caveats: one thread per contender (``OMP_NUM_THREADS=1``), so seconds per step are single-core
CPU figures; ``--jobs 2`` on a two-core machine runs two contenders side by side, each still on one
core, but memory bandwidth is shared. One held-out photo is a small test set: differences of a
few tenths of a dB are noise. Prints figures, asserts nothing. Each child uses a temporary
``STUDIO_HOME``, so nothing lands in the user's model store.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
AUGMENT = "color,translation,cutout"
CONTENDERS = ("cyclegan", "cyclegan+aug", "cut", "cut+aug", "fastcut", "fastcut+aug")
STYLES = ("colour", "poster", "sketch")
SHEET_ROWS = 4  # held-out crops in each contender's side-by-side PNG
WHOLE_SIDE = 256  # the whole held-out photo's short side, for the checkerboard index


# -- the task ---------------------------------------------------------------------------------

def starter_data() -> Any:
    """``recipes/starter_data.py`` (not a package: imported from its folder)."""
    if str(REPO / "recipes") not in sys.path:
        sys.path.insert(0, str(REPO / "recipes"))
    import starter_data as module

    return module


COLOUR_MIX = 0.9 * np.eye(3)[[2, 0, 1]] + 0.1 * np.eye(3)  # out = M @ in; rows sum to 1, invertible
COLOUR_GAMMA = 1.5


def colour_style(rgb: np.ndarray) -> np.ndarray:
    """The ``colour`` style f (uint8 in and out): :data:`COLOUR_MIX`, then v -> v^:data:`COLOUR_GAMMA`."""
    x = rgb.astype(np.float64) / 255.0 @ COLOUR_MIX.T
    return (np.clip(x, 0.0, 1.0) ** COLOUR_GAMMA * 255.0).round().astype(np.uint8)


def style_function(name: str) -> Any:
    recipes = starter_data()
    return {"colour": colour_style, "poster": recipes.poster, "sketch": recipes.pencil_sketch}[name]


def crop_counts(total: int, photos: int) -> list[int]:
    """``total`` crops shared out over ``photos`` photos as evenly as possible."""
    return [total // photos + (k < total % photos) for k in range(photos)]


def whole_photo(rgb: np.ndarray, side: int = WHOLE_SIDE) -> np.ndarray:
    """``rgb`` resized so its short side is ``side``, both sides multiples of 4 (the generators' step)."""
    height, width = rgb.shape[:2]
    scale = side / min(height, width)
    size = (round(width * scale / 4) * 4, round(height * scale / 4) * 4)
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS))


def save_png(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path)


def build_task(root: Path, style: str, crops: int, size: int, held_out_crops: int, seed: int) -> None:
    """Write ``root``/A, /B (the two training domains) and /held_out (x_*, fx_*, whole_x, whole_fx)."""
    recipes, f = starter_data(), style_function(style)
    rng = np.random.default_rng(seed)
    photos = recipes.colour_photos()
    held = photos.pop(recipes.HELD_OUT)
    counts = crop_counts(crops, len(photos))
    for domain in ("A", "B"):  # two different crop sets of the same photos
        for (name, rgb), count in zip(photos.items(), counts, strict=True):
            for k, crop in enumerate(recipes.random_crops(rgb, count, size, rng)):
                save_png(root / domain / f"{name}_{k:03d}.png", crop if domain == "A" else f(crop))
    for k, crop in enumerate(recipes.random_crops(held, held_out_crops, size, rng)):
        save_png(root / "held_out" / f"x_{k:03d}.png", crop)
        save_png(root / "held_out" / f"fx_{k:03d}.png", f(crop))
    whole = whole_photo(held)
    save_png(root / "held_out" / "whole_x.png", whole)
    save_png(root / "held_out" / "whole_fx.png", f(whole))


def load_held_out(root: Path) -> dict[str, Any]:
    """The held-out images as float arrays in [0, 1]: crops x and f(x), the whole photo and its f."""
    def read(path: Path) -> np.ndarray:
        return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64) / 255.0

    folder = root / "held_out"
    return {"x": [read(p) for p in sorted(folder.glob("x_*.png"))],
            "fx": [read(p) for p in sorted(folder.glob("fx_*.png"))],
            "whole_x": read(folder / "whole_x.png"), "whole_fx": read(folder / "whole_fx.png")}


def load_folder(folder: Path) -> list[np.ndarray]:
    return [np.asarray(Image.open(p).convert("RGB"), dtype=np.float64) / 255.0 for p in sorted(folder.glob("*.png"))]


# -- the figures ------------------------------------------------------------------------------

def feature_space() -> Any:
    """Inception-v3 features when installed, else downsampled pixels (what the table's KID is in)."""
    from studio.core.evaluate import metrics

    extractor, _why_not = metrics.inception_extractor()
    return extractor if extractor is not None else metrics.pixel_features()


def features(extractor: Any, images: list[np.ndarray]) -> np.ndarray:
    import torch

    batch = torch.from_numpy(np.stack(images).transpose(0, 3, 1, 2).astype(np.float32))
    return np.concatenate([extractor(batch[k:k + 16]) for k in range(0, len(batch), 16)])


def figures(outputs: list[np.ndarray], targets: list[np.ndarray], whole_output: np.ndarray, whole_target: np.ndarray,
            real_b_features: np.ndarray, extractor: Any, pixel: bool = True) -> dict[str, float | None]:
    """The row of one contender: outputs G(x) against targets f(x), all floats in [0, 1] H×W×3."""
    from studio.core.evaluate import metrics
    from studio.core.evaluate.checkerboard import checkerboard_index, nyquist_power_ratio

    row: dict[str, float | None] = {
        "psnr_db": float(np.mean([metrics.psnr(o, t) for o, t in zip(outputs, targets, strict=True)])) if pixel else None,
        "ssim": float(np.mean([metrics.ssim(o, t) for o, t in zip(outputs, targets, strict=True)])) if pixel else None,
        "kid": metrics.kid(features(extractor, outputs), real_b_features).value,
        "checkerboard_median": float(np.median([checkerboard_index(o, t)
                                                for o, t in zip(outputs, targets, strict=True)])),
        "checkerboard_whole": checkerboard_index(whole_output, whole_target),
        "nyquist_power_median": float(np.median([nyquist_power_ratio(o, t)
                                                 for o, t in zip(outputs, targets, strict=True)])),
        "nyquist_power_whole": nyquist_power_ratio(whole_output, whole_target),
    }
    return row


def baseline_rows(root: Path) -> dict[str, dict[str, Any]]:
    """The identity baseline (G(x) = x) and the target itself (G(x) = f(x)), computed once."""
    held, extractor = load_held_out(root), feature_space()
    real_b = features(extractor, load_folder(root / "B"))
    identity = figures(held["x"], held["fx"], held["whole_x"], held["whole_fx"], real_b, extractor)
    target = figures(held["fx"], held["fx"], held["whole_fx"], held["whole_fx"], real_b, extractor, pixel=False)
    return {"identity": {**identity, "steps": None, "seconds_per_step": None},
            "target f(x)": {**target, "steps": None, "seconds_per_step": None}}


# -- one contender, in a child process ----------------------------------------------------------

def contender_config(contender: str, root: Path, size: int, seed: int, upsample: str | None = None,
                     downsample: str | None = None, fields: dict[str, Any] | None = None,
                     preset_name: str = "fast") -> Any:
    """The contender's config at ``preset_name``; ``upsample`` and ``downsample`` replace its generator's
    resampling layers (:mod:`studio.core.nets.upsample`, :mod:`studio.core.nets.downsample`), ``fields``
    are further TrainConfig fields (``--set``)."""
    from studio.core.train.presets import preset

    name, _, aug = contender.partition("+")
    if name not in ("cyclegan", "cut", "fastcut") or aug not in ("", "aug"):
        raise SystemExit(f"unknown contender {contender!r} (known: {', '.join(CONTENDERS)})")
    kind = "cyclegan" if name == "cyclegan" else "cut"
    variant = {"variant": name} if kind == "cut" else {}
    config = preset(kind, contender, preset_name, dir_a=str(root / "A"), dir_b=str(root / "B"), crop_size=size,
                    workers=0, augment=AUGMENT if aug else "", seed=seed, **variant, **(fields or {}))
    chosen = {key: value for key, value in (("upsample", upsample), ("downsample", downsample)) if value}
    config.generator = {**config.generator, "params": {**config.generator["params"], **chosen}}
    return config


def train(config: Any, seconds: float, max_steps: int | None, device_name: str = "cpu") -> tuple[Any, int, float]:
    """Train ``config`` for ``seconds`` of training time with the engine's own step loop and its time
    budget (``studio train --minutes``: the total fitted after the first steps and again at a tenth
    of the budget), without the hooks that write files.

    Returns the trainer, the steps done and the mean seconds per step."""
    import torch

    from studio.core.jobs import Control
    from studio.core.train import data, distributed, kinds
    from studio.core.train.config import fit_schedule_to_steps
    from studio.core.train.hooks import TimeBudget
    from studio.core.train.loop import Run, train_loop

    trainer_cls = kinds.trainer_class(config.kind)
    pre = data.Preprocess(config.preprocess, config.load_size, config.crop_size, flip=config.flip)
    dataset = trainer_cls.dataset(config, pre)
    torch.manual_seed(config.seed)
    config.minutes, config.max_steps = seconds / 60.0, max_steps
    device = torch.device(device_name)
    with tempfile.TemporaryDirectory() as folder:
        run = Run(config, trainer_cls(config, device), dataset, Path(folder), device, distributed.World())
        fit_schedule_to_steps(config, run.steps_per_epoch)
        run.total = config.total_steps(run.steps_per_epoch)
        for _ in train_loop(run, Control(), [TimeBudget()]):
            pass
    return run.trainer, run.step, run.elapsed / max(1, run.step)


def side_by_side(inputs: list[np.ndarray], targets: list[np.ndarray], outputs: list[np.ndarray]) -> np.ndarray:
    """Rows of x | f(x) | G(x) as one uint8 image."""
    rows = [np.concatenate(triple, axis=1) for triple in zip(inputs, targets, outputs, strict=True)]
    return (np.concatenate(rows, axis=0) * 255.0).round().astype(np.uint8)


def run_child(args: dict[str, Any]) -> None:
    """Train one contender and write its figures to ``args["result"]`` as JSON."""
    import torch

    from studio.core.evaluate import metrics
    from studio.core.evaluate.checkerboard import checkerboard_index
    from studio.core.images import image_to_tensor, tensor_to_image
    from studio.core.store import LoadedModel, ModelInfo, new_card
    from studio.core.translate import Translator

    torch.set_num_threads(1)
    root, out = Path(args["root"]), Path(args["out"])
    device = args.get("device", "cpu")
    config = contender_config(args["contender"], root, args["size"], args["seed"], args.get("upsample"),
                              args.get("downsample"), args.get("fields"), args.get("preset", "fast"))
    trainer, steps, seconds_per_step = train(config, args["minutes"] * 60.0, args.get("max_steps"), device)
    role = "G_A" if config.kind == "cyclegan" else "G"  # the A -> B generator

    def translate(image: np.ndarray) -> np.ndarray:
        return tensor_to_image(trainer.translate(role, image_to_tensor(image)))

    def translate_at_training_scale(image: np.ndarray) -> np.ndarray:
        """As the app translates it with a working scale of the training's load size (guided filter)."""
        card = new_card(config.kind, {role: (config.generator["arch"], config.generator["params"])})
        model = LoadedModel(ModelInfo(config.name, root, card), {role: trainer.generator(role)})
        return Translator(model, device=device, working_size=config.load_size).translate_array(image)

    held, extractor = load_held_out(root), feature_space()
    outputs = [translate(x) for x in held["x"]]
    row = figures(outputs, held["fx"], translate(held["whole_x"]), held["whole_fx"],
                  features(extractor, load_folder(root / "B")), extractor)
    working = translate_at_training_scale(held["whole_x"])
    row.update(psnr_whole_working=metrics.psnr(working, held["whole_fx"]),
               checkerboard_whole_working=checkerboard_index(working, held["whole_fx"]))
    sheet = out / f"{args['contender'].replace('+', '_')}.png"
    save_png(sheet, side_by_side(held["x"][:SHEET_ROWS], held["fx"][:SHEET_ROWS], outputs[:SHEET_ROWS]))
    result = {**row, "steps": steps, "seconds_per_step": seconds_per_step, "planned_steps": config.max_steps,
              "kind": config.kind, "variant": config.variant, "augment": config.augment, "sheet": str(sheet)}
    Path(args["result"]).write_text(json.dumps(result, indent=2) + "\n")


# -- the parent: the task, the children, the table ------------------------------------------------

def child_command(args: dict[str, Any]) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(args)]


def run_contenders(contenders: list[str], common: dict[str, Any], out: Path, jobs: int) -> dict[str, dict[str, Any]]:
    """Each contender in its own child process (one thread each), ``jobs`` at a time."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    results: dict[str, dict[str, Any]] = {}
    pending = list(contenders)
    running: dict[str, tuple[subprocess.Popen[bytes], Path, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="studio-home-") as home:
        env["STUDIO_HOME"] = home
        while pending or running:
            while pending and len(running) < jobs:
                name = pending.pop(0)
                result = out / f"{name.replace('+', '_')}.json"
                log = open(out / f"{name.replace('+', '_')}.log", "wb")  # closed when the child ends
                args = {**common, "contender": name, "result": str(result)}
                running[name] = (subprocess.Popen(child_command(args), env=env, stdout=log, stderr=log), result, log)
                print(f"started {name}", file=sys.stderr, flush=True)
            time.sleep(0.5)
            for name, (process, result, log) in list(running.items()):
                if process.poll() is None:
                    continue
                log.close()
                del running[name]
                if process.returncode == 0 and result.is_file():
                    results[name] = json.loads(result.read_text())
                    print(f"finished {name}: {results[name]['steps']} steps", file=sys.stderr, flush=True)
                else:
                    tail = Path(log.name).read_text(errors="replace").strip().splitlines()[-5:]
                    results[name] = {"error": f"exit {process.returncode}: " + " | ".join(tail)}
                    print(f"FAILED {name}: {results[name]['error']}", file=sys.stderr, flush=True)
    return results


def number(value: float | None, digits: int) -> str:
    if value is None:
        return "—"
    return "inf" if math.isinf(value) else f"{value:.{digits}f}"


def markdown_table(rows: dict[str, dict[str, Any]], kid_space: str) -> str:
    lines = [f"| contender | steps | s/step | PSNR vs f(x), dB | SSIM | KID vs B ({kid_space}) "
             f"| checkerboard (median crop) | checkerboard (whole photo) | Nyquist power vs f(x)'s (median crop / "
             f"whole photo) | whole photo at the training scale: PSNR / checkerboard |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, row in rows.items():
        if "error" in row:
            lines.append(f"| {name} | failed: {row['error'][:80]} | | | | | | | | |")
            continue
        steps = "—" if row["steps"] is None else str(row["steps"])
        if row.get("planned_steps") and row["planned_steps"] > row["steps"]:
            steps += f" of {row['planned_steps']}"  # the budget ran out before the schedule's end
        lines.append(f"| {name} | {steps} | {number(row['seconds_per_step'], 3)} | {number(row['psnr_db'], 2)} "
                     f"| {number(row['ssim'], 3)} | {number(row['kid'], 4)} | {number(row['checkerboard_median'], 2)} "
                     f"| {number(row['checkerboard_whole'], 2)} | {number(row.get('nyquist_power_median'), 2)} / "
                     f"{number(row.get('nyquist_power_whole'), 2)} | {number(row.get('psnr_whole_working'), 2)} / "
                     f"{number(row.get('checkerboard_whole_working'), 2)} |")
    return "\n".join(lines)


def config_fields(items: list[str]) -> dict[str, Any]:
    """``--set FIELD=JSON`` items as TrainConfig fields (a bare word that is not JSON is a string)."""
    fields: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set wants FIELD=VALUE, got {item!r}")
        try:
            fields[key] = json.loads(text)
        except json.JSONDecodeError:
            fields[key] = text
    return fields


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--style", choices=STYLES, default="colour")
    parser.add_argument("--contenders", default=",".join(CONTENDERS), help="comma list (default: all six)")
    parser.add_argument("--minutes", type=float, default=12.5, help="training wall clock per contender")
    parser.add_argument("--crops", type=int, default=160, help="training crops per domain")
    parser.add_argument("--size", type=int, default=128, help="crop and training size in px")
    parser.add_argument("--held-out-crops", type=int, default=16, help="crops of the held-out photo")
    parser.add_argument("--jobs", type=int, default=1, help="contenders trained at once")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-steps", type=int, default=None, help="cap on each contender's steps (smoke runs)")
    parser.add_argument("--upsample", choices=["transposed", "resize", "bilinear"], default=None,
                        help="the generators' upsampling layers (default: the preset's)")
    parser.add_argument("--downsample", choices=["strided", "blur"], default=None,
                        help="the generators' downsampling layers (default: the preset's)")
    parser.add_argument("--preset", choices=["fast", "reference"], default="fast",
                        help="every contender's preset (reference: the papers' networks; pair it with --size 256)")
    parser.add_argument("--device", default="cpu", help="where the contenders train: cpu (default) or cuda")
    parser.add_argument("--task", default=None,
                        help="a task folder to reuse (A/, B/, held_out/), or to build there and keep if absent: "
                             "a machine without scikit-image can run a task built elsewhere")
    parser.add_argument("--build-only", action="store_true", help="build the --task folder and stop")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=JSON", dest="fields",
                        help="a TrainConfig field for every contender, e.g. nce_layers=[4,8,12,16] (repeatable)")
    parser.add_argument("--out", default=None, help="folder for the PNGs, logs and results.json (default: a temp one)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def task_folder(root: Path, opts: argparse.Namespace) -> Path:
    """``root`` holding the task: built there unless it already is, in which case the task's own style,
    crops, size and seed (its task.json) replace those of ``opts``."""
    recorded = root / "task.json"
    keys = ("style", "crops", "size", "held_out_crops", "seed")
    if recorded.is_file():
        for key, value in json.loads(recorded.read_text()).items():
            setattr(opts, key, value)
        print(f"reusing the task in {root}: " + ", ".join(f"{key} {getattr(opts, key)}" for key in keys), flush=True)
        return root
    build_task(root, opts.style, opts.crops, opts.size, opts.held_out_crops, opts.seed)
    recorded.write_text(json.dumps({key: getattr(opts, key) for key in keys}) + "\n")
    return root


def main(argv: list[str] | None = None) -> None:
    opts = parse(argv)
    if opts.child:
        run_child(json.loads(opts.child))
        return
    contenders = [name.strip() for name in opts.contenders.split(",") if name.strip()]
    unknown = [name for name in contenders if name not in CONTENDERS]
    if unknown:
        raise SystemExit(f"unknown contenders {unknown} (known: {', '.join(CONTENDERS)})")
    if opts.build_only:
        if not opts.task:
            raise SystemExit("--build-only builds the folder given by --task")
        task_folder(Path(opts.task), opts)
        return
    out = Path(opts.out or tempfile.mkdtemp(prefix="unpaired-quality-"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"output folder: {out}", flush=True)
    with tempfile.TemporaryDirectory(prefix="unpaired-task-") as scratch:
        root = task_folder(Path(opts.task) if opts.task else Path(scratch), opts)
        rows = baseline_rows(root)
        common = {"root": str(root), "out": str(out), "size": opts.size, "minutes": opts.minutes, "seed": opts.seed,
                  "max_steps": opts.max_steps, "upsample": opts.upsample, "downsample": opts.downsample,
                  "fields": config_fields(opts.fields), "preset": opts.preset, "device": opts.device}
        rows.update(run_contenders(contenders, common, out, max(1, opts.jobs)))
    kid_space = feature_space().name
    setting = (f"style {opts.style}, {opts.crops} crops a domain at {opts.size} px, {opts.preset} preset on "
               f"{opts.device}, {opts.minutes:g} min a contender, one thread each, held out: "
               f"{opts.held_out_crops} crops of coffee + the whole photo"
               + "".join(f", {key} {value}" for key, value in (("upsample", opts.upsample),
                                                                ("downsample", opts.downsample)) if value)
               + "".join(f", {item}" for item in opts.fields))
    print(f"\n{setting}\n")
    print(markdown_table(rows, "Inception" if "Inception" in kid_space else "pixel"))
    results = {"setting": vars(opts) | {"kid_features": kid_space}, "rows": rows}
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print("\n" + json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
