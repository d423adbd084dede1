"""Translation at a working size with the photo's detail brought back by a guided filter."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import photo, psnr
from helpers import save_cyclegan

from studio.cli import main
from studio.core import nets
from studio.core.errors import StudioError
from studio.core.evaluate.checkerboard import nyquist_fraction
from studio.core.images import read_image, write_image
from studio.core.store import ModelStore, new_card
from studio.core.translate import Translator, guided
from studio.core.translate.guided import WorkingScale, downscale, guided_upsample

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float()


def test_an_affine_colour_map_is_carried_to_full_size_exactly():
    """A translation that is one affine map of the colours (here a colour matrix and an offset) is
    reproduced at full size from its small version, detail and all."""
    full = tensor(photo("astronaut", (200, 160)))
    small = downscale(full, (80, 100))
    matrix = torch.tensor([[0.5, 0.3, 0.1], [0.1, 0.6, 0.2], [0.2, 0.1, 0.4]])
    offset = torch.tensor([0.1, 0.05, 0.2])

    def colour_map(x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("ij,njhw->nihw", matrix, x) + offset[None, :, None, None]

    out = guided_upsample(small, colour_map(small), full, radius=2, eps=1e-7)
    expected = colour_map(full)
    assert out.shape == full.shape
    assert (out - expected).abs().mean() < 2e-3
    naive = F.interpolate(colour_map(small), size=full.shape[-2:], mode="bilinear", align_corners=False)
    assert (out - expected).abs().mean() < (naive - expected).abs().mean() / 10  # the detail is the photo's


def test_grain_in_the_small_translation_does_not_reach_the_full_size_output():
    """What the small translation adds that does not follow the photo (a GAN's checkerboard) is
    averaged out of the fit, so the full-size output has no more Nyquist power than the photo."""
    full = tensor(photo("coffee", (300, 200)))
    small = downscale(full, (100, 150))
    rows, cols = torch.meshgrid(torch.arange(100), torch.arange(150), indexing="ij")
    checker = 0.08 * ((rows + cols) % 2 * 2 - 1).float()
    grainy = (small * 0.8 + 0.1 + checker).clamp(0, 1)
    out = guided_upsample(small, grainy, full, radius=2, eps=1e-2)
    as_image = out[0].permute(1, 2, 0).numpy()
    photo_share = nyquist_fraction(full[0].permute(1, 2, 0).numpy())
    grainy_up = F.interpolate(grainy, scale_factor=2, mode="nearest")[0].permute(1, 2, 0).numpy()
    assert nyquist_fraction(grainy_up) > 20 * photo_share  # the input to the filter is grainy
    assert nyquist_fraction(as_image) < 1.5 * photo_share


def test_bands_of_rows_give_the_whole_image_result(monkeypatch):
    full = tensor(photo("chelsea", (150, 100)))
    small = downscale(full, (40, 60))
    a, b = guided.fit(small, small.flip(1), 1, 1e-3)
    whole = guided.apply(a, b, full)
    monkeypatch.setattr(guided, "BAND_PIXELS", 150 * 7)  # 7 rows a band, the last one short
    assert torch.allclose(guided.apply(a, b, full), whole, atol=1e-6)
    # and the bands sample the coefficients exactly as F.interpolate would
    coeffs = F.interpolate(a.view(1, 9, 40, 60), size=full.shape[-2:], mode="bilinear",
                           align_corners=False).view(1, 3, 3, *full.shape[-2:])
    expected = (coeffs * full[:, None]).sum(2) + F.interpolate(b, size=full.shape[-2:], mode="bilinear",
                                                                align_corners=False)
    assert torch.allclose(whole, expected, atol=1e-5)


def test_a_grey_guide_fits_colour_outputs():
    """One guide channel, three output channels (and the other way round): shapes follow the data."""
    full = tensor(photo("astronaut", (96, 96))).mean(1, keepdim=True)
    small = downscale(full, (48, 48))
    out = guided_upsample(small, small.repeat(1, 3, 1, 1) * torch.tensor([1.0, 0.5, 0.2])[None, :, None, None],
                          full, radius=1, eps=1e-6)
    assert out.shape == (1, 3, 96, 96)
    assert (out[:, 1] - full[:, 0] * 0.5).abs().mean() < 2e-3


def test_working_scale_settings_are_checked_and_round_trip():
    scale = WorkingScale(256, 3, 1e-3)
    assert WorkingScale.from_card({"working_scale": scale.to_card()}) == scale
    assert WorkingScale.from_card({}) is None
    assert scale.applies(300, 400) and not scale.applies(256, 1000)
    assert scale.small_size(512, 768) == (256, 384)
    with pytest.raises(StudioError, match="too small"):
        WorkingScale(8)
    with pytest.raises(StudioError, match="radius"):
        WorkingScale(64, 0)


def with_working_scale(name: str, scale: WorkingScale) -> None:
    ModelStore().update_card(name, {"working_scale": scale.to_card()})


def test_translator_uses_the_cards_working_scale_and_can_be_told_otherwise():
    name = save_cyclegan("ws")
    rgb = photo("coffee", (120, 80))
    native = Translator(ModelStore().load(name), device="cpu").translate_array(rgb)
    with_working_scale(name, WorkingScale(40, 2, 1e-2))
    model = ModelStore().load(name)
    default = Translator(model, device="cpu")
    assert default.working == WorkingScale(40, 2, 1e-2) and default.network_size(80, 120) == (40, 60)
    out = default.translate_array(rgb)
    assert out.shape == rgb.shape and np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    assert psnr(out, native) < 60  # another path
    assert np.array_equal(Translator(model, device="cpu", working_size=0).translate_array(rgb), native)
    # a photo no larger than the working size is translated as it is
    small = photo("coffee", (60, 40))
    assert np.array_equal(default.translate_array(small),
                          Translator(model, device="cpu", working_size=0).translate_array(small))
    other = Translator(model, device="cpu", working_size=64)
    assert other.working == WorkingScale(64, 2, 1e-2)  # the card's filter, the size asked for


def test_cli_working_size(tmp_path, capsys):
    name = save_cyclegan("ws")
    write_image(tmp_path / "in.png", photo("chelsea", (120, 90)))
    assert main(["translate", "--model", name, "-q", str(tmp_path / "in.png"), "-o", str(tmp_path / "native.png")]) == 0
    assert main(["translate", "--model", name, "-q", "--working-size", "48", str(tmp_path / "in.png"),
                 "-o", str(tmp_path / "small.png")]) == 0
    native, small = read_image(tmp_path / "native.png"), read_image(tmp_path / "small.png")
    assert small.size == native.size == (120, 90)
    assert not np.array_equal(small.rgb, native.rgb)
    capsys.readouterr()
    assert main(["translate", "--model", name, "--working-size", "8", str(tmp_path / "in.png"),
                 "-o", str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("studio: error: a working size of 8 px is too small") and err.count("\n") == 1
    with_working_scale(name, WorkingScale(48))
    assert main(["models", "show", name]) == 0
    assert "48 px short side, detail from the photo" in capsys.readouterr().out


def test_onnx_export_checks_the_network_alone_whatever_the_cards_working_scale(tmp_path):
    """The ONNX graph is the network; its parity is checked against the network at the input's own size,
    not against the app's guided translation (which would differ by design)."""
    from studio.core import jobs
    from studio.core.export import export_onnx_job

    name = save_cyclegan("ws")
    with_working_scale(name, WorkingScale(32))  # smaller than the parity inputs (64 and 43×81 px)
    done = jobs.run(export_onnx_job(name, tmp_path / "ws.onnx"))
    assert 0 <= done["max_abs_diff"] <= 1e-3


def test_cli_sets_and_clears_a_models_working_scale(tmp_path, capsys):
    """`studio models set NAME --working-size PX` writes the card (the app's and the CLI's default from then on);
    0 takes it away again; a latent model or a built-in one is one error line and is left as it was."""
    name = save_cyclegan("ws")
    with_working_scale(name, WorkingScale(40, 3, 0.05))
    assert main(["models", "set", name, "--working-size", "64"]) == 0
    assert "translated at 64 px on the short side" in capsys.readouterr().out
    card = ModelStore().get(name).card
    assert card["working_scale"] == {"short_side": 64, "radius": 3, "eps": 0.05}  # its filter kept
    write_image(tmp_path / "in.png", photo("chelsea", (120, 90)))
    assert main(["translate", "--model", name, "-q", str(tmp_path / "in.png"), "-o", str(tmp_path / "set.png")]) == 0
    assert main(["translate", "--model", name, "-q", "--working-size", "64", str(tmp_path / "in.png"),
                 "-o", str(tmp_path / "asked.png")]) == 0
    assert np.array_equal(read_image(tmp_path / "set.png").rgb, read_image(tmp_path / "asked.png").rgb)
    assert main(["models", "set", name, "--working-size", "0"]) == 0
    assert "working_scale" not in ModelStore().get(name).card
    capsys.readouterr()
    assert main(["models", "set", name, "--working-size", "8"]) == 1
    assert capsys.readouterr().err.count("\n") == 1 and "working_scale" not in ModelStore().get(name).card
    vae = nets.build("conv_vae", {"image_size": 32, "latent_dim": 8, "channels": 8, "max_channels": 32})
    ModelStore().save("latent", new_card("vae", {"vae": ("conv_vae", vae.config)}, image_size=32),
                      {"vae": vae.state_dict()})
    assert main(["models", "set", "latent", "--working-size", "64"]) == 1
    assert "a working scale is for translators" in capsys.readouterr().err
