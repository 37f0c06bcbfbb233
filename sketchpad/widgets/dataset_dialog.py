""" "Make a line-art dataset from photos": a folder of photos in, (line art, photo) pairs out, with a live
preview of one photo under the two sliders (detail, pen thickness)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from models.dataset_make import MakeReport, fit_photo, make_lineart_dataset, photo_files
from models.errors import SketchpadError
from models.imageio import load_image
from models.lineart import LineartParams, extract_lineart

PREVIEW_SIDE = 256


def to_pixmap(a: np.ndarray) -> QPixmap:
    """uint8 (H, W) or (H, W, 3) -> QPixmap (copied: the array may go away)."""
    a = np.ascontiguousarray(a)
    h, w = a.shape[:2]
    if a.ndim == 2:
        q = QImage(a.data, w, h, a.strides[0], QImage.Format.Format_Grayscale8)
    else:
        q = QImage(a.data, w, h, a.strides[0], QImage.Format.Format_RGB888)
    return QPixmap.fromImage(q.copy())


class _MakeWorker(QThread):
    progressed = Signal(int, int, str)
    done = Signal(object)  # MakeReport or an error string

    def __init__(self, photos: Path, out: Path, params: LineartParams, parent: QObject | None = None):
        super().__init__(parent)
        self.photos, self.out, self.params = photos, out, params

    def run(self) -> None:
        def progress(done: int, total: int, name: str) -> bool:
            self.progressed.emit(done, total, name)
            return not self.isInterruptionRequested()

        try:
            self.done.emit(make_lineart_dataset(self.photos, self.out, self.params, progress=progress))
        except SketchpadError as e:
            self.done.emit(str(e))


class LineartDatasetDialog(QDialog):
    """Pick photos and an output folder, tune the line art on a preview, make the pairs.
    `made` carries the output folder once a dataset with at least one pair is written."""

    made = Signal(str)

    def __init__(self, parent: QWidget | None = None, photos: str = "", out: str = ""):
        super().__init__(parent)
        self.setWindowTitle("Make a line-art dataset from photos")
        self.report: MakeReport | None = None
        self._files: list[Path] = []
        self._index = 0
        self._photo: np.ndarray | None = None
        self._worker: _MakeWorker | None = None
        self.photos_edit = QLineEdit(photos)
        self.photos_edit.setPlaceholderText("a folder of photos")
        self.out_edit = QLineEdit(out)
        self.out_edit.setPlaceholderText("a new folder for the dataset")
        browse_in = QPushButton("Browse…")
        browse_out = QPushButton("Browse…")
        browse_in.clicked.connect(self._browse_photos)
        browse_out.clicked.connect(self._browse_out)
        self.detail = QSlider(Qt.Orientation.Horizontal)
        self.detail.setRange(0, 100)
        self.detail.setValue(45)
        self.detail.setToolTip("How many lines: few strong outlines (left) to fine detail (right)")
        self.thickness = QSlider(Qt.Orientation.Horizontal)
        self.thickness.setRange(2, 16)  # half pixels: 1 to 8 px
        self.thickness.setValue(4)
        self.thickness.setToolTip("Pen width in pixels: match the pen you draw with")
        self.thickness_label = QLabel()
        self.hand = QCheckBox("Hand-drawn look (varying width, slight wobble)")
        self.hand.setChecked(True)
        self.preview_photo = QLabel()
        self.preview_lines = QLabel()
        for lab in (self.preview_photo, self.preview_lines):
            lab.setFixedSize(PREVIEW_SIDE, PREVIEW_SIDE)
            lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
            lab.setStyleSheet("background: #eee; border: 1px solid #ccc")
        self.prev_btn = QPushButton("◀")
        self.next_btn = QPushButton("▶")
        for b in (self.prev_btn, self.next_btn):
            b.setFixedWidth(32)
        self.prev_btn.setToolTip("Previous photo")
        self.next_btn.setToolTip("Next photo")
        self.prev_btn.clicked.connect(lambda: self._step(-1))
        self.next_btn.clicked.connect(lambda: self._step(1))
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.buttons = QDialogButtonBox()
        self.make_btn = self.buttons.addButton("Make dataset", QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_btn = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.make_btn.clicked.connect(self.make)
        self.cancel_btn.clicked.connect(self._cancel)

        form = QFormLayout()
        row = QHBoxLayout()
        row.addWidget(self.photos_edit, 1)
        row.addWidget(browse_in)
        form.addRow("Photos", row)
        row = QHBoxLayout()
        row.addWidget(self.out_edit, 1)
        row.addWidget(browse_out)
        form.addRow("Dataset", row)
        form.addRow("Detail", self.detail)
        row = QHBoxLayout()
        row.addWidget(self.thickness, 1)
        row.addWidget(self.thickness_label)
        form.addRow("Thickness", row)
        form.addRow("", self.hand)
        previews = QHBoxLayout()
        previews.addWidget(self.prev_btn)
        previews.addWidget(self.preview_photo)
        previews.addWidget(self.preview_lines)
        previews.addWidget(self.next_btn)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addLayout(previews)
        lay.addWidget(self.info)
        lay.addWidget(self.progress)
        lay.addWidget(self.buttons)

        # Slider drags re-run the extraction; debounce so a drag costs one run, not fifty.
        self._preview_timer = QTimer(self, singleShot=True, interval=120)
        self._preview_timer.timeout.connect(self.update_preview)
        for s in (self.detail, self.thickness):
            s.valueChanged.connect(self._schedule_preview)
        self.hand.toggled.connect(self._schedule_preview)
        self.photos_edit.editingFinished.connect(self._load_folder)
        self._show_thickness()
        if photos:
            self._load_folder()

    def params(self) -> LineartParams:
        hand = self.hand.isChecked()
        return LineartParams(
            detail=self.detail.value() / 100.0,
            thickness=self.thickness.value() / 2.0,
            vary=0.5 if hand else 0.0,
            jitter=1.0 if hand else 0.0,
        )

    def preview_lineart(self) -> np.ndarray | None:
        """The line art of the photo shown, with the current settings."""
        if self._photo is None:
            return None
        return extract_lineart(self._photo, self.params())

    def _show_thickness(self) -> None:
        self.thickness_label.setText(f"{self.thickness.value() / 2:.1f} px")

    def _schedule_preview(self) -> None:
        self._show_thickness()
        self._preview_timer.start()

    def _browse_photos(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Folder of photos", self.photos_edit.text())
        if d:
            self.photos_edit.setText(d)
            self._load_folder()

    def _browse_out(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Folder for the dataset", self.out_edit.text())
        if d:
            self.out_edit.setText(d)

    def _load_folder(self) -> None:
        folder = self.photos_edit.text().strip()
        try:
            self._files = photo_files(folder) if folder else []
        except SketchpadError as e:
            self._files = []
            self.info.setText(str(e))
        if folder and not self.out_edit.text().strip():
            p = Path(folder)
            self.out_edit.setText(str(p.with_name(p.name + "-lineart")))
        self._index = 0
        self.info.setText(f"{len(self._files)} photos" if self._files else self.info.text())
        self._load_photo()

    def _step(self, d: int) -> None:
        if self._files:
            self._index = (self._index + d) % len(self._files)
            self._load_photo()

    def _load_photo(self) -> None:
        self._photo = None
        for _ in range(len(self._files)):
            path = self._files[self._index]
            try:
                # The preview works on the size the dataset is made at, so what you see is what you get.
                self._photo = fit_photo(load_image(path, 3))
                break
            except SketchpadError as e:
                self.info.setText(str(e))
                self._index = (self._index + 1) % len(self._files)
        self.update_preview()

    def update_preview(self) -> None:
        self._show_thickness()
        if self._photo is None:
            self.preview_photo.clear()
            self.preview_lines.clear()
            return
        lines = self.preview_lineart()
        scale = Qt.AspectRatioMode.KeepAspectRatio
        mode = Qt.TransformationMode.SmoothTransformation
        self.preview_photo.setPixmap(to_pixmap(self._photo).scaled(PREVIEW_SIDE, PREVIEW_SIDE, scale, mode))
        self.preview_lines.setPixmap(to_pixmap(lines).scaled(PREVIEW_SIDE, PREVIEW_SIDE, scale, mode))

    def make(self) -> None:
        """Write the dataset in a worker thread; `made` is emitted when at least one pair was written."""
        if self._worker is not None:
            return
        photos, out = self.photos_edit.text().strip(), self.out_edit.text().strip()
        if not photos or not out:
            self.info.setText("Choose a folder of photos and a folder for the dataset.")
            return
        self.make_btn.setEnabled(False)
        self.progress.setVisible(True)
        self.progress.setValue(0)
        self._worker = _MakeWorker(Path(photos), Path(out), self.params(), self)
        self._worker.progressed.connect(self._on_progress)
        self._worker.done.connect(self._on_done)
        self._worker.start()

    def _on_progress(self, done: int, total: int, name: str) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.info.setText(f"{done}/{total}: {name}")

    def _on_done(self, result) -> None:
        if self._worker is not None:
            self._worker.wait()
            self._worker.deleteLater()
            self._worker = None
        self.make_btn.setEnabled(True)
        if isinstance(result, str):
            self.info.setText(result)
            return
        self.report = result
        self.info.setText(result.text())
        if result.made:
            self.made.emit(result.out)
            if not result.failed and not result.cancelled:
                self.accept()

    def _cancel(self) -> None:
        if self._worker is not None:
            self._worker.requestInterruption()
        else:
            self.reject()

    def closeEvent(self, event) -> None:
        if self._worker is not None:
            self._worker.requestInterruption()
            self._worker.wait()
        super().closeEvent(event)
