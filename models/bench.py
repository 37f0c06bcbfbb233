"""Measurement helpers for `sketchpad bench`: timing loops with warm-up, medians and p95, machine facts, and
the pix2pix training step done the reference way and ours.

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
import torch.nn.functional as F
from torch import nn

from .discriminator import DiscriminatorConfig, build_discriminator
from .generator import GeneratorConfig, build_generator, config_for


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
    from .fast import physical_cores

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
    torch.manual_seed(seed)
    cfg = config_for("unet_256", ngf=ngf, num_downs=num_downs)
    return build_generator(cfg).eval()


# ---------------------------------------------------------------- training steps


@dataclass
class TrainStepConfig:
    """One pix2pix step: G (U-Net) + 70x70 PatchGAN, vanilla GAN loss, lambda_L1 100, Adam 2e-4 / 0.5."""

    ngf: int = 64
    ndf: int = 64
    num_downs: int = 8
    size: int = 256
    batch: int = 1
    lambda_L1: float = 100.0
    channels_last: bool = False
    amp: str = "off"  # off | bf16 | fp16 (CUDA only)
    fused_adam: bool = False  # CUDA only
    foreach_adam: bool | None = None  # None: torch's default


class Pix2PixStep:
    """Nets, optimisers and a fixed random batch; `step()` runs one full training iteration (D then G)
    without reading anything back to the host, so queued GPU work is never waited for inside the loop."""

    def __init__(self, cfg: TrainStepConfig, device: torch.device | str = "cpu", seed: int = 0):
        self.cfg, self.device = cfg, torch.device(device)
        torch.manual_seed(seed)
        gcfg = GeneratorConfig(arch="unet", ngf=cfg.ngf, num_downs=cfg.num_downs)
        self.G = build_generator(gcfg).to(self.device).train()
        self.D = build_discriminator(DiscriminatorConfig(ndf=cfg.ndf, n_layers=3)).to(self.device).train()
        fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.G.to(memory_format=fmt)
        self.D.to(memory_format=fmt)
        cuda = self.device.type == "cuda"
        kw: dict = dict(lr=2e-4, betas=(0.5, 0.999))
        if cfg.fused_adam and cuda:
            kw["fused"] = True
        elif cfg.foreach_adam is not None:
            kw["foreach"] = cfg.foreach_adam
        self.opt_G = torch.optim.Adam(self.G.parameters(), **kw)
        self.opt_D = torch.optim.Adam(self.D.parameters(), **kw)
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.amp) if cuda else None
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype is torch.float16 else None
        shape = (cfg.batch, 3, cfg.size, cfg.size)
        gen = torch.Generator().manual_seed(seed)
        self.A = (torch.rand(shape, generator=gen) * 2 - 1).to(self.device).contiguous(memory_format=fmt)
        self.B = (torch.rand(shape, generator=gen) * 2 - 1).to(self.device).contiguous(memory_format=fmt)
        self.last_losses: torch.Tensor | None = None

    def _autocast(self):
        if self.amp_dtype is None:
            return torch.autocast("cpu", enabled=False)
        return torch.autocast("cuda", dtype=self.amp_dtype)

    def _backward(self, loss: torch.Tensor, opt: torch.optim.Optimizer) -> None:
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(opt)
        else:
            loss.backward()
            opt.step()

    def step(self) -> None:
        A, B = self.A, self.B
        with self._autocast():
            fake = self.G(A)
        fake_AB, real_AB = torch.cat([A, fake], 1), torch.cat([A, B], 1)
        # D: real pairs -> 1, detached fakes -> 0, loss halved
        self.D.requires_grad_(True)
        self.opt_D.zero_grad(set_to_none=True)
        with self._autocast():
            pred_fake = self.D(fake_AB.detach())
            pred_real = self.D(real_AB)
        loss_D_fake = F.binary_cross_entropy_with_logits(
            pred_fake.float(), torch.zeros_like(pred_fake.float())
        )
        loss_D_real = F.binary_cross_entropy_with_logits(
            pred_real.float(), torch.ones_like(pred_real.float())
        )
        self._backward((loss_D_fake + loss_D_real) * 0.5, self.opt_D)
        # G: fool the frozen D and stay near B
        self.D.requires_grad_(False)
        self.opt_G.zero_grad(set_to_none=True)
        with self._autocast():
            pred = self.D(fake_AB)
        loss_G_GAN = F.binary_cross_entropy_with_logits(pred.float(), torch.ones_like(pred.float()))
        loss_G_L1 = F.l1_loss(fake.float(), B.float()) * self.cfg.lambda_L1
        self._backward(loss_G_GAN + loss_G_L1, self.opt_G)
        if self.scaler is not None:
            self.scaler.update()
        # Kept on the device; reading them is the caller's choice (and a host sync).
        self.last_losses = torch.stack([loss_G_GAN, loss_G_L1, loss_D_real, loss_D_fake]).detach()


def reference_train_config(**kw) -> TrainStepConfig:
    """The reference way: plain fp32, NCHW, eager, Adam's default implementation."""
    return TrainStepConfig(**kw)


def our_train_config(device: torch.device | str, **kw) -> TrainStepConfig:
    """Ours: channels-last, bf16 autocast (fp16 where bf16 is missing) and fused Adam on CUDA. On the CPU
    the reference step itself: channels-last was slower there and the multi-tensor Adam no faster
    (benchmarks/README.md), so nothing is changed rather than something that measures worse."""
    if torch.device(device).type == "cuda":
        amp = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return TrainStepConfig(channels_last=True, amp=amp, fused_adam=True, **kw)
    return TrainStepConfig(**kw)
