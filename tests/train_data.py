"""Tiny datasets and `sketchpad train` flags the training tests share."""

from __future__ import annotations

import numpy as np
from PIL import Image

from models.dataset_make import add_pair
from models.palette import FACADES, colors


def tiny(ngf: int = 4, epochs: int = 1) -> list[str]:
    """Flags for a tiny pix2pix run on make_pairs' 32x32 pairs: `epochs` constant, `epochs` decaying."""
    return ["--ngf", str(ngf), "--ndf", str(ngf), "--num-downs", "5", "--load-size", "36", "--crop-size", "32",
            "--num-workers", "0", "--sample-every", "0", "--epochs", str(epochs), "--epochs-decay", str(epochs)]  # fmt: skip


TINY = tiny()


def make_pairs(root, n=4, size=32, n_val=0, nc=3):
    """`n` aligned random pairs (A | 255 - A) in root/train, `n_val` in root/val; `nc` 1: gray files."""
    rng = np.random.default_rng(0)
    for split, k in (("train", n), ("val", n_val)):
        if not k:
            continue
        (root / split).mkdir(parents=True, exist_ok=True)
        for i in range(k):
            a = rng.integers(0, 255, (size, size, nc), dtype=np.uint8).squeeze()
            Image.fromarray(np.concatenate([a, 255 - a], 1)).save(root / split / f"{i}.png")
    return root


def make_sketch_pairs(root, n=6, size=32):
    """`n` (line drawing, photo) paired-folder pairs that a tiny pix2pix can learn: a dark cross in the
    single-channel drawing, a coloured square at the same place in the photo."""
    rng = np.random.default_rng(0)
    for i in range(n):
        a = np.full((size, size), 255, np.uint8)
        b = np.full((size, size, 3), 210, np.uint8)
        y, x = (int(v) for v in rng.integers(4, size - 12, 2))
        a[y : y + 8, x + 4] = 0
        a[y + 4, x : x + 8] = 0
        b[y : y + 8, x : x + 8] = rng.integers(0, 200, 3)
        add_pair(root, a, b, name=f"pair{i}")
    return root


def make_facades(root, n_train=4, n_val=2, size=64):
    """Facades-like aligned pairs, photo | label map (so BtoA puts the label map first): bands of random
    FACADES classes, the photo a fixed colour per class plus noise."""
    rng = np.random.default_rng(0)
    pal = colors(FACADES)
    shade = rng.integers(0, 255, (len(FACADES), 3))
    for split, n in (("train", n_train), ("val", n_val)):
        (root / split).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            rows = np.repeat(rng.integers(0, len(FACADES), 8), size // 8)
            classes = np.repeat(rows[:, None], size, 1)
            classes[:, : size // 2] = np.flip(classes[:, : size // 2], 0)
            photo = np.clip(shade[classes] + rng.normal(0, 8, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(np.concatenate([photo, pal[classes]], 1)).save(root / split / f"{i}.png")
    return root
