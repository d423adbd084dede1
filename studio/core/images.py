"""Read and write every image an artist has, and move pixels between numpy and torch.

Everything here speaks float32 RGB in [0, 1] with the alpha kept aside, so the models never see
palettes, CMYK, 16-bit integers or EXIF rotations. Any file that cannot be read becomes an
``ImageError`` naming the file and the reason, never a traceback from deep inside Pillow.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from studio.core.errors import ImageError
from studio.core.fileio import atomic_path

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif"}
)
DEFAULT_MAX_PIXELS: int = 200_000_000

# Only these decoders may run, whatever the extension says: a file renamed to .png must not reach
# Pillow's EPS plugin (which shells out to Ghostscript) or any other exotic decoder. Multi-picture
# camera JPEGs (MPO) come in through "JPEG", which has no separate opener.
_READ_FORMATS = ("PNG", "JPEG", "WEBP", "TIFF", "BMP", "DIB", "GIF")

_WRITE_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    ".gif": "GIF",
}
_FORMATS_WITH_ALPHA = frozenset({"PNG", "WEBP", "TIFF"})
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})


@dataclass
class LoadedImage:
    """A decoded image: RGB and (optional) alpha as float32 in [0, 1], orientation already applied."""

    rgb: np.ndarray
    alpha: np.ndarray | None
    path: Path
    source_mode: str

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), like Pillow."""
        return int(self.rgb.shape[1]), int(self.rgb.shape[0])


# Pillow's own bomb guard warns at ~89 MP and refuses at ~179 MP: below our limit, so it would
# refuse images we accept and print warnings. We check the declared size ourselves before any
# decoding, so the guard is switched off while at least one read is running (counted, so that
# parallel reads neither serialise nor restore the setting under each other's feet).
_guard_lock = threading.Lock()
_guard_users = 0
_guard_saved: int | None = None


@contextlib.contextmanager
def _pillow_bomb_guard_off() -> Iterator[None]:
    global _guard_users, _guard_saved
    with _guard_lock:
        if _guard_users == 0:
            _guard_saved = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
        _guard_users += 1
    try:
        yield
    finally:
        with _guard_lock:
            _guard_users -= 1
            if _guard_users == 0:
                Image.MAX_IMAGE_PIXELS = _guard_saved


def read_image(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Decode ``path`` fully; raise ``ImageError`` for anything that is not a readable image."""
    path = Path(path)
    _check_is_readable_file(path)
    with _pillow_errors(path), _pillow_bomb_guard_off(), Image.open(path, formats=_READ_FORMATS) as im:
        _check_size(path, im, max_pixels)
        source_mode = im.mode
        im.load()  # decode everything now, so a truncated file fails here and not later
        ImageOps.exif_transpose(im, in_place=True)
        rgb, alpha = _to_float_arrays(im)
    log.debug("read %s: %dx%d from mode %s", path, rgb.shape[1], rgb.shape[0], source_mode)
    return LoadedImage(rgb=rgb, alpha=alpha, path=path, source_mode=source_mode)


def probe_image(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """(width, height) from the header alone (and, for PNG, the chunk checksums), with the same
    rules as :func:`read_image`: allowed decoders, empty files, FIFOs, the size limit. Quick on
    thousands of files; pixel data broken past the header is only found when decoded."""
    path = Path(path)
    _check_is_readable_file(path)
    with _pillow_errors(path), _pillow_bomb_guard_off(), Image.open(path, formats=_READ_FORMATS) as im:
        _check_size(path, im, max_pixels)
        width, height = im.size
        im.verify()
    return width, height


def _check_size(path: Path, im: Image.Image, max_pixels: int) -> None:
    width, height = im.size
    if width * height > max_pixels:
        raise ImageError(
            path,
            f"image is {width}×{height} ({width * height / 1e6:.1f} megapixels), "
            f"over the {max_pixels / 1e6:g}-megapixel limit",
        )


@contextlib.contextmanager
def _pillow_errors(path: Path) -> Iterator[None]:
    """Pillow's many ways of saying "bad file", as one :class:`ImageError` naming the file."""
    try:
        yield
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError(path, "no such file") from None
    except IsADirectoryError:
        raise ImageError(path, "is a folder") from None
    except PermissionError:
        raise ImageError(path, "permission denied") from None
    except UnidentifiedImageError:
        raise ImageError(path, "not an image file") from None
    except MemoryError:
        raise ImageError(path, "not enough memory to decode this image") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, zlib.error) as exc:
        # Pillow reports broken data through all of these, depending on the format and the stage.
        log.debug("decoding %s failed: %r", path, exc)
        raise ImageError(path, "image data is truncated or corrupt") from None
    except Exception as exc:  # a decoder bug on a hostile file must still read as a bad file
        log.warning("unexpected error decoding %s", path, exc_info=True)
        raise ImageError(path, f"cannot be decoded ({type(exc).__name__})") from None


def _check_is_readable_file(path: Path) -> None:
    """Give the common mistakes a clear reason, and never open a FIFO or device (it could block)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ImageError(path, "no such file") from None
    except OSError as exc:
        raise ImageError(path, f"cannot be opened ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageError(path, "is a folder")
    if not stat.S_ISREG(st.st_mode):
        raise ImageError(path, "is not a regular file")
    if st.st_size == 0:
        raise ImageError(path, "file is empty")


def _to_float_arrays(im: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    mode = im.mode
    if mode in _SIXTEEN_BIT_MODES:
        # Pillow keeps one-channel 16-bit data as integers ("I" is how older Pillows and some TIFFs
        # hold it), which is the only way 16-bit precision survives: don't round-trip through "L".
        grey = np.clip(np.asarray(im, dtype=np.float32) / 65535.0, 0.0, 1.0)
        return _grey_to_rgb(grey), None
    if mode == "F":
        # Float images have no agreed range; [0, 1] is the convention of the tools that write them.
        grey = np.clip(np.nan_to_num(np.asarray(im, dtype=np.float32)), 0.0, 1.0)
        return _grey_to_rgb(grey), None
    if "A" in mode or "a" in mode or "transparency" in im.info:
        # Covers RGBA, LA, PA, premultiplied RGBa/La, palette and colour-key (tRNS) transparency.
        arr = np.asarray(im.convert("RGBA"), dtype=np.float32)
        arr /= 255.0
        return np.ascontiguousarray(arr[..., :3]), np.ascontiguousarray(arr[..., 3])
    # "1", "L", "P", "CMYK" (Adobe's inverted variant is undone by the JPEG decoder), "YCbCr", ...
    rgb = np.asarray(im.convert("RGB"), dtype=np.float32)
    rgb /= 255.0
    return rgb, None


def _grey_to_rgb(grey: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2))


def write_image(
    path: str | Path, rgb: np.ndarray, alpha: np.ndarray | None = None, *, quality: int = 95
) -> None:
    """Write 8-bit ``rgb`` (H, W, 3) in [0, 1] atomically; the format follows the extension.

    The alpha is re-attached for PNG, WebP and TIFF and dropped for the others. A wrong array
    shape is a programming error and raises ``ValueError``; file problems raise ``ImageError``.
    """
    path = Path(path)
    fmt = _WRITE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImageError(path, f"unknown image format {path.suffix or '(no extension)'!r}")
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb must have shape (H, W, 3), got {rgb.shape}")
    image = Image.fromarray(to_uint8(rgb), "RGB")
    if alpha is not None and fmt in _FORMATS_WITH_ALPHA:
        alpha = np.asarray(alpha)
        if alpha.shape != rgb.shape[:2]:
            raise ValueError(f"alpha must have shape {rgb.shape[:2]}, got {alpha.shape}")
        image.putalpha(Image.fromarray(to_uint8(alpha), "L"))
    options: dict[str, object] = {}
    if fmt in ("JPEG", "WEBP"):
        options["quality"] = quality
    if fmt == "JPEG" and quality >= 90:
        options["subsampling"] = "4:4:4"  # at high quality, halved chroma is the visible loss
    try:
        with atomic_path(path) as tmp:
            image.save(tmp, format=fmt, **options)
    except OSError as exc:
        raise ImageError(path, f"cannot be written ({exc.strerror or exc})") from None
    log.debug("wrote %s (%s, %dx%d)", path, fmt, image.width, image.height)


def image_to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) in [0, 1] -> (1, 3, H, W) float32 in [-1, 1], the range the generators use."""
    rgb = np.asarray(rgb, dtype=np.float32)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb must have shape (H, W, 3), got {rgb.shape}")
    # One new full-size array, not three: large photos are hundreds of megabytes each.
    tensor = torch.empty(1, 3, rgb.shape[0], rgb.shape[1])
    tensor[0].copy_(torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1))
    return tensor.mul_(2.0).sub_(1.0)


def tensor_to_image(t: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) or (3, H, W) in [-1, 1] -> (H, W, 3) float32 in [0, 1] on the CPU, clamped."""
    if t.ndim == 4:
        if t.shape[0] != 1:
            raise ValueError(f"expected a batch of one image, got {tuple(t.shape)}")
        t = t[0]
    if t.ndim != 3 or t.shape[0] != 3:
        raise ValueError(f"expected (3, H, W) or (1, 3, H, W), got {tuple(t.shape)}")
    t = t.detach().to("cpu", torch.float32)
    out = torch.empty(t.shape[1], t.shape[2], 3)
    out.copy_(t.permute(1, 2, 0))
    return out.add_(1.0).mul_(0.5).clamp_(0.0, 1.0).numpy()


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """[0, 1] floats -> uint8, rounded to nearest and clamped (NaN becomes 0)."""
    scaled = np.nan_to_num(np.asarray(rgb, dtype=np.float32))  # a copy (nan_to_num copies by default)
    np.clip(scaled, 0.0, 1.0, out=scaled)
    scaled *= 255.0
    np.rint(scaled, out=scaled)
    return scaled.astype(np.uint8)


def tensor_to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Generator output (..., 3, H, W) in [-1, 1] -> uint8 of the same shape, rounded and clamped:
    the one conversion previews, latent frames and metrics share."""
    return ((images.detach().float().clamp(-1, 1) + 1.0) * 127.5).round_().to(torch.uint8)


def uint8_to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) -> float32 (3, H, W) in [-1, 1]: the tensors training and the latent models see."""
    chw = np.ascontiguousarray(pixels.transpose(2, 0, 1), dtype=np.float32)
    return torch.from_numpy(chw / 127.5 - 1.0)


def is_image_file(path: str | Path) -> bool:
    """Whether the extension is one we read (case-insensitive); the content is not looked at."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def list_images(folder: str | Path, recursive: bool = True) -> list[Path]:
    """The image files under ``folder``, sorted; hidden files and folders are skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageError(folder, "no such folder" if not folder.exists() else "is not a folder")
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")] if recursive else []
        found.extend(Path(root, name) for name in files if not name.startswith(".") and is_image_file(name))
    return sorted(found)


def load_rgb_uint8(path: str | Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """Read ``path`` as uint8 (H, W, 3), resized (bicubic) to ``size`` = (width, height) if given."""
    pixels = to_uint8(read_image(path).rgb)
    return pixels if size is None else resize_uint8(pixels, size)


def resize_uint8(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 (H, W, 3) resized (bicubic) to ``size`` = (width, height); the same array if it has that size."""
    width, height = size
    if (pixels.shape[1], pixels.shape[0]) == (width, height):
        return pixels
    return np.asarray(Image.fromarray(pixels).resize((width, height), Image.Resampling.BICUBIC))
