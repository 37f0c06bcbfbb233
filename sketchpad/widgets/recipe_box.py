"""The training panel's "Training" box: the model, what to start from (following the live view's model;
refused in one line, with the right model or scratch offered, when it does not fit the dataset), and the
recipe's numbers, with the defaults for this computer (CPU or GPU). The decisions are Qt-free, in
sketchpad.training_recipe; the box holds the fields."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from models.data import DataReport
from sketchpad import models_list
from sketchpad.models_list import ModelEntry
from sketchpad.training_recipe import (
    CPU_DEFAULTS,
    GPU_DEFAULTS,
    SCRATCH,
    DataKind,
    PanelSettings,
    cpu_epochs,
    cuda_available,
    effective_holdout,
    fit_problem,
    init_header,
    model_name,
    start_choices,
    start_path,
    suggest_start,
    train_pairs,
)


class RecipeBox(QGroupBox):
    """The training settings. `set_dataset` gives it the checked dataset (the fit and the CPU run's length
    depend on it); `follow_live_model` the live view's model."""

    changed = Signal()  # the model, "Start from" or the held-out pairs changed: what can start may differ

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Training", parent)
        self.report: DataReport | None = None
        self.data_kind: DataKind | None = None  # what the checked dataset's drawings are
        self.live_entry: ModelEntry | None = None  # the model in the live view
        self._entries: list[ModelEntry] = []  # the models "Start from" was filled from
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
        f = QFormLayout(self)
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
        self.refresh_init_choices()
        self.defaults_btn.clicked.connect(self.apply_defaults)
        self.device.currentIndexChanged.connect(lambda *_: self.apply_defaults())
        self.model_combo.currentIndexChanged.connect(self._on_model_changed)
        self.init_combo.currentIndexChanged.connect(lambda *_: self._on_init_changed())
        self.fit_offer_btn.clicked.connect(lambda: self.set_init(self.fit_offer_btn.property("path") or ""))
        self.fit_scratch_btn.clicked.connect(lambda: self.set_init(SCRATCH))
        self.holdout.valueChanged.connect(lambda *_: self.changed.emit())
        self.apply_defaults()
        self._update_fit()

    # ---- start from

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
            i = self.init_combo.findData(start_path(self.live_entry))
        self.init_combo.setCurrentIndex(max(i, 0))
        self.init_combo.blockSignals(False)
        self._on_init_changed()

    def follow_live_model(self, entry: ModelEntry | None) -> None:
        """The live view's model changed: start from it (its live tier)."""
        self.live_entry = entry
        self.refresh_init_choices(select=start_path(entry))

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
        self.changed.emit()

    # ---- the recipe

    def on_cpu(self) -> bool:
        dev = self.device.currentData()
        return dev == "cpu" or (dev == "auto" and not cuda_available())

    def apply_defaults(self) -> None:
        """The recipe for this computer: the measured CPU fine-tune, or the paper's numbers on a GPU."""
        d = CPU_DEFAULTS if self.on_cpu() else GPU_DEFAULTS
        epochs = d["epochs"]
        if self.on_cpu() and self.report is not None and self.report.usable:
            epochs = cpu_epochs(train_pairs(self.report) - self.effective_holdout(), d["batch_size"])
        self.epochs.setValue(epochs)
        self.batch.setValue(d["batch_size"])
        self.lr.setValue(d["lr"])
        cyc = self.model_combo.currentData() == "cyclegan"
        self.lam.setValue(10.0 if cyc else d["lambda_l1"])

    def _on_model_changed(self) -> None:
        self.apply_defaults()
        self._on_init_changed()  # CycleGAN maps images both ways: the drawing-kind check is pix2pix's

    def effective_holdout(self) -> int:
        """Pairs held out for validation (see training_recipe.effective_holdout)."""
        return effective_holdout(self.report, self.holdout.value())

    def set_dataset(self, report: DataReport | None, kind: DataKind | None) -> None:
        """The checked dataset (None, None while there is none): its format picks the model, and on a CPU
        its number of pairs the run's length."""
        self.report = report
        self.data_kind = kind
        self._update_fit()
        if report is None:
            return
        if report.format == "unpaired" and self.model_combo.currentData() != "cyclegan":
            self.model_combo.setCurrentIndex(self.model_combo.findData("cyclegan"))
        elif report.format in ("aligned", "paired") and self.model_combo.currentData() != "pix2pix":
            self.model_combo.setCurrentIndex(self.model_combo.findData("pix2pix"))
        if self.on_cpu() and report.usable:  # the CPU recipe's length depends on the number of pairs
            self.epochs.setValue(
                cpu_epochs(train_pairs(report) - self.effective_holdout(), self.batch.value())
            )

    def set_running(self, running: bool) -> None:
        """A run uses the settings: they cannot change (the advanced options and defaults stay)."""
        for w in (
            self.model_combo,
            self.init_combo,
            self.epochs,
            self.batch,
            self.lr,
            self.lam,
            self.device,
            self.holdout,
            self.augment,
            self.name_edit,
        ):
            w.setEnabled(not running)

    def settings(self, data: str, skip_bad: bool) -> PanelSettings:
        """The fields as plain values for the dataset `data` (training_recipe builds the request)."""
        return PanelSettings(
            data=data.strip(),
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
            skip_bad=skip_bad,
            extra=self.extra_edit.text(),
            data_kind=self.data_kind,
        )
