"""The shipped weights: they load, their headers say how to use them, they fit the size limits, and on real
val pairs (when ../shared/data is present) each beats the trivial baseline, the mean training photo."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import torch

from models.checkpoint import load_checkpoint, read_header
from models.evaluate import evaluate, mean_photo, resolve_holdout
from models.generator import count_macs
from models.metrics import l1
from models.palette import FACADES
from models.segmenter import load_segmenter

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
TASKS = {"facades": "facades", "faces": "faces", "shoes": "edges2shoes"}  # task -> folder in ../shared/data
FILES = [f"{t}{suffix}.safetensors" for t in TASKS for suffix in ("", "-live")]
MB = 1 << 20


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_every_task_ships_a_full_and_a_live_model_within_the_size_limits():
    files = sorted(p.name for p in WEIGHTS.glob("*.safetensors"))
    assert set(FILES) <= set(files)
    assert all(p.stat().st_size <= 16 * MB for p in WEIGHTS.glob("*.safetensors"))
    assert sum(p.stat().st_size for p in WEIGHTS.iterdir() if p.is_file()) < 80 * MB
    assert not [
        p for p in WEIGHTS.iterdir() if p.suffix in (".pth", ".pt", ".pkl", ".ckpt", ".bin")
    ]  # no pickles


@pytest.mark.parametrize("name", FILES)
def test_headers_are_complete(name):
    path = WEIGHTS / name
    h = read_header(path)
    for key in ("name", "input_kind", "direction", "size", "role", "metrics", "training", "description"):
        assert key in h, f"{name}: header lacks {key}"
    task = name.removesuffix(".safetensors").removesuffix("-live")
    assert h["role"] == ("live" if name.endswith("-live.safetensors") else "full")
    assert h["direction"] == ("BtoA" if task == "facades" else "AtoB")
    assert h["input_kind"] == ("labels" if task == "facades" else "lineart")
    if task == "facades":
        assert [tuple(c) for _, c in h["palette"]] == [c for _, c in FACADES]
    assert {"l1", "psnr", "ssim"} <= h["metrics"].keys()
    assert h["training"].get("device") and h["training"].get("seconds", 0) > 0
    if h["role"] == "live":
        assert h.get("teacher")


@pytest.mark.parametrize("name", FILES)
def test_shipped_models_load_and_run(name):
    ck = load_checkpoint(WEIGHTS / name)
    x = torch.zeros(1, ck.config.input_nc, 256, 256)
    with torch.no_grad():
        y = ck.net(x)
    assert y.shape == (1, 3, 256, 256) and torch.isfinite(y).all()
    if ck.meta["role"] == "live":
        assert count_macs(ck.net, 256) <= 0.5e9  # the live tier's compute budget


def test_the_segmenter_loads_and_is_not_a_generator():
    h = read_header(WEIGHTS / "facades-seg.safetensors")
    assert h["role"] == "segmenter" and h["format"].startswith("sketchpad.segmenter")
    seg = load_segmenter(WEIGHTS / "facades-seg.safetensors")
    assert seg.predict(np.zeros((64, 48, 3), np.uint8)).shape == (64, 48)


@functools.cache
def _mean(root: str, direction: str, holdout: int, size: tuple[int, int]) -> np.ndarray:
    return mean_photo(root, direction=direction, holdout=holdout, size=size)


@pytest.mark.data
@pytest.mark.parametrize("name", FILES)
def test_each_shipped_model_beats_the_mean_photo_on_val(name, shared_data):
    # A handful (6) of val pairs, as the issue asks. weights/README.md gives the whole split, where the
    # CPU-trained facades models are not below the mean photo: the GPU models must make this hold on all.
    task = name.removesuffix(".safetensors").removesuffix("-live")
    root = shared_data / TASKS[task]
    ck = load_checkpoint(WEIGHTS / name)
    r = evaluate(ck, root, "val", limit=6)
    from models.evaluate import load_split

    pairs = load_split(root, "val", direction=ck.meta["direction"], limit=6, meta=ck.meta)
    h, w = pairs[0][2].shape[:2]
    mean = _mean(str(root), ck.meta["direction"], resolve_holdout(root, "val", None, ck.meta), (w, h))
    baseline = float(np.mean([l1(mean, target) for _, _, target in pairs]))
    assert r["l1"] < baseline, f"{name}: L1 {r['l1']:.4f} is not below the mean photo's {baseline:.4f}"


@pytest.mark.parametrize("name", [*FILES, "facades-seg.safetensors"])
def test_each_file_names_the_sketchpad_train_command_that_made_it(name):
    """Every shipped file, the judge too, comes from the one trainer: its header holds the `sketchpad train`
    line(s) that made it, on the data set of its task, for its kind of model."""
    import shlex

    h = read_header(WEIGHTS / name)
    commands = h["training"].get("commands")
    assert commands, f"{name}: no training.commands"
    task = name.removesuffix(".safetensors").removesuffix("-live").removesuffix("-seg")
    for line in commands:
        argv = shlex.split(line)
        assert argv[:2] == ["sketchpad", "train"], line
        opts = dict(zip(argv[2::1], argv[3::1], strict=False))
        assert Path(opts["--data"]).name == TASKS[task], line
        assert opts["--model"] == ("segmenter" if name.endswith("-seg.safetensors") else "pix2pix"), line
        if h.get("role") == "live":
            assert "--teacher" in argv, line


@pytest.mark.data
def test_the_judge_ranks_real_val_photos_first(shared_data):
    """The FCN-score judge segments the real val photos better than the mean photo, than the majority class
    answered everywhere, and than every shipped facades model's output: the issue's 'real photos first'.
    The whole val split (20 pairs), as weights/README.md reports it."""
    root = shared_data / TASKS["facades"]
    seg = WEIGHTS / "facades-seg.safetensors"
    results = {
        name: evaluate(WEIGHTS / name, root, "val", segmenter=seg, baseline=True) for name in FILES[:2]
    }
    first = results[FILES[0]]
    real = first["fcn_pixel_acc_real"]
    assert real > first["baseline_mean_photo"]["fcn_pixel_acc"] + 0.1
    assert real > first["baseline_majority_class"]["pixel_acc"] + 0.1
    for name, r in results.items():
        assert r["fcn_pixel_acc_real"] == real
        assert r["fcn_pixel_acc"] < real, (
            f"{name}: the judge scores it {r['fcn_pixel_acc']:.3f}, real {real:.3f}"
        )
        assert r["fcn_ratio"] >= 0.8, f"{name}: FCN pixel accuracy {r['fcn_ratio']:.2f}x real, under 0.8x"
