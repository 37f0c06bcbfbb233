"""Measurement helpers for `sketchpad bench` and its --app run: timing loops with warm-up, medians and p95,
machine facts, fresh seeded nets, and the trainer's own pix2pix step on a fixed batch.

Timings of several candidates are interleaved (one call of each per round), so that load from other
processes falls on all of them alike and their ratio stays meaningful on a busy machine.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn


@dataclass
class Timing:
    """Milliseconds per call over `runs` timed calls."""

    p50: float
    p95: float
    mean: float
    min: float
    runs: int

    def to_dict(self) -> dict:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


def summarize(ms: list[float]) -> Timing:
    a = np.asarray(ms, dtype=np.float64)
    return Timing(
        p50=float(np.percentile(a, 50)),
        p95=float(np.percentile(a, 95)),
        mean=float(a.mean()),
        min=float(a.min()),
        runs=len(a),
    )


def synchronize(device: torch.device | str) -> None:
    """Wait for queued GPU work, so a timer sees the work done, not just launched."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def time_interleaved(
    fns: dict[str, Callable[[], object]],
    *,
    runs: int = 30,
    warmup: int = 3,
    device: torch.device | str = "cpu",
) -> dict[str, Timing]:
    """Call every function `warmup` times, then `runs` rounds of one call each; per-call milliseconds."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    synchronize(device)
    ms: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            synchronize(device)
            ms[name].append((time.perf_counter() - t0) * 1000)
    return {k: summarize(v) for k, v in ms.items()}


# ---------------------------------------------------------------- the machine


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: torch.device | str) -> str:
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return f"Apple GPU (MPS) on {platform.machine()}"
    return cpu_name()


def machine_info(device: torch.device | str) -> dict:
    """device, cpu, torch version, threads and cores: what a reader needs to compare two runs."""
    from models.fast import physical_cores

    device = torch.device(device)
    info = {
        "device": device_name(device),
        "device_type": device.type,
        "cpu": cpu_name(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "physical_cores": physical_cores(),
        "logical_cpus": os.cpu_count(),
    }
    if device.type == "cuda":
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
    try:
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    try:
        info["load_avg_1m"] = round(os.getloadavg()[0], 2)
    except OSError:
        pass
    return info


def random_unet(ngf: int = 64, *, num_downs: int = 8, seed: int = 0) -> nn.Module:
    """A unet_256 (by default) of width ngf with the reference initialisation, seeded, in eval mode."""
    from models.generator import build_generator, config_for

    torch.manual_seed(seed)
    cfg = config_for("unet_256", ngf=ngf, num_downs=num_downs)
    return build_generator(cfg).eval()


# ---------------------------------------------------------------- training


def our_amp(device: torch.device | str) -> str:
    """The `sketchpad train --amp` for the faster step on `device`: bf16 on CUDA (fp16 where bf16 is
    missing); on the CPU off, where the trainer's step is already the reference one (channels-last was
    slower there and the multi-tensor Adam no faster, benchmarks/README.md)."""
    if torch.device(device).type != "cuda":
        return "off"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


class TrainStep:
    """One pix2pix training iteration exactly as `sketchpad train` runs it, `models.train`'s Pix2Pix.step
    (U-Net G, 70x70 PatchGAN, vanilla GAN loss, lambda_L1 100, Adam 2e-4 / 0.5; channels-last on CUDA),
    on a fixed random batch already on the device. Calling it runs one step; `losses` are the last ones."""

    def __init__(
        self,
        device: torch.device | str = "cpu",
        *,
        amp: str = "off",
        ngf: int = 64,
        num_downs: int = 8,
        size: int = 256,
        batch: int = 1,
        seed: int = 0,
    ):
        from models.train import make_options
        from models.train.pix2pix import Pix2Pix

        opts = make_options(
            "pix2pix", ngf=ngf, num_downs=num_downs, amp=amp, crop_size=size, load_size=size, seed=seed
        )
        torch.manual_seed(seed)
        self.model = Pix2Pix(opts, device=device)
        gen = torch.Generator().manual_seed(seed)
        shape = (batch, 3, size, size)
        self.batch = {k: self.model.to_device(torch.rand(shape, generator=gen) * 2 - 1) for k in ("A", "B")}
        self.losses: dict[str, float] = {}

    def __call__(self) -> None:
        self.losses = self.model.step(self.batch)
