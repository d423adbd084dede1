"""Files from ``resources/``: the stylesheet and its themes, themed SVG icons, sample photos.

Icons are SVG templates whose ``{fg}``/``{accent}``/... tokens take the current theme's colours
when they are drawn, so switching the theme recolours every icon without rebuilding widgets.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

from PySide6.QtCore import QByteArray, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QIconEngine, QImage, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication

from studio.core import paths

log = logging.getLogger(__name__)

THEMES = ("light", "dark")
_current_theme = "light"


def resource_path(*parts: str) -> Path:
    return paths.resources_dir().joinpath(*parts)


@functools.cache
def _palettes() -> dict[str, dict[str, str]]:
    return json.loads(resource_path("themes.json").read_text(encoding="utf-8"))


def colors(theme: str | None = None) -> dict[str, str]:
    """The named colours of a theme (``window``, ``text``, ``accent``, ...)."""
    return _palettes()[theme or _current_theme]


def current_theme() -> str:
    return _current_theme


def stylesheet(theme: str) -> str:
    text = resource_path("style.qss").read_text(encoding="utf-8")
    for name, value in {**colors(theme), **_stylesheet_images(theme)}.items():
        text = text.replace("{{" + name + "}}", value)
    return text


def _stylesheet_images(theme: str) -> dict[str, str]:
    """Arrows for combo and spin boxes: QSS takes image files, so the themed SVGs are rendered to PNG."""
    folder = Path(tempfile.gettempdir()) / f"studio-qss-{os.getuid() if hasattr(os, 'getuid') else 0}"
    folder.mkdir(parents=True, exist_ok=True)
    images = {}
    for name, role in (("chevron-down", "muted"), ("chevron-up", "muted"), ("checkmark", "accent_text")):
        text = _svg_template(name).replace("{fg}", colors(theme)[role])
        digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]
        target = folder / f"{name}-{digest}.png"
        if not target.exists():
            renderer = QSvgRenderer(QByteArray(text.encode("utf-8")))
            image = QImage(32, 32, QImage.Format.Format_ARGB32_Premultiplied)
            image.fill(Qt.GlobalColor.transparent)
            painter = QPainter(image)
            renderer.render(painter, QRectF(0, 0, 32, 32))
            painter.end()
            image.save(str(target))
        images[name.replace("-", "_")] = target.as_posix()
    return images


def apply_theme(app: QApplication, theme: str) -> None:
    """Fusion style, a matching palette (for what the stylesheet does not cover) and the stylesheet."""
    global _current_theme
    if theme not in THEMES:
        log.warning("unknown theme %r, using light", theme)
        theme = "light"
    _current_theme = theme
    c = colors(theme)
    app.setStyle("Fusion")
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: c["window"], QPalette.ColorRole.WindowText: c["text"],
        QPalette.ColorRole.Base: c["surface"], QPalette.ColorRole.AlternateBase: c["window"],
        QPalette.ColorRole.Text: c["text"], QPalette.ColorRole.Button: c["surface"],
        QPalette.ColorRole.ButtonText: c["text"], QPalette.ColorRole.Highlight: c["accent"],
        QPalette.ColorRole.HighlightedText: c["accent_text"], QPalette.ColorRole.ToolTipBase: c["surface"],
        QPalette.ColorRole.ToolTipText: c["text"], QPalette.ColorRole.PlaceholderText: c["muted"],
        QPalette.ColorRole.Link: c["accent"],
    }
    for role, value in roles.items():
        palette.setColor(role, QColor(value))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(c["muted"]))
    app.setPalette(palette)
    app.setStyleSheet(stylesheet(theme))
    for widget in app.allWidgets():  # icons are drawn with the theme's colours at paint time
        widget.update()


# -- icons -----------------------------------------------------------------------------------------

@functools.cache
def _svg_template(name: str) -> str:
    path = resource_path("icons", f"{name}.svg")
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        log.warning("icon %s is missing", path)
        return '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"/>'


class _ThemedSvgEngine(QIconEngine):
    """Renders an SVG template with the colours of the theme in use when it is painted."""

    def __init__(self, name: str, role: str = "text"):
        super().__init__()
        self._name = name
        self._role = role
        self._cache: dict[tuple, QPixmap] = {}

    def _svg(self, mode: QIcon.Mode) -> bytes:
        c = colors()
        fg = c["muted"] if mode == QIcon.Mode.Disabled else c[self._role]
        accent = c["muted"] if mode == QIcon.Mode.Disabled else c["accent"]
        text = _svg_template(self._name)
        for token, value in (("{fg}", fg), ("{accent}", accent), ("{warn}", c["warn"]),
                             ("{ok}", c["ok"]), ("{err}", c["err"])):
            text = text.replace(token, value)
        return text.encode("utf-8")

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        key = (size.width(), size.height(), mode, _current_theme)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        image = QImage(size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        renderer = QSvgRenderer(QByteArray(self._svg(mode)))
        painter = QPainter(image)
        side = min(size.width(), size.height())
        renderer.render(painter, QRectF((size.width() - side) / 2, (size.height() - side) / 2, side, side))
        painter.end()
        pixmap = QPixmap.fromImage(image)
        self._cache[key] = pixmap
        return pixmap

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode, state: QIcon.State) -> None:
        ratio = painter.device().devicePixelRatioF() if painter.device() else 1.0
        pix = self.pixmap(QSize(int(rect.width() * ratio), int(rect.height() * ratio)), mode, state)
        painter.drawPixmap(rect, pix)

    def clone(self) -> QIconEngine:
        return _ThemedSvgEngine(self._name, self._role)


def icon(name: str, role: str = "text") -> QIcon:
    """A themed icon from ``resources/icons/NAME.svg``; ``role`` names the theme colour for ``{fg}``."""
    return QIcon(_ThemedSvgEngine(name, role))


def app_icon() -> QIcon:
    result = QIcon()
    renderer = QSvgRenderer(str(resource_path("icons", "app.svg")))
    for side in (16, 24, 32, 48, 64, 128, 256):
        image = QImage(side, side, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter, QRectF(0, 0, side, side))
        painter.end()
        result.addPixmap(QPixmap.fromImage(image))
    return result


def icon_pixmap(name: str, side: int, role: str = "text") -> QPixmap:
    return icon(name, role).pixmap(QSize(side, side))


def sample_photos() -> list[Path]:
    """The sample photos shipped in ``resources/samples`` (public domain / CC0; see resources/README.md)."""
    folder = resource_path("samples")
    return sorted(p for p in folder.glob("*.jpg")) if folder.is_dir() else []

