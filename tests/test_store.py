"""Model store: reference checkpoints import and translate like the reference; bad files are refused."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
import torch
from conftest import photo
from reference_arch import reference_resnet, reference_unet

from studio.core import nets
from studio.core.errors import ArchitectureMismatchError, ModelError, StoreError, UnsafeModelError
from studio.core.images import image_to_tensor, tensor_to_image, to_uint8
from studio.core.store import ModelStore, new_card
from studio.core.translate import Translator


def _reference_checkpoint(path, blocks=9, ngf=64, seed=0, legacy=False, prefix=""):
    torch.manual_seed(seed)
    ref = reference_resnet(ngf=ngf, blocks=blocks)
    nets.init_weights(ref, "kaiming", gain=1.0)
    sd = ref.state_dict()
    if legacy:  # old reference files saved InstanceNorm running statistics
        for name, module in ref.named_modules():
            if isinstance(module, torch.nn.InstanceNorm2d):
                sd[f"{name}.running_mean"] = torch.zeros(module.num_features)
                sd[f"{name}.running_var"] = torch.ones(module.num_features)
                sd[f"{name}.num_batches_tracked"] = torch.tensor(0)
    torch.save({prefix + k: v for k, v in sd.items()}, path)
    return ref.eval()


def _reference_output(ref, img):
    with torch.no_grad():
        return tensor_to_image(ref(image_to_tensor(img)))


@pytest.mark.parametrize(
    "blocks, legacy, prefix",
    [(9, False, ""), (6, False, ""), (9, True, ""), (6, True, "module.")],
    ids=["resnet_9blocks", "resnet_6blocks", "legacy-running-stats", "dataparallel-prefix"],
)
def test_reference_generator_imports_and_translates_like_the_reference(tmp_path, blocks, legacy, prefix):
    folder = tmp_path / "horse2zebra"
    folder.mkdir()
    ref = _reference_checkpoint(folder / "latest_net_G_A.pth", blocks=blocks, legacy=legacy, prefix=prefix)
    info = ModelStore().import_file(folder / "latest_net_G_A.pth")
    assert info.name == "horse2zebra" and info.kind == "cyclegan"
    assert info.domains == {"A": "horse", "B": "zebra"}
    assert info.card["networks"]["G_A"]["params"]["n_blocks"] == blocks
    assert info.card["provenance"]["reference_arch"]["G_A"] == f"resnet_{blocks}blocks"
    img = photo("astronaut", (256, 256))
    ours = Translator(ModelStore().load(info.name), "a2b", device="cpu").translate_array(img, tile=0)
    expected = _reference_output(ref, img)
    assert np.abs(to_uint8(ours).astype(int) - to_uint8(expected).astype(int)).max() <= 1
    assert expected.std() > 0.05, "the check must compare real images, not flat grey"


def test_cyclegan_pair_is_found_next_to_g_a(tmp_path):
    ref_a = _reference_checkpoint(tmp_path / "latest_net_G_A.pth", blocks=6, ngf=16, seed=1)
    ref_b = _reference_checkpoint(tmp_path / "latest_net_G_B.pth", blocks=6, ngf=16, seed=2)
    info = ModelStore().import_file(tmp_path / "latest_net_G_A.pth", name="pair")
    assert info.directions() == ["a2b", "b2a"]
    model = ModelStore().load("pair")
    img = photo("coffee", (64, 64))
    for direction, ref in (("a2b", ref_a), ("b2a", ref_b)):
        out = Translator(model, direction, device="cpu").translate_array(img, tile=0)
        assert np.abs(out - _reference_output(ref, img)).max() < 1e-4


def test_reference_pix2pix_unet_imports_as_pix2pix(tmp_path):
    torch.manual_seed(0)
    ref = reference_unet(num_downs=7, ngf=16, norm="batch", dropout=True)
    torch.save(ref.state_dict(), tmp_path / "latest_net_G.pth")
    info = ModelStore().import_file(tmp_path / "latest_net_G.pth", name="facades")
    assert info.kind == "pix2pix" and info.directions() == ["a2b"]
    assert info.card["networks"]["G"]["params"]["num_downs"] == 7
    out = Translator(ModelStore().load("facades"), device="cpu").translate_array(photo("coffee", (128, 128)))
    assert out.shape == (128, 128, 3)


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("container", ["zip", "legacy-pickle"])
def test_malicious_pickle_is_refused_without_running(tmp_path, container):
    marker = tmp_path / "pwned"
    evil = tmp_path / "latest_net_G_A.pth"
    state = {"model.1.weight": torch.zeros(1), "payload": _Payload(marker)}
    if container == "zip":
        torch.save(state, evil)
    else:
        evil.write_bytes(pickle.dumps(state))
    store = ModelStore()
    with pytest.raises(UnsafeModelError) as err:
        store.import_file(evil)
    assert "refused" in str(err.value) and str(evil) in str(err.value)
    assert not marker.exists(), "the payload ran"
    assert store.list() == []
    assert not store.user_dir.exists() or not any(store.user_dir.iterdir())


def test_mismatched_keys_say_what_was_expected_and_found(tmp_path):
    torch.manual_seed(0)
    sd = reference_resnet(ngf=16, blocks=6).state_dict()
    sd["model.10.conv_block.1.weight"] = torch.zeros(64, 64, 5, 5)  # wrong kernel size
    torch.save(sd, tmp_path / "bad.pth")
    with pytest.raises(ArchitectureMismatchError) as err:
        ModelStore().import_file(tmp_path / "bad.pth")
    message = str(err.value)
    assert "model.10.conv_block.1.weight" in message and "resnet" in message.lower()
    torch.save({"encoder.0.weight": torch.zeros(3, 3), "fc.bias": torch.zeros(2)}, tmp_path / "other.pth")
    with pytest.raises(ArchitectureMismatchError) as err:
        ModelStore().import_file(tmp_path / "other.pth")
    assert "encoder.0.weight" in str(err.value)
    assert ModelStore().list() == []


def test_files_that_are_not_models_are_refused(tmp_path):
    (tmp_path / "empty.pth").write_bytes(b"")
    (tmp_path / "text.safetensors").write_text("hello")
    (tmp_path / "model.onnx").write_bytes(b"\x08\x01")
    for name in ("empty.pth", "text.safetensors", "model.onnx", "missing.pth"):
        with pytest.raises(ModelError) as err:
            ModelStore().import_file(tmp_path / name)
        assert name in str(err.value)


def test_safetensors_export_round_trip_keeps_card_and_weights(tmp_path):
    from helpers import save_cyclegan

    save_cyclegan("original")
    store = ModelStore()
    out = store.export_safetensors("original", tmp_path / "shared.safetensors")
    store.remove("original")
    info = store.import_file(out)
    assert info.name == "original" and info.domains == {"A": "photo", "B": "painting"}
    again = store.import_file(out, name="copy")
    a, b = store.load(info), store.load(again)
    for role in ("G_A", "G_B"):
        for (k, v), (_, w) in zip(a.networks[role].state_dict().items(), b.networks[role].state_dict().items(), strict=True):
            assert torch.equal(v, w), k


def test_store_writes_are_atomic(tmp_path, monkeypatch):
    from studio.core.store import model_store as store_module

    net = nets.build("resnet_generator", {"ngf": 8, "n_blocks": 1})
    card = new_card("pix2pix", {"G": ("resnet_generator", net.config)})
    store = ModelStore()

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_module, "save_file", full_disk)
    with pytest.raises(StoreError, match="No space left"):
        store.save("doomed", card, {"G": net.state_dict()})
    assert list(store.user_dir.iterdir()) == []
    monkeypatch.undo()
    store.save("fine", card, {"G": net.state_dict()})
    assert [p.name for p in store.user_dir.iterdir()] == ["fine"]


def test_builtin_models_are_listed_and_read_only(builtin_dir):
    net = nets.build("resnet_generator", {"ngf": 8, "n_blocks": 1})
    card = new_card("pix2pix", {"G": ("resnet_generator", net.config)})
    user = ModelStore()
    saved = user.save("starter", card, {"G": net.state_dict()})
    saved.path.rename(builtin_dir / "starter")
    store = ModelStore()
    (info,) = store.list()
    assert info.builtin and info.name == "starter"
    for action in (lambda: store.remove("starter"), lambda: store.rename("starter", "x"),
                   lambda: store.save("starter", card, {"G": net.state_dict()})):
        with pytest.raises(StoreError):
            action()
    copy = store.duplicate("starter", "mine")
    assert not copy.builtin and copy.card["provenance"]["duplicated_from"] == "starter"
    renamed = store.rename("mine", "mine2")
    assert json.loads((renamed.path / "card.json").read_text())["name"] == "mine2"


def test_model_is_rebuilt_from_its_card_alone():
    from helpers import save_cyclegan

    save_cyclegan("m", ngf=12, n_blocks=3)
    model = ModelStore().load("m")
    g = model.networks["G_A"]
    assert g.config["ngf"] == 12 and g.config["n_blocks"] == 3
    assert sum(1 for k in g.state_dict() if k.endswith("conv_block.1.weight")) == 3


def test_example_files_travel_with_the_model_and_stay_inside_its_folder(tmp_path):
    from helpers import save_pix2pix

    save_pix2pix("with examples")
    store = ModelStore()
    info = store.get("with examples")
    example = tmp_path / "face.png"
    example.write_bytes(b"an example input")
    weights = store.load(info).networks["G"].state_dict()
    card = {**info.card, "examples": ["examples/face.png", "examples/missing.png", "../card.json"]}
    saved = store.save("with examples", card, {"G": weights}, overwrite=True, files={"examples/face.png": example})
    assert saved.examples() == [(saved.path / "examples" / "face.png").resolve()]  # missing and escaping ones left out
    assert saved.size_bytes > (saved.path / "model.safetensors").stat().st_size
    copy = store.duplicate("with examples", "copy")
    assert [p.read_bytes() for p in copy.examples()] == [b"an example input"]
    with pytest.raises(StoreError, match="outside"):
        store.save("escape", card, {"G": weights}, files={"../escaped.png": example})
    assert not (store.user_dir / "escaped.png").exists() and not store.exists("escape")


def test_an_import_plan_reads_and_describes_without_writing(tmp_path):
    from studio.core.store import import_plan

    _reference_checkpoint(tmp_path / "latest_net_G_A.pth", blocks=6, ngf=16, seed=1)
    _reference_checkpoint(tmp_path / "latest_net_G_B.pth", blocks=6, ngf=16, seed=2)
    name, card, state_dicts = import_plan(tmp_path / "latest_net_G_A.pth", None, None, None)
    assert name == tmp_path.name  # a reference "latest_net_G_A" is named after its folder
    assert card["kind"] == "cyclegan" and sorted(state_dicts) == ["G_A", "G_B"]
    assert [f["file"] for f in card["provenance"]["files"]] == ["latest_net_G_A.pth", "latest_net_G_B.pth"]
    assert card["provenance"]["reference_arch"] == {"G_A": "resnet_6blocks", "G_B": "resnet_6blocks"}
    assert not ModelStore().user_dir.exists() or list(ModelStore().user_dir.iterdir()) == []
