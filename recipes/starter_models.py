"""Rebuild the starter models in ``models/`` from data that ships inside scikit-image or is drawn from a seed.

    python recipes/starter_models.py                 # all six, into models/ (CPU: about two and a half hours)
    python recipes/starter_models.py --only sketch   # one of them
    python recipes/starter_models.py --scale 0.01 --out /tmp/models   # a smoke run: 1% of the steps

Each model is trained by Studio's own engine (``studio.core.train``: the same job that ``studio
train`` runs), evaluated on photographs kept out of training (``studio.core.evaluate``), and copied
into ``--out`` with fp16 weights where that keeps the output within 40 dB PSNR of fp32 (flows keep
fp32: their likelihood needs exact log-determinants). The card records the recipe, data, steps,
device, duration, metrics and honest limits. Nothing is downloaded: the data come from
:mod:`starter_data`.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import starter_data  # noqa: E402

from studio.cli.progress import render  # noqa: E402
from studio.core import device as devices  # noqa: E402
from studio.core.evaluate import evaluate_job  # noqa: E402
from studio.core.store import LoadedModel, ModelStore  # noqa: E402
from studio.core.train.job import train_job  # noqa: E402
from studio.core.train.presets import preset  # noqa: E402
from studio.core.translate.guided import WorkingScale  # noqa: E402

log = logging.getLogger("recipe")

HALF_MIN_PSNR = 40.0
PHOTOGRAPHS = "photographs shipped with scikit-image (see recipes/starter_data.py); nothing downloaded"
DRAWN = "drawn from a seed by recipes/starter_data.py (numpy and Pillow); nothing downloaded"


@dataclass
class Recipe:
    name: str
    kind: str
    preset: str
    folders: dict[str, str]  # config key (dir_a, dir_b) -> data folder name
    steps: int
    domains: dict[str, str]
    description: str
    limits: str
    overrides: dict[str, Any] = field(default_factory=dict)
    eval_folders: tuple[str, str | None] = ("", None)  # its evaluation's inputs and targets (None: none)
    style: Callable[[np.ndarray], np.ndarray] | None = None  # the filter a translator learned (its checkerboard target)
    seed: int = 0  # the training run's seed (the data's is fixed)
    working_scale: WorkingScale | None = None  # how the app translates larger photos with it (the card's)
    featured: bool = False  # the model its panel opens on (the Latent Explorer's default)
    source: str = PHOTOGRAPHS  # where the training images come from (the card's provenance)


EVERY = {"checkpoint_every": 1000, "preview_every": 500}  # checkpoints and previews, all four recipes
CROPS_128 = {"crop_size": 128, "load_size": 144, **EVERY}  # the two translators: 128-px crops of 144-px photos

def vae_overrides(size: int, beta: float) -> dict[str, Any]:
    """The latent starters' VAE: a 32-d latent, channels 32 up to 256, at ``size`` px; epochs long enough for
    --max-steps to set the length."""
    return {"crop_size": size, **EVERY, "beta": beta, "n_epochs": 1000, "n_epochs_decay": 1000,
            "generator": {"arch": "conv_vae", "params": {"image_size": size, "latent_dim": 32, "channels": 32,
                                                         "max_channels": 256}}}


RECIPES = [
    Recipe(
        name="photo to sketch", kind="pix2pix", preset="fast",
        folders={"dir_a": "photos", "dir_b": "sketch"}, steps=6000,
        domains={"A": "photo", "B": "pencil sketch"},
        description="Paired (pix2pix): turns a colour photo into a soft pencil sketch.",
        limits="Trained on 560 crops of seven photographs (people, a cat, a rocket, a motorcycle, space, "
               "microscopy), 128-px crops. It draws strokes at the scale it saw in training, so on large photos "
               "the lines are thin; scale the photo down to 512-1024 px for bolder strokes. It learned one "
               "drawing style, computed from the photos, not an artist's hand. Its U-Net upsamples by bilinear "
               "resize-convolution, so flat areas are clean paper (the earlier transposed-convolution model "
               "covered them with a fine halftone grain), but its shading is lighter than the style's: held-out "
               "PSNR 16.8 dB against that model's 19.6 dB. Of two training seeds, the one whose output on the "
               "held-out photo had no checkerboard was kept (the other: 16.5 dB, index 1.81).",
        overrides={**CROPS_128,
                   "discriminator": {"arch": "patchgan_discriminator",
                                     "params": {"n_layers": 3, "ndf": 32, "norm": "batch"}}},
        eval_folders=("held_out_photos", "held_out_sketch"), style=starter_data.pencil_sketch, seed=1,
    ),
    Recipe(
        name="photo to poster", kind="cyclegan", preset="fast",
        folders={"dir_a": "poster_photos", "dir_b": "poster"}, steps=5000,
        domains={"A": "photo", "B": "poster"},
        description="Unpaired (CycleGAN): photo ↔ comic-book poster (flat colours, dark outlines), both ways.",
        limits="Trained without pairs on two different crop sets of seven photographs at 128 px, with the fast "
               "preset's light generator. Photo → poster flattens colours and darkens edges; poster → photo "
               "softens flat colours back but cannot invent detail that a poster lost. At a photo's own size its "
               "output is grainy: flat areas keep a fine checkerboard texture that 5000 steps of the light "
               "generator did not remove (24× the style's share of Nyquist power on the held-out coffee photo). "
               "So the app translates photos larger than 256 px (short side) at 256 px, near the scale it "
               "learned, and brings back the photo's own edges and detail with a guided filter: flat areas are "
               "clean (0.01×) and the result is closer to the style (PSNR 16.8 against 15.3 dB), but outlines "
               "are soft and colours less flat than a real poster's; it reads as a posterised colour grade more "
               "than a comic. Size \"Photo's own size\" (--working-size 0) gives the network's raw output. "
               "Colours of scenes unlike the training photos (green landscapes, night shots) may drift.",
        overrides=CROPS_128,
        eval_folders=("held_out_photos", "held_out_poster"), style=starter_data.poster,
        working_scale=WorkingScale(256, radius=2, eps=1e-2),
    ),
    Recipe(
        name="faces vae", kind="vae", preset="reference",
        folders={"dir_a": "faces"}, steps=5000,
        domains={"A": "face", "B": "face"},
        description="β-VAE (β = 2): a smooth 32-dimensional latent space of grey 32-px faces, for the latent canvas.",
        limits="Trained on the 100 grey 25-px faces of the Labeled Faces in the Wild subset that scikit-image "
               "ships, upscaled to 32 px (90 for training, 10 held out). Reconstructions of new faces are blurry "
               "and generic (held-out PSNR about 18 dB), and every image decodes to a face-like picture: drop "
               "faces, not landscapes, on the canvas. The held-out ELBO is low because the decoder's noise scale "
               "was fitted to the 90 training faces, which it reproduces far more sharply than new ones.",
        overrides=vae_overrides(32, beta=2.0),
        eval_folders=("faces", None),
    ),
    Recipe(
        name="landscapes vae", kind="vae", preset="reference",
        folders={"dir_a": "landscapes"}, steps=5000,
        domains={"A": "landscape", "B": "landscape"},
        description="VAE: a smooth 32-dimensional latent space of painted colour landscapes at 64 px (skies from "
                    "noon to night, sun or moon, mountain ridges, fields and lakes), for the latent canvas.",
        limits="Trained on 2,160 landscapes drawn by the recipe's own code (240 held out), so it knows only what that "
               "code paints: gradient skies, a sun or moon, smooth mountain ridges, fields and lakes; no clouds, trees, "
               "buildings or photographs (a photo dropped on the canvas comes back as the nearest painted landscape). "
               "Reconstructions are soft: jagged ridges come back rounded and small suns as glows (held-out PSNR "
               "30.7 dB). Interpolations change smoothly, frame to frame. Random samples are dream-like: skies over "
               "rounded dark ridges, more often dusk and night than noon, now and then a hill floating in the sky; a "
               "lower temperature (0.7-0.8) or starting from the example landscapes gives cleaner scenes.",
        overrides=vae_overrides(64, beta=1.0),
        eval_folders=("landscapes", None), featured=True, source=DRAWN,
    ),
    Recipe(
        name="faces flow", kind="flow", preset="fast",
        folders={"dir_a": "faces"}, steps=3000,
        domains={"A": "face", "B": "face"},
        description="Normalizing flow (Glow): exact encoding and likelihood of grey 32-px faces.",
        limits="Trained on the same 100 grey faces as the VAE, at 32 px. It reconstructs any image exactly "
               "(it is invertible) and scores how face-like an image is in bits per dimension, but 90 training "
               "faces are far too few for good samples: random samples are noisy at temperature 1; use 0.5-0.7.",
        overrides={"crop_size": 32, **EVERY,
                   "n_epochs": 1000, "n_epochs_decay": 1000},
        eval_folders=("faces", None),
    ),
    Recipe(
        name="photo painter", kind="spade", preset="fast",
        folders={"dir_b": "photos"}, steps=2500,
        domains={"A": "automatic label maps", "B": "photo"},
        description="SPADE: paint with eight colour classes found in seven photographs, get a photo-like picture. "
                    "Start from a photo's automatic label map or a blank canvas.",
        limits="Seven photographs (an astronaut, a cat, a rocket, a motorcycle, space, two microscope images), "
               "560 crops at 128 px, classes found automatically by colour and texture: a class means a colour "
               "and a surface (\"brown\" is skin, fur or wood), not a thing. It paints those photos' shading and "
               "some of their texture back, follows the map's borders exactly, and cannot paint what it never saw "
               "(skies, trees, water): a hand-painted map comes out as softly shaded regions of the classes' "
               "colours, not a new scene. Its pictures are smooth rather than detailed: 2,500 steps ship because a "
               "7,000-step run, with more texture, grew ripples along region borders (1.5-9.6x the photo's share "
               "of power at the Nyquist frequencies at 256-384 px, against 0.01 or less here). Its noise seed "
               "changes the picture very little (feature matching pulls every rendering toward the one photo).",
        overrides={"classes": 8, **CROPS_128},
        eval_folders=("held_out_photos", None),
    ),
]


def train(recipe: Recipe, data: dict[str, Path], work: ModelStore, scale: float, device: str | None,
          seed: int = 0) -> str:
    steps = max(2, math.ceil(recipe.steps * scale))
    overrides = {key: str(data[folder]) for key, folder in recipe.folders.items()}
    config = preset(recipe.kind, recipe.name, recipe.preset, max_steps=steps, device=device, seed=seed,
                    **{**recipe.overrides, **overrides})
    log.info("training %r: %s %s preset, %d steps", recipe.name, recipe.kind, recipe.preset, steps)
    summary = render(train_job(config, store=work))
    return summary["model"]


def evaluate(recipe: Recipe, data: dict[str, Path], work: ModelStore, device: str | None) -> dict[str, Any] | None:
    if recipe.kind in ("vae", "flow", "spade"):
        return None  # their held-out split is measured by the training job and already in the card (spade: publish)
    a, b = recipe.eval_folders
    summary = render(evaluate_job(recipe.name, data[a], data[b] if b else None, device=device, store=work))
    return summary["metrics"]


def checkerboard(recipe: Recipe, loaded: LoadedModel, device: str | None) -> dict[str, Any] | None:
    """A translator's checkerboard index on the whole held-out photo: its A→B output's share of
    spectral power at the Nyquist frequencies over that of the style it learned applied to the same
    photo (``studio.core.evaluate.checkerboard``; ≤ 1.5: no checkerboard), with the output's PSNR
    and SSIM against that style. A recipe with a working scale is measured as the app translates
    (at that scale, detail from the photo) and, as ``*_native``, at the photo's own size."""
    if recipe.style is None:
        return None
    from studio.core.evaluate.checkerboard import checkerboard_index
    from studio.core.evaluate.metrics import psnr, ssim
    from studio.core.translate import Translator

    rgb = starter_data.colour_photos()[starter_data.HELD_OUT]
    target = recipe.style(rgb).astype(np.float64) / 255.0
    height, width = rgb.shape[:2]
    found: dict[str, Any] = {"photo": f"{starter_data.HELD_OUT} (held out), {width}×{height}",
                             "target": recipe.style.__name__.replace("_", " ")}
    sizes: list[tuple[str, WorkingScale | int]] = [("", recipe.working_scale or 0)]
    if recipe.working_scale is not None:
        sizes.append(("_native", 0))
        found["working_size"] = recipe.working_scale.short_side
    for suffix, size in sizes:
        output = Translator(loaded, "a2b", device=device, working_size=size).translate_array(rgb.astype(np.float32) / 255.0)
        found.update({f"index{suffix}": round(checkerboard_index(output, target), 2),
                      f"psnr{suffix}": round(psnr(output, target), 2), f"ssim{suffix}": round(ssim(output, target), 3)})
    return found


def paint_metrics(loaded: LoadedModel, data: dict[str, Path], count: int = 20) -> dict[str, Any]:
    """A spade model on the held-out photo's crops: each crop's automatic label map painted, against the
    crop itself (PSNR, SSIM), next to the baseline of the same map in its classes' flat mean colours."""
    from studio.core.evaluate.metrics import psnr, ssim
    from studio.core.images import load_rgb_uint8
    from studio.core.paint.painter import Painter

    painter = Painter(loaded, device="cpu")
    assert painter.palette is not None
    figures: dict[str, list[float]] = {"psnr": [], "ssim": [], "flat_psnr": [], "flat_ssim": []}
    for path in sorted(data["held_out_photos"].glob("*.png"))[:count]:
        real = load_rgb_uint8(path).astype(np.float32) / 255.0
        labels = painter.segment(real)
        painted, flat = painter.paint(labels), painter.palette.colourise(labels).astype(np.float32) / 255.0
        figures["psnr"].append(psnr(painted, real))
        figures["ssim"].append(ssim(painted, real))
        figures["flat_psnr"].append(psnr(flat, real))
        figures["flat_ssim"].append(ssim(flat, real))
    means = {key: round(float(np.mean(values)), 3) for key, values in figures.items()}
    return {"held_out": {**means, "images": len(figures["psnr"]),
                         "photo": f"{starter_data.HELD_OUT} (held out), crops",
                         "baseline": "flat_*: the same label map in its classes' mean colours"}}


def half_precision_psnr(loaded: LoadedModel, folder: Path) -> float:
    """PSNR in dB between outputs of the fp32 weights and of the same weights rounded to fp16, on ``folder``'s
    first images."""
    from studio.core.images import load_rgb_uint8

    size = loaded.card["image_size"]
    files = sorted(folder.glob("*.png"))[:4]
    x = torch.stack([torch.from_numpy(load_rgb_uint8(f, (size, size)).copy()).permute(2, 0, 1).float() / 127.5 - 1
                     for f in files])
    if loaded.info.kind == "spade":  # a painter's input is the photos' label maps, one-hot
        from studio.core.paint import one_hot
        from studio.core.paint.painter import Painter

        painter = Painter(loaded, device="cpu")
        labels = [painter.segment(((im.permute(1, 2, 0).numpy() + 1) * 127.5).round().astype(np.uint8)) for im in x]
        x = one_hot(torch.from_numpy(np.stack(labels).astype(np.int64)), painter.classes)
    worst = math.inf
    for net in loaded.networks.values():
        fp16 = _rounded_copy(net)
        with torch.no_grad():
            y32, y16 = _forward(net, x, net), _forward(fp16, x, net)
        mse = float((y32 - y16).pow(2).mean()) / 4.0  # outputs in [-1, 1]: peak 2
        worst = min(worst, math.inf if mse == 0 else 10 * math.log10(1 / mse))
    return worst


def _rounded_copy(net: torch.nn.Module) -> torch.nn.Module:
    import copy

    clone = copy.deepcopy(net)
    with torch.no_grad():
        for tensor in list(clone.parameters()) + list(clone.buffers()):
            if tensor.is_floating_point():
                tensor.copy_(tensor.half().float())
    return clone


def _forward(net: torch.nn.Module, x: torch.Tensor, reference: torch.nn.Module) -> torch.Tensor:
    """What a person sees of ``net``: a translation, a VAE reconstruction, or a flow decoding
    (of the latents that the fp32 ``reference`` gives ``x``: a flow reconstructs exactly either way)."""
    from studio.core.nets.flow import Glow, to_flow_space
    from studio.core.nets.vae import ConvVAE

    if isinstance(net, ConvVAE):
        return net.decode(net.encode(x)).clamp(-1, 1)
    if isinstance(net, Glow):
        return net.inverse(reference(to_flow_space(x))[0])
    return net(x)


def example_files(recipe: Recipe, data: dict[str, Path], loaded: LoadedModel | None = None,
                  count: int = 4) -> dict[str, Path]:
    """Inputs the app offers with the model: held-out images for the latent canvas, the held-out photo's label
    map for a painter (none for translators, which use the sample photos in resources/)."""
    if recipe.kind == "spade":  # the held-out photo's label map, to start a painting from
        from studio.core.paint import write_label_map
        from studio.core.paint.painter import Painter

        assert loaded is not None
        painter = Painter(loaded, device="cpu")
        assert painter.palette is not None
        target = data["held_out_photos"].parent / "paint_examples" / f"{starter_data.HELD_OUT}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        write_label_map(target, painter.segment(starter_data.colour_photos()[starter_data.HELD_OUT]), painter.palette)
        return {f"examples/{target.name}": target}
    if recipe.kind not in ("vae", "flow"):
        return {}
    from studio.core.train.data import Preprocess, single

    size = recipe.overrides["crop_size"]
    held = single(data[recipe.folders["dir_a"]], Preprocess("resize_and_crop", size, size, flip=False), seed=0).held_out
    paths = [group[0] for group in held.groups]
    paths = paths[::max(1, len(paths) // count)][:count]  # spread over the split, not its first few
    return {f"examples/{p.name}": p for p in paths}


def portable(value: Any, data_root: Path) -> Any:
    """The card without this machine's paths: a data folder becomes ``recipes/starter_data.py: NAME``."""
    if isinstance(value, dict):
        return {k: portable(v, data_root) for k, v in value.items()}
    if isinstance(value, list):
        return [portable(v, data_root) for v in value]
    if isinstance(value, str):
        for root in (str(data_root.resolve()), str(data_root)):
            if value.startswith(root + "/"):
                return f"recipes/starter_data.py: {value[len(root) + 1:]}"
    return value


def publish(recipe: Recipe, work: ModelStore, out: ModelStore, data: dict[str, Path], seconds: float | None,
            scale: float, device: str | None = None) -> dict[str, Any]:
    """Copy the trained model from ``work`` into ``out`` with the recipe's texts and figures.
    ``seconds`` None (republishing) keeps the wall clock that ``out``'s card recorded."""
    info = work.get(recipe.name)
    card = dict(info.card)
    loaded = work.load(info)
    if seconds is None:
        seconds = out.get(recipe.name).card["provenance"]["recipe"]["wall_seconds"]
    pattern = checkerboard(recipe, loaded, device)
    if pattern is not None:
        card["metrics"] = {**card.get("metrics", {}), "checkerboard": pattern}
    if recipe.kind == "spade":
        card["metrics"] = {**card.get("metrics", {}), **paint_metrics(loaded, data)}
    fp16_psnr = half_precision_psnr(loaded, data[recipe.eval_folders[0]])  # the inputs it is evaluated on
    # A flow keeps fp32: its bits/dim (the card's metric) depend on exact log-determinants, and it is small.
    half = fp16_psnr >= HALF_MIN_PSNR and recipe.kind != "flow"
    provenance = dict(card.get("provenance", {}))
    provenance["data"] = {key: f"recipes/starter_data.py: {data[folder].name}" for key, folder in
                          zip(("A", "B"), recipe.folders.values(), strict=False)}
    provenance["recipe"] = {
        "script": "recipes/starter_models.py" + (f" --scale {scale:g}" if scale != 1 else ""),
        "data": recipe.source,
        "wall_seconds": round(seconds, 1),
        "weights": "fp16" if half else "fp32",
        "fp16_psnr_vs_fp32_db": None if math.isinf(fp16_psnr) else round(fp16_psnr, 1),
    }
    card.update(domains=recipe.domains, description=recipe.description, limits=recipe.limits,
                provenance=provenance)
    card.pop("working_scale", None)
    card.pop("featured", None)
    if recipe.featured:
        card["featured"] = True

    if recipe.working_scale is not None:
        card["working_scale"] = recipe.working_scale.to_card()
    card = portable(card, next(iter(data.values())).parent)
    if out.exists(recipe.name):
        out.remove(recipe.name)
    files = example_files(recipe, data, loaded)
    card["examples"] = sorted(files)
    states = {role: net.state_dict() for role, net in loaded.networks.items()}
    saved = out.save(recipe.name, card, states, half=half, files=files)
    return {"name": saved.name, "bytes": saved.size_bytes, "weights": provenance["recipe"]["weights"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", help="a recipe name (or a word of it); repeatable")
    parser.add_argument("--out", type=Path, default=HERE.parent / "models", help="where the models go (models/)")
    parser.add_argument("--work", type=Path, help="data and runs folder (default: a temporary folder)")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the training steps (smoke runs)")
    parser.add_argument("--per-photo", type=int, default=80, help="crops per photograph")
    parser.add_argument("--seed", type=int, help="the training runs' seed (default: each recipe's; the data's is fixed)")
    parser.add_argument("--device", help="cpu, cuda, ... (default: the best available)")
    parser.add_argument("--republish", action="store_true",
                        help="publish the models already trained in --work again (after a change to the recipe's "
                             "texts or figures), without training")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice; 1 on a busy machine)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    chosen = [r for r in RECIPES if not args.only or any(word in r.name for word in args.only)]
    if not chosen:
        parser.error(f"no recipe matches {args.only}; recipes: {', '.join(r.name for r in RECIPES)}")
    if args.republish and not args.work:
        parser.error("--republish needs the --work folder of the run that trained the models")
    work_root = args.work or Path(tempfile.mkdtemp(prefix="studio-starter-"))
    os.environ["STUDIO_HOME"] = str(work_root / "home")  # runs and the work store stay out of the user's
    if not args.republish:
        shutil.rmtree(work_root / "home", ignore_errors=True)
    data = starter_data.build(work_root / "data", per_photo=args.per_photo)
    work = ModelStore(work_root / "home" / "models", work_root / "no-builtins")
    out = ModelStore(args.out, work_root / "no-builtins")
    log.info("device: %s; data and runs in %s", devices.describe(devices.pick_device(args.device)), work_root)
    results = []
    for recipe in chosen:
        started = time.monotonic()
        if args.republish:
            result = publish(recipe, work, out, data, None, args.scale, args.device)
            results.append({**result, "seconds": 0})
            continue
        train(recipe, data, work, args.scale, args.device, recipe.seed if args.seed is None else args.seed)
        evaluate(recipe, data, work, args.device)
        result = publish(recipe, work, out, data, time.monotonic() - started, args.scale, args.device)
        results.append({**result, "seconds": round(time.monotonic() - started)})
        log.info("published %s (%.1f MB, %s)", result["name"], result["bytes"] / 1e6, result["weights"])
    total = sum(r["bytes"] for r in results)
    for r in results:
        print(f"{r['name']}: {r['bytes'] / 1e6:.1f} MB ({r['weights']}), {r['seconds']} s")
    print(f"total_mb: {total / 1e6:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
