"""The FCN-score segmenter: a small fully convolutional net that labels a facade photo with the 12 CMP
classes. pix2pix's paper scores generated photos by how well an off-the-shelf segmenter recovers the input
labels from them; ours is trained here on the facades train photos (never on val), and shipped as
weights/facades-seg.safetensors.

The net is our U-Net (unet_128 layout, 12 output channels) with its final Tanh replaced by identity, so it
emits class logits. The file is safetensors with a JSON header whose format is `sketchpad.segmenter/1` and
role `segmenter`: it is not a generator, and model lists should skip it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import atomic_write, read_header
from .errors import CheckpointError
from .generator import GeneratorConfig, build_generator
from .palette import FACADES, Palette, label_indices

FORMAT = "sketchpad.segmenter/1"


def build_segmenter(n_classes: int = 12, ngf: int = 16, num_downs: int = 7) -> nn.Module:
    """A U-Net emitting `n_classes` logits per pixel (no Tanh), input RGB in [-1, 1]."""
    cfg = GeneratorConfig(
        arch="unet", input_nc=3, output_nc=n_classes, ngf=ngf, num_downs=num_downs, dropout=False
    )
    net = build_generator(cfg)
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
    from safetensors.torch import save_file

    header = {**meta, "format": FORMAT, "role": "segmenter", "arch": net.cfg.to_dict()}
    tensors = {}
    for k, v in net.state_dict().items():
        v = v.detach().cpu()
        tensors[k] = (v.half() if half and v.is_floating_point() else v).contiguous()
    return atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={"sketchpad": json.dumps(header)}))


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
    cfg = GeneratorConfig.from_dict(header["arch"])
    net = build_segmenter(cfg.output_nc, cfg.ngf, cfg.num_downs)
    try:
        state = load_file(str(path))
        net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    except (SafetensorError, OSError, RuntimeError) as e:
        raise CheckpointError(f"{path.name}: corrupt segmenter ({str(e).splitlines()[0][:150]})") from None
    net.eval()
    palette = [(n, tuple(rgb)) for n, rgb in header.get("palette", [[n, list(c)] for n, c in FACADES])]
    return Segmenter(net=net, palette=palette)


# ---------------------------------------------------------------- training


def training_arrays(dataset, palette: Palette = FACADES) -> tuple[torch.Tensor, torch.Tensor]:
    """Photos uint8 (N, 3, H, W) and class indices int64 (N, H, W) from a PairedDataset whose A side is the
    label map and B side the photo (facades read BtoA)."""
    photos, labels = [], []
    for i in range(len(dataset)):
        item = dataset[i]
        lab = ((item["A"].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
        photos.append(((item["B"].clamp(-1, 1) + 1) * 127.5).round().byte())
        labels.append(torch.from_numpy(label_indices(lab, palette)))
    return torch.stack(photos), torch.stack(labels)


def train_segmenter(
    photos: torch.Tensor,
    labels: torch.Tensor,
    *,
    ngf: int = 16,
    crop: int = 128,
    batch: int = 8,
    lr: float = 1e-3,
    minutes: float = 10.0,
    max_iters: int = 0,
    seed: int = 0,
    log: Callable[[dict], None] | None = None,
) -> tuple[nn.Module, dict]:
    """Cross-entropy training on random crops with flips; lr constant then linear decay over the budget."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    n_classes = int(labels.max()) + 1 if labels.numel() else 12
    n_classes = max(n_classes, 12)
    net = build_segmenter(n_classes, ngf)
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=lr, betas=(0.9, 0.999))
    t0 = time.monotonic()
    it = 0
    h, w = photos.shape[-2:]
    c = min(crop, h, w)
    while True:
        frac = it / max_iters if max_iters > 0 else (time.monotonic() - t0) / (minutes * 60)
        if frac >= 1:
            break
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, 2.0 * (1.0 - frac))
        idx = rng.integers(0, len(photos), batch)
        xs, ys = [], []
        for i in idx:
            top, left = int(rng.integers(0, h - c + 1)), int(rng.integers(0, w - c + 1))
            x, y = photos[i, :, top : top + c, left : left + c], labels[i, top : top + c, left : left + c]
            if rng.random() < 0.5:
                x, y = x.flip(-1), y.flip(-1)
            xs.append(x)
            ys.append(y)
        x = torch.stack(xs).float() / 127.5 - 1
        y = torch.stack(ys)
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        it += 1
        if log is not None and (it % 20 == 0 or it == 1):
            log({"iter": it, "loss": round(loss.item(), 4), "elapsed_s": round(time.monotonic() - t0, 1)})
    net.eval()
    return net, {
        "iters": it,
        "images_seen": it * batch,
        "seconds": round(time.monotonic() - t0, 1),
        "crop": c,
        "batch": batch,
        "lr": lr,
        "ngf": ngf,
    }


def main(argv: list[str] | None = None) -> int:
    """python -m models.segmenter --data ../shared/data/facades --out weights/facades-seg.safetensors"""
    import argparse
    import datetime as _dt

    from .data import DataOptions, PairedDataset

    p = argparse.ArgumentParser(prog="python -m models.segmenter")
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--ngf", type=int, default=16)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--log")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    opts = DataOptions(direction="BtoA", preprocess="none", flip=False)
    photos, labels = training_arrays(PairedDataset(Path(a.data), "train", opts))
    log = None
    if a.log:
        Path(a.log).parent.mkdir(parents=True, exist_ok=True)

        def log(event: dict) -> None:  # JSON lines, appended and flushed one by one
            with open(a.log, "a") as f:
                f.write(json.dumps(event) + "\n")

    net, info = train_segmenter(photos, labels, ngf=a.ngf, minutes=a.minutes, log=log)
    meta = {
        "name": "facades-seg",
        "description": "FCN-score segmenter: facade photo to the 12 CMP label classes (for evaluation only).",
        "palette": [[n, list(rgb)] for n, rgb in FACADES],
        "training": {
            **info,
            "data": "facades train (300 photos)",
            "device": "cpu",
            "command": "python -m models.segmenter " + " ".join(argv or __import__("sys").argv[1:]),
        },
        "created": _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
    }
    save_segmenter(a.out, net, meta)
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
