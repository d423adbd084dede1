"""A training run's configuration: plain data, saved with every checkpoint.

It knows no model kind: :mod:`studio.core.train.presets` fills it in for a kind, and each kind's
trainer (:mod:`studio.core.train.kinds`) says what data it needs. Fields a kind does not use keep
their defaults; a checkpoint written by an older Studio loads because :meth:`TrainConfig.from_dict`
ignores keys it no longer knows.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from studio.core.errors import StudioError

from .augment import normalise_policy

PRESETS = ("reference", "fast")


@dataclass
class TrainConfig:
    kind: str
    name: str
    preset: str = "reference"
    # data: folders A and B, or one folder of side-by-side AB pairs (pix2pix)
    dir_a: str | None = None
    dir_b: str | None = None
    pairs: str | None = None
    preprocess: str = "resize_and_crop"
    load_size: int = 286
    crop_size: int = 256
    flip: bool = True
    # networks
    generator: dict[str, Any] = field(default_factory=dict)  # {"arch": ..., "params": {...}}
    discriminator: dict[str, Any] = field(default_factory=dict)
    # objective
    gan_mode: str = "lsgan"
    lambda_a: float = 10.0  # cycle A -> B -> A
    lambda_b: float = 10.0  # cycle B -> A -> B
    lambda_identity: float = 0.5  # times the cycle weight, as in the reference
    cycle_noise: float = 0.0  # CycleGAN: std of Gaussian noise on a translation before it is translated back
    lambda_l1: float = 100.0  # pix2pix
    lambda_gan: float = 1.0  # pix2pix: weight of the GAN term (0: L1 alone, a regression; the discriminator rests)
    lambda_gp: float = 10.0  # wgangp
    beta: float = 1.0  # VAE: weight of the KL term (β-VAE); 1 trains on the ELBO itself
    minibatch_std: bool = False  # DCGAN: the discriminator sees the batch's spread (a remedy for mode collapse)
    denoise: float = 0.0  # autoencoder: σ of the Gaussian noise that corrupts its inputs (0: a plain autoencoder)
    pool_size: int = 50
    # CUT (contrastive unpaired translation): PatchNCE between input and output patches
    variant: str = ""  # the kind's variant, "" for kinds with none (cut: "cut" or "fastcut")
    lambda_nce: float = 1.0  # PatchNCE weight (CUT 1, FastCUT 10)
    nce_idt: bool = True  # also PatchNCE between B and G(B) (CUT yes, FastCUT no)
    nce_layers: list[int] = field(default_factory=list)  # generator layers compared; [] = the generator's default
    nce_pixels: bool = True  # the default layers include the raw pixels (CUT's layer 0)
    nce_t: float = 0.07  # InfoNCE temperature
    num_patches: int = 256  # patches per layer and image
    patch_nc: int = 256  # width of the projection head
    flip_equivariance: bool = False  # FastCUT: the input flipped half the time, the output's features flipped back
    # SPADE: label maps (dir_a) and photos (dir_b), or photos alone segmented into `classes` classes
    classes: int = 0  # automatic label maps with this many classes (0: the label maps are given)
    palette: str | None = None  # a palette.json for colour-coded label maps (default: the one beside them)
    lambda_fm: float = 10.0  # weight of the discriminator feature-matching loss
    lambda_ms: float = 0.0  # SPADE with noise: weight of the mode-seeking term (two noises, pictures pushed apart)
    # The generators' weights averaged over the steps (exponential moving average, this decay a step):
    # what previews show and the model publishes. 0: the last step's weights, as the reference.
    ema: float = 0.0
    augment: str = ""  # DiffAugment policy for the discriminators: "" none, else "color,translation,cutout"
    # distillation (a fast copy): the teacher, a translator in the store, and the student's losses
    teacher: str | None = None
    direction: str = "a2b"  # the teacher's direction the student copies
    lambda_ssim: float = 0.0  # weight of 1 - SSIM(student, teacher)
    lambda_feat: float = 0.0  # weight of the L1 between the teacher's encoder features of both outputs
    # optimisation and schedule
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    batch_size: int = 1
    n_epochs: int = 100  # epochs at the initial learning rate
    n_epochs_decay: int = 100  # epochs of linear decay to zero
    max_steps: int | None = None  # stop after this many steps; the schedule is fitted to it
    minutes: float | None = None  # a budget of training time: the steps are fitted to it after a few (hooks.TimeBudget)
    seed: int = 0
    # fine-tuning
    from_model: str | None = None
    keep_discriminators: bool = False
    # bookkeeping
    checkpoint_every: int = 500  # steps
    checkpoint_minutes: float = 10.0
    preview_every: int = 100  # steps
    log_every: int = 1
    device: str | None = None
    amp: bool = True  # mixed precision where the device benefits (CUDA)
    workers: int | None = None

    def validate(self) -> TrainConfig:
        """The checks every kind shares; a kind's own (its data folders) are its trainer's."""
        if self.preset not in PRESETS:
            raise StudioError(f"unknown preset {self.preset!r} (known: {', '.join(PRESETS)})")
        if self.crop_size % 4 or self.crop_size < 16:
            raise StudioError(f"--size must be a multiple of 4 and at least 16, got {self.crop_size}")
        if self.batch_size < 1 or self.n_epochs < 0 or self.n_epochs_decay < 0:
            raise StudioError("batch size must be ≥ 1 and epoch counts ≥ 0")
        if self.lambda_gan < 0:
            raise StudioError(f"--lambda-gan must be ≥ 0, got {self.lambda_gan}")
        if self.beta < 0:
            raise StudioError(f"--beta must be ≥ 0, got {self.beta}")
        if not 0 <= self.denoise <= 2:
            raise StudioError(f"--denoise is a noise level from 0 to 2 (pixels in [-1, 1]), got {self.denoise}")
        if self.classes and not 2 <= self.classes <= 32:
            raise StudioError(f"--classes is the number of automatic label classes, 2 to 32, got {self.classes}")
        if not 0 <= self.ema < 1:
            raise StudioError(f"--ema is a decay from 0 (off) to below 1, got {self.ema}")
        if self.max_steps is not None and self.max_steps < 1:
            raise StudioError("--max-steps must be at least 1")
        if self.minutes is not None and not self.minutes > 0:
            raise StudioError(f"--minutes must be more than 0, got {self.minutes}")
        self.augment = normalise_policy(self.augment)
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    # -- the learning-rate schedule, a pure function of the step ------------------------------
    def total_epochs(self) -> int:
        return self.n_epochs + self.n_epochs_decay

    def total_steps(self, steps_per_epoch: int) -> int:
        full = self.total_epochs() * steps_per_epoch
        return min(full, self.max_steps) if self.max_steps else full

    def lr_at(self, step: int, steps_per_epoch: int) -> float:
        """The reference's linear policy: constant for n_epochs, then linear decay, per epoch."""
        epoch = step // max(1, steps_per_epoch)
        factor = 1.0 - max(0, epoch + 1 - self.n_epochs) / float(self.n_epochs_decay + 1)
        return self.lr * max(0.0, factor)


def fit_schedule_to_steps(config: TrainConfig, steps_per_epoch: int) -> None:
    """With --max-steps and no explicit epochs, make the schedule end at max_steps (half constant, half decay)."""
    if config.max_steps and config.max_steps < config.total_epochs() * steps_per_epoch:
        epochs = max(1, math.ceil(config.max_steps / steps_per_epoch))
        config.n_epochs = math.ceil(epochs / 2)
        config.n_epochs_decay = epochs - config.n_epochs
