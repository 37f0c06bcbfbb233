"""Label palettes: named class colours, and snapping any colour image onto them."""

from __future__ import annotations

import numpy as np

Palette = list[tuple[str, tuple[int, int, int]]]

# CMP Facade Database, palette index 1..12, as the pix2pix facades set draws them.
FACADES: Palette = [
    ("background", (0, 0, 170)),
    ("facade", (0, 0, 255)),
    ("window", (0, 85, 255)),
    ("door", (0, 170, 255)),
    ("cornice", (0, 255, 255)),
    ("sill", (85, 255, 170)),
    ("balcony", (170, 255, 85)),
    ("blind", (255, 255, 0)),
    ("deco", (255, 170, 0)),
    ("molding", (255, 85, 0)),
    ("pillar", (255, 0, 0)),
    ("shop", (170, 0, 0)),
]


def colors(palette: Palette) -> np.ndarray:
    """(K, 3) uint8 array of the palette's colours."""
    return np.array([rgb for _, rgb in palette], dtype=np.uint8)


def label_indices(image: np.ndarray, palette: Palette) -> np.ndarray:
    """uint8 (H, W, 3) -> int64 (H, W): the index of the nearest palette colour (squared RGB distance)."""
    c = colors(palette).astype(np.int32)  # (K, 3)
    flat = image.reshape(-1, 3).astype(np.int32)
    # Chunked so that a large image never builds an (H*W, K, 3) array at once.
    out = np.empty(flat.shape[0], dtype=np.int64)
    step = 1 << 18
    for i in range(0, flat.shape[0], step):
        d = ((flat[i : i + step, None, :] - c[None, :, :]) ** 2).sum(-1)
        out[i : i + step] = d.argmin(1)
    return out.reshape(image.shape[:2])


def snap(image: np.ndarray, palette: Palette) -> np.ndarray:
    """Every pixel replaced by its nearest palette colour: public facade palettes differ by up to ~20
    levels a channel, and JPEG adds noise at region edges."""
    return colors(palette)[label_indices(image, palette)]
