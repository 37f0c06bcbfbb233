"""Undo commands on a Document (no widget): a QUndoStack puts patches and whole images back."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QUndoStack

from sketchpad import raster, tools
from sketchpad.document import Document
from sketchpad.undo import ImageCommand, PatchCommand

pytestmark = pytest.mark.gui


def test_patch_and_image_commands_undo_and_redo_a_document(qapp):
    doc = Document.blank((64, 48))
    stack = QUndoStack()
    fill = doc.edit(lambda work: raster.fill_rect(work, (4, 4), (9, 9), (0, 0, 255)), "Rectangle")
    stack.push(PatchCommand(doc, fill.box, fill.before, fill.after, fill.text, applied=False))
    boxed = doc.image.copy()
    assert (boxed[4:10, 4:10] == (0, 0, 255)).all() and stack.undoText() == "Rectangle"
    s = tools.Stroke(doc, "pen", 20, 20, 2)
    s.dab((0, 0, 0))
    s.to(40, 30, 2, (0, 0, 0))
    stroke = s.finish()
    stroked = doc.image.copy()
    stack.push(PatchCommand(doc, stroke.box, stroke.before, stroke.after, stroke.text, applied=True))
    assert np.array_equal(doc.image, stroked)  # pushing an applied stroke paints nothing twice
    other = np.zeros((10, 12, 3), np.uint8)
    stack.push(ImageCommand(doc, doc.image.copy(), other, "Load drawing"))
    assert doc.size() == (12, 10)
    stack.undo()
    assert np.array_equal(doc.image, stroked)
    stack.undo()
    assert np.array_equal(doc.image, boxed)
    stack.undo()
    assert doc.is_blank()
    for _ in range(3):
        stack.redo()
    assert np.array_equal(doc.image, other)


def test_a_patch_command_keeps_only_its_box_compressed(qapp):
    doc = Document.blank((2048, 2048))
    p = doc.edit(lambda work: raster.fill_rect(work, (100, 100), (110, 104), (0, 0, 0)), "Rectangle")
    cmd = PatchCommand(doc, p.box, p.before, p.after, p.text, applied=False)
    assert cmd.box == (100, 100, 111, 105) and cmd.nbytes() < 2 * 11 * 5 * 3
