"""--ema: the GAN generators' weights averaged over the steps, for previews, the published model and checkpoints."""

from __future__ import annotations

import pytest
import torch
from train_helpers import tiny_config, unpaired_folders

from studio.core.errors import StudioError
from studio.core.jobs import Control, Losses
from studio.core.store import ModelStore
from studio.core.train import kinds
from studio.core.train.config import TrainConfig
from studio.core.train.job import train_job
from studio.core.train.presets import preset
from studio.core.train.trainer import EMA_WARMUP

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _fill(net: torch.nn.Module, value: float) -> None:
    with torch.no_grad():
        for p in net.parameters():
            if p.requires_grad:
                p.fill_(value)


def _first_weight(net: torch.nn.Module) -> float:
    return float(next(net.parameters()).flatten()[0])


def test_the_average_starts_at_the_weights_and_follows_them_with_a_warm_up(tmp_path):
    a, b = unpaired_folders(tmp_path, junk=False)
    config = tiny_config("cut", "avg", a, b, ema=0.5)
    trainer = kinds.trainer_class("cut")(config, torch.device("cpu"))
    live = trainer.nets["G"]
    assert trainer.generator("G") is live, "no average before the first step"
    _fill(live, 1.0)
    trainer.update_averages(1)
    average = trainer.generator("G")
    assert average is not live and trainer.generators()["G"] is average
    assert _first_weight(average) == 1.0  # started from the weights
    _fill(live, 3.0)
    trainer.update_averages(2)  # the second step: decay (1 + 2) / (10 + 2), below 0.5
    decay = min(0.5, 3 / (EMA_WARMUP + 2))
    assert _first_weight(average) == pytest.approx(decay * 1.0 + (1 - decay) * 3.0)
    assert _first_weight(live) == 3.0 and not any(p.requires_grad for p in average.parameters())
    for step in range(3, 33):
        trainer.update_averages(step)
    before = _first_weight(average)
    _fill(live, 5.0)
    trainer.update_averages(33)  # past the warm-up: the configured decay
    assert _first_weight(average) == pytest.approx(0.5 * before + 0.5 * 5.0)

    again = kinds.trainer_class("cut")(config, torch.device("cpu"))
    again.load_state_dict(trainer.state_dict())
    for mine, theirs in zip(again.generator("G").parameters(), average.parameters(), strict=True):
        assert torch.equal(mine, theirs)
    _fill(again.nets["G"], 7.0)
    _fill(live, 7.0)
    again.update_averages(34)  # the restored average goes on from the same point, at the same decay
    trainer.update_averages(34)
    for mine, theirs in zip(again.generator("G").parameters(), average.parameters(), strict=True):
        assert torch.equal(mine, theirs)


def test_without_ema_there_is_no_average_and_the_checkpoint_has_none(tmp_path):
    a, b = unpaired_folders(tmp_path, junk=False)
    trainer = kinds.trainer_class("cyclegan")(tiny_config("cyclegan", "plain", a, b), torch.device("cpu"))
    trainer.update_averages(1)
    assert trainer.generator("G_A") is trainer.nets["G_A"] and "averages" not in trainer.state_dict()


def _published(name: str) -> dict[str, torch.Tensor]:
    return ModelStore().load(name).networks["G"].state_dict()


def test_a_run_with_ema_publishes_the_average_and_a_resumed_run_publishes_the_same(tmp_path):
    a, b = unpaired_folders(tmp_path, junk=False)

    def losses(events) -> list[dict[str, float]]:
        return [e.values for e in events if isinstance(e, Losses)]

    plain = losses(train_job(tiny_config("cut", "plain", a, b)))
    whole = losses(train_job(tiny_config("cut", "whole", a, b, ema=0.9)))
    assert whole == plain, "averaging does not change training"
    assert any(not torch.equal(p, q) for p, q in zip(_published("whole").values(), _published("plain").values(),
                                                      strict=True)), "the published generator is the average"
    control, first = Control(), []
    for event in train_job(tiny_config("cut", "split", a, b, ema=0.9), control=control):
        first.append(event)
        if isinstance(event, Losses) and event.step == 3:
            control.cancel()
    list(train_job(resume="split"))
    for p, q in zip(_published("split").values(), _published("whole").values(), strict=True):
        assert torch.equal(p, q), "the average was in the checkpoint"
    assert ModelStore().get("whole").card["provenance"]["config"]["ema"] == 0.9


def test_ema_is_a_decay_below_one_and_only_for_gan_translators(tmp_path):
    with pytest.raises(StudioError, match="--ema"):
        TrainConfig(kind="cut", name="x", ema=1.0).validate()
    with pytest.raises(StudioError, match="--ema"):
        preset("vae", "v", "fast", dir_a=str(tmp_path), ema=0.9)


def test_the_cli_passes_ema_and_leaves_it_off_by_default():
    from studio.cli.main import build_parser
    from studio.cli.train import train_options
    from studio.core.train.presets import run_config

    args = build_parser().parse_args(["train", "cyclegan", "--a", "a", "--b", "b", "--ema", "0.999"])
    assert run_config("cyclegan", "x", "fast", train_options(args)).ema == 0.999
    plain = build_parser().parse_args(["train", "cut", "--a", "a", "--b", "b"])
    assert run_config("cut", "x", "fast", train_options(plain)).ema == 0.0
