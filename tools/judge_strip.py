"""What the FCN-score judge sees: for a few val pairs, a row of real photo | the judge's classes on it | a
label model's output for the same label map | the judge's classes on that | the label map. A tool of the
clone, not of the library:

    python tools/judge_strip.py weights/facades.safetensors --data ../shared/data/facades \\
        --pairs 0 5 11 -o resources/val_strips/facades-judge.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the clone's models/, installed or not

from models.evaluate import load_split  # noqa: E402
from models.inference import Translator  # noqa: E402
from models.palette import FACADES, colors  # noqa: E402
from models.segmenter import load_segmenter  # noqa: E402

GAP = 4  # white pixels between tiles


def rows(model, data, pairs, segmenter) -> np.ndarray:
    """The strip as uint8 (H, W, 3): one row per val pair index in `pairs`."""
    seg, pal = load_segmenter(segmenter), colors(FACADES)
    tr = Translator(model, device="cpu")
    split = load_split(data, "val", direction=tr.checkpoint.meta.get("direction", "BtoA"))
    out = []
    for i in pairs:
        _, labels, photo = split[i]
        fake = tr(labels)
        tiles = [photo, pal[seg.predict(photo)], fake, pal[seg.predict(fake)], labels]
        gap = np.full((photo.shape[0], GAP, 3), 255, np.uint8)
        row = np.concatenate([part for t in tiles for part in (t, gap)][:-1], 1)
        out += [row, np.full((GAP, row.shape[1], 3), 255, np.uint8)]
    return np.concatenate(out[:-1], 0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python tools/judge_strip.py", description=__doc__.split("\n")[0])
    p.add_argument("model", help="a label-map generator file")
    p.add_argument("--data", default="../shared/data/facades")
    p.add_argument(
        "--segmenter",
        default=str(Path(__file__).resolve().parent.parent / "weights" / "facades-seg.safetensors"),
    )
    p.add_argument("--pairs", type=int, nargs="+", default=[0, 5, 11], help="val pair indices")
    p.add_argument("-o", "--out", required=True)
    a = p.parse_args(argv)
    Image.fromarray(rows(a.model, a.data, a.pairs, a.segmenter)).save(a.out, optimize=True)
    print(a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
