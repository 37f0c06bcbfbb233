"""`sketchpad translate CHECKPOINT INPUT... -o OUT`: drawings in, 8-bit PNG results out."""

from __future__ import annotations

import sys
from pathlib import Path

from models.imageio import load_image, save_png
from models.inference import Translator
from sketchpad.paths import shipped_checkpoint

from . import UsageError


def add_parser(sub):
    p = sub.add_parser("translate", help="translate drawings with a checkpoint, write PNGs")
    p.add_argument("checkpoint", help="our .safetensors, a reference .pth, or a shipped model's name (faces)")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files")
    p.add_argument("-o", "--out", required=True, help="output file (one input) or folder (several)")
    p.add_argument(
        "--bn-stats",
        choices=["running", "image"],
        default="running",
        help="batch norm from the training statistics (running) or this image's (image, the reference test script without --eval)",
    )
    p.add_argument("--dropout", choices=["on", "off"], default="off", help="pix2pix's noise at test time")
    p.add_argument("--seed", type=int, default=None, help="makes a dropout-on result reproducible")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, mps")
    p.add_argument(
        "--fit",
        choices=["pad", "resize"],
        default="pad",
        help="how an image of another size meets the net: pad and crop back, or resize and back",
    )
    return p


def run(args) -> int:
    inputs = [Path(p) for p in args.inputs]
    out = Path(args.out)
    several = len(inputs) > 1 or out.is_dir() or args.out.endswith(("/", "\\"))
    if not several and out.suffix.lower() != ".png":
        raise UsageError(f"{out}: the output of one input is a .png file (or give a folder ending in /)")
    for p in inputs:  # fail before any work on a missing file
        if not p.is_file():
            raise UsageError(f"{p}: no such input file")
    if several:
        names = [p.stem for p in inputs]
        if len(set(names)) != len(names):
            raise UsageError("two inputs share a file name; their results would overwrite each other")
    t = Translator(
        shipped_checkpoint(args.checkpoint),
        device=args.device,
        bn_stats=args.bn_stats,
        dropout=args.dropout == "on",
        seed=args.seed,
        fit=args.fit,
    )
    if t.device_note:
        print(f"sketchpad: {t.device_note}", file=sys.stderr)
    channels = t.config.input_nc
    for p in inputs:
        y = t(load_image(p, channels=channels))
        dest = out / f"{p.stem}.png" if several else out
        save_png(dest, y)
        print(dest)
    return 0
