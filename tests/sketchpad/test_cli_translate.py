"""`sketchpad translate` end to end in a subprocess, and its error paths: one line, non-zero exit."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from models.checkpoint import save_checkpoint
from models.generator import GeneratorConfig, build_generator
from models.inference import Translator


def sketchpad(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "sketchpad", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
    )


@pytest.fixture
def ckpt(tmp_path):
    torch.manual_seed(0)
    return save_checkpoint(
        tmp_path / "g.safetensors", build_generator(GeneratorConfig(num_downs=5, ngf=4), init_type="kaiming")
    )


@pytest.fixture
def drawing(tmp_path):
    a = np.full((40, 48, 3), 255, np.uint8)
    a[10:30, 5:40] = 0
    Image.fromarray(a).save(tmp_path / "d.png")
    return tmp_path / "d.png"


def test_translate_one_and_many(tmp_path, ckpt, drawing):
    r = sketchpad("translate", ckpt, drawing, "-o", tmp_path / "out.png")
    assert r.returncode == 0, r.stderr
    out = np.asarray(Image.open(tmp_path / "out.png"))
    assert out.shape == (40, 48, 3)
    assert np.array_equal(out, Translator(ckpt, device="cpu")(np.asarray(Image.open(drawing))))
    (tmp_path / "e.png").write_bytes(drawing.read_bytes())
    r = sketchpad(
        "translate",
        ckpt,
        drawing,
        tmp_path / "e.png",
        "-o",
        tmp_path / "outs",
        "--dropout",
        "on",
        "--seed",
        "3",
    )
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "outs").iterdir()) == ["d.png", "e.png"]


@pytest.mark.parametrize(
    "case",
    ["missing_ckpt", "bad_ckpt", "missing_input", "corrupt_input", "bad_option", "bad_out", "no_args"],
)
def test_errors_are_one_line(tmp_path, ckpt, drawing, case):
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint at all")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    args = {
        "missing_ckpt": ["translate", tmp_path / "none.pth", drawing, "-o", tmp_path / "o.png"],
        "bad_ckpt": ["translate", tmp_path / "junk.pth", drawing, "-o", tmp_path / "o.png"],
        "missing_input": ["translate", ckpt, tmp_path / "nope.png", "-o", tmp_path / "o.png"],
        "corrupt_input": ["translate", ckpt, tmp_path / "broken.png", "-o", tmp_path / "o.png"],
        "bad_option": ["translate", ckpt, drawing, "-o", tmp_path / "o.png", "--bn-stats", "weird"],
        "bad_out": ["translate", ckpt, drawing, "-o", tmp_path / "o.jpg"],
        "no_args": ["translate"],
    }[case]
    r = sketchpad(*args)
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "o.png").exists()
