"""Fast copies: a translator (the teacher) distilled into a light generator (the student) on the
user's own photos, as a training algorithm.

The teacher is any image translator in the store (one CycleGAN direction, CUT, pix2pix), usually a
reference-size ResNet that takes seconds per photo on a CPU. The student is the ``fast`` preset's
light generator (GAN Compression's mobile ResNet; Li et al. 2020 kept their CycleGAN teachers'
quality at a twentieth of the work), or the reference ResNet with ``--preset reference``.

1. :func:`prepare` translates every photo once with the teacher, at the working size (short side
   ``load_size``), through the same :class:`~studio.core.translate.Translator` that translates in
   the app (tiled where a photo does not fit in memory), and caches input and output as PNGs in
   the run folder (``teacher/``). A seeded tenth of the photos (at least one of two or more) is
   held out for the card's fidelity figures. A resumed run, or a new one over the same folder and
   teacher, reuses the cache.
2. The student trains on aligned random crops of (photo, teacher output) pairs, no flips (a
   teacher is not exactly flip-equivariant), with L1 plus, where weighted, ``1 - SSIM`` and an L1
   between the teacher's own encoder features of both outputs (a perceptual term that needs no
   downloaded network). No discriminator: the target is one fixed function.
3. The card is the *teacher's* kind with the student in the teacher's role for that direction (a
   CycleGAN teacher's b2a copy is a one-direction CycleGAN model), so the student translates,
   exports and evaluates as any model does. Its provenance names the teacher and direction, and its
   metrics hold the fidelity to the teacher on the held-out photos (whole photos at the working
   size, PSNR and SSIM) and the latency of both at 512×512, measured at the end of the run on the
   same device and threads.
"""

from __future__ import annotations

import json
import logging
import random
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from studio.core import nets
from studio.core.errors import ImageError, StudioError
from studio.core.evaluate.metrics import psnr, ssim, ssim_batch
from studio.core.fileio import atomic_write_text
from studio.core.images import load_rgb_uint8, resize_uint8, tensor_to_uint8, write_image
from studio.core.jobs import Event, Progress, log_event
from studio.core.store import DIRECTION_NETWORK, LoadedModel, ModelInfo, ModelStore
from studio.core.translate import Translator
from studio.core.translate.image_norms import inference_copy

from . import data
from .config import TrainConfig
from .trainer import Trainer, preview_grid, unwrap

log = logging.getLogger(__name__)

CACHE = "teacher"  # the run folder's cache of the teacher's outputs
MANIFEST = "manifest.json"
HELD_OUT_FRACTION = 0.1
LATENCY_SIZE = 512
LATENCY_REPEATS = 5
FEATURE_LAYERS = 3  # the teacher's encoder layers the feature term compares (ResNet teachers)


def teacher_info(config: TrainConfig, store: ModelStore | None = None) -> ModelInfo:
    """The run's teacher as the store lists it, checked from its card alone (no weights read): a
    translator that has the run's direction."""
    if not config.teacher:
        raise StudioError("a fast copy needs the model to copy (studio distill MODEL ...)")
    info = (store or ModelStore()).get(config.teacher)
    if info.kind not in DIRECTION_NETWORK:
        raise StudioError(f"{config.teacher!r} is a {info.kind} model, not an image translator: "
                          "only translators get fast copies")
    if config.direction not in info.directions():
        raise StudioError(f"{config.teacher!r} cannot translate {config.direction} "
                          f"(it has: {', '.join(info.directions()) or 'none'})")
    return info


def teacher_model(config: TrainConfig, store: ModelStore | None = None) -> LoadedModel:
    """The run's teacher with its weights, checked as :func:`teacher_info` checks it."""
    store = store or ModelStore()
    return store.load(teacher_info(config, store).name)


def teacher_role(kind: str, direction: str) -> str:
    """The network role that runs ``direction`` in a ``kind`` card (the student's role in its card)."""
    return DIRECTION_NETWORK[kind][direction]


# -- the teacher's outputs, once ------------------------------------------------------------------

def cache_folders(folder: Path) -> dict[str, Path]:
    root = folder / CACHE
    return {"train": root / "train", "held_out": root / "held_out"}


def split(paths: list[Path], seed: int) -> tuple[list[Path], list[Path]]:
    """(training photos, held-out photos): a seeded tenth held out, at least one of two or more."""
    paths = sorted(paths)
    random.Random(f"held-out/{seed}").shuffle(paths)
    count = 0 if len(paths) < 2 else max(1, round(len(paths) * HELD_OUT_FRACTION))
    return paths[count:], paths[:count]


def working_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(width, height) with the short side brought down to ``short_side`` (never up), multiples of 4."""
    scale = min(1.0, short_side / min(width, height))
    return max(4, round(width * scale / 4) * 4), max(4, round(height * scale / 4) * 4)


def prepare(config: TrainConfig, folder: Path, store: ModelStore | None = None) -> Iterator[Event]:
    """Translate the photos with the teacher into the run's cache (once; reused when it matches)."""
    assert config.dir_a is not None
    scan = data.scan_folder(config.dir_a)
    train, held_out = split(list(scan.usable), config.seed)
    info = teacher_info(config, store)
    wanted = {"teacher": config.teacher, "teacher_created": info.created, "direction": config.direction,
              "photos": config.dir_a, "short_side": config.load_size, "seed": config.seed,
              "train": [str(p) for p in train], "held_out": [str(p) for p in held_out]}
    root = folder / CACHE
    manifest = root / MANIFEST
    done: dict[str, Any] = json.loads(manifest.read_text(encoding="utf-8")) if manifest.exists() else {}
    if done.get("settings") == wanted and done.get("complete"):
        yield log_event(log, "info", f"the teacher's outputs for {len(train) + len(held_out)} photos are cached")
        return
    if done.get("settings") != wanted:  # another teacher, folder or size: start the cache again
        for old in root.rglob("*.png"):
            old.unlink()
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(manifest, json.dumps({"settings": wanted, "complete": False}, indent=2) + "\n")
    # the teacher's network at the photo's own size (not a card's working scale): that is what the copy learns
    translator = Translator(teacher_model(config, store), config.direction, device=config.device, working_size=0)
    jobs = [(part, index, path) for part, paths in (("train", train), ("held_out", held_out))
            for index, path in enumerate(paths)]
    yield log_event(log, "info", f"translating {len(jobs)} photos with {config.teacher!r} ({config.direction}) "
                                 f"at a short side of {config.load_size} px, once")
    failed = 0
    for done_count, (part, index, path) in enumerate(jobs):
        yield Progress(done_count, len(jobs), f"teacher {done_count + 1}/{len(jobs)}")
        name = f"{index:05d}.png"
        target = cache_folders(folder)[part]
        if (target / "B" / name).exists():
            continue
        try:
            photo = load_rgb_uint8(path)
        except ImageError as exc:
            failed += 1
            yield log_event(log, "warning", f"skipped {exc}")
            continue
        photo = resize_uint8(photo, working_size(photo.shape[1], photo.shape[0], config.load_size))
        output = translator.translate_array(photo.astype(np.float32) / 255.0)
        (target / "A").mkdir(parents=True, exist_ok=True)
        (target / "B").mkdir(parents=True, exist_ok=True)
        write_image(target / "A" / name, photo.astype(np.float32) / 255.0)
        write_image(target / "B" / name, output)  # B last: its presence means the pair is whole
    if failed == len(jobs):
        raise data.DataError(f"{config.dir_a}: none of the photos can be read")
    atomic_write_text(manifest, json.dumps({"settings": wanted, "complete": True}, indent=2) + "\n")
    yield Progress(len(jobs), len(jobs), "teacher done")


# -- the trainer ------------------------------------------------------------------------------------

class DistillTrainer(Trainer):
    kind = "distill"
    title = "Fast copy of a translator"
    preview_layout = "each row: photo, teacher, student"
    folder_titles = ("Photos", "")
    one_domain = True
    copies_a_model = True
    generator_roles = ("G",)
    card_config_keys = ("teacher", "direction", "lambda_l1", "lambda_ssim", "lambda_feat")

    def __init__(self, config: TrainConfig, device: torch.device):
        super().__init__(config, device)
        model = teacher_model(config)
        self.teacher_card = model.card
        network = model.generator(config.direction)
        self.teacher = inference_copy(network).to(device)
        self.feature_layers: list[int] = []
        if config.lambda_feat > 0:
            if not isinstance(network, nets.ResnetGenerator):
                raise StudioError(f"--lambda-feat compares a ResNet teacher's encoder features; "
                                  f"{config.teacher!r} is a {model.card['networks'][self.role]['arch']}")
            self.feature_layers = network.encoder_layers(FEATURE_LAYERS, pixels=False)

    @property
    def role(self) -> str:
        return teacher_role(self.teacher_card["kind"], self.config.direction)

    # -- data ------------------------------------------------------------------------------------
    @classmethod
    def check_data(cls, config: TrainConfig) -> None:
        if not config.dir_a:
            raise StudioError("a fast copy trains on a folder of your photos: --photos DIR")
        teacher_info(config)

    @classmethod
    def prepare(cls, config: TrainConfig, folder: Path, store: ModelStore) -> Iterator[Event]:
        return prepare(config, folder, store)

    @classmethod
    def dataset(cls, config: TrainConfig, preprocess: data.Preprocess, folder: Path | None = None) -> Any:
        if folder is None:
            raise StudioError("a fast copy's data is the teacher's cache in its run folder")
        parts = cache_folders(folder)
        train = data.paired(parts["train"] / "A", parts["train"] / "B", preprocess=preprocess, seed=config.seed)
        if (parts["held_out"] / "B").is_dir():
            train.held_out = data.paired(parts["held_out"] / "A", parts["held_out"] / "B",
                                         preprocess=preprocess, seed=config.seed)
        return train

    @classmethod
    def evaluation_preprocess(cls, config: TrainConfig) -> data.Preprocess:
        """Whole photos at the working size: fidelity is measured as the app translates."""
        return data.Preprocess("none", config.load_size, config.crop_size, flip=False)

    @classmethod
    def base_roles(cls, config: TrainConfig, name: str, card: dict[str, Any]) -> dict[str, str]:
        """A student to go on from (``--from``): any translator's network for the run's direction."""
        role = DIRECTION_NETWORK.get(card["kind"], {}).get(config.direction)
        if role is None or role not in card["networks"]:
            raise StudioError(f"--from {name}: it is no translator of {config.direction}")
        return {"G": role}

    # -- training --------------------------------------------------------------------------------
    def step(self, batch: dict[str, Any]) -> dict[str, float]:
        c = self.config
        photo, target = self.to_device(batch, "A"), self.to_device(batch, "B")
        self.opt_g.zero_grad(set_to_none=True)
        with self.autocast():
            student = self.nets["G"](photo)
        student = student.float()
        loss_l1 = nn.functional.l1_loss(student, target) * c.lambda_l1
        loss = loss_l1
        values = {"L1": loss_l1.item()}
        if c.lambda_ssim > 0:
            # on [0, 1], as the card's metric: SSIM's luminance term is not shift-invariant, and on [-1, 1]
            # it swings at mid-grey (held-out SSIM 0.927 → 0.942 in the same 12 minutes, README "Fast copies")
            loss_ssim = (1.0 - ssim_batch((student + 1) / 2, (target + 1) / 2).mean()) * c.lambda_ssim
            loss = loss + loss_ssim
            values["SSIM"] = loss_ssim.item()
        if self.feature_layers:
            n = student.shape[0]
            teacher = cast(nets.ResnetGenerator, self.teacher)
            with self.autocast():
                features = teacher.features(torch.cat([student, target]), self.feature_layers)
            loss_feat = sum((nn.functional.l1_loss(f[:n].float(), f[n:].detach().float()) for f in features),
                            start=torch.zeros((), device=student.device)) * (c.lambda_feat / len(features))
            loss = loss + loss_feat
            values["feat"] = loss_feat.item()
        loss.backward()
        self.opt_g.step()
        return values

    def preview(self, samples: dict[str, torch.Tensor]) -> np.ndarray:
        """Rows of photo, the teacher's output, the student's."""
        return preview_grid([samples["A"], samples["B"], self.translate("G", samples["A"])])

    # -- what the card says ---------------------------------------------------------------------
    def evaluate(self, loader: Any) -> dict[str, float] | None:
        """Fidelity to the teacher on the held-out photos, whole, as the app translates them."""
        scores: dict[str, list[float]] = {"psnr_to_teacher": [], "ssim_to_teacher": []}
        for batch in loader:
            out = self.translate("G", batch["A"])
            for student, teacher in zip(out, batch["B"], strict=True):
                s = tensor_to_uint8(student).permute(1, 2, 0).numpy() / 255.0
                t = tensor_to_uint8(teacher).permute(1, 2, 0).numpy() / 255.0
                scores["psnr_to_teacher"].append(psnr(s, t))
                scores["ssim_to_teacher"].append(ssim(s, t))
        return {k: float(np.mean(v)) for k, v in scores.items() if v}

    def card_kind(self) -> str:
        return str(self.teacher_card["kind"])

    def published_networks(self) -> dict[str, nn.Module]:
        return {self.role: unwrap(self.nets["G"])}

    def finish_card(self, card: dict[str, Any]) -> None:
        c = self.config
        card["domains"] = dict(self.teacher_card.get("domains", {"A": "A", "B": "B"}))
        card["image_size"] = self.teacher_card.get("image_size", card.get("image_size"))
        card["provenance"].update(source="distillation", teacher={
            "name": c.teacher, "kind": self.teacher_card["kind"], "direction": c.direction,
            "arch": self.teacher_card["networks"][self.role]["arch"], "created": self.teacher_card.get("created"),
        })
        if "working_scale" in self.teacher_card:  # it copies the network, so it is best used at the same scale
            card["working_scale"] = dict(self.teacher_card["working_scale"])
        latency = self.latency_ms()
        card["metrics"]["latency_ms"] = latency
        speedup = latency["teacher"] / max(latency["student"], 1e-9)
        card["metrics"]["speedup"] = round(speedup, 2)
        fidelity = card["metrics"].get("ssim_to_teacher")
        card["description"] = (
            f"A fast copy of {c.teacher!r} ({c.direction}), distilled in Studio on "
            f"{card['provenance']['images'].get('A', '?')} photos: {speedup:.1f}× faster at "
            f"{LATENCY_SIZE}×{LATENCY_SIZE}"
            + (f", SSIM {fidelity:.3f} to the original on held-out photos." if fidelity is not None else
               "; no photo was held out to measure its fidelity."))

    def latency_ms(self) -> dict[str, Any]:
        """Median milliseconds of the teacher and the student on one 512×512 image, here and now."""
        student = inference_copy(unwrap(self.nets["G"])).to(self.device)
        x = torch.rand(1, 3, LATENCY_SIZE, LATENCY_SIZE, device=self.device) * 2 - 1
        figures: dict[str, Any] = {}
        for name, net in (("teacher", self.teacher), ("student", student)):
            with torch.inference_mode():
                net(x)  # warm-up
                times = []
                for _ in range(LATENCY_REPEATS):
                    if self.device.type == "cuda":
                        torch.cuda.synchronize(self.device)
                    started = time.perf_counter()
                    net(x)
                    if self.device.type == "cuda":
                        torch.cuda.synchronize(self.device)
                    times.append(time.perf_counter() - started)
            figures[name] = round(statistics.median(times) * 1000, 1)
        figures.update(size=LATENCY_SIZE, threads=torch.get_num_threads(), device=self.device.type,
                       measured=time.strftime("%Y-%m-%dT%H:%M:%S"))
        return figures
