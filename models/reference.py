"""The architecture of a reference generator (junyanz/pytorch-CycleGAN-and-pix2pix), read off its state dict.

The reference saves weights only. Its nets are `nn.Sequential`s whose every layer, parameterless or not,
takes an index, so the indices and shapes of the keys tell the architecture (P: a U-Net level's prefix,
`model.model.` outermost, then `1.model.`, then `3.model.` per level deeper):

    U-Net outermost  P0 down conv (ngf, in, 4, 4)   P1 next level   P2 ReLU   P3 up conv (2 ngf, out, 4, 4)   P4 Tanh
    U-Net middle     P0 LReLU  P1 down conv  P2 norm  P3 next level  P4 ReLU  P5 up conv  P6 norm  [P7 Dropout]
    U-Net innermost  P0 LReLU  P1 down conv  P2 ReLU  P3 up conv  P4 norm
    ResNet           0 pad  1 conv 7x7 (ngf, in)  2 norm  3 ReLU, 4-6 and 7-9 stride-2 conv-norm-ReLU,
                     10 .. 9+n blocks, two (up conv, norm, ReLU), pad, conv 7x7 (out, ngf), Tanh
    ResNet block     [pad] conv norm ReLU [Dropout] [pad] conv norm    (zero padding: no pad modules)

A norm is a module even when it has no weights (Identity for 'none'), so only the convolutions (4-D
weights) are needed to place everything: the gap between a block's two convs counts its pad and dropout
modules. The conv before a norm has a bias only for instance norm (the reference's rule), which tells
instance norm with weights or statistics from batch norm, whose keys are the same.

Two things leave no trace: reflect and replicate padding are both parameterless modules at the same
index (reflect is assumed: the reference's only padding reachable from its options), and a U-Net's
Dropout sits last in its level (on is assumed: pix2pix's default). The caller can say otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch

from .errors import CheckpointError
from .generator import ARCH_LIMITS, GeneratorConfig

# What the weights cannot tell (see above), which a caller may set: field -> allowed values.
OVERRIDABLE = {"padding_type": ("reflect", "replicate", "zero"), "dropout": (True, False)}

_BLOCK = re.compile(r"model\.(\d{1,6})\.conv_block\.")
_FIRST_BLOCK_WEIGHT = re.compile(r"model\.10\.conv_block\.(\d{1,6})\.weight")


def infer_config(
    state: Mapping[str, torch.Tensor], name: str = "checkpoint", *, overrides: Mapping[str, Any] | None = None
) -> GeneratorConfig:
    """The GeneratorConfig of a reference generator's state dict (keys without a `module.` prefix), within
    ARCH_LIMITS; `overrides` sets what the weights cannot tell (OVERRIDABLE)."""
    if "model.model.0.weight" in state:
        fields = _read_unet(state, name)
    elif "model.1.weight" in state:
        fields = _read_resnet(state, name)
    else:
        examples = ", ".join(repr(k[:60]) for k in sorted(state)[:2])
        raise CheckpointError(
            f"{name}: not a pix2pix/CycleGAN generator (unrecognised keys, e.g. {examples})"
        )
    fields.update(check_overrides(overrides))
    for key, top in ARCH_LIMITS.items():
        if key in fields and fields[key] > top:
            raise CheckpointError(f"{name}: {key} {fields[key]} is over the limit of {top}")
    try:
        return GeneratorConfig(**fields)
    except ValueError as e:
        raise CheckpointError(f"{name}: not a generator the reference builds ({e})") from None


def check_overrides(overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """`overrides` as a dict, or ValueError naming the field or value that can't be overridden."""
    out = dict(overrides or {})
    for key, value in out.items():
        if key not in OVERRIDABLE:
            raise ValueError(f"{key!r} is read from the weights; only {', '.join(OVERRIDABLE)} can be set")
        if value not in OVERRIDABLE[key] or type(value) is not type(OVERRIDABLE[key][0]):
            raise ValueError(f"{key} must be one of {OVERRIDABLE[key]}, not {value!r}")
    return out


def _conv(state: Mapping[str, torch.Tensor], key: str, name: str, kernel: int) -> torch.Tensor:
    w = state.get(key)
    if w is None:
        raise CheckpointError(f"{name}: not a pix2pix/CycleGAN generator (no {key})")
    if w.dim() != 4 or tuple(w.shape[2:]) != (kernel, kernel) or min(w.shape) < 1:
        raise CheckpointError(f"{name}: {key} is {list(w.shape)}, not a {kernel}x{kernel} convolution")
    return w


def _read_norm(state: Mapping[str, torch.Tensor], conv: str, norm: str) -> dict[str, Any]:
    """The norm of the layer at key prefix `norm`, which follows the conv at `conv`."""
    affine, stats = norm + "weight" in state, norm + "running_mean" in state
    if conv + "bias" in state:
        # Running statistics without num_batches_tracked come from PyTorch < 0.4, whose instance norm
        # never used them (the reference drops them on load too).
        stats = stats and norm + "num_batches_tracked" in state
        return {"norm": "instance", "norm_affine": affine or None, "norm_stats": stats or None}
    if affine or stats:
        return {
            "norm": "batch",
            "norm_affine": None if affine else False,
            "norm_stats": None if stats else False,
        }
    return {"norm": "none"}


def _read_unet(state: Mapping[str, torch.Tensor], name: str) -> dict[str, Any]:
    first = _conv(state, "model.model.0.weight", name, 4)  # (ngf, input_nc, 4, 4)
    up = _conv(state, "model.model.3.weight", name, 4)  # ConvTranspose2d: (2 ngf, output_nc, 4, 4)
    depth, prefix = 1, "model.model.1.model."
    while True:  # one level per step: its down conv is at 1, a deeper level's keys under 3.model.
        if prefix + "1.weight" not in state:
            raise CheckpointError(
                f"{name}: U-Net level {depth + 1} has no down-convolution ({prefix}1.weight)"
            )
        depth += 1
        if depth > ARCH_LIMITS["num_downs"]:
            raise CheckpointError(
                f"{name}: a U-Net deeper than {ARCH_LIMITS['num_downs']} levels (the limit); refused"
            )
        if prefix + "3.model.1.weight" not in state:
            break
        prefix += "3.model."
    return {
        "arch": "unet",
        "input_nc": first.shape[1],
        "output_nc": up.shape[1],
        "ngf": first.shape[0],
        "num_downs": depth,
        "dropout": True,
        **_read_norm(state, "model.model.1.model.1.", "model.model.1.model.2."),
    }


def _read_resnet(state: Mapping[str, torch.Tensor], name: str) -> dict[str, Any]:
    first = _conv(state, "model.1.weight", name, 7)  # (ngf, input_nc, 7, 7)
    blocks = sorted({int(m.group(1)) for k in state if (m := _BLOCK.match(k))})
    n = len(blocks)
    if n > ARCH_LIMITS["n_blocks"]:
        raise CheckpointError(
            f"{name}: a ResNet of {n} blocks is over the limit of {ARCH_LIMITS['n_blocks']}"
        )
    if blocks != list(range(10, 10 + n)):
        raise CheckpointError(f"{name}: ResNet blocks at unexpected positions (model.{blocks[0]}, ...)")
    padding, dropout = "reflect", False
    if n:
        convs = sorted(
            int(m.group(1))
            for k, v in state.items()
            if (m := _FIRST_BLOCK_WEIGHT.fullmatch(k)) and v.dim() == 4
        )
        # conv, norm, ReLU, [Dropout], [pad], conv: the gap is 3, plus one for each module present.
        padded = convs[:1] == [1]
        if len(convs) != 2 or convs[0] not in (0, 1) or convs[1] - convs[0] - 3 - padded not in (0, 1):
            raise CheckpointError(
                f"{name}: a ResNet block with convolutions at {convs[:4]}, not a reference block"
            )
        padding = "reflect" if padded else "zero"
        dropout = convs[1] - convs[0] - 3 - padded == 1
    last = _conv(state, f"model.{17 + n}.weight", name, 7)  # (output_nc, ngf, 7, 7)
    return {
        "arch": "resnet",
        "input_nc": first.shape[1],
        "output_nc": last.shape[0],
        "ngf": first.shape[0],
        "n_blocks": n,
        "dropout": dropout,
        "padding_type": padding,
        **_read_norm(state, "model.1.", "model.2."),
    }
