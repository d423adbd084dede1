"""A VAE, autoencoder or flow from the store as a latent model: images ↔ flat latents, samples, scores.

Images here are (N, 3, S, S) float tensors in [-1, 1] at the model's size S; latents are flat
(N, D) tensors: the VAE's posterior means (D = latent_dim), the autoencoder's codes (D =
latent_dim, not standardised: wherever its training put them), the flow's standardised ε
(D = 3·S·S) or a DCGAN's z (D = latent_dim, under N(0, I)); a DCGAN has no encoder, so it
encodes by inversion (:mod:`.inversion`: an optimisation, seconds per image on a CPU). Exporters take :meth:`LatentModel.encoder_module` and
:meth:`LatentModel.decoder_module`, plain ``nn.Module``\\ s.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor, nn

from studio.core import device as devices
from studio.core.errors import ImageError
from studio.core.images import load_rgb_uint8, uint8_to_tensor
from studio.core.jobs import Control
from studio.core.nets.flow import FlowDecoder, FlowEncoder, Glow, bits_per_dim, dequantize
from studio.core.nets.vae import ConvVAE, elbo, elbo_bits_per_dim
from studio.core.store import LoadedModel, ModelStore

from .inversion import invert
from .shared import BATCH, DEFAULT_TEMPERATURE, LATENT_KINDS, SCORE_SEED, LatentError


class LatentModel:
    """A VAE, autoencoder or flow from the store, in eval mode on one device, with images ↔ flat latents."""

    def __init__(self, model: LoadedModel, device: str | torch.device | None = None):
        kind = model.info.kind
        if kind == "pixelcnn":  # studio.core.latent.pixels.PixelModel
            raise LatentError(f"model {model.info.name!r} is a PixelCNN: it has no latent space (it samples "
                              "and scores images, pixel by pixel)")
        if kind not in LATENT_KINDS:
            raise LatentError(f"model {model.info.name!r} is a {kind} model; latent operations need a "
                              f"{', '.join(LATENT_KINDS[:-1])} or {LATENT_KINDS[-1]} model")
        if kind not in model.networks:
            raise LatentError(f"model {model.info.name!r}: its card has no {kind!r} network")
        self.name = model.info.name
        self.kind = kind
        self.card = model.card
        self.device = devices.pick_device(None if device is None else str(device))
        # A ConvVAE, ConvAE or Glow, by kind; typed Any because the registry builds it from the card.
        self.net: Any = cast(Any, model.networks[kind]).to(self.device).eval()
        self.image_size: int = int(self.net.image_size)
        self._encoder: nn.Module
        self._decoder: nn.Module
        if kind == "dcgan":
            self.latent_dim: int = int(self.net.latent_dim)
            self._encoder = nn.Identity()  # unused: encode() inverts
            self._decoder = self.net
        elif kind in ("vae", "ae"):
            # Same values, faster convolutions on CPU (about 1.5× for a 64-px decode) and on CUDA.
            self.net.to(memory_format=torch.channels_last)
            self.latent_dim = int(self.net.latent_dim)
            self._encoder = VAEMeanEncoder(self.net) if kind == "vae" else self.net.encoder
            self._decoder = self.net.decoder
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
        """VAE: images -> (mean, log-variance) (``ConvVAE.encoder``); autoencoder: images -> (code,)
        (``CodeEncoder``); flow: images -> (ε, bits/dim) (``FlowEncoder``). A DCGAN has none (it inverts)."""
        if self.kind == "dcgan":
            raise LatentError(f"model {self.name!r} is a GAN: it has no encoder network (images are inverted)")
        return self.net.encoder if self.kind == "vae" else self._encoder

    def decoder_module(self) -> nn.Module:
        """VAE, autoencoder: latents -> images (their ``decoder``); DCGAN: its generator; flow: ε -> images (``FlowDecoder``, W⁻¹
        precomputed)."""
        return self._decoder

    # -- images ------------------------------------------------------------------------------------
    def load_image(self, path: str | Path) -> Tensor:
        """One file -> (1, 3, S, S), resized as in training (the whole image, bicubic). Raises ImageError."""
        pixels = load_rgb_uint8(path, (self.image_size, self.image_size))
        return uint8_to_tensor(pixels).unsqueeze(0)  # exactly the training tensors

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
    def encode(self, images: Tensor, control: Control | None = None,
               progress: Callable[[int, int], None] | None = None) -> Tensor:
        """(N, 3, S, S) in [-1, 1] -> (N, D) on the CPU: VAE posterior means, autoencoder codes, flow ε
        (exact), DCGAN z by inversion (``control`` and ``progress`` follow it; the others are quick)."""
        images = self._check_images(images)
        if self.kind == "dcgan":
            return invert(self.net, images, self.latent_dim, control=control, progress=progress).latents
        return self._encode(images)

    @torch.inference_mode()
    def _encode(self, images: Tensor) -> Tensor:
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
        """decode(encode(x)): the flow returns x itself to float error; the VAE and autoencoder their (blurrier)
        reading of x."""
        return self.decode(self.encode(images))

    def sample_latents(self, n: int, temperature: float | None = None, seed: int | None = None) -> Tensor:
        """n latents from the prior N(0, T²I), T defaulting to 1 (VAE) or 0.7 (flow); an autoencoder's from the
        Gaussian fitted to its training codes, its spread scaled by T (default 1)."""
        t = DEFAULT_TEMPERATURE[self.kind] if temperature is None else float(temperature)
        if t < 0:
            raise LatentError(f"temperature must be ≥ 0, got {t}")
        g = torch.Generator()
        if seed is None:
            g.seed()
        else:
            g.manual_seed(seed)
        noise = torch.randn(n, self.latent_dim, generator=g) * t
        return self.net.codes_from_noise(noise.to(self.device)).float().cpu() if self.kind == "ae" else noise

    def sample(self, n: int, temperature: float | None = None, seed: int | None = None) -> Tensor:
        return self.decode(self.sample_latents(n, temperature, seed))

    @torch.inference_mode()
    def score(self, images: Tensor) -> Tensor:
        """Bits per dimension per image: lower is more typical of the training images.

        Flow: the exact model likelihood at the 8-bit bin centres (a deterministic reading of the
        dequantised bits/dim that the card reports). VAE: the bound from the ELBO (one seeded
        posterior sample, Gaussian density at the bin centres × bin width), an upper bound.
        """
        if self.kind in ("ae", "dcgan"):
            what = "an autoencoder" if self.kind == "ae" else "a GAN"
            raise LatentError(f"model {self.name!r} is {what}: it has no likelihood to score with "
                              "(a VAE gives a bound, a flow the exact figure)")
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
            raise LatentError(f"model {self.name!r} is a {self.kind}; dequantised bits/dim is a flow measure")
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


class VAEMeanEncoder(nn.Module):
    """The VAE encoder reduced to its posterior mean (what latent work uses)."""

    def __init__(self, vae: ConvVAE):
        super().__init__()
        self.vae = vae

    def forward(self, images: Tensor) -> tuple[Tensor]:
        return (self.vae.encoder(images)[0],)

