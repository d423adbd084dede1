"""The command line contract other issues build on."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import torch
from conftest import photo
from helpers import save_cyclegan

from studio.cli import main
from studio.core.images import read_image, write_image
from studio.core.store import ModelStore


def test_models_list_show_and_remove(capsys):
    save_cyclegan("tiny")
    assert main(["models", "list"]) == 0
    assert "tiny" in capsys.readouterr().out
    assert main(["models", "list", "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert entry["name"] == "tiny" and entry["kind"] == "cyclegan" and entry["directions"] == ["a2b", "b2a"]
    assert main(["models", "show", "tiny", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["networks"]["G_A"]["arch"] == "resnet_generator"
    assert main(["models", "show", "tiny"]) == 0
    assert "resnet_generator" in capsys.readouterr().out
    assert main(["models", "remove", "tiny", "--yes"]) == 0
    assert main(["models", "show", "tiny"]) == 1
    assert "no model named 'tiny'" in capsys.readouterr().err


def test_models_duplicate_and_rename(capsys, builtin_dir):
    """A built-in can be copied, not renamed; names already taken are one error line each."""
    save_cyclegan("tiny")
    assert main(["models", "duplicate", "tiny", "tiny copy"]) == 0
    assert capsys.readouterr().out == "copied 'tiny' to 'tiny copy'\n"
    assert main(["models", "show", "tiny copy", "--json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["name"] == "tiny copy" and card["provenance"]["duplicated_from"] == "tiny"
    assert main(["models", "duplicate", "tiny", "tiny copy"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["models", "rename", "tiny copy", "mine"]) == 0
    assert capsys.readouterr().out == "renamed 'tiny copy' to 'mine'\n"
    assert main(["models", "show", "tiny copy"]) == 1 and main(["models", "show", "mine"]) == 0
    capsys.readouterr()
    ModelStore().get("tiny").path.rename(builtin_dir / "tiny")  # now a built-in
    builtin = "tiny"
    assert ModelStore().get(builtin).builtin
    assert main(["models", "rename", builtin, "other"]) == 1
    assert "built-in model and cannot be changed" in (err := capsys.readouterr().err)
    assert "studio models duplicate 'tiny' NEW_NAME" in err  # the way out, named
    assert main(["models", "duplicate", builtin, "my starter"]) == 0
    assert not ModelStore().get("my starter").builtin


def test_translate_one_file_to_a_file(tmp_path, capsys):
    save_cyclegan("tiny")
    write_image(tmp_path / "in.jpg", photo("chelsea", (120, 90)))
    assert main(["translate", "--model", "tiny", "--direction", "b2a", "-q", str(tmp_path / "in.jpg"),
                 "-o", str(tmp_path / "out.webp")]) == 0
    assert read_image(tmp_path / "out.webp").size == (120, 90)


def test_translate_reports_each_failed_file_and_exits_nonzero(tmp_path, capsys):
    save_cyclegan("tiny")
    write_image(tmp_path / "in" / "ok.png", photo("coffee", (40, 30)))
    (tmp_path / "in" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    code = main(["translate", "--model", "tiny", "-q", str(tmp_path / "in"), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1
    assert "broken.jpg" in err and "translated 1 file(s)" in err
    assert err.count("broken.jpg") == 1, "one line per failed file, not the same line twice"
    out = read_image(tmp_path / "out" / "ok.png")
    assert out.size == (40, 30) and np.isfinite(out.rgb).all()


def test_unknown_model_and_bad_device_are_one_line_errors(tmp_path, capsys):
    assert main(["translate", "--model", "nope", "x.png", "-o", str(tmp_path / "o.png")]) == 1
    assert capsys.readouterr().err.startswith("studio: error: no model named 'nope'")
    save_cyclegan("tiny")
    if not torch.cuda.is_available():
        assert main(["translate", "--model", "tiny", "--device", "cuda", "x.png", "-o", "o.png"]) == 1
        assert "CUDA is not available" in capsys.readouterr().err
    assert main(["translate", "--model", "tiny", "--device", "tpu9", "x.png", "-o", "o.png"]) == 1
    assert "unknown device 'tpu9'" in capsys.readouterr().err


def test_console_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "studio", "--version"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "studio" in result.stdout


def test_bench_train_prints_seconds_per_step_last(capsys):
    assert main(["bench", "train", "--kind", "pix2pix", "--preset", "fast", "--size", "32", "--steps", "2",
                 "--warmup", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("seconds_per_step: ") and float(lines[-1].split()[-1]) > 0


def test_interleaved_timing_reports_the_median_of_each_contender():
    import time

    from studio.core.train.bench import interleaved_seconds

    calls = []
    seconds = interleaved_seconds(
        {"slow": lambda: (calls.append("s"), time.sleep(0.02)), "fast": lambda: calls.append("f")},
        rounds=3, warmup=1, device=torch.device("cpu"))
    assert calls == ["s", "f", "s", "f", "s", "f", "s", "f"]  # warm-up, then strictly alternating
    assert seconds["slow"] >= 0.02 > seconds["fast"]
