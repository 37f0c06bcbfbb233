"""The drawing canvas: a fixed-size RGB image painted with pen, brush, eraser, fill and shapes.

The drawing lives in a uint8 (H, W, 3) numpy array; a QImage wraps the same memory for painting,
so an edit is a numpy write plus a repaint of its dirty box. Pixel rules (which pixels a stroke
covers, flood fill, polygons) live in sketchpad/raster.py and never anti-alias, so a label map keeps
only palette colours. The canvas emits intent and change signals and never calls the main window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPointingDevice,
    QPolygonF,
    QTabletEvent,
    QTransform,
    QUndoGroup,
    QUndoStack,
    QWheelEvent,
)
from PySide6.QtWidgets import QWidget

from models import palette as palettes
from models.errors import ImageError
from sketchpad import raster
from sketchpad.raster import RGB, Box, View
from sketchpad.undo import ImageCommand, PatchCommand

Palette = list[tuple[str, tuple[int, int, int]]]

KINDS = ("lineart", "labels", "image")
KIND_NAMES = {"lineart": "line art", "labels": "label map", "image": "image"}
# A label map starts as the background class: the shipped facades model draws it as a plain wall, while a
# canvas-wide facade region (never seen in training, where facades always hold windows) comes out as glass.
BLANK_CLASSES = ("background", "facade")
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
MIN_ZOOM, MAX_ZOOM = 0.05, 64.0
ZOOM_STEP = 1.25
WHITE: RGB = (255, 255, 255)
BLACK: RGB = (0, 0, 0)
_STROKE_TOOLS = ("pen", "brush", "eraser")


def _rgb(c) -> RGB:
    r, g, b = (int(v) for v in c)
    return (r, g, b)


@dataclass(frozen=True)
class _Kept:
    """A drawing kind's drawing while another kind is shown."""

    image: np.ndarray
    undo_stack: QUndoStack
    palette: Palette
    color: RGB


def _wrap(img: np.ndarray) -> QImage:
    """A QImage sharing img's memory (the caller keeps img alive and C-contiguous)."""
    h, w = img.shape[:2]
    return QImage(img.data, w, h, img.strides[0], QImage.Format.Format_RGB888)


class Canvas(QWidget):
    """A drawing widget; see the Canvas API in briefs/protocol.md."""

    changed = Signal()  # after every edit: stroke segment, fill, shape, undo, redo, clear, load
    stroke_started = Signal()  # pointer edit begins (press); changed outside a stroke is a finished edit
    stroke_finished = Signal()  # pointer edit ends (release, fill, shape committed)
    view_changed = Signal()  # zoom or pan changed
    color_picked = Signal(tuple)  # eyedropper picked (r, g, b)
    color_changed = Signal(tuple)  # the current colour changed (eyedropper, set_color, kind switch)
    tool_changed = Signal(str)
    brush_size_changed = Signal(int)  # the current tool's size changed

    def __init__(self, size: tuple[int, int] = (256, 256), parent: QWidget | None = None):
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setAttribute(Qt.WidgetAttribute.WA_TabletTracking)
        self.setMinimumSize(64, 64)
        # One undo history per drawing kind; the group's undo/redo actions follow the current one.
        self.undo_group = QUndoGroup(self)
        self.undo_stack = QUndoStack(self)
        self._activate(self.undo_stack)
        self._kept: dict[str, _Kept] = {}  # the other kinds' drawings
        self._kind = "lineart"
        self._palette: Palette = []
        self._tool = "pen"
        self._color: RGB = BLACK
        self._sizes = dict(DEFAULT_SIZES)
        self._img = np.full((int(size[1]), int(size[0]), 3), 255, dtype=np.uint8)
        self._qimg = _wrap(self._img)
        self._view = View(1.0, 0.0, 0.0)
        self._fit = True  # follow the widget size until the user zooms or pans
        self._underlay_src: np.ndarray | None = None
        self._underlay: QImage | None = None
        self._underlay_opacity = 0.5
        # Pointer state.
        self._cursor: QPointF | None = None
        self._space = False
        self._pan_from: tuple[QPointF, View] | None = None
        self._stroke_before: np.ndarray | None = None
        self._stroke_box: Box | None = None
        self._stroke_tool = "pen"
        self._last: tuple[float, float, float] | None = None  # x, y, width
        self._rect: tuple[tuple[float, float], tuple[float, float]] | None = None
        self._poly: list[tuple[float, float]] = []
        self._picking = False
        self._update_cursor_shape()

    # ---- drawing state -------------------------------------------------------------------------

    def kind(self) -> str:
        return self._kind

    def label_palette(self) -> Palette:
        """The label classes ([] unless kind is 'labels')."""
        return list(self._palette)

    def set_kind(self, kind: str, palette: Palette | None = None) -> bool:
        """Switch between 'lineart' (dark on white), 'labels' (palette classes) and 'image'.

        Each kind keeps its own drawing and undo history: switching away keeps the drawing, switching back
        brings it back; a kind seen for the first time starts blank. Nothing is converted across kinds
        (`convert_from` does that, when asked). Within 'labels', a new palette snaps an edited drawing as
        one undo step. Returns True when a drawing of this kind is shown (kept or brought back), False
        when it starts blank."""
        if kind not in KINDS:
            raise ValueError(f"unknown drawing kind {kind!r}; expected one of {', '.join(KINDS)}")
        if kind == "labels":
            palette = palette or palettes.FACADES
            new_palette = [(str(n), _rgb(c)) for n, c in palette]
        else:
            new_palette = []
        self._cancel_shapes()
        if kind != self._kind:
            return self._swap_kind(kind, new_palette)
        if new_palette != self._palette:
            was_blank = self.is_pristine()
            self._palette = new_palette
            self._refit_palette(was_blank)
            self._set_color(self._default_color())
        self.update()
        return True

    def _swap_kind(self, kind: str, palette: Palette) -> bool:
        """Put this kind's drawing away and bring `kind`'s back (or start it blank)."""
        old = _Kept(self._img, self.undo_stack, self._palette, self._color)
        if self.is_pristine():
            self._drop_stack(self.undo_stack)  # nothing worth keeping: a blank, never-edited drawing
        else:
            self._kept[self._kind] = old
        kept = self._kept.pop(kind, None)
        self._kind, self._palette = kind, palette
        if kept is None:
            self._activate(QUndoStack(self))
            self._put_image(np.full_like(self._img, self._blank_color()))
            self._set_color(self._default_color())
        else:
            self._activate(kept.undo_stack)
            self._put_image(kept.image)
            if kept.palette != palette:
                self._refit_palette(False)
            self._set_color(kept.color)
        self.update()
        return kept is not None

    def _refit_palette(self, was_blank: bool) -> None:
        """The label palette changed: a blank drawing becomes the new blank, an edited one is snapped."""
        if was_blank:
            if not np.all(self._img == self._blank_color()):
                self._put_image(np.full_like(self._img, self._blank_color()))
        elif self._kind == "labels" and not raster.only_colors(self._img, self._palette_colors()):
            self.undo_stack.push(
                ImageCommand(
                    self, self._img.copy(), palettes.snap(self._img, self._palette), "Snap to palette"
                )
            )

    def _default_color(self) -> RGB:
        """What a kind paints with at first: black ink; for labels a class that shows on the blank (the
        facade on the background wall, then windows)."""
        if self._kind != "labels" or not self._palette:
            return BLACK
        names = [n for n, _ in self._palette]
        blank = self._blank_color()
        for name in ("facade", "window"):
            if name in names and self._palette[names.index(name)][1] != blank:
                return self._palette[names.index(name)][1]
        return next((c for _, c in self._palette if c != blank), self._palette[0][1])

    def is_pristine(self) -> bool:
        """A blank drawing that was never edited (nothing to keep)."""
        return self.undo_stack.count() == 0 and bool(np.all(self._img == self._blank_color()))

    def _activate(self, stack: QUndoStack) -> None:
        self.undo_stack = stack
        self.undo_group.addStack(stack)  # a stack already in the group stays as it is
        self.undo_group.setActiveStack(stack)

    def _drop_stack(self, stack: QUndoStack) -> None:
        self.undo_group.removeStack(stack)
        stack.clear()
        stack.deleteLater()

    def kept_kinds(self) -> list[str]:
        """The other kinds whose drawings are kept (switching to one brings its drawing back)."""
        return list(self._kept)

    def kept_image(self, kind: str) -> np.ndarray | None:
        """A copy of the kept drawing of another kind, or None."""
        k = self._kept.get(kind)
        return None if k is None else k.image.copy()

    def kept_is_modified(self, kind: str) -> bool:
        """Whether the kept drawing of `kind` has changes since it was last saved or opened."""
        k = self._kept.get(kind)
        return k is not None and not k.undo_stack.isClean()

    def set_kept_clean(self, kind: str) -> None:
        """The kept drawing of `kind` was saved."""
        k = self._kept.get(kind)
        if k is not None:
            k.undo_stack.setClean()

    def undo_stacks(self) -> list[QUndoStack]:
        """Every kind's undo history, the current one first."""
        return [self.undo_stack, *(k.undo_stack for k in self._kept.values())]

    def convert_from(self, kind: str) -> bool:
        """Replace this drawing by the kept drawing of `kind`, converted to this kind, as one undo step
        (label map -> its region outlines as line art; line art -> dark lines as background-class outlines
        on the blank class; anything else snapped or kept as it is). False when no such drawing is kept."""
        kept = self._kept.get(kind)
        if kept is None or kind == self._kind:
            return False
        self._cancel_shapes()
        a = raster.convert_drawing(
            kept.image, kind, self._kind, palette=self._palette, blank=self._blank_color()
        )
        text = f"Convert {KIND_NAMES[kind]} to {KIND_NAMES[self._kind]}"
        self.undo_stack.push(ImageCommand(self, self._img.copy(), a, text))
        return True

    def tool(self) -> str:
        return self._tool

    def set_tool(self, name: str) -> None:
        if name not in TOOLS:
            raise ValueError(f"unknown tool {name!r}; expected one of {', '.join(TOOLS)}")
        if name == self._tool:
            return
        self._cancel_shapes()
        self._tool = name
        self._update_cursor_shape()
        self.update()
        self.tool_changed.emit(name)
        self.brush_size_changed.emit(self.brush_size())

    def color(self) -> RGB:
        return self._color

    def set_color(self, rgb: tuple[int, int, int]) -> None:
        """The paint colour; in 'labels' mode snapped to the nearest palette class."""
        self._set_color(_rgb(rgb))

    def _set_color(self, rgb: RGB) -> None:
        if self._kind == "labels" and self._palette:
            rgb = _rgb(palettes.snap(np.array([[rgb]], dtype=np.uint8), self._palette)[0, 0])
        if rgb != self._color:
            self._color = rgb
            self.color_changed.emit(rgb)

    def brush_size(self) -> int:
        """Diameter in image pixels of the current stroke tool (the brush's for non-stroke tools)."""
        return self._sizes[self._tool if self._tool in _STROKE_TOOLS else "brush"]

    def set_brush_size(self, px: int) -> None:
        key = self._tool if self._tool in _STROKE_TOOLS else "brush"
        px = int(min(max(int(px), 1), 512))
        if px != self._sizes[key]:
            self._sizes[key] = px
            self.brush_size_changed.emit(px)
            self._update_cursor_area()

    def background_color(self) -> RGB:
        """What a new drawing, Clear and the eraser paint: white paper, or the label map's wall (the
        'background' class; else 'facade'; else the first class)."""
        return self._blank_color()

    def _blank_color(self) -> RGB:
        if self._kind == "labels" and self._palette:
            names = [n for n, _ in self._palette]
            for name in BLANK_CLASSES:
                if name in names:
                    return self._palette[names.index(name)][1]
            return self._palette[0][1]
        return WHITE

    def _palette_colors(self) -> np.ndarray:
        return palettes.colors(self._palette)

    def image_size(self) -> tuple[int, int]:
        """(width, height) of the drawing."""
        return (self._img.shape[1], self._img.shape[0])

    def image_array(self) -> np.ndarray:
        """uint8 (H, W, 3) copy of the drawing (never the underlay)."""
        return self._img.copy()

    def set_image_array(self, a: np.ndarray, *, undoable: bool = True) -> None:
        """Replace the drawing (any size). Snapped to the palette in 'labels' mode. undoable=False is
        a document load: the undo history is cleared and the drawing counts as unmodified."""
        a = np.asarray(a)
        if a.ndim == 2:
            a = np.repeat(a[:, :, None], 3, axis=2)
        if a.ndim != 3 or a.shape[2] not in (3, 4) or a.shape[0] < 1 or a.shape[1] < 1:
            raise ImageError(f"a drawing must be an (H, W, 3) image, got an array of shape {a.shape}")
        if a.dtype != np.uint8:
            raise ImageError(f"a drawing must be 8-bit (uint8), got {a.dtype}")
        a = np.ascontiguousarray(a[:, :, :3])
        if self._kind == "labels" and self._palette:
            a = palettes.snap(a, self._palette)
        if undoable:
            self.undo_stack.push(ImageCommand(self, self._img.copy(), a.copy(), "Load drawing"))
        else:
            self._put_image(a)
            self.undo_stack.clear()

    def clear(self) -> None:
        """Fill with the blank colour, as one undo step (nothing happens on a blank drawing)."""
        blank = self._blank_color()
        if np.all(self._img == blank):
            return
        h, w = self._img.shape[:2]
        # A read-only broadcast of one colour: the "after" of a clear costs 3 bytes, not a whole image.
        after = np.broadcast_to(np.array(blank, dtype=np.uint8), self._img.shape)
        self.undo_stack.push(
            PatchCommand(self, (0, 0, w, h), self._img.copy(), after, "Clear", applied=False)
        )

    def new_drawing(self, size: tuple[int, int] = (256, 256)) -> None:
        """A blank drawing of size (width, height): a new document, so undo history is cleared."""
        w, h = int(size[0]), int(size[1])
        if w < 1 or h < 1:
            raise ImageError(f"a drawing needs a positive size, got {w}x{h}")
        self._cancel_shapes()
        self._put_image(np.full((h, w, 3), self._blank_color(), dtype=np.uint8))
        self.undo_stack.clear()
        self.fit_to_window()

    def is_modified(self) -> bool:
        return not self.undo_stack.isClean()

    def set_clean(self) -> None:
        self.undo_stack.setClean()

    def is_stroking(self) -> bool:
        """True between stroke_started and stroke_finished."""
        return self._stroke_before is not None or self._rect is not None

    # ---- underlay ------------------------------------------------------------------------------

    def set_underlay(self, a: np.ndarray | None, opacity: float = 0.5) -> None:
        """A photo shown under the drawing for tracing (scaled to the drawing); None removes it."""
        self._underlay_opacity = float(min(max(opacity, 0.0), 1.0))
        if a is None:
            self._underlay_src, self._underlay = None, None
        else:
            a = np.asarray(a)
            if a.ndim == 2:
                a = np.repeat(a[:, :, None], 3, axis=2)
            if a.ndim != 3 or a.shape[2] not in (3, 4) or a.dtype != np.uint8:
                raise ImageError(f"an underlay must be a uint8 (H, W, 3) image, got {a.dtype} {a.shape}")
            self._underlay_src = np.ascontiguousarray(a[:, :, :3])
            self._rescale_underlay()
        self.update()

    def underlay_opacity(self) -> float:
        return self._underlay_opacity

    def set_underlay_opacity(self, opacity: float) -> None:
        self._underlay_opacity = float(min(max(opacity, 0.0), 1.0))
        self.update()

    def has_underlay(self) -> bool:
        return self._underlay is not None

    def _rescale_underlay(self) -> None:
        if self._underlay_src is None:
            return
        src = self._underlay_src
        q = _wrap(src).copy()  # own the pixels: the source array may go away
        w, h = self.image_size()
        if (q.width(), q.height()) != (w, h):
            q = q.scaled(
                w, h, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
        self._underlay = q

    # ---- view ----------------------------------------------------------------------------------

    def zoom(self) -> float:
        return self._view.zoom

    def set_zoom(self, z: float, about: QPointF | None = None) -> None:
        """Zoom to z (clamped), keeping the image point under `about` (default: widget centre) fixed."""
        z = float(min(max(z, MIN_ZOOM), MAX_ZOOM))
        c = about if about is not None else QPointF(self.width() / 2.0, self.height() / 2.0)
        self._fit = False
        self._set_view(self._view.zoomed_about(c.x(), c.y(), z))

    def zoom_in(self, about: QPointF | None = None) -> None:
        self.set_zoom(self._view.zoom * ZOOM_STEP, about)

    def zoom_out(self, about: QPointF | None = None) -> None:
        self.set_zoom(self._view.zoom / ZOOM_STEP, about)

    def fit_to_window(self) -> None:
        """Show the whole drawing, centred (Ctrl+0); the view then follows the widget's size."""
        self._fit = True
        z = raster.fit_zoom(self.image_size(), (self.width(), self.height()))
        self._set_view(raster.centred_view(self.image_size(), (self.width(), self.height()), z))

    def actual_size(self) -> None:
        """100 % zoom about the widget centre (Ctrl+1)."""
        self.set_zoom(1.0)

    def view(self) -> View:
        return self._view

    def view_transform(self) -> QTransform:
        """Image -> widget coordinates."""
        v = self._view
        return QTransform(v.zoom, 0.0, 0.0, v.zoom, v.ox, v.oy)

    def image_point(self, pos: QPointF) -> tuple[float, float]:
        """Widget point -> image coordinates (floats; pixel (x, y) covers [x, x+1))."""
        return self._view.to_image(pos.x(), pos.y())

    def _set_view(self, v: View) -> None:
        v = self._keep_visible(v)
        if v != self._view:
            self._view = v
            self.update()
            self.view_changed.emit()

    def _keep_visible(self, v: View) -> View:
        # Never let a pan lose the drawing: at least a strip of it stays in the widget.
        w, h = self.image_size()
        iw, ih = w * v.zoom, h * v.zoom
        mx, my = min(32.0, iw), min(32.0, ih)
        ox = min(max(v.ox, mx - iw), self.width() - mx)
        oy = min(max(v.oy, my - ih), self.height() - my)
        # Whole-pixel origin: at integer zooms every image pixel lands on whole screen pixels, and a
        # partial repaint samples exactly like a full one (no seams after a stroke).
        return View(v.zoom, float(round(ox)), float(round(oy)))

    def resizeEvent(self, event) -> None:
        if self._fit:
            self.fit_to_window()
        else:
            d = event.size() - event.oldSize()
            if event.oldSize().width() >= 0:
                v = self._view
                self._set_view(View(v.zoom, v.ox + d.width() / 2.0, v.oy + d.height() / 2.0))
        super().resizeEvent(event)

    # ---- undo targets (sketchpad.undo calls these) --------------------------------------------

    def _put_patch(self, box: Box, pixels: np.ndarray) -> None:
        x0, y0, x1, y1 = box
        self._img[y0:y1, x0:x1] = pixels
        if self._stroke_before is not None:
            # An undo/redo during a stroke: the stroke's "before" follows it, so the stroke's own
            # undo step later restores the undone state, not the stale one.
            self._stroke_before[y0:y1, x0:x1] = pixels
        self._update_image_box(box)
        self.changed.emit()

    def _put_image(self, image: np.ndarray) -> None:
        resized = image.shape != self._img.shape
        self._img = np.ascontiguousarray(image, dtype=np.uint8).copy()
        self._qimg = _wrap(self._img)
        if self._stroke_before is not None and not resized:
            self._stroke_before = self._img.copy()
        if resized:
            self._abandon_pointer_edits()
            self._rescale_underlay()
            if self._fit:
                self.fit_to_window()
            else:
                self._set_view(self._view)
        self.update()
        self.changed.emit()

    def _update_image_box(self, box: Box) -> None:
        x0, y0, x1, y1 = raster.widget_box(self._view, box)
        self.update(QRect(x0, y0, x1 - x0, y1 - y0))

    # ---- painting operations -------------------------------------------------------------------

    def _push_edit(self, work: np.ndarray, box: Box | None, text: str) -> None:
        """Make the edit painted into `work` (a copy of the drawing) one undo step."""
        if box is None:
            return
        x0, y0, x1, y1 = box
        before = self._img[y0:y1, x0:x1].copy()
        after = work[y0:y1, x0:x1].copy()
        if np.array_equal(before, after):
            return
        self.undo_stack.push(PatchCommand(self, box, before, after, text, applied=False))

    def _stroke_color(self, tool: str) -> RGB:
        return self._blank_color() if tool == "eraser" else self._color

    def _begin_stroke(self, x: float, y: float, pressure: float, tool: str) -> None:
        self._stroke_tool = tool
        self._stroke_before = self._img.copy()
        self._stroke_box = None
        width = raster.pressure_width(self._sizes[tool], pressure)
        self._last = (x, y, width)
        self.stroke_started.emit()
        self._paint_segment((x, y), (x, y), width, width)

    def _continue_stroke(self, x: float, y: float, pressure: float) -> None:
        if self._last is None:
            return
        lx, ly, lw = self._last
        width = raster.pressure_width(self._sizes[self._stroke_tool], pressure)
        if (x, y, width) == self._last:
            return
        self._last = (x, y, width)
        self._paint_segment((lx, ly), (x, y), lw, width)

    def _paint_segment(self, p0, p1, w0: float, w1: float) -> None:
        box = raster.stroke_segment(self._img, p0, p1, w0, w1, self._stroke_color(self._stroke_tool))
        if box is not None:
            self._stroke_box = raster.union(self._stroke_box, box)
            self._update_image_box(box)
            self.changed.emit()

    def _end_stroke(self) -> None:
        before, box = self._stroke_before, self._stroke_box
        self._stroke_before, self._stroke_box, self._last = None, None, None
        if before is None:
            return
        if box is not None:
            x0, y0, x1, y1 = box
            b, a = before[y0:y1, x0:x1].copy(), self._img[y0:y1, x0:x1].copy()
            if not np.array_equal(a, b):
                text = {"pen": "Pen stroke", "brush": "Brush stroke", "eraser": "Erase"}[self._stroke_tool]
                self.undo_stack.push(PatchCommand(self, box, b, a, text, applied=True))
        self.stroke_finished.emit()

    def _fill_at(self, x: float, y: float) -> None:
        ix, iy = int(np.floor(x)), int(np.floor(y))
        work = self._img.copy()
        self.stroke_started.emit()
        self._push_edit(work, raster.flood_fill(work, ix, iy, self._color), "Fill")
        self.stroke_finished.emit()

    def _commit_rect(self) -> None:
        if self._rect is None:
            return
        p0, p1 = self._rect
        self._rect = None
        work = self._img.copy()
        self._push_edit(work, raster.fill_rect(work, p0, p1, self._color), "Rectangle")
        self.update()
        self.stroke_finished.emit()

    def close_polygon(self) -> None:
        """Fill the polygon being drawn (double-click or Enter); fewer than 3 points cancels it."""
        pts, self._poly = self._poly, []
        self.update()
        if len(pts) >= 3:
            work = self._img.copy()
            self.stroke_started.emit()
            self._push_edit(work, raster.fill_polygon(work, pts, self._color), "Polygon")
            self.stroke_finished.emit()

    def _cancel_shapes(self) -> None:
        if self._rect is not None:
            self._rect = None
            self.stroke_finished.emit()
        if self._poly:
            self._poly = []
        if self._stroke_before is not None:
            self._end_stroke()
        self.update()

    def _abandon_pointer_edits(self) -> None:
        # The drawing was replaced under the pointer (an undo of a resize, a load): drop the stroke
        # or shape in progress without pushing anything, as we may be inside an undo command.
        was_stroking = self.is_stroking()
        self._stroke_before, self._stroke_box, self._last = None, None, None
        self._rect, self._poly = None, []
        if was_stroking:
            self.stroke_finished.emit()

    def _pick(self, x: float, y: float) -> None:
        ix, iy = int(np.floor(x)), int(np.floor(y))
        h, w = self._img.shape[:2]
        if 0 <= ix < w and 0 <= iy < h:
            rgb = _rgb(self._img[iy, ix])
            self._set_color(rgb)
            self.color_picked.emit(rgb)

    # ---- pointer input -------------------------------------------------------------------------

    def _press(self, pos: QPointF, pressure: float, eraser_end: bool = False) -> None:
        x, y = self.image_point(pos)
        tool = "eraser" if eraser_end else self._tool
        if tool in _STROKE_TOOLS:
            self._begin_stroke(x, y, pressure, tool)
        elif tool == "fill":
            self._fill_at(x, y)
        elif tool == "rect":
            self._rect = ((x, y), (x, y))
            self.stroke_started.emit()
            self.update()
        elif tool == "polygon":
            if not self._poly or self._poly[-1] != (x, y):
                self._poly.append((x, y))
            self.update()
        elif tool == "eyedropper":
            self._picking = True
            self._pick(x, y)

    def _move(self, pos: QPointF, pressure: float) -> None:
        x, y = self.image_point(pos)
        if self._stroke_before is not None:
            self._continue_stroke(x, y, pressure)
        elif self._rect is not None:
            self._rect = (self._rect[0], (x, y))
            self.update()
        elif self._picking:
            self._pick(x, y)
        elif self._poly:
            self.update()

    def _release(self, pos: QPointF) -> None:
        if self._stroke_before is not None:
            self._end_stroke()
        elif self._rect is not None:
            x, y = self.image_point(pos)
            self._rect = (self._rect[0], (x, y))
            self._commit_rect()
        self._picking = False

    def _start_pan(self, pos: QPointF) -> None:
        self._pan_from = (QPointF(pos), self._view)
        self.setCursor(Qt.CursorShape.ClosedHandCursor)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        pos = event.position()
        if event.button() == Qt.MouseButton.MiddleButton or (
            event.button() == Qt.MouseButton.LeftButton and self._space
        ):
            self._start_pan(pos)
        elif (
            event.button() == Qt.MouseButton.LeftButton
            and event.modifiers() & Qt.KeyboardModifier.AltModifier
        ):
            self._picking = True  # Alt+click: the eyedropper without leaving the current tool
            self._pick(*self.image_point(pos))
        elif event.button() == Qt.MouseButton.LeftButton:
            self._press(pos, 1.0)
        elif event.button() == Qt.MouseButton.RightButton and self._poly:
            self._poly.pop()  # right click takes back the last polygon point
            self.update()
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        self._move_cursor(pos)
        if self._pan_from is not None:
            start, v = self._pan_from
            d = pos - start
            self._fit = False
            self._set_view(View(v.zoom, v.ox + d.x(), v.oy + d.y()))
        elif event.buttons() & Qt.MouseButton.LeftButton or self._poly:
            self._move(pos, 1.0)
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None and event.button() in (
            Qt.MouseButton.MiddleButton,
            Qt.MouseButton.LeftButton,
        ):
            self._pan_from = None
            self._update_cursor_shape()
        elif event.button() == Qt.MouseButton.LeftButton:
            self._release(event.position())
        event.accept()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if self._tool == "polygon" and event.button() == Qt.MouseButton.LeftButton:
            # The press before a double-click already added this point; add it only if it did not.
            x, y = self.image_point(event.position())
            if not self._poly or self._poly[-1] != (x, y):
                self._poly.append((x, y))
            self.close_polygon()
        else:
            self.mousePressEvent(event)
        event.accept()

    def tabletEvent(self, event: QTabletEvent) -> None:
        # Accepted tablet events are not turned into mouse events, so pressure reaches the stroke.
        pos, pressure = event.position(), event.pressure()
        eraser_end = event.pointerType() == QPointingDevice.PointerType.Eraser
        t = event.type()
        if t == QEvent.Type.TabletPress and event.button() == Qt.MouseButton.LeftButton and not self._space:
            self.setFocus(Qt.FocusReason.MouseFocusReason)
            self._press(pos, pressure, eraser_end)
        elif t == QEvent.Type.TabletMove:
            self._move_cursor(pos)
            if self._pan_from is None:
                self._move(pos, pressure)
        elif t == QEvent.Type.TabletRelease and event.button() == Qt.MouseButton.LeftButton:
            self._release(pos)
        else:
            event.ignore()  # barrel buttons, space+drag: fall back to mouse handling (pan)
            return
        event.accept()

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            if steps:
                self.set_zoom(self._view.zoom * ZOOM_STEP**steps, event.position())
        else:
            # Plain wheel scrolls the view, Shift+wheel sideways (as in image editors).
            d = event.pixelDelta()
            dx, dy = (
                (d.x(), d.y())
                if not d.isNull()
                else (event.angleDelta().x() / 2.0, event.angleDelta().y() / 2.0)
            )
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                dx, dy = dy, dx
            v = self._view
            self._fit = False
            self._set_view(View(v.zoom, v.ox + dx, v.oy + dy))
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key, mods = event.key(), event.modifiers()
        ctrl = bool(mods & Qt.KeyboardModifier.ControlModifier)
        text = event.text().upper()
        if key == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self._update_cursor_shape()
            self._update_cursor_area()
        elif ctrl and key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom_in()
        elif ctrl and key == Qt.Key.Key_Minus:
            self.zoom_out()
        elif ctrl and key == Qt.Key.Key_0:
            self.fit_to_window()
        elif ctrl and key == Qt.Key.Key_1:
            self.actual_size()
        elif key == Qt.Key.Key_Escape and (self._poly or self._rect is not None):
            self._cancel_shapes()
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self._poly:
            self.close_polygon()
        elif not ctrl and text == SIZE_SHORTCUTS["smaller"]:
            self.set_brush_size(
                max(1, round(self.brush_size() / 1.25)) if self.brush_size() > 4 else self.brush_size() - 1
            )
        elif not ctrl and text == SIZE_SHORTCUTS["larger"]:
            self.set_brush_size(max(self.brush_size() + 1, round(self.brush_size() * 1.25)))
        elif not ctrl and text in TOOL_SHORTCUTS.values():
            self.set_tool(next(t for t, k in TOOL_SHORTCUTS.items() if k == text))
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self._update_cursor_shape()
            self._update_cursor_area()
        super().keyReleaseEvent(event)

    def focusOutEvent(self, event) -> None:
        self._space = False  # a released space never arrives once focus is gone
        self._update_cursor_shape()
        super().focusOutEvent(event)

    def leaveEvent(self, event) -> None:
        self._update_cursor_area()
        self._cursor = None
        super().leaveEvent(event)

    # ---- painting ------------------------------------------------------------------------------

    def _move_cursor(self, pos: QPointF) -> None:
        self._update_cursor_area()
        self._cursor = QPointF(pos)
        self._update_cursor_area()

    def _cursor_radius(self) -> float:
        return self._sizes[self._tool] * self._view.zoom / 2.0 if self._tool in _STROKE_TOOLS else 0.0

    def _update_cursor_area(self) -> None:
        if self._cursor is not None:
            r = int(self._cursor_radius()) + 8
            c = self._cursor.toPoint()
            self.update(QRect(c.x() - r, c.y() - r, 2 * r + 1, 2 * r + 1))

    def _update_cursor_shape(self) -> None:
        if self._space or self._pan_from is not None:
            self.setCursor(Qt.CursorShape.OpenHandCursor)
        elif self._tool in _STROKE_TOOLS:
            self.setCursor(Qt.CursorShape.BlankCursor)  # the brush outline is drawn instead
        else:
            self.setCursor(Qt.CursorShape.CrossCursor)

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        er = event.rect()
        p.fillRect(er, self.palette().color(self.backgroundRole()).darker(115))
        v = self._view
        w, h = self.image_size()
        # Only the image pixels under the exposed rect are drawn, so a stroke segment costs its box.
        sx0 = max(0, int(np.floor((er.left() - v.ox) / v.zoom)))
        sy0 = max(0, int(np.floor((er.top() - v.oy) / v.zoom)))
        sx1 = min(w, int(np.ceil((er.right() + 1 - v.ox) / v.zoom)) + 1)
        sy1 = min(h, int(np.ceil((er.bottom() + 1 - v.oy) / v.zoom)) + 1)
        if sx0 < sx1 and sy0 < sy1:
            src = QRectF(sx0, sy0, sx1 - sx0, sy1 - sy0)
            tgt = QRectF(v.ox + sx0 * v.zoom, v.oy + sy0 * v.zoom, (sx1 - sx0) * v.zoom, (sy1 - sy0) * v.zoom)
            if self._underlay is None:
                p.drawImage(tgt, self._qimg, src)
            elif self._kind == "labels":
                p.drawImage(tgt, self._underlay, src)
                p.setOpacity(1.0 - self._underlay_opacity)
                p.drawImage(tgt, self._qimg, src)
                p.setOpacity(1.0)
            else:
                # Line art: white paper with the photo at `opacity`, the drawing multiplied on top,
                # so white pixels are see-through and dark strokes stay dark.
                p.fillRect(tgt, Qt.GlobalColor.white)
                p.setOpacity(self._underlay_opacity)
                p.drawImage(tgt, self._underlay, src)
                p.setOpacity(1.0)
                p.setCompositionMode(QPainter.CompositionMode.CompositionMode_Multiply)
                p.drawImage(tgt, self._qimg, src)
                p.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceOver)
        p.setPen(QPen(self.palette().color(self.foregroundRole()), 0))
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        p.drawRect(QRectF(v.ox - 1, v.oy - 1, w * v.zoom + 1, h * v.zoom + 1))
        self._paint_overlays(p)
        p.end()

    def _paint_overlays(self, p: QPainter) -> None:
        tr = self.view_transform()
        fill = QColor(*self._color, 110)
        outline = QPen(QColor(*self._color).darker(150), 0, Qt.PenStyle.DashLine)
        if self._rect is not None:
            x0, y0, x1, y1 = raster.rect_box(*self._rect)
            r = tr.mapRect(QRectF(x0, y0, x1 - x0, y1 - y0))
            p.fillRect(r, fill)
            p.setPen(outline)
            p.drawRect(r)
        if self._poly:
            pts = [tr.map(QPointF(x, y)) for x, y in self._poly]
            if self._cursor is not None:
                pts.append(self._cursor)
            poly = QPolygonF(pts)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(fill)
            p.drawPolygon(poly)
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.setPen(outline)
            p.drawPolyline(poly)
            p.setPen(QPen(Qt.GlobalColor.black, 0))
            for q in pts[: len(self._poly)]:
                p.drawRect(QRectF(q.x() - 2, q.y() - 2, 4, 4))
        if (
            self._cursor is not None
            and self._tool in _STROKE_TOOLS
            and self._pan_from is None
            and not self._space
        ):
            c, r = self._cursor, max(self._cursor_radius(), 1.0)
            p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            p.setBrush(Qt.BrushStyle.NoBrush)
            # Two rings, dark and light, so the outline shows on any colour.
            p.setPen(QPen(QColor(0, 0, 0, 200), 1))
            p.drawEllipse(c, r + 0.5, r + 0.5)
            p.setPen(QPen(QColor(255, 255, 255, 200), 1))
            p.drawEllipse(c, r + 1.5, r + 1.5)
            if r < 4:  # a thin pen's ring is too small to aim with: add a crosshair
                p.setPen(QPen(QColor(0, 0, 0, 200), 1))
                for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                    p.drawLine(
                        c + QPointF(dx * (r + 3), dy * (r + 3)), c + QPointF(dx * (r + 7), dy * (r + 7))
                    )
