"""Pixel operations on a drawing held as a uint8 (H, W, 3) numpy array, and the canvas view maths.

No Qt here, so every rule the canvas relies on (which pixels a stroke covers, what a fill reaches,
where the cursor points) is tested without a widget. Nothing is anti-aliased: a label map keeps only
the colours it is painted with. Every painting function writes in place and returns the dirty box
``(x0, y0, x1, y1)`` (exclusive ends, clipped to the image) or ``None`` when nothing could change.
Coordinates are image pixels as floats; pixel ``(x, y)`` covers ``[x, x+1) x [y, y+1)``, so its centre
is ``(x + 0.5, y + 0.5)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models import palette as palettes

Box = tuple[int, int, int, int]
RGB = tuple[int, int, int]
Point = tuple[float, float]


def union(a: Box | None, b: Box | None) -> Box | None:
    """The smallest box holding both (either may be None)."""
    if a is None:
        return b
    if b is None:
        return a
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def clip_box(box: Box, shape: tuple[int, ...]) -> Box | None:
    """box intersected with an image of `shape` (H, W, ...); None when empty."""
    h, w = shape[0], shape[1]
    x0, y0, x1, y1 = max(0, box[0]), max(0, box[1]), min(w, box[2]), min(h, box[3])
    if x0 >= x1 or y0 >= y1:
        return None
    return (x0, y0, x1, y1)


def pressure_width(size: float, pressure: float, minimum: float = 1.0) -> float:
    """Brush diameter for a tablet pressure in [0, 1]: linear in pressure, never below `minimum` px
    (a light touch still leaves a line)."""
    p = min(max(float(pressure), 0.0), 1.0)
    return max(minimum, float(size) * p)


def stroke_segment(
    img: np.ndarray, p0: Point, p1: Point, width0: float, width1: float, color: RGB
) -> Box | None:
    """Paint a round-capped segment from p0 to p1 whose diameter goes linearly from width0 to width1.

    A pixel is painted when its centre lies within half the local width of the segment, and the pixel
    under each end point is always painted, so a 1 px pen never leaves gaps or vanishes.
    """
    r0, r1 = max(width0, 0.0) / 2.0, max(width1, 0.0) / 2.0
    rmax = max(r0, r1)
    (ax, ay), (bx, by) = p0, p1
    box = clip_box(
        (
            int(np.floor(min(ax, bx) - rmax)) - 1,
            int(np.floor(min(ay, by) - rmax)) - 1,
            int(np.ceil(max(ax, bx) + rmax)) + 1,
            int(np.ceil(max(ay, by) + rmax)) + 1,
        ),
        img.shape,
    )
    if box is None:
        return None
    x0, y0, x1, y1 = box
    xs = np.arange(x0, x1, dtype=np.float32) + 0.5
    ys = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5
    dx, dy = bx - ax, by - ay
    seg2 = dx * dx + dy * dy
    if seg2 > 0:
        t = np.clip(((xs - ax) * dx + (ys - ay) * dy) / seg2, 0.0, 1.0)
    else:
        t = np.zeros((y1 - y0, x1 - x0), dtype=np.float32)
    cx = ax + t * dx
    cy = ay + t * dy
    r = r0 + t * (r1 - r0)
    mask = (xs - cx) ** 2 + (ys - cy) ** 2 <= r * r
    # The pixels under the end points, so thin strokes stay connected even at sub-pixel widths.
    for px, py in (p0, p1):
        ix, iy = int(np.floor(px)) - x0, int(np.floor(py)) - y0
        if 0 <= ix < x1 - x0 and 0 <= iy < y1 - y0:
            mask[iy, ix] = True
    if seg2 > 0 and min(r0, r1) < 0.75:
        # Thin lines: also every pixel the segment passes through (a DDA walk), so a fast
        # diagonal flick of a 1 px pen is still 8-connected.
        n = int(np.ceil(max(abs(dx), abs(dy)))) * 2 + 1
        ts = np.linspace(0.0, 1.0, n)
        ix = np.floor(ax + ts * dx).astype(np.int64) - x0
        iy = np.floor(ay + ts * dy).astype(np.int64) - y0
        ok = (ix >= 0) & (ix < x1 - x0) & (iy >= 0) & (iy < y1 - y0)
        mask[iy[ok], ix[ok]] = True
    ys_i, xs_i = np.nonzero(mask)
    if ys_i.size == 0:
        return None
    img[y0:y1, x0:x1][mask] = color
    return (x0 + int(xs_i.min()), y0 + int(ys_i.min()), x0 + int(xs_i.max()) + 1, y0 + int(ys_i.max()) + 1)


def dab(img: np.ndarray, p: Point, width: float, color: RGB) -> Box | None:
    """A single round dab (a click without a drag)."""
    return stroke_segment(img, p, p, width, width, color)


def rect_box(p0: Point, p1: Point) -> Box:
    """The pixels a rectangle dragged from p0 to p1 covers: both end pixels included."""
    ax, ay = int(np.floor(p0[0])), int(np.floor(p0[1]))
    bx, by = int(np.floor(p1[0])), int(np.floor(p1[1]))
    return (min(ax, bx), min(ay, by), max(ax, bx) + 1, max(ay, by) + 1)


def fill_rect(img: np.ndarray, p0: Point, p1: Point, color: RGB) -> Box | None:
    """Fill the rectangle dragged from p0 to p1 (corner pixels included)."""
    box = clip_box(rect_box(p0, p1), img.shape)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    img[y0:y1, x0:x1] = color
    return box


def polygon_mask(points: Sequence[Point], box: Box) -> np.ndarray:
    """bool (y1-y0, x1-x0): pixel centres inside the polygon (even-odd rule) within box."""
    x0, y0, x1, y1 = box
    xs = np.arange(x0, x1, dtype=np.float64) + 0.5
    ys = np.arange(y0, y1, dtype=np.float64)[:, None] + 0.5
    inside = np.zeros((y1 - y0, x1 - x0), dtype=bool)
    pts = [(float(x), float(y)) for x, y in points]
    for (ax, ay), (bx, by) in zip(pts, pts[1:] + pts[:1], strict=True):
        if ay == by:
            continue
        # Half-open in y so a vertex shared by two edges is counted once.
        crosses = (ys >= min(ay, by)) & (ys < max(ay, by))
        xcross = ax + (ys - ay) * (bx - ax) / (by - ay)
        inside ^= crosses & (xs < xcross)
    return inside


def fill_polygon(img: np.ndarray, points: Sequence[Point], color: RGB) -> Box | None:
    """Fill a polygon (pixel centres inside it, even-odd rule); fewer than 3 points paints nothing."""
    if len(points) < 3:
        return None
    arr = np.asarray(points, dtype=np.float64)
    box = clip_box(
        (
            int(np.floor(arr[:, 0].min())),
            int(np.floor(arr[:, 1].min())),
            int(np.ceil(arr[:, 0].max())) + 1,
            int(np.ceil(arr[:, 1].max())) + 1,
        ),
        img.shape,
    )
    if box is None:
        return None
    mask = polygon_mask(points, box)
    ys_i, xs_i = np.nonzero(mask)
    if ys_i.size == 0:
        return None
    x0, y0, x1, y1 = box
    img[y0:y1, x0:x1][mask] = color
    return (x0 + int(xs_i.min()), y0 + int(ys_i.min()), x0 + int(xs_i.max()) + 1, y0 + int(ys_i.max()) + 1)


def flood_mask(img: np.ndarray, x: int, y: int) -> np.ndarray | None:
    """bool (H, W): the 4-connected region of pixels exactly equal to pixel (x, y); None off the image.

    A span (scanline) fill: each stack entry fills a whole run of a row with numpy, so the Python
    loop runs once per span rather than once per pixel (a 2048x2048 fill takes well under a second).
    """
    h, w = img.shape[:2]
    if not (0 <= x < w and 0 <= y < h):
        return None
    r, g, b = (int(v) for v in img[y, x])
    # Per-channel compares: much faster than np.all(img == target, axis=2) on big images.
    same = (img[:, :, 0] == r) & (img[:, :, 1] == g) & (img[:, :, 2] == b)
    filled = np.zeros((h, w), dtype=bool)
    stack = [(x, y)]
    while stack:
        sx, sy = stack.pop()
        row = same[sy]
        if filled[sy, sx] or not row[sx]:
            continue
        # Extend the run left and right to the first different pixel.
        left_stops = np.flatnonzero(~row[:sx])
        right_stops = np.flatnonzero(~row[sx:])
        lo = int(left_stops[-1]) + 1 if left_stops.size else 0
        hi = sx + int(right_stops[0]) if right_stops.size else w
        filled[sy, lo:hi] = True
        for ny in (sy - 1, sy + 1):
            if 0 <= ny < h:
                seg = same[ny, lo:hi] & ~filled[ny, lo:hi]
                if seg.any():
                    # One seed per run of fillable pixels in the neighbouring row.
                    starts = np.flatnonzero(seg & ~np.concatenate(([False], seg[:-1])))
                    stack.extend((lo + int(s), ny) for s in starts)
    return filled


def flood_fill(img: np.ndarray, x: int, y: int, color: RGB) -> Box | None:
    """Fill the 4-connected exact-colour region at pixel (x, y); None when off the image or the
    region already has `color`."""
    h, w = img.shape[:2]
    if not (0 <= x < w and 0 <= y < h) or tuple(int(c) for c in img[y, x]) == tuple(color):
        return None
    mask = flood_mask(img, x, y)
    assert mask is not None
    ys_i = np.flatnonzero(mask.any(axis=1))
    xs_i = np.flatnonzero(mask.any(axis=0))
    box = (int(xs_i[0]), int(ys_i[0]), int(xs_i[-1]) + 1, int(ys_i[-1]) + 1)
    sub, m = img[box[1] : box[3], box[0] : box[2]], mask[box[1] : box[3], box[0] : box[2]]
    for c in range(3):
        np.copyto(sub[:, :, c], color[c], where=m)
    return box


def only_colors(img: np.ndarray, colors: np.ndarray) -> bool:
    """True when every pixel of img is one of the (K, 3) colours."""
    packed = img.reshape(-1, 3).astype(np.int32) @ np.array([65536, 256, 1], dtype=np.int32)
    allowed = colors.reshape(-1, 3).astype(np.int32) @ np.array([65536, 256, 1], dtype=np.int32)
    return bool(np.isin(packed, allowed).all())


# ---------------------------------------------------------------------------------------------------
# View maths: the image is shown scaled by `zoom` with its top-left corner at widget point `origin`.


@dataclass(frozen=True)
class View:
    """Where the image sits in the widget: widget = origin + zoom * image."""

    zoom: float
    ox: float
    oy: float

    def to_widget(self, x: float, y: float) -> Point:
        return (self.ox + self.zoom * x, self.oy + self.zoom * y)

    def to_image(self, wx: float, wy: float) -> Point:
        return ((wx - self.ox) / self.zoom, (wy - self.oy) / self.zoom)

    def zoomed_about(self, wx: float, wy: float, zoom: float) -> View:
        """The view at `zoom` that keeps the image point under widget point (wx, wy) fixed."""
        ix, iy = self.to_image(wx, wy)
        return View(zoom, wx - zoom * ix, wy - zoom * iy)


def fit_zoom(image_size: tuple[int, int], widget_size: tuple[int, int], margin: int = 8) -> float:
    """The zoom that shows the whole (W, H) image inside a (w, h) widget with a small margin."""
    iw, ih = image_size
    ww, wh = max(1, widget_size[0] - 2 * margin), max(1, widget_size[1] - 2 * margin)
    return max(1e-3, min(ww / iw, wh / ih))


def centred_view(image_size: tuple[int, int], widget_size: tuple[int, int], zoom: float) -> View:
    """The image at `zoom`, centred in the widget."""
    return View(
        zoom, (widget_size[0] - zoom * image_size[0]) / 2.0, (widget_size[1] - zoom * image_size[1]) / 2.0
    )


def widget_box(view: View, box: Box, pad: int = 2) -> Box:
    """The widget-pixel box covering image box `box` (for a dirty-rect repaint), padded."""
    ax, ay = view.to_widget(box[0], box[1])
    bx, by = view.to_widget(box[2], box[3])
    return (int(np.floor(ax)) - pad, int(np.floor(ay)) - pad, int(np.ceil(bx)) + pad, int(np.ceil(by)) + pad)


# ---- converting a drawing between kinds ---------------------------------------------------------


def label_edges(labels: np.ndarray) -> np.ndarray:
    """A label map's region outlines as line art: black where a pixel's class differs from its right or
    lower neighbour's, white paper elsewhere (uint8 (H, W, 3))."""
    edge = np.zeros(labels.shape[:2], dtype=bool)
    edge[:, :-1] |= (labels[:, 1:] != labels[:, :-1]).any(axis=2)
    edge[:-1, :] |= (labels[1:, :] != labels[:-1, :]).any(axis=2)
    out = np.full(labels.shape[:2] + (3,), 255, dtype=np.uint8)
    out[edge] = 0
    return out


def lineart_to_labels(lineart: np.ndarray, paper: RGB, ink: RGB) -> np.ndarray:
    """Line art as a label map: light paper becomes the `paper` class, dark lines the `ink` class."""
    luma = lineart[..., :3].astype(np.uint16) @ np.array([77, 150, 29], dtype=np.uint16) >> 8
    out = np.empty(lineart.shape[:2] + (3,), dtype=np.uint8)
    out[:] = paper
    out[luma < 128] = ink
    return out


def convert_drawing(
    image: np.ndarray,
    src: str,
    dst: str,
    *,
    palette: Sequence[tuple[str, RGB]] = (),
    blank: RGB = (255, 255, 255),
) -> np.ndarray:
    """A drawing of kind `src` ('lineart', 'labels', 'image') as a drawing of kind `dst`: a label map's
    outlines for line art; line art's dark lines as background-class outlines on the `blank` class for a
    label map; a photo snapped onto the palette; otherwise the pixels as they are."""
    image = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
    if src == dst:
        return image.copy()
    if dst == "lineart" and src == "labels":
        return label_edges(image)
    if dst == "labels":
        pal = [(str(n), (int(c[0]), int(c[1]), int(c[2]))) for n, c in palette] or palettes.FACADES
        if src == "lineart":
            names = [n for n, _ in pal]
            ink = pal[names.index("background")][1] if "background" in names else pal[0][1]
            if ink == tuple(blank):
                ink = next((c for _, c in pal if c != tuple(blank)), ink)
            return lineart_to_labels(image, tuple(blank), ink)
        return palettes.snap(image, pal)
    return image.copy()
