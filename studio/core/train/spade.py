"""SPADE (Park et al. 2019) as a training algorithm: paint pictures from label maps.

Data: label maps (A) and photos (B) matched by file name, the maps indexed PNGs or colour-coded with
a ``palette.json`` (:mod:`studio.core.paint.palette`); or photos alone, which :meth:`SpadeTrainer.prepare`
segments into ``--classes`` classes of its own (:class:`studio.core.paint.Segmenter`, fitted on the whole
folder so a class means the same in every photo) and keeps as indexed PNGs in the run folder. The palette
(and the segmenter, for automatic labels) go into the card: the model knows what can be painted with it,
and can give any photo a label map to start a painting from.

Objective, as the paper's: the hinge GAN loss of a multi-scale discriminator on concat(one-hot labels,
image), plus feature matching (λ 10) on its intermediate features; Adam β (0, 0.9) with the two time-
scale update rule (G at half the rate, D at twice). The paper's VGG perceptual loss is not used: its
ImageNet weights are a download, and nothing here may fetch one. The generator sees a noise vector per
image when its ``z_dim`` is > 0 (the fast preset's): a seed varies the rendering of one painting. Feature
matching pulls every rendering toward the one photo, so a generator ignores its noise unless told
otherwise: ``lambda_ms`` adds the mode-seeking term of MSGAN (Mao et al. 2019), each map painted with
two noises and the generator rewarded for pictures as far apart as the noises.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from studio.core.errors import ImageError, StudioError
from studio.core.images import load_rgb_uint8, resize_uint8, uint8_to_tensor
from studio.core.jobs import Event, Log, Progress
from studio.core.paint import (
    PALETTE_FILE,
    LabelError,
    Palette,
    default_palette,
    one_hot,
    read_label_map,
    resize_labels,
    write_label_map,
)
from studio.core.paint.segment import Segmenter
from studio.core.translate.image_norms import inference_copy

from . import data
from .config import TrainConfig
from .folders import DataError, FolderScan, match_by_name, scan_folder
from .trainer import Trainer, preview_grid, set_requires_grad, unwrap

if TYPE_CHECKING:
    from studio.core.store import ModelStore

log = logging.getLogger(__name__)

LABELS = "labels"  # the run folder's automatic label maps
SEGMENTER_FILE = "segmenter.json"


# -- data ----------------------------------------------------------------------------------------------

class LabelledDataset(data.TrainingSet):
    """(label map, photo) pairs that get the same crop and flip; labels resized by nearest neighbour."""

    kind = "labelled"

    def __init__(self, groups: list[tuple[Path, Path]], scans: list[FolderScan], palette: Palette,
                 preprocess: data.Preprocess, seed: int, unmatched: list[tuple[Path, str]] | None = None,
                 cache_budget: int = data.DEFAULT_CACHE_BUDGET) -> None:
        super().__init__(scans, preprocess, seed)
        self.groups: list[tuple[Path, ...]] = [tuple(group) for group in groups]
        self.palette = palette
        self.unmatched = unmatched or []
        self.segmenter: Segmenter | None = None  # automatic labels: what made them (for the card)
        self._plan_cache([scans[1].sizes[group[1]] for group in groups] * 2, cache_budget)

    def __len__(self) -> int:
        return len(self.groups)

    def _decode(self, group: tuple[Path, ...]) -> tuple[np.ndarray, ...]:
        try:
            labels, _ = read_label_map(group[0], self.palette)
        except LabelError as exc:
            raise ImageError(group[0], str(exc).removeprefix(f"{group[0]}: ")) from None
        photo = load_rgb_uint8(group[1])
        if labels.shape != photo.shape[:2]:
            raise ImageError(group[0], f"label map is {labels.shape[1]}×{labels.shape[0]} but its photo is "
                                       f"{photo.shape[1]}×{photo.shape[0]}")
        return labels, photo

    def _fixed(self, group: tuple[Path, ...]) -> tuple[np.ndarray, ...]:
        images = self._cache.get(group)
        if images is None:
            labels, photo = self._decode(group)
            size = self.preprocess.fixed_size(photo.shape[1], photo.shape[0])
            images = (resize_labels(labels, size), resize_uint8(photo, size))
            if self.caching and torch.utils.data.get_worker_info() is None:
                self._cache[group] = images
        return images

    def __getitem__(self, key: data.Key | int) -> dict[str, Any]:
        index, rng = self._rng(key)
        group, (labels, photo) = self._load(self.groups, index, f"{self.scans[0].folder} / {self.scans[1].folder}")
        p = self.preprocess
        height, width = photo.shape[:2]
        x = rng.randint(0, width - p.crop_size) if p.crops else 0
        y = rng.randint(0, height - p.crop_size) if p.crops else 0
        flip = p.flip and rng.random() < 0.5
        if p.crops:
            labels, photo = labels[y:y + p.crop_size, x:x + p.crop_size], photo[y:y + p.crop_size, x:x + p.crop_size]
        side = (data.multiple_of_4(photo.shape[1]), data.multiple_of_4(photo.shape[0]))
        labels, photo = resize_labels(labels, side), resize_uint8(photo, side)
        if flip:
            labels, photo = labels[:, ::-1], photo[:, ::-1]
        return {"A": torch.from_numpy(labels.astype(np.int64)), "B": uint8_to_tensor(photo),
                "A_colour": uint8_to_tensor(self.palette.colourise(labels)),  # what previews show
                "A_path": str(group[0]), "B_path": str(group[1])}

    def _skipped(self) -> list[tuple[str, str]]:
        return super()._skipped() + [(str(path), reason) for path, reason in self.unmatched]

    def _counts(self) -> dict[str, int]:
        return {"A": len(self.scans[0].usable), "B": len(self.scans[1].usable), "pairs": len(self.groups)}


def label_palette(config: TrainConfig) -> Palette:
    """The palette of a run's given label maps: ``--palette``, ``palette.json`` beside the maps, or the
    classes the indexed maps use (their PNG's colours; as many classes as the highest index + 1)."""
    if config.palette:
        return Palette.read(config.palette)
    assert config.dir_a is not None
    folder = Path(config.dir_a)
    if (folder / PALETTE_FILE).is_file():
        return Palette.read(folder / PALETTE_FILE)
    scan = scan_folder(folder)
    highest, first = 0, None
    for path in scan.usable:
        try:
            labels, palette = read_label_map(path)
        except LabelError as exc:
            raise DataError(f"{exc} (or put a {PALETTE_FILE} in {folder})") from None
        highest, first = max(highest, int(labels.max(initial=0))), first or palette
    if first is None:
        raise DataError(f"{folder}: no label maps")
    if highest >= len(first):  # a map with a short PNG palette: default colours for the classes past it
        return Palette(first.classes + default_palette(highest + 1).classes[len(first):])
    return Palette(first.classes[: highest + 1])


def label_count(config: TrainConfig) -> int | None:
    """How many classes the run's generator paints from (None when the data is not given yet)."""
    if config.classes:
        return config.classes
    if config.dir_a:
        return len(label_palette(config))
    return None


def check_pairs(groups: list[tuple[Path, Path]], scans: list[FolderScan], palette: Palette) -> Iterator[Event]:
    """Every label map read once: its classes in the palette, its size the photo's. One line for what is wrong."""
    wrong_size, wrong_colour = [], []
    for i, (labels_path, photo_path) in enumerate(groups):
        if scans[0].sizes[labels_path] != scans[1].sizes[photo_path]:
            wrong_size.append(f"{labels_path.name} {scans[0].sizes[labels_path][0]}×{scans[0].sizes[labels_path][1]} "
                              f"vs {photo_path.name} {scans[1].sizes[photo_path][0]}×{scans[1].sizes[photo_path][1]}")
        else:
            try:
                read_label_map(labels_path, palette)
            except LabelError as exc:
                wrong_colour.append(str(exc))
        yield Progress(i + 1, len(groups), "checking label maps")
    if wrong_size:
        raise DataError(f"{len(wrong_size)} label maps differ in size from their photos: "
                        f"{'; '.join(wrong_size[:3])}{' …' if len(wrong_size) > 3 else ''}")
    if wrong_colour:
        raise DataError(f"{len(wrong_colour)} label maps do not fit the palette: {wrong_colour[0]}")


def automatic_labels(config: TrainConfig, folder: Path) -> Iterator[Event]:
    """Fit a segmenter of ``config.classes`` classes on the photos and write every photo's label map
    into ``folder/labels`` (kept for a resumed run or a new one with the same photos and classes)."""
    assert config.dir_b is not None
    scan = scan_folder(config.dir_b)
    root = folder / LABELS
    wanted = {"photos": str(Path(config.dir_b).resolve()), "classes": config.classes, "seed": config.seed,
              "files": [str(p.relative_to(scan.folder)) for p in scan.usable]}
    manifest = root / "manifest.json"
    if manifest.is_file() and json.loads(manifest.read_text(encoding="utf-8")) == wanted:
        yield Log("info", f"automatic label maps: reusing the {len(scan.usable)} in {root}")
        return
    images = []
    for i, path in enumerate(scan.usable):
        yield Progress(i, len(scan.usable), f"reading {path.name}")
        images.append(load_rgb_uint8(path))
    yield Progress(0, 1, f"finding {config.classes} classes in {len(images)} photos")
    segmenter = Segmenter.fit(images, config.classes, seed=config.seed)
    root.mkdir(parents=True, exist_ok=True)
    for i, path in enumerate(scan.usable):
        photo = load_rgb_uint8(path)
        target = root / path.relative_to(scan.folder).with_suffix(".png")
        target.parent.mkdir(parents=True, exist_ok=True)
        write_label_map(target, segmenter.segment(photo), segmenter.palette)
        yield Progress(i + 1, len(scan.usable), f"labelling {path.name}")
    (root / SEGMENTER_FILE).write_text(json.dumps(segmenter.to_card()), encoding="utf-8")
    segmenter.palette.write(root / PALETTE_FILE)
    manifest.write_text(json.dumps(wanted), encoding="utf-8")
    names = ", ".join(segmenter.palette.names)
    yield Log("info", f"automatic label maps: {config.classes} classes ({names}) for {len(scan.usable)} photos")


# -- the trainer ---------------------------------------------------------------------------------------

class SpadeTrainer(Trainer):
    kind = "spade"
    paired = True
    title = "SPADE — paint from label maps"
    preview_layout = "each row: label map, painting, photo"
    folder_titles = ("Label maps (A), named as the photos; none: automatic", "Photos (B)")
    generator_roles = ("G",)
    discriminator_roles = ("D",)
    averages_generators = True
    card_config_keys = ("lambda_fm", "lambda_ms", "classes")
    # DiffAugment's colour jitter would change the one-hot channels the discriminator reads with the image.
    augments_small_folders = False
    automatic_labels = True

    def __init__(self, config: TrainConfig, device: torch.device):
        super().__init__(config, device)
        self.z_dim = int(config.generator["params"].get("z_dim", 0))
        self.label_nc = int(config.generator["params"]["label_nc"])
        self.rng = torch.Generator().manual_seed(config.seed * 2 + 5)  # the noise vectors; saved for exact resume
        self.set_lr(config.lr)

    @classmethod
    def check_data(cls, config: TrainConfig) -> None:
        if not config.dir_b:
            raise StudioError("SPADE trains on photos: --photos DIR, with --labels DIR (label maps named as the "
                              "photos) or --classes K (automatic label maps of K classes)")
        if config.dir_a and config.classes:
            raise StudioError("give --labels DIR or --classes K, not both")
        if not config.dir_a and not config.classes:
            raise StudioError("SPADE needs label maps: --labels DIR, or --classes K to make them from the photos")
        if config.augment:
            raise StudioError("--augment is not for SPADE: its colour jitter would change the label channels")

    @classmethod
    def prepare(cls, config: TrainConfig, folder: Path, store: ModelStore) -> Iterator[Event]:
        if config.classes:
            yield from automatic_labels(config, folder)
            return
        palette = label_palette(config)
        scans = [scan_folder(config.dir_a or ""), scan_folder(config.dir_b or "")]
        groups, _ = match_by_name(scans[0], scans[1])
        yield from check_pairs(groups, scans, palette)
        folder.mkdir(parents=True, exist_ok=True)
        palette.write(folder / PALETTE_FILE)

    @classmethod
    def dataset(cls, config: TrainConfig, preprocess: data.Preprocess, folder: Path | None = None) -> Any:
        if config.classes:
            if folder is None:
                raise StudioError("automatic label maps live in the run folder")
            labels_dir = folder / LABELS
            palette = Palette.read(labels_dir / PALETTE_FILE)
        else:
            labels_dir = Path(config.dir_a or "")
            palette = Palette.read(folder / PALETTE_FILE) if folder and (folder / PALETTE_FILE).is_file() \
                else label_palette(config)
        scans = [scan_folder(labels_dir), scan_folder(config.dir_b or "")]
        groups, unmatched = match_by_name(scans[0], scans[1])
        dataset = LabelledDataset(groups, scans, palette, preprocess, config.seed, unmatched)
        if config.classes:
            dataset.segmenter = Segmenter.from_card(json.loads((labels_dir / SEGMENTER_FILE).read_text("utf-8")))
        return dataset

    def discriminator_input_channels(self) -> int:
        return int(self.config.generator["params"]["label_nc"]) + 3

    def set_lr(self, lr: float) -> None:
        """The two time-scale update rule: the generator at half the rate, the discriminator at twice."""
        for opt, factor in ((self.opt_g, 0.5), (self.opt_d, 2.0)):
            assert opt is not None
            for group in opt.param_groups:
                group["lr"] = lr * factor

    def noise(self, count: int) -> torch.Tensor | None:
        if not self.z_dim:
            return None
        return torch.randn(count, self.z_dim, generator=self.rng).to(self.device)

    def step(self, batch: dict[str, Any]) -> dict[str, float]:
        c = self.config
        labels = one_hot(batch["A"].to(self.device), self.label_nc)
        real = self.to_device(batch, "B")
        count = labels.shape[0]
        seeking = bool(c.lambda_ms and self.z_dim)  # each map painted twice, with two noises
        cond = torch.cat([labels, labels]) if seeking else labels
        z = self.noise(cond.shape[0])
        d = unwrap(self.nets["D"])
        assert self.opt_d is not None
        with self.autocast():
            fakes = self.nets["G"](cond, z)
        fake = fakes[:count]
        set_requires_grad([d], True)
        self.opt_d.zero_grad(set_to_none=True)
        with self.autocast():
            judged_real = self.nets["D"](torch.cat([labels, real], 1))
            judged_fake = self.nets["D"](torch.cat([labels, fake.detach()], 1))
            loss_d = sum(0.5 * (self.gan_loss(r[-1], True) + self.gan_loss(f[-1], False))
                         for r, f in zip(judged_real, judged_fake, strict=True)) / len(judged_real)
        loss_d.backward()
        self.opt_d.step()
        set_requires_grad([d], False)
        self.opt_g.zero_grad(set_to_none=True)
        losses: dict[str, torch.Tensor] = {}
        with self.autocast():
            judged = self.nets["D"](torch.cat([cond, fakes], 1))
            losses["G_GAN"] = sum(self.gan_loss(f[-1], True, for_discriminator=False) for f in judged) / len(judged)
            repeat = 2 if seeking else 1  # the real image's features, for each painting of its map
            losses["G_FM"] = torch.stack([
                nn.functional.l1_loss(f.float(), torch.cat([r.detach()] * repeat).float())
                for fs, rs in zip(judged, judged_real, strict=True)
                for f, r in zip(fs[:-1], rs[:-1], strict=True)]).sum() * c.lambda_fm / len(judged)
            if c.lambda_l1:
                losses["G_L1"] = nn.functional.l1_loss(fake.float(), real.float()) * c.lambda_l1
            if seeking:
                assert z is not None
                # Mode seeking (Mao et al., MSGAN 2019): the pictures of two noises should differ as much as the
                # noises do; the generator minimises the inverse of that ratio.
                apart = (fakes[:count] - fakes[count:]).abs().mean() / (z[:count] - z[count:]).abs().mean()
                losses["G_MS"] = c.lambda_ms / (apart + 1e-5)
            loss_g = torch.stack(list(losses.values())).sum()
        loss_g.backward()
        self.opt_g.step()
        set_requires_grad([d], True)
        return {"D": float(loss_d.detach()), **{k: float(v.detach()) for k, v in losses.items()}}

    @torch.no_grad()
    def paint(self, labels: torch.Tensor, seed: int = 0) -> torch.Tensor:
        """How the published model paints ``labels`` (N×H×W classes): eval mode, the seed's noise."""
        net = inference_copy(self.generator("G")).to(self.device)
        z = (torch.randn(labels.shape[0], self.z_dim, generator=torch.Generator().manual_seed(seed)).to(self.device)
             if self.z_dim else None)
        return net(one_hot(labels.to(self.device), self.label_nc), z).float().cpu()

    def preview(self, samples: dict[str, torch.Tensor]) -> np.ndarray:
        """Rows of the label map (in its palette's colours), the painting, the photo."""
        return preview_grid([samples["A_colour"], self.paint(samples["A"]), samples["B"]])

    def card_from_data(self, dataset: Any) -> dict[str, Any]:
        """The palette (and the segmenter of automatic labels): what can be painted, and how a photo becomes a map."""
        labels = "automatic label maps" if dataset.segmenter is not None else dataset.scans[0].folder.name
        fields: dict[str, Any] = {"palette": dataset.palette.to_card(),
                                  "domains": {"A": labels, "B": dataset.scans[1].folder.name}}
        if dataset.segmenter is not None:
            fields["segmenter"] = dataset.segmenter.to_card()
        return fields

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "rng": self.rng.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if "rng" in state:
            self.rng.set_state(state["rng"])

