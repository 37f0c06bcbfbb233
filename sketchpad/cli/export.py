"""`sketchpad export CHECKPOINT --onnx OUT.onnx`: the generator as ONNX (opset 17, dynamic height and
width), checked against PyTorch on one image before it is written.

`sketchpad export RUN/latest.safetensors -o weights/X.safetensors --fp16 --name X --role live
--metrics eval.json`: the file to ship. Its header keeps what the run wrote (the `sketchpad train` command
lines, training seconds and device, the teacher of a distilled student) and gains the val metrics of
`sketchpad eval ... --json > eval.json`. A segmenter run (`sketchpad train --model segmenter`) exports the
same way with --role segmenter; its header already has its val accuracy, so it takes no --metrics.
The header's "inference" field (the batch-norm statistics and fit the model runs best in, written by
training) is kept; --bn-stats and --fit set it. An ONNX export bakes in --bn-stats, by default the
header's preference."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from models.checkpoint import load_checkpoint
from models.modes import BN_STATS, FITS

from . import UsageError, check_output, int_in, printable_path

MAX_CHECK_SIZE = 1024  # the check image's side (the exported model itself takes any size); 2 GB at most

ROLES = ("full", "live", "segmenter")
# eval's keys that the header already says in its own words
_EVAL_ONLY = ("name", "direction", "input_kind")


def add_parser(sub):
    p = sub.add_parser(
        "export",
        help="export a generator to ONNX, or as a (fp16) safetensors to ship",
        description="Export a generator: --onnx OUT.onnx, or -o OUT.safetensors (with --fp16) to ship.",
    )
    p.add_argument("checkpoint", help="our .safetensors or a reference .pth")
    p.add_argument("--onnx", metavar="OUT.onnx", help="write an ONNX model")
    p.add_argument("-o", "--out", metavar="OUT.safetensors", help="write our safetensors (header kept)")
    p.add_argument("--fp16", action="store_true", help="with -o: half-precision weights (half the size)")
    p.add_argument("--name", help="with -o: the model's name in the app")
    p.add_argument(
        "--role", choices=ROLES, help="with -o: full quality, the live tier, or the FCN-score segmenter"
    )
    p.add_argument("--metrics", metavar="EVAL.json", help="with -o: `sketchpad eval --json` output to record")
    p.add_argument("--description", help="with -o: one sentence on what the model does")
    p.add_argument("--licence", help="with -o: the training data's licence")
    p.add_argument("--overwrite", action="store_true", help="with -o: allow -o to be the checkpoint itself")
    p.add_argument(
        "--size",
        type=int_in(1, MAX_CHECK_SIZE),
        default=256,
        help=f"side of the test image the ONNX export is checked on (at most {MAX_CHECK_SIZE})",
    )
    p.add_argument(
        "--bn-stats",
        choices=BN_STATS,
        default=None,
        help="batch norm from running statistics (eval) or the image's own (as instance norm in ONNX); "
        "with -o the mode the header prefers; default: the header's preference, else running",
    )
    p.add_argument(
        "--fit",
        choices=FITS,
        default=None,
        help="with -o: the fit the header prefers (pad to what the net takes, or resize to its size)",
    )
    return p


def run(args) -> int:
    if bool(args.onnx) == bool(args.out):
        raise UsageError("give one of --onnx OUT.onnx or -o OUT.safetensors")
    if args.out:
        return _safetensors(args)
    for flag in ("fp16", "name", "role", "metrics", "description", "licence", "overwrite", "fit"):
        if getattr(args, flag):
            raise UsageError(f"--{flag} goes with -o OUT.safetensors, not --onnx")
    return _onnx(args)


def _onnx(args) -> int:
    from models.fast import onnxruntime_available

    out = Path(args.onnx)
    if out.suffix != ".onnx":
        raise UsageError(f"{printable_path(out)}: the output must end in .onnx")
    check_output(out, inputs=[args.checkpoint])
    if not onnxruntime_available():
        raise UsageError("export needs onnx and onnxruntime: pip install 'sketchpad[onnx]'")
    ckpt = load_checkpoint(args.checkpoint)
    m = ckpt.config.multiple
    if args.size < m or args.size % m:
        raise UsageError(f"--size {args.size}: {ckpt.config.name} needs a multiple of {m}")
    from models.export import export_onnx
    from models.inference import preferred_modes

    bn_stats = args.bn_stats or preferred_modes(ckpt.meta)[0]
    diff = export_onnx(ckpt.net, out, bn_stats=bn_stats, verify_size=args.size)
    print(
        f"{out}: {ckpt.config.name} ngf {ckpt.config.ngf}, bn_stats {bn_stats}, "
        f"max |ONNX - PyTorch| {diff:.1e} at {args.size}px"
    )
    return 0


def read_metrics(path: str) -> dict:
    """The metrics object `sketchpad eval --json` printed, checked enough to be worth shipping."""
    p = Path(path)
    shown = printable_path(p)
    try:
        metrics = json.loads(p.read_text())
    except OSError as e:
        raise UsageError(f"{shown}: cannot read it ({e.strerror or e})") from None
    except (ValueError, UnicodeDecodeError):
        raise UsageError(f"{shown}: not JSON; give the output of `sketchpad eval ... --json`") from None
    if not isinstance(metrics, dict) or not isinstance(metrics.get("l1"), int | float):
        raise UsageError(f"{shown}: no 'l1' in it; give the output of `sketchpad eval ... --json`")
    return {k: v for k, v in metrics.items() if k not in _EVAL_ONLY}


def _is_segmenter(path: str) -> bool:
    from models.checkpoint import read_header
    from models.segmenter import FORMAT

    return path.endswith(".safetensors") and read_header(path).get("format") == FORMAT


def _shipped_meta(args, meta: dict) -> dict:
    """`meta` with the flags' name, role, description and licence, and where and when it was exported."""
    meta = dict(meta)
    for key in ("name", "role", "description", "licence"):
        if getattr(args, key) is not None:
            meta[key] = getattr(args, key)
    meta["exported"] = {
        "from": Path(args.checkpoint).name,
        "fp16": bool(args.fp16),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return meta


def _safetensors(args) -> int:
    from models.checkpoint import save_checkpoint

    if not Path(args.checkpoint).is_file():
        raise UsageError(f"{printable_path(args.checkpoint)}: no such checkpoint file")
    out = Path(args.out)
    if out.suffix != ".safetensors":
        raise UsageError(f"{printable_path(out)}: the output must end in .safetensors")
    out = check_output(out, inputs=[args.checkpoint], overwrite=args.overwrite)
    shown = printable_path(args.checkpoint)
    if _is_segmenter(args.checkpoint):
        if args.role not in (None, "segmenter"):
            raise UsageError(f"{shown}: a segmenter exports with --role segmenter, not --role {args.role}")
        if args.metrics:
            raise UsageError(f"{shown}: a segmenter's header has its val accuracy already; drop --metrics")
        return _segmenter(args, out)
    if args.role == "segmenter":
        raise UsageError(f"{shown}: not a segmenter (train one with `sketchpad train --model segmenter`)")
    metrics = read_metrics(args.metrics) if args.metrics else None
    ckpt = load_checkpoint(args.checkpoint)
    meta = dict(ckpt.meta)
    meta.pop("source", None)  # a reference .pth: what we write is ours
    if metrics is not None:
        meta["metrics"] = metrics
    modes = {**(meta.get("inference") or {})}
    for key in ("bn_stats", "fit"):
        if getattr(args, key) is not None:
            modes[key] = getattr(args, key)
    if modes:
        meta["inference"] = modes
    meta = _shipped_meta(args, meta)
    save_checkpoint(out, ckpt.net, meta, half=args.fp16)
    size = out.stat().st_size / 2**20
    made_by = _command_count(meta)
    print(
        f"{printable_path(out)}: {ckpt.config.name} ngf {ckpt.config.ngf}, "
        f"{'fp16' if args.fp16 else 'fp32'}, {size:.1f} MiB, role {meta.get('role', 'full')}, "
        f"{made_by} training command line(s) in its header"
    )
    return 0


def _command_count(meta: dict) -> int:
    """How many training command lines a header holds (what the export's summary line reports)."""
    training = meta.get("training") if isinstance(meta.get("training"), dict) else {}
    return len(training.get("commands") or [])


def _segmenter(args, out: Path) -> int:
    """The segmenter file to ship: its weights (fp16 with --fp16) and its header, the flags' fields added."""
    from models.checkpoint import read_header
    from models.segmenter import load_segmenter, save_segmenter

    seg = load_segmenter(args.checkpoint)
    meta = _shipped_meta(args, read_header(args.checkpoint))
    save_segmenter(out, seg.net, meta, half=args.fp16)
    cfg = seg.net.cfg
    made_by = _command_count(meta)
    print(
        f"{printable_path(out)}: segmenter {cfg.name} ngf {cfg.ngf}, {cfg.output_nc} classes, "
        f"{'fp16' if args.fp16 else 'fp32'}, {out.stat().st_size / 2**20:.1f} MiB, "
        f"{made_by} training command line(s) in its header"
    )
    return 0
