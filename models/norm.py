"""Normalisation layers by name, and weight initialisation, as the reference implementation uses them."""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import nn

NORMS = ("batch", "instance", "none")


def norm_layer(
    name: str, *, affine: bool | None = None, track_stats: bool | None = None
) -> Callable[[int], nn.Module]:
    """Return a constructor `f(channels) -> module` for the norm called `name`.

    `affine` (a learned scale and shift) and `track_stats` (running statistics, used in eval mode) default
    to the reference's choice: both on for batch norm, both off for instance norm."""
    if name == "batch":
        return functools.partial(
            nn.BatchNorm2d,
            affine=True if affine is None else affine,
            track_running_stats=True if track_stats is None else track_stats,
        )
    if name == "instance":
        # The reference's instance norm has neither; checkpoints from forks and older versions have either.
        return functools.partial(
            nn.InstanceNorm2d, affine=bool(affine), track_running_stats=bool(track_stats)
        )
    if name == "none":
        if affine or track_stats:
            raise ValueError("norm 'none' has no affine parameters or running statistics")
        return lambda channels: nn.Identity()
    raise ValueError(f"unknown norm {name!r}; choose one of {', '.join(NORMS)}")


def conv_bias(norm: str) -> bool:
    """Convs before a norm carry a bias only where the norm has no shift of its own (the reference's rule)."""
    # The reference decides by `norm_layer == InstanceNorm2d`, so 'none' gets no bias either.
    return norm == "instance"


INITS = ("normal", "xavier", "kaiming", "orthogonal")


def init_weights(net: nn.Module, init_type: str = "normal", gain: float = 0.02) -> nn.Module:
    """Initialise conv/linear weights by `init_type` with `gain`, biases to 0, batch-norm weights N(1, gain)."""
    if init_type not in INITS:
        raise ValueError(f"unknown init {init_type!r}; choose one of {', '.join(INITS)}")

    def init(m: nn.Module) -> None:
        name = type(m).__name__
        if hasattr(m, "weight") and m.weight is not None and ("Conv" in name or "Linear" in name):
            if init_type == "normal":
                nn.init.normal_(m.weight, 0.0, gain)
            elif init_type == "xavier":
                nn.init.xavier_normal_(m.weight, gain=gain)
            elif init_type == "kaiming":
                nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            else:
                nn.init.orthogonal_(m.weight, gain=gain)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif "BatchNorm2d" in name and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)

    with torch.no_grad():
        net.apply(init)
    return net
