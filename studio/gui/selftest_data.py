"""What the self-test works on: models, folders and a download server it makes for itself, in its own
temporary STUDIO_HOME (``studio --self-test``; the tests use them too)."""

from __future__ import annotations

import http.server
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from studio.core import jobs


def make_untrained_models(store: Any) -> list[str]:
    """Small freshly initialised pix2pix and CycleGAN models, for machines with no built-in ones."""
    from studio.core import nets
    from studio.core.store import new_card

    made = []
    have = {m.kind for m in store.list()}
    torch.manual_seed(0)
    if "pix2pix" not in have:
        params = {"input_nc": 3, "output_nc": 3, "ngf": 16, "num_downs": 6, "norm": "batch", "use_dropout": False}
        g = nets.build("unet_generator", params)
        nets.init_weights(g, "normal", gain=0.02)
        card = new_card("pix2pix", {"G": ("unet_generator", g.config)}, domains={"A": "photo", "B": "sketch"},
                        image_size=64, description="Untrained model made by the self-test.",
                        provenance={"source": "self-test"})
        made.append(store.save("self-test pix2pix", card, {"G": g.state_dict()}).name)
    if "cyclegan" not in have:
        params = {"input_nc": 3, "output_nc": 3, "ngf": 16, "n_blocks": 3, "norm": "instance"}
        g_a, g_b = nets.build("resnet_generator", params), nets.build("resnet_generator", params)
        for g in (g_a, g_b):
            nets.init_weights(g, "normal", gain=0.02)
        card = new_card("cyclegan", {"G_A": ("resnet_generator", g_a.config), "G_B": ("resnet_generator", g_b.config)},
                        domains={"A": "photo", "B": "painting"}, image_size=64,
                        description="Untrained model made by the self-test.", provenance={"source": "self-test"})
        made.append(store.save("self-test cyclegan", card, {"G_A": g_a.state_dict(), "G_B": g_b.state_dict()}).name)
    return made


def write_reference_checkpoint(path: Path) -> Path:
    """A tiny untrained CycleGAN generator saved as the reference saves one (its key layout)."""
    from studio.core import nets

    torch.manual_seed(0)
    g = nets.build("resnet_generator", {"input_nc": 3, "output_nc": 3, "ngf": 16, "n_blocks": 3, "norm": "instance"})
    nets.init_weights(g, "normal", gain=0.02)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(g.state_dict(), path)
    return path


class _SlowFiles(http.server.SimpleHTTPRequestHandler):
    """Files in 8 kB chunks a few ms apart, so that an install in progress can be photographed."""

    def log_message(self, *args: Any) -> None:
        pass

    def copyfile(self, source: Any, outputfile: Any) -> None:
        while chunk := source.read(8192):
            outputfile.write(chunk)
            time.sleep(0.03)


def serve_folder(root: Path) -> http.server.ThreadingHTTPServer:
    """A mirror on 127.0.0.1 serving ``root``: the self-test never reaches the network."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), lambda *args: _SlowFiles(*args, directory=str(root)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True, name="self-test mirror").start()
    return server


def make_training_folders(root: Path, photos: list[Path], per_photo: int = 3, size: int = 48) -> tuple[Path, Path]:
    """Two small folders of crops of the sample photos (the first photo for A, the others for B)."""
    from studio.core.images import read_image, write_image

    a, b = root / "photos_a", root / "photos_b"
    rng = np.random.default_rng(0)
    for index, path in enumerate(photos):
        rgb = read_image(path).rgb
        height, width = rgb.shape[:2]
        side = min(height, width) // 2
        folder = a if index == 0 else b
        for k in range(per_photo):
            y, x = int(rng.integers(0, height - side)), int(rng.integers(0, width - side))
            crop = rgb[y : y + side, x : x + side]
            step = max(1, side // size)
            write_image(folder / f"{path.stem}_{k}.png", crop[::step, ::step][:size, :size])
    return a, b


LATENT_MODEL = "self-test vae"


def train_latent_model(folder: Path, name: str = LATENT_MODEL, steps: int = 120, size: int = 32,
                       control: Any = None) -> str:
    """A small VAE trained for a few seconds on ``folder`` (blurry, but it reads its images), published in the store."""
    from studio.core.train.job import train_job
    from studio.core.train.presets import preset

    config = preset("vae", name, "reference", dir_a=str(folder), crop_size=size, max_steps=steps, batch_size=8,
                    checkpoint_every=10 * steps, preview_every=10 * steps, workers=0, lr=3e-3,
                    generator={"arch": "conv_vae", "params": {"image_size": size, "latent_dim": 16, "channels": 16,
                                                              "max_channels": 64}})
    summary = jobs.run(train_job(config, control=control)) or {}
    if not summary.get("model"):
        raise RuntimeError(f"the VAE run did not publish a model ({summary or 'no summary'})")
    return summary["model"]


def write_map_folder(model: Any, images: list[Path], out: Path, samples: int = 20) -> Path:
    """A folder to map: copies of ``images`` and ``samples`` images decoded from the model's prior."""
    import shutil

    from studio.core.images import write_image
    from studio.core.latent import to_rgb8

    out.mkdir(parents=True, exist_ok=True)
    for path in images:
        shutil.copy(path, out / path.name)
    for k, rgb in enumerate(to_rgb8(model.sample(samples, 0.8, seed=0))):
        write_image(out / f"sample_{k:02d}.png", rgb.astype(np.float32) / 255.0)
    return out
