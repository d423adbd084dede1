"""The trainer base: what every kind's training algorithm shares.

A trainer builds its networks from the config, takes a batch, updates them and returns its losses;
its whole state goes into a checkpoint. It knows nothing of runs, files or events: the step loop
(:mod:`studio.core.train.loop`) and its hooks do that. A kind's trainer also says which data it
needs (:meth:`Trainer.check_data`, :meth:`Trainer.dataset`) and what its published card records.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import nn
from torchvision.utils import make_grid

from studio.core import nets
from studio.core.errors import StudioError
from studio.core.images import tensor_to_uint8
from studio.core.translate.image_norms import inference_copy

from . import data
from .augment import DiffAugment
from .config import TrainConfig
from .losses import GANLoss, gradient_penalty

if TYPE_CHECKING:
    from studio.core.jobs import Event
    from studio.core.store import ModelStore


EMA_WARMUP = 10  # an average's decay rises as (1 + n) / (10 + n) to --ema: early weights are soon forgotten


def set_requires_grad(networks: list[nn.Module], flag: bool) -> None:
    for net in networks:
        for p in net.parameters():
            p.requires_grad_(flag)


def unwrap(net: nn.Module) -> nn.Module:
    """The network inside a wrapper such as DistributedDataParallel (the network itself otherwise)."""
    return getattr(net, "module", net)


def preview_grid(columns: list[torch.Tensor]) -> np.ndarray:
    """(N, 3, H, W) tensors in [-1, 1], one per column -> an (N*H, C*W, 3) uint8 image."""
    rows = [image for i in range(columns[0].shape[0]) for image in (column[i] for column in columns)]
    grid = make_grid(torch.stack(rows), nrow=len(columns), padding=0)
    return tensor_to_uint8(grid).permute(1, 2, 0).numpy()


class Trainer:
    """Networks by role, devices, mixed precision, optimisers, state and previews."""

    kind: ClassVar[str] = ""
    generator_roles: ClassVar[tuple[str, ...]] = ()
    discriminator_roles: ClassVar[tuple[str, ...]] = ()
    one_domain: ClassVar[bool] = False  # trained on one folder: the card's domains are A and A
    paired: ClassVar[bool] = False  # A and B images in pairs: matched by file name, or side by side in one folder
    title: ClassVar[str] = ""  # the kind as a person chooses it ("CycleGAN — two collections, unpaired")
    folder_titles: ClassVar[tuple[str, str]] = ("Domain A images", "Domain B images")  # "" for no second folder
    preview_layout: ClassVar[str] = "fixed samples"  # what the rows of :meth:`preview` show
    card_config_keys: ClassVar[tuple[str, ...]] = ()  # config fields the card records besides the common ones
    variants: ClassVar[tuple[str, ...]] = ()  # the kind's variants, default first (CUT: cut, fastcut)
    augments_small_folders: ClassVar[bool] = True  # the fast preset turns DiffAugment on for small folders
    copies_a_model: ClassVar[bool] = False  # trained to reproduce a store model (a fast copy's teacher)
    automatic_labels: ClassVar[bool] = False  # folder A (label maps) may be left out: made from B with --classes
    variant_titles: ClassVar[dict[str, str]] = {}  # each variant as a person chooses it
    averages_generators: ClassVar[bool] = False  # honours --ema: previews and the model use the averaged weights

    def __init__(self, config: TrainConfig, device: torch.device):
        self.config = config
        self.device = device
        # The generators' moving averages (--ema), started from their weights at the first step, so a
        # fine-tuned run's average starts from the model it fine-tunes; empty until then, or without --ema.
        self.averages: dict[str, nn.Module] = {}
        self.amp_dtype = torch.bfloat16 if (config.amp and device.type == "cuda") else None
        self.nets: dict[str, nn.Module] = {}
        for role in self.generator_roles:
            self.nets[role] = nets.build(config.generator["arch"], config.generator["params"])
        for role in self.discriminator_roles:
            params = dict(config.discriminator["params"])
            params["input_nc"] = self.discriminator_input_channels()
            self.nets[role] = nets.build(config.discriminator["arch"], params)
        for net in self.nets.values():
            net.to(device)
            if device.type == "cuda":
                net.to(memory_format=torch.channels_last)
            net.train()
        self.gan_loss = GANLoss(config.gan_mode).to(device)
        # DiffAugment of what the discriminators see; None (never called) when the run has none.
        self.augment = (DiffAugment(config.augment, config.seed)
                        if config.augment and self.discriminator_roles else None)
        betas = (config.beta1, config.beta2)
        self.opt_g = torch.optim.Adam(self._params(self.generator_roles), lr=config.lr, betas=betas)
        # Latent models have no discriminator, and Adam refuses an empty parameter list.
        self.opt_d = (torch.optim.Adam(self._params(self.discriminator_roles), lr=config.lr, betas=betas)
                      if self.discriminator_roles else None)

    # -- what a kind says about its data -------------------------------------------------------
    @classmethod
    def check_data(cls, config: TrainConfig) -> None:
        """Raise StudioError when ``config`` lacks the folders this kind trains on."""
        raise NotImplementedError

    @classmethod
    def prepare(cls, config: TrainConfig, folder: Path, store: ModelStore) -> Iterator[Event]:
        """Work a run does once before its data exists (a fast copy's teacher outputs, into ``folder``),
        as events; nothing for most kinds."""
        return iter(())

    @classmethod
    def dataset(cls, config: TrainConfig, preprocess: data.Preprocess, folder: Path | None = None) -> Any:
        """The run's training data (``folder``: the run folder, where :meth:`prepare` left its work)."""
        raise NotImplementedError

    @classmethod
    def evaluation_preprocess(cls, config: TrainConfig) -> data.Preprocess:
        """How held-out images are prepared for the card's figures: whole, at the training size."""
        return data.Preprocess("resize_and_crop", config.crop_size, config.crop_size, flip=False)

    @classmethod
    def base_roles(cls, config: TrainConfig, name: str, card: dict[str, Any]) -> dict[str, str]:
        """Fine-tuning from store model ``name``: which of its networks starts each of ours (our
        role -> its role in ``card``); a one-line StudioError when it cannot start this run."""
        if card["kind"] != cls.kind:
            raise StudioError(f"--from {name}: a {card['kind']} model cannot start a {cls.kind} run")
        roles = {role: role for role in cls.generator_roles if role in card["networks"]}
        if not roles:
            raise StudioError(f"--from {name}: it has no {' or '.join(cls.generator_roles)} network to start from")
        return roles

    @classmethod
    def variant_fields(cls, variant: str) -> dict[str, Any]:
        """The config fields that ``variant`` (one of :attr:`variants`) sets over the preset's."""
        return {}

    # -- networks ------------------------------------------------------------------------------
    def discriminator_input_channels(self) -> int:
        return 3

    def _params(self, roles: tuple[str, ...]) -> list[nn.Parameter]:
        return [p for role in roles for p in self.nets[role].parameters()]

    def wrap(self, wrapper: Callable[[nn.Module], nn.Module]) -> None:
        """Wrap every network (e.g. in DistributedDataParallel)."""
        self.nets = {role: wrapper(net) for role, net in self.nets.items()}

    def autocast(self) -> Any:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def set_lr(self, lr: float) -> None:
        for opt in (self.opt_g, self.opt_d):
            if opt is None:
                continue
            for group in opt.param_groups:
                group["lr"] = lr

    def to_device(self, batch: dict[str, Any], key: str) -> torch.Tensor:
        x = batch[key].to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.device.type == "cuda" else x

    def judged(self, fake: torch.Tensor) -> torch.Tensor:
        """A generated batch as a discriminator sees it for the generator's loss: augmented
        differentiably (a draw of its own) when the run augments, itself otherwise."""
        return self.augment(fake)[0] if self.augment is not None else fake

    def discriminator_loss(self, role: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        d = self.nets[role]
        if self.augment is not None:  # one draw for the real and the generated batch
            real, fake = self.augment(real, fake.detach())
        with self.autocast():
            loss = 0.5 * (self.gan_loss(d(real), True) + self.gan_loss(d(fake.detach()), False))
        if self.config.gan_mode == "wgangp":
            loss = loss + gradient_penalty(d, real, fake, self.config.lambda_gp)
        return loss

    def step(self, batch: dict[str, Any]) -> dict[str, float]:
        raise NotImplementedError

    @torch.no_grad()
    def update_averages(self, step: int) -> None:
        """After step ``step`` (counted from 1): move every generator's average towards its new weights
        (Yazıcı et al., "The Unusual Effectiveness of Averaging in GAN Training", ICLR 2019). Nothing
        without --ema."""
        if not self.config.ema:
            return
        if not self.averages:
            self.averages = {role: self._copy_for_average(role) for role in self.generator_roles}
        share = 1.0 - min(self.config.ema, (1 + step) / (EMA_WARMUP + step))
        for role, average in self.averages.items():
            live = unwrap(self.nets[role])
            for mean, weight in zip(average.parameters(), live.parameters(), strict=True):
                mean.lerp_(weight, share)
            for kept, buffer in zip(average.buffers(), live.buffers(), strict=True):
                kept.copy_(buffer)  # batch norm's running statistics are averages already

    def _copy_for_average(self, role: str) -> nn.Module:
        average = copy.deepcopy(unwrap(self.nets[role]))
        average.requires_grad_(False)
        return average

    def generator(self, role: str) -> nn.Module:
        """Generator ``role`` as previews and the published model use it: its average under --ema."""
        average = self.averages.get(role)
        return average if average is not None else unwrap(self.nets[role])

    # -- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "nets": {role: unwrap(net).state_dict() for role, net in self.nets.items()},
            "opt_g": self.opt_g.state_dict(),
            **({"opt_d": self.opt_d.state_dict()} if self.opt_d is not None else {}),
            **({"augment": self.augment.state_dict()} if self.augment is not None else {}),
            **({"averages": {role: net.state_dict() for role, net in self.averages.items()}} if self.averages else {}),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for role, sd in state["nets"].items():
            unwrap(self.nets[role]).load_state_dict(sd)
        self.opt_g.load_state_dict(state["opt_g"])
        if self.opt_d is not None:
            self.opt_d.load_state_dict(state["opt_d"])
        if self.augment is not None and "augment" in state:
            self.augment.load_state_dict(state["augment"])
        if state.get("averages"):
            self.averages = {role: self._copy_for_average(role) for role in state["averages"]}
            for role, sd in state["averages"].items():
                self.averages[role].load_state_dict(sd)

    def generators(self) -> dict[str, nn.Module]:
        return {role: self.generator(role) for role in self.generator_roles}

    # -- what the published card says ------------------------------------------------------------
    def card_kind(self) -> str:
        """The published model's kind (a fast copy is its teacher's kind)."""
        return self.config.kind

    def published_networks(self) -> dict[str, nn.Module]:
        """The networks the published model holds, by their role in its card."""
        return self.generators()

    def after_training(self, images: Callable[[], Iterable[dict[str, Any]]]) -> None:
        """Work on the whole training set once training is over, before publishing: ``images()``
        gives its batches, whole and unflipped (an autoencoder fits its sampling Gaussian to their
        codes). Nothing for most kinds, which never call it."""

    def card_from_data(self, dataset: Any) -> dict[str, Any]:
        """Card fields the training data decides (a SPADE model's palette); none for most kinds."""
        return {}

    def finish_card(self, card: dict[str, Any]) -> None:
        """Last words on the card (its metrics are in): what only this kind records."""

    @torch.no_grad()
    def translate(self, role: str, x: torch.Tensor) -> torch.Tensor:
        """How the published model will translate: per-image statistics, no dropout."""
        net = inference_copy(self.generator(role)).to(self.device)
        return net(x.to(self.device)).float().cpu()

    def preview(self, samples: dict[str, torch.Tensor]) -> np.ndarray:
        raise NotImplementedError

    def evaluate(self, loader: Any) -> dict[str, float] | None:
        """Held-out metrics for the card; None for kinds that have none measured while training."""
        return None
