"""The FCN-score segmenter: a small fully convolutional net that labels a facade photo with the 12 CMP
classes. pix2pix's paper scores generated photos by how well an off-the-shelf segmenter recovers the input
labels from them; ours is trained by `sketchpad train --model segmenter` on the facades train photos (never
on val; models/train/segmenter.py), and shipped as weights/facades-seg.safetensors.

The net is our U-Net (unet_128 layout by default, 12 output channels) with its final Tanh replaced by
identity, so it emits class logits. The file is safetensors with a JSON header whose format is `sketchpad.segmenter/1` and
role `segmenter`: it is not a generator, and model lists should skip it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import read_header, write_safetensors
from .errors import CheckpointError
from .generator import GeneratorConfig, build_generator
from .palette import FACADES, Palette

FORMAT = "sketchpad.segmenter/1"


def build_segmenter(n_classes: int = 12, ngf: int = 16, num_downs: int = 7) -> nn.Module:
    """A U-Net emitting `n_classes` logits per pixel (no Tanh), input RGB in [-1, 1]."""
    cfg = GeneratorConfig(
        arch="unet", input_nc=3, output_nc=n_classes, ngf=ngf, num_downs=num_downs, dropout=False
    )
    return segmenter_from_config(cfg)


def segmenter_from_config(
    cfg: GeneratorConfig, *, init_type: str = "normal", init_gain: float = 0.02
) -> nn.Module:
    """The U-Net `cfg` describes with its final Tanh replaced by identity, so that it emits logits."""
    if cfg.arch != "unet":
        raise ValueError("a segmenter is a U-Net")
    net = build_generator(cfg, init_type=init_type, init_gain=init_gain)
    outer = net.model.model
    assert isinstance(outer[-1], nn.Tanh)
    outer[-1] = nn.Identity()
    return net


@dataclass
class Segmenter:
    """A loaded segmenter: `predict(photo)` gives class indices per pixel."""

    net: nn.Module
    palette: Palette

    @torch.no_grad()
    def predict(self, photo: np.ndarray) -> np.ndarray:
        """uint8 (H, W, 3) photo -> int64 (H, W) class indices (padded to the net's multiple and cropped back)."""
        x = torch.from_numpy(np.ascontiguousarray(photo[..., :3], dtype=np.float32)).permute(2, 0, 1)[None]
        x = x / 127.5 - 1.0
        m = self.net.cfg.multiple
        h, w = x.shape[-2:]
        th, tw = -(-h // m) * m, -(-w // m) * m
        if (th, tw) != (h, w):
            x = F.pad(x, (0, tw - w, 0, th - h), mode="replicate")
        self.net.eval()
        logits = self.net(x)[..., :h, :w]
        return logits.argmax(1)[0].numpy().astype(np.int64)


def save_segmenter(path: str | os.PathLike, net: nn.Module, meta: dict, *, half: bool = True) -> Path:
    """Write `net` and `meta` as a segmenter file (format, role and architecture added), atomically."""
    header = {**meta, "format": FORMAT, "role": "segmenter", "arch": net.cfg.to_dict()}
    return write_safetensors(path, net.state_dict(), header, half=half)


def load_segmenter(path: str | os.PathLike) -> Segmenter:
    """Load a segmenter file; a CheckpointError with one line if it is not one."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such segmenter file")
    header = read_header(path)
    if header.get("format") != FORMAT:
        raise CheckpointError(f"{path.name}: not a segmenter file (format {header.get('format')!r})")
    try:
        net = segmenter_from_config(GeneratorConfig.from_dict(header["arch"]))
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path.name}: the segmenter header's 'arch' is unusable ({e})") from None
    try:
        state = load_file(str(path))
        net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    except (SafetensorError, OSError, RuntimeError) as e:
        raise CheckpointError(f"{path.name}: corrupt segmenter ({str(e).splitlines()[0][:150]})") from None
    net.eval()
    palette = [(n, tuple(rgb)) for n, rgb in header.get("palette", [[n, list(c)] for n, c in FACADES])]
    return Segmenter(net=net, palette=palette)
