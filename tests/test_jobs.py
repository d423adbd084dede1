"""The event vocabulary: both front ends handle every kind of event, and fail on anything else."""

from __future__ import annotations

import numpy as np
import pytest

from studio.cli.progress import render
from studio.core import jobs
from studio.core.errors import Cancelled
from studio.core.jobs import (
    EVENT_TYPES,
    Checkpoint,
    Control,
    Finished,
    Item,
    Log,
    Losses,
    Preview,
    Progress,
    UnknownEvent,
)


def one_of_each() -> list:
    events = [
        Progress(1, 4, "working", part=0.5, stats={"it_per_s": 2.0}),
        Item("a.png", output="out/a.png"),
        Item("b.png", error="not an image file"),
        Losses(3, {"G": 0.5}, epoch=1, lr=1e-4),
        Preview(3, np.zeros((4, 6, 3), np.uint8), "samples/3.png"),
        Checkpoint(3, "run/checkpoint.pt", "interval"),
        Log("warning", "careful"),
        Finished({"answer": 42}),
    ]
    assert {type(e) for e in events} == set(EVENT_TYPES), "a new event kind needs a case here"
    return events


def test_progress_fraction_counts_the_part_of_the_next_unit():
    assert Progress(1, 4, part=0.5).fraction == pytest.approx(0.375)
    assert Progress(0, 0).fraction == 1.0
    assert Progress(9, 4).fraction == 1.0


def test_run_returns_the_finished_value_and_passes_the_rest_on():
    seen = []
    assert jobs.run(one_of_each(), on_event=seen.append) == {"answer": 42}
    assert [type(e) for e in seen] == [type(e) for e in one_of_each()[:-1]]


def test_run_checks_the_control_and_closes_the_job():
    closed = []

    def job():
        try:
            for i in range(10):
                yield Progress(i, 10)
            yield Finished("done")
        finally:
            closed.append(True)

    control = Control()
    with pytest.raises(Cancelled):
        jobs.run(job(), on_event=lambda p: p.done == 2 and control.cancel(), control=control)
    assert closed == [True]


def test_nested_maps_progress_and_returns_the_inner_value():
    def inner():
        yield Progress(1, 2)
        yield Log("info", "half")
        yield Progress(2, 2)
        yield Finished("inner result")

    def outer():
        value = yield from jobs.nested(inner(), Control(), lambda p: Progress(0, 1, part=p.fraction))
        yield Finished(value.upper())

    events = list(outer())
    assert [e.part for e in events if isinstance(e, Progress)] == [0.5, 1.0]
    assert any(isinstance(e, Log) for e in events)
    assert events[-1] == Finished("INNER RESULT")


def test_nested_without_a_control_or_a_mapping_passes_progress_through():
    def inner():
        yield Progress(1, 2, "half")
        yield Finished(7)

    def outer():
        value = yield from jobs.nested(inner())
        yield Finished(value)

    assert list(outer()) == [Progress(1, 2, "half"), Finished(7)]


@pytest.mark.parametrize("driver", ["run", "nested", "cli"])
def test_an_unknown_event_is_an_error_everywhere(driver):
    events = [Progress(0, 1), {"kind": "progress"}, Finished(None)]
    with pytest.raises(UnknownEvent, match="dict"):
        if driver == "run":
            jobs.run(events)
        elif driver == "nested":
            list(jobs.nested(events, Control(), lambda p: p))
        else:
            render(events, quiet=True)


def test_the_cli_renders_every_kind(capsys):
    assert render(one_of_each(), quiet=True) == {"answer": 42}
    assert "skipped b.png: not an image file" in capsys.readouterr().err


def test_the_gui_worker_signals_every_kind_and_fails_on_an_unknown_one(qtbot):
    from studio.gui.worker import TaskSlot

    slot = TaskSlot()
    got: dict[str, list] = {name: [] for name in ("progress", "item", "losses", "preview", "checkpoint", "log",
                                                  "result", "failed")}
    for name, values in got.items():
        getattr(slot, name).connect(lambda *args, values=values: values.append(args))

    with qtbot.waitSignal(slot.idle, timeout=10_000):
        slot.start(lambda control: iter(one_of_each()), "every kind")
    assert got["progress"][0][0].message == "working"
    assert [args[0].path for args in got["item"]] == ["a.png", "b.png"]
    assert got["losses"][0][0].values == {"G": 0.5}
    preview, qimage = got["preview"][0]
    assert preview.step == 3 and (qimage.width(), qimage.height()) == (6, 4)
    assert got["checkpoint"][0][0].reason == "interval"
    assert got["log"] == [("warning", "careful")]
    assert got["result"] == [({"answer": 42},)] and not got["failed"]

    with qtbot.waitSignal(slot.idle, timeout=10_000):
        slot.start(lambda control: iter([Progress(0, 1), "oops", Finished(1)]), "buggy job")
    assert len(got["failed"]) == 1 and "yielded str" in got["failed"][0][0]
    assert got["result"] == [({"answer": 42},)]
