"""ONNX export: every model leaves the studio as a standard, self-verified file.

Each model kind maps to parts that export on their own (a CycleGAN's two directions, a VAE's
encoder and decoder, a flow's two directions, a PixelCNN's one-step network). A translator's graph
is exactly what ``studio translate`` runs on a whole image: per-image normalisation statistics (pix2pix batch
norm included, see :func:`studio.core.translate.image_norms.inference_copy`), and the padding to the network's
size multiple and the crop back *inside the graph*, so users feed any size.

An export is a job. It writes nothing until the graph has passed ``onnx.checker`` and, when
onnxruntime is installed, matched PyTorch on two inputs of different sizes (and a batch of two,
proving the dynamic axes); the largest absolute difference is reported and embedded in the file.
(Over 450 lines: the part builders of each family (translators, latent models, the PixelCNN, the
SPADE painter) and
the verification share the :class:`Exportable` contract, and the job reads as one sequence.)
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from studio import __version__

from .errors import Cancelled, StudioError
from .fileio import atomic_path
from .jobs import Control, Event, Finished, Log, Progress, run
from .latent import LatentModel, PixelModel
from .store import DIRECTION_NETWORK, LoadedModel, ModelInfo, ModelStore
from .translate import Translator
from .translate.image_norms import inference_copy

log = logging.getLogger(__name__)

TOLERANCE = 1e-3  # max abs difference in [-1, 1] between onnxruntime and PyTorch
# The parts each kind exports, the first being the default.
PARTS: dict[str, tuple[str, ...]] = {
    "cyclegan": ("a2b", "b2a"),
    "cut": ("a2b",),
    "pix2pix": ("a2b",),
    "vae": ("encoder", "decoder"),
    "ae": ("encoder", "decoder"),
    "flow": ("forward", "inverse"),
    "dcgan": ("generator",),
    "pixelcnn": ("network",),
    "spade": ("generator",),
}


class ExportError(StudioError):
    """A model (part) could not be exported or failed its own verification."""


@dataclass
class Exportable:
    """One part of a model, ready for ``torch.onnx.export`` and for checking the result.

    ``reference`` runs the part the way Studio runs it (a list of input arrays -> output arrays),
    and ``checks`` are the inputs the exported file is compared on.
    """

    module: nn.Module
    example: tuple[torch.Tensor, ...]
    dynamic_shapes: tuple[dict[int, Any], ...]
    input_names: list[str]
    output_names: list[str]
    reference: Callable[[list[np.ndarray]], list[np.ndarray]]
    checks: list[list[np.ndarray]]
    description: dict[str, Any] = field(default_factory=dict)
    output_dims: dict[str, list[str | None]] = field(default_factory=dict)


def parts(info: ModelInfo) -> list[str]:
    """The parts of ``info`` that can be exported, default first."""
    if info.kind in DIRECTION_NETWORK:
        return info.directions()
    return list(PARTS.get(info.kind, ()))


def default_output(info: ModelInfo, part: str, out: str | Path) -> Path:
    """Where an export goes: ``out`` itself, ``out`` + ``.onnx``, or ``NAME-PART.onnx`` inside a folder."""
    out = Path(out).expanduser()
    if out.is_dir():
        return out / f"{info.name}-{part}.onnx"
    return out if out.suffix.lower() == ".onnx" else Path(f"{out}.onnx")


# -- translators ------------------------------------------------------------------------------------

class PadCropGenerator(nn.Module):
    """A generator that takes any size: pads to its size multiple, runs, crops back.

    The padding is the Translator's (reflect, or replicate when the padding would be as large as the
    image), written as index gathers so that it exports with symbolic height and width and the
    choice of mode is made at run time from the input size.
    """

    def __init__(self, net: nn.Module, multiple: int):
        super().__init__()
        self.net = net
        self.multiple = multiple

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        h, w = image.shape[-2], image.shape[-1]
        m = self.multiple
        iy = torch.arange((h + m - 1) // m * m, device=image.device)
        ix = torch.arange((w + m - 1) // m * m, device=image.device)
        ry = torch.where(iy < h, iy, 2 * (h - 1) - iy)
        rx = torch.where(ix < w, ix, 2 * (w - 1) - ix)
        # Reflection is possible exactly when no mirrored index falls below zero (pad < size).
        reflect = (ry.min() >= 0) & (rx.min() >= 0)
        y_index = torch.where(reflect, ry, iy.clamp(max=h - 1))
        x_index = torch.where(reflect, rx, ix.clamp(max=w - 1))
        padded = image.index_select(2, y_index).index_select(3, x_index)
        return self.net(padded)[..., :h, :w]


def _translator_part(model: LoadedModel, direction: str) -> Exportable:
    generator = model.generator(direction)
    multiple = int(getattr(generator, "size_multiple", 4))
    module = PadCropGenerator(inference_copy(generator), multiple).eval()
    translator = Translator(model, direction, device="cpu", precision="fp32", working_size=0)  # the network alone
    channels = int(getattr(generator, "config", {}).get("input_nc", 3))

    def reference(inputs: list[np.ndarray]) -> list[np.ndarray]:
        batch = torch.from_numpy(inputs[0])
        outs = [translator.translate_tensor(batch[i : i + 1], tile=0) for i in range(batch.shape[0])]
        return [torch.cat(outs).numpy()]

    side = int(min(max(model.card.get("image_size", 256), 32), 256))
    checks = [
        [pattern_input(2, channels, side, side, seed=1)],
        [pattern_input(1, channels, side * 5 // 8 + 3, side + side // 4 + 1, seed=2)],
    ]
    dims = {0: torch.export.Dim("batch"), 2: torch.export.Dim("height"), 3: torch.export.Dim("width")}
    domains = model.info.domains
    source, target = ("A", "B") if direction == "a2b" else ("B", "A")
    return Exportable(
        module=module,
        # Batch 2 and sizes that are not multiples: nothing gets specialised to the example.
        example=(torch.from_numpy(pattern_input(2, channels, 2 * multiple + 3, 3 * multiple + 5, seed=0)),),
        dynamic_shapes=(dims,),
        input_names=["image"],
        output_names=["translated"],
        reference=reference,
        checks=checks,
        description={
            "direction": direction,
            "from_domain": domains.get(source, source),
            "to_domain": domains.get(target, target),
            "input": "image: float32 [batch, 3, height, width], RGB scaled to [-1, 1] (pixel / 127.5 - 1); any size",
            "output": "translated: float32 [batch, 3, height, width] in [-1, 1]; (x + 1) * 127.5 gives 8-bit RGB",
            "preprocessing": (
                f"inside the graph: padded to a multiple of {multiple} (reflect, or replicate when the padding "
                "would be as large as the image) and cropped back, as `studio translate` does"
            ),
            "normalisation": "per-image statistics (instance norm; pix2pix batch norm also uses the image's own "
                             "statistics, as the reference's test script does), dropout off",
        },
        output_dims={"translated": ["batch", None, "height", "width"]},
    )


def pattern_input(batch: int, channels: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """A deterministic photo-like test input in [-1, 1]: smooth gradients, edges and a little noise."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    out = np.empty((batch, channels, height, width), np.float32)
    for b in range(batch):
        for c in range(channels):
            fy, fx, phase = rng.uniform(0.5, 4.0), rng.uniform(0.5, 4.0), rng.uniform(0, 2 * np.pi)
            smooth = np.sin(2 * np.pi * (fy * y + fx * x) + phase) * 0.6 + (y - x) * 0.3
            edge = np.where(x + 0.3 * y > rng.uniform(0.3, 0.9), 0.25, -0.25)
            out[b, c] = smooth + edge + rng.normal(0.0, 0.05, (height, width))
    return np.clip(out, -1.0, 1.0)


# -- latent models ----------------------------------------------------------------------------------

class ClampedDecoder(nn.Module):
    """A latent decoder whose images are clamped to [-1, 1], as Studio shows and saves them."""

    def __init__(self, decoder: nn.Module):
        super().__init__()
        self.decoder = decoder

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.decoder(latent).clamp(-1.0, 1.0)


def _latent_part(model: LoadedModel, part: str) -> Exportable:
    """VAE and autoencoder encoder / decoder, flow forward / inverse and the DCGAN generator, from
    :class:`studio.core.latent.LatentModel`."""
    latent = LatentModel(model, device="cpu")
    size, dim = latent.image_size, latent.latent_dim
    batch = {0: torch.export.Dim("batch")}
    image_text = "float32 [batch, 3, {h}, {w}], RGB scaled to [-1, 1] (pixel / 127.5 - 1)"
    common: dict[str, Any] = {"kind": latent.kind, "image_size": size, "latent_dim": dim}
    if part in ("encoder", "forward"):
        module = latent.encoder_module().eval()
        if latent.kind in ("vae", "ae"):
            names, dims = (["mean", "logvar"] if latent.kind == "vae" else ["latent"]), (batch,)
            checks = [[pattern_input(2, 3, size, size, seed=1)], [pattern_input(1, 3, size, size, seed=2)]]
            example = torch.from_numpy(pattern_input(2, 3, size, size, seed=0))
            described = {
                "input": "image: " + image_text.format(h=size, w=size)
                         + f"; Studio resizes the whole image to {size}×{size} (bicubic) first",
                "output": (f"mean, logvar: float32 [batch, {dim}], the Gaussian posterior; Studio's latent is the mean"
                           if latent.kind == "vae" else f"latent: float32 [batch, {dim}], the autoencoder's code"),
            }
        else:
            multiple = 2 ** int(cast(dict[str, Any], latent.net.config)["levels"])
            names = ["latent", "bits_per_dim"]
            dims = ({0: torch.export.Dim("batch"), 2: multiple * torch.export.Dim("height_blocks"),
                     3: multiple * torch.export.Dim("width_blocks")},)
            checks = [[pattern_input(2, 3, size, size, seed=1)],
                      [pattern_input(1, 3, max(multiple, size // 2), size + multiple, seed=2)]]
            example = torch.from_numpy(pattern_input(2, 3, 2 * multiple, 3 * multiple, seed=0))
            described = {
                "input": "image: " + image_text.format(h="height", w="width")
                         + f"; height and width multiples of {multiple} (the flow's squeezes)",
                "output": "latent: float32 [batch, 3·height·width], standard-normal ε; bits_per_dim: float32 [batch], "
                          "the exact likelihood at the 8-bit bin centres",
            }
        output_dims: dict[str, list[str | None]] = {}
    else:
        module = ClampedDecoder(latent.decoder_module()).eval()
        names, dims = ["image"], (batch,)
        # a prior sample, and an image's latent; a GAN, whose encoding is a slow inversion, a wider sample instead
        encoded = (latent.sample_latents(1, 1.5, seed=3) if latent.kind == "dcgan" else
                   latent.encode(torch.from_numpy(pattern_input(1, 3, size, size, seed=3))))
        checks = [[latent.sample_latents(2, seed=4).numpy()], [encoded.float().numpy()]]
        example = latent.sample_latents(2, seed=5)
        prior = ("the prior is N(0, I)" if latent.kind != "ae" else
                 "codes of images; samples come from the Gaussian fitted to the training codes, kept in Studio's card")
        described = {
            "input": f"latent: float32 [batch, {dim}] ({prior})",
            "output": "image: " + image_text.format(h=size, w=size) + ", clamped to [-1, 1] as Studio shows it",
        }
        output_dims = {"image": ["batch", None, None, None]}

    def reference(inputs: list[np.ndarray]) -> list[np.ndarray]:
        with torch.inference_mode():
            out = module(torch.from_numpy(inputs[0]))
        outs = out if isinstance(out, tuple | list) else (out,)
        return [o.float().numpy() for o in outs]

    return Exportable(
        module=module,
        example=(example,),
        dynamic_shapes=dims,
        input_names=["latent" if part in ("decoder", "inverse", "generator") else "image"],
        output_names=names,
        reference=reference,
        checks=checks,
        description={**common, **described},
        output_dims=output_dims,
    )


def _check_part(info: ModelInfo, part: str | None) -> str:
    """``part``, or the kind's default when None; ExportError naming the parts when it has no such part."""
    available = parts(info)
    part = part or (available[0] if available else None)
    if part is None or part not in available:
        raise ExportError(f"model {info.name!r} ({info.kind}) has no part {part!r} to export; "
                          f"its parts: {', '.join(available) or 'none'}")
    return part


def _pixel_part(model: LoadedModel) -> Exportable:
    """A PixelCNN's one step: an image -> every pixel's mixture given the pixels before it (any size)."""
    pixels = PixelModel(model, device="cpu")
    module, size, k = pixels.network_module(), pixels.image_size, pixels.net.mixtures

    def reference(inputs: list[np.ndarray]) -> list[np.ndarray]:
        with torch.inference_mode():
            return [o.float().numpy() for o in module(torch.from_numpy(inputs[0]))]

    per_pixel: list[str | None] = ["batch", None, "height", "width"]
    per_channel: list[str | None] = ["batch", None, None, "height", "width"]
    return Exportable(
        module=module,
        example=(torch.from_numpy(pattern_input(2, 3, size // 2 + 3, size + 5, seed=0)),),
        dynamic_shapes=({0: torch.export.Dim("batch"), 2: torch.export.Dim("height"), 3: torch.export.Dim("width")},),
        input_names=["image"],
        output_names=["logits", "means", "log_scales", "coefficients"],
        reference=reference,
        checks=[[pattern_input(2, 3, size, size, seed=1)], [pattern_input(1, 3, size // 2 + 1, size + 3, seed=2)]],
        description={
            "kind": "pixelcnn", "image_size": size, "mixtures": k,
            "input": "image: float32 [batch, 3, height, width], RGB scaled to [-1, 1] (pixel / 127.5 - 1); Studio "
                     f"resizes the whole image to {size}×{size} (bicubic) first",
            "output": f"each pixel's mixture of {k} discretised logistics given only the pixels before it (rows top "
                      f"to bottom, each left to right): logits [batch, {k}, height, width], the mixture weights "
                      f"before a softmax; means, log_scales, coefficients [batch, 3 (R, G, B), {k}, height, width]. "
                      "R's mean is means[:, 0]; G's means[:, 1] + coefficients[:, 0]·R; B's means[:, 2] + "
                      "coefficients[:, 1]·R + coefficients[:, 2]·G. An 8-bit value v has the logistic's mass on "
                      "[v − 1/255, v + 1/255]; 0 and 255 take the tails",
            "sampling": "pixel by pixel: run the network, draw the next pixel, write it into the image, run again",
        },
        output_dims={"logits": per_pixel, "means": per_channel, "log_scales": per_channel,
                     "coefficients": per_channel},
    )


class PaintGraph(nn.Module):
    """A SPADE generator that takes class indices of any size: one-hot inside the graph, the map's
    edge classes repeated to the size multiple (as the painter pads), the picture cropped back."""

    def __init__(self, net: nn.Module, classes: int, multiple: int):
        super().__init__()
        self.net, self.classes, self.multiple = net, classes, multiple

    def forward(self, labels: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        h, w = labels.shape[-2], labels.shape[-1]
        m = self.multiple
        iy = torch.arange((h + m - 1) // m * m, device=labels.device).clamp(max=h - 1)
        ix = torch.arange((w + m - 1) // m * m, device=labels.device).clamp(max=w - 1)
        padded = labels.index_select(1, iy).index_select(2, ix)
        onehot = (padded[:, None] == torch.arange(self.classes, device=labels.device)[None, :, None, None]).float()
        return self.net(onehot, noise)[..., :h, :w]


def _paint_part(model: LoadedModel) -> Exportable:
    """A spade model's generator: class indices (and a noise vector) -> the picture, any size."""
    from .paint.painter import Painter

    painter = Painter(model, device="cpu")
    module = PaintGraph(painter.net, painter.classes, painter.multiple).eval()
    k, z = painter.classes, painter.z_dim
    rng = np.random.default_rng(0)

    def labels(batch: int, height: int, width: int) -> np.ndarray:
        blocks = rng.integers(0, k, (batch, height // 8 + 1, width // 8 + 1))
        return np.repeat(np.repeat(blocks, 8, 1), 8, 2)[:, :height, :width].astype(np.int64)

    def case(batch: int, height: int, width: int) -> list[np.ndarray]:
        noise = [rng.standard_normal((batch, z)).astype(np.float32)] if z else []
        return [labels(batch, height, width), *noise]

    def reference(inputs: list[np.ndarray]) -> list[np.ndarray]:
        outs = [painter.paint_tensor(inputs[0][i], noise=torch.from_numpy(inputs[1][i:i + 1]) if z else None)
                for i in range(inputs[0].shape[0])]
        return [torch.cat(outs).numpy()]

    side = int(min(max(model.card.get("image_size", 128), 32), 128))
    example = case(2, 2 * painter.multiple + 3, 3 * painter.multiple + 5)
    dims = {0: torch.export.Dim("batch"), 1: torch.export.Dim("height"), 2: torch.export.Dim("width")}
    names = [c.name for c in painter.palette.classes] if painter.palette else []
    return Exportable(
        module=module,
        example=tuple(torch.from_numpy(a) for a in example),
        dynamic_shapes=(dims, *([{0: dims[0]}] if z else [])),
        input_names=["labels", *(["noise"] if z else [])],
        output_names=["picture"],
        reference=reference,
        checks=[case(2, side, side), case(1, side * 5 // 8 + 3, side + side // 4 + 1)],
        description={
            "kind": "spade", "classes": names,
            "input": f"labels: int64 [batch, height, width], class indices 0-{k - 1} (the card's palette); any size"
                     + (f"; noise: float32 [batch, {z}], standard normal (Studio draws it from the seed with "
                        "torch.randn; zeros give the model's 'average' rendering)" if z else ""),
            "output": "picture: float32 [batch, 3, height, width] in [-1, 1]; (x + 1) * 127.5 gives 8-bit RGB",
            "preprocessing": f"inside the graph: one-hot, the edge classes repeated to a multiple of {painter.multiple} "
                             "and the picture cropped back, as `studio translate` paints",
        },
        output_dims={"picture": ["batch", None, "height", "width"]},
    )


def exportable(model: LoadedModel, part: str) -> Exportable:
    """The :class:`Exportable` for ``part`` of a loaded model (raises ExportError when it has none)."""
    _check_part(model.info, part)
    if model.info.kind in DIRECTION_NETWORK:
        return _translator_part(model, part)
    if model.info.kind == "pixelcnn":
        return _pixel_part(model)
    if model.info.kind == "spade":
        return _paint_part(model)
    return _latent_part(model, part)


# -- the job ----------------------------------------------------------------------------------------

def export_onnx_job(
    model: str | ModelInfo,
    out: str | Path,
    part: str | None = None,
    *,
    opset: int | None = None,
    store: ModelStore | None = None,
    control: Control | None = None,
) -> Iterator[Event]:
    """Export one part of a store model to ONNX and verify it.

    ``part``: ``a2b``/``b2a`` (translators), ``encoder``/``decoder`` (VAE), ``forward``/``inverse``
    (flow); default the kind's first. ``out``: a ``.onnx`` file or a folder. The :class:`Finished`
    value: ``model, part, path, bytes, opset, max_abs_diff`` (None when onnxruntime is missing),
    ``tolerance, verified_with, checked_shapes, checker, note, seconds, cancelled``.
    """
    control = control or Control()
    store = store or ModelStore()
    started = time.monotonic()
    total = 4
    try:
        yield Progress(0, total, "loading model")
        info = model if isinstance(model, ModelInfo) else store.get(model)
        part = _check_part(info, part)
        loaded = store.load(info)
        target = default_output(info, part, out)
        spec = exportable(loaded, part)
        control.checkpoint()

        yield Progress(1, total, f"exporting {part} (torch.export)")
        proto = _export(spec, opset, f"{info.name} {part}")
        control.checkpoint()

        yield Progress(2, total, "verifying with onnxruntime")
        export_meta = {
            "part": part,
            **spec.description,
            "inputs": spec.input_names,
            "outputs": spec.output_names,
            "dynamic_axes": "batch, height, width" if len(spec.dynamic_shapes[0]) > 1 else "batch",
            "opset": _opset(proto),
            "studio_version": __version__,
            "exported": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        _set_metadata(proto, info.card, export_meta)
        parity = _verify(proto.SerializeToString(), spec)
        if parity["max_abs_diff"] is not None and parity["max_abs_diff"] > TOLERANCE:
            raise ExportError(
                f"{info.name} {part}: the ONNX graph differs from PyTorch by up to {parity['max_abs_diff']:.3g} "
                f"(tolerance {TOLERANCE:g}); nothing was written"
            )
        for line in parity["log"]:
            yield Log("info", line)
        export_meta["parity_max_abs_diff"] = parity["max_abs_diff"]
        export_meta["parity_checked_with"] = parity["verified_with"] or "not checked: onnxruntime is not installed"
        _set_metadata(proto, info.card, export_meta)
        control.checkpoint()

        yield Progress(3, total, f"writing {target.name}")
        import onnx

        with atomic_path(target) as tmp:
            onnx.save_model(proto, str(tmp))
            try:
                onnx.checker.check_model(str(tmp), full_check=True)
            except onnx.checker.ValidationError as exc:
                raise ExportError(f"{info.name} {part}: the exported graph fails onnx.checker: {exc}") from exc
        note = parity["note"]
        if note:
            yield Log("warning", note)
        yield Progress(total, total, "done")
        log.info("exported %s %s to %s (max abs diff %s)", info.name, part, target, parity["max_abs_diff"])
        yield Finished({
            "model": info.name,
            "part": part,
            "path": str(target),
            "bytes": target.stat().st_size,
            "opset": export_meta["opset"],
            "max_abs_diff": parity["max_abs_diff"],
            "tolerance": TOLERANCE,
            "verified_with": parity["verified_with"],
            "checked_shapes": parity["shapes"],
            "checker": "passed",
            "note": note,
            "seconds": round(time.monotonic() - started, 2),
            "cancelled": False,
        })
    except Cancelled:
        yield Log("warning", "export cancelled; nothing was written")
        yield Finished({"cancelled": True, "path": None, "max_abs_diff": None})


def export_onnx(model: str | ModelInfo, out: str | Path, part: str | None = None, **kwargs: Any) -> dict[str, Any]:
    """Run :func:`export_onnx_job` to its end and return its Finished value."""
    return run(export_onnx_job(model, out, part, **kwargs))


def _export(spec: Exportable, opset: int | None, what: str):
    """torch.onnx.export (dynamo) -> an onnx ModelProto with readable symbolic output sizes."""
    try:
        with torch.no_grad():
            program = torch.onnx.export(
                spec.module,
                spec.example,
                dynamo=True,
                dynamic_shapes=spec.dynamic_shapes,
                input_names=spec.input_names,
                output_names=spec.output_names,
                opset_version=opset,
                external_data=False,
                verbose=False,
            )
    except Exception as exc:  # the exporter raises many types; the user needs the operator and the model
        raise ExportError(f"{what} cannot be exported to ONNX: {_explain(exc)}") from exc
    if program is None:  # the dynamo exporter always returns a program; a None would be an exporter bug
        raise ExportError(f"{what}: the ONNX exporter returned nothing")
    proto = program.model_proto
    for output in proto.graph.output:
        names = spec.output_dims.get(output.name)
        if names:
            for dim, name in zip(output.type.tensor_type.shape.dim, names, strict=False):
                if name:
                    dim.dim_param = name
    return proto


def _explain(exc: BaseException) -> str:
    """The exporter's reason in one line: the blocking operators when it names them."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    ops = sorted(set(re.findall(r"No ONNX function found for <OpOverload\(op='([\w.]+)'", text)))
    if ops:
        return (f"ONNX has no operator for {', '.join(ops)} and the exporter knows no decomposition of it, "
                "so this part cannot run outside PyTorch")
    summary = re.search(r"## Exception summary\s+(.+)", text)
    line = summary.group(1) if summary else next((ln for ln in text.splitlines() if ln.strip()), type(exc).__name__)
    return re.sub(r"^<class '[\w.]+'>: ", "", line.strip())


def _opset(proto) -> int:
    return next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)


def _set_metadata(proto, card: dict[str, Any], export_meta: dict[str, Any]) -> None:
    """The card and the export's description as ``metadata_props`` (JSON strings)."""
    values = {"studio_card": json.dumps(card), "studio_export": json.dumps(export_meta)}
    kept = [p for p in proto.metadata_props if p.key not in values]
    del proto.metadata_props[:]
    for prop in kept:
        proto.metadata_props.add(key=prop.key, value=prop.value)
    for key, value in values.items():
        proto.metadata_props.add(key=key, value=value)
    proto.doc_string = (
        f"Studio {card.get('kind')} model {card.get('name', '')!r}, part {export_meta['part']}. "
        f"{export_meta.get('input', '')}. {export_meta.get('preprocessing', '')}".strip()
    )


def _verify(model_bytes: bytes, spec: Exportable) -> dict[str, Any]:
    """Run onnxruntime on the checks and compare with the PyTorch reference."""
    try:
        import onnxruntime as ort
    except ImportError:
        return {
            "max_abs_diff": None, "verified_with": None, "shapes": [], "log": [],
            "note": "onnxruntime is not installed (pip install onnxruntime): onnx.checker passed, but the "
                    "export was not compared with PyTorch",
        }
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    worst, shapes, lines = 0.0, [], []
    for inputs in spec.checks:
        feeds = {name: array for name, array in zip(spec.input_names, inputs, strict=True)}
        got = session.run(None, feeds)
        want = spec.reference(inputs)
        if len(got) != len(want):
            raise ExportError(f"the ONNX graph returns {len(got)} outputs, PyTorch {len(want)}")
        diff = 0.0
        for g, w in zip(got, want, strict=True):
            if g.shape != w.shape:
                raise ExportError(f"the ONNX graph returns shape {g.shape} where PyTorch returns {w.shape}")
            diff = max(diff, float(np.max(np.abs(g.astype(np.float64) - w.astype(np.float64)))))
        worst = max(worst, diff)
        shapes.append([list(a.shape) for a in inputs])
        lines.append(f"onnxruntime vs PyTorch on {' + '.join('×'.join(map(str, a.shape)) for a in inputs)}: "
                     f"max abs diff {diff:.2e}")
    return {"max_abs_diff": worst, "verified_with": f"onnxruntime {ort.__version__}", "shapes": shapes,
            "log": lines, "note": None}
