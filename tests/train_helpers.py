"""Tiny real-photo training folders for the training tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from conftest import photo

from studio.core.images import write_image
from studio.core.train.presets import preset

A_PHOTOS = ("astronaut", "coffee", "rocket")
B_PHOTOS = ("chelsea", "hubble_deep_field", "immunohistochemistry")


def crops(name: str, count: int, size: int = 40, seed: int = 0) -> list[np.ndarray]:
    img = photo(name)
    rng = np.random.default_rng(seed)
    h, w = img.shape[:2]
    side = min(h, w) // 2
    out = []
    for _ in range(count):
        y, x = rng.integers(0, h - side), rng.integers(0, w - side)
        from PIL import Image

        tile = Image.fromarray((img[y : y + side, x : x + side] * 255).astype(np.uint8)).resize((size, size))
        out.append(np.asarray(tile, dtype=np.float32) / 255)
    return out


def unpaired_folders(root: Path, per_photo: int = 2, junk: bool = True) -> tuple[Path, Path]:
    a, b = root / "trainA", root / "trainB"
    for folder, names in ((a, A_PHOTOS), (b, B_PHOTOS)):
        for name in names:
            for k, img in enumerate(crops(name, per_photo)):
                write_image(folder / f"{name}_{k}.jpg", img)
    if junk:
        (a / "notes.png").write_text("this is not an image")
        (b / "sub").mkdir()
        (b / "sub" / "empty.jpg").write_bytes(b"")
    return a, b


def paired_folders(root: Path, count: int = 4) -> tuple[Path, Path]:
    """A: grayscale photos, B: the colour originals, matched by name (a colourisation task)."""
    a, b = root / "gray", root / "color"
    for k, img in enumerate(crops("astronaut", count, size=32) + crops("coffee", count, size=32)):
        write_image(b / f"p{k}.png", img)
        write_image(a / f"p{k}.png", np.repeat(img.mean(axis=2, keepdims=True), 3, axis=2))
    return a, b


def tiny_folder_config(kind: str, name: str, folder: Path, size: int, preset_name: str = "reference", **over):
    """A one-folder kind (the latent models, DCGAN, PixelCNN) for a few steps on ``size``-px images:
    batches of 4, previews every 4 steps, no worker processes; ``over`` sets any field."""
    base = dict(dir_a=str(folder), crop_size=size, max_steps=8, batch_size=4, checkpoint_every=100, preview_every=4,
                workers=0)
    base.update(over)
    return preset(kind, name, preset_name, **base)


def tiny_config(kind: str, name: str, a: Path | None = None, b: Path | None = None, **over):
    base = dict(dir_a=str(a) if a else None, dir_b=str(b) if b else None, crop_size=32, load_size=36,
                max_steps=6, checkpoint_every=100, preview_every=3, workers=0)
    if kind in ("cyclegan", "cut"):
        base.update(generator={"arch": "resnet_generator", "params": {"n_blocks": 2, "ngf": 8}},
                    discriminator={"arch": "patchgan_discriminator", "params": {"n_layers": 2, "ndf": 8, "norm": "instance"}})
    else:
        base.update(generator={"arch": "unet_generator", "params": {"num_downs": 5, "ngf": 8, "norm": "batch",
                                                                    "use_dropout": True}},
                    discriminator={"arch": "patchgan_discriminator", "params": {"n_layers": 2, "ndf": 8, "norm": "batch"}})
    if kind == "cut":
        base.update(num_patches=16, patch_nc=16)
    base.update(over)
    return preset(kind, name, "reference", **base)


def kill_then_resume(cmd: list[str], name: str, studio_home: Path, planned: int, env: dict[str, str]) -> None:
    """Start ``cmd`` (a `studio train` run called ``name``), SIGKILL it once it has checkpointed, resume it
    with `studio train --resume`, and check that every planned step was logged exactly once."""
    import json
    import signal
    import subprocess
    import sys
    import time

    from studio.core.train.job import list_runs

    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE)
    status = studio_home / "runs" / name / "run.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if status.exists() and json.loads(status.read_text()).get("step", 0) >= 3:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    killed_at = json.loads(status.read_text())["step"]
    assert 3 <= killed_at < planned
    assert [r["state"] for r in list_runs()] == ["interrupted"]
    result = subprocess.run([sys.executable, "-m", "studio", "train", "--resume", name, "-q"], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert json.loads(status.read_text())["state"] == "finished"
    losses = (studio_home / "runs" / name / "losses.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in losses] == list(range(1, planned + 1)), \
        "every step logged once, none lost or repeated"
