"""tools/blank_canvas.py: what a label model draws on an empty canvas, measured and saved; its texture
measure is zero on a flat picture and sees a checkerboard."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from models.checkpoint import save_checkpoint
from models.generator import GeneratorConfig, build_generator

TOOL = Path(__file__).resolve().parent.parent / "tools" / "blank_canvas.py"


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("blank_canvas", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_texture_is_zero_on_flat_and_sees_a_checkerboard(tool):
    flat = np.full((32, 32, 3), 120, np.uint8)
    assert tool.texture(flat) == 0.0
    board = flat.copy()
    board[::2, ::2] += 10
    board[1::2, 1::2] += 10  # +-5 around the mean, every other pixel
    assert 4.0 < tool.texture(board) < 5.5
    m = tool.measure(board)
    assert m["grid"] == pytest.approx(5 / 255, rel=0.01) and m["std"] == pytest.approx(5.0)


def test_it_translates_a_canvas_per_class_and_saves_the_strip(tool, tmp_path, capsys):
    torch.manual_seed(0)
    paths = []
    for upsample in ("transpose", "blur"):
        net = build_generator(GeneratorConfig(ngf=4, num_downs=5, upsample=upsample))
        paths.append(
            str(save_checkpoint(tmp_path / f"{upsample}.safetensors", net, {"input_kind": "labels"}))
        )
    strip = tmp_path / "strip.png"
    assert tool.main([*paths, "--size", "64", "--strip", str(strip)]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [(x["model"], x["class"]) for x in lines] == [
        (p, c) for p in paths for c in ("background", "facade")
    ]
    assert all(x["std"] >= 0 and x["grid"] >= 0 and x["texture"] >= 0 for x in lines)
    with Image.open(strip) as im:
        assert im.size == (128, 128)  # a row per model, a column per class
    with pytest.raises(SystemExit):
        tool.main([paths[0], "--classes", "lava"])


def test_it_runs_as_a_script(tmp_path):
    import subprocess

    net = build_generator(GeneratorConfig(ngf=4, num_downs=5, input_nc=1))
    path = save_checkpoint(tmp_path / "sketch.safetensors", net, {"input_kind": "lineart"})
    p = subprocess.run([sys.executable, str(TOOL), str(path)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "not label maps" in p.stderr  # a line-art model has no label canvas
