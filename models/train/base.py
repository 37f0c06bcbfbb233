"""What the three GAN models share: their nets and optimisers by name, mixed precision, DDP wrapping,
freezing a net, evaluation mode for samples, and resume state."""

from __future__ import annotations

from contextlib import contextmanager, nullcontext

import torch
from torch import nn

from .common import Dist, TrainOptions


def set_requires_grad(net: nn.Module, flag: bool) -> None:
    """Freeze or unfreeze `net` (the D step trains D; the G step freezes it, as in the paper)."""
    for p in net.parameters():
        p.requires_grad_(flag)


@contextmanager
def eval_mode(*nets: nn.Module):
    """Running batch-norm statistics and no dropout inside, without touching any stored statistics;
    every module's previous mode restored after."""
    saved = [(m, m.training) for net in nets for m in net.modules()]
    for net in nets:
        net.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for m, training in saved:
            m.train(training)


class GANModel:
    """Base: subclasses fill `self.nets` (name -> module), `self.optimizers`, and implement `step(batch)`."""

    #: the loss names `step` returns, in protocol order
    loss_names: tuple[str, ...] = ()
    #: nets (and their optimisers) a resume state may lack
    optional_nets: tuple[str, ...] = ()

    def __init__(self, opts: TrainOptions, device: torch.device, dist: Dist = Dist()):
        self.opts, self.device, self.dist = opts, device, dist
        self.nets: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        cuda = device.type == "cuda"
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(opts.amp) if cuda else None
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype is torch.float16 else None
        self.channels_last = cuda

    # ---- building
    def place(self, net: nn.Module) -> nn.Module:
        net = net.to(self.device)
        if self.channels_last:
            net = net.to(memory_format=torch.channels_last)
        return net

    def wrap(self, net: nn.Module) -> nn.Module:
        """DDP-wrapped under torchrun, else the net itself."""
        if not self.dist.enabled:
            return net
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [self.device.index or 0] if self.device.type == "cuda" else None
        return DDP(net, device_ids=ids)

    def adam(self, net: nn.Module) -> torch.optim.Adam:
        return torch.optim.Adam(net.parameters(), lr=self.opts.lr, betas=(self.opts.beta1, 0.999))

    # ---- stepping
    def autocast(self):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(device_type="cuda", dtype=self.amp_dtype)

    def to_device(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.ndim == 4 else x

    def backward(self, loss: torch.Tensor, *optimizers: torch.optim.Optimizer) -> None:
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            for optimizer in optimizers:
                self.scaler.step(optimizer)
        else:
            loss.backward()
            for optimizer in optimizers:
                optimizer.step()

    def end_step(self) -> None:
        if self.scaler is not None:
            self.scaler.update()

    def set_lr(self, lr: float) -> None:
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                group["lr"] = lr

    def step(self, batch: dict) -> dict[str, float]:
        raise NotImplementedError

    def generator_meta(self, name: str, meta: dict) -> dict:
        """The header for generator file `name` (CycleGAN's G_B says it runs the other way)."""
        return meta

    # ---- resume
    def state_dict(self) -> dict:
        state = {
            "nets": {k: v.state_dict() for k, v in self.nets.items()},
            "optimizers": {k: v.state_dict() for k, v in self.optimizers.items()},
        }
        if self.scaler is not None:
            state["scaler"] = self.scaler.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        for k, net in self.nets.items():
            if k in self.optional_nets and k not in state["nets"]:
                continue  # e.g. distillation adapters a state predates: they start afresh
            net.load_state_dict(state["nets"][k])
        for k, opt in self.optimizers.items():
            if k in self.optional_nets and k not in state["optimizers"]:
                continue
            opt.load_state_dict(state["optimizers"][k])
        if self.scaler is not None and "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])
