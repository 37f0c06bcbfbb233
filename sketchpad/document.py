"""One drawing without Qt: its pixels, its kind and label palette, and the edits undo puts back.

A drawing is a uint8 (H, W, 3) numpy array of one kind: 'lineart' (dark on white), 'labels' (only the
palette's class colours) or 'image'. A stroke paints live onto the pixels between begin_stroke and
end_stroke; every other edit is a Patch (one box's pixels before and after) that an undo command puts
in place with put_patch, and put_image replaces the whole drawing (sketchpad/undo.py calls these two).
Whoever shows the drawing listens through `on_change`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from models import palette as palettes
from models.errors import ImageError
from sketchpad import raster
from sketchpad.raster import RGB, Box, Point

Palette = list[tuple[str, RGB]]

KINDS = ("lineart", "labels", "image")
KIND_NAMES = {"lineart": "line art", "labels": "label map", "image": "image"}
# A label map starts as the background class: the shipped facades model draws it as a plain wall, while a
# canvas-wide facade region (never seen in training, where facades always hold windows) comes out as glass.
BLANK_CLASSES = ("background", "facade")
WHITE: RGB = (255, 255, 255)
BLACK: RGB = (0, 0, 0)


def as_rgb(c) -> RGB:
    r, g, b = (int(v) for v in c)
    return (r, g, b)


def kind_palette(kind: str, palette: Palette | None = None) -> Palette:
    """The classes a drawing of `kind` paints with: `palette` (default the facades) for a label map, none
    for the other kinds. ValueError for an unknown kind."""
    if kind not in KINDS:
        raise ValueError(f"unknown drawing kind {kind!r}; expected one of {', '.join(KINDS)}")
    if kind != "labels":
        return []
    return [(str(n), as_rgb(c)) for n, c in palette or palettes.FACADES]


def as_drawing(a) -> np.ndarray:
    """An array as drawing pixels: grey becomes RGB, alpha is dropped; ImageError for anything else."""
    a = np.asarray(a)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4) or a.shape[0] < 1 or a.shape[1] < 1:
        raise ImageError(f"a drawing must be an (H, W, 3) image, got an array of shape {a.shape}")
    if a.dtype != np.uint8:
        raise ImageError(f"a drawing must be 8-bit (uint8), got {a.dtype}")
    return np.ascontiguousarray(a[:, :, :3])


@dataclass(frozen=True)
class Patch:
    """One edit as an undo step: the pixels of `box` (x0, y0, x1, y1) before and after it."""

    box: Box
    before: np.ndarray
    after: np.ndarray
    text: str


class Document:
    """A drawing of one kind; see the module docstring."""

    def __init__(self, image: np.ndarray, kind: str = "lineart", palette: Palette | None = None):
        self._palette = kind_palette(kind, palette)
        self._kind = kind
        self._img = np.ascontiguousarray(image, dtype=np.uint8).copy()
        # The live stroke: the drawing before it, and the box it painted so far.
        self._stroke_before: np.ndarray | None = None
        self._stroke_box: Box | None = None
        # Called after every change with the changed box, or None when the whole drawing was replaced.
        self.on_change: Callable[[Box | None], None] | None = None

    @classmethod
    def blank(cls, size: tuple[int, int], kind: str = "lineart", palette: Palette | None = None) -> Document:
        """A new drawing of `size` (width, height) in the kind's blank colour."""
        doc = cls(np.zeros((1, 1, 3), np.uint8), kind, palette)
        doc._img = doc.blank_image(size)
        return doc

    # ---- what the drawing is -------------------------------------------------------------------

    @property
    def kind(self) -> str:
        return self._kind

    @property
    def palette(self) -> Palette:
        """The label classes ([] unless kind is 'labels')."""
        return list(self._palette)

    @property
    def image(self) -> np.ndarray:
        """The pixels themselves, not a copy: read them, change them only through the methods below."""
        return self._img

    def size(self) -> tuple[int, int]:
        """(width, height) of the drawing."""
        return (self._img.shape[1], self._img.shape[0])

    def set_palette(self, palette: Palette | None) -> None:
        """New label classes; the pixels stay as they are (`snapped` gives them on the new palette)."""
        self._palette = kind_palette(self._kind, palette)

    def blank_color(self) -> RGB:
        """What a new drawing, Clear and the eraser paint: white paper, or the label map's wall (the
        'background' class; else 'facade'; else the first class)."""
        if self._kind == "labels" and self._palette:
            names = [n for n, _ in self._palette]
            for name in BLANK_CLASSES:
                if name in names:
                    return self._palette[names.index(name)][1]
            return self._palette[0][1]
        return WHITE

    def default_color(self) -> RGB:
        """What a kind paints with at first: black ink; for labels a class that shows on the blank (the
        facade on the background wall, then windows)."""
        if self._kind != "labels" or not self._palette:
            return BLACK
        names = [n for n, _ in self._palette]
        blank = self.blank_color()
        for name in ("facade", "window"):
            if name in names and self._palette[names.index(name)][1] != blank:
                return self._palette[names.index(name)][1]
        return next((c for _, c in self._palette if c != blank), self._palette[0][1])

    def blank_image(self, size: tuple[int, int] | None = None) -> np.ndarray:
        """Pixels of a blank drawing of `size` (width, height), by default this drawing's size."""
        w, h = size if size is not None else self.size()
        return np.full((int(h), int(w), 3), self.blank_color(), dtype=np.uint8)

    def is_blank(self) -> bool:
        return bool(np.all(self._img == self.blank_color()))

    def snap(self, a: np.ndarray) -> np.ndarray:
        """Pixels `a` as this kind keeps them: snapped to the nearest classes in a label map."""
        if self._kind == "labels" and self._palette:
            return palettes.snap(a, self._palette)
        return a

    def snap_color(self, rgb: RGB) -> RGB:
        """A paint colour as this kind keeps it: the nearest class in a label map."""
        return as_rgb(self.snap(np.array([[rgb]], dtype=np.uint8))[0, 0])

    def snapped(self) -> np.ndarray | None:
        """A label map holding colours off its palette, snapped onto it; None when there is nothing to snap."""
        if self._kind != "labels" or raster.only_colors(self._img, palettes.colors(self._palette)):
            return None
        return palettes.snap(self._img, self._palette)

    # ---- edits ---------------------------------------------------------------------------------

    def edit(self, paint: Callable[[np.ndarray], Box | None], text: str) -> Patch | None:
        """The edit `paint` makes to a copy of the drawing (returning its dirty box), as a Patch; None when
        it changes nothing. The drawing itself stays as it is until the Patch is put in place."""
        work = self._img.copy()
        box = paint(work)
        if box is None:
            return None
        x0, y0, x1, y1 = box
        before = self._img[y0:y1, x0:x1].copy()
        after = work[y0:y1, x0:x1].copy()
        return None if np.array_equal(before, after) else Patch(box, before, after, text)

    def cleared(self) -> Patch | None:
        """The whole drawing in the blank colour, as a Patch; None when it is blank already."""
        blank = self.blank_color()
        if np.all(self._img == blank):
            return None
        h, w = self._img.shape[:2]
        # A read-only broadcast of one colour: the "after" of a clear costs 3 bytes, not a whole image.
        after = np.broadcast_to(np.array(blank, dtype=np.uint8), self._img.shape)
        return Patch((0, 0, w, h), self._img.copy(), after, "Clear")

    def begin_stroke(self) -> None:
        """Paint live from now on (paint_stroke) until end_stroke makes the stroke one Patch."""
        self._stroke_before = self._img.copy()
        self._stroke_box = None

    def is_stroking(self) -> bool:
        return self._stroke_before is not None

    def paint_stroke(self, p0: Point, p1: Point, width0: float, width1: float, color: RGB) -> Box | None:
        """One segment of the live stroke, painted now; nothing outside a stroke."""
        if self._stroke_before is None:
            return None
        box = raster.stroke_segment(self._img, p0, p1, width0, width1, color)
        if box is not None:
            self._stroke_box = raster.union(self._stroke_box, box)
            self._changed(box)
        return box

    def end_stroke(self, text: str) -> Patch | None:
        """The live stroke as an already applied Patch; None when it changed nothing."""
        before, box = self._stroke_before, self._stroke_box
        self._stroke_before, self._stroke_box = None, None
        if before is None or box is None:
            return None
        x0, y0, x1, y1 = box
        b, a = before[y0:y1, x0:x1].copy(), self._img[y0:y1, x0:x1].copy()
        return None if np.array_equal(a, b) else Patch(box, b, a, text)

    # ---- undo targets (sketchpad.undo calls these) --------------------------------------------

    def put_patch(self, box: Box, pixels: np.ndarray) -> None:
        """Put `pixels` into `box` (an undo or redo)."""
        x0, y0, x1, y1 = box
        self._img[y0:y1, x0:x1] = pixels
        if self._stroke_before is not None:
            # An undo/redo during a stroke: the stroke's "before" follows it, so the stroke's own
            # undo step later restores the undone state, not the stale one.
            self._stroke_before[y0:y1, x0:x1] = pixels
        self._changed(box)

    def put_image(self, image: np.ndarray) -> None:
        """Replace the whole drawing (a load, a resize, their undo). A live stroke goes on over the new
        pixels; one of another size is dropped, as its pixels no longer line up."""
        resized = image.shape != self._img.shape
        self._img = np.ascontiguousarray(image, dtype=np.uint8).copy()
        if self._stroke_before is not None:
            if resized:
                self._stroke_before, self._stroke_box = None, None
            else:
                self._stroke_before = self._img.copy()
        self._changed(None)

    def _changed(self, box: Box | None) -> None:
        if self.on_change is not None:
            self.on_change(box)
