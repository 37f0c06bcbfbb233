"""The training panel's top rows, always in view: Start, Pause, Resume, Stop and "Use in live view", the
run's progress bar, its one-line status and the trainer's memory, and the last error in red."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from sketchpad.training_recipe import fmt_eta


def process_memory_mb(pid: int) -> float:
    """Resident memory of a process and its children (data loader workers), in MB; 0 if unknown."""
    if pid <= 0:
        return 0.0
    try:
        import psutil

        p = psutil.Process(pid)
        total = p.memory_info().rss
        for c in p.children(recursive=True):
            try:
                total += c.memory_info().rss
            except psutil.Error:
                pass
        return total / 2**20
    except Exception:  # psutil missing, or the process just ended: memory is a nicety, never an error
        return 0.0


class RunControls(QWidget):
    """The buttons (the panel connects them), and where the run stands: `iter` of `total` iterations."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.iter = 0
        self.total = 0
        self._gpu_mem = 0.0
        self._device = ""
        self._pid: Callable[[], int] = lambda: 0
        self.start_btn = QPushButton("Start")
        self.pause_btn = QPushButton("Pause")
        self.resume_btn = QPushButton("Resume")
        self.stop_btn = QPushButton("Stop")
        self.use_btn = QPushButton("Use in live view")
        self.use_btn.setToolTip("Put the newest checkpoint into the live view (your drawing stays)")
        self.start_btn.setToolTip("Check the dataset and start training in its own process")
        self.pause_btn.setToolTip("Save a checkpoint and stop; Resume continues from there")
        self.stop_btn.setToolTip("Save a checkpoint and end the run")
        controls = QHBoxLayout()
        for b in (self.start_btn, self.pause_btn, self.resume_btn, self.stop_btn):
            controls.addWidget(b)
        controls.addStretch(1)
        controls.addWidget(self.use_btn)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("no run yet")
        self.status = QLabel("Not training")
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status.setWordWrap(True)
        self.memory = QLabel("")
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b00020")
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.setVisible(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(controls)
        lay.addWidget(self.progress)
        row = QHBoxLayout()
        row.addWidget(self.status, 1)
        row.addWidget(self.memory)
        lay.addLayout(row)
        lay.addWidget(self.error)
        self._mem_timer = QTimer(self, interval=1000)
        self._mem_timer.timeout.connect(self._poll_memory)

    def reset(self) -> None:
        """A new run: no iterations yet."""
        self.progress.setValue(0)
        self.progress.setFormat("%v / %m iterations")
        self.iter = self.total = 0
        self._gpu_mem = 0.0

    def set_status(self, text: str) -> None:
        self.status.setText(text)

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(True)

    def hide_error(self) -> None:
        self.error.setVisible(False)

    def watch_memory(self, pid: Callable[[], int] | None) -> None:
        """Show the memory of the process `pid()` names once a second; None stops."""
        if pid is None:
            self._mem_timer.stop()
            return
        self._pid = pid
        self._mem_timer.start()

    def show_started(self, ev: dict, run_dir: Path | None) -> None:
        """A "start" event: the run's length, where it stands, and its device."""
        self.iter = int(ev.get("iter", 0))
        epochs, per = ev.get("epochs"), ev.get("iters_per_epoch")
        if epochs and per:
            self.total = int(epochs) * int(per)
            self.progress.setRange(0, self.total)
        self.progress.setValue(self.iter)
        self._device = str(ev.get("device", ""))
        word = "Resumed" if ev.get("resumed") else "Training"
        self.status.setText(f"{word} {Path(ev.get('run', run_dir or '')).name} on {ev.get('device', '?')}")

    def show_step(self, ev: dict) -> None:
        """A "step" event: progress, and epoch · iteration · rate · ETA in the status line."""
        self.iter = int(ev.get("iter", self.iter))
        total = int(ev.get("total_iters", 0) or 0)
        if total and total != self.total:
            self.total = total
            self.progress.setRange(0, total)
        self.progress.setValue(min(self.iter, self.progress.maximum()))
        its = ev.get("it_s")
        rate = f"{float(its):.2f} it/s" if isinstance(its, int | float) else ""
        eta = fmt_eta(ev.get("eta_s")) if ev.get("eta_s") is not None else ""
        parts = [
            f"epoch {ev.get('epoch', '?')}",
            f"iter {self.iter}" + (f"/{self.total}" if self.total else ""),
        ]
        parts += [p for p in (rate, f"ETA {eta}" if eta else "") if p]
        self.status.setText(" · ".join(parts))
        if ev.get("mem_mb"):
            self._gpu_mem = float(ev["mem_mb"])

    def _poll_memory(self) -> None:
        mb = process_memory_mb(self._pid())
        text = f"trainer RAM {mb:.0f} MB" if mb else ""
        if self._gpu_mem and self._device.startswith("cuda"):
            text += f" · GPU {self._gpu_mem:.0f} MB"
        self.memory.setText(text)
