"""Pixel rules of the canvas, tested without Qt: strokes, shapes, flood fill, view maths."""

from __future__ import annotations

import time
from collections import deque

import numpy as np
import pytest

from models.palette import FACADES, colors
from sketchpad import raster


def blank(h=32, w=32, value=255):
    return np.full((h, w, 3), value, dtype=np.uint8)


def changed_box(a, b):
    ys, xs = np.nonzero((a != b).any(axis=2))
    return (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)


def reference_flood(img, x, y):
    """Pixel-by-pixel BFS: the obviously right 4-connected exact-colour fill."""
    h, w = img.shape[:2]
    target = img[y, x].copy()
    seen = np.zeros((h, w), bool)
    q = deque([(x, y)])
    seen[y, x] = True
    while q:
        cx, cy = q.popleft()
        for nx, ny in ((cx + 1, cy), (cx - 1, cy), (cx, cy + 1), (cx, cy - 1)):
            if 0 <= nx < w and 0 <= ny < h and not seen[ny, nx] and (img[ny, nx] == target).all():
                seen[ny, nx] = True
                q.append((nx, ny))
    return seen


# ---- strokes -----------------------------------------------------------------------------------


def test_dab_is_a_disc_of_the_given_diameter():
    img = blank()
    box = raster.dab(img, (16.0, 16.0), 10, (0, 0, 0))
    painted = (img == 0).all(axis=2)
    assert box == changed_box(blank(), img)
    assert box == (11, 11, 21, 21)  # 10 px across, centred on the pixel corner at (16, 16)
    assert abs(painted.sum() - np.pi * 25) < 12
    assert painted[16, 16] and not painted[11, 11]  # round, not square


def test_one_pixel_pen_draws_a_gapless_line_between_distant_samples():
    rng = np.random.default_rng(0)
    for _ in range(50):
        img = blank(64, 64)
        p0, p1 = tuple(rng.uniform(0, 64, 2)), tuple(rng.uniform(0, 64, 2))
        raster.stroke_segment(img, p0, p1, 1, 1, (0, 0, 0))
        painted = (img == 0).all(axis=2)
        a = (int(p0[1]), int(p0[0]))
        b = (int(p1[1]), int(p1[0]))
        assert painted[a] and painted[b]
        # The painted pixels form one 8-connected piece.
        seen = {a}
        todo = [a]
        while todo:
            y, x = todo.pop()
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    n = (y + dy, x + dx)
                    if 0 <= n[0] < 64 and 0 <= n[1] < 64 and painted[n] and n not in seen:
                        seen.add(n)
                        todo.append(n)
        assert b in seen and len(seen) == painted.sum()
        # ... and never much fatter than one pixel.
        assert painted.sum() <= 2 * (abs(b[0] - a[0]) + abs(b[1] - a[1])) + 2


def test_stroke_width_varies_with_pressure():
    img = blank(40, 100)
    raster.stroke_segment(img, (10.0, 20.0), (90.0, 20.0), 2, 16, (0, 0, 0))
    painted = (img == 0).all(axis=2)
    assert painted[:, 12].sum() <= 4
    assert painted[:, 88].sum() >= 14


def test_stroke_is_clipped_to_the_image_and_off_image_paints_nothing():
    img = blank(16, 16)
    box = raster.stroke_segment(img, (-5.0, 8.0), (5.0, 8.0), 4, 4, (0, 0, 0))
    assert box is not None and box[0] == 0 and box == changed_box(blank(16, 16), img)
    img = blank(16, 16)
    assert raster.stroke_segment(img, (-50.0, -50.0), (-40.0, -45.0), 4, 4, (0, 0, 0)) is None
    assert (img == 255).all()


def test_pressure_width_is_linear_with_a_floor():
    assert raster.pressure_width(10, 1.0) == 10
    assert raster.pressure_width(10, 0.5) == 5
    assert raster.pressure_width(10, 0.0) == 1
    assert raster.pressure_width(10, 2.0) == 10


# ---- shapes ------------------------------------------------------------------------------------


def test_rect_includes_both_corner_pixels_in_any_drag_direction():
    img = blank(16, 16)
    box = raster.fill_rect(img, (9.7, 8.2), (3.1, 2.9), (1, 2, 3))
    assert box == (3, 2, 10, 9)
    assert (img[2:9, 3:10] == (1, 2, 3)).all()
    assert changed_box(blank(16, 16), img) == box


def test_axis_aligned_polygon_equals_the_rectangle():
    img = blank(16, 16)
    box = raster.fill_polygon(img, [(2, 3), (7, 3), (7, 10), (2, 10)], (0, 0, 0))
    ref = blank(16, 16)
    ref[3:10, 2:7] = 0
    assert np.array_equal(img, ref)
    assert box == (2, 3, 7, 10)


def test_polygon_triangle_and_concave_shape():
    img = blank(64, 64)
    raster.fill_polygon(img, [(0, 0), (64, 0), (0, 64)], (0, 0, 0))
    assert abs((img == 0).all(axis=2).sum() - 64 * 64 / 2) < 64
    # A U shape: the notch stays unpainted.
    img = blank(30, 30)
    u = [(2, 2), (10, 2), (10, 20), (20, 20), (20, 2), (28, 2), (28, 28), (2, 28)]
    raster.fill_polygon(img, u, (0, 0, 0))
    assert (img[5, 15] == 255).all() and (img[5, 5] == 0).all() and (img[25, 15] == 0).all()
    assert raster.fill_polygon(blank(), [(1, 1), (5, 5)], (0, 0, 0)) is None


def test_random_shapes_and_strokes_keep_only_palette_colours():
    pal = colors(FACADES)
    rng = np.random.default_rng(1)
    img = np.empty((48, 48, 3), np.uint8)
    img[:] = pal[0]
    for i in range(60):
        c = tuple(int(v) for v in pal[rng.integers(len(pal))])
        pts = [tuple(rng.uniform(-5, 53, 2)) for _ in range(rng.integers(3, 7))]
        op = i % 4
        if op == 0:
            raster.stroke_segment(img, pts[0], pts[1], rng.uniform(0.5, 9), rng.uniform(0.5, 9), c)
        elif op == 1:
            raster.fill_rect(img, pts[0], pts[1], c)
        elif op == 2:
            raster.fill_polygon(img, pts, c)
        else:
            raster.flood_fill(img, int(rng.integers(48)), int(rng.integers(48)), c)
    assert raster.only_colors(img, pal)
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 3


# ---- flood fill --------------------------------------------------------------------------------


def test_flood_fill_matches_a_reference_bfs_on_random_images():
    rng = np.random.default_rng(2)
    for _ in range(40):
        h, w = rng.integers(1, 24, 2)
        # Few colours so regions are large and twisted.
        img = (rng.integers(0, 3, (h, w, 1)) * 100).repeat(3, axis=2).astype(np.uint8)
        x, y = int(rng.integers(w)), int(rng.integers(h))
        ref = reference_flood(img, x, y)
        mask = raster.flood_mask(img, x, y)
        assert np.array_equal(mask, ref)
        out = img.copy()
        box = raster.flood_fill(out, x, y, (7, 8, 9))
        expected = img.copy()
        expected[ref] = (7, 8, 9)
        assert np.array_equal(out, expected)
        assert box == changed_box(img, out)


def test_flood_fill_is_four_connected_and_exact():
    img = blank(4, 4)
    img[[0, 1, 2, 3], [0, 1, 2, 3]] = 0  # a diagonal of black splits white in two
    out = img.copy()
    raster.flood_fill(out, 3, 0, (255, 0, 0))
    assert (out[0, 1:] == (255, 0, 0)).all() and (out[1:, 0] == 255).all()
    # A pixel one level off is a wall, not part of the region.
    img = blank(1, 5)
    img[0, 2] = (254, 255, 255)
    raster.flood_fill(img, 0, 0, (0, 0, 0))
    assert (img[0, :2] == 0).all() and tuple(img[0, 2]) == (254, 255, 255) and (img[0, 3:] == 255).all()


def test_flood_fill_no_op_cases():
    img = blank(8, 8)
    assert raster.flood_fill(img, 3, 3, (255, 255, 255)) is None
    assert raster.flood_fill(img, -1, 3, (0, 0, 0)) is None
    assert raster.flood_fill(img, 8, 3, (0, 0, 0)) is None
    assert (img == 255).all()


def test_flood_fill_of_a_large_maze_is_fast():
    img = blank(2048, 2048)
    img[::4, :-2] = 0  # horizontal walls with a gap at alternating ends: one long snake
    img[2::4, 2:] = 0
    img[0] = 0
    t = time.perf_counter()
    box = raster.flood_fill(img, 0, 1, (255, 0, 0))
    elapsed = time.perf_counter() - t
    assert box == (0, 1, 2048, 2048)
    assert (img[1] == (255, 0, 0)).all() and (img[2047] == (255, 0, 0)).all()
    assert not (img == 255).all(axis=2).any()  # the snake reaches every white pixel
    assert elapsed < 3.0, f"flood fill took {elapsed:.2f}s"


# ---- view maths --------------------------------------------------------------------------------


@pytest.mark.parametrize("zoom", [0.3, 1.0, 2.5, 17.0])
def test_zoom_about_a_point_keeps_it_fixed(zoom):
    v = raster.View(1.7, 13.0, -4.0)
    before = v.to_image(120.0, 80.0)
    after = v.zoomed_about(120.0, 80.0, zoom)
    assert after.zoom == zoom
    assert after.to_image(120.0, 80.0) == pytest.approx(before)
    assert after.to_widget(*before) == pytest.approx((120.0, 80.0))


def test_fit_and_centre():
    z = raster.fit_zoom((256, 128), (600, 400), margin=0)
    assert z == pytest.approx(600 / 256)
    v = raster.centred_view((256, 128), (600, 400), z)
    assert v.to_widget(128, 64) == pytest.approx((300, 200))
    assert raster.widget_box(raster.View(2.0, 10.0, 20.0), (1, 2, 3, 4), pad=0) == (12, 24, 16, 28)


def test_union_and_only_colors():
    assert raster.union(None, (1, 2, 3, 4)) == (1, 2, 3, 4)
    assert raster.union((0, 5, 2, 6), (1, 2, 3, 4)) == (0, 2, 3, 6)
    pal = colors(FACADES)
    img = np.empty((3, 3, 3), np.uint8)
    img[:] = pal[2]
    assert raster.only_colors(img, pal)
    img[1, 1] = (1, 2, 3)
    assert not raster.only_colors(img, pal)
