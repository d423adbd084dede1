"""DiffAugment: each policy as the paper gives it, one draw for real and fake, gradients, determinism,
exact resume with augmentation on, and a run without it untouched."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from gui_helpers import window_fixture  # noqa: F401  (the window fixture)
from train_helpers import kill_then_resume, paired_folders, tiny_config, unpaired_folders

from studio.core.errors import StudioError
from studio.core.jobs import Control, Losses
from studio.core.store import ModelStore
from studio.core.train import augment
from studio.core.train.augment import (
    FULL_POLICY,
    DiffAugment,
    default_for_folders,
    default_policy,
    normalise_policy,
    parse_policy,
)
from studio.core.train.config import TrainConfig
from studio.core.train.job import train_job


def batch(n: int = 8, c: int = 3, size: int = 32, seed: int = 0) -> torch.Tensor:
    """Images in [-1, 1] with no zero pixel, so what augmentation zeroes is visible."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, c, size, size, generator=g) * 1.8 - 0.9
    return torch.where(x.abs() < 0.05, torch.full_like(x, 0.5), x)


def shifted(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """``x`` (C, H, W) moved by (dy, dx) with zeros coming in: the reference for translation."""
    c, h, w = x.shape
    out = torch.zeros_like(x)
    out[:, max(0, dy):h + min(0, dy), max(0, dx):w + min(0, dx)] = x[:, max(0, -dy):h - max(0, dy),
                                                                       max(0, -dx):w - max(0, dx)]
    return out


def test_policies_parse_validate_and_old_configs_load():
    assert parse_policy("") == parse_policy(None) == parse_policy("none") == ()
    assert parse_policy(" Colour, translation ,cutout") == ("color", "translation", "cutout")
    assert normalise_policy("cutout,color") == "cutout,color"
    with pytest.raises(StudioError, match="unknown augmentation 'blur' \\(known: color, translation, cutout\\)"):
        parse_policy("color,blur")
    with pytest.raises(StudioError, match="given twice"):
        parse_policy("color,color")
    config = tiny_config("cyclegan", "x", "a", "b")
    assert config.augment == ""
    with pytest.raises(StudioError, match="unknown augmentation"):
        TrainConfig.from_dict({**config.to_dict(), "augment": "rotate"}).validate()
    old = {k: v for k, v in config.to_dict().items() if k != "augment"}  # saved before the field existed
    assert TrainConfig.from_dict(old).augment == "" and TrainConfig.from_dict(old) == config
    assert TrainConfig.from_dict({**old, "augment": "colour"}).validate().augment == "color"
    assert default_policy({"A": 120, "B": 3000}) == FULL_POLICY and default_policy([5000, 1000]) == ""
    assert default_policy([]) == ""


def test_the_default_rule_counts_the_folders_files(tmp_path):
    a, b = unpaired_folders(tmp_path, junk=False)
    assert default_for_folders(str(a), str(b)) == FULL_POLICY and default_for_folders(str(a), None) == FULL_POLICY
    assert default_for_folders(str(tmp_path / "missing")) == "" and default_for_folders() == ""


def test_color_changes_brightness_saturation_contrast_and_stays_in_range():
    x = batch()
    aug = DiffAugment("color", seed=1)
    draw = aug.draw(8, 32, 32)
    y = augment.apply(x, draw)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert y.min() >= -1 and y.max() <= 1 and not torch.equal(x, y)
    assert draw.brightness is not None and draw.saturation is not None and draw.contrast is not None
    assert (draw.brightness.abs() <= 0.5).all() and ((draw.saturation >= 0) & (draw.saturation <= 2)).all()
    assert ((draw.contrast >= 0.5) & (draw.contrast <= 1.5)).all()
    # The operations in closed form, before the clamp, for one sample.
    i, v = 3, x[3] + draw.brightness[3]
    v = (v - v.mean(0, keepdim=True)) * draw.saturation[i] + v.mean(0, keepdim=True)
    v = (v - v.mean()) * draw.contrast[i] + v.mean()
    torch.testing.assert_close(y[i], v.clamp(-1, 1))
    # A conditional discriminator's input: each 3-channel image coloured alone, with the sample's parameters.
    a, b = batch(seed=2), batch(seed=3)
    both = augment.apply(torch.cat([a, b], 1), draw)
    torch.testing.assert_close(both, torch.cat([augment.apply(a, draw), augment.apply(b, draw)], 1))


def test_translation_shifts_content_by_at_most_an_eighth_with_zero_padding():
    x = batch(n=16)
    aug = DiffAugment("translation", seed=2)
    (y,) = aug(x)
    assert y.shape == x.shape
    moved = 0
    for i in range(16):
        matches = [(dy, dx) for dy in range(-4, 5) for dx in range(-4, 5) if torch.equal(y[i], shifted(x[i], dy, dx))]
        assert len(matches) == 1, f"sample {i} is not x shifted by at most 32/8 = 4 pixels"
        moved += matches[0] != (0, 0)
    assert moved >= 12
    assert not torch.equal(augment.translate(x, torch.tensor([[5, 0]] * 16)), x)  # the op itself has no limit


def test_cutout_zeroes_one_square_of_half_the_size():
    x = batch(n=32)
    (y,) = DiffAugment("cutout", seed=3)(x)
    assert y.shape == x.shape
    whole = 0
    for i in range(32):
        zero = (y[i] == 0).all(0)
        assert torch.equal(y[i][:, ~zero], x[i][:, ~zero]), "outside the square nothing changes"
        rows, cols = zero.any(1).nonzero().flatten(), zero.any(0).nonzero().flatten()
        height, width = len(rows), len(cols)
        assert zero.sum() == height * width and rows.max() - rows.min() + 1 == height, "one rectangle"
        assert 0 < height <= 16 and 0 < width <= 16
        # a square of 16 (half of 32), clipped only where it crosses the border
        assert height == 16 or rows.min() == 0 or rows.max() == 31
        assert width == 16 or cols.min() == 0 or cols.max() == 31
        whole += height == width == 16
    assert whole >= 8


def test_one_draw_for_real_and_fake_and_gradients_reach_the_fakes():
    real, fake = batch(seed=4), batch(seed=5).requires_grad_()
    aug = DiffAugment(FULL_POLICY, seed=4)
    real_aug, fake_aug = aug(real, fake)
    assert torch.equal(real_aug == 0, fake_aug == 0), "the same shift and the same square"
    same = aug(real, real.clone())
    assert torch.equal(same[0], same[1])
    fake_aug.sum().backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    # Geometry alone: a pixel cut out or shifted away gets no gradient, every other one gets exactly 1.
    moved = batch(seed=7).requires_grad_()
    (geometric,) = DiffAugment("translation,cutout", seed=5)(moved)
    geometric.sum().backward()
    assert moved.grad is not None and set(moved.grad.unique().tolist()) == {0.0, 1.0}
    assert (moved.grad == 0).sum() == (geometric == 0).sum()
    # The generator's loss through an augmented conditional input reaches G's output (6 channels).
    out = batch(seed=6).requires_grad_()
    (judged,) = aug(torch.cat([real, out], 1))
    judged.square().mean().backward()
    assert out.grad is not None and out.grad.abs().sum() > 0


def test_draws_come_from_the_seed_and_continue_exactly_after_a_state_round_trip():
    x = batch()
    first, again, other = DiffAugment(FULL_POLICY, 7), DiffAugment(FULL_POLICY, 7), DiffAugment(FULL_POLICY, 8)
    assert torch.equal(first(x)[0], again(x)[0]) and not torch.equal(first(x)[0], other(x)[0])
    state = first.state_dict()
    expected = [first(x)[0] for _ in range(3)]
    restored = DiffAugment(FULL_POLICY, 0)
    restored.load_state_dict(state)
    assert all(torch.equal(e, restored(x)[0]) for e in expected)


def _losses(events):
    return [e.values for e in events if isinstance(e, Losses)]


def test_without_augmentation_the_module_is_never_called_and_losses_are_unchanged(tmp_path, monkeypatch):
    a, b = unpaired_folders(tmp_path, junk=False)
    config = tiny_config("cyclegan", "explicit", a, b, max_steps=3, pool_size=2, augment="")
    explicit = _losses(train_job(config))

    def refuse(*_args, **_kwargs):
        raise AssertionError("augmentation used in a run without it")

    for name in ("__init__", "__call__", "draw"):
        monkeypatch.setattr(DiffAugment, name, refuse)
    monkeypatch.setattr(augment, "apply", refuse)
    saved = {k: v for k, v in tiny_config("cyclegan", "old", a, b, max_steps=3, pool_size=2).to_dict().items()
             if k != "augment"}  # a config from before the field
    assert _losses(train_job(TrainConfig.from_dict(saved))) == explicit
    pix = [tiny_config("pix2pix", f"p{k}", *paired_folders(tmp_path), max_steps=2) for k in range(2)]
    pix[1].augment = ""
    assert _losses(train_job(pix[0])) == _losses(train_job(pix[1]))


@pytest.mark.parametrize("kind", ["cyclegan", "pix2pix"])
def test_augmented_training_resumes_step_for_step_and_the_card_records_it(tmp_path, kind):
    folders = unpaired_folders(tmp_path, junk=False) if kind == "cyclegan" else paired_folders(tmp_path)
    over = dict(max_steps=6, pool_size=2, augment=FULL_POLICY)
    plain = _losses(train_job(tiny_config(kind, "plain", *folders, **{**over, "augment": ""})))
    full = _losses(train_job(tiny_config(kind, "full", *folders, **over)))
    assert full != plain, "the discriminators saw augmented images"
    control = Control()
    first = []
    for event in train_job(tiny_config(kind, "split", *folders, **over), control=control):
        first.append(event)
        if isinstance(event, Losses) and event.step == 3:
            control.cancel()
    rest = list(train_job(resume="split"))
    assert _losses(first) + _losses(rest) == full  # the augmenter's stream was in the checkpoint
    card = ModelStore().get("split").card
    assert card["provenance"]["config"]["augment"] == FULL_POLICY and "DiffAugment" in card["description"]
    assert ModelStore().get("plain").card["provenance"]["config"]["augment"] == ""


def test_sigkill_then_resume_with_augmentation_trains_as_an_uninterrupted_run(tmp_path, studio_home):
    a, b = unpaired_folders(tmp_path, junk=False)
    env = {**os.environ, "STUDIO_HOME": str(studio_home), "OMP_NUM_THREADS": "1"}

    def cmd(name: str) -> list[str]:
        return [sys.executable, "-m", "studio", "train", "cyclegan", "--a", str(a), "--b", str(b), "--name", name,
                "--preset", "fast", "--size", "32", "--max-steps", "40", "--checkpoint-every", "3",
                "--augment", FULL_POLICY, "-q"]

    kill_then_resume(cmd("killed"), "killed", studio_home, 40, env)
    subprocess.run(cmd("whole"), env=env, check=True, capture_output=True, timeout=600)

    def losses(name: str) -> list[dict]:
        lines = (studio_home / "runs" / name / "losses.jsonl").read_text().splitlines()
        return [json.loads(line)["losses"] for line in lines]

    assert losses("killed") == losses("whole")
    assert ModelStore().get("killed").card["provenance"]["config"]["augment"] == FULL_POLICY


def test_the_train_form_offers_augmentation_for_gans_only(window):
    form = window.show_panel("train").form
    assert [form.augment.itemText(i) for i in range(form.augment.count())] == [
        "Automatic", "None", "Colour + translation + cutout"]
    form.set_kind("cyclegan")
    assert form.augment.isEnabled() and "augment" not in form.options()  # automatic: the engine's rule
    form.augment.setCurrentIndex(form.augment.findData(FULL_POLICY))
    assert form.options()["augment"] == FULL_POLICY
    form.augment.setCurrentIndex(1)
    assert form.options()["augment"] == ""
    form.set_kind("vae")
    assert not form.augment.isEnabled() and "augment" not in form.options()


def test_the_default_rule_and_where_augmentation_does_not_apply(tmp_path):
    from studio.core.errors import StudioError
    from studio.core.train import kinds
    from studio.core.train.presets import preset, run_config

    small = tmp_path / "small"
    small.mkdir()
    (small / "a.png").write_bytes(b"")  # names are counted, nothing is decoded
    fast = run_config("cyclegan", "x", "fast", {"dir_a": str(small), "dir_b": str(small)})
    reference = run_config("cyclegan", "y", "reference", {"dir_a": str(small), "dir_b": str(small)})
    chosen = run_config("cyclegan", "z", "fast", {"dir_a": str(small), "dir_b": str(small), "augment": ""})
    assert fast.augment == "color,translation,cutout" and reference.augment == "" and chosen.augment == ""
    with pytest.raises(StudioError, match="no discriminator"):
        kinds.validate(preset("vae", "v", "reference", dir_a=str(small), augment="color"))
