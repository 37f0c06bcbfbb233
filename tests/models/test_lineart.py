"""Line art from photos: thin lines on the shapes' outlines, knobs that do what they say, augmentation."""

from __future__ import annotations

import numpy as np
import pytest

from models.lineart import (
    LineartParams,
    components,
    edge_skeleton,
    extract_lineart,
    remove_small,
    render_lines,
    sketch_augment,
)


def shapes(size: int = 96) -> np.ndarray:
    """A grey square and a dark disk on white, as an RGB photo."""
    img = np.full((size, size, 3), 240, np.uint8)
    img[20:60, 15:55] = 90
    yy, xx = np.mgrid[:size, :size]
    img[(yy - 65) ** 2 + (xx - 68) ** 2 < 18**2] = 20
    return img


def flood_components(mask: np.ndarray) -> int:
    """Reference 8-connected component count by breadth-first search."""
    seen = np.zeros_like(mask)
    n = 0
    h, w = mask.shape
    for y, x in zip(*np.nonzero(mask), strict=True):
        if seen[y, x]:
            continue
        n += 1
        stack = [(y, x)]
        seen[y, x] = True
        while stack:
            cy, cx = stack.pop()
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    ny, nx = cy + dy, cx + dx
                    if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not seen[ny, nx]:
                        seen[ny, nx] = True
                        stack.append((ny, nx))
    return n


@pytest.mark.parametrize("seed", range(6))
def test_components_match_a_flood_fill(seed):
    rng = np.random.default_rng(seed)
    mask = rng.random((23, 31)) < (0.2 + 0.1 * seed)
    labels, sizes = components(mask)
    assert len(sizes) - 1 == flood_components(mask)
    assert (labels > 0).sum() == mask.sum() and ((labels > 0) == mask).all()
    assert sizes[1:].sum() == mask.sum() and (sizes[1:] > 0).all()


def test_remove_small_keeps_only_long_parts():
    mask = np.zeros((20, 20), bool)
    mask[2, 2:18] = True  # 16 px line
    mask[10, 10] = mask[15, 3] = mask[16, 4] = True  # a dot and a 2-px diagonal
    out = remove_small(mask, 5)
    assert out[2, 2:18].all() and out.sum() == 16


def test_skeleton_is_thin_and_on_the_outlines():
    img = shapes()
    sk = edge_skeleton(img, detail=0.5)
    assert sk.sum() > 150  # both outlines found (square perimeter 160, circle ~113)
    # On the outlines: every line pixel is within 2 px of a change of grey level.
    g = img[..., 0].astype(int)
    border = np.zeros_like(sk)
    border[:-1] |= g[:-1] != g[1:]
    border[:, :-1] |= g[:, :-1] != g[:, 1:]
    near = np.zeros_like(sk)
    for dy in range(-3, 4):
        for dx in range(-3, 4):
            near |= np.roll(np.roll(border, dy, 0), dx, 1)
    assert near[sk].mean() > 0.98
    # Thin: a straight edge of the square is one pixel wide (non-maximum suppression).
    assert sk[40, 5:30].sum() <= 2


def test_flat_photo_gives_blank_paper():
    out = extract_lineart(np.full((64, 48, 3), 128, np.uint8))
    assert out.shape == (64, 48) and out.dtype == np.uint8 and (out == 255).all()


def test_detail_adds_lines_and_simplify_drops_speckle():
    rng = np.random.default_rng(0)
    img = shapes(128).astype(np.int16)
    img += rng.integers(-30, 30, img.shape[:2], dtype=np.int16)[..., None]  # texture
    img = np.clip(img, 0, 255).astype(np.uint8)
    counts = [edge_skeleton(img, d).sum() for d in (0.0, 0.5, 1.0)]
    assert counts[0] < counts[1] < counts[2]
    few = edge_skeleton(img, 0.0)
    _, sizes = components(few)
    assert sizes[1:].min() >= 10  # no speckle survives at low detail


@pytest.mark.parametrize("thickness", [1.0, 3.0, 5.0])
def test_thickness_is_the_pen_width(thickness):
    sk = np.zeros((40, 40), bool)
    sk[20, 5:35] = True
    out = render_lines(sk, thickness)
    column = 255 - out[:, 20].astype(float)
    assert column.sum() / 255 == pytest.approx(thickness, abs=0.6)
    assert out[20, 20] == 0 and out[5, 20] == 255


def test_vary_and_jitter_change_lines_reproducibly():
    sk = edge_skeleton(shapes(), 0.5)
    plain = render_lines(sk, 3.0)
    a = render_lines(sk, 3.0, vary=0.8, jitter=1.5, seed=1)
    b = render_lines(sk, 3.0, vary=0.8, jitter=1.5, seed=1)
    c = render_lines(sk, 3.0, vary=0.8, jitter=1.5, seed=2)
    assert (a == b).all() and (a != c).any() and (a != plain).any()
    # Still a drawing of the same shapes: similar amount of ink.
    assert 0.5 < (a < 128).sum() / (plain < 128).sum() < 2.0


def test_params_are_checked():
    with pytest.raises(ValueError, match="detail"):
        LineartParams(detail=1.5)
    with pytest.raises(ValueError, match="thickness"):
        LineartParams(thickness=0)


def test_sketch_augment_perturbs_but_keeps_the_drawing():
    lineart = extract_lineart(shapes(), detail=0.5, thickness=2.0)
    outs = [sketch_augment(lineart, np.random.default_rng(s)) for s in range(8)]
    for o in outs:
        assert o.shape == lineart.shape and o.dtype == np.uint8
        assert 0.3 < (o < 128).sum() / (lineart < 128).sum() < 3.0
        assert o.max() == 255  # paper stays white
    assert any((o != lineart).any() for o in outs)
    again = sketch_augment(lineart, np.random.default_rng(3))
    assert (again == outs[3]).all()
    rgb = np.repeat(lineart[..., None], 3, axis=2)
    out = sketch_augment(rgb, np.random.default_rng(0))
    assert out.shape == rgb.shape and (out[..., 0] == out[..., 2]).all()
