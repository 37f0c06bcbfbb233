"""The drawing tools without Qt: what a pen, brush, eraser, fill, rectangle, polygon and eyedropper do
to a Document.

The canvas turns pointer events into these calls (and draws the shape previews); each edit comes back
as a Patch for the canvas to push as one undo step. A stroke paints live as the pointer moves.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sketchpad import raster
from sketchpad.document import Document, Patch, as_rgb
from sketchpad.raster import RGB, Point

TOOLS = ("pen", "brush", "eraser", "fill", "rect", "polygon", "eyedropper")
# Single-key tool shortcuts (Krita/Photoshop habits); the window may turn these into QActions.
TOOL_SHORTCUTS = {
    "brush": "B",
    "pen": "P",
    "eraser": "E",
    "fill": "G",
    "rect": "R",
    "polygon": "L",
    "eyedropper": "I",
}
SIZE_SHORTCUTS = {"smaller": "[", "larger": "]"}
DEFAULT_SIZES = {"pen": 2, "brush": 12, "eraser": 16}
STROKE_TOOLS = ("pen", "brush", "eraser")
_STROKE_TEXT = {"pen": "Pen stroke", "brush": "Brush stroke", "eraser": "Erase"}


class Stroke:
    """A pen, brush or eraser stroke in progress: painted live segment by segment, one Patch at the end."""

    def __init__(self, doc: Document, tool: str, x: float, y: float, width: float):
        self.tool = tool
        self._doc = doc
        self._last = (x, y, width)
        doc.begin_stroke()

    def dab(self, color: RGB) -> None:
        """The first touch: a round dab where the stroke began."""
        x, y, width = self._last
        self._doc.paint_stroke((x, y), (x, y), width, width, color)

    def to(self, x: float, y: float, width: float, color: RGB) -> None:
        """Continue the stroke to (x, y), its width going over from the last point's."""
        if (x, y, width) == self._last:
            return
        lx, ly, lw = self._last
        self._last = (x, y, width)
        self._doc.paint_stroke((lx, ly), (x, y), lw, width, color)

    def finish(self) -> Patch | None:
        """The stroke as an already applied Patch; None when it changed nothing."""
        return self._doc.end_stroke(_STROKE_TEXT[self.tool])


def fill(doc: Document, x: float, y: float, color: RGB) -> Patch | None:
    """Flood-fill the exact-colour region under image point (x, y)."""
    ix, iy = int(np.floor(x)), int(np.floor(y))
    return doc.edit(lambda work: raster.flood_fill(work, ix, iy, color), "Fill")


def rectangle(doc: Document, p0: Point, p1: Point, color: RGB) -> Patch | None:
    """Fill the rectangle dragged from p0 to p1."""
    return doc.edit(lambda work: raster.fill_rect(work, p0, p1, color), "Rectangle")


def polygon(doc: Document, points: Sequence[Point], color: RGB) -> Patch | None:
    """Fill the polygon through `points`."""
    return doc.edit(lambda work: raster.fill_polygon(work, points, color), "Polygon")


def pick(doc: Document, x: float, y: float) -> RGB | None:
    """The colour of the pixel under image point (x, y); None off the drawing."""
    ix, iy = int(np.floor(x)), int(np.floor(y))
    w, h = doc.size()
    return as_rgb(doc.image[iy, ix]) if 0 <= ix < w and 0 <= iy < h else None
