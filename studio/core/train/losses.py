"""GAN objectives and the discriminators' image history, as the pix2pix/CycleGAN papers define them."""

from __future__ import annotations

import random
from typing import Any

import torch
from torch import nn

GAN_MODES = ("lsgan", "vanilla", "wgangp", "hinge")


class GANLoss(nn.Module):
    """Adversarial loss against a constant target: least squares, the original log loss, WGAN, or the
    hinge loss (SPADE's: the discriminator's max(0, 1 ∓ D); the generator's −D, ``for_discriminator=False``)."""

    real_label: torch.Tensor  # buffers, registered in __init__
    fake_label: torch.Tensor

    def __init__(self, mode: str = "lsgan", real_label: float = 1.0, fake_label: float = 0.0):
        super().__init__()
        if mode not in GAN_MODES:
            raise ValueError(f"unknown GAN mode {mode!r} (known: {', '.join(GAN_MODES)})")
        self.mode = mode
        self.register_buffer("real_label", torch.tensor(real_label))
        self.register_buffer("fake_label", torch.tensor(fake_label))

    def forward(self, prediction: torch.Tensor, target_is_real: bool, for_discriminator: bool = True) -> torch.Tensor:
        prediction = prediction.float()  # losses in fp32 even under autocast
        if self.mode == "hinge":
            if not for_discriminator:
                return -prediction.mean()
            return nn.functional.relu(1.0 - prediction if target_is_real else 1.0 + prediction).mean()
        if self.mode == "wgangp":
            return -prediction.mean() if target_is_real else prediction.mean()
        target = (self.real_label if target_is_real else self.fake_label).expand_as(prediction)
        if self.mode == "lsgan":
            return nn.functional.mse_loss(prediction, target)
        return nn.functional.binary_cross_entropy_with_logits(prediction, target)


def gradient_penalty(
    discriminator: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    weight: float = 10.0,
    constant: float = 1.0,
) -> torch.Tensor:
    """WGAN-GP: ``weight * (‖∇D(x̂)‖ - constant)²`` at random points between real and fake images.

    The returned term must be added to the discriminator's loss: it is differentiable with respect
    to the discriminator's parameters (``create_graph=True``).
    """
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    score = discriminator(mixed)
    (grad,) = torch.autograd.grad(score.float().sum(), mixed, create_graph=True)
    norms = (grad.reshape(grad.shape[0], -1).float() + 1e-16).norm(2, dim=1)
    return weight * ((norms - constant) ** 2).mean()


def patch_nce_loss(query: torch.Tensor, key: torch.Tensor, batch_size: int, tau: float = 0.07) -> torch.Tensor:
    """PatchNCE (CUT): InfoNCE over patches, per patch, averaged.

    ``query`` and ``key`` are (B·P, C) unit vectors, patch p of image b at row b·P + p, the same
    positions in both. Each output patch (query) should pick its own input patch (key) out of
    the P patches of the same image: the positive is the matching row, the negatives the other
    P - 1 patches of that image (not of other images: CUT's default). ``tau`` is the temperature.
    Keys are constants here: the gradient flows through the query only, as in CUT.
    """
    key = key.detach()
    dim = query.shape[1]
    positive = (query * key).sum(dim=1, keepdim=True)  # (B·P, 1)
    q, k = query.view(batch_size, -1, dim), key.view(batch_size, -1, dim)
    patches = q.shape[1]
    negative = torch.bmm(q, k.transpose(1, 2))  # (B, P, P)
    # A patch is not its own negative: its diagonal entry would be the positive again.
    eye = torch.eye(patches, device=query.device, dtype=torch.bool)[None]
    negative = negative.masked_fill(eye, -10.0).view(-1, patches)
    logits = torch.cat([positive, negative], dim=1) / tau
    target = torch.zeros(logits.shape[0], dtype=torch.long, device=query.device)
    return nn.functional.cross_entropy(logits, target)


class ImagePool:
    """A history of generated images, so the discriminator also sees older fakes (Shrivastava et al.).

    Until full, every image is stored and returned. Then each image is, with probability 1/2,
    swapped for a random stored one (which is returned instead). The pool and its random state are
    part of a training checkpoint, so a resumed run continues exactly.
    """

    def __init__(self, size: int = 50, seed: int = 0):
        self.size = size
        self.images: list[torch.Tensor] = []
        self.rng = random.Random(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image.cpu())
                out.append(image)
            elif self.rng.random() > 0.5:
                index = self.rng.randint(0, self.size - 1)
                old = self.images[index].to(image.device)
                self.images[index] = image.cpu()
                out.append(old)
            else:
                out.append(image)
        return torch.cat(out, 0)

    def state_dict(self) -> dict[str, Any]:
        return {"size": self.size, "images": list(self.images), "rng": _rng_state(self.rng)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.size = int(state["size"])
        self.images = list(state["images"])
        self.rng.setstate(_rng_restore(state["rng"]))


def _rng_state(rng: random.Random) -> list:
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]


def _rng_restore(state: list) -> tuple:
    version, internal, gauss = state
    return (version, tuple(internal), gauss)
