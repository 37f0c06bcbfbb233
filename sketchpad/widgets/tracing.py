"""Tracing pairs: a photo shown under the canvas (a new drawing of the photo's shape) to trace over, then
the drawing and the photo saved into a dataset as one pair."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from models.dataset_make import add_pair, fit_photo
from models.errors import SketchpadError
from models.imageio import load_image


class Tracing(QObject):
    """Traces on `canvas` (the window's; None: no tracing). `confirm` answers "discard the drawing?"."""

    message = Signal(str)  # a one-line status
    error = Signal(str)  # why tracing or saving did not happen
    underlay_shown = Signal(str)  # the photo now under the canvas
    saved = Signal(str)  # the dataset folder a pair was saved into

    def __init__(self, confirm: Callable[[str], bool], parent: QObject | None = None):
        super().__init__(parent)
        self.canvas = None
        self.photo: np.ndarray | None = None  # the photo under the drawing, as a pair's target
        self._confirm = confirm

    def can_save(self) -> bool:
        return self.canvas is not None and self.photo is not None

    def trace_photo(self, path: str) -> bool:
        """Show a photo under the canvas (a new drawing of the photo's shape) to trace over it."""
        canvas = self.canvas
        if canvas is None:
            self.error.emit("no canvas to trace on")
            return False
        try:
            photo = fit_photo(load_image(path, 3))
        except SketchpadError as e:
            self.error.emit(str(e))
            return False
        if canvas.is_modified() and not self._confirm(
            "Tracing starts a new drawing. Discard the current one?"
        ):
            return False
        h, w = photo.shape[:2]
        side = max(canvas.image_size())
        s = side / max(h, w)
        size = (max(4, round(w * s / 4) * 4), max(4, round(h * s / 4) * 4))
        canvas.new_drawing(size)
        canvas.set_underlay(photo, 0.5)
        self.photo = photo
        self.underlay_shown.emit(path)  # the window's opacity slider appears with it
        self.message.emit(f"Trace over {Path(path).name}, then “Save tracing as pair”")
        return True

    def save_pair(self, folder: str) -> tuple[Path, Path] | None:
        """Add (drawing, underlay photo) to the dataset in `folder` as one pair; returns the paths written."""
        if self.canvas is None or self.photo is None:
            self.error.emit("trace over a photo first (“Trace a photo…”)")
            return None
        if not folder:
            self.error.emit("choose a dataset folder to save the pair into")
            return None
        try:
            written = add_pair(folder, self.canvas.image_array(), self.photo, name="tracing")
        except SketchpadError as e:
            self.error.emit(str(e))
            return None
        self.message.emit(f"Saved pair {written[0].name} into {folder}")
        self.saved.emit(folder)
        return written
