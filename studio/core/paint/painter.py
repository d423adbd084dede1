"""Painting: a label map in, a picture out, with a ``spade`` model from the store.

The painter paints at the map's own size: the map is padded (edge classes repeated) to the
generator's size multiple and the picture cropped back. The seed picks the noise vector of a model
trained with one (the same seed, the same picture); a model without noise paints one picture per map.
A model trained on automatic label maps carries its segmenter, so any photo gets a label map in the
model's classes to start a painting from.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from studio.core import device as devices
from studio.core.errors import Cancelled, ImageError, ModelError
from studio.core.images import IMAGE_EXTENSIONS, read_image, write_image
from studio.core.jobs import Control, Finished, Item, Job, Log, Progress
from studio.core.store import LoadedModel
from studio.core.translate import collect_inputs, output_path
from studio.core.translate.image_norms import inference_copy

from .palette import LabelError, Palette, one_hot, read_label_map
from .segment import Segmenter

log = logging.getLogger(__name__)


class Painter:
    """Runs a ``spade`` model's generator on label maps, on one device."""

    def __init__(self, model: LoadedModel, device: str | torch.device | None = None):
        if model.info.kind != "spade":
            raise ModelError(f"model {model.info.name!r} is a {model.info.kind} model; painting needs a spade model")
        self.model = model
        self.device = device if isinstance(device, torch.device) else devices.pick_device(device)
        generator = model.networks["G"]
        config: dict[str, Any] = getattr(generator, "config", {})
        self.net = inference_copy(generator).to(self.device)
        self.classes = int(config["label_nc"])
        self.z_dim = int(config.get("z_dim", 0))
        self.multiple = int(getattr(generator, "size_multiple", 32))
        self.palette = Palette.from_card(model.card["palette"]) if "palette" in model.card else None
        if self.palette is None or len(self.palette) != self.classes:
            raise ModelError(f"model {model.info.name!r}: its card has no palette of {self.classes} classes")
        segmenter = model.card.get("segmenter")
        self.segmenter = Segmenter.from_card(segmenter) if segmenter else None

    @property
    def name(self) -> str:
        return self.model.info.name

    @property
    def varies(self) -> bool:
        """Whether another seed gives another picture (the model was trained with noise)."""
        return self.z_dim > 0

    def noise(self, seed: int) -> torch.Tensor | None:
        if not self.z_dim:
            return None
        return torch.randn(1, self.z_dim, generator=torch.Generator().manual_seed(seed))

    @torch.inference_mode()
    def paint_tensor(self, labels: np.ndarray, seed: int = 0, noise: torch.Tensor | None = None) -> torch.Tensor:
        """(H, W) class indices -> (1, 3, H, W) in [-1, 1] on the CPU; ``noise`` (1×z_dim) instead of the seed's."""
        if labels.ndim != 2:
            raise ModelError(f"a label map is a 2-d array of classes, got shape {labels.shape}")
        height, width = labels.shape
        highest = int(labels.max(initial=0))
        if highest >= self.classes:
            raise ModelError(f"the label map uses class {highest}; model {self.name!r} paints classes 0-{self.classes - 1}")
        m = self.multiple
        padded = np.pad(labels, ((0, -height % m), (0, -width % m)), mode="edge")
        x = one_hot(torch.from_numpy(padded.astype(np.int64))[None], self.classes).to(self.device)
        z = self.noise(seed) if noise is None else noise
        out = self.net(x, None if z is None else z.to(self.device))
        return out[..., :height, :width].float().cpu()

    def paint(self, labels: np.ndarray, seed: int = 0) -> np.ndarray:
        """(H, W) class indices -> (H, W, 3) float32 RGB in [0, 1]."""
        out = self.paint_tensor(labels, seed)[0]
        return ((out.clamp(-1, 1) + 1) * 0.5).permute(1, 2, 0).contiguous().numpy()

    def paint_file(self, source: str | Path, target: str | Path, seed: int = 0) -> Path:
        """Read a label map file (an indexed PNG, or colour-coded in the model's palette), paint it, write it."""
        labels, _ = read_label_map(source, self.palette)
        started = time.perf_counter()
        picture = self.paint(labels, seed)
        log.info("painted %s (%d×%d) in %.0f ms", source, labels.shape[1], labels.shape[0],
                 1000 * (time.perf_counter() - started))
        write_image(Path(target), picture, None)
        return Path(target)

    def segment(self, rgb: np.ndarray) -> np.ndarray:
        """A photo ((H, W, 3) uint8, or float in [0, 1]) -> its label map in the model's classes."""
        if self.segmenter is None:
            raise ModelError(f"model {self.name!r} was trained on label maps of its own; it cannot segment a photo "
                             "(only models trained from photos alone, --classes K, can)")
        if rgb.dtype != np.uint8:
            rgb = np.rint(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8)
        return self.segmenter.segment(rgb)

    def segment_file(self, source: str | Path) -> np.ndarray:
        return self.segment(read_image(source).rgb)


def paint_job(painter: Painter, inputs: Iterable[str | Path], out: str | Path, *, seed: int = 0,
              control: Control | None = None) -> Job:
    """Paint label-map files and folders, as :func:`studio.core.translate.translate_job` translates photos:
    ``out`` is a file for one input file with an image extension, else a folder mirroring the inputs.
    Label maps that cannot be read or do not fit the model's palette are skipped and reported."""
    control = control or Control()
    out = Path(out)
    paths = [Path(i) for i in inputs]
    items = collect_inputs(paths)
    single = len(paths) == 1 and not paths[0].is_dir() and out.suffix.lower() in IMAGE_EXTENSIONS
    written: list[str] = []
    failed: list[tuple[str, str]] = []
    started = time.monotonic()
    yield Progress(0, len(items), "starting")
    for done, (source, relative) in enumerate(items):
        try:
            control.checkpoint()
        except Cancelled:
            yield Log("warning", f"cancelled after {done} of {len(items)} files")
            break
        target = output_path(relative, out, single)
        try:
            painter.paint_file(source, target, seed)
        except (LabelError, ImageError, ModelError) as exc:
            reason = str(exc).removeprefix(f"{source}: ")
            failed.append((str(source), reason))
            yield Item(str(source), error=reason)
        else:
            written.append(str(target))
            yield Item(str(source), output=str(target))
        yield Progress(done + 1, len(items), source.name, stats={"elapsed": time.monotonic() - started})
    yield Finished({"written": written, "failed": failed, "cancelled": control.cancelled})
