"""Latent work on VAE and flow models: encode, decode, interpolate, blend, sample, directions, score.

Images here are (N, 3, S, S) float tensors in [-1, 1] at the model's size S; latents are flat
(N, D) tensors: the VAE's posterior means (D = latent_dim) or the flow's standardised ε
(D = 3·S·S). Both live under a unit Gaussian prior, so the same interpolation, blending,
sampling and direction arithmetic serves both kinds.

The latent-explorer canvas calls :class:`Renderer` (cached anchor latents → blend → decode →
uint8 RGB) on its worker thread; exporters take :meth:`LatentModel.encoder_module` and
:meth:`LatentModel.decoder_module`, plain ``nn.Module``\\ s.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from . import device as devices
from .errors import ImageError, StudioError
from .fileio import atomic_path
from .images import list_images, load_rgb_uint8, write_image
from .jobs import Control, Event, finished_data
from .nets.flow import FlowDecoder, FlowEncoder, Glow, bits_per_dim, dequantize
from .nets.vae import ConvVAE, elbo, elbo_bits_per_dim
from .store import LoadedModel, ModelStore

log = logging.getLogger(__name__)

LATENT_KINDS = ("vae", "flow")
MODES = ("linear", "spherical")
DEFAULT_TEMPERATURE = {"vae": 1.0, "flow": 0.7}  # Glow's samples look best a little colder
BATCH = 16  # images per forward pass when encoding many
SCORE_SEED = 1234


class LatentError(StudioError):
    """A latent operation got something it cannot use (wrong model kind, bad weights, empty folder...)."""


# -- the model ---------------------------------------------------------------------------------------

class LatentModel:
    """A VAE or flow from the store, in eval mode on one device, with images ↔ flat latents."""

    def __init__(self, model: LoadedModel, device: str | torch.device | None = None):
        kind = model.info.kind
        if kind not in LATENT_KINDS:
            raise LatentError(f"model {model.info.name!r} is a {kind} model; latent operations need a vae or flow model")
        if kind not in model.networks:
            raise LatentError(f"model {model.info.name!r}: its card has no {kind!r} network")
        self.name = model.info.name
        self.kind = kind
        self.card = model.card
        self.device = devices.pick_device(None if device is None else str(device))
        self.net = model.networks[kind].to(self.device).eval()
        self.image_size: int = self.net.image_size
        if kind == "vae":
            # Same values, faster convolutions on CPU (about 1.5× for a 64-px decode) and on CUDA.
            self.net.to(memory_format=torch.channels_last)
            self.latent_dim = self.net.latent_dim
            self._encoder: nn.Module = _VAEMeanEncoder(self.net)
            self._decoder: nn.Module = self.net.decoder
        else:
            self.latent_dim = 3 * self.image_size**2
            self._encoder = FlowEncoder(self.net)
            self._decoder = FlowDecoder(self.net).to(self.device).eval()

    @classmethod
    def load(cls, name: str, store: ModelStore | None = None, device: str | torch.device | None = None) -> LatentModel:
        return cls((store or ModelStore()).load(name), device)

    def __repr__(self) -> str:
        return f"LatentModel({self.name!r}, {self.kind}, {self.image_size}px, {self.latent_dim}-d, {self.device})"

    # -- modules for export ----------------------------------------------------------------------
    def encoder_module(self) -> nn.Module:
        """VAE: images -> (mean, log-variance) (``ConvVAE.encoder``); flow: images -> (ε, bits/dim) (``FlowEncoder``)."""
        return self.net.encoder if self.kind == "vae" else self._encoder

    def decoder_module(self) -> nn.Module:
        """VAE: latents -> images (``ConvVAE.decoder``); flow: ε -> images (``FlowDecoder``, W⁻¹ precomputed)."""
        return self._decoder

    # -- images ------------------------------------------------------------------------------------
    def load_image(self, path: str | Path) -> Tensor:
        """One file -> (1, 3, S, S), resized as in training (the whole image, bicubic). Raises ImageError."""
        pixels = load_rgb_uint8(path, (self.image_size, self.image_size))
        chw = np.ascontiguousarray(pixels.transpose(2, 0, 1), dtype=np.float32)
        return torch.from_numpy(chw / 127.5 - 1.0).unsqueeze(0)  # exactly the training tensors

    def load_images(self, paths: Sequence[str | Path]) -> Tensor:
        return torch.cat([self.load_image(p) for p in paths]) if paths else self._empty_images()

    def _empty_images(self) -> Tensor:
        return torch.zeros(0, 3, self.image_size, self.image_size)

    def _check_images(self, images: Tensor) -> Tensor:
        s = self.image_size
        if images.ndim != 4 or tuple(images.shape[1:]) != (3, s, s):
            raise LatentError(f"model {self.name!r} takes images of shape (N, 3, {s}, {s}), got {tuple(images.shape)}")
        return images

    def _check_latents(self, latents: Tensor) -> Tensor:
        if latents.ndim == 1:
            latents = latents.unsqueeze(0)
        if latents.ndim != 2 or latents.shape[1] != self.latent_dim:
            raise LatentError(f"model {self.name!r} has {self.latent_dim}-d latents, got shape {tuple(latents.shape)}")
        return latents

    # -- the operations ----------------------------------------------------------------------------
    @torch.inference_mode()
    def encode(self, images: Tensor) -> Tensor:
        """(N, 3, S, S) in [-1, 1] -> (N, D) on the CPU: VAE posterior means, flow ε (exact)."""
        images = self._check_images(images)
        out = [self._encoder(chunk.to(self.device))[0].float().cpu() for chunk in images.split(BATCH)]
        return torch.cat(out) if out else torch.zeros(0, self.latent_dim)

    @torch.inference_mode()
    def decode(self, latents: Tensor) -> Tensor:
        """(N, D) or (D,) -> (N, 3, S, S) in [-1, 1] on the CPU (clamped: the displayable range)."""
        latents = self._check_latents(latents)
        # nan_to_num: a flow inverse of an extreme latent can overflow; show grey, not garbage.
        out = [self._decoder(chunk.to(self.device, torch.float32)).float().nan_to_num_(0.0).clamp_(-1, 1).cpu()
               for chunk in latents.split(BATCH)]
        return torch.cat(out) if out else self._empty_images()

    def reconstruct(self, images: Tensor) -> Tensor:
        """decode(encode(x)): the flow returns x itself to float error; the VAE its (blurrier) reading of x."""
        return self.decode(self.encode(images))

    def sample_latents(self, n: int, temperature: float | None = None, seed: int | None = None) -> Tensor:
        """n latents from the prior N(0, T²I); T defaults to 1 (VAE) or 0.7 (flow)."""
        t = DEFAULT_TEMPERATURE[self.kind] if temperature is None else float(temperature)
        if t < 0:
            raise LatentError(f"temperature must be ≥ 0, got {t}")
        g = torch.Generator()
        if seed is None:
            g.seed()
        else:
            g.manual_seed(seed)
        return torch.randn(n, self.latent_dim, generator=g) * t

    def sample(self, n: int, temperature: float | None = None, seed: int | None = None) -> Tensor:
        return self.decode(self.sample_latents(n, temperature, seed))

    @torch.inference_mode()
    def score(self, images: Tensor) -> Tensor:
        """Bits per dimension per image: lower is more typical of the training images.

        Flow: the exact model likelihood at the 8-bit bin centres (a deterministic reading of the
        dequantised bits/dim that the card reports). VAE: the bound from the ELBO (one seeded
        posterior sample, Gaussian density at the bin centres × bin width), an upper bound.
        """
        images = self._check_images(images)
        out = []
        g = torch.Generator().manual_seed(SCORE_SEED)
        for chunk in images.split(BATCH):
            x = chunk.to(self.device)
            if self.kind == "flow":
                out.append(self._encoder(x)[1].float().cpu())
                continue
            noise = torch.randn(x.shape[0], self.latent_dim, generator=g).to(self.device)
            out.append(elbo_bits_per_dim(elbo(self.net, x, noise)[0], x[0].numel()).float().cpu())
        return torch.cat(out) if out else torch.zeros(0)

    @torch.inference_mode()
    def dequantized_bits_per_dim(self, images: Tensor, seed: int = SCORE_SEED) -> Tensor:
        """Flow only: bits/dim with uniform dequantisation noise, the training objective's estimator."""
        if self.kind != "flow":
            raise LatentError(f"model {self.name!r} is a VAE; dequantised bits/dim is a flow measure")
        g = torch.Generator().manual_seed(seed)
        glow: Glow = self.net
        out = []
        for chunk in self._check_images(images).split(BATCH):
            y = dequantize(chunk, generator=g).to(self.device)
            out.append(bits_per_dim(glow(y)[1], chunk[0].numel()).float().cpu())
        return torch.cat(out) if out else torch.zeros(0)

    def encode_files(self, paths: Sequence[str | Path]) -> tuple[Tensor, list[Path], list[tuple[Path, str]]]:
        """Encode image files, skipping unreadable ones: (latents, encoded paths, [(path, reason)])."""
        ok, failed, tensors = [], [], []
        for p in paths:
            try:
                tensors.append(self.load_image(p))
                ok.append(Path(p))
            except ImageError as exc:
                failed.append((Path(p), exc.reason))
        latents = self.encode(torch.cat(tensors)) if tensors else torch.zeros(0, self.latent_dim)
        return latents, ok, failed


class _VAEMeanEncoder(nn.Module):
    """The VAE encoder reduced to its posterior mean (what latent work uses)."""

    def __init__(self, vae: ConvVAE):
        super().__init__()
        self.vae = vae

    def forward(self, images: Tensor) -> tuple[Tensor]:
        return (self.vae.encoder(images)[0],)


# -- latent arithmetic (pure functions of tensors) ------------------------------------------------------

def lerp(a: Tensor, b: Tensor, t: float | Tensor) -> Tensor:
    """(1 − t)·a + t·b: exactly a at t = 0 and exactly b at t = 1."""
    return (1 - t) * a + t * b


def slerp(a: Tensor, b: Tensor, t: float | Tensor, eps: float = 1e-7) -> Tensor:
    """Spherical interpolation of flat latents (..., D): along the great circle, with the norm interpolated linearly.

    Prior samples of high dimension concentrate on a sphere; a straight line between two of them
    passes through the unlikely middle (blurry, low-contrast images), the arc does not. The
    endpoints are exact: t=0 gives a, t=1 gives b. Nearly parallel inputs fall back to lerp.
    """
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    na, nb = a.norm(dim=-1, keepdim=True), b.norm(dim=-1, keepdim=True)
    ua, ub = a / na.clamp_min(eps), b / nb.clamp_min(eps)
    cos = (ua * ub).sum(-1, keepdim=True).clamp(-1.0, 1.0)
    theta = torch.acos(cos)
    sin = torch.sin(theta)
    parallel = sin < 1e-4
    safe_sin = torch.where(parallel, torch.ones_like(sin), sin)
    direction = (torch.sin((1 - t) * theta) * ua + torch.sin(t * theta) * ub) / safe_sin
    direction = torch.where(parallel, lerp(ua, ub, t), direction)
    out = direction * lerp(na, nb, t)
    # Exact endpoints, whatever the rounding of sin/acos.
    out = torch.where(t == 0, a, out)
    return torch.where(t == 1, b, out)


def path(latents: Tensor, steps: int, mode: str = "spherical") -> Tensor:
    """Frames through K anchors in order: ``steps`` frames per segment, endpoints shared.

    Returns ((K−1)·(steps−1) + 1, D); the first frame is the first anchor, the last is the last.
    """
    _check_mode(mode)
    if latents.ndim != 2 or latents.shape[0] < 2:
        raise LatentError(f"an interpolation needs at least two latents, got shape {tuple(latents.shape)}")
    if steps < 2:
        raise LatentError(f"an interpolation needs at least 2 steps (the two endpoints), got {steps}")
    ts = torch.linspace(0, 1, steps, dtype=latents.dtype).unsqueeze(1)
    mix = slerp if mode == "spherical" else lerp
    frames = [latents[:1]]
    for a, b in zip(latents[:-1], latents[1:], strict=True):
        frames.append(mix(a.unsqueeze(0), b.unsqueeze(0), ts[1:]))
    return torch.cat(frames)


def blend(latents: Tensor, weights: Sequence[float] | Tensor, mode: str = "linear", iterations: int = 20) -> Tensor:
    """The weighted mean of K latents (K, D) -> (D,); weights ≥ 0, normalised to sum 1.

    linear: Σ wᵢ zᵢ. spherical: the weighted spherical (Karcher) mean of the directions, with the
    weighted mean of the norms, so that two anchors with weights (1−t, t) give exactly
    ``slerp(z₁, z₂, t)``, and a weight of 1 on one anchor gives that anchor.
    """
    _check_mode(mode)
    w = torch.as_tensor(weights, dtype=latents.dtype).flatten()
    if latents.ndim != 2 or latents.shape[0] != w.numel() or w.numel() == 0:
        raise LatentError(f"blend needs K latents (K, D) and K weights, got {tuple(latents.shape)} and {w.numel()}")
    if (w < 0).any() or not torch.isfinite(w).all() or w.sum() <= 0:
        raise LatentError(f"blend weights must be finite, ≥ 0 and not all zero, got {w.tolist()}")
    w = w / w.sum()
    if mode == "linear":
        return w @ latents
    norms = latents.norm(dim=1)
    units = latents / norms.clamp_min(1e-12).unsqueeze(1)
    mean = w @ units
    if mean.norm() < 1e-6:  # directions cancel out: no meaningful spherical mean
        return w @ latents
    mean = mean / mean.norm()
    for _ in range(iterations):
        cos = (units @ mean).clamp(-1.0, 1.0)
        theta = torch.acos(cos)
        tangent = units - cos.unsqueeze(1) * mean
        tn = tangent.norm(dim=1, keepdim=True)
        logs = torch.where(tn > 1e-12, tangent * (theta.unsqueeze(1) / tn.clamp_min(1e-12)), torch.zeros_like(tangent))
        step = w @ logs
        size = step.norm()
        if size < 1e-7:
            break
        mean = torch.cos(size) * mean + torch.sin(size) * step / size
        mean = mean / mean.norm()
    return mean * (w @ norms)


def apply_direction(latents: Tensor, direction: Tensor, strength: float) -> Tensor:
    """Move latents along a direction: z + strength · direction."""
    return latents + strength * direction


def principal_directions(latents: Tensor, k: int = 8) -> tuple[Tensor, Tensor]:
    """GANSpace-style sliders: the top-k principal axes of a set of latents (k, D), unit length,
    and the standard deviation of the latents along each (k,) — a natural slider range."""
    if latents.ndim != 2 or latents.shape[0] < 2:
        raise LatentError("principal directions need at least two latents")
    centred = latents - latents.mean(0, keepdim=True)
    _, s, vh = torch.linalg.svd(centred.double(), full_matrices=False)
    k = min(k, vh.shape[0])
    return vh[:k].to(latents.dtype), (s[:k] / math.sqrt(max(1, latents.shape[0] - 1))).to(latents.dtype)


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise LatentError(f"unknown interpolation mode {mode!r} (use {' or '.join(MODES)})")


# -- image-level conveniences -----------------------------------------------------------------------------

def interpolate(model: LatentModel, images: Tensor, steps: int, mode: str = "spherical") -> Tensor:
    """Frames from the first image to the last through the others: ((K−1)·(steps−1)+1, 3, S, S)."""
    return model.decode(path(model.encode(images), steps, mode))


def encode_folder_job(model: LatentModel, folder: str | Path, control: Control | None = None) -> Iterator[Event]:
    """Encode every image under ``folder`` (recursively); unreadable files are reported and skipped.

    Finishes with ``{"latents": (N, D) tensor, "paths": [...], "failed": [(path, reason), ...]}``.
    """
    control = control or Control()
    files = list_images(folder)
    latents, ok, failed = [], [], []
    yield Event("progress", {"done": 0, "total": len(files), "message": f"encoding {folder}"})
    for start in range(0, len(files), BATCH):
        control.checkpoint()
        chunk = files[start : start + BATCH]
        z, paths_ok, bad = model.encode_files(chunk)
        latents.append(z)
        ok += paths_ok
        failed += bad
        for p, reason in bad:
            yield Event("item", {"path": str(p), "error": reason})
        yield Event("progress", {"done": min(start + BATCH, len(files)), "total": len(files),
                                 "message": f"encoding {folder}"})
    all_latents = torch.cat(latents) if latents else torch.zeros(0, model.latent_dim)
    yield Event("finished", {"latents": all_latents, "paths": [str(p) for p in ok],
                             "failed": [(str(p), r) for p, r in failed]})


def encode_folder(model: LatentModel, folder: str | Path, control: Control | None = None) -> Tensor:
    """The latents of a folder's readable images; LatentError if there are none."""
    def skipped(event: Event) -> None:
        if event.kind == "item":
            log.warning("skipped %s: %s", event.data["path"], event.data["error"])

    result = finished_data(encode_folder_job(model, folder, control), skipped)
    if not len(result.get("paths", [])):
        raise LatentError(f"{folder}: no readable images to encode")
    return result["latents"]


def attribute_direction(model: LatentModel, with_folder: str | Path, without_folder: str | Path,
                        control: Control | None = None) -> Tensor:
    """mean latent of ``with_folder`` − mean latent of ``without_folder`` (D,), e.g. "smiling" − "neutral"."""
    return encode_folder(model, with_folder, control).mean(0) - encode_folder(model, without_folder, control).mean(0)


def save_direction(path: str | Path, direction: Tensor, model: LatentModel, **meta: Any) -> Path:
    """Save a direction (with the model it belongs to) as a small safetensors file, atomically."""
    path = Path(path)
    info = {"model": model.name, "kind": model.kind, "latent_dim": str(model.latent_dim),
            "meta": json.dumps(meta)}
    with atomic_path(path) as tmp:
        save_file({"direction": direction.detach().float().cpu().contiguous()}, str(tmp), metadata=info)
    return path


def load_direction(path: str | Path, model: LatentModel | None = None) -> tuple[Tensor, dict[str, Any]]:
    """A saved direction and its metadata; with ``model``, refuse one of another size."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            info = dict(handle.metadata() or {})
        direction = load_file(str(path))["direction"]
    except (SafetensorError, OSError, KeyError) as exc:
        raise LatentError(f"{path}: not a saved latent direction ({exc})") from exc
    meta = {**json.loads(info.pop("meta", "{}")), **info}
    if model is not None and direction.numel() != model.latent_dim:
        raise LatentError(f"{path}: a {direction.numel()}-d direction (model {info.get('model')!r}) "
                          f"does not fit {model.name!r} ({model.latent_dim}-d)")
    return direction, meta


# -- output ---------------------------------------------------------------------------------------------

def to_rgb8(images: Tensor) -> np.ndarray:
    """(N, 3, H, W) or (3, H, W) in [-1, 1] -> (N, H, W, 3) or (H, W, 3) uint8."""
    x = ((images.detach().float().clamp(-1, 1) + 1.0) * 127.5).round_().to(torch.uint8)
    return x.movedim(-3, -1).contiguous().cpu().numpy()


def save_frames(frames: Tensor, out: str | Path, duration_ms: int = 80) -> Path:
    """Write frames as a horizontal strip (.png, .jpg, ...), an animation (.gif, looping) or,
    for a path without a suffix, a folder of ``frame_0001.png``…

    GIF note: Pillow merges a frame identical to the one before it into that frame's duration.
    """
    out = Path(out)
    pixels = to_rgb8(frames)
    if out.suffix.lower() == ".gif":
        if len(pixels) == 0:
            raise LatentError(f"{out}: no frames to write")
        images = [Image.fromarray(p) for p in pixels]
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            with atomic_path(out) as tmp:
                images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=duration_ms,
                               loop=0)
        except OSError as exc:
            raise ImageError(out, f"cannot be written ({exc.strerror or exc})") from None
        return out
    if not out.suffix:
        out.mkdir(parents=True, exist_ok=True)
        for i, p in enumerate(pixels, start=1):
            write_image(out / f"frame_{i:04d}.png", p.astype(np.float32) / 255.0)
        return out
    write_image(out, np.concatenate(list(pixels), axis=1).astype(np.float32) / 255.0)  # a strip
    return out


# -- the canvas's render path ---------------------------------------------------------------------------------

class LatentCache:
    """Latents of image files, least recently used dropped first; a changed file is re-encoded."""

    def __init__(self, model: LatentModel, capacity: int = 128):
        self.model = model
        self.capacity = capacity
        self._items: OrderedDict[tuple[str, int, int], Tensor] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _key(path: str | Path) -> tuple[str, int, int]:
        p = Path(path).resolve()
        try:
            st = p.stat()
        except OSError:
            raise ImageError(p, "no such file") from None
        return str(p), st.st_mtime_ns, st.st_size

    def get(self, path: str | Path) -> Tensor:
        """The (D,) latent of one image file (ImageError if it cannot be read)."""
        key = self._key(path)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        latent = self.model.encode(self.model.load_image(path))[0]
        with self._lock:
            self._items[key] = latent
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return latent

    def get_many(self, paths: Sequence[str | Path]) -> Tensor:
        return torch.stack([self.get(p) for p in paths]) if paths else torch.zeros(0, self.model.latent_dim)

    def __len__(self) -> int:
        return len(self._items)


class Renderer:
    """Blend latents by weights, optionally move along a direction, decode one image, return uint8 RGB.

    Built for a canvas redrawn while the cursor moves: no file I/O after the anchors are cached,
    one decode per frame, no gradient bookkeeping.
    """

    def __init__(self, model: LatentModel, cache_capacity: int = 128):
        self.model = model
        self.cache = LatentCache(model, cache_capacity)

    def anchors(self, paths: Sequence[str | Path]) -> Tensor:
        """(K, D) latents of anchor images, cached."""
        return self.cache.get_many(paths)

    def latent(self, anchors: Tensor, weights: Sequence[float] | Tensor, mode: str = "linear",
               direction: Tensor | None = None, strength: float = 0.0) -> Tensor:
        z = blend(anchors, weights, mode)
        return z if direction is None or strength == 0 else apply_direction(z, direction, strength)

    def render(self, anchors: Tensor, weights: Sequence[float] | Tensor, mode: str = "linear",
               direction: Tensor | None = None, strength: float = 0.0) -> np.ndarray:
        """One (S, S, 3) uint8 frame."""
        return self.render_latent(self.latent(anchors, weights, mode, direction, strength))

    def render_latent(self, latent: Tensor) -> np.ndarray:
        return to_rgb8(self.model.decode(latent)[0])
