"""The registry of trainable kinds: kind -> trainer class. A new kind is one module with its
trainer, one line here and its entry in :mod:`studio.core.train.presets`."""

from __future__ import annotations

from studio.core.errors import StudioError

from .ae import AETrainer
from .config import TrainConfig
from .cut import CUTTrainer
from .cyclegan import CycleGANTrainer
from .dcgan import DCGANTrainer
from .distill import DistillTrainer
from .flow import FlowTrainer
from .pix2pix import Pix2PixTrainer
from .pixelcnn import PixelCNNTrainer
from .spade import SpadeTrainer
from .trainer import Trainer
from .vae import VAETrainer

TRAINERS: dict[str, type[Trainer]] = {
    trainer.kind: trainer
    for trainer in (CycleGANTrainer, CUTTrainer, Pix2PixTrainer, DistillTrainer, VAETrainer, AETrainer,
                    FlowTrainer, DCGANTrainer, PixelCNNTrainer, SpadeTrainer)
}
KINDS: tuple[str, ...] = tuple(TRAINERS)


def trainer_class(kind: str) -> type[Trainer]:
    try:
        return TRAINERS[kind]
    except KeyError:
        raise StudioError(f"unknown model kind {kind!r} for training (known: {', '.join(KINDS)})") from None


def check_variant(kind: str, variant: str) -> None:
    """Raise a one-line StudioError unless ``variant`` is one of ``kind``'s ("" for a kind with none)."""
    variants = trainer_class(kind).variants
    if variant not in (variants or ("",)):
        known = f"known: {', '.join(variants)}" if variants else "it has none"
        raise StudioError(f"unknown variant {variant!r} for {kind} ({known})")


def validate(config: TrainConfig) -> TrainConfig:
    """The config's own checks, then its kind's (the data it needs)."""
    trainer = trainer_class(config.kind)
    config.validate()
    if config.augment and not trainer.discriminator_roles:
        raise StudioError(f"--augment is for the GAN kinds: a {config.kind} model has no discriminator to augment for")
    if config.ema and not trainer.averages_generators:
        raise StudioError(f"--ema averages the generators of the GAN translators: a {config.kind} run has no use for it")
    check_variant(config.kind, config.variant)
    trainer.check_data(config)
    return config
