"""File names that are not UTF-8 on a strict UTF-8 stdout, readers that close the pipe early, and
`sketchpad data check`'s exit code and counts, through real processes where the process is the point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from models.checkpoint import save_checkpoint
from models.generator import GeneratorConfig, build_generator
from sketchpad.cli import main as cli_main

REPO = Path(__file__).resolve().parents[2]
STRICT = {"PYTHONIOENCODING": "utf-8:strict", "LC_ALL": "C", "PYTHONDONTWRITEBYTECODE": "1"}


def sketchpad(*args, env=None, **kw) -> subprocess.CompletedProcess:
    """`python -m sketchpad ARGS` (bytes arguments allowed), bytes out."""
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    argv = [a if isinstance(a, bytes) else str(a) for a in args]
    return subprocess.run(
        [sys.executable, "-m", "sketchpad", *argv],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        timeout=600,
        **kw,
    )


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    net = build_generator(GeneratorConfig(num_downs=5, ngf=4))
    return save_checkpoint(tmp_path_factory.mktemp("ck") / "g.safetensors", net, {"name": "tiny"})


def png(path: str | bytes | Path, size=(40, 32), color=(10, 120, 200)) -> None:
    Image.new("RGB", size, color).save(path, format="PNG")


@pytest.fixture
def raw_dir(tmp_path) -> bytes:
    """tmp_path as bytes; skips where the file system refuses names that are not UTF-8 (macOS, Windows)."""
    d = os.fsencode(tmp_path)
    try:
        with open(os.path.join(d, b"probe\xff"), "wb"):
            pass
    except OSError:
        pytest.skip("this file system wants UTF-8 names")
    os.unlink(os.path.join(d, b"probe\xff"))
    return d


# ---------------------------------------------------------------- names that are not UTF-8


def test_translate_prints_a_non_utf8_name_on_a_strict_stdout(ckpt, tmp_path, raw_dir):
    src = os.path.join(raw_dir, b"dr\xffawing.png")
    png(src)
    out = os.path.join(raw_dir, b"out")
    r = sketchpad("translate", ckpt, src, "-o", out + b"/", "--device", "cpu", env=STRICT)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    assert r.stdout == out + b"/dr\xffawing.png\n"  # the very bytes of the name: it can be pasted back
    assert os.path.isfile(out + b"/dr\xffawing.png")


def test_an_error_about_a_non_utf8_name_is_one_printable_line(ckpt, tmp_path, raw_dir):
    bad = os.path.join(raw_dir, b"bro\xfeken.png")
    with open(bad, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n garbage")
    r = sketchpad("translate", ckpt, bad, "-o", tmp_path / "o.png", "--device", "cpu", env=STRICT)
    err = r.stderr.decode("ascii")  # escaped: nothing the strict stream could choke on
    assert r.returncode == 2 and len(err.strip().splitlines()) == 1, err
    assert "bro\\udcfeken.png" in err and "Traceback" not in err


def test_data_check_lists_non_utf8_names(tmp_path, raw_dir):
    good, broken = os.path.join(raw_dir, b"a\xe9.png"), os.path.join(raw_dir, b"b\xff.png")
    png(good, size=(64, 32))
    with open(broken, "wb") as f:
        f.write(b"not an image")
    r = sketchpad("data", "check", tmp_path, env=STRICT)
    assert r.returncode == 1, r.stderr  # usable, with a problem file
    assert b"b\xff.png" in r.stdout and b"images 2" in r.stdout and r.stderr == b""
    r = sketchpad("data", "check", tmp_path, "--json", env=STRICT)
    report = json.loads(r.stdout)
    assert report["counts"] == {"train": {"images": 2}} and len(report["unreadable"]) == 1


# ---------------------------------------------------------------- closed pipes


def closed_pipe(*args) -> subprocess.CompletedProcess:
    """Run with stdout on a pipe whose reader has already gone, as `| head -c 10` is once it has its bytes."""
    r, w = os.pipe()
    os.close(r)
    try:
        return sketchpad(*args, stdout=w)
    finally:
        os.close(w)


@pytest.fixture
def tiny_set(tmp_path) -> Path:
    root = tmp_path / "set"
    for split, n in (("train", 2), ("val", 2)):
        (root / split).mkdir(parents=True)
        for i in range(n):
            a = np.random.default_rng(i).integers(0, 256, (32, 64, 3), np.uint8)
            Image.fromarray(a).save(root / split / f"{i}.png")
    return root


def test_eval_json_into_a_closed_pipe_ends_quietly(ckpt, tiny_set):
    r = closed_pipe("eval", ckpt, "--data", tiny_set, "--json", "--device", "cpu")
    assert r.returncode in (0, 141), r.stderr
    assert r.stderr == b""  # no traceback, no "Exception ignored" at shutdown


def test_data_check_into_a_closed_pipe_and_through_head(tiny_set):
    r = closed_pipe("data", "check", tiny_set, "--json")
    assert r.returncode in (0, 141) and r.stderr == b"", r.stderr
    cmd = f"set -o pipefail; {sys.executable} -m sketchpad data check {tiny_set} --json | head -c 10"
    r = subprocess.run(["bash", "-c", cmd], cwd=REPO, capture_output=True, timeout=600)
    assert r.stdout == b'{\n  "root"' and r.stderr == b"" and r.returncode in (0, 141)


# ---------------------------------------------------------------- data check: exit codes and counts


def test_data_check_exit_codes_follow_what_it_found(tmp_path, capsys):
    clean = tmp_path / "clean"
    for side in ("A", "B"):
        (clean / "train" / side).mkdir(parents=True)
        for s in ("x", "y"):
            png(clean / "train" / side / f"{s}.png")
    assert cli_main(["data", "check", str(clean)]) == 0
    assert "problems: none" in capsys.readouterr().out

    messy = tmp_path / "messy"
    for side in ("A", "B"):
        (messy / "train" / side).mkdir(parents=True)
        for s in ("x", "y", "z"):
            png(messy / "train" / side / f"{s}.png")
    (messy / "train" / "A" / "z.png").write_bytes(b"\x89PNG\r\n\x1a\n cut short")  # corrupt
    png(messy / "train" / "B" / "alone.png")  # unmatched
    assert cli_main(["data", "check", str(messy)]) == 1
    out = capsys.readouterr().out
    assert "train: A 3, B 4 (usable: A 2, B 2)" in out and "problems: 2" in out
    assert cli_main(["data", "check", str(messy), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["counts"]["train"] == {"A": 3, "B": 4}
    assert report["counts"]["train"]["A"] == len(list((messy / "train" / "A").iterdir()))
    assert report["counts"]["train"]["B"] == len(list((messy / "train" / "B").iterdir()))

    ruined = tmp_path / "ruined"
    (ruined / "train").mkdir(parents=True)
    (ruined / "train" / "a.png").write_bytes(b"junk")
    assert cli_main(["data", "check", str(ruined)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sketchpad: error:") and err.count("\n") == 1
