"""The inference API: load a checkpoint once, translate images of any size.

from models.inference import Translator
t = Translator("weights/facades.safetensors", device="auto")
photo = t(label_map)                  # uint8 (H, W, 3) in, uint8 (H, W, 3) out
t.translate(label_map, dropout=True, seed=7)
"""

from __future__ import annotations

import os
import time
from contextlib import nullcontext

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import Checkpoint, load_checkpoint

BN_STATS = ("running", "image")
FITS = ("pad", "resize")


def pick_device(name: str = "auto") -> tuple[torch.device, str]:
    """The torch device for `name` ('auto', 'cpu', 'cuda', 'cuda:1', 'mps'), and a note if we fell back to CPU."""
    name = (name or "auto").lower()
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu"), ""
    if name.startswith("cuda"):
        if cuda:
            try:
                dev = torch.device(name)
            except RuntimeError:
                return torch.device("cpu"), f"unknown device {name!r}; using the CPU"
            if dev.index is not None and dev.index >= torch.cuda.device_count():
                return torch.device("cuda:0"), f"{name} does not exist; using cuda:0"
            return dev, ""
        return torch.device(
            "cpu"
        ), "CUDA is not available (no NVIDIA GPU or a CPU-only PyTorch); using the CPU"
    if name == "mps":
        if mps:
            return torch.device("mps"), ""
        return torch.device("cpu"), "MPS is not available (Apple GPUs only); using the CPU"
    if name == "cpu":
        return torch.device("cpu"), ""
    raise ValueError(f"unknown device {name!r}; choose auto, cpu, cuda or mps")


def set_modes(net: nn.Module, *, bn_stats: str = "running", dropout: bool = False) -> None:
    """Put each layer in the mode asked for: batch norm from running or this image's statistics,
    dropout on or off, without ever updating the stored running statistics."""
    if bn_stats not in BN_STATS:
        raise ValueError(f"bn_stats must be one of {BN_STATS}")
    net.eval()
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            image = bn_stats == "image"
            m.train(image)
            # In train mode with tracking off, batch norm normalises by the batch and leaves its buffers alone.
            m.track_running_stats = not image
        elif isinstance(m, nn.Dropout):
            m.train(dropout)


def to_tensor(img: np.ndarray, channels: int) -> torch.Tensor:
    """uint8 (H, W[, C]) -> float (1, channels, H, W) in [-1, 1]."""
    a = np.asarray(img)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.shape[2] == 4:
        a = a[:, :, :3]
    if channels == 1 and a.shape[2] == 3:
        a = np.round(a[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))[:, :, None]
    elif channels == 3 and a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).permute(2, 0, 1)[None]
    return t / 127.5 - 1.0


def to_uint8(t: torch.Tensor) -> np.ndarray:
    """float (1, C, H, W) in [-1, 1] -> uint8 (H, W, 3) or (H, W), rounded."""
    a = ((t[0].float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    return a[:, :, 0] if a.shape[2] == 1 else a


def fit_to(
    x: torch.Tensor, multiple: int, fit: str, size: int | None
) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad (reflect) or resize (H, W) up to a size the net accepts; returns the tensor and the original size."""
    h, w = x.shape[-2:]
    if fit == "resize":
        th = tw = size or multiple
        th, tw = (
            max(multiple, round(th / multiple) * multiple),
            max(multiple, round(tw / multiple) * multiple),
        )
        if (th, tw) != (h, w):
            x = F.interpolate(x, size=(th, tw), mode="bilinear", align_corners=False, antialias=True)
        return x, (h, w)
    th, tw = -(-h // multiple) * multiple, -(-w // multiple) * multiple
    if (th, tw) != (h, w):
        ph, pw = th - h, tw - w
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), mode=mode)
    return x, (h, w)


def unfit(y: torch.Tensor, orig: tuple[int, int], fit: str) -> torch.Tensor:
    h, w = orig
    if fit == "resize":
        if y.shape[-2:] != (h, w):
            y = F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
        return y
    th, tw = y.shape[-2:]
    top, left = (th - h) // 2, (tw - w) // 2
    return y[..., top : top + h, left : left + w]


class Translator:
    """A loaded generator plus how to run it: device, batch-norm statistics, dropout, seed, size fitting."""

    def __init__(
        self,
        checkpoint: str | os.PathLike | Checkpoint,
        *,
        device: str = "auto",
        bn_stats: str = "running",
        dropout: bool = False,
        seed: int | None = None,
        fit: str = "pad",
        backend: str = "torch",
    ):
        if fit not in FITS:
            raise ValueError(f"fit must be one of {FITS}")
        # "torch": the net itself. "auto"/"onnx": models.fast runners (ONNX Runtime on the CPU, channels-last
        # reduced precision with CUDA graphs on CUDA) where the mode allows; PyTorch for dropout on.
        from .fast import BACKENDS

        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}")
        self.backend = backend
        self._runners: dict[str, object] = {}  # bn_stats -> runner, or None where PyTorch runs it
        self.runner_name, self.runner_note = "torch", ""  # what ran last, and why not faster
        self.device, self.device_note = pick_device(device)
        ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(checkpoint)
        self.checkpoint = ckpt
        self.net = ckpt.net.to(self.device)
        self.bn_stats, self.dropout, self.seed, self.fit = bn_stats, dropout, seed, fit
        set_modes(self.net, bn_stats=bn_stats, dropout=dropout)
        self.last_ms = 0.0

    @property
    def config(self):
        return self.checkpoint.config

    @property
    def meta(self) -> dict:
        return self.checkpoint.meta

    def __call__(self, image, **kw) -> np.ndarray:
        return self.translate(image, **kw)

    @torch.no_grad()
    def translate(
        self,
        image,
        *,
        dropout: bool | None = None,
        seed: int | None = None,
        bn_stats: str | None = None,
    ) -> np.ndarray:
        """uint8 (H, W[, C]) or a PIL image -> uint8 output of the same H, W."""
        dropout = self.dropout if dropout is None else dropout
        bn_stats = self.bn_stats if bn_stats is None else bn_stats
        seed = self.seed if seed is None else seed
        set_modes(self.net, bn_stats=bn_stats, dropout=dropout)
        t0 = time.perf_counter()
        x = to_tensor(np.asarray(image), self.config.input_nc).to(self.device)
        x, orig = fit_to(x, self.config.multiple, self.fit, self.meta.get("size"))
        rng = nullcontext()
        if dropout and seed is not None:
            devices = [self.device] if self.device.type == "cuda" else []
            rng = torch.random.fork_rng(devices=devices, device_type=self.device.type if devices else "cuda")
        with rng:
            if dropout and seed is not None:
                torch.manual_seed(seed)
            y = self._forward(x, bn_stats, dropout)
        out = to_uint8(unfit(y, orig, self.fit))
        self.last_ms = (time.perf_counter() - t0) * 1000
        return out

    def _forward(self, x: torch.Tensor, bn_stats: str, dropout: bool) -> torch.Tensor:
        if self.backend == "torch":
            return self.net(x)
        from .fast import run_fast

        return run_fast(self, x, bn_stats, dropout)
