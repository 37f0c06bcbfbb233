"""The FCN-score segmenter: a small fully convolutional net that labels a facade photo with the 12 CMP
classes. pix2pix's paper scores generated photos by how well an off-the-shelf segmenter recovers the input
labels from them; ours is trained by `sketchpad train --model segmenter` on the facades train photos (never
on val; models/train/segmenter.py), and shipped as weights/facades-seg.safetensors.

Two nets: our U-Net (unet_128 layout by default, 12 output channels) with its final Tanh replaced by
identity, so it emits class logits (trained from scratch); or `--netG mobilenetv2`, an ImageNet-pretrained
MobileNetV2 encoder (models/backbone.py) under a small U-Net decoder (`MobileNetV2Segmenter`). A judge
that learnt only from the 300 photos the generators learnt from scores generated facades above real val
photos; one that starts from ImageNet features ranks the real photos first.

The file is safetensors with a JSON header whose format is `sketchpad.segmenter/1` and role `segmenter`: it
is not a generator, and model lists should skip it. Its "arch" is a GeneratorConfig (the U-Net) or a
SegmenterConfig (arch "mobilenetv2"); files of the U-Net judge load as before.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import backbone
from .checkpoint import read_header, write_safetensors
from .errors import CheckpointError
from .generator import GeneratorConfig, build_generator
from .palette import FACADES, Palette

FORMAT = "sketchpad.segmenter/1"
MAX_WIDTH = 512  # decoder width (ngf) and classes a header may ask for: far past any real judge


@dataclass(frozen=True)
class SegmenterConfig:
    """The pretrained-encoder segmenter: MobileNetV2 features, a U-Net decoder whose widths scale with
    `ngf` (3, 2, 1.5, 1 and 0.75 x ngf from the deepest level up), `output_nc` class logits."""

    arch: str = "mobilenetv2"
    input_nc: int = 3
    output_nc: int = 12
    ngf: int = 32

    def __post_init__(self) -> None:
        if self.arch != "mobilenetv2" or self.input_nc != 3:
            raise ValueError("a pretrained-encoder segmenter is arch 'mobilenetv2' on RGB photos")
        for name in ("output_nc", "ngf"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_WIDTH:
                raise ValueError(f"{name} must be an integer in 1..{MAX_WIDTH}")

    name = "mobilenetv2_unet"
    multiple = backbone.MULTIPLE

    @property
    def decoder(self) -> tuple[int, ...]:
        n = self.ngf
        return (3 * n, 2 * n, max(1, 3 * n // 2), n, max(1, 3 * n // 4))

    def to_dict(self) -> dict:
        return {"arch": self.arch, "input_nc": self.input_nc, "output_nc": self.output_nc, "ngf": self.ngf}

    @classmethod
    def from_dict(cls, d: dict) -> SegmenterConfig:
        return cls(**{k: d[k] for k in ("arch", "input_nc", "output_nc", "ngf") if k in d})


class MobileNetV2Segmenter(nn.Module):
    """Photo in [-1, 1] -> class logits at full size: ImageNet normalisation, the MobileNetV2 encoder, then
    at each finer level a bilinear x2, the encoder's skip concatenated and two 3x3 conv-BN-ReLU6; a last x2
    to full size, a 3x3 and a 1x1 to the logits."""

    def __init__(self, cfg: SegmenterConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = backbone.MobileNetV2Encoder()
        self.register_buffer("mean", torch.tensor(backbone.IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(backbone.IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        widths, skips = cfg.decoder, backbone.TAP_CHANNELS
        self.lateral = nn.Sequential(*backbone.conv_bn(skips[-1], widths[0], 1))
        self.up = nn.ModuleList()
        for skip, cin, cout in zip(skips[-2::-1], widths[:-1], widths[1:], strict=True):
            self.up.append(
                nn.Sequential(*backbone.conv_bn(cin + skip, cout, 3), *backbone.conv_bn(cout, cout, 3))
            )
        self.head = nn.Sequential(
            *backbone.conv_bn(widths[-1], widths[-1], 3), nn.Conv2d(widths[-1], cfg.output_nc, 1)
        )

    def load_imagenet(self, state: dict[str, torch.Tensor]) -> None:
        """The encoder's weights from `backbone.imagenet_state`."""
        self.encoder.load_state_dict(state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        taps = self.encoder(((x + 1) / 2 - self.mean) / self.std)
        y = self.lateral(taps[-1])
        for block, skip in zip(self.up, taps[-2::-1], strict=True):
            y = F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            y = block(torch.cat([y, skip], 1))
        return self.head(F.interpolate(y, size=size, mode="bilinear", align_corners=False))


def build_segmenter(n_classes: int = 12, ngf: int = 16, num_downs: int = 7) -> nn.Module:
    """A U-Net emitting `n_classes` logits per pixel (no Tanh), input RGB in [-1, 1]."""
    cfg = GeneratorConfig(
        arch="unet", input_nc=3, output_nc=n_classes, ngf=ngf, num_downs=num_downs, dropout=False
    )
    return segmenter_from_config(cfg)


def segmenter_from_config(
    cfg: GeneratorConfig | SegmenterConfig, *, init_type: str = "normal", init_gain: float = 0.02
) -> nn.Module:
    """The net `cfg` describes: a MobileNetV2Segmenter, or the U-Net with its final Tanh replaced by
    identity, so that it emits logits."""
    if isinstance(cfg, SegmenterConfig):
        return MobileNetV2Segmenter(cfg)
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
        arch = header["arch"]
        is_mnv2 = isinstance(arch, dict) and arch.get("arch") == "mobilenetv2"
        net = segmenter_from_config((SegmenterConfig if is_mnv2 else GeneratorConfig).from_dict(arch))
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
