"""`sketchpad convert REF.pth OUT.safetensors`: a reference implementation checkpoint into our format,
with the header that tells the app how to use it (input kind, name, direction)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from models.checkpoint import convert_reference, load_checkpoint

from . import UsageError, check_output, output_error, printable_path

INPUT_KINDS = ("labels", "lineart", "image")


def add_parser(sub):
    p = sub.add_parser("convert", help="convert a reference latest_net_G.pth to .safetensors")
    p.add_argument("src", metavar="REF.pth", help="the reference implementation's generator checkpoint")
    p.add_argument("dst", metavar="OUT.safetensors", help="where to write ours")
    p.add_argument(
        "--input-kind", choices=INPUT_KINDS, default=None, help="what the drawing is (default image)"
    )
    p.add_argument("--name", default=None, help="the name the app shows (default: the output file's name)")
    p.add_argument("--direction", choices=["AtoB", "BtoA"], default=None, help="the direction it was trained")
    p.add_argument("--description", default=None, help="one line the app shows as a tooltip")
    # What a reference state dict cannot tell; the header we write records it.
    p.add_argument(
        "--padding-type",
        choices=["reflect", "replicate", "zero"],
        default=None,
        help="ResNet blocks' padding (default: read from the weights; reflect where they can't tell it from replicate)",
    )
    p.add_argument(
        "--no-dropout", action="store_true", help="the U-Net was trained with the reference's --no_dropout"
    )
    return p


def run(args) -> int:
    src, dst = Path(args.src), Path(args.dst)
    if dst.suffix != ".safetensors":
        raise UsageError(f"{printable_path(dst)}: the output must end in .safetensors")
    if not src.is_file():
        raise UsageError(f"{printable_path(src)}: no such checkpoint file")
    check_output(dst, inputs=[src])  # never over the checkpoint being converted
    meta = {
        "name": args.name or dst.stem,
        "source": src.name,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if args.input_kind:
        meta["input_kind"] = args.input_kind
        if args.input_kind == "labels":
            from models.palette import FACADES

            meta["palette"] = [[n, list(rgb)] for n, rgb in FACADES]
    if args.direction:
        meta["direction"] = args.direction
    if args.description:
        meta["description"] = args.description
    arch = {"padding_type": args.padding_type} if args.padding_type else {}
    if args.no_dropout:
        arch["dropout"] = False
    try:
        convert_reference(src, dst, meta, arch=arch)
    except OSError as e:
        raise output_error(e, dst) from None
    ckpt = load_checkpoint(dst)  # read back: what we wrote must load
    c = ckpt.config
    print(
        f"{printable_path(dst)}: {c.name} ngf {c.ngf} norm {c.norm}, {c.input_nc} -> {c.output_nc} channels"
    )
    return 0
