"""The training panel's "Dataset" box: pick a folder (or make a line-art dataset from photos), check it in
a worker thread, and show what the check found: its format, its kind of drawings, its problem files, and
why training cannot start on it. Its tracing buttons ask for a photo and a pair; the panel does the rest."""

from __future__ import annotations

from PySide6.QtCore import QThread, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QWidget,
)

from models.data import DataReport
from sketchpad.training_recipe import DataKind, check_and_detect, report_text
from sketchpad.widgets.dataset_dialog import LineartDatasetDialog

PHOTO_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.webp *.tif *.tiff)"


class _CheckWorker(QThread):
    """Runs check_and_detect off the GUI thread; `serial` tells the box which check answers."""

    done = Signal(int, object, object)  # serial, DataReport, DataKind

    def __init__(self, serial: int, folder: str, parent=None):
        super().__init__(parent)
        self.serial = serial
        self.folder = folder

    def run(self) -> None:
        self.done.emit(self.serial, *check_and_detect(self.folder))


class DatasetBox(QGroupBox):
    """The dataset folder and its check. `report` and `data_kind` are the latest check's for the folder
    shown (None while unchecked or checking); `checked` says when they arrive."""

    folder_changed = Signal(str)  # a folder was chosen: its check has begun (the report is gone)
    checked = Signal(object, object)  # DataReport, DataKind of the folder shown
    trace_requested = Signal(str)  # a photo to trace over
    save_pair_requested = Signal()  # save the tracing as a pair of this dataset

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Dataset", parent)
        self.report: DataReport | None = None
        self.data_kind: DataKind | None = None
        self.checks = 0  # checks started; each runs in its own worker thread
        self._checking = ""  # the folder the newest check is reading ("" when none)
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
        g = QGridLayout(self)
        g.addWidget(self.data_edit, 0, 0, 1, 2)
        g.addWidget(self.browse_btn, 0, 2)
        g.addWidget(self.make_btn, 1, 0, 1, 3)
        g.addWidget(self.trace_btn, 2, 0, 1, 1)
        g.addWidget(self.save_pair_btn, 2, 1, 1, 2)
        g.addWidget(self.report_view, 3, 0, 1, 3)
        g.addWidget(self.skip_bad, 4, 0, 1, 3)
        self.browse_btn.clicked.connect(self._browse)
        self.data_edit.editingFinished.connect(lambda: self.set_dataset(self.data_edit.text()))
        self.make_btn.clicked.connect(self.open_make_dialog)
        self.trace_btn.clicked.connect(self._choose_trace_photo)
        self.save_pair_btn.clicked.connect(lambda: self.save_pair_requested.emit())

    def folder(self) -> str:
        return self.data_edit.text().strip()

    def checking(self) -> str:
        """The folder being checked now ("" when no check is running)."""
        return self._checking

    def skip_bad_files(self) -> bool:
        """The user chose to train without the problem files the check listed."""
        return self.skip_bad.isVisibleTo(self) and self.skip_bad.isChecked()

    def set_dataset(self, folder: str) -> None:
        """Choose a dataset folder and check it in a worker thread; `checked` brings the result. An older
        check still running is left to finish, its result ignored."""
        folder = str(folder).strip()
        self.data_edit.setText(folder)
        self.report = None
        self.data_kind = None
        self._checking = folder
        if folder:
            self.report_view.setPlainText(f"Checking {folder}…")
            self.checks += 1
            worker = _CheckWorker(self.checks, folder, self)
            worker.done.connect(self._on_checked)
            worker.finished.connect(worker.deleteLater)
            worker.start()
        else:
            self.report_view.clear()
        self.folder_changed.emit(folder)

    def wait_checks(self, ms: int = 30_000) -> None:
        """Wait for the checks still running (the app is closing: a running thread must not be destroyed)."""
        for worker in self.findChildren(_CheckWorker):
            worker.wait(ms)

    def _on_checked(self, serial: int, report: DataReport, kind: DataKind) -> None:
        if serial != self.checks:
            return  # an older check finishing after another folder was chosen
        self._checking = ""
        if report.root != self.folder():
            return  # the folder was edited meanwhile; its own check follows when editing ends
        self.report = report
        self.data_kind = kind
        self.checked.emit(report, kind)

    def show_report(self, problems: list[str], holdout: int) -> None:
        """The check's report with why training cannot start (or that it can)."""
        r = self.report
        if r is None:
            return
        self.report_view.setPlainText(report_text(r, self.data_kind, holdout, problems))
        self.skip_bad.setVisible(bool(r.problems) and r.usable)
        if r.format == "folder":
            self.make_btn.setFocus()

    def set_running(self, running: bool) -> None:
        """A run trains on the dataset: its folder cannot change."""
        self.data_edit.setEnabled(not running)
        self.browse_btn.setEnabled(not running)

    def set_tracing(self, can_trace: bool, can_save: bool) -> None:
        self.trace_btn.setEnabled(can_trace)
        self.save_pair_btn.setEnabled(can_save)

    def open_make_dialog(self) -> LineartDatasetDialog:
        """The "make a line-art dataset" dialog, prefilled with a folder of photos if that is chosen; the
        dataset it makes becomes the chosen one."""
        photos = self.folder() if self.report and self.report.format == "folder" else ""
        dlg = LineartDatasetDialog(self, photos=photos)
        dlg.made.connect(lambda out: self.set_dataset(out))
        dlg.setModal(False)
        dlg.show()
        return dlg

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Dataset folder", self.data_edit.text())
        if d:
            self.set_dataset(d)

    def _choose_trace_photo(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Photo to trace", "", PHOTO_FILTER)
        if path:
            self.trace_requested.emit(path)
