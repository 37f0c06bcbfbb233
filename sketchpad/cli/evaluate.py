"""`sketchpad eval CHECKPOINT --data DIR [--split val] [--json] [--limit N]`: L1, PSNR, SSIM on a split, and
the FCN-score for label-map models; FID is reported as null with the reason (no offline Inception weights).
A model scored on data of another kind (a line-art model on label maps) gets a one-line warning on stderr.
It runs in the modes its header prefers (batch-norm statistics, fit) unless --bn-stats or --fit say otherwise.

`sketchpad eval --strip OUT.png CHECKPOINT [CHECKPOINT...] --data DIR [--n 4] [--tile 128]`: instead of
scores, the val-strip picture, one row per example: input | each checkpoint's output | target."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from models.errors import DataError
from models.evaluate import evaluate, val_strip
from models.modes import BN_STATS, FITS
from sketchpad.paths import WEIGHTS_DIR, shipped_checkpoint

from . import UsageError, check_output, int_in, printable_path

KIND_WORDS = {"labels": "label maps", "lineart": "line art", "image": "photos"}

DEFAULT_SEGMENTER = WEIGHTS_DIR / "facades-seg.safetensors"
STRIP_ROWS, STRIP_TILE = 4, 128


def add_parser(sub):
    p = sub.add_parser("eval", help="score a checkpoint on a data split (L1, PSNR, SSIM, FCN-score)")
    p.add_argument(
        "checkpoints",
        nargs="+",
        metavar="CHECKPOINT",
        help="our .safetensors, a .pth, or a shipped model's name (facades); several with --strip",
    )
    p.add_argument(
        "--data", required=True, help="dataset folder (aligned train/ val/ test/, or split/A, split/B)"
    )
    p.add_argument("--split", default="val", help="train, val or test (default val)")
    p.add_argument("--json", action="store_true", help="print exactly one JSON object")
    p.add_argument("--limit", type=int_in(0, 10**9), default=0, help="score only the first N pairs")
    p.add_argument(
        "--holdout",
        type=int_in(0, 10**9),
        default=None,
        help="for a set without the split folder: pairs cut from train as val (default 15, as in training)",
    )
    p.add_argument(
        "--segmenter",
        default=None,
        help=f"FCN-score segmenter for label-map models (default {DEFAULT_SEGMENTER.name} when shipped)",
    )
    p.add_argument("--baseline", action="store_true", help="also score the mean training photo")
    p.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto")
    p.add_argument(
        "--bn-stats",
        choices=BN_STATS,
        default=None,
        help="batch norm from the training statistics or each image's (default: what the model prefers)",
    )
    p.add_argument(
        "--fit",
        choices=FITS,
        default=None,
        help="pad to what the net takes, or resize to its training size (default: what the model prefers)",
    )
    p.add_argument(
        "--strip",
        metavar="OUT.png",
        default=None,
        help="instead of scores, save a picture of the split: input | each checkpoint's output | target",
    )
    p.add_argument("--n", type=int_in(1, 10_000), default=None, help=f"--strip rows (default {STRIP_ROWS})")
    p.add_argument(
        "--tile", type=int_in(1, 4096), default=None, help=f"--strip tile side in px (default {STRIP_TILE})"
    )
    return p


def kind_warning(ckpt, data: str) -> str:
    """One line when the data's input side does not look like what the model was trained on, else ''."""
    from models.data import guess_input_kind

    declared = ckpt.meta.get("input_kind")
    if declared not in ("labels", "lineart"):  # 'image' models take anything a camera makes
        return ""
    try:
        found = guess_input_kind(data, ckpt.meta.get("direction", "AtoB"))
    except DataError:
        return ""  # no readable images: evaluate says so in its own words
    if found == declared:
        return ""
    return (
        f"{ckpt.name} was trained on {KIND_WORDS[declared]} but {printable_path(data)} looks like "
        f"{KIND_WORDS[found]}; its scores will mean little"
    )


def run(args) -> int:
    from models.checkpoint import load_checkpoint
    from models.inference import pick_device

    checkpoints = [shipped_checkpoint(c) for c in args.checkpoints]
    for given, checkpoint in zip(args.checkpoints, checkpoints, strict=True):
        if not Path(checkpoint).is_file():
            raise UsageError(f"{printable_path(given)}: no such checkpoint file")
    if not Path(args.data).is_dir():
        raise UsageError(f"{printable_path(args.data)}: no such data folder")
    if args.strip is not None:
        return strip(args, checkpoints)
    if args.n is not None or args.tile is not None:
        raise UsageError("--n and --tile size a --strip; give --strip OUT.png too")
    if len(checkpoints) > 1:
        raise UsageError("give one checkpoint to score (several go with --strip)")
    checkpoint = checkpoints[0]
    seg = args.segmenter
    if seg is None and DEFAULT_SEGMENTER.is_file():
        seg = str(DEFAULT_SEGMENTER)
    elif seg is not None and not Path(seg).is_file():
        raise UsageError(f"{printable_path(seg)}: no such segmenter file")
    device, _ = pick_device(args.device, strict=True)
    ckpt = load_checkpoint(checkpoint)
    warning = kind_warning(ckpt, args.data)
    if warning:
        print(f"sketchpad: warning: {warning}", file=sys.stderr)
    result = evaluate(
        ckpt,
        args.data,
        args.split,
        limit=args.limit or None,
        holdout=args.holdout,
        segmenter=seg,
        baseline=args.baseline,
        device=str(device),
        bn_stats=args.bn_stats,
        fit=args.fit,
    )
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"{result['name']} on {result['data']} [{result['split']}, {result['n']} pairs, {result['direction']}, "
        f"bn_stats {result['bn_stats']}, fit {result['fit']}]"
    )
    rows = [("L1", "l1", "{:.4f}"), ("PSNR", "psnr", "{:.2f} dB"), ("SSIM", "ssim", "{:.4f}")]
    for label, key, fmt in rows:
        line = f"  {label:<6} {fmt.format(result[key])}"
        if "baseline_mean_photo" in result:
            line += f"   (mean photo {fmt.format(result['baseline_mean_photo'][key])})"
        print(line)
    print(
        f"  Grid   {result['grid']:.5f}   (real photos {result['grid_real']:.5f}; the period-2 checkerboard)"
    )
    if result["input_kind"] == "labels":
        if result.get("fcn_pixel_acc") is None:
            print(f"  FCN-score: not computed ({result.get('fcn_note', '')})")
        else:
            for label, key in (
                ("pixel acc", "fcn_pixel_acc"),
                ("class acc", "fcn_class_acc"),
                ("mean IoU", "fcn_miou"),
            ):
                line = f"  FCN {label:<9} {result[key]:.3f}   (real photos {result[key + '_real']:.3f}"
                if key in result.get("baseline_mean_photo", {}):
                    line += f", mean photo {result['baseline_mean_photo'][key]:.3f}"
                print(line + ")")
            line = f"  FCN ratio {result['fcn_ratio']:.2f} of the real photos' pixel acc"
            if "baseline_majority_class" in result:
                m = result["baseline_majority_class"]
                line += f"   (the majority class, {m['class']}, everywhere: {m['pixel_acc']:.3f})"
            print(line)
    print(f"  FID    n/a ({result['fid_note']})", file=sys.stdout)
    return 0


def strip(args, checkpoints: list[str]) -> int:
    """--strip: the picture instead of the scores; prints where it was written."""
    scoring = {
        "--json": args.json,
        "--limit": args.limit,
        "--segmenter": args.segmenter is not None,
        "--baseline": args.baseline,
        "--device": args.device != "cpu",
        "--bn-stats": args.bn_stats is not None,
        "--fit": args.fit is not None,
    }
    given = [flag for flag, on in scoring.items() if on]
    if given:
        raise UsageError(f"--strip makes a picture, not scores; drop {', '.join(given)}")
    out = check_output(args.strip, inputs=checkpoints)
    n, tile = args.n or STRIP_ROWS, args.tile or STRIP_TILE
    print(val_strip(checkpoints, args.data, out, split=args.split, n=n, tile=tile, holdout=args.holdout))
    return 0
