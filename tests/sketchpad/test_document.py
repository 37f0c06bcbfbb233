"""The drawing document and the tools, without Qt: patches put back, snapping, kinds, live strokes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from models.errors import ImageError
from models.palette import FACADES, colors
from sketchpad import raster, tools
from sketchpad.document import BLACK, WHITE, Document, as_drawing, kind_palette

WALL, FACADE = FACADES[0][1], FACADES[1][1]


def test_document_and_tools_need_no_qt():
    code = "import sys, sketchpad.document, sketchpad.tools; print(any('PySide6' in m for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---- kinds and snapping -------------------------------------------------------------------------


def test_each_kind_has_its_blank_and_first_colour():
    line = Document.blank((8, 6))
    assert line.kind == "lineart" and line.size() == (8, 6) and line.palette == []
    assert line.blank_color() == WHITE and line.default_color() == BLACK and line.is_blank()
    labels = Document.blank((8, 6), "labels")
    assert labels.palette == [(n, tuple(c)) for n, c in FACADES]  # the facades unless told otherwise
    assert (labels.image == WALL).all() and labels.blank_color() == WALL and labels.default_color() == FACADE
    no_background = Document.blank((4, 4), "labels", [("sky", (10, 10, 10)), ("facade", (200, 200, 200))])
    assert no_background.blank_color() == (200, 200, 200) and no_background.default_color() == (10, 10, 10)
    assert Document.blank((4, 4), "image", FACADES).palette == []  # only a label map has classes
    with pytest.raises(ValueError, match="unknown drawing kind"):
        kind_palette("photo")


def test_a_label_map_snaps_colours_and_pixels_onto_its_palette():
    doc = Document.blank((4, 4), "labels")
    assert doc.snap_color((10, 12, 160)) == (0, 0, 170) and doc.snap_color((250, 250, 14)) == (255, 255, 0)
    a = np.zeros((4, 4, 3), np.uint8)
    a[:2] = (10, 12, 160)
    a[2:] = (250, 250, 14)
    assert raster.only_colors(doc.snap(a), colors(FACADES))
    assert doc.snapped() is None  # a blank label map holds only classes
    doc.put_image(a)
    snapped = doc.snapped()
    assert snapped is not None and (snapped[:2] == (0, 0, 170)).all() and (snapped[2:] == (255, 255, 0)).all()
    line = Document.blank((4, 4))
    assert line.snap_color((10, 12, 160)) == (10, 12, 160) and line.snap(a) is a and line.snapped() is None


def test_a_new_palette_leaves_the_pixels_until_snapped():
    doc = Document.blank((4, 4), "labels")
    other = [("sky", (10, 10, 10)), ("facade", (200, 200, 200))]
    doc.set_palette(other)
    assert doc.palette == other and (doc.image == WALL).all() and not doc.is_blank()
    assert raster.only_colors(doc.snapped(), colors(other))


def test_arrays_become_drawings_or_a_clear_error():
    grey = np.full((3, 5), 7, np.uint8)
    assert as_drawing(grey).shape == (3, 5, 3) and (as_drawing(grey) == 7).all()
    rgba = np.zeros((2, 2, 4), np.uint8)
    assert as_drawing(rgba).shape == (2, 2, 3) and as_drawing(rgba).flags.c_contiguous
    for bad in (
        np.zeros((4, 4, 2), np.uint8),
        np.zeros((4, 4, 3), np.float32),
        np.zeros((0, 4, 3), np.uint8),
    ):
        with pytest.raises(ImageError):
            as_drawing(bad)


# ---- patches: what undo puts back ---------------------------------------------------------------


def test_an_edit_is_a_patch_that_put_patch_applies_and_takes_back():
    doc = Document.blank((16, 12))
    seen = []
    doc.on_change = seen.append
    patch = doc.edit(lambda work: raster.fill_rect(work, (2, 3), (5, 7), (200, 0, 0)), "Rectangle")
    assert patch is not None and patch.box == (2, 3, 6, 8) and patch.text == "Rectangle"
    assert doc.is_blank() and seen == []  # nothing is on the drawing until the patch is put in place
    doc.put_patch(patch.box, patch.after)
    assert (doc.image[3:8, 2:6] == (200, 0, 0)).all() and seen == [(2, 3, 6, 8)]
    assert (np.delete(doc.image, np.s_[3:8], axis=0) == 255).all()
    doc.put_patch(patch.box, patch.before)
    assert doc.is_blank() and len(seen) == 2
    assert (
        doc.edit(lambda work: raster.fill_rect(work, (2, 3), (5, 7), WHITE), "Rectangle") is None
    )  # no change


def test_clear_is_a_patch_of_the_whole_drawing():
    doc = Document.blank((6, 4))
    assert doc.cleared() is None
    doc.put_image(np.zeros((4, 6, 3), np.uint8))
    patch = doc.cleared()
    assert patch.box == (0, 0, 6, 4) and (patch.before == 0).all() and (patch.after == 255).all()
    doc.put_patch(patch.box, patch.after)
    assert doc.is_blank()


def test_put_image_replaces_the_drawing_and_tells_the_listener():
    doc = Document.blank((6, 4))
    seen = []
    doc.on_change = seen.append
    a = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    doc.put_image(a)
    assert doc.size() == (3, 2) and np.array_equal(doc.image, a) and seen == [None]
    a[:] = 0
    assert not np.array_equal(doc.image, a)  # the document keeps its own copy


# ---- live strokes -------------------------------------------------------------------------------


def test_a_stroke_paints_live_and_ends_as_an_applied_patch():
    doc = Document.blank((32, 16))
    seen = []
    doc.on_change = seen.append
    s = tools.Stroke(doc, "pen", 2, 8, 3)
    assert doc.is_stroking()
    s.dab(BLACK)
    s.to(20, 8, 3, BLACK)
    s.to(20, 8, 3, BLACK)  # the same point again paints nothing
    assert len(seen) == 2 and (doc.image[8, 2:21] == 0).all()
    patch = s.finish()
    assert not doc.is_stroking() and patch.text == "Pen stroke"
    x0, y0, x1, y1 = patch.box
    assert (patch.before == 255).all() and np.array_equal(patch.after, doc.image[y0:y1, x0:x1])
    assert doc.paint_stroke((0, 0), (5, 5), 3, 3, BLACK) is None  # no stroke: nothing is painted
    off = tools.Stroke(doc, "eraser", 50, 50, 2)
    off.dab(WHITE)
    assert off.finish() is None  # off the drawing: no undo step


def test_an_undo_during_a_stroke_moves_the_strokes_before_along():
    doc = Document.blank((32, 16))
    first = doc.edit(lambda work: raster.fill_rect(work, (0, 6), (31, 12), BLACK), "Rectangle")
    doc.put_patch(first.box, first.after)  # edit A, under the stroke to come
    s = tools.Stroke(doc, "brush", 2, 10, 4)
    s.dab((200, 0, 0))
    doc.put_patch(first.box, first.before)  # A undone mid-stroke
    s.to(28, 10, 4, (200, 0, 0))
    patch = s.finish()
    doc.put_patch(patch.box, patch.before)  # undoing the stroke goes back to blank, not to "A drawn"
    assert doc.is_blank()


def test_a_resize_drops_the_stroke_and_a_same_size_load_keeps_it():
    doc = Document.blank((16, 16))
    s = tools.Stroke(doc, "pen", 2, 2, 2)
    s.dab(BLACK)
    doc.put_image(np.zeros((16, 16, 3), np.uint8))
    assert doc.is_stroking()
    s.to(2, 12, 2, WHITE)
    patch = s.finish()
    assert patch is not None and (patch.before == 0).all()  # measured against the loaded pixels
    s = tools.Stroke(doc, "pen", 2, 2, 2)
    doc.put_image(np.zeros((8, 8, 3), np.uint8))
    assert not doc.is_stroking()
    s.to(6, 6, 2, WHITE)
    assert s.finish() is None and (doc.image == 0).all()


# ---- the other tools ----------------------------------------------------------------------------


def test_fill_rectangle_and_polygon_give_patches_and_pick_reads_a_pixel():
    doc = Document.blank((20, 20))
    wall = np.full((20, 20, 3), 255, np.uint8)
    wall[:, 10] = 0
    doc.put_image(wall)
    fill = tools.fill(doc, 3.7, 5.2, (0, 0, 255))
    assert fill.box == (0, 0, 10, 20) and (fill.after == (0, 0, 255)).all() and fill.text == "Fill"
    assert tools.fill(doc, 10.5, 3, BLACK) is None and tools.fill(doc, -1, 3, WHITE) is None
    assert tools.rectangle(doc, (1, 1), (3, 2), (9, 9, 9)).box == (1, 1, 4, 3)
    tri = tools.polygon(doc, [(0, 0), (8, 0), (0, 8)], (9, 9, 9))
    assert tri.text == "Polygon" and tri.after[1, 1].tolist() == [9, 9, 9]
    assert tools.polygon(doc, [(0, 0), (8, 0)], (9, 9, 9)) is None
    assert tools.pick(doc, 10.9, 0) == BLACK and tools.pick(doc, 3, 3) == WHITE
    assert tools.pick(doc, 20, 0) is None and tools.pick(doc, 0, -0.5) is None
