"""Every preset in one place, and the one function that turns a person's choices into a run's config.

The ``reference`` preset reproduces the defaults of the reference pytorch-CycleGAN-and-pix2pix
(train.py with --model cycle_gan / pix2pix). The ``fast`` preset is for people without a GPU: a
depthwise-separable generator with a quarter of the channels (as GAN Compression's mobile
ResNet), a lighter discriminator and 128-px crops; its generators upsample by bilinear
resize-convolution (``upsample="bilinear"``: :mod:`studio.core.nets.upsample` says why not
nearest). Models saved before that keep what their cards say: no ``upsample`` (the transposed
convolutions they were trained with) or ``"resize"`` (nearest). The latent models have their own sizes.

:func:`run_config` is what ``studio train`` and the Train panel both call: kind, preset, options
and the model to fine-tune from in; a validated :class:`TrainConfig` (or one clear error) out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from studio.core.errors import StudioError
from studio.core.store import ModelStore

from . import augment, kinds, spade
from .config import PRESETS, TrainConfig

VAE_SIZES = (32, 64, 128)
DCGAN_SIZES = (32, 64, 128)
PIXELCNN_SIZES = (16, 32)  # sampled pixel by pixel: a 32-px image is already a thousand network passes
LATENT_DEFAULT_SIZE = {"pixelcnn": 32}  # the others': 64
FINE_TUNE_FACTOR = 0.25  # fine-tuning: a quarter of the preset's learning rate
FINE_TUNE_LR = 2e-4 * FINE_TUNE_FACTOR  # the GANs' (5e-5)
LOAD_TO_CROP = 286 / 256  # the reference's resize-then-crop jitter


# -- the presets, one function per kind: (size, preset name) -> config fields ----------------------

def _cyclegan(fast: bool, size: int | None) -> dict[str, Any]:
    if fast:
        return dict(
            load_size=143, crop_size=128, gan_mode="lsgan", pool_size=50,
            # Six blocks, as the reference uses for 128-px models; depthwise-separable, a quarter of the channels.
            generator={"arch": "mobile_resnet_generator",
                       "params": {"n_blocks": 6, "ngf": 16, "norm": "instance", "upsample": "bilinear"}},
            # A lighter discriminator too: half width.
            discriminator={"arch": "patchgan_discriminator", "params": {"n_layers": 3, "ndf": 32, "norm": "instance"}},
        )
    return dict(
        generator={"arch": "resnet_generator", "params": {"n_blocks": 9, "ngf": 64, "norm": "instance"}},
        discriminator={"arch": "patchgan_discriminator", "params": {"n_layers": 3, "ndf": 64, "norm": "instance"}},
        gan_mode="lsgan", pool_size=50,
    )


def _cut(fast: bool, size: int | None) -> dict[str, Any]:
    """CUT's own defaults (its train options and cut_model.py): the generator and discriminator
    of CycleGAN without the history pool, and 200 + 200 epochs; :data:`.cut.VARIANTS` adds the
    variant's. Its generators are antialiased as CUT's are by default: blur-pooled downsampling
    (:mod:`studio.core.nets.downsample`) and bilinear ×2 then a stride-1 conv for upsampling
    (CUT's [1, 3, 3, 1] upsampling filter is bilinear interpolation)."""
    fields = _cyclegan(fast, size)
    generator = fields["generator"]
    fields.update(pool_size=0, lambda_identity=0.0, generator={
        **generator, "params": {**generator["params"], "upsample": "bilinear", "downsample": "blur"}})
    # Both presets keep CUT's PatchNCE layers, the raw pixels among them: without the pixels (features
    # only), FastCUT was 0.3-1.3 dB closer to a colour mapping in 6-minute runs, but in 15-minute runs it
    # collapsed to one dark colour with one seed (9.95 dB, against 15.37 with the pixels) and gained
    # nothing with the other (15.12 against 15.29): the pixel term keeps the output's contrast tied to
    # the input's (benchmarks/unpaired_quality.py, README "Unpaired quality").
    if not fast:
        fields.update(n_epochs=200, n_epochs_decay=200)
    return fields


def _pix2pix(fast: bool, size: int | None) -> dict[str, Any]:
    base: dict[str, Any] = dict(
        generator={"arch": "unet_generator", "params": {"num_downs": 8, "ngf": 64, "norm": "batch", "use_dropout": True}},
        discriminator={"arch": "patchgan_discriminator", "params": {"n_layers": 3, "ndf": 64, "norm": "batch"}},
        gan_mode="vanilla", pool_size=0, lambda_identity=0.0,
    )
    if fast:
        # A quarter-width discriminator: the conditional PatchGAN sees both images at full size and
        # would otherwise cost as much as the light U-Net.
        base.update(load_size=143, crop_size=128,
                    generator={"arch": "unet_generator",
                               "params": {"num_downs": 7, "ngf": 16, "norm": "batch", "use_dropout": True,
                                          "upsample": "bilinear"}},
                    discriminator={"arch": "patchgan_discriminator", "params": {"n_layers": 3, "ndf": 16, "norm": "batch"}})
    return base


def _distill(fast: bool, size: int | None) -> dict[str, Any]:
    """Fast copies (:mod:`.distill`): the student network and its regression. ``load_size`` is the
    short side the photos are brought to for the teacher (its outputs are cached at that size);
    the student trains on aligned crops of them, unflipped."""
    base: dict[str, Any] = dict(
        preprocess="crop", flip=False, discriminator={}, pool_size=0, lambda_identity=0.0,
        lr=1e-3, beta1=0.9, beta2=0.999, lambda_l1=1.0, lambda_ssim=1.0, lambda_feat=0.0,
        n_epochs=100, n_epochs_decay=100,
    )
    if fast:
        # The fast CycleGAN preset's generator: what a fast copy is for. Crops of 256 from photos at a short
        # side of 286 (nearly whole photos: the student's instance norms see what they will see when the copy
        # translates a whole photo) beat 128-px crops in batches of 4 by 2.1 dB in the same 7 minutes
        # (benchmarks/distill_quality.py, README "Fast copies").
        base.update(load_size=286, crop_size=256, batch_size=1, generator={
            "arch": "mobile_resnet_generator",
            "params": {"n_blocks": 6, "ngf": 16, "norm": "instance", "upsample": "bilinear"}})
    else:
        base.update(load_size=512, crop_size=256, batch_size=1, generator={
            "arch": "resnet_generator", "params": {"n_blocks": 9, "ngf": 64, "norm": "instance"}})
    return base


def _spade(fast: bool, size: int | None) -> dict[str, Any]:
    """SPADE's own options (its train options and pix2pix_model.py): hinge loss, feature matching 10,
    Adam 2e-4 with β (0, 0.9) and the two time-scale rule, a 2-scale 4-layer discriminator, the
    "normal" generator (ngf 64, 1024 channels at the bottom, 5 upsamplings, sync batch norm there,
    batch norm here); ADE20K's 100 + 100 epochs. ``fast``: a light generator for a CPU
    (:mod:`studio.core.nets.spade`: ngf 8, per-image instance norm, bilinear ups, one shared hidden
    layer per resolution, edge padding, a 16-d noise vector a seed varies), a half-width discriminator,
    128-px crops. The mode-seeking term stays off (``lambda_ms`` 0): at 0.2 and 1 it bought the seeds
    their differences with loops and ribbons drawn across the map (README, "Paint"). The label count
    comes from the data (:func:`_fit_spade_labels`)."""
    base: dict[str, Any] = dict(gan_mode="hinge", lr=2e-4, beta1=0.0, beta2=0.9, lambda_fm=10.0, lambda_l1=0.0,
                                pool_size=0, lambda_identity=0.0, batch_size=1, n_epochs=100, n_epochs_decay=100)
    if fast:
        base.update(load_size=143, crop_size=128, generator={"arch": "spade_generator", "params": {
            "ngf": 8, "max_mult": 16, "n_up": 5, "n_middle": 1, "hidden": 32, "norm": "instance",
            "upsample": "bilinear", "spectral": True, "shared_mlp": True, "z_dim": 16, "padding": "replicate"}},
            discriminator={"arch": "spade_discriminator", "params": {"ndf": 32, "n_layers": 4, "num_d": 2}})
    else:
        base.update(generator={"arch": "spade_generator", "params": {
            "ngf": 64, "max_mult": 16, "n_up": 5, "n_middle": 2, "hidden": 128, "norm": "batch",
            "upsample": "resize", "spectral": True, "shared_mlp": False, "z_dim": 0}},
            discriminator={"arch": "spade_discriminator", "params": {"ndf": 64, "n_layers": 4, "num_d": 2}})
    return base


def _latent(kind: str) -> Callable[[bool, int | None], dict[str, Any]]:
    def fields(fast: bool, size: int | None) -> dict[str, Any]:
        size = size or LATENT_DEFAULT_SIZE.get(kind, 64)
        base: dict[str, Any] = dict(crop_size=size, load_size=size, preprocess="resize_and_crop", lambda_identity=0.0,
                                    pool_size=0, n_epochs=50, n_epochs_decay=50, preview_every=200, discriminator={})
        return {**base, **latent_preset(kind, size, "fast" if fast else "reference")}

    return fields


def latent_preset(kind: str, size: int, preset_name: str = "reference") -> dict[str, Any]:
    """Network and optimiser settings for ``kind`` at ``size`` px (``fast``: about a quarter of the work)."""
    fast = preset_name == "fast"
    common = {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "batch_size": 16, "flip": True}
    if kind in ("vae", "ae"):  # the autoencoder has the VAE's shape, to be compared with it
        if size not in VAE_SIZES:
            raise StudioError(f"{'a VAE' if kind == 'vae' else 'an autoencoder'} trains at --size "
                              f"{', '.join(map(str, VAE_SIZES))}, got {size}")
        params = {"image_size": size, "latent_dim": 128, "channels": 16 if fast else 32,
                  "max_channels": 128 if fast else 256}
        return {**common, "generator": {"arch": "conv_vae" if kind == "vae" else "conv_ae", "params": params}}
    if kind == "dcgan":
        if size not in DCGAN_SIZES:
            raise StudioError(f"a DCGAN trains at --size {', '.join(map(str, DCGAN_SIZES))}, got {size}")
        # The paper's: 100-d z, 64-wide layers, Adam 2e-4 β1 0.5, batches of 128, the vanilla GAN loss.
        # fast: half the width, batches of 32, and resize-convolutions in the generator (no checkerboard).
        width = 32 if fast else 64
        return {**common, "lr": 2e-4, "beta1": 0.5, "batch_size": 32 if fast else 128, "gan_mode": "vanilla",
                "pool_size": 0,
                "generator": {"arch": "dcgan_generator", "params": {
                    "image_size": size, "latent_dim": 100, "ngf": width, "upsample": "bilinear" if fast else "transposed"}},
                "discriminator": {"arch": "dcgan_discriminator", "params": {
                    "image_size": size, "ndf": width, "norm": "batch", "minibatch_std": False}}}
    if kind == "flow":
        levels = 4 if size >= 128 else 3
        if size % 2**levels or size < 2**levels:
            raise StudioError(f"a flow at {levels} levels needs --size divisible by {2**levels}, got {size}")
        params = {"image_size": size, "levels": levels, "depth": 4 if fast else 8, "hidden": 64 if fast else 128}
        return {**common, "lr": 5e-4, "generator": {"arch": "glow", "params": params}}
    if kind == "pixelcnn":
        if size not in PIXELCNN_SIZES:
            raise StudioError(f"a PixelCNN trains at --size {' or '.join(map(str, PIXELCNN_SIZES))}, got {size}")
        # fast: a twentieth of the reference's work per pixel, for a CPU in minutes (README, "Latent models").
        params = {"image_size": size, "channels": 32 if fast else 96, "layers": 5 if fast else 12, "kernel": 3,
                  "first_kernel": 7, "mixtures": 5 if fast else 10}
        return {**common, "generator": {"arch": "gated_pixelcnn", "params": params}}
    raise StudioError(f"unknown latent model kind {kind!r} (known: vae, ae, flow, dcgan, pixelcnn)")


KIND_PRESETS: dict[str, Callable[[bool, int | None], dict[str, Any]]] = {
    "cyclegan": _cyclegan, "cut": _cut, "pix2pix": _pix2pix, "distill": _distill, "vae": _latent("vae"),
    "ae": _latent("ae"), "flow": _latent("flow"), "dcgan": _latent("dcgan"), "pixelcnn": _latent("pixelcnn"),
    "spade": _spade,
}
LATENT_SIZED = ("vae", "ae", "flow", "dcgan", "pixelcnn")  # the size picks the network; no resize-then-crop jitter
OWN_LOAD_SIZE = (*LATENT_SIZED, "distill")  # the load size is not derived from the crop


def preset(kind: str, name: str, preset_name: str = "reference", **overrides: Any) -> TrainConfig:
    """A config for ``kind`` from a preset, then ``overrides`` (None values are ignored)."""
    if preset_name not in PRESETS:
        raise StudioError(f"unknown preset {preset_name!r} (known: {', '.join(PRESETS)})")
    trainer = kinds.trainer_class(kind)  # an unknown kind fails here, with the known ones
    crop = overrides.get("crop_size")
    base: dict[str, Any] = {"kind": kind, "name": name, "preset": preset_name,
                            **KIND_PRESETS[kind](preset_name == "fast", crop)}
    variant = overrides.pop("variant", None) or next(iter(trainer.variants), "")
    kinds.check_variant(kind, variant)  # before its fields are looked up
    base.update(variant=variant, **trainer.variant_fields(variant))
    base.update({k: v for k, v in overrides.items() if v is not None})
    if crop and "load_size" not in overrides and kind not in OWN_LOAD_SIZE:
        base["load_size"] = round(base["crop_size"] * LOAD_TO_CROP)
    if kind == "pix2pix" and base["generator"]["arch"] == "unet_generator" and "generator" not in overrides:
        _fit_unet_depth(base)
    elif kind == "pix2pix" and base["generator"]["arch"] == "unet_generator":
        _check_unet_depth(base)
    if kind == "dcgan":
        _fit_dcgan_discriminator(base, overrides)
    if kind == "spade":
        _fit_spade_labels(base)
        _fit_spade_depth(base, "generator" in overrides)
    return kinds.validate(TrainConfig(**base))


def _fit_spade_depth(base: dict[str, Any], given: bool) -> None:
    """SPADE's generator starts from the map at 1/2**n_up of the crop: at least 4 px there (the paper's 8 at
    256, the fast preset's 4 at 128); a smaller crop gets fewer levels. A generator given whole keeps its."""
    crop = base.get("crop_size", TrainConfig.crop_size)
    params = dict(base["generator"]["params"])
    n_up = params.get("n_up", 5)
    if not given:
        while n_up > 1 and crop // 2**n_up < 4:
            n_up -= 1
        params["n_up"] = n_up
        base["generator"] = {**base["generator"], "params": params}
    if crop % 2**n_up or crop // 2**n_up < 2:
        raise StudioError(f"this SPADE generator upsamples {n_up} times: the crop size must be a multiple of "
                          f"{2**n_up} and at least {2**(n_up + 1)}, got {crop}")


def _fit_spade_labels(base: dict[str, Any]) -> None:
    """The generator paints from as many classes as the data has: ``--classes``, or the label maps' palette.
    A generator given whole (a base model's) must already have that many."""
    count = spade.label_count(TrainConfig(**base))
    params = dict(base["generator"]["params"])
    if count is None:
        return  # no data yet: the kind's own check says what is missing
    if "label_nc" in params and params["label_nc"] != count and base.get("from_model"):
        raise StudioError(f"--from {base['from_model']}: it paints {params['label_nc']} classes, "
                          f"but the label maps have {count}")
    params["label_nc"] = count
    base["generator"] = {**base["generator"], "params": params}


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


def _fit_dcgan_discriminator(base: dict[str, Any], overrides: dict[str, Any]) -> None:
    """The discriminator's options from the run's: the minibatch spread, and for WGAN-GP a critic with
    layer norm (the penalty is per image; batch norm mixes a batch) and Adam β = (0, 0.9), as Gulrajani
    et al. train it, unless the run gives them."""
    params = dict(base["discriminator"]["params"])
    params["minibatch_std"] = bool(base.get("minibatch_std", False))
    if base.get("gan_mode") == "wgangp" and "discriminator" not in overrides:
        params["norm"] = "layer"
        if "beta1" not in overrides:
            base["beta1"], base["beta2"] = 0.0, overrides.get("beta2", 0.9)
    base["discriminator"] = {**base["discriminator"], "params": params}


def _check_unet_depth(base: dict[str, Any]) -> None:
    """A U-Net given whole (a base model's) keeps its depth: the crop must suit it."""
    crop = base.get("crop_size", TrainConfig.crop_size)
    depth = base["generator"]["params"].get("num_downs", 8)
    if crop % (2**depth):
        raise StudioError(f"this U-Net has {depth} levels: the crop size must be divisible by {2**depth}, got {crop}")


# -- the run's configuration from a person's choices -----------------------------------------------

def run_config(
    kind: str,
    name: str,
    preset_name: str = "reference",
    options: Mapping[str, Any] | None = None,
    base_model: str | None = None,
    store: ModelStore | None = None,
) -> TrainConfig:
    """The config of a new run, as ``studio train`` and the Train panel both build it.

    ``options`` are TrainConfig fields (None: the preset's), plus ``epochs``: the total, split into
    (n+1)//2 at the initial rate and n//2 decaying. With ``base_model`` (a model in ``store``) the
    run fine-tunes it: it trains that model's generator architecture, at :data:`FINE_TUNE_FACTOR` of the preset's rate
    unless ``lr`` is given. Options that contradict each other or the base model raise a
    one-line StudioError."""
    chosen = {key: value for key, value in (options or {}).items() if value is not None}
    given_base = chosen.pop("from_model", None)
    if given_base and base_model and given_base != base_model:
        raise StudioError(f"two models to start from: {base_model!r} and {given_base!r}")
    base_model = base_model or given_base
    epochs = chosen.pop("epochs", None)
    if epochs is not None:
        if "n_epochs" in chosen or "n_epochs_decay" in chosen:
            raise StudioError("give the total epochs or --n-epochs / --n-epochs-decay, not both")
        chosen["n_epochs"], chosen["n_epochs_decay"] = (epochs + 1) // 2, epochs // 2
    if base_model:
        generator = base_generator(kind, base_model, store or ModelStore(), chosen.get("direction", "a2b"))
        if "generator" in chosen and chosen["generator"] != generator:
            raise StudioError(f"--from {base_model}: its generator is {generator['arch']} {generator['params']}, "
                              f"but the options ask for {chosen['generator']['arch']} {chosen['generator']['params']}")
        chosen.update(generator=generator, from_model=base_model)
        if "lr" not in chosen:
            chosen["lr"] = KIND_PRESETS[kind](preset_name == "fast", None).get("lr", TrainConfig.lr) * FINE_TUNE_FACTOR
    elif chosen.get("keep_discriminators"):
        raise StudioError("keeping the discriminators needs a model to start from (--from MODEL)")
    trainer = kinds.trainer_class(kind)
    if ("augment" not in chosen and preset_name != "reference" and trainer.discriminator_roles
            and trainer.augments_small_folders):
        # Small folders overfit the discriminator (DiffAugment); the reference preset keeps the reference's defaults.
        chosen["augment"] = augment.default_for_folders(chosen.get("pairs"), chosen.get("dir_a"), chosen.get("dir_b"))
    return preset(kind, name, preset_name, **chosen)


def base_generator(kind: str, model: str, store: ModelStore, direction: str = "a2b") -> dict[str, Any]:
    """The generator spec ({"arch", "params"}) of store model ``model``, which must be able to start a
    ``kind`` run (a fast copy: of ``direction``)."""
    info = store.get(model)
    probe = TrainConfig(kind=kind, name=model, direction=direction)
    roles = kinds.trainer_class(kind).base_roles(probe, model, info.card)
    specs = [info.card["networks"][role] for role in roles.values()]
    if any(spec["arch"] != specs[0]["arch"] or spec["params"] != specs[0]["params"] for spec in specs):
        raise StudioError(f"--from {model}: its generators differ in architecture; a run trains one architecture")
    return {"arch": specs[0]["arch"], "params": dict(specs[0]["params"])}
