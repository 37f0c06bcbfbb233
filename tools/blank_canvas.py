"""What a label model draws on an empty canvas: each model translates a canvas of one label class (by default
"background", what a new label drawing starts as, and "facade"), in the modes its header prefers, and this
prints how flat the result is and saves the pictures. A tool of the clone, not of the library:

    python tools/blank_canvas.py weights/facades.safetensors weights/facades-live.safetensors \\
        --strip resources/val_strips/facades-blank.png

One JSON line per model and class, grey levels on 0-255 and the grid measures of `sketchpad eval`:
- std: spread over the whole picture (shading and darker borders count);
- texture: RMS of the picture minus its 5x5 box blur, the fine-grained part (noise, a pattern);
- grid / grid8: the mean 2x2 / 8x8 tile's RMS on [0, 1] (`models.metrics.grid`), a pattern locked to the
  pixel grid such as a transposed convolution's checkerboard.
The strip: a row per model, a column per class.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the clone's models/, installed or not

from models.inference import Translator  # noqa: E402
from models.metrics import grid  # noqa: E402
from models.palette import FACADES  # noqa: E402


def texture(img: np.ndarray, k: int = 5) -> float:
    """RMS (0-255) of the grey picture minus its k x k box blur (edge-replicated)."""
    g = img.astype(np.float64).mean(axis=2) if img.ndim == 3 else img.astype(np.float64)
    p = np.pad(g, k // 2, mode="edge")
    c = np.cumsum(np.cumsum(np.pad(p, ((1, 0), (1, 0))), 0), 1)
    h, w = g.shape
    box = (c[k : k + h, k : k + w] - c[:h, k : k + w] - c[k : k + h, :w] + c[:h, :w]) / (k * k)
    return float(np.sqrt(((g - box) ** 2).mean()))


def measure(img: np.ndarray) -> dict[str, float]:
    return {
        "std": round(float(img.std()), 2),
        "texture": round(texture(img), 2),
        "grid": round(grid(img), 5),
        "grid8": round(grid(img, 8), 5),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python tools/blank_canvas.py", description=__doc__.split("\n")[0])
    p.add_argument("models", nargs="+", help="label-input model files (or shipped names)")
    p.add_argument("--classes", default="background,facade", help="comma-separated label classes")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--strip", help="save the pictures here (PNG)")
    a = p.parse_args(argv)
    palette = dict(FACADES)
    classes = a.classes.split(",")
    unknown = [c for c in classes if c not in palette]
    if unknown:
        p.error(f"unknown class {unknown[0]!r}; the classes are {', '.join(palette)}")
    rows = []
    for model in a.models:
        tr = Translator(model)
        if tr.meta.get("input_kind") not in (None, "labels"):
            p.error(f"{model}: its input is {tr.meta.get('input_kind')}, not label maps")
        row = []
        for cls in classes:
            canvas = np.empty((a.size, a.size, 3), np.uint8)
            canvas[:] = palette[cls]
            out = tr(canvas)
            row.append(out)
            line = {"model": model, "class": cls, "bn_stats": tr.bn_stats, **measure(out)}
            print(json.dumps(line))
        rows.append(np.concatenate(row, axis=1))
    if a.strip:
        from PIL import Image

        Image.fromarray(np.concatenate(rows, axis=0)).save(a.strip)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
