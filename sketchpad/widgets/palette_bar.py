"""Colour swatches: named class colours for label maps, or basic + recent colours for line art."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QColorDialog,
    QGridLayout,
    QLabel,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

Palette = list[tuple[str, tuple[int, int, int]]]
RGB = tuple[int, int, int]

BASIC: Palette = [
    ("black", (0, 0, 0)),
    ("dark grey", (64, 64, 64)),
    ("grey", (128, 128, 128)),
    ("light grey", (192, 192, 192)),
    ("white", (255, 255, 255)),
    ("red", (200, 30, 30)),
    ("orange", (240, 140, 20)),
    ("yellow", (240, 220, 40)),
    ("green", (40, 160, 60)),
    ("blue", (30, 80, 200)),
    ("purple", (130, 50, 170)),
    ("brown", (120, 70, 30)),
]
MAX_RECENT = 8


def _swatch_icon(rgb: RGB, size: int) -> QIcon:
    pm = QPixmap(size, size)
    pm.fill(QColor(*rgb))
    return QIcon(pm)


class PaletteBar(QWidget):
    """Swatches. set_palette(palette) shows one named button per label class (in rows of `columns`);
    set_palette(None) shows basic colours, a "more" colour dialog and a row of recent colours."""

    color_selected = Signal(tuple)  # (r, g, b)

    def __init__(self, parent: QWidget | None = None, *, swatch: int = 22, columns: int = 6):
        super().__init__(parent)
        self._swatch = swatch
        self._columns = columns  # label classes per row
        self._body: QWidget | None = None
        self._palette: Palette | None = None
        self._recent: list[RGB] = []
        self._current: RGB | None = None
        self._buttons: dict[RGB, QToolButton] = {}
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(2, 2, 2, 2)
        self._layout.setSpacing(2)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.set_palette(None)

    def palette_colors(self) -> Palette | None:
        return None if self._palette is None else list(self._palette)

    def buttons(self) -> dict[RGB, QToolButton]:
        """The swatch button of each shown colour (tests click these)."""
        return dict(self._buttons)

    def set_palette(self, palette: Palette | None) -> None:
        self._palette = None if palette is None else [(str(n), tuple(int(v) for v in c)) for n, c in palette]
        self._rebuild()

    def set_current(self, rgb: tuple[int, int, int]) -> None:
        """Mark `rgb` as the current colour (and, for line art, remember it as recent)."""
        rgb = tuple(int(v) for v in rgb)
        self._current = rgb
        if self._palette is None and rgb not in self._recent:
            self._recent = [rgb, *self._recent][:MAX_RECENT]
            self._rebuild()
        for c, b in self._buttons.items():
            b.setChecked(c == rgb)

    def _rebuild(self) -> None:
        # Swatches live in one child widget that is swapped whole, so no stale button lingers
        # until the event loop gets round to deleting it.
        if self._body is not None:
            self._body.hide()
            self._body.deleteLater()
        self._body = QWidget(self)
        grid = QGridLayout(self._body)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(2)
        self._buttons = {}
        if self._palette is not None:
            cols = max(1, self._columns)
            for i, (name, rgb) in enumerate(self._palette):
                b = self._button(rgb, name, self._body)
                b.setText(name)
                b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
                b.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
                grid.addWidget(b, i // cols, i % cols)
        else:
            for i, (name, rgb) in enumerate(BASIC):
                grid.addWidget(self._button(rgb, name, self._body), 0, i)
            more = QToolButton(self._body)
            more.setText("…")
            more.setToolTip("More colours")
            more.clicked.connect(self._choose)
            grid.addWidget(more, 0, len(BASIC))
            if self._recent:
                grid.addWidget(QLabel("Recent", self._body), 1, 0, 1, 2)
                col = 2
                for rgb in self._recent:
                    if rgb not in self._buttons:
                        grid.addWidget(self._button(rgb, "recent", self._body), 1, col)
                        col += 1
            grid.setColumnStretch(len(BASIC) + 1, 1)
        self._layout.addWidget(self._body)
        self._body.show()

    def _button(self, rgb: RGB, name: str, parent: QWidget) -> QToolButton:
        b = QToolButton(parent)
        b.setIcon(_swatch_icon(rgb, self._swatch))
        b.setIconSize(QSize(self._swatch, self._swatch))
        b.setToolTip(f"{name}  rgb{rgb}")
        b.setCheckable(True)
        b.setChecked(rgb == self._current)
        b.setAutoRaise(True)
        b.clicked.connect(lambda _=False, c=rgb: self._select(c))
        self._buttons[rgb] = b
        return b

    def _select(self, rgb: RGB) -> None:
        self.set_current(rgb)
        self.color_selected.emit(rgb)

    def _choose(self) -> None:
        c = QColorDialog.getColor(QColor(*(self._current or (0, 0, 0))), self, "Colour")
        if c.isValid():
            self._select((c.red(), c.green(), c.blue()))
