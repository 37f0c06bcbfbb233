"""Training a pix2pix generator in memory, optionally distilled from a teacher in the way of GAN Compression
(Li et al. 2020) and OMGD (Ren et al. 2021): the student learns from

- the teacher's output (L1, weight `lambda_teacher`),
- the teacher's intermediate activations at a few U-Net levels, through learned 1x1 conv adapters that map
  the student's channels to the teacher's (MSE, weight `lambda_feat` per level),
- the usual pix2pix losses: a conditional PatchGAN (weight 1) and L1 to the ground truth (`lambda_l1`).

With no teacher it is plain pix2pix (GAN + lambda_l1 * L1), which is how the CPU recipes train teachers.

The data is held in memory as uint8 and cropped and flipped per batch here: the shipped recipes train on
random crops of a few hundred small images, where a DataLoader's per-item PIL work would cost more than the
step itself on a busy 2-core machine. Training is budgeted by wall time (`minutes`) or by `max_iters`;
the learning rate is constant for the first half and decays linearly to zero over the second half,
the method's schedule measured in time instead of epochs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import save_checkpoint
from .discriminator import DiscriminatorConfig, PatchDiscriminator
from .generator import GeneratorConfig, UnetBlock, build_generator
from .norm import init_weights


@dataclass
class DistillConfig:
    """How one generator is trained; `teacher` None trains it from the data alone."""

    student: GeneratorConfig = field(default_factory=GeneratorConfig)
    crop: int = 128  # random training crop (at the data's own scale)
    batch: int = 4
    lr: float = 2e-4
    beta1: float = 0.5
    lambda_l1: float = 100.0  # L1 to the ground truth
    lambda_teacher: float = 100.0  # L1 to the teacher's output
    lambda_feat: float = 1.0  # MSE of adapted student features to the teacher's, per level
    feat_levels: tuple[int, ...] = (1, 2, 3)  # U-Net levels below the outermost (1 = ngf channels)
    ndf: int = 32  # PatchGAN width: 64 in the method; narrower here because D dominates a CPU step
    n_layers: int = 3  # 70x70 PatchGAN
    minutes: float = 10.0  # wall-time budget
    max_iters: int = 0  # > 0: stop after this many iterations instead (tests)
    seed: int = 0
    threads: int = 0  # > 0: torch.set_num_threads
    save_every_s: float = 120.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["student"] = self.student.to_dict()
        d["feat_levels"] = list(self.feat_levels)
        return d


# ---------------------------------------------------------------- data in memory


def to_uint8_chw(t: torch.Tensor) -> torch.Tensor:
    """float (C, H, W) in [-1, 1] -> uint8 (C, H, W)."""
    return ((t.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


@dataclass
class PairBank:
    """Training pairs as uint8 tensors (C, H, W); sizes may differ between pairs."""

    a: list[torch.Tensor]
    b: list[torch.Tensor]

    def __len__(self) -> int:
        return len(self.a)

    def batch(self, rng: np.random.Generator, n: int, crop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """`n` random pairs, each randomly cropped to `crop` and flipped, as float in [-1, 1]."""
        xs, ys = [], []
        for i in rng.integers(0, len(self.a), n):
            a, b = self.a[i], self.b[i]
            h, w = a.shape[-2:]
            c = min(crop, h, w)
            top, left = int(rng.integers(0, h - c + 1)), int(rng.integers(0, w - c + 1))
            a, b = a[:, top : top + c, left : left + c], b[:, top : top + c, left : left + c]
            if rng.random() < 0.5:
                a, b = a.flip(-1), b.flip(-1)
            xs.append(a)
            ys.append(b)
        x = torch.stack(xs).float() / 127.5 - 1.0
        y = torch.stack(ys).float() / 127.5 - 1.0
        return x, y


def bank_from_dataset(dataset) -> PairBank:
    """A PairBank from a models.data.PairedDataset (read without augmentation: index keys)."""
    a, b = [], []
    for i in range(len(dataset)):
        item = dataset[i]
        a.append(to_uint8_chw(item["A"]))
        b.append(to_uint8_chw(item["B"]))
    return PairBank(a, b)


# ---------------------------------------------------------------- features


def unet_blocks(net: nn.Module) -> list[UnetBlock]:
    """The U-Net's levels, outermost first."""
    return [m for m in net.modules() if isinstance(m, UnetBlock)]


class FeatureTap:
    """Records the decoder output (before the skip concat) of chosen U-Net levels on every forward."""

    def __init__(self, net: nn.Module, levels: tuple[int, ...]):
        blocks = unet_blocks(net)
        self.levels = tuple(lv for lv in levels if 0 < lv < len(blocks))
        self.feats: dict[int, torch.Tensor] = {}
        self._handles = [blocks[lv].model.register_forward_hook(self._hook(lv)) for lv in self.levels]

    def _hook(self, level: int) -> Callable:
        def hook(_m, _inp, out):
            self.feats[level] = out

        return hook

    def channels(self, net: nn.Module) -> dict[int, int]:
        blocks = unet_blocks(net)
        out = {}
        for lv in self.levels:
            up = [m for m in blocks[lv].model if isinstance(m, nn.ConvTranspose2d)][-1]
            out[lv] = up.out_channels
        return out

    def remove(self) -> None:
        for h in self._handles:
            h.remove()


class Adapters(nn.Module):
    """1x1 convs from the student's channels to the teacher's, one per tapped level."""

    def __init__(self, student_ch: dict[int, int], teacher_ch: dict[int, int]):
        super().__init__()
        self.convs = nn.ModuleDict(
            {str(lv): nn.Conv2d(student_ch[lv], teacher_ch[lv], 1) for lv in student_ch if lv in teacher_ch}
        )
        init_weights(self, "normal", 0.02)

    def loss(self, s_feats: dict[int, torch.Tensor], t_feats: dict[int, torch.Tensor]) -> torch.Tensor:
        total = torch.zeros(())
        for key, conv in self.convs.items():
            lv = int(key)
            total = total + F.mse_loss(conv(s_feats[lv]), t_feats[lv].detach())
        return total


# ---------------------------------------------------------------- training


def _gan_loss(logits: torch.Tensor, real: bool) -> torch.Tensor:
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


@dataclass
class TrainResult:
    net: nn.Module
    iters: int
    images_seen: int
    seconds: float
    losses: dict[str, float]


def train(
    bank: PairBank,
    cfg: DistillConfig,
    *,
    teacher: nn.Module | None = None,
    init: nn.Module | None = None,
    log: Callable[[dict], None] | None = None,
    save: Callable[[nn.Module, dict], None] | None = None,
) -> TrainResult:
    """Train `cfg.student` (or continue `init`) on `bank`, distilled from `teacher` when one is given.
    `log` gets a dict every few iterations; `save(net, info)` is called every `save_every_s` and at the end."""
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    net = init if init is not None else build_generator(cfg.student)
    net.train()
    in_nc, out_nc = net.cfg.input_nc, net.cfg.output_nc
    disc = init_weights(
        PatchDiscriminator(DiscriminatorConfig(input_nc=in_nc + out_nc, ndf=cfg.ndf, n_layers=cfg.n_layers)),
        "normal",
        0.02,
    )
    params = list(net.parameters())
    s_tap = t_tap = adapters = None
    if teacher is not None:
        teacher.eval()  # fixed targets: running statistics, no dropout
        for p in teacher.parameters():
            p.requires_grad_(False)
        if cfg.lambda_feat > 0:
            s_tap, t_tap = FeatureTap(net, cfg.feat_levels), FeatureTap(teacher, cfg.feat_levels)
            adapters = Adapters(s_tap.channels(net), t_tap.channels(teacher))
            params += list(adapters.parameters())
    opt_g = torch.optim.Adam(params, lr=cfg.lr, betas=(cfg.beta1, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
    budget = cfg.minutes * 60.0
    t0 = last_save = time.monotonic()
    it = 0
    sums: dict[str, float] = {}
    try:
        while True:
            elapsed = time.monotonic() - t0
            frac = it / cfg.max_iters if cfg.max_iters > 0 else elapsed / max(budget, 1e-9)
            if frac >= 1.0:
                break
            lr = cfg.lr * min(1.0, 2.0 * (1.0 - frac))
            for o in (opt_g, opt_d):
                for g in o.param_groups:
                    g["lr"] = lr
            x, y = bank.batch(rng, cfg.batch, cfg.crop)
            fake = net(x)
            # D: real pairs up, generated pairs down; halved as in the method.
            d_real = _gan_loss(disc(torch.cat([x, y], 1)), True)
            d_fake = _gan_loss(disc(torch.cat([x, fake.detach()], 1)), False)
            opt_d.zero_grad(set_to_none=True)
            ((d_real + d_fake) * 0.5).backward()
            opt_d.step()
            # G
            g_gan = _gan_loss(disc(torch.cat([x, fake], 1)), True)
            g_l1 = F.l1_loss(fake, y)
            loss = g_gan + cfg.lambda_l1 * g_l1
            parts = {
                "G_GAN": g_gan.item(),
                "G_L1": g_l1.item(),
                "D_real": d_real.item(),
                "D_fake": d_fake.item(),
            }
            if teacher is not None:
                with torch.no_grad():
                    t_out = teacher(x)
                g_t = F.l1_loss(fake, t_out)
                loss = loss + cfg.lambda_teacher * g_t
                parts["G_teacher"] = g_t.item()
                if adapters is not None:
                    g_f = adapters.loss(s_tap.feats, t_tap.feats)
                    loss = loss + cfg.lambda_feat * g_f
                    parts["G_feat"] = g_f.item()
            opt_g.zero_grad(set_to_none=True)
            loss.backward()
            opt_g.step()
            it += 1
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v
            if log is not None and (it % 10 == 0 or it == 1):
                log(
                    {
                        "event": "step",
                        "iter": it,
                        "lr": lr,
                        "elapsed_s": round(time.monotonic() - t0, 1),
                        "images": it * cfg.batch,
                        "losses": {k: round(v, 4) for k, v in parts.items()},
                    }
                )
            if save is not None and time.monotonic() - last_save > cfg.save_every_s:
                last_save = time.monotonic()
                save(net, {"iters": it, "images_seen": it * cfg.batch, "seconds": last_save - t0})
    finally:
        for tap in (s_tap, t_tap):
            if tap is not None:
                tap.remove()
        if teacher is not None:
            for p in teacher.parameters():
                p.requires_grad_(True)
    seconds = time.monotonic() - t0
    net.eval()
    mean = {k: v / max(it, 1) for k, v in sums.items()}
    if save is not None:
        save(net, {"iters": it, "images_seen": it * cfg.batch, "seconds": seconds})
    return TrainResult(net=net, iters=it, images_seen=it * cfg.batch, seconds=seconds, losses=mean)


def jsonl_logger(path: str | Path) -> Callable[[dict], None]:
    """A `log` callback that appends JSON lines to `path` and flushes each."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def log(event: dict) -> None:
        with open(path, "a") as f:
            f.write(json.dumps(event) + "\n")

    return log


def checkpoint_saver(
    path: str | Path, meta: dict, *, half: bool = False
) -> Callable[[nn.Module, dict], None]:
    """A `save` callback writing our safetensors with `meta` plus the progress info in 'training'."""

    def save(net: nn.Module, info: dict) -> None:
        m = {**meta, "training": {**meta.get("training", {}), **info}}
        was = net.training
        net.eval()
        save_checkpoint(path, net, m, half=half)
        net.train(was)

    return save
