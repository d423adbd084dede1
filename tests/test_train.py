"""Training engine: real photos with junk, exact resume, pause/cancel, fine-tuning, the objectives."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import photo
from train_helpers import kill_then_resume, paired_folders, tiny_config, unpaired_folders

from studio.core.jobs import Checkpoint, Control, Finished, Log, Losses, Preview
from studio.core.store import ModelStore
from studio.core.train.data import DataError
from studio.core.train.job import RunError, list_runs, train_job
from studio.core.train.losses import GANLoss, ImagePool, gradient_penalty
from studio.core.train.presets import preset
from studio.core.translate import Translator


def run(events):
    return list(events)


def test_cyclegan_trains_on_real_photos_skips_junk_and_publishes(tmp_path):
    a, b = unpaired_folders(tmp_path)
    events = run(train_job(tiny_config("cyclegan", "horse2zebra", a, b)))
    logs = " ".join(e.message for e in events if isinstance(e, Log))
    assert "notes.png" in logs and "empty.jpg" in logs
    assert "the reference preset on a CPU" in logs  # the person hears that a step costs ten fast ones
    assert isinstance(events[-1], Finished) and events[-1].value["model"] == "horse2zebra"
    steps = [e.step for e in events if isinstance(e, Losses)]
    assert steps == [1, 2, 3, 4, 5, 6]
    previews = [e for e in events if isinstance(e, Preview)]
    assert [p.step for p in previews] == [3, 6]
    assert previews[0].image.shape == (3 * 32, 6 * 32, 3)  # 3 samples; A, G_A(A), rec, B, G_B(B), rec
    info = ModelStore().get("horse2zebra")
    prov = info.card["provenance"]
    assert prov["source"] == "training" and prov["steps"] == 6 and prov["images"] == {"A": 6, "B": 6}
    assert sorted(os.path.basename(p) for p, _ in prov["skipped"]) == ["empty.jpg", "notes.png"]
    assert set(prov["final_losses"]) >= {"G_A", "D_A", "cycle_A", "idt_B"}
    assert info.directions() == ["a2b", "b2a"] and info.card["image_size"] == 32
    out = Translator(ModelStore().load("horse2zebra"), "b2a", device="cpu").translate_array(photo("coffee", (50, 40)))
    assert out.shape == (40, 50, 3) and np.isfinite(out).all()
    (listed,) = list_runs()
    assert listed["state"] == "finished" and listed["model"] == "horse2zebra"


def test_pix2pix_trains_on_folders_matched_by_name_and_on_side_by_side_pairs(tmp_path):
    a, b = paired_folders(tmp_path)
    events = run(train_job(tiny_config("pix2pix", "colorize", a, b, max_steps=3)))
    assert events[-1].value["model"] == "colorize"
    assert ModelStore().get("colorize").card["provenance"]["images"]["pairs"] == 8
    side = tmp_path / "ab"
    side.mkdir()
    from PIL import Image

    for f in sorted(a.iterdir()):
        left, right = Image.open(f), Image.open(b / f.name)
        both = Image.new("RGB", (left.width * 2, left.height))
        both.paste(left, (0, 0))
        both.paste(right, (left.width, 0))
        both.save(side / f.name)
    events = run(train_job(tiny_config("pix2pix", "colorize-ab", pairs=str(side), max_steps=2)))
    assert events[-1].value["model"] == "colorize-ab"


def _losses(events):
    return [e.values for e in events if isinstance(e, Losses)]


@pytest.mark.parametrize("kind, over", [("cyclegan", {}), ("cyclegan", {"cycle_noise": 0.1}), ("pix2pix", {}),
                                        ("pix2pix", {"lambda_gan": 0.0}),
                                        ("cut", {"variant": "fastcut"}),
                                        ("cut", {"variant": "cut", "augment": "color,translation,cutout"})])
def test_resume_after_k_steps_equals_an_uninterrupted_run_step_for_step(tmp_path, kind, over):
    folders = paired_folders(tmp_path) if kind == "pix2pix" else unpaired_folders(tmp_path, junk=False)
    full = run(train_job(tiny_config(kind, "full", *folders, max_steps=7, pool_size=2, **over)))
    control = Control()
    first = []
    for event in train_job(tiny_config(kind, "split", *folders, max_steps=7, pool_size=2, **over), control=control):
        first.append(event)
        if isinstance(event, Losses) and event.step == 3:
            control.cancel()
    assert first[-1].value["cancelled"] and any(isinstance(e, Checkpoint) and e.reason == "cancel" for e in first)
    rest = run(train_job(resume="split"))
    assert _losses(first) + _losses(rest) == _losses(full)  # exact: same seed, CPU
    store = ModelStore()
    if "cycle_noise" in over:  # the noise is drawn, and the card says so
        plain = run(train_job(tiny_config(kind, "plain", *folders, max_steps=7, pool_size=2)))
        assert [s["cycle_A"] for s in _losses(plain)] != [s["cycle_A"] for s in _losses(full)]
        assert store.get("full").card["provenance"]["config"]["cycle_noise"] == 0.1
    if "lambda_gan" in over:  # L1 alone: no discriminator term, and the card says so
        assert all(set(losses) == {"G_L1"} for losses in _losses(full))
        assert store.get("full").card["provenance"]["config"]["lambda_gan"] == 0.0
    a, b = store.load("full"), store.load("split")
    for role, net in a.networks.items():
        for (key, v), w in zip(net.state_dict().items(), b.networks[role].state_dict().values(), strict=True):
            assert torch.equal(v, w), f"{role}.{key}"


def test_lr_follows_the_reference_linear_policy():
    config = preset("cyclegan", "x", dir_a="a", dir_b="b")
    assert (config.n_epochs, config.n_epochs_decay, config.lr) == (100, 100, 2e-4)
    spe = 10
    assert config.lr_at(0, spe) == config.lr_at(99 * spe + 9, spe) == 2e-4
    assert config.lr_at(100 * spe, spe) == pytest.approx(2e-4 * (1 - 1 / 101))
    assert config.lr_at(199 * spe, spe) == pytest.approx(2e-4 / 101)
    assert config.total_steps(spe) == 2000


def test_reference_preset_matches_the_reference_defaults():
    c = preset("cyclegan", "x", dir_a="a", dir_b="b")
    assert c.generator == {"arch": "resnet_generator", "params": {"n_blocks": 9, "ngf": 64, "norm": "instance"}}
    assert c.discriminator["params"] == {"n_layers": 3, "ndf": 64, "norm": "instance"}
    assert (c.gan_mode, c.pool_size, c.lambda_a, c.lambda_identity, c.beta1, c.load_size, c.crop_size, c.batch_size) == (
        "lsgan", 50, 10.0, 0.5, 0.5, 286, 256, 1)
    p = preset("pix2pix", "y", dir_a="a", dir_b="b")
    assert p.generator["params"]["num_downs"] == 8 and p.generator["params"]["norm"] == "batch"
    assert (p.gan_mode, p.pool_size, p.lambda_l1) == ("vanilla", 0, 100.0)
    fast = preset("cyclegan", "z", "fast", dir_a="a", dir_b="b")
    assert fast.generator["arch"] == "mobile_resnet_generator" and fast.crop_size == 128


def test_pause_writes_a_checkpoint_and_training_continues(tmp_path):
    a, b = unpaired_folders(tmp_path, junk=False)
    control = Control()
    seen = []
    import threading

    for event in train_job(tiny_config("cyclegan", "paused", a, b, max_steps=4), control=control):
        seen.append(event)
        if isinstance(event, Losses) and event.step == 2:
            control.pause()
            threading.Timer(0.3, control.resume).start()
    reasons = [e.reason for e in seen if isinstance(e, Checkpoint)]
    assert reasons[0] == "pause" and seen[-1].value["step"] == 4 and not seen[-1].value["cancelled"]


def test_bad_folders_fail_before_training_and_leave_no_run(tmp_path, studio_home):
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.jpg").write_bytes(b"nope")
    good, _ = unpaired_folders(tmp_path / "ok", junk=False)
    with pytest.raises(DataError, match="junk"):
        run(train_job(tiny_config("cyclegan", "bad", good, junk)))
    assert not (studio_home / "runs" / "bad").exists()
    with pytest.raises(DataError):
        run(train_job(tiny_config("cyclegan", "bad", good, tmp_path / "missing")))


def test_existing_names_are_refused(tmp_path):
    a, b = unpaired_folders(tmp_path, junk=False)
    run(train_job(tiny_config("cyclegan", "once", a, b, max_steps=1)))
    with pytest.raises(RunError, match="already exists"):
        run(train_job(tiny_config("cyclegan", "once", a, b, max_steps=1)))
    with pytest.raises(RunError, match="no resumable run"):
        run(train_job(resume="never"))


def test_fine_tuning_starts_from_the_store_model(tmp_path):
    a, b = unpaired_folders(tmp_path, junk=False)
    run(train_job(tiny_config("cyclegan", "base", a, b, max_steps=2)))
    events = run(train_job(tiny_config("cyclegan", "tuned", a, b, max_steps=1, lr=0.0, from_model="base",
                                       keep_discriminators=True)))
    assert any("fine-tuning from 'base'" in e.message for e in events if isinstance(e, Log))
    base, tuned = ModelStore().load("base"), ModelStore().load("tuned")
    for role in ("G_A", "G_B"):  # lr 0: the weights stay those it started from
        for v, w in zip(base.networks[role].state_dict().values(), tuned.networks[role].state_dict().values(), strict=True):
            assert torch.equal(v, w)
    assert tuned.card["provenance"]["from_model"] == "base"


def test_gan_losses_and_gradient_penalty_in_closed_form():
    pred = torch.tensor([[0.2, 0.7]])
    assert GANLoss("lsgan")(pred, True).item() == pytest.approx(((0.8**2) + (0.3**2)) / 2)
    assert GANLoss("lsgan")(pred, False).item() == pytest.approx((0.04 + 0.49) / 2)
    logit = torch.tensor([0.0])
    assert GANLoss("vanilla")(logit, True).item() == pytest.approx(np.log(2))
    assert GANLoss("wgangp")(pred, True).item() == pytest.approx(-0.45)
    # A linear critic D(x) = <w, x> has gradient w everywhere: penalty = λ(‖w‖ - 1)².
    w = torch.full((1, 3, 2, 2), 0.5, requires_grad=True)

    def critic(x):
        return (x * w).sum(dim=(1, 2, 3))

    real, fake = torch.randn(4, 3, 2, 2), torch.randn(4, 3, 2, 2)
    gp = gradient_penalty(critic, real, fake, weight=10.0)
    norm = float(w.detach().norm())
    assert gp.item() == pytest.approx(10 * (norm - 1) ** 2, rel=1e-5)
    gp.backward()  # the penalty trains the critic
    assert w.grad is not None and w.grad.abs().sum() > 0


def test_image_pool_history_and_exact_state_round_trip():
    pool = ImagePool(3, seed=1)
    first = torch.arange(3.0).view(3, 1, 1, 1).expand(3, 3, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling up: returned as is
    clone = ImagePool(3)
    clone.load_state_dict(pool.state_dict())
    stream = [torch.full((2, 3, 1, 1), float(i)) for i in range(10, 20)]
    outs_a = [pool.query(x) for x in stream]
    outs_b = [clone.query(x) for x in stream]
    assert all(torch.equal(x, y) for x, y in zip(outs_a, outs_b, strict=True))
    assert any(not torch.equal(o, x) for o, x in zip(outs_a, stream, strict=True)), "old fakes come back"


def _studio(*args):
    return [sys.executable, "-m", "studio", *args]


def test_sigkill_during_training_then_resume_reaches_the_planned_steps(tmp_path, studio_home):
    a, b = unpaired_folders(tmp_path, junk=False)
    cmd = _studio("train", "cyclegan", "--a", str(a), "--b", str(b), "--name", "killed", "--preset", "fast",
                  "--size", "32", "--max-steps", "40", "--checkpoint-every", "3", "-q")
    kill_then_resume(cmd, "killed", studio_home, 40, {**os.environ, "STUDIO_HOME": str(studio_home)})
    assert ModelStore().get("killed").card["provenance"]["steps"] == 40


def test_torchrun_trains_with_two_processes_on_gloo(tmp_path, studio_home):
    a, b = unpaired_folders(tmp_path, junk=False)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
           "-m", "studio", "train", "cyclegan", "--a", str(a), "--b", str(b), "--name", "ddp", "--preset", "fast",
           "--size", "32", "--max-steps", "4", "--device", "cpu", "-q"]
    env = {**os.environ, "STUDIO_HOME": str(studio_home), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    info = ModelStore().get("ddp")
    assert info.card["provenance"]["steps"] == 4
    log = (studio_home / "runs" / "ddp" / "log.txt").read_text()
    assert "3 steps per epoch" in log  # 6 images over 2 ranks × batch 1


# -- one run config for both front ends ------------------------------------------------------------

REPO_MODELS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models")


def _cli_fine_tune(a, b, name: str, base: str, *extra: str) -> dict:
    from studio.cli import main

    assert main(["train", "cyclegan", "--a", str(a), "--b", str(b), "--name", name, "--from", base,
                 "--preset", "fast", "--size", "32", "--max-steps", "1", "--workers", "0", "--device", "cpu",
                 "-q", *extra]) == 0
    tuned, source = ModelStore().get(name).card, ModelStore().get(base).card
    assert tuned["provenance"]["from_model"] == base and tuned["provenance"]["steps"] == 1
    assert tuned["provenance"]["config"]["lr"] == 5e-5  # the fine-tuning rate: no --lr given
    for role in ("G_A", "G_B"):  # a one-direction import starts G_A; G_B trains the same architecture
        assert tuned["networks"][role] == source["networks"].get(role, source["networks"]["G_A"])
    return tuned


def test_cli_fine_tunes_a_fast_preset_built_in_model(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_BUILTIN_MODELS", REPO_MODELS)
    a, b = unpaired_folders(tmp_path, junk=False)
    tuned = _cli_fine_tune(a, b, "poster-tuned", "photo to poster")
    assert tuned["networks"]["G_A"]["arch"] == "mobile_resnet_generator"


def test_cli_fine_tunes_a_model_imported_from_a_reference_resnet9_checkpoint(tmp_path):
    from reference_arch import reference_resnet

    from studio.core import nets

    folder = tmp_path / "horse2zebra"
    folder.mkdir()
    torch.manual_seed(0)
    ref = reference_resnet(ngf=8, blocks=9)
    nets.init_weights(ref, "kaiming", gain=1.0)
    torch.save(ref.state_dict(), folder / "latest_net_G_A.pth")
    info = ModelStore().import_file(folder / "latest_net_G_A.pth", name="imported")
    assert info.card["networks"]["G_A"]["params"]["n_blocks"] == 9
    a, b = unpaired_folders(tmp_path, junk=False)
    # The reference preset would train a 64-channel ResNet; the run trains the imported one's instead.
    tuned = _cli_fine_tune(a, b, "imported-tuned", "imported", "--preset", "reference")
    assert tuned["networks"]["G_A"]["arch"] == "resnet_generator"
    assert tuned["networks"]["G_A"]["params"]["ngf"] == 8


def test_run_config_rules_and_conflicts(tmp_path):
    from studio.core.errors import StudioError
    from studio.core.train.presets import FINE_TUNE_LR, run_config

    a, b = unpaired_folders(tmp_path, junk=False)
    run(train_job(tiny_config("cyclegan", "base", a, b, max_steps=1)))
    run(train_job(tiny_config("pix2pix", "paired", *paired_folders(tmp_path), max_steps=1)))
    folders = {"dir_a": str(a), "dir_b": str(b)}
    c = run_config("cyclegan", "x", "fast", {**folders, "crop_size": 32, "epochs": 5, "load_size": None})
    assert (c.n_epochs, c.n_epochs_decay, c.load_size, c.lr, c.from_model) == (3, 2, 36, 2e-4, None)
    tuned = run_config("cyclegan", "y", "reference", folders, base_model="base")
    assert tuned.generator == {"arch": "resnet_generator", "params": ModelStore().get("base").card["networks"]["G_A"]["params"]}
    assert (tuned.lr, tuned.from_model) == (FINE_TUNE_LR, "base")
    assert run_config("cyclegan", "y", "reference", {**folders, "lr": 1e-3}, base_model="base").lr == 1e-3
    with pytest.raises(StudioError, match="a pix2pix model cannot start a cyclegan run"):
        run_config("cyclegan", "z", "reference", folders, base_model="paired")
    with pytest.raises(StudioError, match="but the options ask for"):
        run_config("cyclegan", "z", "reference", {**folders, "generator": {"arch": "resnet_generator",
                                                                             "params": {"n_blocks": 9}}}, base_model="base")
    with pytest.raises(StudioError, match="not both"):
        run_config("cyclegan", "z", "reference", {**folders, "epochs": 4, "n_epochs": 2})
    with pytest.raises(StudioError, match="needs a model to start from"):
        run_config("cyclegan", "z", "reference", {**folders, "keep_discriminators": True})
    with pytest.raises(StudioError, match="no model named"):
        run_config("cyclegan", "z", "reference", folders, base_model="missing")
    with pytest.raises(StudioError, match="--lambda-gan must be ≥ 0"):
        run_config("pix2pix", "z", "reference", {**folders, "lambda_gan": -1.0})


def test_a_config_saved_by_an_older_studio_still_loads():
    from studio.core.train.config import TrainConfig

    config = preset("cyclegan", "old", dir_a="a", dir_b="b")
    saved = {**config.to_dict(), "a_field_since_removed": 3}
    assert TrainConfig.from_dict(saved) == config


def test_every_kind_has_a_trainer_and_a_preset():
    from studio.core.train.kinds import TRAINERS
    from studio.core.train.presets import KIND_PRESETS

    assert set(TRAINERS) == set(KIND_PRESETS) == {"cyclegan", "cut", "pix2pix", "distill", "vae", "ae", "flow",
                                                      "dcgan", "pixelcnn", "spade"}
    assert all(trainer.kind == kind for kind, trainer in TRAINERS.items())


def test_preview_grid_is_the_image_the_old_hand_made_grid_was():
    from studio.core.train.trainer import preview_grid

    def hand_made(columns):  # the grid previews were built with before torchvision's make_grid
        rows = [torch.cat([col[i] for col in columns], dim=2) for i in range(columns[0].shape[0])]
        grid = torch.cat(rows, dim=1).clamp(-1, 1)
        return ((grid.permute(1, 2, 0).numpy() + 1) * 127.5).round().astype(np.uint8)

    g = torch.Generator().manual_seed(0)
    for rows, cols, h, w in ((3, 6, 32, 32), (1, 3, 5, 7), (2, 2, 17, 9)):
        columns = [torch.randn(rows, 3, h, w, generator=g) * 1.3 for _ in range(cols)]
        assert np.array_equal(preview_grid(columns), hand_made(columns))
    ramp = [torch.linspace(-1.2, 1.2, 3 * 4 * 999).view(4, 3, 1, 999)]  # every rounding boundary
    assert np.array_equal(preview_grid(ramp), hand_made(ramp))


def test_cli_augment_flags_reach_the_config(tmp_path):
    from studio.cli.main import build_parser
    from studio.cli.train import train_options
    from studio.core.errors import StudioError
    from studio.core.train.presets import run_config

    a, b = unpaired_folders(tmp_path, junk=False)

    def options(*flags):
        return train_options(build_parser().parse_args(["train", "cyclegan", "--a", str(a), "--b", str(b), *flags]))

    assert options()["augment"] is None  # not given: the engine's default
    assert options("--no-augment")["augment"] == ""
    assert run_config("cyclegan", "x", "fast", options("--augment", "colour, cutout")).augment == "color,cutout"
    assert run_config("cyclegan", "x", "fast", options("--no-augment")).augment == ""
    assert options()["lambda_gan"] is None and run_config("pix2pix", "x", "fast", options("--lambda-gan", "0")).lambda_gan == 0
    with pytest.raises(StudioError, match="unknown augmentation 'zoom'"):
        run_config("cyclegan", "x", "fast", options("--augment", "zoom"))
    with pytest.raises(SystemExit):
        options("--augment", "color", "--no-augment")
