"""The translated image, shown at the canvas's scale and offset so both panes line up pixel for pixel."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPalette, QPen
from PySide6.QtWidgets import QApplication, QWidget


def to_qimage(a: np.ndarray) -> QImage:
    """uint8 (H, W, 3) or (H, W) -> a QImage that owns its pixels."""
    a = np.ascontiguousarray(a)
    if a.ndim == 2:
        h, w = a.shape
        return QImage(a.data, w, h, a.strides[0], QImage.Format.Format_Grayscale8).copy()
    h, w = a.shape[:2]
    return QImage(a.data, w, h, a.strides[0], QImage.Format.Format_RGB888).copy()


class ResultView(QWidget):
    """Paints the latest result with the canvas's view transform; wheel events go to the canvas."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumSize(64, 64)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self._canvas = None
        self._array: np.ndarray | None = None
        self._image: QImage | None = None
        self._placeholder = "The translation appears here as you draw."
        self._badge = ""

    def follow(self, canvas) -> None:
        """Use `canvas`'s zoom and pan, and repaint whenever they change."""
        self._canvas = canvas
        canvas.view_changed.connect(self.update)

    def set_result(self, array: np.ndarray | None, badge: str = "") -> None:
        self._array = None if array is None else np.array(array, copy=True)
        self._image = None if array is None else to_qimage(self._array)
        self._badge = badge
        self.update()

    def result_array(self) -> np.ndarray | None:
        """A copy of the shown result (uint8), or None."""
        return None if self._array is None else self._array.copy()

    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        self.update()

    def _target(self) -> QRectF:
        """Where the result goes in widget coordinates: over the canvas's drawing rectangle."""
        if self._canvas is None:
            w, h = (self._image.width(), self._image.height()) if self._image else (1, 1)
            z = min(self.width() / w, self.height() / h)
            return QRectF((self.width() - w * z) / 2, (self.height() - h * z) / 2, w * z, h * z)
        cw, ch = self._canvas.image_size()
        return self._canvas.view_transform().mapRect(QRectF(0, 0, cw, ch))

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), self.palette().color(self.backgroundRole()).darker(115))
        r = self._target()
        if self._image is None:
            p.setPen(QPen(self.palette().color(self.foregroundRole()), 0, Qt.PenStyle.DashLine))
            p.drawRect(r.adjusted(-1, -1, 0, 0))
            p.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            p.drawText(r, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._placeholder)
        else:
            smooth = r.width() < self._image.width()  # downscale smoothly, upscale as crisp pixels
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
            p.drawImage(r, self._image)
            p.setPen(QPen(self.palette().color(self.foregroundRole()), 0))
            p.drawRect(r.adjusted(-1, -1, 0, 0))
        if self._badge:
            f = p.font()
            f.setPointSizeF(max(7.0, f.pointSizeF() * 0.85))
            p.setFont(f)
            fm = p.fontMetrics()
            box = QRectF(0, 0, fm.horizontalAdvance(self._badge) + 12, fm.height() + 4)
            box.moveTopRight(QPointF(self.width() - 6, 6))
            p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(0, 0, 0, 140))
            p.drawRoundedRect(box, 4, 4)
            p.setPen(QColor(255, 255, 255))
            p.drawText(box, Qt.AlignmentFlag.AlignCenter, self._badge)
        p.end()

    def wheelEvent(self, event) -> None:
        # Zoom and scroll on either pane move both: the canvas owns the view.
        if self._canvas is not None:
            QApplication.sendEvent(self._canvas, event)
        else:
            super().wheelEvent(event)

    def changeEvent(self, event) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self.update()
        super().changeEvent(event)
