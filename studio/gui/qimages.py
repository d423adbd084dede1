"""Pixels between numpy and Qt: QImage conversion, a zoom pyramid, input/output blending.

Everything here is safe off the GUI thread (QImage, never QPixmap), so workers prepare what the
views draw.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from studio.core.images import to_uint8

PYRAMID_MIN_SIDE = 384  # stop halving below this: small levels are cheap to draw scaled


def qimage_from_array(pixels: np.ndarray) -> QImage:
    """(H, W, 3) uint8 or float in [0, 1] -> an RGB888 QImage that owns its pixels."""
    if pixels.dtype != np.uint8:
        pixels = to_uint8(pixels)
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], 3, axis=2)
    pixels = np.ascontiguousarray(pixels[..., :3])
    height, width = pixels.shape[:2]
    image = QImage(pixels.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return image.copy()  # detach from the numpy buffer


def array_from_qimage(image: QImage) -> np.ndarray:
    """A QImage -> (H, W, 3) uint8 (a copy)."""
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    width, height, stride = image.width(), image.height(), image.bytesPerLine()
    buffer = np.frombuffer(image.constBits(), dtype=np.uint8, count=stride * height)
    return buffer.reshape(height, stride)[:, : 3 * width].reshape(height, width, 3).copy()


@dataclass
class Picture:
    """An image ready to draw at any zoom: the full-size QImage and halved copies of it."""

    levels: list[QImage] = field(default_factory=list)

    @property
    def width(self) -> int:
        return self.levels[0].width()

    @property
    def height(self) -> int:
        return self.levels[0].height()

    @property
    def image(self) -> QImage:
        return self.levels[0]

    def level_for(self, zoom: float) -> tuple[QImage, float]:
        """The smallest level still at least as detailed as ``zoom`` needs, and its scale."""
        scale = 1.0
        chosen = self.levels[0]
        for level in self.levels[1:]:
            level_scale = level.width() / self.width
            if level_scale < zoom:
                break
            chosen, scale = level, level_scale
        return chosen, scale


def make_picture(pixels: np.ndarray | QImage) -> Picture:
    image = pixels if isinstance(pixels, QImage) else qimage_from_array(pixels)
    levels = [image]
    while min(levels[-1].width(), levels[-1].height()) >= 2 * PYRAMID_MIN_SIDE:
        last = levels[-1]
        levels.append(last.scaled(last.width() // 2, last.height() // 2, Qt.AspectRatioMode.IgnoreAspectRatio,
                                  Qt.TransformationMode.SmoothTransformation))
    return Picture(levels)


def blend(original: np.ndarray, result: np.ndarray, strength: float) -> np.ndarray:
    """Mix of input and output as float32 in [0, 1]: ``strength`` 0 is the input, 1 the result."""
    a = original.astype(np.float32) / (255.0 if original.dtype == np.uint8 else 1.0)
    b = result.astype(np.float32) / (255.0 if result.dtype == np.uint8 else 1.0)
    if strength >= 1.0:
        return b
    if strength <= 0.0:
        return a
    return a * np.float32(1.0 - strength) + b * np.float32(strength)
