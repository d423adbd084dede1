"""Fast copies (`studio distill`): a translator distilled into a light student on the user's photos."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import torch
from helpers import save_cyclegan, save_pix2pix
from train_helpers import crops, kill_then_resume

from studio.cli.main import main
from studio.core.errors import Cancelled, ModelError, StudioError
from studio.core.images import load_rgb_uint8, write_image
from studio.core.jobs import Checkpoint, Control, Log, Losses, Preview, Progress, run
from studio.core.store import ModelStore
from studio.core.train.job import train_job
from studio.core.train.presets import FINE_TUNE_FACTOR, run_config
from studio.core.translate import Translator

TINY_STUDENT = {"arch": "mobile_resnet_generator",
                "params": {"n_blocks": 2, "ngf": 8, "norm": "instance", "upsample": "bilinear"}}


def photo_folder(root, count=6):
    """Photos of several sizes and shapes, as a user's folder has them."""
    folder = root / "photos"
    for k, img in enumerate(crops("astronaut", count // 2, size=48) + crops("coffee", count - count // 2, size=40)):
        if k % 2:
            img = img[:, : img.shape[1] * 3 // 4]  # some portrait-shaped
        write_image(folder / f"p{k}.png", img)
    return folder


def config(name, photos, **over):
    options = {"teacher": "teacher", "dir_a": str(photos) if photos else None, "crop_size": 32, "load_size": 40, "max_steps": 6,
               "batch_size": 2, "checkpoint_every": 100, "preview_every": 3, "workers": 0, "generator": TINY_STUDENT}
    options.update(over)
    return run_config("distill", name, "fast", options)


@pytest.fixture
def teacher(studio_home):
    return save_cyclegan("teacher")


def test_a_fast_copy_is_the_teachers_kind_and_direction_with_its_fidelity_and_speed(tmp_path, teacher):
    photos = photo_folder(tmp_path)
    summary = run(train_job(config("copy", photos, direction="b2a", lambda_ssim=1.0)))
    assert summary["model"] == "copy" and summary["step"] == 6
    store = ModelStore()
    info = store.get("copy")
    card = info.card
    assert card["kind"] == "cyclegan" and set(card["networks"]) == {"G_B"} and info.directions() == ["b2a"]
    assert card["domains"] == {"A": "photo", "B": "painting"}
    assert card["networks"]["G_B"]["arch"] == "mobile_resnet_generator"
    prov = card["provenance"]
    assert prov["source"] == "distillation" and prov["steps"] == 6
    assert prov["teacher"] == {"name": "teacher", "kind": "cyclegan", "direction": "b2a", "arch": "resnet_generator",
                               "created": store.get("teacher").created}
    assert prov["images"]["held_out"] == 1 and prov["images"]["A"] == 5
    metrics = card["metrics"]
    assert 0 < metrics["ssim_to_teacher"] <= 1 and np.isfinite(metrics["psnr_to_teacher"])
    latency = metrics["latency_ms"]
    assert latency["size"] == 512 and latency["teacher"] > 0 and latency["student"] > 0
    assert metrics["speedup"] == pytest.approx(latency["teacher"] / latency["student"], rel=0.01)
    assert "fast copy of 'teacher' (b2a)" in card["description"]
    # The cache holds the teacher's own translation of each photo at the working size.
    cache = studio_home_path() / "runs" / "copy" / "teacher" / "held_out"
    photo = load_rgb_uint8(cache / "A" / "00000.png")
    assert min(photo.shape[:2]) <= 40 and photo.shape[0] % 4 == 0 and photo.shape[1] % 4 == 0
    expected = Translator(store.load("teacher"), "b2a", device="cpu").translate_array(photo / 255.0)
    cached = load_rgb_uint8(cache / "B" / "00000.png")
    assert np.abs(cached.astype(int) - np.round(expected * 255).astype(int)).max() <= 1
    # The copy translates as any model does, one way only.
    copy = store.load("copy")
    out = Translator(copy, "b2a", device="cpu").translate_array(photo / 255.0)
    assert out.shape == photo.shape
    with pytest.raises(ModelError, match="cannot translate a2b"):
        Translator(copy, "a2b", device="cpu")


def test_a_copy_is_used_at_its_teachers_working_scale(tmp_path, teacher):
    """A card's working scale is about its network (where it paints cleanly); the copy learned that network's
    own-size output, so it inherits the scale and translates large photos the way its teacher does."""
    scale = {"short_side": 32, "radius": 2, "eps": 0.01}
    ModelStore().update_card("teacher", {"working_scale": scale})
    run(train_job(config("scaled copy", photo_folder(tmp_path), max_steps=2)))
    copy = ModelStore().load("scaled copy")
    assert copy.info.card["working_scale"] == scale
    translator = Translator(copy, "a2b", device="cpu")
    assert translator.working is not None and translator.working.short_side == 32
    assert Translator(copy, "a2b", device="cpu", working_size=0).working is None


def studio_home_path():
    from pathlib import Path

    return Path(os.environ["STUDIO_HOME"])


def test_previews_show_photo_teacher_and_copy_and_a_resumed_run_steps_as_an_uninterrupted_one(tmp_path, teacher):
    photos = photo_folder(tmp_path)
    full_events = []
    run(train_job(config("full", photos, max_steps=7)), on_event=full_events.append)
    previews = [e for e in full_events if isinstance(e, Preview)]
    assert previews and previews[0].image.shape[1] == 3 * 32  # photo | teacher | copy
    control = Control()
    first = []
    for event in train_job(config("split", photos, max_steps=7), control=control):
        first.append(event)
        if isinstance(event, Losses) and event.step == 3:
            control.cancel()
    assert any(isinstance(e, Checkpoint) and e.reason == "cancel" for e in first)
    rest = []
    run(train_job(resume="split"), on_event=rest.append)
    assert any("cached" in e.message for e in rest if isinstance(e, Log))  # the teacher is not asked again

    def losses(events):
        return [e.values for e in events if isinstance(e, Losses)]

    assert losses(first) + losses(rest) == losses(full_events)
    a, b = ModelStore().load("full"), ModelStore().load("split")
    for v, w in zip(a.networks["G_A"].state_dict().values(), b.networks["G_A"].state_dict().values(), strict=True):
        assert torch.equal(v, w)


def test_a_start_cancelled_while_the_teacher_works_keeps_what_it_made(tmp_path, teacher):
    photos = photo_folder(tmp_path)
    control = Control()
    events = train_job(config("again", photos), control=control)
    with pytest.raises(Cancelled):
        for event in events:
            if isinstance(event, Progress) and event.message.startswith("teacher 3/"):
                control.cancel()
    cache = studio_home_path() / "runs" / "again" / "teacher"
    made = sorted(cache.rglob("B/*.png"))
    assert len(made) == 3  # the cancel is seen at the job's next event: after the third photo
    stamps = {p: p.stat().st_mtime_ns for p in made}
    summary = run(train_job(config("again", photos)))  # the same name starts again: no run was made
    assert summary["model"] == "again"
    assert all(p.stat().st_mtime_ns == stamps[p] for p in made)  # not translated twice
    assert len(sorted(cache.rglob("B/*.png"))) == 6


def test_fine_tuning_a_copy_and_clear_errors(tmp_path, teacher):
    photos = photo_folder(tmp_path)
    run(train_job(config("first", photos)))
    tuned = config("second", photos, lr=None, from_model="first", generator=None)
    assert tuned.lr == pytest.approx(1e-3 * FINE_TUNE_FACTOR) and tuned.generator == {
        "arch": TINY_STUDENT["arch"], "params": ModelStore().get("first").card["networks"]["G_A"]["params"]}
    events = run(train_job(config("zero", photos, lr=0.0, from_model="first", max_steps=1, generator=None)))
    assert events["model"] == "zero"
    first, zero = ModelStore().load("first"), ModelStore().load("zero")
    for v, w in zip(first.networks["G_A"].state_dict().values(), zero.networks["G_A"].state_dict().values(), strict=True):
        assert torch.equal(v, w)
    save_pix2pix("one-way")
    with pytest.raises(StudioError, match="'one-way' cannot translate b2a"):
        config("bad", photos, teacher="one-way", direction="b2a")
    with pytest.raises(StudioError, match="no model named 'nobody'"):
        config("bad", photos, teacher="nobody")
    with pytest.raises(StudioError, match="--photos"):
        config("bad", None)


def test_cli_distill_then_sigkill_and_resume(tmp_path, teacher, studio_home):
    photos = photo_folder(tmp_path)
    cmd = [sys.executable, "-m", "studio", "distill", "teacher", "--photos", str(photos), "--name", "killed",
           "--size", "32", "--short-side", "40", "--max-steps", "60", "--checkpoint-every", "3", "-q"]
    kill_then_resume(cmd, "killed", studio_home, 60, {**os.environ, "STUDIO_HOME": str(studio_home)})
    card = ModelStore().get("killed").card
    assert card["provenance"]["steps"] == 60 and card["networks"]["G_A"]["params"]["ngf"] == 16  # the fast preset
    with pytest.raises(SystemExit):  # a budget of steps or of minutes, not both
        main(["distill", "teacher", "--photos", str(photos), "--name", "x", "--max-steps", "2", "--minutes", "1"])


def test_a_time_budget_fits_the_steps_after_calibration_then_holds_the_run_to_it(tmp_path):
    from studio.core.train.config import TrainConfig
    from studio.core.train.distributed import World
    from studio.core.train.hooks import TimeBudget
    from studio.core.train.loop import Run

    config = TrainConfig(kind="cyclegan", name="x", minutes=1.0, n_epochs=100, n_epochs_decay=100)
    budget = Run(config, trainer=None, dataset=[0] * 10, folder=tmp_path, device=torch.device("cpu"), world=World())
    budget.total = config.total_steps(budget.steps_per_epoch)
    hook = TimeBudget()
    budget.step, budget.elapsed = 10, 1.0  # 0.1 s a step: 600 steps fit a minute
    [message] = hook.after_step(budget, {})
    assert budget.total == config.max_steps == 600 and "600 steps fit the 1-minute budget" in message.message
    assert (config.n_epochs, config.n_epochs_decay) == (30, 30)  # half constant, half decaying, as --max-steps
    assert config.lr_at(299, 10) == config.lr and config.lr_at(590, 10) < config.lr / 10
    budget.step, budget.elapsed = 400, 59.0
    assert list(hook.after_step(budget, {})) == [] and budget.total == 600
    budget.step, budget.elapsed = 401, 60.2  # the machine slowed down: the budget ends the run
    assert "budget is spent at step 401" in next(iter(hook.after_step(budget, {}))).message
    assert budget.total == 401
    # A short schedule (a small folder's few epochs) grows to the budget, unless --max-steps caps the run.
    for cap, expected, epochs in ((None, 600, (30, 30)), (20, 20, (1, 1))):
        short = TrainConfig(kind="cyclegan", name="y", minutes=1.0, n_epochs=1, n_epochs_decay=1, max_steps=cap)
        grown = Run(short, trainer=None, dataset=[0] * 10, folder=tmp_path, device=torch.device("cpu"), world=World())
        grown.total = short.total_steps(grown.steps_per_epoch)
        grown.step, grown.elapsed = 10, 1.0
        list(TimeBudget().after_step(grown, {}))
        assert grown.total == expected and (short.n_epochs, short.n_epochs_decay) == epochs
    assert short.lr_at(19, 10) > 0  # the capped run keeps its own schedule


def test_a_time_budget_is_fitted_again_at_the_pace_after_the_first_steps(tmp_path):
    from studio.core.train.config import TrainConfig
    from studio.core.train.distributed import World
    from studio.core.train.hooks import TimeBudget
    from studio.core.train.loop import Run

    for cap, expected in ((None, 597), (400, 400)):
        config = TrainConfig(kind="cyclegan", name="x", minutes=2.0, n_epochs=100, n_epochs_decay=100, max_steps=cap)
        run = Run(config, trainer=None, dataset=[0] * 10, folder=tmp_path, device=torch.device("cpu"), world=World())
        run.total = config.total_steps(run.steps_per_epoch)
        hook = TimeBudget()
        run.step, run.elapsed = 10, 2.5  # slow first steps: 0.25 s a step, 480 steps fit two minutes
        list(hook.after_step(run, {}))
        assert run.total == min(480, cap or 480)
        run.step, run.elapsed, run.last_step_s = 59, 11.75, 0.2
        assert list(hook.after_step(run, {})) == []  # a tenth of the budget is not spent yet
        run.step, run.elapsed, run.last_step_s = 60, 12.5, 0.75  # 0.2 s a step since step 10: 537 more fit
        events = list(hook.after_step(run, {}))
        assert run.total == expected == config.total_steps(run.steps_per_epoch)
        if cap is None:  # grown, in halves, with the rate still constant where the run is
            assert "597 steps fit the 2-minute budget" in events[0].message
            assert (config.n_epochs, config.n_epochs_decay) == (30, 30) and config.lr_at(60, 10) == config.lr
        else:  # --max-steps caps it
            assert events == []
        run.step, run.elapsed, run.last_step_s = 61, 12.7, 0.2
        assert list(hook.after_step(run, {})) == [] and run.total == expected  # once only


def test_a_run_past_its_time_budget_ends_and_publishes(tmp_path, teacher):
    photos = photo_folder(tmp_path)
    events = []
    summary = run(train_job(config("timed", photos, max_steps=500, minutes=1e-4)), on_event=events.append)
    assert summary["step"] == 1 and summary["model"] == "timed"
    assert any("budget is spent" in e.message for e in events if isinstance(e, Log))
