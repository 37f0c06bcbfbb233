"""Live loss curves (pyqtgraph): one curve per loss name as training reports them, a log-scale switch and
TensorBoard-style smoothing (the raw curve stays faint behind the smoothed one)."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
import PySide6  # noqa: F401  (pyqtgraph binds to the Qt already imported)
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from models.train import events as trainer_events

# Colours by loss name, so G_L1 is the same colour in every run; others take the next free one.
_COLOURS = {
    "G_GAN": "#1f77b4",
    "G_L1": "#d62728",
    "D_real": "#2ca02c",
    "D_fake": "#ff7f0e",
    "G_A": "#1f77b4",
    "G_B": "#17becf",
    "D_A": "#2ca02c",
    "D_B": "#bcbd22",
    "cycle_A": "#d62728",
    "cycle_B": "#e377c2",
    "idt_A": "#9467bd",
    "idt_B": "#8c564b",
    "G": "#1f77b4",
}
_SPARE = ["#7f7f7f", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5"]


def ema(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's smoothing: exponential moving average with bias correction at the start."""
    if weight <= 0 or len(values) == 0:
        return values
    out = np.empty_like(values)
    acc, norm = 0.0, 0.0
    for i, v in enumerate(values):
        acc = acc * weight + (1 - weight) * v
        norm = norm * weight + (1 - weight)
        out[i] = acc / norm
    return out


class LossPlot(QWidget):
    """Curves of training losses against the iteration; `add(iter, losses)` appends one point per loss."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._x: dict[str, list[float]] = {}
        self._y: dict[str, list[float]] = {}
        self._curves: dict[str, tuple[pg.PlotDataItem, pg.PlotDataItem]] = {}
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMinimumHeight(160)
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setLabel("bottom", "iteration")
        self.plot.setLabel("left", "loss")
        self.legend = self.plot.addLegend(
            offset=(-5, 5), labelTextSize="8pt", labelTextColor="#222", brush=pg.mkBrush(255, 255, 255, 200)
        )
        self.log_box = QCheckBox("Log scale")
        self.log_box.setToolTip("Show the losses on a logarithmic axis (small losses stay readable)")
        self.log_box.toggled.connect(self._set_log)
        self.smooth = QSlider(Qt.Orientation.Horizontal)
        self.smooth.setRange(0, 99)
        self.smooth.setValue(60)
        self.smooth.setMaximumWidth(120)
        self.smooth.setToolTip("Smoothing: exponential moving average of the curves (0 = raw)")
        self.smooth.valueChanged.connect(self._schedule)
        bar = QHBoxLayout()
        bar.addWidget(self.log_box)
        bar.addStretch(1)
        bar.addWidget(QLabel("Smoothing"))
        bar.addWidget(self.smooth)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(bar)
        lay.addWidget(self.plot, 1)
        # Redraw at most ~5 times a second, however fast steps arrive.
        self._timer = QTimer(self, singleShot=True, interval=200)
        self._timer.timeout.connect(self._redraw)

    # ------------------------------------------------------------ data

    def names(self) -> list[str]:
        return list(self._y)

    def points(self, name: str) -> int:
        return len(self._y.get(name, ()))

    def is_log(self) -> bool:
        return self.log_box.isChecked()

    def add(self, iteration: float, losses: dict[str, float]) -> None:
        """Append one point to each named curve (names seen for the first time get a new curve)."""
        for name, value in losses.items():
            try:
                v = float(value)
            except (TypeError, ValueError):
                continue
            if not math.isfinite(v):
                continue  # a NaN would blank the whole curve in pyqtgraph; the trainer reports it anyway
            if name not in self._y:
                self._new_curve(name)
            self._x[name].append(float(iteration))
            self._y[name].append(v)
        self._schedule()

    def curve(self, name: str) -> pg.PlotDataItem:
        """The smoothed curve drawn for `name` (its data is what is on screen)."""
        return self._curves[name][1]

    def flush(self) -> None:
        """Draw what has arrived now instead of at the next redraw tick."""
        self._timer.stop()
        self._redraw()

    def clear(self) -> None:
        for raw, smooth in self._curves.values():
            self.plot.removeItem(raw)
            self.plot.removeItem(smooth)
        self.legend.clear()
        self._x.clear()
        self._y.clear()
        self._curves.clear()

    def load_metrics(self, events: list[dict]) -> None:
        """Fill the plot from a run's logged events (the step events), replacing what is shown."""
        self.clear()
        for ev in events:
            if ev.get(trainer_events.KEY) == trainer_events.STEP and isinstance(ev.get("losses"), dict):
                self.add(ev.get("iter", 0), ev["losses"])
        self._redraw()

    # ------------------------------------------------------------ drawing

    def _new_curve(self, name: str) -> None:
        used = {c for n, c in _COLOURS.items() if n in self._y}
        colour = _COLOURS.get(name) or next((c for c in _SPARE if c not in used), "#333333")
        raw = self.plot.plot([], [], pen=pg.mkPen(pg.mkColor(colour).lighter(170), width=1))
        smooth = self.plot.plot([], [], pen=pg.mkPen(colour, width=2), name=name)
        self._x[name], self._y[name] = [], []
        self._curves[name] = (raw, smooth)

    def _schedule(self) -> None:
        if not self._timer.isActive():
            self._timer.start()

    def _redraw(self) -> None:
        w = self.smooth.value() / 100.0
        log = self.is_log()
        for name, (raw, smooth) in self._curves.items():
            x = np.asarray(self._x[name], float)
            y = np.asarray(self._y[name], float)
            if log:
                y = np.maximum(y, 1e-6)  # log of zero or a negative loss (WGAN) has no place on the axis
            raw.setData(x, y)
            raw.setVisible(w > 0)
            smooth.setData(x, ema(y, w))

    def _set_log(self, on: bool) -> None:
        self.plot.setLogMode(x=False, y=on)
        self._redraw()
