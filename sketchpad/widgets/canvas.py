"""The drawing canvas widget: shows a Document and turns pointer, wheel and key input into tool edits.

The drawing itself (pixels, kind, palette, the edits undo puts back) is a sketchpad.document.Document;
what each tool does to it is sketchpad/tools.py. A QImage wraps the document's pixels for painting, so
an edit is a numpy write plus a repaint of its dirty box. This widget keeps the view (zoom, pan), the
underlay, the current tool, colour and sizes, one document and undo history per drawing kind, and the
shape previews. It emits intent and change signals and never calls the main window.
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

from models.errors import ImageError
from sketchpad import raster, tools
from sketchpad.document import KIND_NAMES, KINDS, Document, Palette, Patch, as_drawing, as_rgb, kind_palette
from sketchpad.raster import RGB, Box, View
from sketchpad.tools import SIZE_SHORTCUTS, STROKE_TOOLS, TOOL_SHORTCUTS, TOOLS
from sketchpad.undo import ImageCommand, PatchCommand

# The window and the widgets package import these names from here.
__all__ = ["KINDS", "KIND_NAMES", "TOOLS", "TOOL_SHORTCUTS", "Canvas"]

MIN_ZOOM, MAX_ZOOM = 0.05, 64.0
ZOOM_STEP = 1.25


@dataclass(frozen=True)
class _Kept:
    """A drawing kind's document while another kind is shown."""

    document: Document
    undo_stack: QUndoStack
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
        self._kept: dict[str, _Kept] = {}  # the other kinds' documents
        self._doc = Document.blank((int(size[0]), int(size[1])))
        self._doc.on_change = self._document_changed
        self._wrap_document()
        self._tool = "pen"
        self._color: RGB = self._doc.default_color()
        self._sizes = dict(tools.DEFAULT_SIZES)
        self._view = View(1.0, 0.0, 0.0)
        self._fit = True  # follow the widget size until the user zooms or pans
        self._underlay_src: np.ndarray | None = None
        self._underlay: QImage | None = None
        self._underlay_opacity = 0.5
        # Pointer state.
        self._cursor: QPointF | None = None
        self._space = False
        self._pan_from: tuple[QPointF, View] | None = None
        self._stroke: tools.Stroke | None = None
        self._rect: tuple[tuple[float, float], tuple[float, float]] | None = None
        self._poly: list[tuple[float, float]] = []
        self._picking = False
        self._update_cursor_shape()

    # ---- drawing state -------------------------------------------------------------------------

    def kind(self) -> str:
        return self._doc.kind

    def label_palette(self) -> Palette:
        """The label classes ([] unless kind is 'labels')."""
        return self._doc.palette

    def set_kind(self, kind: str, palette: Palette | None = None) -> bool:
        """Switch between 'lineart' (dark on white), 'labels' (palette classes) and 'image'.

        Each kind keeps its own drawing and undo history: switching away keeps the drawing, switching back
        brings it back; a kind seen for the first time starts blank. Nothing is converted across kinds
        (`convert_from` does that, when asked). Within 'labels', a new palette snaps an edited drawing as
        one undo step. Returns True when a drawing of this kind is shown (kept or brought back), False
        when it starts blank."""
        new_palette = kind_palette(kind, palette)
        self._cancel_shapes()
        if kind != self._doc.kind:
            return self._swap_kind(kind, new_palette)
        if new_palette != self._doc.palette:
            was_blank = self.is_pristine()
            self._doc.set_palette(new_palette)
            self._refit_palette(was_blank)
            self._set_color(self._doc.default_color())
        self.update()
        return True

    def _swap_kind(self, kind: str, palette: Palette) -> bool:
        """Put this kind's document away and bring `kind`'s back (or start it blank)."""
        old = _Kept(self._doc, self.undo_stack, self._color)
        if self.is_pristine():
            self._drop_stack(self.undo_stack)  # nothing worth keeping: a blank, never-edited drawing
        else:
            self._kept[self._doc.kind] = old
        kept = self._kept.pop(kind, None)
        if kept is None:
            self._activate(QUndoStack(self))
            self._show(Document.blank(self._doc.size(), kind, palette))
            self._set_color(self._doc.default_color())
        else:
            self._activate(kept.undo_stack)
            self._show(kept.document)
            if kept.document.palette != palette:
                kept.document.set_palette(palette)
                self._refit_palette(False)
            self._set_color(kept.color)
        self.update()
        return kept is not None

    def _refit_palette(self, was_blank: bool) -> None:
        """The label palette changed: a blank drawing becomes the new blank, an edited one is snapped."""
        if was_blank:
            if not self._doc.is_blank():
                self._doc.put_image(self._doc.blank_image())
            return
        snapped = self._doc.snapped()
        if snapped is not None:
            self.undo_stack.push(ImageCommand(self._doc, self._doc.image.copy(), snapped, "Snap to palette"))

    def is_pristine(self) -> bool:
        """A blank drawing that was never edited (nothing to keep)."""
        return self.undo_stack.count() == 0 and self._doc.is_blank()

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
        return None if k is None else k.document.image.copy()

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
        doc = self._doc
        if kept is None or kind == doc.kind:
            return False
        self._cancel_shapes()
        a = raster.convert_drawing(
            kept.document.image, kind, doc.kind, palette=doc.palette, blank=doc.blank_color()
        )
        text = f"Convert {KIND_NAMES[kind]} to {KIND_NAMES[doc.kind]}"
        self.undo_stack.push(ImageCommand(doc, doc.image.copy(), a, text))
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
        self._set_color(as_rgb(rgb))

    def _set_color(self, rgb: RGB) -> None:
        rgb = self._doc.snap_color(rgb)
        if rgb != self._color:
            self._color = rgb
            self.color_changed.emit(rgb)

    def brush_size(self) -> int:
        """Diameter in image pixels of the current stroke tool (the brush's for non-stroke tools)."""
        return self._sizes[self._tool if self._tool in STROKE_TOOLS else "brush"]

    def set_brush_size(self, px: int) -> None:
        key = self._tool if self._tool in STROKE_TOOLS else "brush"
        px = int(min(max(int(px), 1), 512))
        if px != self._sizes[key]:
            self._sizes[key] = px
            self.brush_size_changed.emit(px)
            self._update_cursor_area()

    def background_color(self) -> RGB:
        """What a new drawing, Clear and the eraser paint (see Document.blank_color)."""
        return self._doc.blank_color()

    def image_size(self) -> tuple[int, int]:
        """(width, height) of the drawing."""
        return self._doc.size()

    def image_array(self) -> np.ndarray:
        """uint8 (H, W, 3) copy of the drawing (never the underlay)."""
        return self._doc.image.copy()

    def set_image_array(self, a: np.ndarray, *, undoable: bool = True) -> None:
        """Replace the drawing (any size). Snapped to the palette in 'labels' mode. undoable=False is
        a document load: the undo history is cleared and the drawing counts as unmodified."""
        a = self._doc.snap(as_drawing(a))
        if undoable:
            self.undo_stack.push(ImageCommand(self._doc, self._doc.image.copy(), a.copy(), "Load drawing"))
        else:
            self._doc.put_image(a)
            self.undo_stack.clear()

    def clear(self) -> None:
        """Fill with the blank colour, as one undo step (nothing happens on a blank drawing)."""
        self._push(self._doc.cleared(), applied=False)

    def new_drawing(self, size: tuple[int, int] = (256, 256)) -> None:
        """A blank drawing of size (width, height): a new document, so undo history is cleared."""
        w, h = int(size[0]), int(size[1])
        if w < 1 or h < 1:
            raise ImageError(f"a drawing needs a positive size, got {w}x{h}")
        self._cancel_shapes()
        self._doc.put_image(self._doc.blank_image((w, h)))
        self.undo_stack.clear()
        self.fit_to_window()

    def is_modified(self) -> bool:
        return not self.undo_stack.isClean()

    def set_clean(self) -> None:
        self.undo_stack.setClean()

    def is_stroking(self) -> bool:
        """True between stroke_started and stroke_finished."""
        return self._stroke is not None or self._rect is not None

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

    # ---- showing the document ------------------------------------------------------------------

    def _wrap_document(self) -> None:
        self._pixels = self._doc.image  # keeps the memory the QImage shows alive
        self._qimg = _wrap(self._pixels)

    def _show(self, doc: Document) -> None:
        """Show another kind's document in place of the current one."""
        self._doc.on_change = None
        self._doc = doc
        doc.on_change = self._document_changed
        self._document_changed(None)

    def _document_changed(self, box: Box | None) -> None:
        """The document changed: repaint its dirty box, or everything when the whole drawing was replaced."""
        if box is not None:
            self._update_image_box(box)
            self.changed.emit()
            return
        resized = (self._qimg.width(), self._qimg.height()) != self.image_size()
        self._wrap_document()
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

    # ---- tool edits ----------------------------------------------------------------------------

    def _push(self, patch: Patch | None, *, applied: bool) -> None:
        """Make a tool's edit one undo step; `applied` when it is on the drawing already (a live stroke)."""
        if patch is not None:
            self.undo_stack.push(
                PatchCommand(self._doc, patch.box, patch.before, patch.after, patch.text, applied=applied)
            )

    def _stroke_color(self, tool: str) -> RGB:
        return self._doc.blank_color() if tool == "eraser" else self._color

    def _begin_stroke(self, x: float, y: float, pressure: float, tool: str) -> None:
        width = raster.pressure_width(self._sizes[tool], pressure)
        stroke = self._stroke = tools.Stroke(self._doc, tool, x, y, width)
        self.stroke_started.emit()
        stroke.dab(self._stroke_color(tool))

    def _continue_stroke(self, x: float, y: float, pressure: float) -> None:
        s = self._stroke
        if s is not None:
            s.to(x, y, raster.pressure_width(self._sizes[s.tool], pressure), self._stroke_color(s.tool))

    def _end_stroke(self) -> None:
        stroke, self._stroke = self._stroke, None
        if stroke is None:
            return
        self._push(stroke.finish(), applied=True)
        self.stroke_finished.emit()

    def _fill_at(self, x: float, y: float) -> None:
        self.stroke_started.emit()
        self._push(tools.fill(self._doc, x, y, self._color), applied=False)
        self.stroke_finished.emit()

    def _commit_rect(self) -> None:
        if self._rect is None:
            return
        p0, p1 = self._rect
        self._rect = None
        self._push(tools.rectangle(self._doc, p0, p1, self._color), applied=False)
        self.update()
        self.stroke_finished.emit()

    def close_polygon(self) -> None:
        """Fill the polygon being drawn (double-click or Enter); fewer than 3 points cancels it."""
        pts, self._poly = self._poly, []
        self.update()
        if len(pts) >= 3:
            self.stroke_started.emit()
            self._push(tools.polygon(self._doc, pts, self._color), applied=False)
            self.stroke_finished.emit()

    def _cancel_shapes(self) -> None:
        if self._rect is not None:
            self._rect = None
            self.stroke_finished.emit()
        if self._poly:
            self._poly = []
        if self._stroke is not None:
            self._end_stroke()
        self.update()

    def _abandon_pointer_edits(self) -> None:
        # The drawing was resized under the pointer (an undo of a resize, a load): drop the stroke
        # or shape in progress without pushing anything, as we may be inside an undo command.
        was_stroking = self.is_stroking()
        self._stroke, self._rect, self._poly = None, None, []
        if was_stroking:
            self.stroke_finished.emit()

    def _pick(self, x: float, y: float) -> None:
        rgb = tools.pick(self._doc, x, y)
        if rgb is not None:
            self._set_color(rgb)
            self.color_picked.emit(rgb)

    # ---- pointer input -------------------------------------------------------------------------

    def _press(self, pos: QPointF, pressure: float, eraser_end: bool = False) -> None:
        x, y = self.image_point(pos)
        tool = "eraser" if eraser_end else self._tool
        if tool in STROKE_TOOLS:
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
        if self._stroke is not None:
            self._continue_stroke(x, y, pressure)
        elif self._rect is not None:
            self._rect = (self._rect[0], (x, y))
            self.update()
        elif self._picking:
            self._pick(x, y)
        elif self._poly:
            self.update()

    def _release(self, pos: QPointF) -> None:
        if self._stroke is not None:
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
        return self._sizes[self._tool] * self._view.zoom / 2.0 if self._tool in STROKE_TOOLS else 0.0

    def _update_cursor_area(self) -> None:
        if self._cursor is not None:
            r = int(self._cursor_radius()) + 8
            c = self._cursor.toPoint()
            self.update(QRect(c.x() - r, c.y() - r, 2 * r + 1, 2 * r + 1))

    def _update_cursor_shape(self) -> None:
        if self._space or self._pan_from is not None:
            self.setCursor(Qt.CursorShape.OpenHandCursor)
        elif self._tool in STROKE_TOOLS:
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
            elif self._doc.kind == "labels":
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
            and self._tool in STROKE_TOOLS
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
