"""Training in a supervised child process (what the window does): the same events, and failures that
stay in the child."""

from __future__ import annotations

import json
import os
import signal
import time

import numpy as np
import pytest
import torch
from train_helpers import tiny_config, unpaired_folders

from studio.core.errors import StudioError
from studio.core.jobs import Checkpoint, Control, Losses, Preview, run
from studio.core.store import ModelStore
from studio.core.train.job import list_runs, train_job
from studio.core.train.supervise import decode, encode, supervised_train_job

pytestmark = pytest.mark.timeout(240)


def test_events_survive_the_wire():
    from studio.core.jobs import Finished, Log, Progress

    for event in (Progress(3, 10, "epoch 1", stats={"it_per_s": 2.5, "eta_s": None}),
                  Losses(4, {"G": 0.5, "D": np.float32(0.25)}, epoch=1, lr=2e-4), Log("warning", "skipped x"),
                  Checkpoint(5, "/runs/x/checkpoint.pt", "pause"), Finished({"run": "x", "step": 5, "cancelled": False})):
        back = decode(encode(event))
        assert back == event or (isinstance(event, Losses) and back.values == {"G": 0.5, "D": 0.25})
    assert decode("some library printed this\n") is None


@pytest.fixture
def one_thread():
    """One torch thread here, as the child gets (float sums then run in the same order); restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_a_supervised_run_yields_what_an_in_process_run_yields(tmp_path, studio_home, one_thread):
    a, b = unpaired_folders(tmp_path, junk=False)
    here = []
    run(train_job(tiny_config("cyclegan", "here", a, b, max_steps=6, pool_size=2)), on_event=here.append)
    there = []
    value = run(supervised_train_job(tiny_config("cyclegan", "there", a, b, max_steps=6, pool_size=2), threads=1),
                on_event=there.append)
    assert value["model"] == "there" and not value["cancelled"]
    assert [e.values for e in there if isinstance(e, Losses)] == [e.values for e in here if isinstance(e, Losses)]
    previews = [e for e in there if isinstance(e, Preview)]
    assert previews and previews[0].image.shape == next(e for e in here if isinstance(e, Preview)).image.shape
    for v, w in zip(ModelStore().load("here").networks["G_A"].state_dict().values(),
                    ModelStore().load("there").networks["G_A"].state_dict().values(), strict=True):
        assert torch.equal(v, w)


def test_pause_and_cancel_reach_the_child_and_the_run_resumes(tmp_path, studio_home):
    a, b = unpaired_folders(tmp_path, junk=False)
    control = Control()
    seen = []
    for event in supervised_train_job(tiny_config("cyclegan", "stop", a, b, max_steps=200), control=control, threads=1):
        seen.append(event)
        if isinstance(event, Losses) and event.step == 2:
            control.pause()
        if isinstance(event, Checkpoint) and event.reason == "pause":
            control.cancel()
    reasons = [e.reason for e in seen if isinstance(e, Checkpoint)]
    assert reasons[:2] == ["pause", "cancel"] and seen[-1].value["cancelled"]
    value = run(supervised_train_job(resume="stop", threads=1))
    assert value["step"] == 200 and value["model"] == "stop"


def test_a_killed_child_leaves_a_clear_error_and_a_resumable_run(tmp_path, studio_home):
    a, b = unpaired_folders(tmp_path, junk=False)
    job = supervised_train_job(tiny_config("cyclegan", "oom", a, b, max_steps=150, checkpoint_every=2), threads=1)
    status = studio_home / "runs" / "oom" / "run.json"
    with pytest.raises(StudioError, match=r"killed \(signal 9; out of memory\?\).*resume “oom”"):
        for event in job:
            if isinstance(event, Checkpoint) and event.step >= 4:
                os.kill(json.loads(status.read_text())["pid"], signal.SIGKILL)  # as the kernel's OOM killer does
                time.sleep(0.2)
    assert [r["state"] for r in list_runs()] == ["interrupted"]
    assert run(supervised_train_job(resume="oom", threads=1, env={"STUDIO_HOME": str(studio_home)}))["step"] == 150


def test_bad_input_is_one_clear_error_from_the_child(tmp_path, studio_home):
    a, _ = unpaired_folders(tmp_path, junk=False)
    with pytest.raises(StudioError, match="missing"):
        run(supervised_train_job(tiny_config("cyclegan", "bad", a, tmp_path / "missing"), threads=1))


def test_bench_interactive_prints_every_figure_for_both_ways_of_training(studio_home, builtin_dir, capsys):
    import shutil
    from pathlib import Path

    from studio.cli.main import main

    shutil.copytree(Path(__file__).parents[1] / "models" / "faces vae", builtin_dir / "faces vae")
    assert main(["bench", "interactive", "--seconds", "1.5", "--repeats", "1", "--latent-model", "faces vae"]) == 0
    out = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines())
    for mode in ("process", "thread"):
        for figure in ("training_steps_per_s_alone", "canvas_ms_p95", "copy_slowdown", "training_kept_during_canvas"):
            assert float(out[f"{mode}_{figure}"]) >= 0, (mode, figure)
        assert float(out[f"{mode}_training_steps_per_s_alone"]) > 0  # the run really trained
    assert float(out["copy_speedup"]) > 1  # the light generator is faster than the ResNet-9
    assert not (studio_home / "runs").exists()  # its runs lived in a temporary home
