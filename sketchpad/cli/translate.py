"""`sketchpad translate CHECKPOINT INPUT... -o OUT`: drawings in, 8-bit PNG results out.

Every output is checked before the model loads (a folder that cannot be written, a name that is too long,
an input that would be overwritten without --overwrite), and drawings of any size up to the loader's pixel
limit are translated in tiles whose memory the model's width bounds (models.inference)."""

from __future__ import annotations

import sys
from pathlib import Path

from models.imageio import load_image, save_png
from models.inference import Translator, pick_device
from models.modes import BN_STATS, FITS
from sketchpad.paths import shipped_checkpoint

from . import UsageError, check_folder, check_output, is_folder, output_error, printable_path, seed_type


def add_parser(sub):
    p = sub.add_parser("translate", help="translate drawings with a checkpoint, write PNGs")
    p.add_argument("checkpoint", help="our .safetensors, a reference .pth, or a shipped model's name (faces)")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files")
    p.add_argument("-o", "--out", required=True, help="output file (one input) or folder (several)")
    p.add_argument(
        "--overwrite", action="store_true", help="allow an output to replace its input (refused otherwise)"
    )
    p.add_argument(
        "--bn-stats",
        choices=BN_STATS,
        default=None,
        help="batch norm from the training statistics (running) or this image's (image, the reference test "
        "script without --eval); default: what the model's header prefers, else running",
    )
    p.add_argument("--dropout", choices=["on", "off"], default="off", help="pix2pix's noise at test time")
    p.add_argument(
        "--seed", type=seed_type, default=None, help="makes a dropout-on result reproducible (0 to 2**63-1)"
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, mps")
    p.add_argument(
        "--fit",
        choices=FITS,
        default=None,
        help="how an image of another size meets the net: pad and crop back, or resize and back; "
        "default: what the model's header prefers, else pad",
    )
    return p


def _outputs(args, inputs: list[Path]) -> list[Path]:
    """Where each input's result goes, every one checked before any work."""
    out = Path(args.out)
    several = len(inputs) > 1 or is_folder(out) or args.out.endswith(("/", "\\"))
    if not several:
        if out.suffix.lower() != ".png":
            raise UsageError(
                f"{printable_path(out)}: the output of one input is a .png file (or give a folder ending in /)"
            )
        return [check_output(out, inputs=inputs, overwrite=args.overwrite)]
    names = [p.stem for p in inputs]
    if len(set(names)) != len(names):
        raise UsageError("two inputs share a file name; their results would overwrite each other")
    if out.exists() and not is_folder(out):
        raise UsageError(f"{printable_path(out)}: is a file; several results need a folder")
    check_folder(out)
    return [check_output(out / f"{p.stem}.png", inputs=inputs, overwrite=args.overwrite) for p in inputs]


def run(args) -> int:
    inputs = [Path(p) for p in args.inputs]
    for p in inputs:  # fail before any work on a missing file
        if not p.is_file():
            raise UsageError(f"{printable_path(p)}: no such input file")
    dests = _outputs(args, inputs)
    device, _ = pick_device(args.device, strict=True)  # a device asked for by name must exist
    t = Translator(
        shipped_checkpoint(args.checkpoint),
        device=str(device),
        bn_stats=args.bn_stats,
        dropout=args.dropout == "on",
        seed=args.seed,
        fit=args.fit,
    )
    if t.device_note:
        print(f"sketchpad: {t.device_note}", file=sys.stderr)
    channels = t.config.input_nc
    for p, dest in zip(inputs, dests, strict=True):
        y = t(load_image(p, channels=channels))
        try:
            save_png(dest, y)
        except OSError as e:
            raise output_error(e, dest) from None
        print(dest)
    return 0
