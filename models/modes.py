"""The modes a generator runs in: batch norm from running or the image's own statistics, dropout on or
off. Below the runtime layer (inference, fast, export), which all put a net in these modes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

BN_STATS = ("running", "image")
FITS = ("pad", "resize")  # pad to what the net takes, or resize to its training size and back


def trained_bn_stats(norm: str, batch_size: int) -> str:
    """The batch-norm statistics a generator trained so runs best on: batch norm at batch size 1 saw each
    image's own statistics in every step, while its running statistics average only the last few images
    ("image"); anything else keeps its running statistics."""
    return "image" if norm == "batch" and batch_size == 1 else "running"


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


@contextmanager
def in_modes(*nets: nn.Module, bn_stats: str = "running", dropout: bool = False) -> Iterator[None]:
    """`set_modes` for the block, without gradients; every module's mode (and batch norm's tracking flag)
    is put back after, so a training net carries on as it was."""
    saved = [(m, m.training, getattr(m, "track_running_stats", None)) for net in nets for m in net.modules()]
    try:
        for net in nets:
            set_modes(net, bn_stats=bn_stats, dropout=dropout)
        with torch.no_grad():
            yield
    finally:
        for m, training, track in saved:
            m.training = training
            if track is not None:
                m.track_running_stats = track
