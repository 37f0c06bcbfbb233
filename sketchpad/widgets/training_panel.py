"""The training panel: pick or make a dataset, check it, train in a child process, watch losses and
samples, and put the newest checkpoint into the live view with one click.

panel = TrainingPanel(main_window)   # the MainWindow (model_entry, model_changed, load_model, canvas)
main_window.add_dock(panel, "Training")

"Start from" follows the live view's model (its fast live tier). The dataset's kind (label maps, line art,
photos) is detected when it is checked; a model to start from of another kind or channels is refused in
one line, with the right model or scratch offered. The recipe itself is Qt-free: sketchpad.training_recipe.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, QThread, QTimer, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from models.data import DataReport, check_dataset
from models.dataset_make import add_pair, fit_photo
from models.errors import SketchpadError
from models.imageio import load_image
from sketchpad import models_list
from sketchpad.models_list import KIND_NAMES, ModelEntry
from sketchpad.runs import tail_events
from sketchpad.training_process import TrainingProcess, TrainRequest
from sketchpad.training_recipe import (
    CPU_DEFAULTS,
    GPU_DEFAULTS,
    SCRATCH,
    DataKind,
    PanelSettings,
    cpu_epochs,
    detect_data_kind,
    fit_problem,
    fmt_eta,
    init_header,
    make_request,
    model_name,
    start_choices,
    start_path,
    suggest_start,
)
from sketchpad.widgets.dataset_dialog import LineartDatasetDialog
from sketchpad.widgets.loss_plot import LossPlot
from sketchpad.widgets.runs_list import RunsList

__all__ = ["SCRATCH", "TrainingPanel"]

SAMPLE_HISTORY = 12  # thumbnails of earlier sample grids kept under the newest
DRAWING_NAMES = {"labels": "a label map", "lineart": "line art", "image": "an image"}


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


def cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False


def check_and_detect(folder: str) -> tuple[DataReport, DataKind]:
    """check_dataset (opens every image) and the kind of its drawings; never raises."""
    try:
        report = check_dataset(folder)
    except Exception as e:  # a dataset check must never take the app down
        return DataReport(root=folder, error=f"the check failed: {e}"), DataKind("")
    return report, (detect_data_kind(folder, report.format) if report.usable else DataKind(""))


class _CheckWorker(QThread):
    """Runs check_and_detect off the GUI thread."""

    done = Signal(object, object)  # DataReport, DataKind

    def __init__(self, folder: str, parent=None):
        super().__init__(parent)
        self.folder = folder

    def run(self) -> None:
        self.done.emit(*check_and_detect(self.folder))


class _ScaledImage(QLabel):
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


class TrainingPanel(QWidget):
    """Everything about training a model on your own pairs, in one dockable widget."""

    dataset_checked = Signal(object)  # DataReport
    model_loaded = Signal(str)  # a checkpoint put into the live view
    runs_changed = Signal()  # a run was made, renamed or deleted (the model picker lists runs)
    message = Signal(str)  # a one-line status for the window's status bar

    def __init__(self, main_window=None, parent: QWidget | None = None):
        super().__init__(parent)
        # The MainWindow (or None): its model_entry and model_changed, load_model, canvas, prompts.
        self.main_window = main_window
        self.report: DataReport | None = None
        self.data_kind: DataKind | None = None  # what the checked dataset's drawings are
        self._entries: list[ModelEntry] = []  # the models "Start from" was filled from
        self.run_dir: Path | None = None
        self.proc = TrainingProcess(self)
        self.samples_seen = 0
        self.last_sample = ""
        self.last_checkpoint = ""
        self._iter = 0
        self._total = 0
        self._checker: _CheckWorker | None = None
        self._underlay_photo: np.ndarray | None = None
        self._gpu_mem = 0.0
        self._device = ""
        self._started_at = 0.0
        self._run_listed = False  # this run's checkpoint is in "Start from" and the model picker
        self._build()
        self._connect()
        self.apply_defaults()
        self._update_fit()
        self._update_buttons()

    # ================================================================ building

    def _build(self) -> None:
        # ---- dataset
        self.data_edit = QLineEdit()
        self.data_edit.setPlaceholderText("dataset folder (pairs, A/B folders, trainA/trainB or photos)")
        self.browse_btn = QPushButton("Browse…")
        self.make_btn = QPushButton("Make line-art dataset from photos…")
        self.make_btn.setToolTip("Turn a folder of photos into (line art, photo) pairs, with a preview")
        self.trace_btn = QPushButton("Trace a photo…")
        self.trace_btn.setToolTip("Show a photo under the canvas to trace over it")
        self.save_pair_btn = QPushButton("Save tracing as pair")
        self.save_pair_btn.setToolTip("Add the drawing and the photo under it to the dataset as one pair")
        self.report_view = QPlainTextEdit(readOnly=True)
        self.report_view.setMaximumBlockCount(2000)
        self.report_view.setPlaceholderText("Pick a dataset folder: it is checked before training.")
        self.report_view.setMinimumHeight(90)
        self.skip_bad = QCheckBox("Train without the problem files")
        self.skip_bad.setToolTip("Leave out every file the check lists (they are not silently dropped)")
        self.skip_bad.setVisible(False)
        data_box = QGroupBox("Dataset")
        g = QGridLayout(data_box)
        g.addWidget(self.data_edit, 0, 0, 1, 2)
        g.addWidget(self.browse_btn, 0, 2)
        g.addWidget(self.make_btn, 1, 0, 1, 3)
        g.addWidget(self.trace_btn, 2, 0, 1, 1)
        g.addWidget(self.save_pair_btn, 2, 1, 1, 2)
        g.addWidget(self.report_view, 3, 0, 1, 3)
        g.addWidget(self.skip_bad, 4, 0, 1, 3)

        # ---- options
        self.model_combo = QComboBox()
        self.model_combo.addItem("pix2pix (paired)", "pix2pix")
        self.model_combo.addItem("CycleGAN (unpaired)", "cyclegan")
        self.init_combo = QComboBox()
        self.init_combo.setToolTip(
            "Fine-tune a model (fast, needs few pairs) or train a new one from scratch"
        )
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("run name (default: dataset and date)")
        self.epochs = QSpinBox(minimum=1, maximum=10_000)
        self.batch = QSpinBox(minimum=1, maximum=256)
        self.lr = QDoubleSpinBox(decimals=6, minimum=1e-6, maximum=1e-2, singleStep=1e-5)
        self.lam = QDoubleSpinBox(decimals=1, minimum=0.0, maximum=1000.0, singleStep=10.0)
        self.lam.setToolTip("pix2pix: weight of the L1 loss (100). CycleGAN: weight of the cycle loss (10)")
        self.device = QComboBox()
        self.device.addItem("auto", "auto")
        self.device.addItem("CPU", "cpu")
        if cuda_available():
            self.device.addItem("GPU (CUDA)", "cuda")
        self.holdout = QSpinBox(minimum=0, maximum=1000)
        self.holdout.setValue(3)
        self.holdout.setToolTip("Pairs kept out of training to measure the model (when the set has no val/)")
        self.augment = QCheckBox("Sketch augmentation (vary line width, drop strokes, wobble)")
        self.augment.setToolTip("Makes a model trained on extracted lines work better on hand drawings")
        self.extra_edit = QLineEdit()
        self.extra_edit.setPlaceholderText("more trainer options, e.g. --crop-size 128 --ngf 32")
        self.extra_edit.setToolTip("Passed to `sketchpad train` as they are (see sketchpad train --help)")
        self.defaults_btn = QPushButton("Defaults for this computer")
        # Shown when "Start from" does not fit the dataset: why, in one line, and what would.
        self.fit_note = QLabel("")
        self.fit_note.setWordWrap(True)
        self.fit_note.setStyleSheet("color: #b00020")
        self.fit_offer_btn = QPushButton()
        self.fit_offer_btn.setToolTip("Fine-tune a shipped model made for this kind of drawing")
        self.fit_scratch_btn = QPushButton("Start from scratch")
        self.fit_scratch_btn.setToolTip("Train a new network (slower, needs more pairs)")
        fit_row = QHBoxLayout()
        fit_row.setContentsMargins(0, 0, 0, 0)
        fit_row.addWidget(self.fit_offer_btn)
        fit_row.addWidget(self.fit_scratch_btn)
        fit_row.addStretch(1)
        self.fit_box = QWidget()
        fb = QVBoxLayout(self.fit_box)
        fb.setContentsMargins(0, 0, 0, 0)
        fb.addWidget(self.fit_note)
        fb.addLayout(fit_row)
        self.fit_box.setVisible(False)
        opt_box = QGroupBox("Training")
        f = QFormLayout(opt_box)
        f.addRow("Model", self.model_combo)
        f.addRow("Start from", self.init_combo)
        f.addRow(self.fit_box)
        f.addRow("Run name", self.name_edit)
        f.addRow("Epochs", self.epochs)
        f.addRow("Batch size", self.batch)
        f.addRow("Learning rate", self.lr)
        f.addRow("Lambda", self.lam)
        f.addRow("Device", self.device)
        f.addRow("Held out", self.holdout)
        f.addRow(self.augment)
        f.addRow("Advanced", self.extra_edit)
        f.addRow(self.defaults_btn)

        setup = QWidget()
        sl = QVBoxLayout(setup)
        sl.addWidget(data_box)
        sl.addWidget(opt_box)
        sl.addStretch(1)
        setup_scroll = QScrollArea(widgetResizable=True)
        setup_scroll.setWidget(setup)

        # ---- controls and progress (always visible)
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

        # ---- watching
        self.plot = LossPlot()
        self.sample_view = _ScaledImage(
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
        self.log_view = QPlainTextEdit(readOnly=True)
        self.log_view.setMaximumBlockCount(500)
        self.runs = RunsList()

        # Curves above, samples below: both in view while training, as TensorBoard's scalars and images.
        self.watch = QSplitter(Qt.Orientation.Vertical)
        self.watch.addWidget(self.plot)
        self.watch.addWidget(samples)
        self.watch.setStretchFactor(0, 2)
        self.watch.setStretchFactor(1, 3)
        self.watch.setSizes([200, 300])  # the samples get the larger share: they show what is learnt
        self.tabs = QTabWidget()
        self.tabs.addTab(setup_scroll, "Setup")
        self.tabs.addTab(self.watch, "Watch")
        self.tabs.addTab(self.runs, "Runs")
        self.tabs.addTab(self.log_view, "Log")

        lay = QVBoxLayout(self)
        lay.addLayout(controls)
        lay.addWidget(self.progress)
        row = QHBoxLayout()
        row.addWidget(self.status, 1)
        row.addWidget(self.memory)
        lay.addLayout(row)
        lay.addWidget(self.error)
        lay.addWidget(self.tabs, 1)

        self._mem_timer = QTimer(self, interval=1000)
        self._mem_timer.timeout.connect(self._poll_memory)
        self.refresh_init_choices()

    def _connect(self) -> None:
        self.browse_btn.clicked.connect(self._browse_data)
        self.data_edit.editingFinished.connect(lambda: self.set_dataset(self.data_edit.text()))
        self.make_btn.clicked.connect(self.open_make_dialog)
        self.trace_btn.clicked.connect(self._choose_trace_photo)
        self.save_pair_btn.clicked.connect(self.save_tracing_pair)
        self.defaults_btn.clicked.connect(self.apply_defaults)
        self.device.currentIndexChanged.connect(lambda *_: self.apply_defaults())
        self.model_combo.currentIndexChanged.connect(self._on_model_changed)
        self.init_combo.currentIndexChanged.connect(lambda *_: self._on_init_changed())
        self.fit_offer_btn.clicked.connect(lambda: self.set_init(self.fit_offer_btn.property("path") or ""))
        self.fit_scratch_btn.clicked.connect(lambda: self.set_init(SCRATCH))
        self.start_btn.clicked.connect(self.start)
        self.pause_btn.clicked.connect(self.pause)
        self.resume_btn.clicked.connect(self.resume)
        self.stop_btn.clicked.connect(self.stop)
        self.use_btn.clicked.connect(self.use_latest)
        self.skip_bad.toggled.connect(lambda *_: self._update_buttons())
        self.holdout.valueChanged.connect(
            lambda *_: self.report is not None and self._show_report(self.report)
        )
        p = self.proc
        p.started.connect(self._on_started)
        p.step.connect(self._on_step)
        p.sample.connect(self._on_sample)
        p.checkpoint.connect(self._on_checkpoint)
        p.val.connect(self._on_val)
        p.finished.connect(lambda ev: self._on_end(ev, "Finished"))
        p.stopped.connect(lambda ev: self._on_end(ev, "Paused" if self.proc.paused else "Stopped"))
        p.errored.connect(self._on_error)
        p.log.connect(self._on_log)
        p.state_changed.connect(lambda *_: self._update_buttons())
        self.runs.use_requested.connect(self.use_checkpoint)
        self.runs.resume_requested.connect(self.resume)
        self.runs.changed.connect(self._on_runs_changed)
        self.runs.message.connect(self._show_error)
        changed = getattr(self.main_window, "model_changed", None)
        if changed is not None:  # "Start from" follows the live view's model
            changed.connect(self.follow_live_model)

    # ================================================================ options

    def refresh_init_choices(self, select: str | None = None) -> None:
        """Fill "start from": shipped models (their fast live tier first), your runs, and scratch. The
        choice stays where it was; `select` (a path) picks another; on first fill, the live model."""
        current = select if select is not None else self.init_combo.currentData()
        try:
            self._entries = models_list.discover()
        except Exception:  # a broken weights folder must not break the panel
            self._entries = []
        self.init_combo.blockSignals(True)
        self.init_combo.clear()
        for label, path in start_choices(self._entries):
            self.init_combo.addItem(label, path)
        i = self.init_combo.findData(current) if current is not None else -1
        if i < 0 and current and Path(current).is_file():
            self.init_combo.insertItem(0, f"file: {Path(current).name}", current)
            i = 0
        if i < 0:
            i = self.init_combo.findData(start_path(self.live_entry()))
        self.init_combo.setCurrentIndex(max(i, 0))
        self.init_combo.blockSignals(False)
        self._on_init_changed()

    def live_entry(self) -> ModelEntry | None:
        """The model in the live view, if there is a window with one."""
        return getattr(self.main_window, "model_entry", None)

    def follow_live_model(self, *_) -> None:
        """The live view's model changed: start from it (its live tier). Not while a run uses the choice."""
        if self.proc.is_running():
            return
        self.refresh_init_choices(select=start_path(self.live_entry()))

    def init_path(self) -> str:
        """The checkpoint "Start from" names (SCRATCH for a new network)."""
        return self.init_combo.currentData() or SCRATCH

    def set_init(self, path: str) -> None:
        """Choose a checkpoint to fine-tune from (added to the list if it is not there)."""
        i = self.init_combo.findData(str(path))
        if i < 0:
            self.init_combo.insertItem(0, f"file: {Path(path).name}", str(path))
            i = 0
        self.init_combo.setCurrentIndex(i)
        self._on_init_changed()

    def fit(self) -> str:
        """Why "Start from" cannot train on the checked dataset ("" when it can, or nothing is known)."""
        if self.model_combo.currentData() != "pix2pix" or self.data_kind is None:
            return ""
        init = self.init_path()
        header = init_header(init)
        return fit_problem(self.data_kind, header, model_name(init, header))

    def _update_fit(self) -> None:
        why = self.fit()
        self.fit_box.setVisible(bool(why))
        if not why:
            return
        self.fit_note.setText(why)
        offer = suggest_start(self.data_kind, self._entries) if self.data_kind else None
        self.fit_offer_btn.setVisible(offer is not None)
        if offer is not None:
            self.fit_offer_btn.setText(f"Start from {offer[0]}")
            self.fit_offer_btn.setProperty("path", offer[1])

    def _on_init_changed(self) -> None:
        self._update_fit()
        if self.report is not None:
            self._show_report(self.report)
        self._update_buttons()

    def on_cpu(self) -> bool:
        dev = self.device.currentData()
        return dev == "cpu" or (dev == "auto" and not cuda_available())

    def apply_defaults(self) -> None:
        """The recipe for this computer: the measured CPU fine-tune, or the paper's numbers on a GPU."""
        d = CPU_DEFAULTS if self.on_cpu() else GPU_DEFAULTS
        epochs = d["epochs"]
        if self.on_cpu() and self.report is not None and self.report.usable:
            train = self.report.counts.get("train", {})
            n = min(train.values()) if train else 0
            epochs = cpu_epochs(n - self.effective_holdout(), d["batch_size"])
        self.epochs.setValue(epochs)
        self.batch.setValue(d["batch_size"])
        self.lr.setValue(d["lr"])
        cyc = self.model_combo.currentData() == "cyclegan"
        self.lam.setValue(10.0 if cyc else d["lambda_l1"])

    def _on_model_changed(self) -> None:
        self.apply_defaults()
        self._on_init_changed()  # CycleGAN maps images both ways: the drawing-kind check is pix2pix's

    def settings(self) -> PanelSettings:
        """The panel's fields as plain values (sketchpad.training_recipe builds the request from them)."""
        return PanelSettings(
            data=self.data_edit.text().strip(),
            model=self.model_combo.currentData(),
            init=self.init_path(),
            name=self.name_edit.text().strip(),
            epochs=self.epochs.value(),
            batch_size=self.batch.value(),
            lr=self.lr.value(),
            lambda_l1=self.lam.value(),
            device=self.device.currentData(),
            on_cpu=self.on_cpu(),
            holdout=self.effective_holdout(),
            sketch_augment=self.augment.isChecked(),
            skip_bad=self.skip_bad.isVisible() and self.skip_bad.isChecked(),
            extra=self.extra_edit.text(),
            data_kind=self.data_kind,
        )

    def request(self) -> TrainRequest:
        """The TrainRequest the current settings make (a fresh run folder is named, not yet made)."""
        return make_request(self.settings())

    # ================================================================ dataset

    def _browse_data(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Dataset folder", self.data_edit.text())
        if d:
            self.set_dataset(d)

    def set_dataset(self, folder: str, *, wait: bool = False) -> None:
        """Choose a dataset folder and check it (in a thread; `wait` blocks until the report is in)."""
        folder = str(folder).strip()
        self.data_edit.setText(folder)
        self.report = None
        self.data_kind = None
        self._update_fit()
        self._update_buttons()
        if not folder:
            self.report_view.clear()
            return
        self.report_view.setPlainText(f"Checking {folder}…")
        if self._checker is not None:
            self._checker.done.disconnect()
            self._checker.wait()
        self._checker = _CheckWorker(folder, self)
        self._checker.done.connect(self._on_checked)
        self._checker.start()
        if wait:
            self._checker.wait()
            QTimer.singleShot(0, lambda: None)

    def _on_checked(self, report: DataReport, kind: DataKind | None = None) -> None:
        if self._checker is not None:
            self._checker.wait()
            self._checker.deleteLater()
            self._checker = None
        if report.root != self.data_edit.text().strip():
            return  # an older check finishing after the folder changed
        self.report = report
        self.data_kind = kind
        self._update_fit()
        self._show_report(report)
        if report.format == "unpaired" and self.model_combo.currentData() != "cyclegan":
            self.model_combo.setCurrentIndex(self.model_combo.findData("cyclegan"))
        elif report.format in ("aligned", "paired") and self.model_combo.currentData() != "pix2pix":
            self.model_combo.setCurrentIndex(self.model_combo.findData("pix2pix"))
        if self.on_cpu() and report.usable:  # the CPU recipe's length depends on the number of pairs
            train = report.counts.get("train", {})
            n = min(train.values()) if train else 0
            self.epochs.setValue(cpu_epochs(n - self.effective_holdout(), self.batch.value()))
        self._update_buttons()
        self.dataset_checked.emit(report)

    def effective_holdout(self) -> int:
        """Pairs held out for validation: as asked, but at most a quarter of the pairs, and none where
        the dataset has its own val split (the trainer uses that)."""
        r = self.report
        if r is None or "val" in r.counts:
            return 0
        train = r.counts.get("train", {})
        n = min(train.values()) if train else 0
        return min(self.holdout.value(), n // 4)

    def start_problems(self) -> list[str]:
        """Why training cannot start: the dataset's problems and a "Start from" that does not fit it."""
        fit = self.fit()
        return self.dataset_problems() + ([fit] if fit else [])

    def dataset_problems(self) -> list[str]:
        """Why training cannot start on the chosen dataset (empty: it can)."""
        r = self.report
        if r is None:
            return ["the dataset has not been checked yet"]
        out = []
        if r.error:
            out.append(r.error)
        elif not r.usable:
            out.append("no usable images")
        if r.format == "folder":
            out.append("a folder of photos has no drawings: make a line-art dataset from it first")
        model = self.model_combo.currentData()
        if model == "pix2pix" and r.format == "unpaired":
            out.append("pix2pix needs pairs; an unpaired dataset (trainA/trainB) trains CycleGAN")
        if model == "cyclegan" and r.format in ("aligned", "paired"):
            out.append("CycleGAN needs trainA/ and trainB/ folders")
        if r.problems and not (self.skip_bad.isVisible() and self.skip_bad.isChecked()):
            out.append(f"{len(r.problems)} problem files (listed above): fix them or train without them")
        return out

    def _show_report(self, r: DataReport) -> None:
        text = r.text()
        names = {
            "aligned": "pairs side by side (A | B in one image)",
            "paired": "paired folders (A/ and B/, matching names)",
            "unpaired": "unpaired folders (trainA/, trainB/)",
            "folder": "a plain folder of photos",
        }
        head = f"Format: {names.get(r.format, 'not recognised')}"
        if self.report is r and self.data_kind is not None and self.data_kind.kind:
            head += f"\nDrawings: {self.data_kind.text()}"
        if self.report is r and self.effective_holdout():
            head += f"\nHeld out for validation: {self.effective_holdout()} pairs of train"
        problems = self.start_problems() if self.report is r else []
        if problems:
            text += "\n\nCannot start:\n" + "\n".join(f"  • {p}" for p in problems)
        else:
            text += "\n\nReady to train."
        self.report_view.setPlainText(head + "\n" + text)
        self.skip_bad.setVisible(bool(r.problems) and r.usable)
        if r.format == "folder":
            self.make_btn.setFocus()

    def open_make_dialog(self) -> LineartDatasetDialog:
        """The "make a line-art dataset" dialog, prefilled with a folder of photos if that is chosen."""
        photos = self.data_edit.text().strip() if self.report and self.report.format == "folder" else ""
        dlg = LineartDatasetDialog(self, photos=photos)
        dlg.made.connect(lambda out: self.set_dataset(out))
        dlg.setModal(False)
        dlg.show()
        return dlg

    # ================================================================ tracing pairs

    def canvas(self):
        return getattr(self.main_window, "canvas", None)

    def _choose_trace_photo(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Photo to trace", "", "Images (*.png *.jpg *.jpeg *.bmp *.webp *.tif *.tiff)"
        )
        if path:
            self.trace_photo(path)

    def trace_photo(self, path: str) -> bool:
        """Show a photo under the canvas (a new drawing of the photo's shape) to trace over it."""
        canvas = self.canvas()
        if canvas is None:
            self._show_error("no canvas to trace on")
            return False
        try:
            photo = fit_photo(load_image(path, 3))
        except SketchpadError as e:
            self._show_error(str(e))
            return False
        if canvas.is_modified() and not self.confirm(
            "Tracing starts a new drawing. Discard the current one?"
        ):
            return False
        h, w = photo.shape[:2]
        side = max(canvas.image_size())
        s = side / max(h, w)
        size = (max(4, round(w * s / 4) * 4), max(4, round(h * s / 4) * 4))
        canvas.new_drawing(size)
        canvas.set_underlay(photo, 0.5)
        if hasattr(self.main_window, "set_underlay"):  # the window's opacity slider appears with it
            self.main_window.set_underlay(path)
        self._underlay_photo = photo
        self._update_buttons()
        self.message.emit(f"Trace over {Path(path).name}, then “Save tracing as pair”")
        return True

    def save_tracing_pair(self) -> tuple[Path, Path] | None:
        """Add (drawing, underlay photo) to the chosen dataset as one pair; returns the paths written."""
        canvas = self.canvas()
        folder = self.data_edit.text().strip()
        if canvas is None or self._underlay_photo is None:
            self._show_error("trace over a photo first (“Trace a photo…”)")
            return None
        if not folder:
            self._show_error("choose a dataset folder to save the pair into")
            return None
        try:
            paths_written = add_pair(folder, canvas.image_array(), self._underlay_photo, name="tracing")
        except SketchpadError as e:
            self._show_error(str(e))
            return None
        self.message.emit(f"Saved pair {paths_written[0].name} into {folder}")
        self.set_dataset(folder)
        return paths_written

    def confirm(self, text: str) -> bool:
        """Yes/no question; answered yes where the window's prompts are off (tests, scripts)."""
        if self.main_window is not None and getattr(self.main_window, "prompts", True) is False:
            return True
        return QMessageBox.question(self, "Sketchpad", text) == QMessageBox.StandardButton.Yes

    # ================================================================ running

    def is_training(self) -> bool:
        return self.proc.is_running()

    def start(self) -> bool:
        """Start a new run with the current settings; False (and the reasons shown) if it cannot."""
        if self.proc.is_running():
            return False
        if self.report is None or self.report.root != self.data_edit.text().strip():
            if self.data_edit.text().strip():
                self._on_checked(*check_and_detect(self.data_edit.text().strip()))
        problems = self.start_problems()
        if problems:
            if self.report is not None:
                self._show_report(self.report)
            self._show_error("Cannot start: " + "; ".join(problems))
            self.tabs.setCurrentIndex(0)
            return False
        req = self.request()
        self.run_dir = Path(req.out)
        self._reset_watch()
        self.proc.start(req)
        self._after_launch(f"Starting {self.run_dir.name}…")
        return True

    def resume(self, run_dir: str | None = None) -> bool:
        """Continue the paused run (or `run_dir` from the runs list) from its last checkpoint."""
        if self.proc.is_running():
            return False
        target = Path(run_dir) if run_dir else self.run_dir
        if target is None:
            return False
        if self.run_dir is None or target != self.run_dir:
            self._reset_watch()
            self.plot.load_metrics(tail_events(target / "metrics.jsonl"))
        self.run_dir = target
        self.proc.resume(target)
        self._after_launch(f"Resuming {target.name}…")
        return True

    def pause(self) -> None:
        self.proc.pause()
        self.status.setText("Pausing: saving a checkpoint…")

    def stop(self) -> None:
        self.proc.stop()
        self.status.setText("Stopping: saving a checkpoint…")

    def shutdown(self, wait_ms: int = 30_000) -> None:
        """The app is closing: pause the run (resumable) and wait for its checkpoint, then kill if stuck."""
        if not self.proc.is_running():
            return
        self.proc.pause()
        if not self.proc.wait(wait_ms):
            self.proc.kill()
            self.proc.wait(5000)

    def confirm_close(self) -> bool:
        """Ask before the window closes while training runs; True = close (the run is paused first)."""
        if not self.proc.is_running():
            return True
        if not self.confirm(
            "Training is running. Pause it and quit? A checkpoint is saved and you can resume the run later."
        ):
            return False
        self.shutdown()
        return True

    def _after_launch(self, text: str) -> None:
        self.error.setVisible(False)
        self._run_listed = False
        self._started_at = time.monotonic()
        self.status.setText(text)
        self.runs.set_busy(self.run_dir)
        self.tabs.setCurrentWidget(self.watch)
        self._mem_timer.start()
        self._update_buttons()

    def _reset_watch(self) -> None:
        self.plot.clear()
        self.samples_seen = 0
        self.last_sample = self.last_checkpoint = ""
        self.sample_view.set_source(QPixmap())
        self.sample_caption.clear()
        while self.history.count() > 1:
            w = self.history.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        self.progress.setValue(0)
        self.progress.setFormat("%v / %m iterations")
        self._iter = self._total = 0
        self._gpu_mem = 0.0

    # ---- events

    def _on_started(self, ev: dict) -> None:
        self._iter = int(ev.get("iter", 0))
        epochs, per = ev.get("epochs"), ev.get("iters_per_epoch")
        if epochs and per:
            self._total = int(epochs) * int(per)
            self.progress.setRange(0, self._total)
        self.progress.setValue(self._iter)
        self._device = str(ev.get("device", ""))
        word = "Resumed" if ev.get("resumed") else "Training"
        self.status.setText(
            f"{word} {Path(ev.get('run', self.run_dir or '')).name} on {ev.get('device', '?')}"
        )
        self.runs.refresh()
        self.runs_changed.emit()

    def _on_step(self, ev: dict) -> None:
        self._iter = int(ev.get("iter", self._iter))
        total = int(ev.get("total_iters", 0) or 0)
        if total and total != self._total:
            self._total = total
            self.progress.setRange(0, total)
        self.progress.setValue(min(self._iter, self.progress.maximum()))
        self.plot.add(self._iter, ev.get("losses") or {})
        its = ev.get("it_s")
        rate = f"{float(its):.2f} it/s" if isinstance(its, int | float) else ""
        eta = fmt_eta(ev.get("eta_s")) if ev.get("eta_s") is not None else ""
        parts = [
            f"epoch {ev.get('epoch', '?')}",
            f"iter {self._iter}" + (f"/{self._total}" if self._total else ""),
        ]
        parts += [p for p in (rate, f"ETA {eta}" if eta else "") if p]
        self.status.setText(" · ".join(parts))
        if ev.get("mem_mb"):
            self._gpu_mem = float(ev["mem_mb"])

    def _on_sample(self, ev: dict) -> None:
        path = str(ev.get("path", ""))
        pm = QPixmap(path)
        if pm.isNull():
            return
        if self.last_sample:
            self._push_history(self.last_sample)
        self.last_sample = path
        self.samples_seen += 1
        self.sample_view.set_source(pm)
        of = f" of {self._total}" if self._total else ""
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

    def _on_checkpoint(self, ev: dict) -> None:
        self.last_checkpoint = str(ev.get("path", ""))
        if not self._run_listed:  # the run can now be picked and fine-tuned from: the lists offer it
            self._run_listed = True
            self.runs.refresh()
            self._on_runs_changed()
        self._update_buttons()

    def _on_val(self, ev: dict) -> None:
        l1, psnr = ev.get("l1"), ev.get("psnr")
        bits = [
            f"val L1 {float(l1):.4f}" if l1 is not None else "",
            f"PSNR {float(psnr):.2f} dB" if psnr is not None else "",
        ]
        self.log_view.appendPlainText(f"epoch {ev.get('epoch', '?')}: " + ", ".join(b for b in bits if b))

    def _on_end(self, ev: dict, word: str) -> None:
        self._mem_timer.stop()
        if ev.get("path"):
            self.last_checkpoint = str(ev["path"])
        elif self.run_dir is not None and (self.run_dir / "latest.safetensors").is_file():
            self.last_checkpoint = str(self.run_dir / "latest.safetensors")
        minutes = (time.monotonic() - self._started_at) / 60 if self._started_at else 0
        self.status.setText(f"{word} at iteration {ev.get('iter', self._iter)} ({minutes:.1f} min)")
        self.runs.set_busy(None)
        self.runs.refresh()
        self._on_runs_changed()  # the runs list, "Start from" and the window's model picker, at once
        self._update_buttons()

    def _on_error(self, text: str) -> None:
        self._mem_timer.stop()
        self.runs.set_busy(None)
        self.runs.refresh()
        self._show_error(text)
        self.log_view.appendPlainText(text)
        self.status.setText("Training failed")
        self._update_buttons()

    def _on_log(self, line: str) -> None:
        if "it/s" in line and "%" in line:
            return  # the trainer's progress bar: the panel shows its own
        self.log_view.appendPlainText(line)

    def _show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(True)
        self.message.emit(text.splitlines()[0] if text else "")

    def _poll_memory(self) -> None:
        mb = process_memory_mb(self.proc.pid())
        text = f"trainer RAM {mb:.0f} MB" if mb else ""
        if self._gpu_mem and self._device.startswith("cuda"):
            text += f" · GPU {self._gpu_mem:.0f} MB"
        self.memory.setText(text)

    def _on_runs_changed(self) -> None:
        self.refresh_init_choices()
        self.runs_changed.emit()

    # ================================================================ using

    def latest_checkpoint(self) -> str:
        if self.last_checkpoint and Path(self.last_checkpoint).is_file():
            return self.last_checkpoint
        if self.run_dir is not None and (self.run_dir / "latest.safetensors").is_file():
            return str(self.run_dir / "latest.safetensors")
        return ""

    def use_latest(self) -> bool:
        """Hot-swap the newest checkpoint of this run into the live view; the drawing stays."""
        path = self.latest_checkpoint()
        return self.use_checkpoint(path) if path else False

    def use_checkpoint(self, path: str) -> bool:
        """Put a checkpoint into the live view. One of another drawing kind than the drawing's is asked
        about first: a run never switches the drawing's kind without the user saying so."""
        if self.main_window is None or not hasattr(self.main_window, "load_model"):
            self._show_error("no live view to load the model into")
            return False
        header = init_header(path)
        kind = header.get("input_kind")
        canvas = self.canvas()
        drawing = canvas.kind() if canvas is not None else ""
        if kind in KIND_NAMES and drawing in DRAWING_NAMES and kind != drawing:
            name = model_name(path, header)
            why = f"{name} translates {KIND_NAMES[kind]}, but your drawing is {DRAWING_NAMES[drawing]}"
            if not self.confirm(f"{why}.\n\nSwitch the live view to {name} anyway?"):
                self.message.emit(f"Live view unchanged: {why}")
                return False
        ok = bool(self.main_window.load_model(path))
        if ok:
            self.model_loaded.emit(path)
            self.message.emit(f"Live view: {Path(path).parent.name}")
        return ok

    def _update_buttons(self) -> None:
        running = self.proc.is_running()
        stopping = self.proc.state == "stopping"
        self.start_btn.setEnabled(not running and self.report is not None and not self.start_problems())
        self.pause_btn.setEnabled(running and not stopping)
        self.stop_btn.setEnabled(running and not stopping)
        resumable = self.run_dir is not None and (self.run_dir / "latest_state.pt").is_file()
        self.resume_btn.setEnabled(not running and self.proc.paused and resumable)
        self.use_btn.setEnabled(bool(self.latest_checkpoint()) and self.main_window is not None)
        self.save_pair_btn.setEnabled(self._underlay_photo is not None and self.canvas() is not None)
        self.trace_btn.setEnabled(self.canvas() is not None)
        for w in (
            self.data_edit,
            self.browse_btn,
            self.model_combo,
            self.init_combo,
            self.epochs,
            self.batch,
        ):
            w.setEnabled(not running)
        for w in (self.lr, self.lam, self.device, self.holdout, self.augment, self.name_edit):
            w.setEnabled(not running)
