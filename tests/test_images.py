"""studio.core.images: every format artists have reads and writes back, and bad files fail clearly."""

from __future__ import annotations

import os
import struct
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile
from skimage import data

from studio.core.errors import ImageError
from studio.core.images import (
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    LoadedImage,
    image_to_tensor,
    is_image_file,
    list_images,
    load_rgb_uint8,
    read_image,
    tensor_to_image,
    to_uint8,
    write_image,
)


@pytest.fixture(scope="module")
def cat() -> np.ndarray:
    """A real, non-square photo (451 wide, 300 tall) as uint8, so width/height mix-ups show."""
    return data.chelsea()


def as_float(pixels: np.ndarray) -> np.ndarray:
    return pixels.astype(np.float32) / 255.0


def mean_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


# --- formats round-trip ------------------------------------------------------------------------

# Mean absolute error allowed after write_image -> read_image (0 = bit-exact).
ROUND_TRIP_TOLERANCE = {
    ".png": 0.0,
    ".bmp": 0.0,
    ".tif": 0.0,
    ".tiff": 0.0,
    ".jpg": 0.02,
    ".jpeg": 0.02,
    ".webp": 0.02,
    ".gif": 0.04,  # 256-colour palette
}


def test_every_extension_has_a_round_trip_case() -> None:
    assert set(ROUND_TRIP_TOLERANCE) == set(IMAGE_EXTENSIONS)


@pytest.mark.parametrize("ext", sorted(ROUND_TRIP_TOLERANCE))
def test_round_trip(tmp_path: Path, cat: np.ndarray, ext: str) -> None:
    path = tmp_path / f"cat{ext}"
    write_image(path, as_float(cat))
    loaded = read_image(path)
    assert isinstance(loaded, LoadedImage)
    assert loaded.size == (451, 300)
    assert loaded.rgb.shape == (300, 451, 3)
    assert loaded.rgb.dtype == np.float32
    assert 0.0 <= loaded.rgb.min() and loaded.rgb.max() <= 1.0
    assert loaded.alpha is None
    assert loaded.path == path
    tolerance = ROUND_TRIP_TOLERANCE[ext]
    if tolerance == 0.0:
        np.testing.assert_array_equal(to_uint8(loaded.rgb), cat)
    else:
        assert mean_abs(loaded.rgb, as_float(cat)) < tolerance


def test_progressive_jpeg(tmp_path: Path) -> None:
    photo = data.astronaut()
    path = tmp_path / "progressive.jpg"
    Image.fromarray(photo).save(path, "JPEG", quality=95, progressive=True)
    with Image.open(path) as im:
        assert im.info.get("progressive") or im.info.get("progression")
    loaded = read_image(path)
    assert loaded.size == (512, 512)
    assert mean_abs(loaded.rgb, as_float(photo)) < 0.02


def test_cmyk_jpeg_decodes_to_rgb(tmp_path: Path) -> None:
    photo = data.coffee()
    path = tmp_path / "cmyk.jpg"
    Image.fromarray(photo).convert("CMYK").save(path, "JPEG", quality=95)
    loaded = read_image(path)
    assert loaded.source_mode == "CMYK"
    assert loaded.rgb.shape == photo.shape
    # An inverted-CMYK mix-up would give a negative image (error near 0.5), not a small one.
    assert mean_abs(loaded.rgb, as_float(photo)) < 0.02


def test_sixteen_bit_png_keeps_precision(tmp_path: Path) -> None:
    ramp = np.arange(64 * 32, dtype=np.uint16).reshape(32, 64)
    ramp[-1, -1] = 65535
    path = tmp_path / "deep.png"
    Image.fromarray(ramp).save(path)
    loaded = read_image(path)
    assert loaded.source_mode.startswith("I")
    assert loaded.size == (64, 32)
    assert loaded.alpha is None
    # Every 1/65535 step survives: 8-bit truncation would collapse 0..255 into one value.
    np.testing.assert_array_equal(np.rint(loaded.rgb[..., 0] * 65535).astype(np.uint16), ramp)
    assert loaded.rgb[0, 1, 0] > loaded.rgb[0, 0, 0] == 0.0
    assert loaded.rgb[-1, -1, 0] == 1.0
    np.testing.assert_array_equal(loaded.rgb[..., 0], loaded.rgb[..., 1])
    np.testing.assert_array_equal(loaded.rgb[..., 0], loaded.rgb[..., 2])


def test_grayscale_is_replicated_to_three_channels(tmp_path: Path) -> None:
    camera = data.camera()
    path = tmp_path / "camera.png"
    Image.fromarray(camera).save(path)
    loaded = read_image(path)
    assert loaded.source_mode == "L"
    assert loaded.alpha is None
    for channel in range(3):
        np.testing.assert_array_equal(to_uint8(loaded.rgb[..., channel]), camera)


def test_palette_png_with_transparency_gives_alpha(tmp_path: Path) -> None:
    indices = np.zeros((20, 30), np.uint8)
    indices[:, 10:20] = 1
    indices[:, 20:] = 2
    image = Image.fromarray(indices, "P")
    image.putpalette([0, 0, 0, 255, 0, 0, 0, 0, 255] + [0] * (253 * 3))
    path = tmp_path / "palette.png"
    image.save(path, transparency=0)
    loaded = read_image(path)
    assert loaded.source_mode == "P"
    assert loaded.alpha is not None and loaded.alpha.shape == (20, 30)
    assert np.all(loaded.alpha[:, :10] == 0.0)
    assert np.all(loaded.alpha[:, 10:] == 1.0)
    np.testing.assert_array_equal(loaded.rgb[0, 15], [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(loaded.rgb[0, 25], [0.0, 0.0, 1.0])


def test_palette_without_transparency_has_no_alpha(tmp_path: Path, cat: np.ndarray) -> None:
    path = tmp_path / "quantized.png"
    Image.fromarray(cat).quantize(64).save(path)
    loaded = read_image(path)
    assert loaded.source_mode == "P"
    assert loaded.alpha is None


def gradient_alpha(height: int, width: int) -> np.ndarray:
    return np.tile(np.linspace(0, 255, width).round().astype(np.uint8), (height, 1))


def test_rgba_alpha_is_kept_and_reattached(tmp_path: Path) -> None:
    photo = data.astronaut()
    alpha = gradient_alpha(512, 512)
    source = tmp_path / "rgba.png"
    Image.fromarray(np.dstack([photo, alpha]), "RGBA").save(source)
    loaded = read_image(source)
    assert loaded.source_mode == "RGBA"
    assert loaded.alpha is not None
    np.testing.assert_array_equal(to_uint8(loaded.alpha), alpha)
    np.testing.assert_array_equal(to_uint8(loaded.rgb), photo)

    out = tmp_path / "out" / "rgba.png"
    write_image(out, loaded.rgb, loaded.alpha)
    with Image.open(out) as im:
        assert im.mode == "RGBA"
        written = np.asarray(im)
    np.testing.assert_array_equal(written[..., 3], alpha)
    np.testing.assert_array_equal(written[..., :3], photo)


@pytest.mark.parametrize("ext", [".webp", ".tif"])
def test_alpha_is_reattached_in_other_formats(tmp_path: Path, ext: str) -> None:
    rgb = as_float(data.astronaut())
    alpha = as_float(gradient_alpha(512, 512))
    path = tmp_path / f"out{ext}"
    write_image(path, rgb, alpha)
    loaded = read_image(path)
    assert loaded.alpha is not None
    np.testing.assert_array_equal(to_uint8(loaded.alpha), to_uint8(alpha))


@pytest.mark.parametrize("ext", [".jpg", ".bmp"])
def test_alpha_is_dropped_where_the_format_has_none(tmp_path: Path, ext: str) -> None:
    rgb = as_float(data.astronaut())
    path = tmp_path / f"out{ext}"
    write_image(path, rgb, np.zeros((512, 512), np.float32))
    with Image.open(path) as im:
        assert im.mode == "RGB"
    loaded = read_image(path)
    assert loaded.alpha is None
    # Dropped, not composited: fully transparent pixels keep their colour.
    assert mean_abs(loaded.rgb, rgb) < 0.02


def test_la_alpha_is_kept_and_reattached(tmp_path: Path) -> None:
    camera = data.camera()
    alpha = gradient_alpha(512, 512)[::-1].copy()
    source = tmp_path / "la.png"
    Image.merge("LA", [Image.fromarray(camera), Image.fromarray(alpha)]).save(source)
    loaded = read_image(source)
    assert loaded.source_mode == "LA"
    assert loaded.alpha is not None
    np.testing.assert_array_equal(to_uint8(loaded.alpha), alpha)
    for channel in range(3):
        np.testing.assert_array_equal(to_uint8(loaded.rgb[..., channel]), camera)

    out = tmp_path / "la_out.png"
    write_image(out, loaded.rgb, loaded.alpha)
    with Image.open(out) as im:
        np.testing.assert_array_equal(np.asarray(im.getchannel("A")), alpha)


def test_animated_gif_gives_first_frame(tmp_path: Path) -> None:
    red = Image.new("RGB", (30, 20), (255, 0, 0))
    blue = Image.new("RGB", (30, 20), (0, 0, 255))
    path = tmp_path / "anim.gif"
    red.save(path, save_all=True, append_images=[blue], duration=100, loop=0)
    with Image.open(path) as im:
        assert im.n_frames == 2
    loaded = read_image(path)
    assert loaded.size == (30, 20)
    np.testing.assert_allclose(loaded.rgb, np.broadcast_to([1.0, 0.0, 0.0], (20, 30, 3)))


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_exif_orientation_is_applied(tmp_path: Path, ext: str) -> None:
    # Stored 40 wide x 20 tall: left half red, right half blue, a green band along the top rows.
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:, :20] = (255, 0, 0)
    stored[:, 20:] = (0, 0, 255)
    stored[:4, :] = (0, 255, 0)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    path = tmp_path / f"rotated{ext}"
    Image.fromarray(stored).save(path, exif=exif.tobytes(), quality=95)

    loaded = read_image(path)
    assert loaded.size == (20, 40)
    pixels = to_uint8(loaded.rgb).astype(int)
    # Turned clockwise: the left half comes on top, the top rows become the right-hand columns.
    assert np.abs(pixels[8, 8] - (255, 0, 0)).max() < 40
    assert np.abs(pixels[30, 8] - (0, 0, 255)).max() < 40
    assert np.abs(pixels[8, 18] - (0, 255, 0)).max() < 40
    assert np.abs(pixels[30, 18] - (0, 255, 0)).max() < 40


def test_load_rgb_uint8(tmp_path: Path, cat: np.ndarray) -> None:
    path = tmp_path / "cat.png"
    Image.fromarray(cat).save(path)
    np.testing.assert_array_equal(load_rgb_uint8(path), cat)
    small = load_rgb_uint8(path, size=(64, 32))
    assert small.shape == (32, 64, 3) and small.dtype == np.uint8
    assert mean_abs(small.mean(axis=(0, 1)), cat.mean(axis=(0, 1))) < 8


# --- bad input ---------------------------------------------------------------------------------


def assert_refused(path: Path, reason_fragment: str, **kwargs: int) -> ImageError:
    with pytest.raises(ImageError) as info:
        read_image(path, **kwargs)
    assert path.name in str(info.value)
    assert reason_fragment in info.value.reason
    assert info.value.path == path
    return info.value


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    assert_refused(path, "empty")


def test_text_file_with_image_extension(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("this is not a picture\n" * 20)
    assert_refused(path, "not an image")


@pytest.mark.parametrize("ext", [".png", ".jpg"])
def test_truncated_file(tmp_path: Path, ext: str) -> None:
    whole = tmp_path / f"whole{ext}"
    Image.fromarray(data.astronaut()).save(whole)
    payload = whole.read_bytes()
    cut = tmp_path / f"cut{ext}"
    cut.write_bytes(payload[: len(payload) // 2])
    assert_refused(cut, "truncated")


def test_truncated_images_are_never_accepted_silently() -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_missing_file(tmp_path: Path) -> None:
    assert_refused(tmp_path / "nowhere.jpg", "no such file")


def test_directory(tmp_path: Path) -> None:
    folder = tmp_path / "folder.png"
    folder.mkdir()
    assert_refused(folder, "folder")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
@pytest.mark.timeout(10)
def test_named_pipe_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    assert_refused(fifo, "not a regular file")


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def test_decompression_bomb_is_refused_from_the_header(tmp_path: Path) -> None:
    header = struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)  # 8-bit RGB, would need ~10 GB
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
        + png_chunk(b"IEND", b"")
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning either
        error = assert_refused(bomb, "megapixel")
    assert time.perf_counter() - start < 0.5
    assert "60000×60000" in error.reason
    assert "3600.0 megapixels" in error.reason
    assert f"{DEFAULT_MAX_PIXELS // 1_000_000}-megapixel limit" in error.reason


def test_max_pixels_is_ours(tmp_path: Path) -> None:
    path = tmp_path / "small.png"
    Image.new("RGB", (100, 100)).save(path)
    assert_refused(path, "over the 0.005-megapixel limit", max_pixels=5000)
    assert read_image(path, max_pixels=10_000).size == (100, 100)


def test_pillow_limit_neither_refuses_nor_warns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # With Pillow's limit at 1000 pixels, a 100x100 image is a "bomb" to Pillow but not to us.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    path = tmp_path / "medium.png"
    Image.new("RGB", (100, 100), (10, 20, 30)).save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_image(path).size == (100, 100)
    assert Image.MAX_IMAGE_PIXELS == 1000  # put back afterwards


# --- writing -----------------------------------------------------------------------------------


def test_write_is_atomic_and_creates_folders(tmp_path: Path, cat: np.ndarray) -> None:
    target = tmp_path / "a" / "b" / "cat.png"
    write_image(target, as_float(cat))
    write_image(target, as_float(cat[::-1]))  # overwrite in place
    assert sorted(p.name for p in target.parent.iterdir()) == ["cat.png"]
    np.testing.assert_array_equal(to_uint8(read_image(target).rgb), cat[::-1])


def test_write_unknown_extension(tmp_path: Path) -> None:
    target = tmp_path / "out.xyz"
    with pytest.raises(ImageError) as info:
        write_image(target, np.zeros((4, 4, 3), np.float32))
    assert "out.xyz" in str(info.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs an unprivileged POSIX user")
def test_write_permission_denied(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(ImageError) as info:
            write_image(locked / "out.png", np.zeros((4, 4, 3), np.float32))
        assert "out.png" in str(info.value)
    finally:
        locked.chmod(0o700)


def test_write_where_a_file_blocks_the_folder(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file, not a folder")
    with pytest.raises(ImageError) as info:
        write_image(tmp_path / "taken" / "out.png", np.zeros((4, 4, 3), np.float32))
    assert "out.png" in str(info.value)


def test_write_rejects_wrong_shapes(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_image(tmp_path / "x.png", np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError):
        write_image(tmp_path / "x.png", np.zeros((4, 4, 3), np.float32), np.zeros((3, 4), np.float32))


# --- listing -----------------------------------------------------------------------------------


def test_is_image_file() -> None:
    assert is_image_file("a.PNG") and is_image_file(Path("b.Jpeg")) and is_image_file("c.tiff")
    assert not is_image_file("notes.txt") and not is_image_file("png") and not is_image_file("a.png.txt")


def test_list_images(tmp_path: Path) -> None:
    for name in [
        "b.png",
        "A.JPG",
        "notes.txt",
        ".hidden.png",
        "sub/c.tif",
        "sub/deeper/d.webp",
        "sub/readme.md",
        ".cache/e.png",
        "sub/.thumbs/f.jpg",
    ]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "folder.png").mkdir()  # a folder with an image-like name is not an image

    assert list_images(tmp_path) == [
        tmp_path / "A.JPG",
        tmp_path / "b.png",
        tmp_path / "sub" / "c.tif",
        tmp_path / "sub" / "deeper" / "d.webp",
    ]
    assert list_images(str(tmp_path), recursive=False) == [tmp_path / "A.JPG", tmp_path / "b.png"]


def test_list_images_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ImageError) as info:
        list_images(tmp_path / "gone")
    assert "gone" in str(info.value)


# --- tensors -----------------------------------------------------------------------------------


def test_tensor_round_trip(cat: np.ndarray) -> None:
    rgb = as_float(cat)
    tensor = image_to_tensor(rgb)
    assert tensor.shape == (1, 3, 300, 451) and tensor.dtype == torch.float32
    assert tensor.min() >= -1.0 and tensor.max() <= 1.0
    assert torch.allclose(tensor[0, :, 7, 11], torch.from_numpy(rgb[7, 11]) * 2 - 1)
    back = tensor_to_image(tensor)
    assert back.shape == rgb.shape and back.dtype == np.float32
    np.testing.assert_allclose(back, rgb, atol=1e-6)
    np.testing.assert_allclose(tensor_to_image(tensor[0]), rgb, atol=1e-6)


def test_tensor_to_image_clamps_and_detaches() -> None:
    t = torch.tensor([-3.0, -1.0, 0.0, 1.0, 5.0]).reshape(1, 1, 1, 5).repeat(1, 3, 1, 1).requires_grad_()
    image = tensor_to_image(t * 1.0)  # a non-leaf that needs grad: numpy() would refuse it undetached
    np.testing.assert_allclose(image[0, :, 0], [0.0, 0.0, 0.5, 1.0, 1.0])


def test_to_uint8_rounds_to_nearest_and_clamps() -> None:
    values = np.array([-0.5, 0.0, 0.49 / 255, 0.51 / 255, 100.4 / 255, 100.6 / 255, 1.0, 7.0, np.nan])
    np.testing.assert_array_equal(to_uint8(values), [0, 0, 0, 1, 100, 101, 255, 255, 0])
    assert to_uint8(values).dtype == np.uint8
