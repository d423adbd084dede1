"""Tiled translation of a large photo: fidelity against whole-image output, and peak memory.

    python benchmarks/tiling.py --megapixels 24            # peak memory of a 24-MP tiled translation
    python benchmarks/tiling.py --megapixels 3.84 --compare  # also the whole-image run and the PSNR

Runs a reference-size CycleGAN generator (resnet_9blocks, ngf 64) on an upscaled scikit-image
photo. Peak memory is the process's maximum resident set size, measured in a fresh child process
per configuration so the runs do not see each other's peaks. Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

CHILD = r"""
import json, resource, sys, time
import numpy as np, torch
from PIL import Image
from skimage import data
from studio.core import nets
from studio.core.store import ModelStore, new_card
from studio.core.translate import Translator
args = json.loads(sys.argv[1])
torch.manual_seed(0)
g = nets.build("resnet_generator", {"n_blocks": 9, "ngf": 64})
nets.init_weights(g, "kaiming", gain=1.0)
store = ModelStore(args["home"], args["home"] + "/none")
if not store.exists("bench"):
    store.save("bench", new_card("cyclegan", {"G_A": ("resnet_generator", g.config)}), {"G_A": g.state_dict()})
model = store.load("bench")
w = int((args["megapixels"] * 1e6 * 1.5) ** 0.5); h = int(w / 1.5)
photo = Image.fromarray(data.astronaut()).resize((w, h), Image.BICUBIC)
rgb = np.asarray(photo, dtype=np.float32) / 255.0
del photo
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = Translator(model, "a2b", device="cpu")
start = time.perf_counter()
out = t.translate_array(rgb, tile=args["tile"])
seconds = time.perf_counter() - start
np.save(args["out"], (out * 255).round().astype(np.uint8))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"width": w, "height": h, "seconds": seconds, "peak_rss_mb": peak / 1024,
                  "before_translation_mb": base / 1024, "tile": args["tile"]}))
"""


def run(megapixels: float, tile: int | None, home: str, out: str) -> dict:
    args = json.dumps({"megapixels": megapixels, "tile": tile, "home": home, "out": out})
    result = subprocess.run([sys.executable, "-c", CHILD, args], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"benchmark child failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megapixels", type=float, default=24.0)
    parser.add_argument("--tile", type=int, default=None, help="tile size (default: automatic)")
    parser.add_argument("--compare", action="store_true", help="also translate whole and report PSNR")
    opts = parser.parse_args()
    import numpy as np

    with tempfile.TemporaryDirectory() as home:
        tiled = run(opts.megapixels, opts.tile, home, f"{home}/tiled.npy")
        print(f"tiled:  {tiled['width']}x{tiled['height']}  {tiled['seconds']:.1f} s  "
              f"peak RSS {tiled['peak_rss_mb']:.0f} MB (process before translating: {tiled['before_translation_mb']:.0f} MB)")
        if opts.compare:
            whole = run(opts.megapixels, 0, home, f"{home}/whole.npy")
            print(f"whole:  {whole['seconds']:.1f} s  peak RSS {whole['peak_rss_mb']:.0f} MB")
            a = np.load(f"{home}/tiled.npy").astype(np.float64)
            b = np.load(f"{home}/whole.npy").astype(np.float64)
            mse = np.mean((a - b) ** 2) / 255.0**2
            psnr = float("inf") if mse == 0 else 10 * np.log10(1 / mse)
            print(f"psnr_tiled_vs_whole_db: {psnr:.2f}")
            print(f"time_ratio_tiled_over_whole: {tiled['seconds'] / whole['seconds']:.2f}")
        print(f"peak_rss_mb: {tiled['peak_rss_mb']:.0f}")


if __name__ == "__main__":
    main()
