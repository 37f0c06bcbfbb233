"""Undo commands for a drawing: each stores only the pixels it changed.

A stroke, fill, shape or clear keeps the before/after copies of its dirty box, so a 3 px pen line
on a 2048x2048 drawing costs a few hundred bytes, not 12 MB. A load that changes the drawing's size
keeps both whole images. The target is anything with ``put_patch(box, pixels)`` and
``put_image(array)``: a sketchpad.document.Document, whose listener (the canvas) repaints.
"""

from __future__ import annotations

import zlib
from typing import Protocol

import numpy as np
from PySide6.QtGui import QUndoCommand

from sketchpad.raster import Box


class _Packed:
    """Pixels kept zlib-compressed. Drawings are flat colour, so a stroke's box shrinks 10-100x: without
    this, hours of drawing (long diagonal strokes, fills, clears) grew the undo history by ~35 MB a minute
    (`sketchpad bench --soak`)."""

    __slots__ = ("shape", "dtype", "data")

    def __init__(self, a: np.ndarray):
        a = np.ascontiguousarray(a)
        self.shape, self.dtype = a.shape, a.dtype
        self.data = zlib.compress(a.tobytes(), 1)

    def array(self) -> np.ndarray:
        return np.frombuffer(zlib.decompress(self.data), self.dtype).reshape(self.shape).copy()

    @property
    def nbytes(self) -> int:
        return len(self.data)


class _Target(Protocol):
    def put_patch(self, box: Box, pixels: np.ndarray) -> None: ...
    def put_image(self, image: np.ndarray) -> None: ...


class PatchCommand(QUndoCommand):
    """Pixels of one box replaced: `before` and `after` are (y1-y0, x1-x0, 3) uint8 copies.

    `applied=True` when the edit is already on the drawing (a stroke painted live), so the first
    redo() that QUndoStack.push() calls does nothing.
    """

    def __init__(
        self, target: _Target, box: Box, before: np.ndarray, after: np.ndarray, text: str, *, applied: bool
    ):
        super().__init__(text)
        self._target = target
        self.box = box
        self._before = _Packed(before)
        self._after = _Packed(after)
        self._skip_redo = applied

    def nbytes(self) -> int:
        return self._before.nbytes + self._after.nbytes

    def redo(self) -> None:
        if self._skip_redo:
            self._skip_redo = False
            return
        self._target.put_patch(self.box, self._after.array())

    def undo(self) -> None:
        self._target.put_patch(self.box, self._before.array())


class ImageCommand(QUndoCommand):
    """The whole drawing replaced (a load or a resize): both images kept."""

    def __init__(self, target: _Target, before: np.ndarray, after: np.ndarray, text: str):
        super().__init__(text)
        self._target = target
        self._before = _Packed(before)
        self._after = _Packed(after)

    def nbytes(self) -> int:
        return self._before.nbytes + self._after.nbytes

    def redo(self) -> None:
        self._target.put_image(self._after.array())

    def undo(self) -> None:
        self._target.put_image(self._before.array())
