"""Colour swatches: named class colours for label maps, or basic + recent colours for line art."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QColorDialog,
    QHBoxLayout,
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
    """A row of swatches. set_palette(palette) shows one named button per label class;
    set_palette(None) shows basic colours, a "more" colour dialog and a row of recent colours."""

    color_selected = Signal(tuple)  # (r, g, b)

    def __init__(self, parent: QWidget | None = None, *, swatch: int = 22):
        super().__init__(parent)
        self._swatch = swatch
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
        while self._layout.count():
            item = self._layout.takeAt(0)
            if item.layout() is not None:
                while item.layout().count():
                    w = item.layout().takeAt(0).widget()
                    if w is not None:
                        w.deleteLater()
                item.layout().deleteLater()
            elif item.widget() is not None:
                item.widget().deleteLater()
        self._buttons = {}
        if self._palette is not None:
            row = self._row()
            for name, rgb in self._palette:
                b = self._button(rgb, name)
                b.setText(name)
                b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
                row.addWidget(b)
            row.addStretch(1)
            return
        row = self._row()
        for name, rgb in BASIC:
            row.addWidget(self._button(rgb, name))
        more = QToolButton(self)
        more.setText("…")
        more.setToolTip("More colours")
        more.clicked.connect(self._choose)
        row.addWidget(more)
        row.addStretch(1)
        if self._recent:
            row = self._row()
            label = QLabel("Recent", self)
            row.addWidget(label)
            for rgb in self._recent:
                if rgb not in self._buttons:
                    row.addWidget(self._button(rgb, "recent"))
            row.addStretch(1)

    def _row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(2)
        self._layout.addLayout(row)
        return row

    def _button(self, rgb: RGB, name: str) -> QToolButton:
        b = QToolButton(self)
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
