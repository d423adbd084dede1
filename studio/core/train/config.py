"""A training run's configuration: plain data, saved with every checkpoint.

The ``reference`` preset reproduces the defaults of the reference pytorch-CycleGAN-and-pix2pix
(train.py with --model cycle_gan / pix2pix). The ``fast`` preset is for people without a GPU: a
depthwise-separable generator with a quarter of the channels (as GAN Compression's mobile
ResNet), a lighter discriminator and 128-px crops.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from studio.core.errors import StudioError

KINDS = ("cyclegan", "pix2pix", "vae", "flow")
LATENT_KINDS = ("vae", "flow")
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
    lambda_l1: float = 100.0  # pix2pix
    lambda_gp: float = 10.0  # wgangp
    beta: float = 1.0  # VAE: weight of the KL term (β-VAE); 1 trains on the ELBO itself
    pool_size: int = 50
    # optimisation and schedule
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    batch_size: int = 1
    n_epochs: int = 100  # epochs at the initial learning rate
    n_epochs_decay: int = 100  # epochs of linear decay to zero
    max_steps: int | None = None  # stop after this many steps; the schedule is fitted to it
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
        if self.kind not in KINDS:
            raise StudioError(f"unknown model kind {self.kind!r} for training (known: {', '.join(KINDS)})")
        if self.preset not in PRESETS:
            raise StudioError(f"unknown preset {self.preset!r} (known: {', '.join(PRESETS)})")
        if self.kind == "cyclegan" and not (self.dir_a and self.dir_b):
            raise StudioError("CycleGAN training needs two folders: --a DIR --b DIR")
        if self.kind in LATENT_KINDS and not self.dir_a:
            raise StudioError(f"{self.kind} training needs a folder of images: --images DIR")
        if self.kind == "pix2pix" and not (self.pairs or (self.dir_a and self.dir_b)):
            raise StudioError("pix2pix training needs --a DIR --b DIR (matched by file name) or --pairs DIR")
        if self.crop_size % 4 or self.crop_size < 16:
            raise StudioError(f"--size must be a multiple of 4 and at least 16, got {self.crop_size}")
        if self.batch_size < 1 or self.n_epochs < 0 or self.n_epochs_decay < 0:
            raise StudioError("batch size must be ≥ 1 and epoch counts ≥ 0")
        if self.beta < 0:
            raise StudioError(f"--beta must be ≥ 0, got {self.beta}")
        if self.max_steps is not None and self.max_steps < 1:
            raise StudioError("--max-steps must be at least 1")
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


def preset(kind: str, name: str, preset_name: str = "reference", **overrides: Any) -> TrainConfig:
    """A config for ``kind`` from a preset, then ``overrides`` (None values are ignored)."""
    if preset_name not in PRESETS:
        raise StudioError(f"unknown preset {preset_name!r} (known: {', '.join(PRESETS)})")
    base: dict[str, Any] = {"kind": kind, "name": name, "preset": preset_name}
    if kind == "cyclegan":
        base.update(
            generator={"arch": "resnet_generator", "params": {"n_blocks": 9, "ngf": 64, "norm": "instance"}},
            discriminator={"arch": "patchgan_discriminator", "params": {"n_layers": 3, "ndf": 64, "norm": "instance"}},
            gan_mode="lsgan", pool_size=50,
        )
    elif kind == "pix2pix":
        base.update(
            generator={"arch": "unet_generator",
                       "params": {"num_downs": 8, "ngf": 64, "norm": "batch", "use_dropout": True}},
            discriminator={"arch": "patchgan_discriminator", "params": {"n_layers": 3, "ndf": 64, "norm": "batch"}},
            gan_mode="vanilla", pool_size=0, lambda_identity=0.0,
        )
    elif kind in LATENT_KINDS:
        from .latent_trainers import latent_preset

        size = overrides.get("crop_size") or 64
        base.update(crop_size=size, load_size=size, preprocess="resize_and_crop", lambda_identity=0.0, pool_size=0,
                    n_epochs=50, n_epochs_decay=50, preview_every=200, discriminator={})
        base.update(latent_preset(kind, size, preset_name))
    else:
        raise StudioError(f"unknown model kind {kind!r} for training (known: {', '.join(KINDS)})")
    if preset_name == "fast" and kind not in LATENT_KINDS:
        base.update(load_size=143, crop_size=128)
        if kind == "cyclegan":
            # Six blocks, as the reference uses for 128-px models; depthwise-separable, a quarter of the channels.
            base["generator"] = {"arch": "mobile_resnet_generator",
                                 "params": {"n_blocks": 6, "ngf": 16, "norm": "instance"}}
        else:
            base["generator"] = {"arch": "unet_generator",
                                 "params": {"num_downs": 7, "ngf": 16, "norm": "batch", "use_dropout": True}}
        # A lighter discriminator too: half width for CycleGAN; a quarter for pix2pix, whose conditional
        # PatchGAN sees both images at full size and would otherwise cost as much as the light U-Net.
        ndf = 32 if kind == "cyclegan" else 16
        base["discriminator"] = {**base["discriminator"],
                                 "params": {**base["discriminator"]["params"], "ndf": ndf}}
    base.update({k: v for k, v in overrides.items() if v is not None})
    if "crop_size" in overrides and overrides["crop_size"] and "load_size" not in overrides and kind not in LATENT_KINDS:
        base["load_size"] = round(base["crop_size"] * 286 / 256)  # keep the reference's 286:256 jitter
    if kind == "pix2pix" and base["generator"]["arch"] == "unet_generator":
        _fit_unet_depth(base)
    return TrainConfig(**base).validate()


def _fit_unet_depth(base: dict[str, Any]) -> None:
    """A U-Net needs crops divisible by 2**num_downs; use the deepest that fits (unet_256 at 256)."""
    crop = base.get("crop_size", TrainConfig.crop_size)
    params = dict(base["generator"]["params"])
    depth = params.get("num_downs", 8)
    while depth > 5 and crop % (2**depth):
        depth -= 1
    if crop % (2**depth):
        raise StudioError(f"pix2pix needs a crop size divisible by 32, got {crop}")
    params["num_downs"] = depth
    base["generator"] = {**base["generator"], "params": params}
