"""`sketchpad export CHECKPOINT --onnx OUT.onnx`: the generator as ONNX (opset 17, dynamic height and
width), checked against PyTorch on one image before it is written."""

from __future__ import annotations

from pathlib import Path

from models.checkpoint import load_checkpoint

from . import UsageError


def add_parser(sub):
    p = sub.add_parser("export", help="export a generator to ONNX")
    p.add_argument("checkpoint", help="our .safetensors or a reference .pth")
    p.add_argument("--onnx", required=True, metavar="OUT.onnx", help="where to write the ONNX model")
    p.add_argument("--size", type=int, default=256, help="side of the test image the export is checked on")
    p.add_argument(
        "--bn-stats",
        choices=["running", "image"],
        default="running",
        help="batch norm from running statistics (eval) or the image's own (exported as instance norm)",
    )
    return p


def run(args) -> int:
    from models.fast import onnxruntime_available

    out = Path(args.onnx)
    if out.suffix != ".onnx":
        raise UsageError(f"{out}: the output must end in .onnx")
    if not onnxruntime_available():
        raise UsageError("export needs onnx and onnxruntime: pip install 'sketchpad[onnx]'")
    ckpt = load_checkpoint(args.checkpoint)
    m = ckpt.config.multiple
    if args.size < m or args.size % m:
        raise UsageError(f"--size {args.size}: {ckpt.config.name} needs a multiple of {m}")
    from models.export import export_onnx

    diff = export_onnx(ckpt.net, out, bn_stats=args.bn_stats, verify_size=args.size)
    print(
        f"{out}: {ckpt.config.name} ngf {ckpt.config.ngf}, max |ONNX - PyTorch| {diff:.1e} at {args.size}px"
    )
    return 0
