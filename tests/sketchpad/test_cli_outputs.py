"""Where results are written, and the arguments that say how: every output that cannot be written (under a
file, under /proc, a read-only or full disk, a folder or a pipe where a file belongs, an input) is one
line and exit code 2 before any work, or at the write with nothing half-written; devices, seeds and sizes
out of range are refused up front with the limit in the message."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from models.checkpoint import save_checkpoint
from models.generator import GeneratorConfig, build_generator
from models.inference import Translator, TranslatorError, pick_device
from sketchpad.cli import main as cli_main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    net = build_generator(GeneratorConfig(num_downs=5, ngf=4), init_type="kaiming")
    return save_checkpoint(tmp_path_factory.mktemp("ck") / "g.safetensors", net, {"name": "tiny"})


@pytest.fixture
def drawing(tmp_path) -> Path:
    a = np.random.default_rng(0).integers(0, 256, (192, 192, 3), np.uint8)  # noise: results of ~100 KB
    Image.fromarray(a).save(tmp_path / "d.png")
    return tmp_path / "d.png"


def run_cli(capsys, *args) -> tuple[int, str, str]:
    rc = cli_main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def one_line_error(rc: int, err: str, *needles: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2 and len(lines) == 1, (rc, err)
    assert lines[0].startswith("sketchpad") and "Traceback" not in err
    for n in needles:
        assert n in lines[0], lines[0]


def sketchpad_proc(*args, env=None, **kw) -> subprocess.CompletedProcess:
    """`python -m sketchpad ARGS` in a real process (bytes out; stdout/stderr captured unless given)."""
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    return subprocess.run(
        [sys.executable, "-m", "sketchpad", *map(str, args)],
        cwd=REPO,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **(env or {})},
        timeout=600,
        **kw,
    )


# ---------------------------------------------------------------- output paths


def test_output_under_a_file(capsys, tmp_path, ckpt, drawing):
    (tmp_path / "afile").write_text("x")
    rc, _, err = run_cli(capsys, "translate", ckpt, drawing, "-o", tmp_path / "afile" / "out.png")
    one_line_error(rc, err, "afile is a file, not a folder")
    rc, _, err = run_cli(capsys, "translate", ckpt, drawing, "-o", tmp_path / "afile" / "deeper" / "o.png")
    one_line_error(rc, err, "is a file, not a folder")
    assert (tmp_path / "afile").read_text() == "x"


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="no /proc here")
@pytest.mark.parametrize("where", ["/proc/out.png", "/proc/self/new/out.png", "/sys/out.png"])
def test_output_under_proc_and_sys(capsys, ckpt, drawing, where):
    if not Path("/", Path(where).parts[1]).is_dir():
        pytest.skip(f"no {where} here")
    rc, _, err = run_cli(capsys, "translate", ckpt, drawing, "-o", where)
    one_line_error(rc, err, where, "cannot write there")
    assert not Path(where).exists()


def test_output_is_a_folder_or_a_pipe(capsys, tmp_path, ckpt, drawing):
    outs = tmp_path / "outs"
    (outs / "d.png").mkdir(parents=True)  # several inputs: out/d.png must be a file
    (tmp_path / "e.png").write_bytes(drawing.read_bytes())
    rc, _, err = run_cli(capsys, "translate", ckpt, drawing, tmp_path / "e.png", "-o", outs)
    one_line_error(rc, err, "d.png: is a folder")
    assert not (outs / "e.png").exists()  # refused before any work
    (tmp_path / "x.safetensors").mkdir()
    rc, _, err = run_cli(capsys, "convert", ckpt, tmp_path / "x.safetensors")
    one_line_error(rc, err, "is a folder")
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    rc, _, err = run_cli(capsys, "translate", ckpt, drawing, "-o", fifo)
    one_line_error(rc, err, "not a regular file")
    assert fifo.is_fifo()  # never replaced


def test_output_equal_to_an_input_needs_overwrite(capsys, tmp_path, ckpt, drawing):
    before = drawing.read_bytes()
    rc, _, err = run_cli(capsys, "translate", ckpt, drawing, "-o", drawing)
    one_line_error(rc, err, "the output is an input", "--overwrite")
    rc, _, err = run_cli(capsys, "translate", ckpt, drawing, "-o", f"{tmp_path}/")  # folder: d.png again
    one_line_error(rc, err, "the output is an input")
    link = tmp_path / "link.png"
    link.symlink_to(drawing)
    rc, _, err = run_cli(capsys, "translate", ckpt, drawing, "-o", link)  # the same file by another name
    one_line_error(rc, err, "the output is an input")
    assert drawing.read_bytes() == before
    rc, out, err = run_cli(capsys, "translate", ckpt, drawing, "-o", drawing, "--overwrite")
    assert rc == 0, err
    with Image.open(drawing) as im:
        assert drawing.read_bytes() != before and im.size == (192, 192)
    rc, _, err = run_cli(capsys, "convert", ckpt, ckpt)  # convert/export: never over their source
    one_line_error(rc, err, "the output is an input")
    onnx = tmp_path / "g.onnx"
    onnx.write_bytes(b"an earlier export")
    rc, _, err = run_cli(capsys, "export", onnx, "--onnx", onnx)
    one_line_error(rc, err, "the output is an input")
    assert onnx.read_bytes() == b"an earlier export"


def test_a_250_byte_name_is_written_and_a_256_byte_one_refused(capsys, tmp_path, ckpt, drawing):
    name = "n" * 246 + ".png"  # 250 bytes: legal; its temporary name must be too
    rc, out, err = run_cli(capsys, "translate", ckpt, drawing, "-o", tmp_path / name)
    assert rc == 0, err
    assert (tmp_path / name).is_file() and not list(tmp_path.glob(".*.tmp"))
    long = "é" * 126 + ".png"  # 256 bytes in UTF-8, 130 characters
    rc, _, err = run_cli(capsys, "translate", ckpt, drawing, "-o", tmp_path / long)
    one_line_error(rc, err, "longer than 255 bytes")


@pytest.fixture
def mount(tmp_path):
    """mount(options, source) -> a fresh folder with that file system on it; skips where we may not mount."""
    mounted = []

    def do(options: list[str], source: str = "tmpfs", kind: list[str] = ("-t", "tmpfs")) -> Path:
        point = tmp_path / f"mnt{len(mounted)}"
        point.mkdir()
        if not shutil.which("mount"):
            pytest.skip("no mount command")
        r = subprocess.run(["mount", *kind, *options, source, str(point)], capture_output=True, timeout=30)
        if r.returncode:
            pytest.skip(f"cannot mount here ({r.stderr.decode(errors='replace').strip()[:80]})")
        mounted.append(point)
        return point

    yield do
    for p in reversed(mounted):
        subprocess.run(["umount", str(p)], capture_output=True, timeout=30)


def test_read_only_disk(capsys, tmp_path, ckpt, drawing, mount):
    src = tmp_path / "src"
    src.mkdir()
    ro = mount(["-o", "bind,ro"], str(src), kind=[])
    if os.access(ro, os.W_OK):  # a kernel that ignored ro on a bind mount: try the remount form
        subprocess.run(["mount", "-o", "remount,bind,ro", str(ro)], capture_output=True, timeout=30)
    rc, _, err = run_cli(capsys, "translate", ckpt, drawing, "-o", ro / "out.png")
    one_line_error(rc, err, "out.png", "read-only")
    assert not list(src.iterdir())


def test_full_disk_at_the_write_loses_nothing(capsys, tmp_path, ckpt, drawing, mount):
    small = mount(["-o", "size=16k"])
    (small / "out.png").write_bytes(b"an earlier result")
    rc, _, err = run_cli(capsys, "translate", ckpt, drawing, "-o", small / "out.png")
    one_line_error(rc, err, "out.png", "the disk is full")
    assert (small / "out.png").read_bytes() == b"an earlier result"  # the old file is intact
    assert sorted(p.name for p in small.iterdir()) == ["out.png"]  # no temporary left behind


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="POSIX file size limits")
def test_file_too_large_at_the_write_is_one_line(tmp_path, ckpt, drawing):
    """Without mount rights: a file-size limit fails the write as a full disk would, in a real process."""

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG instead of a kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (8000, 8000))

    out = tmp_path / "out.png"
    r = sketchpad_proc("translate", ckpt, drawing, "-o", out, "--device", "cpu", preexec_fn=limit)
    err = r.stderr.decode()
    assert r.returncode == 2 and len(err.strip().splitlines()) == 1, err
    assert "out.png" in err and "larger than this system allows" in err
    assert not out.exists() and not list(tmp_path.glob(".*.tmp"))


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_stdout_on_a_full_disk_is_one_line(tmp_path):
    d = tmp_path / "set"
    d.mkdir()
    Image.new("RGB", (16, 8)).save(d / "a.png")
    with open("/dev/full", "w") as full:
        r = sketchpad_proc("data", "check", d, "--json", stdout=full)
    err = r.stderr.decode()
    assert r.returncode == 2 and err.count("\n") == 1, err
    assert "cannot write the output (the disk is full)" in err


# ---------------------------------------------------------------- arguments


def test_pick_device_names():
    assert pick_device("cpu:0")[0] == torch.device("cpu")
    assert pick_device("CPU")[0] == torch.device("cpu")
    for bad in ("nonsense", "cuda:x", "cuda:-1", "auto:0", "cuda:0:1", "tpu"):
        with pytest.raises(TranslatorError, match="unknown device"):
            pick_device(bad)
    with pytest.raises(TranslatorError, match="one CPU device"):
        pick_device("cpu:1")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is here")
def test_missing_cuda_falls_back_or_is_refused():
    dev, note = pick_device("cuda:0")
    assert dev.type == "cpu" and "CUDA is not available" in note and "using the CPU" in note
    with pytest.raises(TranslatorError, match="CUDA is not available"):
        pick_device("cuda:0", strict=True)
    assert pick_device("auto", strict=True)[1] == ""  # auto is never refused


def test_missing_mps_falls_back_or_is_refused():
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        pytest.skip("MPS is here")
    assert pick_device("mps:0")[0].type == "cpu"
    with pytest.raises(TranslatorError, match="MPS is not available"):
        pick_device("mps:0", strict=True)


@pytest.mark.parametrize(
    "device,needle",
    [("nonsense", "unknown device"), ("cuda:0", "CUDA is not available"), ("mps:0", "MPS is not available")],
)
def test_cli_refuses_a_device_it_does_not_have(capsys, tmp_path, ckpt, drawing, device, needle):
    if device.startswith("cuda") and torch.cuda.is_available():
        pytest.skip("CUDA is here")
    if device.startswith("mps") and torch.backends.mps.is_available():
        pytest.skip("MPS is here")
    rc, _, err = run_cli(capsys, "translate", ckpt, drawing, "-o", tmp_path / "o.png", "--device", device)
    one_line_error(rc, err, needle)
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("seed", ["-1", str(2**63), "1e3", "99999999999999999999999"])
def test_seeds_out_of_range_are_refused_with_the_range(capsys, tmp_path, ckpt, drawing, seed):
    rc = cli_main(["translate", str(ckpt), str(drawing), "-o", str(tmp_path / "o.png"), "--seed", seed])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert "--seed" in err and ("9,223,372,036,854,775,807" in err or "whole number" in err)


def test_seed_range_in_the_api(ckpt):
    t = Translator(ckpt, device="cpu", dropout=True)
    x = np.zeros((32, 32, 3), np.uint8)
    assert t(x, seed=2**63 - 1).shape == (32, 32, 3)
    for bad in (-1, 2**63, 1.5, "3"):
        with pytest.raises(TranslatorError, match="seed"):
            t(x, seed=bad)
    with pytest.raises(ValueError, match="seed"):
        Translator(ckpt, device="cpu", seed=-5)


@pytest.mark.parametrize(
    "args,needle",
    [
        (["export", "g.safetensors", "--onnx", "g.onnx", "--size", "1048576"], "1 to 1,024"),
        (["bench", "--size", "1048576"], "4 to 2,048"),
        (["bench", "--ngf", "100000"], "1 to 512"),
        (["bench", "--runs", "0"], "1 to 100,000"),
        (["bench", "--soak", "1e12"], "at most 604,800 seconds"),
        (["eval", "x", "--data", "y", "--limit", "-3"], "0 to 1,000,000,000"),
        (["data", "check", "d", "--holdout", "-1"], "0 to 1,000,000,000"),
    ],
)
def test_absurd_sizes_are_refused_up_front_with_the_limit(capsys, args, needle):
    rc = cli_main(args)
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert needle in err
