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
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from models.checkpoint import load_checkpoint, save_checkpoint
from models.errors import CheckpointError
from models.generator import GeneratorConfig, build_generator
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
