"""Checkpoint files from strangers, checked on what they declare before anything is read or allocated.

A safetensors header is JSON: parsed with its nesting bounded, and every tensor's dtype and shape checked
before a byte of weights is read. A `.pth` is a pickle: it is first replayed by a restricted unpickler
whose only globals are stand-ins that record each tensor's storage, dtype, shape and strides (nothing is
built, nothing runs), and those declared sizes are checked against the zip directory (PyTorch >= 1.6)
or the storage records that follow the pickles (older files). Only then does PyTorch's weights-only
loader read the file. So a small file cannot claim gigabytes (a zip bomb, a storage record that lies, a
view expanded with stride 0), nest deep enough to exhaust the stack, or pass off keys that are not names
or tensors that are not dense weights in memory (sparse, quantized, meta-device).

The limits are far past any generator we or the reference make; each refusal is a one-line CheckpointError.
"""

from __future__ import annotations

import collections
import io
import json
import math
import pickle
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError
from .generator import MAX_PARAMS

MAX_CHECKPOINT_BYTES = 5 << 28  # 1.25 GiB: MAX_PARAMS values as fp32, and room to spare
MAX_TENSORS = 4096  # a ResNet of 64 blocks with batch norm has 677
MAX_KEY_CHARS = 1024  # the longest key of a 12-level U-Net has 110
MAX_PICKLE_BYTES = 1 << 20  # the pickle of an ngf-64 unet_256's .pth is 12 KB
MAX_HEADER_BYTES = 8 << 20  # a safetensors header: about 100 bytes a tensor, and our metadata
MAX_JSON_DEPTH = 32  # ours nest 4 deep

# Weights come as floats; num_batches_tracked as an integer.
DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int64, torch.int32)
_SAFETENSORS_DTYPES = {"F32", "F16", "BF16", "F64", "I64", "I32"}
_STORAGES = {
    "FloatStorage": torch.float32,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "DoubleStorage": torch.float64,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
}
_LEGACY_MAGIC, _LEGACY_PROTOCOL = 0x1950A86A20F9469CFC6C, 1001  # torch.serialization's, for pre-1.6 files


def _mib(n: int) -> str:
    return f"{n / (1 << 20):,.1f} MiB"


# ---------------------------------------------------------------- JSON (safetensors headers)


def json_depth(value: Any, limit: int = MAX_JSON_DEPTH) -> int:
    """How deeply `value` nests lists and dicts, counted without recursion, up to `limit` + 1."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        v, depth = todo.pop()
        if isinstance(v, dict):
            v = list(v.values())
        if not isinstance(v, list):
            continue
        deepest = max(deepest, depth)
        if depth > limit:
            break
        todo.extend((item, depth + 1) for item in v)
    return deepest


def parse_json(text: bytes | str, name: str, what: str) -> Any:
    """`text` parsed, or a CheckpointError: not JSON, or nested over MAX_JSON_DEPTH levels."""
    try:
        value = json.loads(text)
    except RecursionError:
        value = None
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError both are
        raise CheckpointError(f"{name}: unreadable {what} ({str(e)[:120]})") from None
    else:
        if json_depth(value) <= MAX_JSON_DEPTH:
            return value
    raise CheckpointError(f"{name}: the {what} nests deeper than {MAX_JSON_DEPTH} levels; refused")


def read_safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of a safetensors file, with its declared tensors (count, names, dtypes, shapes,
    values in all) checked; reads the header only."""
    name = path.name
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            if n <= 0 or n > MAX_HEADER_BYTES or n + 8 > size:
                raise CheckpointError(f"{name}: not a safetensors file (bad header length)")
            text = f.read(n)
    except OSError as e:
        raise CheckpointError(f"{name}: unreadable safetensors header ({e.strerror or e})") from None
    header = parse_json(text, name, "safetensors header")
    if not isinstance(header, dict):
        raise CheckpointError(f"{name}: not a safetensors file (the header is not a JSON object)")
    meta = header.get("__metadata__") or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise CheckpointError(
            f"{name}: corrupt safetensors file (__metadata__ is not a JSON object of texts)"
        )
    tensors = [(k, v) for k, v in header.items() if k != "__metadata__"]
    if len(tensors) > MAX_TENSORS:
        raise CheckpointError(f"{name}: {len(tensors):,} tensors; a generator has at most {MAX_TENSORS}")
    total = 0
    for key, entry in tensors:
        _check_key(key, name)
        dtype = entry.get("dtype") if isinstance(entry, dict) else None
        shape = entry.get("shape") if isinstance(entry, dict) else None
        if not (isinstance(dtype, str) and dtype in _SAFETENSORS_DTYPES):
            raise CheckpointError(f"{name}: unexpected {dtype!r:.20} weights ({key:.80})")
        if not (
            isinstance(shape, list) and len(shape) <= 4 and all(type(d) is int and d >= 0 for d in shape)
        ):
            raise CheckpointError(f"{name}: corrupt safetensors header ({key:.80} has shape {shape!r:.40})")
        total += math.prod(shape)
    _check_total(total, name)
    return header


def _check_key(key: Any, name: str) -> None:
    if not isinstance(key, str):
        raise CheckpointError(
            f"{name}: not a generator state dict (a key is {key!r:.40}, of type {type(key).__name__}, not a name)"
        )
    if len(key) > MAX_KEY_CHARS:
        raise CheckpointError(
            f"{name}: a tensor name of {len(key):,} characters (the limit is {MAX_KEY_CHARS})"
        )


def _check_total(values: int, name: str) -> None:
    if values > MAX_PARAMS:
        raise CheckpointError(
            f"{name}: the tensors declare {values:,} values, over the limit of {MAX_PARAMS:,} for a generator"
        )


# ---------------------------------------------------------------- .pth: what the pickle declares


@dataclass(frozen=True)
class StorageSpec:
    key: str
    dtype: torch.dtype | None  # None: a storage type no generator uses (its name in `kind`)
    numel: int
    location: str
    kind: str = ""


@dataclass(frozen=True)
class TensorSpec:
    storage: Any  # a StorageSpec, if the pickle is honest
    offset: Any
    size: Any
    stride: Any


@dataclass(frozen=True)
class _Refused:
    kind: str  # a tensor no generator has: "sparse", "quantized", ...


@dataclass(frozen=True)
class _StorageType:
    name: str


@dataclass(frozen=True)
class _Name:  # a dtype, layout, qscheme or device a pickle names: only ever an argument to a stand-in
    name: str


_TENSOR_CLASS, _PARAMETER_CLASS = object(), object()  # markers: never callable


def _rebuild_tensor(storage, offset, size, stride, *_):  # _rebuild_tensor(_v2)'s arguments, recorded
    return TensorSpec(storage, offset, size, stride)


def _rebuild_parameter(data, *_):
    return data


def _rebuild_from_type(func, new_type, args, _state):  # a tensor with attributes, or of a subclass
    if new_type not in (_TENSOR_CLASS, _PARAMETER_CLASS):
        return _Refused("subclass")
    return func(*args)


def _refused(kind: str):
    return lambda *args: _Refused(kind)


_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch", "Size"): tuple,
    ("torch", "Tensor"): _TENSOR_CLASS,
    ("torch.nn.parameter", "Parameter"): _PARAMETER_CLASS,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type,
    ("torch._utils", "_rebuild_sparse_tensor"): _refused("sparse"),
    ("torch._utils", "_rebuild_sparse_csr_tensor"): _refused("sparse"),
    ("torch._utils", "_rebuild_meta_tensor_no_storage"): _refused("meta-device"),
    ("torch._utils", "_rebuild_qtensor"): _refused("quantized"),
    ("torch._utils", "_rebuild_nested_tensor"): _refused("nested"),
    ("torch._utils", "_rebuild_wrapper_subclass"): _refused("subclass"),
    ("torch._utils", "_rebuild_tensor_v3"): _refused("unusual dtype"),
    ("torch._utils", "_rebuild_device_tensor_from_numpy"): _refused("numpy-backed"),
    ("torch._utils", "_rebuild_device_tensor_from_cpu_tensor"): _refused("device"),
    ("torch.serialization", "_get_layout"): lambda name: _Name(str(name)),
    ("torch", "device"): lambda *args: _Name("device"),
}


class _CodeRefused(Exception):
    """The pickle names a global outside _GLOBALS: it could run code."""


class _Declared(pickle._Unpickler):
    """Replays a pickle with stand-ins for the few globals a state dict uses; records its storages.

    The pure-Python unpickler on purpose: its memo is a dict, where the C one grows an array to the
    largest index a pickle names (one opcode can make it allocate gigabytes)."""

    def __init__(self, file):
        super().__init__(file, encoding="utf-8")
        self.storages: dict[str, StorageSpec] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _GLOBALS:
            return _GLOBALS[(module, name)]
        if module == "torch" and name.endswith("Storage"):
            return _StorageType(name)
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype | torch.qscheme):
            return _Name(name)
        raise _CodeRefused(f"{module}.{name}")

    def persistent_load(self, pid: Any) -> StorageSpec:
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] in ("storage", b"storage")):
            raise pickle.UnpicklingError("a persistent id that is not a storage")
        stype, key, location, numel = pid[1:5]
        if len(pid) == 6 and pid[5] is not None:
            raise pickle.UnpicklingError("a view of a storage (PyTorch < 0.4 format)")
        key, location = (x.decode("utf-8") if isinstance(x, bytes) else x for x in (key, location))
        if not (isinstance(stype, _StorageType) and isinstance(key, str) and isinstance(location, str)):
            raise pickle.UnpicklingError("a malformed storage")
        if type(numel) is not int or numel < 0:
            raise pickle.UnpicklingError("a storage of a negative size")
        spec = StorageSpec(key, _STORAGES.get(stype.name), numel, location, stype.name)
        if self.storages.setdefault(key, spec) != spec:
            raise pickle.UnpicklingError(f"storage {key} declared twice, differently")
        return spec


def _replay(file: io.BytesIO, name: str) -> tuple[Any, dict[str, StorageSpec]]:
    unpickler = _Declared(file)
    try:
        return unpickler.load(), unpickler.storages
    except _CodeRefused:
        raise _code_refused(name) from None
    except Exception as e:  # damage: EOFError, UnpicklingError, ValueError, TypeError from a stand-in...
        raise CheckpointError(f"{name}: unreadable checkpoint ({str(e)[:120] or type(e).__name__})") from None


def _code_refused(name: str) -> CheckpointError:
    return CheckpointError(
        f"{name}: refused: the file holds Python objects beyond plain weights, which could run code"
    )


def _declared_zip(path: Path, name: str) -> tuple[Any, dict[str, StorageSpec], dict[str, int]]:
    """The pickle's declarations and the sizes of the storage records of a zip-format `.pth`, with the zip
    directory checked first: entry count, and the size each entry unpacks to (zip bombs)."""
    try:
        with open(path, "rb") as f:
            end = zipfile._EndRecData(f)  # the end record: how big the directory is, before reading it
        if end is None:
            raise zipfile.BadZipFile("no end of central directory")
        if end[zipfile._ECD_ENTRIES_TOTAL] > MAX_TENSORS + 16 or end[zipfile._ECD_SIZE] > MAX_TENSORS << 9:
            raise CheckpointError(
                f"{name}: a zip archive of {end[zipfile._ECD_ENTRIES_TOTAL]:,} entries"
                f" ({_mib(end[zipfile._ECD_SIZE])} of directory); a generator's has at most {MAX_TENSORS + 16}"
            )
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            total = 0
            for info in infos:
                limit = MAX_PICKLE_BYTES if info.filename.endswith(".pkl") else MAX_CHECKPOINT_BYTES
                if info.file_size > limit:
                    raise CheckpointError(
                        f"{name}: its {info.filename[-60:]} unpacks to {_mib(info.file_size)},"
                        f" over the {_mib(limit)} a generator needs; refused"
                    )
                total += info.file_size
            if total > MAX_CHECKPOINT_BYTES:
                raise CheckpointError(
                    f"{name}: unpacks to {_mib(total)}, over the limit of {_mib(MAX_CHECKPOINT_BYTES)}; refused"
                )
            pickles = [i for i in infos if i.filename == "data.pkl" or i.filename.endswith("/data.pkl")]
            if len(pickles) != 1:
                raise CheckpointError(f"{name}: not a PyTorch checkpoint (no data.pkl in the archive)")
            prefix = pickles[0].filename[: -len("data.pkl")] + "data/"
            data = z.read(pickles[0])
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        OSError,
        ValueError,
        EOFError,
        NotImplementedError,
    ) as e:
        raise CheckpointError(f"{name}: damaged zip archive ({str(e)[:120]})") from None
    records = {i.filename[len(prefix) :]: i.file_size for i in infos if i.filename.startswith(prefix)}
    obj, storages = _replay(io.BytesIO(data), name)
    return obj, storages, records


def _declared_legacy(path: Path, name: str) -> tuple[Any, dict[str, StorageSpec], dict[str, int]]:
    """The same for a pre-1.6 `.pth`: five pickles (magic number, protocol, system, the object, storage
    keys), all within MAX_PICKLE_BYTES, then one record per storage: its element count, its bytes."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        start = f.read(MAX_PICKLE_BYTES)
        if start[:1] != b"\x80":
            raise CheckpointError(f"{name}: not a PyTorch checkpoint (not a zip or pickle file)")
        head = io.BytesIO(start)
        magic, protocol, _system = (_replay(head, name)[0] for _ in range(3))
        if magic != _LEGACY_MAGIC or protocol != _LEGACY_PROTOCOL:
            raise CheckpointError(
                f"{name}: not a PyTorch checkpoint (a pickle, but not one torch.save wrote)"
            )
        obj, storages = _replay(head, name)
        keys = _replay(head, name)[0]
        if not (
            isinstance(keys, list)
            and all(isinstance(k, str) for k in keys)
            and sorted(keys) == sorted(storages)
        ):
            raise CheckpointError(f"{name}: damaged checkpoint (its storage list does not match its tensors)")
        records, offset = {}, head.tell()
        for key in keys:
            f.seek(offset)
            count = int.from_bytes(f.read(8), "little", signed=True)
            spec = storages[key]
            if spec.dtype is None:  # its width unknown, so the records after it can't be found
                raise CheckpointError(f"{name}: unexpected {spec.kind} weights")
            width = spec.dtype.itemsize
            offset += 8 + max(count, 0) * width
            if count != spec.numel or offset > size:
                raise CheckpointError(
                    f"{name}: damaged checkpoint (storage {key[:20]} declares {spec.numel:,} values;"
                    f" its record holds {max(count, 0):,}{' and runs past the end of the file' if offset > size else ''})"
                )
            records[key] = count * width
    return obj, storages, records


def _check_declared(obj: Any, storages: dict[str, StorageSpec], records: dict[str, int], name: str) -> None:
    """Every tensor of the declared state dict: a name, a dense in-memory tensor of a weight dtype, of at
    most 4 dimensions, within its storage and no larger than it; each storage as large as its record."""
    state = _state_dict(obj, name)
    total = 0
    for key, spec in state.items():
        _check_key(key, name)
        if isinstance(spec, _Refused):
            raise CheckpointError(
                f"{name}: {key:.80} is a {spec.kind} tensor; a generator's weights are plain"
            )
        if not isinstance(spec, TensorSpec) or not isinstance(spec.storage, StorageSpec):
            raise CheckpointError(f"{name}: not a generator state dict (expected a dict of tensors)")
        storage, size, stride, offset = spec.storage, spec.size, spec.stride, spec.offset
        if storage.location.startswith("meta"):
            raise CheckpointError(f"{name}: {key:.80} holds no data (a meta-device tensor)")
        if storage.dtype is None:
            raise CheckpointError(f"{name}: unexpected {storage.kind} weights ({key:.80})")
        ints = (tuple, list)
        if not (
            isinstance(size, ints)
            and isinstance(stride, ints)
            and len(size) == len(stride) <= 4
            and all(type(d) is int and d >= 0 for d in (*size, *stride))
            and type(offset) is int
            and offset >= 0
        ):
            raise CheckpointError(f"{name}: {key:.80} has a malformed shape, stride or offset")
        numel = math.prod(size)
        reach = offset + sum((d - 1) * s for d, s in zip(size, stride, strict=True)) + 1 if numel else 0
        if reach > storage.numel:
            raise CheckpointError(f"{name}: {key:.80} reaches past the end of its storage")
        if numel > storage.numel - offset:
            raise CheckpointError(
                f"{name}: {key:.80} claims {numel:,} values but stores {storage.numel - offset:,}"
                " (an expanded or overlapping view); refused"
            )
        total += numel
    for spec in storages.values():  # those of a refused kind or dtype were refused with their tensor above
        if spec.dtype is not None and records.get(spec.key) != spec.numel * spec.dtype.itemsize:
            raise CheckpointError(
                f"{name}: damaged checkpoint (storage {spec.key[:20]} does not match its record)"
            )
    _check_total(total, name)


def _state_dict(obj: Any, name: str) -> dict:
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj:
        raise CheckpointError(f"{name}: not a generator state dict (expected a dict of tensors)")
    if len(obj) > MAX_TENSORS:
        raise CheckpointError(f"{name}: {len(obj):,} tensors; a generator has at most {MAX_TENSORS}")
    return obj


def load_pth(path: Path) -> dict[str, torch.Tensor]:
    """A `.pth`'s state dict (keys without DataParallel's `module.`), read by PyTorch's weights-only
    unpickler (tensors and plain containers, never code) once what it declares has passed the checks."""
    name = path.name
    try:
        is_zip = zipfile.is_zipfile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:  # e.g. a damaged zip64 end record
        raise CheckpointError(f"{name}: damaged zip archive ({e})") from None
    declared = _declared_zip(path, name) if is_zip else _declared_legacy(path, name)
    _check_declared(*declared, name)
    try:
        with warnings.catch_warnings():  # one line to the user, never a library's warning
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError for code, RuntimeError/EOFError for damage
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        if "weights_only" in str(e) or "Unsupported global" in str(e) or "GLOBAL" in str(e):
            raise _code_refused(name) from None
        raise CheckpointError(f"{name}: unreadable checkpoint ({first[:200]})") from None
    state = _state_dict(obj, name)
    # What PyTorch built must be what was declared; checked again, cheaply, in case the two readers differ.
    for key, t in state.items():
        _check_key(key, name)
        if type(t) not in (torch.Tensor, torch.nn.Parameter) or t.layout != torch.strided or t.is_quantized:
            raise CheckpointError(f"{name}: not a generator state dict (expected a dict of dense tensors)")
        if t.is_meta or t.dtype not in DTYPES:
            raise CheckpointError(f"{name}: {key:.80} is not plain weights ({t.dtype}, {t.device})")
        if t.numel() > t.untyped_storage().nbytes() // t.element_size() - t.storage_offset():
            raise CheckpointError(f"{name}: {key:.80} claims more values than it stores; refused")
    return {k.removeprefix("module."): v for k, v in state.items()}
