"""CUT and FastCUT (Park, Efros, Zhang & Zhu, "Contrastive Learning for Unpaired Image-to-Image
Translation", ECCV 2020) as a training algorithm.

One generator G: A→B, one discriminator D judging B images, and a small projection head F
(:class:`studio.core.nets.PatchMLPHead`). Besides the adversarial loss, PatchNCE asks each patch
of G(a) to be recognisable as the patch of ``a`` at the same place among the other patches of
``a`` (:func:`.losses.patch_nce_loss`), on features of G's own encoder at several layers. There is
no second generator and no cycle: half of CycleGAN's networks.

The two variants are CUT's own option sets:

- ``cut``: λ_NCE 1, plus the identity term PatchNCE(b, G(b)), so G leaves B images alone;
- ``fastcut``: λ_NCE 10, no identity term (half the generator passes) and flip equivariance: the
  input is flipped half the time and the output's features flipped back before comparison.

As in CUT, D is updated before G, there is no history pool, and F shares G's optimiser settings
(one Adam over both: Adam is per parameter, so this is the same as CUT's two optimisers). F's
random patch positions and the flips come from the trainer's own generator, saved in the
checkpoint, so a resumed run draws what it would have drawn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from studio.core import nets
from studio.core.errors import StudioError

from . import data
from .config import TrainConfig
from .losses import patch_nce_loss
from .trainer import Trainer, preview_grid, set_requires_grad, unwrap

VARIANTS: dict[str, dict[str, Any]] = {
    "cut": {"lambda_nce": 1.0, "nce_idt": True, "flip_equivariance": False},
    "fastcut": {"lambda_nce": 10.0, "nce_idt": False, "flip_equivariance": True, "n_epochs": 150, "n_epochs_decay": 50},
}


class CUTTrainer(Trainer):
    kind = "cut"
    title = "CUT / FastCUT — two collections, one direction"
    preview_layout = "each row: A → G(A), then B → G(B)"
    generator_roles = ("G",)
    discriminator_roles = ("D",)
    averages_generators = True
    variants = tuple(VARIANTS)
    variant_titles = {"cut": "CUT — the better results", "fastcut": "FastCUT — faster, rougher"}
    card_config_keys = ("augment", "variant", "lambda_nce", "nce_idt", "nce_layers", "nce_pixels", "nce_t",
                        "num_patches", "flip_equivariance")

    def __init__(self, config: TrainConfig, device: torch.device):
        super().__init__(config, device)
        g = cast(nets.ResnetGenerator, self.nets["G"])
        self.layers = list(config.nce_layers) or g.encoder_layers(pixels=config.nce_pixels)
        with torch.no_grad():
            probe = torch.zeros(1, g.config["input_nc"], 4 * g.size_multiple, 4 * g.size_multiple, device=device)
            widths = [feature.shape[1] for feature in g.features(probe, self.layers)]
        self.nets["F"] = nets.build("patch_mlp", {"channels": widths, "nc": config.patch_nc}).to(device)
        self.nets["F"].train()
        self.opt_g.add_param_group({"params": list(self.nets["F"].parameters())})
        self.rng = torch.Generator().manual_seed(config.seed * 2 + 3)

    @classmethod
    def variant_fields(cls, variant: str) -> dict[str, Any]:
        return dict(VARIANTS[variant])

    @classmethod
    def check_data(cls, config: TrainConfig) -> None:
        if not (config.dir_a and config.dir_b):
            raise StudioError("CUT training needs two folders: --a DIR --b DIR")
        if config.generator.get("arch") not in ("resnet_generator", "mobile_resnet_generator"):
            raise StudioError(f"CUT trains a ResNet generator, not {config.generator.get('arch')!r}")
        if config.num_patches < 1 or config.patch_nc < 1 or config.nce_t <= 0:
            raise StudioError("--num-patches and the head width must be ≥ 1, the NCE temperature > 0")

    @classmethod
    def dataset(cls, config: TrainConfig, preprocess: data.Preprocess, folder: Path | None = None) -> Any:
        return data.unpaired(cast(str, config.dir_a), cast(str, config.dir_b), preprocess, seed=config.seed)

    def nce(self, source: torch.Tensor, output: torch.Tensor, flipped: bool) -> torch.Tensor:
        """PatchNCE between ``source`` and G's ``output`` for it, averaged over the layers."""
        g, head = cast(nets.ResnetGenerator, unwrap(self.nets["G"])), self.nets["F"]
        c = self.config
        queries = g.features(output, self.layers)
        if flipped:  # the output of a flipped input, flipped back into the input's frame
            queries = [torch.flip(q, [3]) for q in queries]
        keys = g.features(source, self.layers)
        key_vectors, positions = head(keys, c.num_patches, generator=self.rng)
        query_vectors, _ = head(queries, c.num_patches, positions)
        batch = source.shape[0]
        total = sum(patch_nce_loss(q, k, batch, c.nce_t) for q, k in zip(query_vectors, key_vectors, strict=True))
        return cast(torch.Tensor, total) * c.lambda_nce / len(self.layers)

    def step(self, batch: dict[str, Any]) -> dict[str, float]:
        c = self.config
        g, d = self.nets["G"], unwrap(self.nets["D"])
        real_a, real_b = self.to_device(batch, "A"), self.to_device(batch, "B")
        flipped = c.flip_equivariance and bool(torch.rand((), generator=self.rng) < 0.5)
        source = torch.flip(real_a, [3]) if flipped else real_a
        with self.autocast():
            # One pass for both when the identity term needs G(B): CUT's batching.
            both = g(torch.cat([source, real_b])) if c.nce_idt else g(source)
        fake_b = both[: real_a.shape[0]]
        idt_b = both[real_a.shape[0]:] if c.nce_idt else None
        # The discriminator first, as in CUT.
        set_requires_grad([d], True)
        assert self.opt_d is not None
        self.opt_d.zero_grad(set_to_none=True)
        loss_d = self.discriminator_loss("D", real_b, fake_b)
        loss_d.backward()
        self.opt_d.step()
        # Then the generator and the head; D judges without learning.
        set_requires_grad([d], False)
        self.opt_g.zero_grad(set_to_none=True)
        with self.autocast():
            loss_gan = self.gan_loss(d(self.judged(fake_b)), True)
            loss_nce = self.nce(real_a, fake_b, flipped) if c.lambda_nce > 0 else torch.zeros((), device=self.device)
            if idt_b is not None and c.lambda_nce > 0:
                loss_nce_y = self.nce(real_b, idt_b, False)
                loss_nce_both = 0.5 * (loss_nce + loss_nce_y)
            else:
                loss_nce_y = torch.zeros((), device=self.device)
                loss_nce_both = loss_nce
            loss_g = loss_gan + loss_nce_both
        loss_g.backward()
        self.opt_g.step()
        losses = {"D": loss_d.item(), "G": loss_gan.item(), "NCE": loss_nce.item()}
        if idt_b is not None:  # FastCUT has no identity term to report
            losses["NCE_Y"] = loss_nce_y.item()
        return losses

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "rng": self.rng.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.rng.set_state(state["rng"])

    def preview(self, samples: dict[str, torch.Tensor]) -> np.ndarray:
        """Rows of A, G(A) | B, G(B) as one uint8 image."""
        a, b = samples["A"], samples["B"]
        return preview_grid([a, self.translate("G", a), b, self.translate("G", b)])
