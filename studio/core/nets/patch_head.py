"""CUT's patch sampler and projection head (Park et al., ECCV 2020: ``PatchSampleF``, "mlp_sample").

For each encoder layer, the head picks the same random spatial positions in every image of the
batch, takes the feature vector at each position, projects it with a two-layer MLP (one per
layer) and normalises it to unit length. PatchNCE then compares an output patch's vector with the
input patch's at the same position (:func:`studio.core.train.losses.patch_nce_loss`). The
positions chosen for the output's features are reused for the input's, so that positive pairs
line up.

The head is trained with the generator and thrown away afterwards: a published CUT model is its
generator alone. Its layer widths are constructor parameters (not found from a first batch, as in
the original code), so a checkpoint rebuilds it before any data is seen.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from studio.core.errors import ModelError

from .norm_layers import init_weights
from .registry import Network, check_int, register


@register("patch_mlp")
class PatchMLPHead(Network):
    """One MLP (``channels[i]`` → ``nc`` → ``nc``) per encoder layer; unit-length outputs."""

    def __init__(self, channels: Sequence[int] = (3,), nc: int = 256):
        super().__init__()
        if isinstance(channels, (str, bytes)) or not isinstance(channels, Sequence) or not channels:
            raise ModelError(f"parameter 'channels' must be a non-empty list of integers, got {channels!r}")
        widths = [check_int("channels", c, 1) for c in channels]
        self.config = {"channels": widths, "nc": check_int("nc", nc, 1)}
        self.mlps = nn.ModuleList(
            nn.Sequential(nn.Linear(c, nc), nn.ReLU(), nn.Linear(nc, nc)) for c in widths
        )
        init_weights(self, "xavier", 0.02)  # CUT's default initialisation

    def forward(
        self,
        features: Sequence[Tensor],
        num_patches: int,
        positions: Sequence[Tensor] | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[list[Tensor], list[Tensor]]:
        """Projected patch vectors per layer, each (B·P, nc), and the positions used (each (P,)).

        ``positions`` None draws ``num_patches`` distinct positions per layer with ``generator``
        (all of them when a layer has fewer); given, it reuses them.
        """
        if len(features) != len(self.mlps):
            raise ModelError(f"patch head: {len(features)} feature maps for {len(self.mlps)} layers")
        projected, used = [], []
        for index, (feature, mlp) in enumerate(zip(features, self.mlps, strict=True)):
            flat = feature.flatten(2).transpose(1, 2)  # (B, H·W, C)
            if positions is None:
                ids = torch.randperm(flat.shape[1], generator=generator)[:num_patches].to(flat.device)
            else:
                ids = positions[index]
            sample = flat[:, ids, :].flatten(0, 1)  # (B·P, C)
            projected.append(nn.functional.normalize(mlp(sample.float()), dim=1))
            used.append(ids)
        return projected, used
