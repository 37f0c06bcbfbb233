"""The training panel's Watch tab: the loss curves above, the newest sample grid below with a strip of the
earlier ones, both in view while a run trains (as TensorBoard's scalars and images)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from sketchpad.widgets.loss_plot import LossPlot

SAMPLE_HISTORY = 12  # thumbnails of earlier sample grids kept under the newest


class ScaledImage(QLabel):
    """A picture that fills the label at its aspect ratio, rescaled whenever the label is resized."""

    def __init__(self, text: str = ""):
        super().__init__(text)
        self._source = QPixmap()
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)

    def set_source(self, pm: QPixmap) -> None:
        self._source = pm
        self._rescale()

    def source(self) -> QPixmap:
        return self._source

    def _rescale(self) -> None:
        if self._source.isNull():
            self.setPixmap(QPixmap())
            return
        self.setPixmap(
            self._source.scaled(
                self.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
        )

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._rescale()


class WatchView(QSplitter):
    """Loss curves and sample grids of one run; `reset` empties both for the next."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(Qt.Orientation.Vertical, parent)
        self.samples_seen = 0
        self.last_sample = ""
        self.plot = LossPlot()
        self.sample_view = ScaledImage(
            "Samples appear here as training goes (rows: input | output | target)."
        )
        self.sample_view.setWordWrap(True)
        self.sample_view.setMinimumSize(200, 120)  # the dock fits a 768-px screen
        self.sample_caption = QLabel("")
        self.sample_caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        # Earlier samples, newest first, in a strip that scrolls rather than squeezing the thumbnails.
        strip = QWidget()
        self.history = QHBoxLayout(strip)
        self.history.setContentsMargins(0, 0, 0, 0)
        self.history.addStretch(1)
        self.history_scroll = QScrollArea(widgetResizable=True)
        self.history_scroll.setWidget(strip)
        self.history_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.history_scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.history_scroll.setFixedHeight(76)
        samples = QWidget()
        sv = QVBoxLayout(samples)
        sv.setContentsMargins(0, 0, 0, 0)
        sv.addWidget(self.sample_view, 1)
        sv.addWidget(self.sample_caption)
        sv.addWidget(self.history_scroll)
        self.addWidget(self.plot)
        self.addWidget(samples)
        self.setStretchFactor(0, 2)
        self.setStretchFactor(1, 3)
        self.setSizes([200, 300])  # the samples get the larger share: they show what is learnt

    def reset(self) -> None:
        """Empty curves and samples for a new run."""
        self.plot.clear()
        self.samples_seen = 0
        self.last_sample = ""
        self.sample_view.set_source(QPixmap())
        self.sample_caption.clear()
        while self.history.count() > 1:
            w = self.history.takeAt(0).widget()
            if w is not None:
                w.deleteLater()

    def add_losses(self, it: int, losses: dict) -> None:
        self.plot.add(it, losses or {})

    def load_metrics(self, events: list[dict]) -> None:
        """The curves of a run so far, from its metrics.jsonl events (a resumed run)."""
        self.plot.load_metrics(events)

    def show_sample(self, ev: dict, total: int = 0) -> None:
        """A "sample" event: its grid becomes the newest, the one before goes to the strip."""
        path = str(ev.get("path", ""))
        pm = QPixmap(path)
        if pm.isNull():
            return
        if self.last_sample:
            self._push_history(self.last_sample)
        self.last_sample = path
        self.samples_seen += 1
        self.sample_view.set_source(pm)
        of = f" of {total}" if total else ""
        self.sample_caption.setText(
            f"Sample {self.samples_seen}: epoch {ev.get('epoch', '?')}, iteration {ev.get('iter', '?')}{of}"
            "  (input | output | target)"
        )

    def _push_history(self, path: str) -> None:
        pm = QPixmap(path)
        if pm.isNull():
            return
        small = pm.scaledToHeight(48, Qt.TransformationMode.SmoothTransformation)
        thumb = QToolButton()
        thumb.setAutoRaise(True)
        thumb.setIcon(small)
        thumb.setIconSize(small.size())
        thumb.setFixedSize(small.size() + QSize(6, 6))  # never squeezed below the picture
        thumb.setToolTip(f"{Path(path).name}: click to show it above")
        thumb.clicked.connect(lambda *_, p=path: self.sample_view.set_source(QPixmap(p)))
        self.history.insertWidget(0, thumb)
        while self.history.count() > SAMPLE_HISTORY + 1:
            w = self.history.takeAt(self.history.count() - 2).widget()
            if w is not None:
                w.deleteLater()
