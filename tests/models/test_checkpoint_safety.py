"""Hostile and damaged checkpoints are refused with one line, before anything in them runs.

Each test builds the file itself: pickles whose loading would write a marker file (through os.system and
through exec), in every container a `.pth` can come in; truncated files; state dicts of the wrong shapes or
of non-tensors; safetensors files whose header lies. The marker file must never appear.
"""

from __future__ import annotations

import builtins
import json
import os
import pickle
import subprocess
import sys
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from models.checkpoint import load_checkpoint, save_checkpoint
from models.checkpoint_safety import MAX_CHECKPOINT_BYTES, MAX_TENSORS
from models.errors import CheckpointError
from models.generator import ARCH_LIMITS, MAX_PARAMS, GeneratorConfig, build_generator
from models.imageio import save_png
from sketchpad.cli import main as cli_main

CFG = GeneratorConfig(ngf=4, num_downs=5)


class _Shell:
    """Unpickling this runs a shell command."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


class _Exec:
    """Unpickling this runs Python code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (builtins.exec, (f"__import__('pathlib').Path({str(self.marker)!r}).write_text('pwned')",))


def _good_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return build_generator(CFG).state_dict()


def _evil_files(d: Path, marker: Path) -> dict[str, Path]:
    """Every way we know to hide a payload in a checkpoint file."""
    files = {}
    state = dict(_good_state())

    p = files["torch_save_shell"] = d / "torch_save_shell.pth"
    torch.save({**state, "model.extra": _Shell(marker)}, p)
    p = files["torch_save_exec"] = d / "torch_save_exec.pth"
    torch.save({"state_dict": state, "hook": _Exec(marker)}, p)
    p = files["torch_legacy_format"] = d / "torch_legacy.pth"
    torch.save({**state, "x": _Exec(marker)}, p, _use_new_zipfile_serialization=False)
    p = files["raw_pickle_p2"] = d / "raw_p2.pth"
    p.write_bytes(pickle.dumps({"model.model.0.weight": _Shell(marker)}, protocol=2))
    p = files["raw_pickle_p5"] = d / "raw_p5.pt"
    p.write_bytes(pickle.dumps(_Exec(marker), protocol=5))
    p = files["raw_pickle_p0"] = d / "raw_p0.pth"
    p.write_bytes(pickle.dumps(_Exec(marker), protocol=0))
    p = files["pickle_named_safetensors"] = d / "pickle.safetensors"
    p.write_bytes(pickle.dumps(_Exec(marker), protocol=2))

    # A genuine zip-format torch file whose data.pkl is swapped for a malicious one.
    good = d / "good_for_zip.pth"
    torch.save(state, good)
    p = files["zip_malicious_data_pkl"] = d / "zip_evil.pth"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(p, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name.endswith("/data.pkl"):
                data = pickle.dumps({"model.model.0.weight": _Shell(marker)}, protocol=2)
            dst.writestr(name, data)
    good.unlink()
    return files


EVIL_KINDS = [
    "torch_save_shell",
    "torch_save_exec",
    "torch_legacy_format",
    "raw_pickle_p2",
    "raw_pickle_p5",
    "raw_pickle_p0",
    "pickle_named_safetensors",
    "zip_malicious_data_pkl",
]


@pytest.fixture(scope="module")
def evil(tmp_path_factory):
    d = tmp_path_factory.mktemp("evil")
    marker = d / "PAYLOAD_RAN"
    return _evil_files(d, marker), marker


def _one_line_error(path: Path) -> str:
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    msg = str(e.value)
    assert "\n" not in msg and msg.strip(), msg
    assert path.name in msg, msg
    return msg


def test_the_payloads_are_real(evil, tmp_path):
    """Control: a plain unpickler does run these payloads, so the refusals below mean something."""
    _, marker = evil
    control = tmp_path / "control_marker"
    for cls in (_Shell, _Exec):
        pickle.loads(pickle.dumps(cls(control)))
        assert control.exists()
        control.unlink()
    ctrl_file = tmp_path / "ctrl.pth"
    torch.save({"w": torch.zeros(1), "x": _Shell(control)}, ctrl_file)
    torch.load(ctrl_file, weights_only=False)  # what an unsafe loader would do
    assert control.exists()


@pytest.mark.parametrize("kind", EVIL_KINDS)
def test_code_in_a_checkpoint_is_refused_before_it_runs(evil, kind):
    files, marker = evil
    msg = _one_line_error(files[kind])
    assert not marker.exists(), f"the payload in {kind} ran"
    if kind.startswith(("torch_save", "zip_", "raw_pickle_p2", "torch_legacy")):
        assert "could run code" in msg or "not a PyTorch checkpoint" in msg, msg


@pytest.fixture
def drawing(tmp_path) -> Path:
    p = tmp_path / "in.png"
    save_png(p, np.full((32, 32, 3), 200, np.uint8))
    return p


@pytest.mark.parametrize("kind", ["torch_save_shell", "zip_malicious_data_pkl", "raw_pickle_p5"])
def test_cli_translate_refuses_code_in_process(evil, kind, drawing, tmp_path, capsys):
    files, marker = evil
    out = tmp_path / "out.png"
    rc = cli_main(["translate", str(files[kind]), str(drawing), "-o", str(out)])
    err = capsys.readouterr().err
    assert rc != 0
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("sketchpad: error: ") and files[kind].name in err
    assert not out.exists() and not marker.exists()


@pytest.mark.slow
def test_cli_translate_refuses_code_as_a_real_process(evil, drawing, tmp_path):
    files, marker = evil
    out = tmp_path / "out.png"
    r = subprocess.run(
        [sys.executable, "-m", "sketchpad", "translate", str(files["torch_save_shell"]), str(drawing)]
        + ["-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode != 0
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "could run code" in r.stderr
    assert not out.exists() and not marker.exists()


# ------------------------------------------------------------------ damaged files


@pytest.fixture(scope="module")
def good_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("good")
    state = _good_state()
    pth = d / "good.pth"
    torch.save(state, pth)
    st = d / "good.safetensors"
    save_checkpoint(st, build_generator(CFG), {"name": "good", "input_kind": "labels", "size": 32})
    return pth, st


def test_the_intact_files_load(good_files):
    for p in good_files:
        ckpt = load_checkpoint(p)
        assert ckpt.config.ngf == 4 and ckpt.config.num_downs == 5


@pytest.mark.parametrize("fraction", [0.0001, 0.01, 0.3, 0.5, 0.9, 0.999])
@pytest.mark.parametrize("which", ["pth", "safetensors"])
def test_truncated_files_are_refused(good_files, tmp_path, fraction, which):
    src = good_files[0] if which == "pth" else good_files[1]
    raw = src.read_bytes()
    cut = max(1, int(len(raw) * fraction))
    p = tmp_path / f"cut.{which}"
    p.write_bytes(raw[:cut])
    _one_line_error(p)


@pytest.mark.parametrize("cut", [1, 7, 8, 9, 64])
def test_safetensors_cut_inside_the_header_is_refused(good_files, tmp_path, cut):
    p = tmp_path / "cut.safetensors"
    p.write_bytes(good_files[1].read_bytes()[:cut])
    _one_line_error(p)


def test_empty_and_missing_files(tmp_path):
    p = tmp_path / "empty.pth"
    p.write_bytes(b"")
    assert "empty" in _one_line_error(p)
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "nope.safetensors")


def test_wrong_shapes_are_refused(tmp_path):
    state = dict(_good_state())
    state["model.model.1.model.1.weight"] = torch.zeros(8, 5, 4, 4)
    p = tmp_path / "shapes.pth"
    torch.save(state, p)
    msg = _one_line_error(p)
    assert "model.model.1.model.1.weight" in msg and "do not fit" in msg

    state = dict(_good_state())
    del state["model.model.3.bias"]
    p = tmp_path / "missing.pth"
    torch.save(state, p)
    assert "do not fit" in _one_line_error(p)

    state = dict(_good_state())
    state["model.model.0.weight"] = torch.zeros(4)  # 1-D where a conv weight belongs
    p = tmp_path / "flat.pth"
    torch.save(state, p)
    _one_line_error(p)


@pytest.mark.parametrize(
    "obj",
    [
        {"a": 1, "b": "x"},
        {"model.model.0.weight": [1.0, 2.0]},
        {},
        [torch.zeros(2)],
        torch.zeros(3),
        "just a string",
        {"state_dict": {"a": None}},
    ],
    ids=["ints", "lists", "empty", "list", "tensor", "str", "nested_none"],
)
def test_non_tensor_contents_are_refused(tmp_path, obj):
    p = tmp_path / "odd.pth"
    torch.save(obj, p)
    _one_line_error(p)


def test_nan_weights_are_refused(tmp_path):
    state = dict(_good_state())
    state["model.model.0.weight"] = torch.full_like(state["model.model.0.weight"], float("nan"))
    p = tmp_path / "nan.pth"
    torch.save(state, p)
    assert "NaN" in _one_line_error(p)


# ------------------------------------------------------------------ lying safetensors headers


def _split(path: Path) -> tuple[dict, bytes]:
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def _write(path: Path, header, body: bytes, *, length: int | None = None, raw: bytes | None = None) -> Path:
    h = raw if raw is not None else json.dumps(header).encode()
    path.write_bytes((len(h) if length is None else length).to_bytes(8, "little") + h + body)
    return path


def _with_sketchpad(header: dict, **changes) -> dict:
    h = json.loads(json.dumps(header))
    meta = json.loads(h["__metadata__"]["sketchpad"])
    arch = changes.pop("arch", None)
    if arch is not None:
        meta["arch"] = {**meta["arch"], **arch} if isinstance(arch, dict) else arch
    meta.update(changes)
    h["__metadata__"]["sketchpad"] = json.dumps(meta)
    return h


KEY = "model.model.0.weight"


def _lies(header: dict) -> dict[str, dict]:
    def tensor(**kw):
        h = json.loads(json.dumps(header))
        h[KEY].update(kw)
        return h

    return {
        "offsets_past_the_end": tensor(data_offsets=[0, 10**12]),
        "offsets_reversed": tensor(data_offsets=[100, 0]),
        "dtype_wider": tensor(dtype="F64"),
        "dtype_unknown": tensor(dtype="Q7"),
        "shape_too_big": tensor(shape=[4, 3, 4, 5]),
        "shape_huge": tensor(shape=[2**31, 2**31]),
        "shape_negative": tensor(shape=[-4, 3, 4, 4]),
        "arch_ngf_mismatch": _with_sketchpad(header, arch={"ngf": 8}),
        "arch_resnet_for_unet": _with_sketchpad(header, arch={"arch": "resnet"}),
        "arch_depth_mismatch": _with_sketchpad(header, arch={"num_downs": 6}),
        "arch_huge": _with_sketchpad(header, arch={"ngf": 1 << 20, "num_downs": 9}),
        "arch_deep": _with_sketchpad(header, arch={"num_downs": 100000}),
        "arch_float": _with_sketchpad(header, arch={"ngf": 4.0}),
        "arch_string": _with_sketchpad(header, arch="unet_256"),
        "arch_bool": _with_sketchpad(header, arch={"ngf": True}),
        "arch_norm_unknown": _with_sketchpad(header, arch={"norm": "group"}),
        "meta_palette": _with_sketchpad(header, palette=[["sky", [0, 0, 999]]]),
        "meta_palette_type": _with_sketchpad(header, palette=5),
        "meta_size": _with_sketchpad(header, size=10**9),
        "meta_kind": _with_sketchpad(header, input_kind="sound"),
    }


@pytest.mark.parametrize(
    "lie",
    list(_lies({KEY: {}, "__metadata__": {"sketchpad": json.dumps({"arch": {}})}})),
)
def test_lying_safetensors_headers_are_refused(good_files, tmp_path, lie):
    header, body = _split(good_files[1])
    p = _write(tmp_path / f"{lie}.safetensors", _lies(header)[lie], body)
    t0 = time.perf_counter()
    _one_line_error(p)
    assert time.perf_counter() - t0 < 5  # refused from the header, never by building a giant net


@pytest.mark.parametrize(
    "length", [0, 2**63 - 1, 2**64 - 1, 10**8, 10**8 + 1], ids=["zero", "i64max", "u64max", "100M", "100M+1"]
)
def test_safetensors_header_length_lies(good_files, tmp_path, length):
    header, body = _split(good_files[1])
    _one_line_error(_write(tmp_path / "len.safetensors", header, body, length=length))


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"[1, 2, 3]", b'"text"', b"\xff\xfe\x00garbage", b'{"__metadata__": 5}', b"null"],
    ids=["broken", "list", "string", "binary", "metadata_int", "null"],
)
def test_garbage_safetensors_headers_are_refused(good_files, tmp_path, raw):
    _, body = _split(good_files[1])
    _one_line_error(_write(tmp_path / "garbage.safetensors", None, body, raw=raw))


def test_sketchpad_header_that_is_not_an_object(good_files, tmp_path):
    header, body = _split(good_files[1])
    for text in ("[1]", "{broken", "42"):
        header["__metadata__"]["sketchpad"] = text
        _one_line_error(_write(tmp_path / "meta.safetensors", header, body))


# ------------------------------------------------------------------ hostile structure, refused on what it declares
#
# Each of these files is small; what it declares is huge (memory, depth, count) or is not plain weights.
# Each must end in one line, quickly, having allocated next to nothing: the loads run in one child process
# whose address space is capped a little above what importing torch took, so an allocation that slipped
# through ends in a MemoryError there rather than in swapping here.


def _quantized(t: torch.Tensor) -> torch.Tensor:
    with warnings.catch_warnings():  # quantized tensors are deprecated: all the more reason to refuse them
        warnings.simplefilter("ignore")
        return torch.quantize_per_tensor(t, 0.1, 0, torch.qint8)


def _deep_unet_state(levels: int) -> dict[str, torch.Tensor]:
    """Keys of a U-Net `levels` deep (tiny tensors: the claim is the structure)."""
    state = {"model.model.0.weight": torch.zeros(2, 3, 4, 4), "model.model.3.weight": torch.zeros(4, 3, 4, 4)}
    prefix = "model.model.1.model."
    for _ in range(levels - 1):
        state[prefix + "1.weight"] = torch.zeros(1, 1, 4, 4)
        prefix += "3.model."
    return state


def _resnet_blocks_state(blocks: int) -> dict[str, torch.Tensor]:
    state = {"model.1.weight": torch.zeros(2, 3, 7, 7), "model.1.bias": torch.zeros(2)}
    w = torch.zeros(1)
    for i in range(blocks):
        state[f"model.{10 + i}.conv_block.1.weight"] = w
    return state


def _patch_zip_sizes(src: Path, dst: Path, sizes: dict[str, int]) -> Path:
    """`src` with the uncompressed sizes its zip directory declares for some entries replaced."""
    raw = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as z:
        names = [i.filename for i in z.infolist()]
    pos = raw.find(b"PK\x01\x02")
    while pos != -1:
        n = int.from_bytes(raw[pos + 28 : pos + 30], "little")
        fname = raw[pos + 46 : pos + 46 + n].decode()
        for suffix, size in sizes.items():
            if fname.endswith(suffix) and fname in names:
                raw[pos + 24 : pos + 28] = min(size, 0xFFFFFFFE).to_bytes(4, "little")
        pos = raw.find(b"PK\x01\x02", pos + 46)
    dst.write_bytes(bytes(raw))
    return dst


def _legacy_storage_lie(d: Path) -> Path:
    """A pre-1.6 file whose pickle and storage record both claim 2**31 floats (8 GiB) over 280 KB of file:
    PyTorch's loader fills memory trying to read it."""
    src = d / "legacy_src.pth"
    torch.save({"model.model.0.weight": torch.zeros(70000)}, src, _use_new_zipfile_serialization=False)
    raw = bytearray(src.read_bytes())
    needle = b"J" + (70000).to_bytes(4, "little")
    i = raw.find(needle)
    raw[i + 1 : i + 5] = (2**31 - 1).to_bytes(4, "little")
    j = raw.rfind((70000).to_bytes(8, "little"))
    raw[j : j + 8] = (2**31 - 1).to_bytes(8, "little")
    p = d / "legacy_storage_lie.pth"
    p.write_bytes(bytes(raw))
    return p


def _safetensors_with_header(d: Path, name: str, header_text: str) -> Path:
    h = header_text.encode()
    p = d / name
    p.write_bytes(len(h).to_bytes(8, "little") + h)
    return p


def _hostile_files(d: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, a word the refusal must contain)."""
    files: dict[str, tuple[Path, str]] = {}

    def pth(name: str, obj, word: str, **kw) -> None:
        p = d / f"{name}.pth"
        torch.save(obj, p, **kw)
        files[name] = (p, word)

    good = dict(_good_state())
    deep = 100_000
    files["json_deep_header"] = (
        _safetensors_with_header(d, "deep.safetensors", "[" * deep + "]" * deep),
        "deeper",
    )
    files["json_deep_object"] = (
        _safetensors_with_header(d, "deep_obj.safetensors", '{"a":' * deep + "1" + "}" * deep),
        "deeper",
    )
    files["json_deep_metadata"] = (
        _safetensors_with_header(
            d,
            "deep_meta.safetensors",
            json.dumps({"__metadata__": {"sketchpad": '{"a":' * 5000 + "1" + "}" * 5000}}),
        ),
        "deeper",
    )
    files["json_40_deep"] = (
        _safetensors_with_header(d, "forty.safetensors", json.dumps({"x": json.loads("[" * 40 + "]" * 40)})),
        "deeper",
    )
    files["safetensors_many_tensors"] = (
        _safetensors_with_header(
            d,
            "many.safetensors",
            json.dumps(
                {f"t{i}": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]} for i in range(5000)}
            ),
        ),
        "tensors",
    )
    files["safetensors_huge_declared"] = (
        _safetensors_with_header(
            d,
            "huge.safetensors",
            json.dumps({"w": {"dtype": "F32", "shape": [1 << 20, 1 << 10], "data_offsets": [0, 1 << 32]}}),
        ),
        "values",
    )
    files["safetensors_bool"] = (
        _safetensors_with_header(
            d,
            "bool.safetensors",
            json.dumps({"w": {"dtype": "BOOL", "shape": [1], "data_offsets": [0, 1]}}) + " ",
        ),
        "BOOL",
    )
    pth("int_keys", {i: v for i, v in enumerate(good.values())}, "not a name")
    pth("tuple_key", {**good, (1, 2): torch.zeros(1)}, "not a name")
    pth("none_key", {None: torch.zeros(1), **good}, "not a name")
    pth("unet_2000_levels", _deep_unet_state(2000), "MiB")  # its keys alone are a 16 MB pickle
    pth("unet_40_levels", _deep_unet_state(40), "12 levels")
    pth("resnet_20000_blocks", _resnet_blocks_state(20000), "tensors")
    pth("resnet_100_blocks", _resnet_blocks_state(100), "64")
    for kind, state, word in [
        ("unet", _deep_unet_state(40), "12 levels"),
        ("resnet", _resnet_blocks_state(100), "64"),
    ]:
        p = d / f"{kind}_keys.safetensors"  # a foreign safetensors file: no header, the keys are read
        save_file({k: v.clone() for k, v in state.items()}, str(p))
        files[f"safetensors_{kind}_keys"] = (p, word)
    pth("meta_tensor", {**good, "model.model.0.weight": torch.empty(4, 3, 4, 4, device="meta")}, "meta")
    pth("sparse_tensor", {**good, "model.model.0.weight": good["model.model.0.weight"].to_sparse()}, "sparse")
    pth(
        "quantized",
        {**good, "model.model.0.bias": _quantized(torch.zeros(4))},
        "quantized",
    )
    pth("expanded", {**good, "model.model.0.weight": torch.zeros(1).expand(1 << 14, 1 << 12, 4, 4)}, "claims")
    pth(
        "expanded_legacy",
        {"w": torch.zeros(1).expand(1 << 30)},
        "claims",
        _use_new_zipfile_serialization=False,
    )
    pth(
        "int8_weights", {**good, "model.model.0.weight": torch.zeros(4, 3, 4, 4, dtype=torch.int8)}, "weights"
    )
    base = d / "base.pth"
    torch.save(good, base)
    files["zip_bomb_record"] = (_patch_zip_sizes(base, d / "bomb_record.pth", {"data/0": 3 << 30}), "unpacks")
    files["zip_bomb_pickle"] = (
        _patch_zip_sizes(base, d / "bomb_pickle.pth", {"data.pkl": 200 << 20}),
        "unpacks",
    )
    files["zip_bomb_total"] = (
        _patch_zip_sizes(base, d / "bomb_total.pth", {f"data/{i}": 1 << 30 for i in range(4)}),
        "unpacks",
    )
    # A real deflate bomb: the pickle swapped for 64 MiB of zeros deflated to 64 KB.
    p = d / "deflate_bomb.pth"
    with zipfile.ZipFile(base) as src, zipfile.ZipFile(p, "w") as dst:
        for info in src.infolist():
            if info.filename.endswith("data.pkl"):
                dst.writestr(info.filename, bytes(64 << 20), compress_type=zipfile.ZIP_DEFLATED)
            else:
                dst.writestr(info, src.read(info))
    files["zip_deflate_bomb"] = (p, "unpacks")
    files["legacy_storage_lie"] = (_legacy_storage_lie(d), "record")
    # The pickle's memo grown to 2**30 entries by one opcode (the C unpickler would allocate 8 GB for it).
    memo = d / "memo_bomb.pth"
    with zipfile.ZipFile(base) as src, zipfile.ZipFile(memo, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("data.pkl"):
                data = b"\x80\x02}r" + (1 << 30).to_bytes(4, "little") + b"."
            dst.writestr(info, data)
    files["pickle_memo_bomb"] = (memo, "state dict")
    return files


_CHILD = r"""
import json, resource, sys, time
import torch
from models.checkpoint import load_checkpoint
from models.errors import CheckpointError
torch.set_num_threads(1)
load_checkpoint  # imports done: cap the address space a little above what they took
vm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmSize")) * 1024
resource.setrlimit(resource.RLIMIT_AS, (vm + (1 << 30), resource.RLIM_INFINITY))
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = {}
for name, path in json.loads(sys.argv[1]).items():
    t0 = time.perf_counter()
    try:
        load_checkpoint(path)
        outcome = "loaded"
    except CheckpointError as e:
        outcome = "refused: " + str(e)
    except BaseException as e:
        outcome = f"crashed: {type(e).__name__}: {str(e)[:300]}"
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) >> 10
    out[name] = [outcome, time.perf_counter() - t0, grown]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    files = _hostile_files(d)
    r = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps({k: str(p) for k, (p, _) in files.items()})],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return files, json.loads(r.stdout.strip().splitlines()[-1])


HOSTILE_KINDS = [
    "json_deep_header",
    "json_deep_object",
    "json_deep_metadata",
    "json_40_deep",
    "safetensors_many_tensors",
    "safetensors_huge_declared",
    "safetensors_bool",
    "int_keys",
    "tuple_key",
    "none_key",
    "unet_2000_levels",
    "unet_40_levels",
    "resnet_20000_blocks",
    "resnet_100_blocks",
    "safetensors_unet_keys",
    "safetensors_resnet_keys",
    "meta_tensor",
    "sparse_tensor",
    "quantized",
    "expanded",
    "expanded_legacy",
    "int8_weights",
    "zip_bomb_record",
    "zip_bomb_pickle",
    "zip_bomb_total",
    "zip_deflate_bomb",
    "legacy_storage_lie",
    "pickle_memo_bomb",
]


@pytest.mark.parametrize("kind", HOSTILE_KINDS)
def test_hostile_structure_is_refused_on_what_it_declares(hostile, kind):
    files, results = hostile
    path, word = files[kind]
    outcome, seconds, grown_mib = results[kind]
    assert outcome.startswith("refused: "), outcome
    msg = outcome.removeprefix("refused: ")
    assert "\n" not in msg and path.name in msg and word in msg.replace(path.name, ""), msg
    assert seconds < 10, f"{kind} took {seconds:.1f} s"
    assert grown_mib < 200, f"{kind} grew the loader by {grown_mib} MiB"


def test_every_hostile_kind_is_tested(hostile):
    assert sorted(hostile[0]) == sorted(HOSTILE_KINDS)


def test_hostile_checkpoint_on_the_command_line(hostile, drawing, tmp_path, capsys):
    files, _ = hostile
    for kind in ("zip_bomb_record", "json_deep_header", "int_keys", "expanded"):
        out = tmp_path / "out.png"
        assert cli_main(["translate", str(files[kind][0]), str(drawing), "-o", str(out)]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and err.startswith("sketchpad: error: "), err
        assert not out.exists()


def test_limits_are_documented_and_a_net_at_them_is_accepted(tmp_path):
    """Just inside the limits loads (so they refuse only the absurd): a 12-level U-Net with 4 channels."""
    assert ARCH_LIMITS == {"input_nc": 4, "output_nc": 4, "ngf": 1024, "num_downs": 12, "n_blocks": 64}
    assert MAX_PARAMS * 4 < MAX_CHECKPOINT_BYTES and MAX_TENSORS > 700
    at_limit = GeneratorConfig(ngf=1, num_downs=12, input_nc=4, output_nc=4)
    torch.save(build_generator(at_limit).state_dict(), tmp_path / "g.pth")
    assert load_checkpoint(tmp_path / "g.pth").config == at_limit
    torch.save(
        build_generator(GeneratorConfig(ngf=1, num_downs=5, input_nc=5)).state_dict(), tmp_path / "c.pth"
    )
    with pytest.raises(CheckpointError, match="input_nc 5 is over the limit of 4"):
        load_checkpoint(tmp_path / "c.pth")
