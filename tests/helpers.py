"""Small models made on the fly for tests."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from studio.core import nets
from studio.core.store import ModelStore, new_card


def tiny_resnet_params(**over) -> dict:
    params = {"input_nc": 3, "output_nc": 3, "ngf": 8, "n_blocks": 2, "norm": "instance"}
    params.update(over)
    return params


def make_generator(arch: str, params: dict, seed: int = 0, init: str = "kaiming") -> torch.nn.Module:
    """A randomly initialised generator whose output depends strongly on the image (kaiming init)."""
    torch.manual_seed(seed)
    net = nets.build(arch, params)
    nets.init_weights(net, init, gain=1.0)
    return net


def save_cyclegan(name: str = "tiny-cyclegan", seed: int = 0, **params) -> str:
    p = tiny_resnet_params(**params)
    g_a = make_generator("resnet_generator", p, seed)
    g_b = make_generator("resnet_generator", p, seed + 1)
    card = new_card(
        "cyclegan",
        {"G_A": ("resnet_generator", g_a.config), "G_B": ("resnet_generator", g_b.config)},
        domains={"A": "photo", "B": "painting"},
        image_size=64,
        provenance={"source": "test"},
    )
    ModelStore().save(name, card, {"G_A": g_a.state_dict(), "G_B": g_b.state_dict()})
    return name


def save_pix2pix(name: str = "tiny-pix2pix", seed: int = 0, num_downs: int = 5, ngf: int = 8) -> str:
    params = {"input_nc": 3, "output_nc": 3, "ngf": ngf, "num_downs": num_downs, "norm": "batch", "use_dropout": True}
    g = make_generator("unet_generator", params, seed, init="normal")
    card = new_card("pix2pix", {"G": ("unet_generator", g.config)}, image_size=64, provenance={"source": "test"})
    ModelStore().save(name, card, {"G": g.state_dict()})
    return name


def record_tile_stores(monkeypatch) -> list:
    """Every activation store tiled translations open from now on (``was_on_disk`` added), to check
    where they kept what and that they let go of it."""
    from studio.core.translate import tiling

    opened = []

    class Recording(tiling.TileStore):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            opened.append(self)
            self.was_on_disk = self.on_disk
            fd = Path(f"/proc/self/fd/{self._file.fileno()}") if self.on_disk else None
            self.file_path = os.readlink(fd) if fd is not None and fd.exists() else None  # Linux only

    monkeypatch.setattr(tiling, "TileStore", Recording)
    return opened
