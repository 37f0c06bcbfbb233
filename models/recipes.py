"""The recipes that made the shipped weights: one entry per task, and a command line that trains a stage.

    python -m models.recipes facades full --data ../shared/data/facades --minutes 30 --out runs/facades-full
    python -m models.recipes facades live --teacher runs/facades-full/model.safetensors --minutes 25 ...

`full` trains the full-quality model from the data (pix2pix losses; it is also the teacher when the CPU
budget allows no bigger one), `teacher` a wider one, `live` distils the live student from `--teacher`.
Each stage writes OUT/model.safetensors (fp32), OUT/model-fp16.safetensors (what ships) and
OUT/log.jsonl. See weights/README.md for the runs actually made and their numbers.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import platform
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from .checkpoint import load_checkpoint
from .data import DataOptions, PairedDataset
from .distill import DistillConfig, bank_from_dataset, checkpoint_saver, jsonl_logger, train
from .palette import FACADES

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

# Per stage: generator width and the training it gets. unet_128 (7 levels) trains on 128 crops of the
# 256-px images (a unet_256 cannot take a 128 crop) and runs at any multiple of 128, so at 256 too.
STAGES = {
    "teacher": dict(ngf=32, role="teacher"),
    "full": dict(ngf=24, role="full"),
    "live": dict(ngf=16, role="live"),
}


def data_options(task: Task) -> DataOptions:
    # 'none' keeps the images at their own size (multiple=4 rounds 250 to 248 for the faces).
    return DataOptions(
        direction=task.direction,
        preprocess="none",
        flip=False,
        input_nc=task.input_nc,
        output_nc=3,
        multiple=4,
        holdout=task.holdout,
    )


def meta_for(task: Task, role: str, cfg: DistillConfig, extra: dict) -> dict:
    meta = {
        "name": task.name if role != "live" else f"{task.name}-live",
        "model": "pix2pix",
        "input_kind": task.input_kind,
        "direction": task.direction,
        "size": 256,
        "role": role,
        "description": task.description,
        "licence": task.licence,
        "created": _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
        "training": {
            **cfg.to_dict(),
            "data": task.data,
            "split": "train" + (f" minus {task.holdout} held out as val" if task.holdout else ""),
            "device": f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)",
            **extra,
        },
        "metrics": {},
    }
    if task.input_kind == "labels":
        meta["palette"] = [[n, list(rgb)] for n, rgb in FACADES]
    return meta


def export(
    src: str | Path,
    dst: str | Path,
    *,
    metrics: dict,
    training: dict | None = None,
    meta: dict | None = None,
) -> Path:
    """Write the fp16 shipped file `dst` from the fp32 run checkpoint `src`, with the val `metrics` (and
    any `training` / top-level `meta` updates) in its header."""
    from .checkpoint import save_checkpoint

    ck = load_checkpoint(src)
    m = {**ck.meta, **(meta or {})}
    m["training"] = {**ck.meta.get("training", {}), **(training or {})}
    m["metrics"] = metrics
    return save_checkpoint(dst, ck.net, m, half=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m models.recipes")
    p.add_argument("task", choices=sorted(TASKS))
    p.add_argument("stage", choices=sorted(STAGES))
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--teacher", help="teacher checkpoint (live stage: distil from it)")
    p.add_argument("--init", help="start from this checkpoint (continue training)")
    p.add_argument("--ngf", type=int)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--max-iters", type=int, default=0)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--ndf", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    task, stage = TASKS[a.task], STAGES[a.stage]
    torch.set_num_threads(a.threads)
    from .generator import config_for

    student = config_for("unet_128", ngf=a.ngf or stage["ngf"], input_nc=task.input_nc, output_nc=3)
    cfg = DistillConfig(
        student=student,
        crop=a.crop,
        batch=a.batch,
        ndf=a.ndf,
        minutes=a.minutes,
        max_iters=a.max_iters,
        seed=a.seed,
        threads=a.threads,
    )
    teacher = load_checkpoint(a.teacher).net if a.teacher else None
    init = None
    if a.init:
        init = load_checkpoint(a.init).net
        cfg = replace(cfg, student=init.cfg)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    bank = bank_from_dataset(PairedDataset(Path(a.data), "train", data_options(task)))
    extra = {
        "command": "python -m models.recipes " + " ".join(argv or __import__("sys").argv[1:]),
        "train_pairs": len(bank),
    }
    if a.teacher:
        extra["teacher"] = Path(a.teacher).name
    if a.init:
        extra["init"] = Path(a.init).name
    meta = meta_for(task, stage["role"], cfg, extra)
    if a.teacher:
        meta["teacher"] = Path(a.teacher).name
    log = jsonl_logger(out / "log.jsonl")
    log({"event": "start", "task": a.task, "stage": a.stage, "pairs": len(bank), "config": cfg.to_dict()})
    res = train(
        bank, cfg, teacher=teacher, init=init, log=log, save=checkpoint_saver(out / "model.safetensors", meta)
    )
    checkpoint_saver(out / "model-fp16.safetensors", meta, half=True)(
        res.net, {"iters": res.iters, "images_seen": res.images_seen, "seconds": res.seconds}
    )
    log(
        {
            "event": "done",
            "iters": res.iters,
            "images_seen": res.images_seen,
            "seconds": round(res.seconds, 1),
            "epochs": round(res.images_seen / len(bank), 2),
            "losses": res.losses,
        }
    )
    print(
        json.dumps({"iters": res.iters, "seconds": round(res.seconds), "epochs": res.images_seen / len(bank)})
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
