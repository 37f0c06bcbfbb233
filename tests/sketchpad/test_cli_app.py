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


def sketchpad(*args, timeout=120, env=None):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", **(env or {})}
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
    with Image.open(out) as im:
        assert im.size == (1342, 688)  # the default window on a 1366x768 screen
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


@pytest.mark.slow
def test_a_screenshot_run_leaves_the_users_settings_byte_identical(tmp_path):
    """A scripted run starts as a first launch does and never writes the saved model, the folders or the
    recent files, though it loads a model and opens a drawing (each of which a user's run remembers)."""
    data = tmp_path / "data"
    data.mkdir()
    ckpt = tiny(tmp_path / "m.safetensors")
    src = save_png(tmp_path / "d.png", np.full((64, 64, 3), 255, np.uint8))
    mine = tmp_path / "mine.png"
    mine.write_bytes(src.read_bytes())
    ini = data / "settings.ini"
    ini.write_text(f"[General]\nmodel=shoes\ndevice=cpu\n\n[recent]\ndrawings={mine}\n")
    before = ini.read_bytes()
    env = {"SKETCHPAD_DATA_DIR": str(data)}
    r = sketchpad(
        "app", "--open", src, "--model", ckpt, "--screenshot", tmp_path / "s.png", "--device", "cpu", env=env
    )
    assert r.returncode == 0, r.stderr
    assert ini.read_bytes() == before
    assert {p.name for p in data.iterdir()} <= {"autosave", "runs", "settings.ini"}  # no other file written
    assert not list((data / "autosave").iterdir())


@pytest.mark.slow
def test_a_screenshot_with_the_training_panel_shows_the_dock(tmp_path):
    ckpt = tiny(tmp_path / "m.safetensors")
    out = tmp_path / "dock.png"
    r = sketchpad("app", "--model", ckpt, "--training-panel", "--screenshot", out, "--device", "cpu")
    assert r.returncode == 0, r.stderr
    with Image.open(out) as im:
        assert im.size == (1342, 688)
