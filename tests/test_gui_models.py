"""The model manager over the real store: list, details, import, export, rename, duplicate, delete."""

from __future__ import annotations

import pickle

import pytest
import torch
from gui_helpers import drop, screenshot, window_fixture  # noqa: F401  (the window fixture)
from helpers import save_cyclegan, save_pix2pix

from studio.core import report
from studio.core.jobs import Progress
from studio.core.store import ModelStore
from studio.gui import dialogs

pytestmark = pytest.mark.timeout(120)


def test_manager_lists_details_exports_deletes_imports_renames_and_duplicates(window, qtbot, tmp_path, monkeypatch):
    save_cyclegan("horse2zebra")
    save_pix2pix("facades")
    window.ctx.store.refresh()
    panel = window.show_panel("models")
    assert sorted(panel.model_names()) == ["facades", "horse2zebra"]
    assert panel.select("horse2zebra")
    html = panel.details.toHtml()
    assert "horse2zebra" in html and "photo" in html and "painting" in html and "resnet_generator" in html
    assert panel.onnx_button.isEnabled()
    assert panel.rename_button.isEnabled() and panel.delete_button.isEnabled()
    table = panel.table_model
    row = table.row_of("horse2zebra")
    assert [table.index(row, c).data() for c in (1, 2)] == ["CycleGAN", "photo ↔ painting"]

    exported = tmp_path / "exports" / "h2z.safetensors"
    with qtbot.waitSignal(panel.operation_done, timeout=30_000):
        panel.export("horse2zebra", exported)
    assert exported.is_file()

    questions = []
    monkeypatch.setattr(dialogs, "confirm", lambda *args, **kw: questions.append(args[2]) or True)
    with qtbot.waitSignal(panel.operation_done, timeout=30_000):
        panel.delete_button.click()
    assert "horse2zebra" in questions[0]
    assert not ModelStore().exists("horse2zebra") and panel.model_names() == ["facades"]

    with qtbot.waitSignal(panel.operation_done, timeout=30_000):
        drop(panel, [exported])  # the engine's safe importer, in a worker
    assert ModelStore().get("horse2zebra").card["provenance"]["imported_from"] == str(exported)
    assert panel.selected().name == "horse2zebra"

    monkeypatch.setattr(dialogs, "ask_text", lambda *args, **kw: "zebra maker")
    with qtbot.waitSignal(panel.operation_done, timeout=30_000):
        panel.rename_button.click()
    assert ModelStore().exists("zebra maker") and not ModelStore().exists("horse2zebra")
    assert panel.selected().name == "zebra maker"
    assert window.panel("translate_unpaired").model_combo.findData("zebra maker") >= 0  # other panels follow

    with qtbot.waitSignal(panel.operation_done, timeout=30_000):
        panel.duplicate("zebra maker", "zebra maker v2")
    copy = ModelStore().get("zebra maker v2")
    assert copy.card["provenance"]["duplicated_from"] == "zebra maker"
    assert sorted(panel.model_names()) == ["facades", "zebra maker", "zebra maker v2"]
    assert "not trained in this Studio" in panel.curves_hint.text()
    screenshot(window, "gui-models")


def test_refused_imports_are_reported_and_change_nothing(window, qtbot, tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("this would run",))

    evil = tmp_path / "latest_net_G_A.pth"
    with open(evil, "wb") as handle:
        pickle.dump({"weights": Payload()}, handle, protocol=2)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 64)
    torch.save({"not": "weights"}, tmp_path / "empty.pth")
    panel = window.show_panel("models")
    errors = []
    window.ctx.error_reported.connect(lambda title, message: errors.append((title, message)))
    with qtbot.waitSignal(panel.operation_done, timeout=30_000):
        panel.import_files([evil, junk, tmp_path / "empty.pth"])
    assert [t for t, _ in errors] == ["Cannot import latest_net_G_A.pth", "Cannot import junk.safetensors",
                                      "Cannot import empty.pth"]
    assert "refused" in errors[0][1] and "Traceback" not in "".join(m for _, m in errors)
    assert ModelStore().list() == [] and panel.model_names() == []
    assert panel.empty_hint.isVisible()


def test_built_in_models_are_read_only_in_the_manager(window, builtin_dir):
    save_pix2pix("starter")
    ModelStore().get("starter").path.rename(builtin_dir / "starter")
    window.ctx.store.refresh()
    panel = window.show_panel("models", "starter")
    assert panel.selected().builtin
    assert not panel.rename_button.isEnabled() and not panel.delete_button.isEnabled()
    assert "read-only" in panel.rename_button.toolTip()
    assert panel.duplicate_button.isEnabled() and panel.export_button.isEnabled()
    assert panel.table_model.index(0, 5).data() == "Built-in"


def test_onnx_export_from_the_manager_shows_progress_and_the_parity_figure(window, qtbot, tmp_path, monkeypatch):
    import onnxruntime as ort

    save_cyclegan("horse2zebra")
    window.ctx.store.refresh()
    panel = window.show_panel("models")
    panel.select("horse2zebra")
    target = tmp_path / "onnx" / "zebra.onnx"
    asked = []
    monkeypatch.setattr(dialogs, "choose", lambda parent, title, text, labels: asked.append(labels) or labels[1])
    monkeypatch.setattr(dialogs, "save_file", lambda *args, **kw: target)
    seen = []
    panel.onnx.slot.progress.connect(seen.append)
    with qtbot.waitSignal(panel.operation_done, timeout=90_000) as done:
        panel.onnx_button.click()
        assert panel.onnx.row.bar.isVisible() and panel.onnx.row.cancel_button.isVisible()
        assert not panel.onnx_button.isEnabled()
    what, result = done.args
    assert asked == [["A → B", "B → A"]] and what == "onnx" and result["part"] == "b2a"
    assert seen and all(isinstance(p, Progress) for p in seen) and seen[-1].done == seen[-1].total
    assert target.is_file() and ort.InferenceSession(str(target)).get_inputs()[0].shape[2] != 256  # dynamic size
    assert result["max_abs_diff"] <= 1e-3
    qtbot.waitUntil(lambda: not panel.onnx_busy, timeout=10_000)
    assert panel.onnx.row.status.text() == report.onnx_summary(result)
    assert f"max abs diff {result['max_abs_diff']:.2e}" in panel.onnx.row.status.text()
    assert panel.onnx.row.status.isVisible() and not panel.onnx.row.cancel_button.isVisible()
    assert not panel.onnx.row.bar.isVisible() and panel.onnx_button.isEnabled()
    qtbot.wait(50)  # let the layout settle (the bar's room goes) before the picture
    assert panel.onnx.row.status.x() < panel.onnx.row.bar.width()
    screenshot(window, "gui-models-onnx")


def test_nested_evaluation_metrics_and_limits_read_as_rows(window):
    from studio.core.report import metric_rows
    from studio.gui.panels.models import card_html

    rows = metric_rows({"psnr": 21.23456, "eval": {"a2b": {"cycle_l1": 0.0312, "kid": None}, "images": 12,
                                                    "skipped": [["x.png", "unreadable"]]}})
    assert rows == [("psnr", "21.23"), ("eval · a2b · cycle l1", "0.0312"), ("eval · images", "12"),
                    ("eval · skipped", "1 item(s)")]
    save_pix2pix("facades")
    ModelStore().update_card("facades", {"limits": "Only facades.", "metrics": {"eval": {"psnr": 20.5}}})
    html = card_html(ModelStore().get("facades"))
    assert "Only facades." in html and "eval · psnr" in html and "20.5" in html


def test_a_failed_onnx_export_says_why_on_its_row_and_frees_the_button(window, qtbot, tmp_path):
    save_pix2pix("facades")
    window.ctx.store.refresh()
    panel = window.show_panel("models", "facades")
    assert not panel.onnx.isVisible()  # no empty row before the first export
    errors = []
    window.ctx.error_reported.connect(lambda title, message: errors.append((title, message)))
    panel.export_onnx("facades", tmp_path / "f.onnx", "decoder")
    qtbot.waitUntil(lambda: not panel.onnx_busy and bool(errors), timeout=30_000)
    assert errors[0][0] == "The ONNX export failed" and "has no part 'decoder'" in errors[0][1]
    status = panel.onnx.row.status
    assert status.isVisible() and status.text() == f"ONNX export failed: {errors[0][1]}"
    assert not panel.onnx.row.bar.isVisible() and not panel.onnx.row.cancel_button.isVisible()
    assert panel.onnx_button.isEnabled() and not (tmp_path / "f.onnx").exists()
