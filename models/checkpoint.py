"""Checkpoints: our `.safetensors` with a JSON header that rebuilds its own model, and the reference
implementation's `latest_net_G.pth` state dicts, read without unpickling code and with the architecture
inferred from the keys and shapes.

Every failure is a `CheckpointError` with a one-line message naming the file.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .checkpoint_safety import MAX_CHECKPOINT_BYTES, load_pth, parse_json, read_safetensors_header
from .errors import CheckpointError
from .generator import ARCH_LIMITS, MAX_PARAMS, GeneratorConfig, ResnetGenerator, UnetGenerator
from .modes import BN_STATS, FITS
from .reference import check_overrides
from .reference import infer_config as infer_config  # re-exported: callers read architectures from here

FORMAT = "sketchpad.generator/1"


@dataclass
class Checkpoint:
    """A generator and everything its file says about how to use it."""

    net: nn.Module
    config: GeneratorConfig
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def input_kind(self) -> str:
        """'labels' (a palette of classes), 'lineart' (dark strokes on white) or 'image'."""
        return self.meta.get("input_kind", "image")

    @property
    def palette(self) -> list[tuple[str, tuple[int, int, int]]]:
        return [(name, tuple(rgb)) for name, rgb in self.meta.get("palette", [])]

    @property
    def name(self) -> str:
        return self.meta.get("name") or (self.path.stem if self.path else "generator")


# ---------------------------------------------------------------- writing


def _umask_mode() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


# mkstemp makes 0600 files; a checkpoint or drawing should get the permissions any other saved file gets.
_FILE_MODE = _umask_mode()


def atomic_write(path: str | os.PathLike, write) -> Path:
    """Call `write(tmp_path)` then rename onto `path`, so a reader never sees a half-written file.

    The temporary file is `.NAME.XXXX.tmp` beside `path`; a process killed mid-write leaves only that
    (see `remove_stale_temps`), never a damaged `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # At most 32 characters of the name: a legal 250-byte name must not give an illegal temporary one.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:32]}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Delete the `.NAME.XXXX.tmp` files that `atomic_write` calls killed mid-write left in `folder`.
    Only for a folder this process owns (a run being resumed): another writer's temp would go too."""
    removed = []
    for p in Path(folder).glob(".*.tmp"):
        if p.is_file() and not p.is_symlink():
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def save_checkpoint(
    path: str | os.PathLike, net: nn.Module, meta: dict[str, Any] | None = None, *, half: bool = False
) -> Path:
    """Write `net`'s weights and a header (`meta` plus the architecture) to `path` as safetensors, atomically."""
    cfg: GeneratorConfig = net.cfg
    header = {**(meta or {}), "format": FORMAT, "arch": cfg.to_dict()}
    return write_safetensors(path, net.state_dict(), header, half=half)


def write_safetensors(
    path: str | os.PathLike, tensors: dict[str, torch.Tensor], header: dict[str, Any], *, half: bool = False
) -> Path:
    """The one safetensors writer: `tensors` (moved to the CPU, floats as fp16 when `half`) with `header` as
    the JSON under the "sketchpad" metadata key, written atomically. Generators, segmenters and DCGANs all
    save through here."""
    from safetensors.torch import save_file

    out = {}
    for k, v in tensors.items():
        v = v.detach().cpu()
        if half and v.is_floating_point():
            v = v.half()
        out[k] = v.contiguous()
    return atomic_write(path, lambda tmp: save_file(out, tmp, metadata={"sketchpad": json.dumps(header)}))


# ---------------------------------------------------------------- reading


def read_header(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON header of one of our safetensors files, without reading the weights ({} for a foreign one)."""
    path = Path(path)
    return _sketchpad_header(read_safetensors_header(path), path.name)


def _sketchpad_header(raw: dict[str, Any], name: str) -> dict[str, Any]:
    meta = raw.get("__metadata__") or {}
    if "sketchpad" not in meta:
        return {}
    header = parse_json(meta["sketchpad"], name, "sketchpad header")
    if not isinstance(header, dict):
        raise CheckpointError(f"{name}: the sketchpad header is not a JSON object")
    return header


def _load_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    header = _sketchpad_header(read_safetensors_header(path), path.name)  # the declared tensors checked
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path.name}: corrupt safetensors file ({str(e).splitlines()[0]})") from None
    return state, header


_INPUT_KINDS = ("labels", "lineart", "image")


def arch_from_header(arch: Any, name: str = "checkpoint") -> GeneratorConfig:
    """The GeneratorConfig a header's `arch` describes, with every field's type and range checked."""
    if not isinstance(arch, dict):
        raise CheckpointError(f"{name}: the header's architecture is not a JSON object")
    for key, top in ARCH_LIMITS.items():
        v = arch.get(key)
        if key in arch and not (type(v) is int and 0 <= v <= top):  # type() so that True is not an int
            raise CheckpointError(f"{name}: the header's architecture has an invalid {key} ({v!r:.40})")
    for key in ("arch", "norm", "padding_type", "upsample"):
        if key in arch and not isinstance(arch[key], str):
            raise CheckpointError(f"{name}: the header's architecture has an invalid {key}")
    for key in ("dropout", "norm_affine", "norm_stats"):
        if key in arch and not (isinstance(arch[key], bool) or (arch[key] is None and key != "dropout")):
            raise CheckpointError(f"{name}: the header's architecture has an invalid {key}")
    try:
        return GeneratorConfig.from_dict(arch)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{name}: the header's architecture is invalid ({e})") from None


def check_meta(meta: dict[str, Any], name: str = "checkpoint") -> dict[str, Any]:
    """Refuse header fields the app would trust (kind, palette, size, direction, name, inference modes) when
    they are malformed."""

    def bad(key: str) -> CheckpointError:
        return CheckpointError(f"{name}: the header's {key} is invalid ({meta[key]!r:.60})")

    if meta.get("input_kind") is not None and meta["input_kind"] not in _INPUT_KINDS:
        raise bad("input_kind")
    if meta.get("name") is not None and not isinstance(meta["name"], str):
        raise bad("name")
    if meta.get("direction") is not None and meta["direction"] not in ("AtoB", "BtoA"):
        raise bad("direction")
    size = meta.get("size")
    if size is not None and not (type(size) is int and 1 <= size <= 8192):
        raise bad("size")
    modes = meta.get("inference")
    if modes is not None and not (
        isinstance(modes, dict)
        and modes.get("bn_stats", "running") in BN_STATS
        and modes.get("fit", "pad") in FITS
    ):
        raise bad("inference")
    palette = meta.get("palette")
    if palette is not None:
        ok = isinstance(palette, list) and len(palette) <= 256
        for entry in palette if ok else ():
            ok = (
                isinstance(entry, list | tuple)
                and len(entry) == 2
                and isinstance(entry[0], str)
                and isinstance(entry[1], list | tuple)
                and len(entry[1]) == 3
                and all(type(c) is int and 0 <= c <= 255 for c in entry[1])
            )
            if not ok:
                break
        if not ok:
            raise bad("palette")
    return meta


def _infer(state: dict[str, torch.Tensor], name: str, overrides: dict[str, Any]) -> GeneratorConfig:
    """infer_config, with odd shapes (1-D where 4-D is expected, zero channels) as a CheckpointError."""
    try:
        return infer_config(state, name, overrides=overrides)
    except (IndexError, ValueError, TypeError, KeyError):
        raise CheckpointError(
            f"{name}: not a pix2pix/CycleGAN generator (unexpected tensor shapes)"
        ) from None


def _old_norm_statistics(
    state: dict[str, torch.Tensor], expected: dict[str, tuple]
) -> dict[str, torch.Tensor]:
    """`state` as PyTorch >= 0.4.1 would save it: no instance-norm statistics where the net keeps none (PyTorch
    < 0.4 saved them, never used them), and a zero num_batches_tracked where it lacks one (added in 0.4.1)."""
    state = {
        k: v
        for k, v in state.items()
        if k in expected or not k.endswith(("running_mean", "running_var", "num_batches_tracked"))
    }
    for k in expected:
        if k.endswith("num_batches_tracked") and k not in state:
            state[k] = torch.tensor(0, dtype=torch.long)
    return state


def build_from_state(
    state: dict[str, torch.Tensor], cfg: GeneratorConfig, name: str = "checkpoint", *, reference: bool = False
) -> nn.Module:
    """The net `cfg` describes, holding `state`'s weights; `reference`: a reference implementation's state
    dict, whose norm statistics may follow older PyTorch conventions."""
    # Compare keys and shapes against a weightless (meta-device) net first: a header that claims a huge
    # architecture must fail here, not while allocating gigabytes for it.
    # (The classes, not build_generator: its weight init on meta tensors costs seconds of one-off imports.)
    with torch.device("meta"):
        skeleton = UnetGenerator(cfg) if cfg.arch == "unet" else ResnetGenerator(cfg)
    expected = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    values = sum(math.prod(shape) for shape in expected.values())
    if values > MAX_PARAMS:
        raise CheckpointError(
            f"{name}: a {cfg.name} ngf {cfg.ngf} holds {values:,} values, over the limit of {MAX_PARAMS:,}"
        )
    if reference:
        state = _old_norm_statistics(state, expected)
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    wrong = sorted(k for k in expected.keys() & state.keys() if tuple(state[k].shape) != expected[k])
    if missing or extra or wrong:
        if wrong:
            k = wrong[0]
            detail = f"{k} is {list(state[k].shape)}, expected {list(expected[k])}"
        elif missing:
            detail = f"missing {missing[0]}" + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
        else:
            detail = f"unexpected {extra[0]}" + (f" and {len(extra) - 1} more" if len(extra) > 1 else "")
        raise CheckpointError(f"{name}: weights do not fit a {cfg.name} ngf {cfg.ngf}: {detail}")
    state = {k: v.float().contiguous() if v.is_floating_point() else v for k, v in state.items()}
    for k, v in state.items():
        # One fp32 sum per tensor: NaN and inf both survive a sum, and it is far cheaper than an
        # element-wise isfinite (on fp16 storage especially).
        if v.is_floating_point() and not bool(torch.isfinite(v.sum())):
            raise CheckpointError(f"{name}: the weights hold NaN or infinite values ({k})")
        if not (v.is_floating_point() or v.dtype in (torch.int64, torch.int32)):
            raise CheckpointError(f"{name}: unexpected {v.dtype} weights ({k})")
    # The weights replace the skeleton's meta tensors outright: no random init of a net about to be
    # overwritten (that was most of a warm load).
    net = skeleton
    try:
        net.load_state_dict(state, strict=True, assign=True)
        if any(t.is_meta for t in (*net.parameters(), *net.buffers())):
            raise RuntimeError("load\nsome weights were not filled")
    except RuntimeError as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        detail = lines[1] if len(lines) > 1 else lines[0]
        raise CheckpointError(
            f"{name}: weights do not fit a {cfg.name} ngf {cfg.ngf}: {detail[:200]}"
        ) from None
    return net


def printable(text: str) -> str:
    """`text` with control characters escaped (a file may be named "a\nb.pth"): messages stay one line."""
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def load_checkpoint(
    path: str | os.PathLike, *, device: str | torch.device = "cpu", arch: dict[str, Any] | None = None
) -> Checkpoint:
    """Load a generator from our `.safetensors` or a reference `.pth`; nothing unpickled as code.

    `arch` sets what a file's weights cannot tell (models.reference.OVERRIDABLE: a ResNet's reflect or
    replicate padding, a U-Net's dropout), over what its header says or the reference's default."""
    overrides = check_overrides(arch)
    try:
        return _load_checkpoint(Path(path), device, overrides)
    except CheckpointError as e:
        if str(e).isprintable():
            raise
        raise CheckpointError(printable(str(e))) from None


def _load_checkpoint(path: Path, device: str | torch.device, overrides: dict[str, Any]) -> Checkpoint:
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"{path.name}: empty file")
    if size > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"{path.name}: {size >> 20} MiB is too large for a generator checkpoint")
    with open(path, "rb") as f:
        magic = f.read(9)
    is_zip = magic.startswith(b"PK")
    if path.suffix == ".safetensors" or (not is_zip and magic[8:9] == b"{"):
        state, header = _load_safetensors(path)
        reference = "arch" not in header
        if reference:
            cfg = _infer(state, path.name, overrides)
        else:
            cfg = arch_from_header(header["arch"], path.name)
            cfg = replace(cfg, **overrides)
        meta = check_meta({k: v for k, v in header.items() if k not in ("arch", "format")}, path.name)
    else:
        state = load_pth(path)
        reference = True
        cfg = _infer(state, path.name, overrides)
        meta = {"source": "reference", "name": path.stem}
    net = build_from_state(state, cfg, path.name, reference=reference).to(device)
    net.eval()
    return Checkpoint(net=net, config=cfg, meta=meta, path=path)


def convert_reference(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    meta: dict[str, Any] | None = None,
    *,
    arch: dict[str, Any] | None = None,
) -> Path:
    """Turn a reference `.pth` into our `.safetensors`, keeping fp32; `arch` as for `load_checkpoint`."""
    ckpt = load_checkpoint(src, arch=arch)
    return save_checkpoint(dst, ckpt.net, {**ckpt.meta, **(meta or {})})
