"""Distillation pieces for the pix2pix step (GAN Compression, Li et al. 2020; OMGD, Ren et al. 2021): a
frozen teacher, taps on U-Net decoder outputs, and the 1x1 adapters that map a student's channels to the
teacher's. `sketchpad train --teacher CHECKPOINT` uses them; the step itself lives in pix2pix.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoint import Checkpoint, load_checkpoint
from ..errors import DataError
from ..generator import UnetBlock
from ..modes import BN_STATS, set_modes, trained_bn_stats
from ..norm import init_weights

#: U-Net levels whose decoder outputs are matched, counted below the outermost (1 = ngf channels, H/2)
FEAT_LEVELS = (1, 2, 3)


def unet_blocks(net: nn.Module) -> list[UnetBlock]:
    """The U-Net's levels, outermost first (none for a ResNet)."""
    return [m for m in net.modules() if isinstance(m, UnetBlock)]


class FeatureTap:
    """Records the decoder output (before the skip concat) of chosen U-Net levels on every forward.
    Level `lv` is at H / 2**lv in any U-Net, so a student and a teacher of different depths still match."""

    def __init__(self, net: nn.Module, levels: tuple[int, ...] = FEAT_LEVELS):
        blocks = unet_blocks(net)
        self.levels = tuple(lv for lv in levels if 0 < lv < len(blocks))
        self.feats: dict[int, torch.Tensor] = {}
        self._handles = [blocks[lv].model.register_forward_hook(self._hook(lv)) for lv in self.levels]
        self.channels = {
            lv: [m for m in blocks[lv].model if isinstance(m, nn.ConvTranspose2d)][-1].out_channels
            for lv in self.levels
        }

    def _hook(self, level: int) -> Callable:
        def hook(_module, _inputs, out):
            self.feats[level] = out

        return hook

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self.feats.clear()


class Adapters(nn.Module):
    """1x1 convs from the student's channels to the teacher's, one per level both nets have; the forward
    is the summed MSE of adapted student features to the (detached) teacher features."""

    def __init__(self, student_ch: dict[int, int], teacher_ch: dict[int, int]):
        super().__init__()
        self.convs = nn.ModuleDict(
            {str(lv): nn.Conv2d(student_ch[lv], teacher_ch[lv], 1) for lv in student_ch if lv in teacher_ch}
        )
        init_weights(self, "normal", 0.02)

    def forward(self, s_feats: dict[int, torch.Tensor], t_feats: dict[int, torch.Tensor]) -> torch.Tensor:
        total = torch.zeros((), device=next(self.parameters()).device)
        for key, conv in self.convs.items():
            lv = int(key)
            total = total + F.mse_loss(conv(s_feats[lv]).float(), t_feats[lv].detach().float())
        return total


def freeze(net: nn.Module, bn_stats: str | None = None) -> nn.Module:
    """Fixed targets: no dropout, no gradients, batch norm from its running statistics or from each image's
    own (`bn_stats="image"`); None keeps what an earlier freeze of this net chose (else running). The
    stored statistics are never updated."""
    if bn_stats is None:
        bn_stats = getattr(net, "_frozen_bn_stats", "running")
    set_modes(net, bn_stats=bn_stats, dropout=False)
    net._frozen_bn_stats = bn_stats
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def teacher_bn_stats(meta: dict[str, Any]) -> str:
    """How a teacher's batch norm should run: what its header's "inference" says, else the image's own
    statistics for a batch-norm generator trained one image at a time (what every training step saw: its
    running statistics average only the last few images and can be far off), else running."""
    inference = meta.get("inference")
    if isinstance(inference, dict) and inference.get("bn_stats") in BN_STATS:
        return inference["bn_stats"]
    options = meta.get("training")
    if isinstance(options, dict):
        return trained_bn_stats(options.get("norm", "batch"), options.get("batch_size"))
    return "running"


def load_teacher(path: str) -> Checkpoint:
    """The teacher checkpoint, frozen in its own batch-norm mode (a CheckpointError, one line, when it cannot
    be loaded)."""
    ckpt = load_checkpoint(path)
    freeze(ckpt.net, teacher_bn_stats(ckpt.meta))
    return ckpt


def check_teacher(path: str, ckpt: Checkpoint, input_nc: int, output_nc: int, crop: int | None) -> None:
    """A DataError (one line) when the teacher cannot teach this student: other channels, or a training
    crop its U-Net cannot take."""
    cfg = ckpt.config
    if (cfg.input_nc, cfg.output_nc) != (input_nc, output_nc):
        raise DataError(
            f"--teacher {Path(path).name}: maps {cfg.input_nc} to {cfg.output_nc} channels, the student "
            f"{input_nc} to {output_nc}; distil from a teacher trained on the same kind of data"
        )
    if crop is not None and crop % cfg.multiple:
        raise DataError(
            f"--teacher {Path(path).name}: {cfg.name} needs a --crop-size multiple of {cfg.multiple}, "
            f"not {crop}"
        )


def teacher_header(path: str, ckpt: Checkpoint) -> dict[str, Any]:
    """What a student's header says of its teacher."""
    header = {
        "file": Path(path).name,
        "name": ckpt.name,
        "role": ckpt.meta.get("role", "full"),
        "arch": ckpt.config.name,
        "ngf": ckpt.config.ngf,
    }
    training = ckpt.meta.get("training")
    commands = training.get("commands") if isinstance(training, dict) else None
    if isinstance(commands, list) and all(isinstance(c, str) for c in commands):
        header["commands"] = commands  # how the teacher was made, so the student can be remade whole
    return header
