"""Tiled translation of a large photo: peak memory, time, and fidelity against whole-image output.

    python benchmarks/tiling.py --megapixels 24              # peak memory and time of a 24-MP photo
    python benchmarks/tiling.py --megapixels 3.84 --compare  # also the whole-image run and the PSNR

Runs a reference-size CycleGAN generator (resnet_9blocks, ngf 64, random weights: the cost does
not depend on them) the way ``studio translate`` does: a JPEG read from disk, translated with
automatic tiling on the CPU, written as PNG. Each configuration runs in a fresh child process and
reports that process's peak resident set size, so the runs do not see each other's peaks.
"Before translating" is the same process after importing torch and loading the model.
Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import json, resource, sys, time
import torch
from studio.cli.progress import render
from studio.core.store import ModelStore
from studio.core.translate import Translator, translate_job
args = json.loads(sys.argv[1])
if args["threads"]:
    torch.set_num_threads(args["threads"])
translator = Translator(ModelStore().load("bench"), "a2b", device="cpu")
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
summary = render(translate_job(translator, [args["photo"]], args["out"], tile=args["tile"]), quiet=True)
seconds = time.perf_counter() - start
assert summary["written"], summary
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_rss_mb": peak / 1024, "before_translation_mb": base / 1024}))
"""


def make_inputs(home: str, megapixels: float) -> tuple[str, int, int]:
    import numpy as np
    import torch
    from PIL import Image
    from skimage import data

    from studio.core import nets
    from studio.core.store import ModelStore, new_card

    torch.manual_seed(0)
    g = nets.build("resnet_generator", {"n_blocks": 9, "ngf": 64})
    nets.init_weights(g, "kaiming", gain=1.0)
    ModelStore(f"{home}/models").save(
        "bench", new_card("cyclegan", {"G_A": ("resnet_generator", g.config)}), {"G_A": g.state_dict()}
    )
    w = int((megapixels * 1e6 * 1.5) ** 0.5)
    h = int(w / 1.5)
    photo = f"{home}/photo.jpg"
    Image.fromarray(np.asarray(data.astronaut())).resize((w, h), Image.BICUBIC).save(photo, quality=95)
    return photo, w, h


def run(home: str, photo: str, out: str, tile: int | None, threads: int) -> dict:
    args = json.dumps({"photo": photo, "out": out, "tile": tile, "threads": threads})
    env = {**os.environ, "STUDIO_HOME": home}
    result = subprocess.run([sys.executable, "-c", CHILD, args], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        sys.exit(f"benchmark child failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megapixels", type=float, default=24.0)
    parser.add_argument("--tile", type=int, default=None, help="tile size (default: automatic)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    parser.add_argument("--compare", action="store_true", help="also translate whole and report PSNR")
    opts = parser.parse_args()
    import numpy as np
    from PIL import Image

    with tempfile.TemporaryDirectory() as home:
        photo, w, h = make_inputs(home, opts.megapixels)
        tiled = run(home, photo, f"{home}/tiled.png", opts.tile, opts.threads)
        print(f"tiled:  {w}x{h}  {tiled['seconds']:.1f} s  peak RSS {tiled['peak_rss_mb']:.0f} MB "
              f"(process before translating: {tiled['before_translation_mb']:.0f} MB)")
        if opts.compare:
            whole = run(home, photo, f"{home}/whole.png", 0, opts.threads)
            print(f"whole:  {whole['seconds']:.1f} s  peak RSS {whole['peak_rss_mb']:.0f} MB")
            a = np.asarray(Image.open(f"{home}/tiled.png"), dtype=np.float64)
            b = np.asarray(Image.open(f"{home}/whole.png"), dtype=np.float64)
            mse = np.mean((a - b) ** 2) / 255.0**2
            psnr = float("inf") if mse == 0 else 10 * np.log10(1 / mse)
            print(f"psnr_tiled_vs_whole_db: {psnr:.2f}")
            print(f"time_ratio_tiled_over_whole: {tiled['seconds'] / whole['seconds']:.2f}")
        print(f"peak_rss_mb: {tiled['peak_rss_mb']:.0f}")


if __name__ == "__main__":
    main()
