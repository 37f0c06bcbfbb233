"""The training recipe, without Qt: the defaults for this computer, what kind of drawings a dataset holds,
why training cannot start on it, whether a model to start from fits that dataset, and the run's options
(TrainOptions, which `sketchpad train` gets as render_command writes them) a panel's settings make.

kind = detect_data_kind("my-faces", "paired")        # DataKind("lineart", "AtoB", 1, 3)
why = fit_problem(kind, init_header("weights/facades-live.safetensors"), "facades")
# 'facades translates label maps, but this dataset's drawings are line art'
"""

from __future__ import annotations

import math
import os
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

from models.checkpoint import read_header
from models.data import DataReport, check_dataset, guess_channels, guess_input_kind
from models.errors import SketchpadError
from models.train.common import TrainOptions
from models.train.finetune import finetune_arch
from models.train.runfolder import G_FILE
from sketchpad.cli.train import options_from_argv
from sketchpad.models_list import KIND_NAMES, ModelEntry
from sketchpad.runs import new_run_dir

# The CPU recipe (issue 8 item 5): fine-tune the shipped live model (ngf 16) at its own training size with
# a fresh small discriminator (ndf 16), batch 1, Adam 2e-4, lambda 100, no loader workers, for about 200
# iterations (half at the constant rate, half decaying). Measured: weights/shoes-live.safetensors (256 px)
# on 20 face pairs (17 trained, 3 held out): 204 iterations in 231 CPU-seconds, val L1 0.311 -> 0.075.
CPU_DEFAULTS = dict(epochs=12, batch_size=1, lr=2e-4, lambda_l1=100.0, ndf=16)
CPU_TARGET_ITERS = 200  # epochs are chosen so a CPU run has about this many iterations (~3-5 minutes)
GPU_DEFAULTS = dict(epochs=100, batch_size=4, lr=2e-4, lambda_l1=100.0, ndf=64)
SCRATCH = ""  # "start from" data for a new network
DRAWING_KINDS = ("labels", "lineart", "image")
DRAWING_NAMES = {"labels": "a label map", "lineart": "line art", "image": "an image"}
FORMAT_NAMES = {
    "aligned": "pairs side by side (A | B in one image)",
    "paired": "paired folders (A/ and B/, matching names)",
    "unpaired": "unpaired folders (trainA/, trainB/)",
    "folder": "a plain folder of photos",
}


# ---------------------------------------------------------------- small helpers


def fmt_eta(seconds: float | None) -> str:
    """'1:05:03', '4:09', '0:07' or '' for unknown."""
    if seconds is None or not isinstance(seconds, int | float) or not math.isfinite(seconds) or seconds < 0:
        return ""
    s = int(round(seconds))
    h, m, s = s // 3600, s % 3600 // 60, s % 60
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def init_header(path: str) -> dict:
    """The header of a checkpoint to start from ({} if none or unreadable)."""
    if not path or not str(path).endswith(".safetensors"):
        return {}
    try:
        return read_header(path)
    except (SketchpadError, OSError, ValueError, RecursionError):
        return {}


def model_name(path: str, header: dict | None = None) -> str:
    """What to call a checkpoint in a sentence: its header's name, a run's folder, or the file's stem."""
    if not path:
        return "scratch"
    header = init_header(path) if header is None else header
    p = Path(path)
    if p.name == G_FILE:
        return p.parent.name
    name = header.get("name")
    return name if isinstance(name, str) and name else p.stem


def cuda_available() -> bool:
    """Whether this computer trains on a GPU (the GPU recipe); False where torch cannot say."""
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False


def cpu_epochs(n_train: int, batch: int = 1) -> int:
    """Epochs that make about CPU_TARGET_ITERS iterations on `n_train` pairs."""
    if n_train <= 0:
        return CPU_DEFAULTS["epochs"]
    per_epoch = max(1, -(-n_train // max(batch, 1)))
    return int(min(200, max(2, round(CPU_TARGET_ITERS / per_epoch))))


# ---------------------------------------------------------------- what a dataset holds


@dataclass(frozen=True)
class DataKind:
    """What a dataset's drawings are, and which side holds them."""

    kind: str  # "labels", "lineart", "image"; "photos": a plain folder to make line art from; "": unknown
    direction: str = "AtoB"  # "AtoB": the drawings are side A (the trainer's --direction)
    input_nc: int = 3  # channels of the drawings as stored (1 for single-channel sketches)
    output_nc: int = 3  # channels of the targets

    def text(self) -> str:
        """'line art (A, 1 channel) → images (B, colour)' for the dataset report."""
        if self.kind == "photos":
            return "photos (make line art from them to train)"
        if self.kind not in KIND_NAMES:
            return "not recognised"
        src, dst = ("A", "B") if self.direction == "AtoB" else ("B", "A")
        nc_in = "1 channel" if self.input_nc == 1 else "colour"
        nc_out = "gray" if self.output_nc == 1 else "colour"
        return f"{KIND_NAMES[self.kind]} ({src}, {nc_in}) → images ({dst}, {nc_out})"


def detect_data_kind(root: str | os.PathLike, fmt: str, holdout: int = 0) -> DataKind:
    """Look at a few images of a checked dataset: which side holds drawings (label maps or line art), and
    the channels of both sides. Photo-to-photo sets are "image"; unknown or unreadable sets are ""."""
    if fmt == "folder":
        return DataKind("photos")
    if fmt not in ("aligned", "paired"):
        return DataKind("")  # unpaired sets train CycleGAN, which maps images both ways
    try:
        kind, direction = guess_input_kind(root, "AtoB", holdout), "AtoB"
        if kind not in ("labels", "lineart"):
            other = guess_input_kind(root, "BtoA", holdout)
            if other in ("labels", "lineart"):  # e.g. the facades set: photos in A, label maps in B
                kind, direction = other, "BtoA"
        nc_in, nc_out = guess_channels(root, direction, holdout)
    except (SketchpadError, OSError, ValueError):  # the dataset check reports what is wrong
        return DataKind("")
    return DataKind(kind, direction, nc_in, nc_out)


def check_and_detect(folder: str) -> tuple[DataReport, DataKind]:
    """check_dataset (opens every image) and the kind of its drawings; never raises. Slow on a large set:
    the panel runs it in a worker thread."""
    try:
        report = check_dataset(folder)
    except Exception as e:  # a dataset check must never take the app down
        return DataReport(root=folder, error=f"the check failed: {e}"), DataKind("")
    return report, (detect_data_kind(folder, report.format) if report.usable else DataKind(""))


def train_pairs(report: DataReport | None) -> int:
    """Pairs in the train split (the smaller side), 0 when unknown."""
    train = report.counts.get("train", {}) if report is not None else {}
    return min(train.values()) if train else 0


def effective_holdout(report: DataReport | None, asked: int) -> int:
    """Pairs held out for validation: as asked, but at most a quarter of the pairs, and none where the
    dataset has its own val split (the trainer uses that)."""
    if report is None or "val" in report.counts:
        return 0
    return min(asked, train_pairs(report) // 4)


def dataset_problems(report: DataReport | None, model: str, skip_bad: bool) -> list[str]:
    """Why `model` cannot train on the checked dataset (empty: it can); `skip_bad`: the problem files
    are left out, as the user chose."""
    r = report
    if r is None:
        return ["the dataset has not been checked yet"]
    out = []
    if r.error:
        out.append(r.error)
    elif not r.usable:
        out.append("no usable images")
    if r.format == "folder":
        out.append("a folder of photos has no drawings: make a line-art dataset from it first")
    if model == "pix2pix" and r.format == "unpaired":
        out.append("pix2pix needs pairs; an unpaired dataset (trainA/trainB) trains CycleGAN")
    if model == "cyclegan" and r.format in ("aligned", "paired"):
        out.append("CycleGAN needs trainA/ and trainB/ folders")
    if r.problems and not skip_bad:
        out.append(f"{len(r.problems)} problem files (listed above): fix them or train without them")
    return out


def report_text(report: DataReport, kind: DataKind | None, holdout: int, problems: list[str]) -> str:
    """The dataset check as the panel shows it: format, drawings, held-out pairs, the check's own text,
    and why training cannot start (or that it can)."""
    head = f"Format: {FORMAT_NAMES.get(report.format, 'not recognised')}"
    if kind is not None and kind.kind:
        head += f"\nDrawings: {kind.text()}"
    if holdout:
        head += f"\nHeld out for validation: {holdout} pairs of train"
    text = report.text()
    if problems:
        text += "\n\nCannot start:\n" + "\n".join(f"  • {p}" for p in problems)
    else:
        text += "\n\nReady to train."
    return head + "\n" + text


def kind_switch(path: str, drawing: str) -> str:
    """Why putting the checkpoint at `path` into the live view would switch the drawing's kind, in one
    line ("" when it would not, or either kind is unknown)."""
    header = init_header(path)
    kind = header.get("input_kind")
    if kind not in KIND_NAMES or drawing not in DRAWING_NAMES or kind == drawing:
        return ""
    return f"{model_name(path, header)} translates {KIND_NAMES[kind]}, but your drawing is {DRAWING_NAMES[drawing]}"


def fit_problem(data: DataKind, header: dict, name: str) -> str:
    """Why the model with this header cannot start a fine-tune on this dataset, in one line ("" if it can,
    or if either side is not known well enough to say)."""
    if not header or data.kind not in DRAWING_KINDS:
        return ""
    kind = header.get("input_kind") if header.get("input_kind") in KIND_NAMES else "image"
    arch = finetune_arch(header)
    if kind != data.kind:
        return (
            f"{name} translates {KIND_NAMES[kind]}, but this dataset's drawings are {KIND_NAMES[data.kind]}"
        )
    if arch is not None and arch.input_nc == 1 and data.input_nc == 3 and data.kind != "lineart":
        return f"{name} reads gray drawings, but this dataset's drawings are in colour"
    if arch is not None and arch.output_nc == 1 and data.output_nc == 3:
        return f"{name} paints in gray, but this dataset's targets are in colour"
    return ""


def start_path(entry: ModelEntry | None) -> str:
    """What to fine-tune from when `entry` is in the live view: its fast live tier, else its own file;
    scratch for the built-in untrained network or a damaged file."""
    if entry is None or entry.is_builtin or entry.damaged:
        return SCRATCH
    return str(entry.live_path or entry.path)


def start_choices(entries: list[ModelEntry]) -> list[tuple[str, str]]:
    """(label, path) for "Start from": shipped live tiers (fast on a CPU), shipped full models, the user's
    runs (newest first), then scratch. Damaged files are left out: there is nothing to fine-tune."""
    usable = [e for e in entries if e.path is not None and not e.damaged]
    out = []
    for e in usable:
        if e.source == "shipped" and e.live_path is not None:
            out.append(
                (
                    f"shipped: {e.label} · {KIND_NAMES.get(e.input_kind, e.input_kind)} · live (fast)",
                    str(e.live_path),
                )
            )
    for e in usable:
        if e.source == "shipped":
            out.append(
                (f"shipped: {e.label} · {KIND_NAMES.get(e.input_kind, e.input_kind)} · full", str(e.path))
            )
    out += [(e.label, str(e.path)) for e in usable if e.source == "run"]
    out.append(("scratch (a new network)", SCRATCH))
    return out


def suggest_start(data: DataKind, entries: list[ModelEntry]) -> tuple[str, str] | None:
    """(name, path) of a shipped model that fits this dataset (its live tier where there is one), or None."""
    for e in entries:
        if e.source != "shipped" or e.path is None or e.damaged or e.input_kind != data.kind:
            continue
        path = str(e.live_path or e.path)
        if not fit_problem(data, init_header(path), e.label):
            return e.label, path
    return None


# ---------------------------------------------------------------- the request


@dataclass(frozen=True)
class PanelSettings:
    """What the training panel's fields hold, as plain values."""

    data: str
    model: str = "pix2pix"
    init: str = SCRATCH
    name: str = ""  # run name; "" = the dataset's folder name and the date
    epochs: int = CPU_DEFAULTS["epochs"]
    batch_size: int = 1
    lr: float = 2e-4
    lambda_l1: float = 100.0
    device: str = "auto"
    on_cpu: bool = True
    holdout: int = 0
    sketch_augment: bool = False
    skip_bad: bool = False
    extra: str = ""  # more trainer options as typed
    data_kind: DataKind | None = None


def make_request(s: PanelSettings, runs_root: str | os.PathLike | None = None) -> TrainOptions:
    """The options of the run these settings make, with a fresh run folder under `runs_root` (not
    created). Options typed in the panel come last and win; one that cannot work raises UsageError or
    DataError (an unclosed quote drops them all)."""
    name = s.name.strip() or f"{Path(s.data.strip()).name}-{time.strftime('%m%d-%H%M')}"
    out = new_run_dir(name, runs_root)
    given: dict = dict(data=s.data.strip(), out=str(out), name=out.name, init=s.init)
    if s.epochs:
        # The panel's "epochs" is the whole run: half at the constant rate, half decaying to zero.
        given.update(n_epochs=-(-s.epochs // 2), n_epochs_decay=s.epochs // 2)
    given.update(batch_size=s.batch_size, lr=float(s.lr), device=s.device, holdout=s.holdout)
    if s.model == "cyclegan":  # the panel's weight is the cycle weight of both directions
        given.update(lambda_A=float(s.lambda_l1), lambda_B=float(s.lambda_l1))
    else:
        given.update(lambda_L1=float(s.lambda_l1))
    given.update(sketch_augment=s.sketch_augment, skip_bad=s.skip_bad)
    header = init_header(s.init)
    size = header.get("size") if type(header.get("size")) is int else 0
    arch = finetune_arch(header)
    if arch is not None and arch.arch == "unet":
        # The trainer builds the checkpoint's own U-Net; its depth is recorded with the options.
        given.update(num_downs=arch.num_downs)
    if size:
        # Fine-tune at the size the model was trained at: a live model's own (small) size is what
        # makes a CPU fine-tune fast, and what it has learnt is at that scale.
        given.update(crop_size=size, load_size=round(size * 286 / 256))
    kind = s.data_kind
    if s.model == "pix2pix" and kind is not None and kind.kind in DRAWING_KINDS:
        # The drawings' side and kind as detected; a run never inherits another kind from its start.
        given.update(direction=kind.direction, input_kind=kind.kind)
    if s.on_cpu:
        given.update(ndf=CPU_DEFAULTS["ndf"], num_workers=0)
    try:
        typed = shlex.split(s.extra)
    except ValueError:
        typed = []  # an unclosed quote: none of them
    return options_from_argv(typed, model=s.model, **given)
