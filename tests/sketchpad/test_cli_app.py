"""`sketchpad app` from the command line: screenshots, bad files, restore, in a real subprocess."""

from __future__ import annotations

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
from models.imageio import save_png
from sketchpad import paths
from sketchpad.autosave import AutosaveStore

REPO = Path(__file__).resolve().parents[2]
DEAD_PID = 4_194_998

pytestmark = pytest.mark.gui


def tiny(path):
    torch.manual_seed(0)
    net = build_generator(GeneratorConfig(ngf=4, num_downs=6), init_gain=0.1)
    return save_checkpoint(path, net, {"name": path.stem, "input_kind": "lineart"})


def sketchpad(*args, timeout=120):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run(
        [sys.executable, "-m", "sketchpad", *map(str, args)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_screenshot_of_a_translated_drawing(tmp_path):
    ckpt = tiny(tmp_path / "m.safetensors")
    src = tmp_path / "d.png"
    a = np.full((128, 128, 3), 255, np.uint8)
    a[30:90, 40:60] = 0
    save_png(src, a)
    out = tmp_path / "shot.png"
    r = sketchpad("app", "--open", src, "--model", ckpt, "--screenshot", out, "--device", "cpu")
    assert r.returncode == 0, r.stderr
    im = Image.open(out)
    assert im.size == (1100, 650)
    assert len(np.unique(np.asarray(im.convert("L")))) > 20  # a real window, not a blank image


def test_a_bad_open_file_is_one_line_and_exit_2(tmp_path, capsys):
    from sketchpad.cli import main  # in-process: these fail before any window opens

    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    assert main(["app", "--open", str(bad), "--screenshot", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sketchpad: error:") and "bad.png" in err[0]
    assert not (tmp_path / "x.png").exists()


def test_an_unknown_model_is_one_line_and_exit_2(tmp_path, capsys):
    from sketchpad.cli import main

    assert main(["app", "--model", "no-such-model", "--screenshot", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no-such-model" in err[0]


@pytest.mark.slow
def test_restore_flag_restores_a_crashed_sessions_drawing(tmp_path):
    ckpt = tiny(tmp_path / "m.safetensors")
    a = np.zeros((64, 64, 3), np.uint8)
    store = AutosaveStore(pid=DEAD_PID)
    store.write(a, {"model": str(ckpt)})
    r = sketchpad("app", "--restore", "--model", ckpt, "--screenshot", tmp_path / "s.png", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    assert not store.png.exists()  # restored, so no longer offered
    assert not list(paths.autosave_dir().glob("session-*.png"))  # and the clean exit left nothing
