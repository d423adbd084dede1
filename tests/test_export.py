"""ONNX export: the exported graphs run what `studio translate` runs, at any size, and verify themselves.

Dynamo exports take seconds each, so the two main exports are made once per module and shared.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from conftest import photo
from conftest import psnr as reference_psnr
from helpers import save_cyclegan, save_pix2pix

from studio.cli import main
from studio.core import export, nets
from studio.core.export import ExportError, export_onnx_job
from studio.core.images import image_to_tensor, read_image, tensor_to_image, to_uint8, write_image
from studio.core.jobs import Control, Finished, Log, Progress
from studio.core.latent import LatentModel, to_rgb8
from studio.core.nets.flow import to_flow_space
from studio.core.store import ModelStore, new_card
from studio.core.translate import Translator


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("export")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STUDIO_HOME", str(root / "home"))
        mp.setenv("STUDIO_BUILTIN_MODELS", str(root / "builtin"))
        save_cyclegan("cg")
        save_pix2pix("p2p")
        _save_latent_models()
    return root


def _save_latent_models() -> None:
    """A tiny VAE (32 px) and a tiny two-level Glow (16 px) whose every layer does something."""
    torch.manual_seed(0)
    vae = nets.build("conv_vae", {"image_size": 32, "latent_dim": 8, "channels": 8, "max_channels": 32})
    ModelStore().save("vae", new_card("vae", {"vae": ("conv_vae", vae.config)}, image_size=32), {"vae": vae.state_dict()})
    glow = nets.build("glow", {"image_size": 16, "levels": 2, "depth": 2, "hidden": 16})
    glow.initialize(torch.from_numpy(export.pattern_input(4, 3, 16, 16)))
    with torch.no_grad():
        for p in glow.parameters():
            p.add_(torch.randn_like(p) * 0.05)  # zero-initialised couplings and priors would be identities
    ModelStore().save("flow", new_card("flow", {"flow": ("glow", glow.config)}, image_size=16), {"flow": glow.state_dict()})


def _store(home: Path) -> ModelStore:
    return ModelStore(home / "home" / "models", home / "builtin")


@pytest.fixture(scope="module")
def exported(home) -> dict[str, list]:
    """The events of exporting cg (a2b) and p2p, each to a file."""
    return {name: list(export_onnx_job(name, home / f"{name}.onnx", store=_store(home))) for name in ("cg", "p2p")}


@pytest.fixture(scope="module")
def latent_exported(home) -> dict[str, dict]:
    """Every part of the VAE and the flow, exported: the finished events by "model-part"."""
    out = {}
    for name, part in (("vae", "encoder"), ("vae", "decoder"), ("flow", "forward"), ("flow", "inverse")):
        out[f"{name}-{part}"] = _finished(export_onnx_job(name, home / f"{name}-{part}.onnx", part, store=_store(home)))
    return out


@pytest.fixture
def use_home(home, monkeypatch) -> None:
    monkeypatch.setenv("STUDIO_HOME", str(home / "home"))
    monkeypatch.setenv("STUDIO_BUILTIN_MODELS", str(home / "builtin"))


def _finished(events) -> dict:
    events = list(events)
    assert isinstance(events[-1], Finished)
    (done,) = [e.value for e in events if isinstance(e, Finished)]
    return done


def _session(path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _onnx_translate(session: ort.InferenceSession, rgb: np.ndarray) -> np.ndarray:
    out = session.run(None, {"image": image_to_tensor(rgb).numpy()})[0]
    return to_uint8(tensor_to_image(torch.from_numpy(out)))


def _studio_translate(tmp_path: Path, model: str, direction: str, rgb: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Write ``rgb`` as a PNG, run `studio translate` on it; return (the input as read, the 8-bit output)."""
    source, target = tmp_path / f"{name}.png", tmp_path / f"{name}-out.png"
    write_image(source, rgb)
    assert main(["translate", "--model", model, "--direction", direction, "--device", "cpu", "-q",
                 str(source), "-o", str(target)]) == 0
    return read_image(source).rgb, to_uint8(read_image(target).rgb)


def test_export_job_reports_progress_and_a_verified_parity_figure(exported, home):
    events = exported["cg"]
    steps = [e.done for e in events if isinstance(e, Progress)]
    assert steps == sorted(steps) and steps[0] == 0 and steps[-1] == 4
    done = _finished(events)
    assert done["path"] == str(home / "cg.onnx") and Path(done["path"]).stat().st_size == done["bytes"]
    assert done["part"] == "a2b" and done["opset"] >= 18 and not done["cancelled"]
    assert done["verified_with"].startswith("onnxruntime ")
    assert 0 <= done["max_abs_diff"] <= 1e-3
    # A batch of two at one size and a single image at another, neither a multiple of the network's 4.
    assert done["checked_shapes"] == [[[2, 3, 64, 64]], [[1, 3, 43, 81]]]
    assert any("max abs diff" in e.message for e in events if isinstance(e, Log) and e.level == "info")
    onnx.checker.check_model(done["path"], full_check=True)


def test_the_card_and_the_export_description_travel_as_metadata(exported, home):
    model = onnx.load(str(home / "cg.onnx"))
    props = {p.key: p.value for p in model.metadata_props}
    card = _store(home).get("cg").card
    assert json.loads(props["studio_card"]) == card
    meta = json.loads(props["studio_export"])
    assert meta["part"] == "a2b" and meta["from_domain"] == "photo" and meta["to_domain"] == "painting"
    assert "multiple of 4" in meta["preprocessing"] and meta["dynamic_axes"] == "batch, height, width"
    assert meta["parity_max_abs_diff"] == _finished(exported["cg"])["max_abs_diff"]
    dims = [[d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in (*model.graph.input, *model.graph.output)]
    assert dims == [["batch", 3, "height", "width"], ["batch", 3, "height", "width"]]


def test_cyclegan_onnx_matches_studio_translate_on_photos(exported, home, tmp_path, use_home):
    session = _session(home / "cg.onnx")
    for name, (w, h) in (("astronaut", (256, 256)), ("coffee", (480, 320))):
        rgb, want = _studio_translate(tmp_path, "cg", "a2b", photo(name, (w, h)), name)
        got = _onnx_translate(session, rgb)
        assert got.shape == want.shape == (h, w, 3)
        assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
        assert np.abs(got.astype(int) - to_uint8(rgb).astype(int)).mean() > 10  # it did translate


def test_pix2pix_onnx_matches_studio_translate_with_per_image_batch_norm(exported, home, tmp_path, use_home):
    session = _session(home / "p2p.onnx")
    # 13 rows pad to 32 by replication (more padding than image), the others by reflection.
    for name, (w, h) in (("astronaut", (256, 256)), ("chelsea", (480, 320)), ("rocket", (50, 13))):
        rgb, want = _studio_translate(tmp_path, "p2p", "a2b", photo(name, (w, h)), name)
        got = _onnx_translate(session, rgb)
        assert got.shape == want.shape == (h, w, 3)
        assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
    # Dynamic batch: each image of a batch is normalised on its own, as when translated alone.
    batch = np.concatenate([image_to_tensor(photo(n, (96, 64))).numpy() for n in ("coffee", "chelsea", "astronaut")])
    together = session.run(None, {"image": batch})[0]
    alone = np.concatenate([session.run(None, {"image": batch[i : i + 1]})[0] for i in range(3)])
    assert np.abs(together - alone).max() < 1e-4


def test_cli_export_other_direction_into_a_folder_without_onnxruntime(exported, home, tmp_path, use_home, capsys,
                                                                     monkeypatch):
    with monkeypatch.context() as mp:
        mp.setitem(sys.modules, "onnxruntime", None)  # as on an install without the dev extra
        assert main(["models", "export", "cg", "--format", "onnx", "--direction", "b2a", "-q", "-o", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    path = tmp_path / "cg-b2a.onnx"
    assert f"exported cg b2a to {path}" in captured.out and "onnx.checker passed" in captured.out
    assert "not verified: onnxruntime is not installed" in captured.err
    meta = json.loads({p.key: p.value for p in onnx.load(str(path)).metadata_props}["studio_export"])
    assert meta["parity_max_abs_diff"] is None and "not checked" in meta["parity_checked_with"]
    # The file itself is fine: it runs the B→A generator.
    rgb = photo("chelsea", (120, 90))
    translator = Translator(_store(home).load("cg"), "b2a", device="cpu", precision="fp32")
    want = to_uint8(tensor_to_image(translator.translate_tensor(image_to_tensor(rgb))))
    assert np.abs(_onnx_translate(_session(path), rgb).astype(int) - want.astype(int)).max() <= 1


def test_a_graph_that_misses_the_tolerance_is_not_written(exported, home, tmp_path, monkeypatch):
    proto = onnx.load(str(home / "cg.onnx"))
    monkeypatch.setattr(export, "_export", lambda spec, opset, what: proto)  # skip the slow part
    monkeypatch.setattr(export, "TOLERANCE", 0.0)
    with pytest.raises(ExportError, match="differs from PyTorch by up to .*nothing was written"):
        list(export_onnx_job("cg", tmp_path / "strict.onnx", store=_store(home)))
    assert list(tmp_path.iterdir()) == []


def test_cancelled_export_writes_nothing(home, tmp_path):
    control = Control()
    control.cancel()
    events = list(export_onnx_job("p2p", tmp_path / "x.onnx", store=_store(home), control=control))
    assert _finished(events)["cancelled"] is True
    assert list(tmp_path.iterdir()) == []


def test_parts_names_and_errors(home, tmp_path, use_home, capsys):
    store = _store(home)
    assert export.parts(store.get("cg")) == ["a2b", "b2a"] and export.parts(store.get("p2p")) == ["a2b"]
    assert export.default_output(store.get("cg"), "b2a", tmp_path) == tmp_path / "cg-b2a.onnx"
    assert export.default_output(store.get("cg"), "a2b", tmp_path / "m.v2") == tmp_path / "m.v2.onnx"
    with pytest.raises(ExportError, match="no part 'b2a' to export; its parts: a2b"):
        list(export_onnx_job("p2p", tmp_path, "b2a", store=store))
    assert main(["models", "export", "cg", "--format", "onnx", "--part", "decoder", "-o", str(tmp_path)]) == 1
    assert "no part 'decoder'" in capsys.readouterr().err
    assert main(["models", "export", "cg", "--direction", "b2a", "-o", str(tmp_path / "cg")]) == 1
    assert "--direction and --part are for --format onnx" in capsys.readouterr().err
    assert main(["models", "export", "cg", "-o", str(tmp_path / "cg")]) == 0
    assert (tmp_path / "cg.safetensors").is_file() and list(tmp_path.glob("*.onnx")) == []


# -- latent models ----------------------------------------------------------------------------------

def test_latent_parts_export_with_their_parity_figures(latent_exported, home):
    for key, done in latent_exported.items():
        assert done["path"] == str(home / f"{key}.onnx") and 0 <= done["max_abs_diff"] <= 1e-3, key
        onnx.checker.check_model(done["path"], full_check=True)
    assert [s[0] for s in latent_exported["flow-forward"]["checked_shapes"]] == [[2, 3, 16, 16], [1, 3, 8, 20]]
    meta = json.loads({p.key: p.value for p in onnx.load(str(home / "flow-forward.onnx")).metadata_props}["studio_export"])
    assert "multiples of 4" in meta["input"] and meta["dynamic_axes"] == "batch, height, width"
    assert export.parts(_store(home).get("vae")) == ["encoder", "decoder"]


def test_vae_decoder_onnx_matches_studio_within_one_level(latent_exported, home, tmp_path):
    model = LatentModel(_store(home).load("vae"), device="cpu")
    write_image(tmp_path / "cat.png", photo("chelsea", (50, 40)))
    z = torch.cat([model.encode(model.load_image(tmp_path / "cat.png")), model.sample_latents(3, seed=0)])
    want = to_rgb8(model.decode(z))
    got = _session(home / "vae-decoder.onnx").run(None, {"latent": z.numpy()})[0]
    assert got.shape == (4, 3, 32, 32) and got.min() >= -1 and got.max() <= 1
    assert np.abs(to_rgb8(torch.from_numpy(got)).astype(int) - want.astype(int)).max() <= 1
    mean, logvar = _session(home / "vae-encoder.onnx").run(None, {"image": model.load_image(tmp_path / "cat.png").numpy()})
    assert np.abs(mean - model.encode(model.load_image(tmp_path / "cat.png")).numpy()).max() < 1e-4
    assert logvar.shape == (1, 8)


def test_flow_onnx_runs_both_ways_at_any_multiple_of_its_size(latent_exported, home):
    model = LatentModel(_store(home).load("flow"), device="cpu")
    forward = _session(home / "flow-forward.onnx")
    x = image_to_tensor(to_uint8(photo("coffee", (16, 16))) / 255.0)
    eps, bpd = forward.run(None, {"image": x.numpy()})
    assert np.abs(eps - model.encode(x).numpy()).max() < 1e-3
    assert bpd[0] == pytest.approx(model.score(x)[0].item(), abs=1e-3)
    # The inverse graph undoes the forward graph: the flow's exactness survives export.
    back = _session(home / "flow-inverse.onnx").run(None, {"latent": eps})[0]
    assert reference_psnr((back + 1) / 2, (x.numpy() + 1) / 2) > 45
    # Another size, not the training one (a multiple of 2**levels = 4), through the same graph.
    wide = image_to_tensor(to_uint8(photo("astronaut", (28, 12))) / 255.0)
    eps_wide, _ = forward.run(None, {"image": wide.numpy()})
    assert eps_wide.shape == (1, 3 * 12 * 28)
    assert np.abs(eps_wide - model.net.flatten(model.net.encode_levels(to_flow_space(wide))[0]).detach().numpy()).max() < 1e-3


def test_an_operator_onnx_lacks_is_named_in_the_error(home):
    """Glow's inverse without precomputed 1×1-conv inverses needs a matrix inverse, which ONNX does not have."""

    class RawInverse(torch.nn.Module):
        def __init__(self, glow):
            super().__init__()
            self.glow = glow

        def forward(self, eps):
            return self.glow.inverse(eps)

    glow = _store(home).load("flow").networks["flow"].eval()
    glow.unfreeze_inverse()
    spec = export.Exportable(RawInverse(glow), (torch.zeros(2, 768),), ({0: torch.export.Dim("batch")},), ["latent"],
                             ["image"], reference=lambda inputs: [], checks=[])
    with pytest.raises(ExportError, match=r"flow inverse cannot be exported to ONNX: ONNX has no operator for "
                                          r"aten\.linalg_inv_ex"):
        export._export(spec, None, "flow inverse")
