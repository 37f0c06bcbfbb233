"""Several dropout samples of the same drawing side by side: pix2pix's noise made visible."""

from __future__ import annotations

import random

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QDialog, QGridLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from sketchpad.widgets.result_view import to_qimage


class VariationsDialog(QDialog):
    """A 2x2 grid of samples; clicking "Use seed N" under one makes it the main view's seed."""

    reroll_requested = Signal()
    seed_chosen = Signal(int)

    def __init__(self, parent: QWidget | None = None, n: int = 4, thumb: int = 220):
        super().__init__(parent)
        self.setWindowTitle("Variations")
        self.n, self.thumb = n, thumb
        self.seeds: list[int] = []
        lay = QVBoxLayout(self)
        note = QLabel("Dropout samples of the same drawing: each seed gives one. Pick a seed to keep it.")
        note.setWordWrap(True)
        lay.addWidget(note)
        grid = QGridLayout()
        lay.addLayout(grid)
        self._images: list[QLabel] = []
        self._buttons: list[QPushButton] = []
        for i in range(n):
            img = QLabel("…")
            img.setFixedSize(thumb, thumb)
            img.setAlignment(Qt.AlignmentFlag.AlignCenter)
            img.setFrameShape(QLabel.Shape.StyledPanel)
            b = QPushButton("Use this seed")
            b.setEnabled(False)
            b.clicked.connect(lambda _=False, k=i: self._use(k))
            box = QVBoxLayout()
            box.addWidget(img)
            box.addWidget(b)
            grid.addLayout(box, i // 2, i % 2)
            self._images.append(img)
            self._buttons.append(b)
        row = QHBoxLayout()
        again = QPushButton("New samples")
        again.clicked.connect(self.reroll_requested)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        row.addStretch(1)
        row.addWidget(again)
        row.addWidget(close)
        lay.addLayout(row)

    def new_seeds(self) -> list[int]:
        self.seeds = [random.randrange(1, 2**31) for _ in range(self.n)]
        for img, b in zip(self._images, self._buttons, strict=True):
            img.setPixmap(QPixmap())
            img.setText("…")
            b.setEnabled(False)
        return self.seeds

    def show_results(self, images: list[np.ndarray], seeds: list[int]) -> None:
        if list(seeds) != self.seeds:
            return  # an answer to an older request
        self.arrays = [np.array(a) for a in images]
        for img, b, a, s in zip(self._images, self._buttons, images, seeds, strict=False):
            pm = QPixmap.fromImage(to_qimage(a)).scaled(
                self.thumb,
                self.thumb,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
            img.setPixmap(pm)
            b.setText(f"Use seed {s}")
            b.setEnabled(True)

    def _use(self, k: int) -> None:
        if k < len(self.seeds):
            self.seed_chosen.emit(self.seeds[k])
