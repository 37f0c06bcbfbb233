"""The header's "inference" preference in the app and the command line: export keeps and sets it,
translate follows it unless told, and the window's batch-norm box follows each loaded model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.checkpoint import read_header, save_checkpoint
from models.generator import GeneratorConfig, build_generator
from models.imageio import load_image, save_png
from models.inference import Translator
from sketchpad.cli import main

PREFERS = {"bn_stats": "image", "fit": "resize"}


def tiny(path, inference=None, *, num_downs=5, seed=0):
    """A tiny batch-norm U-Net of known weights, trained (its header says) at 64 px."""
    torch.manual_seed(seed)
    net = build_generator(GeneratorConfig(num_downs=num_downs, ngf=4), init_type="kaiming")
    meta = {"name": path.stem, "size": 64, "input_kind": "lineart"}
    if inference is not None:
        meta["inference"] = inference
    return save_checkpoint(path, net, meta)


def test_export_keeps_the_field_and_its_flags_set_it(tmp_path):
    src = tiny(tmp_path / "g.safetensors", PREFERS)
    kept, set_ = tmp_path / "kept.safetensors", tmp_path / "set.safetensors"
    assert main(["export", str(src), "-o", str(kept)]) == 0
    assert read_header(kept)["inference"] == PREFERS
    assert main(["export", str(src), "-o", str(set_), "--bn-stats", "running"]) == 0
    assert read_header(set_)["inference"] == {"bn_stats": "running", "fit": "resize"}
    plain, both = tiny(tmp_path / "plain.safetensors"), tmp_path / "both.safetensors"
    assert "inference" not in read_header(plain)
    assert main(["export", str(plain), "-o", str(both), "--bn-stats", "image", "--fit", "resize"]) == 0
    assert read_header(both)["inference"] == PREFERS


def test_export_fit_goes_with_a_safetensors_output(tmp_path, capsys):
    src = tiny(tmp_path / "g.safetensors")
    assert main(["export", str(src), "--onnx", str(tmp_path / "g.onnx"), "--fit", "resize"]) != 0
    assert "--fit goes with -o" in capsys.readouterr().err


def test_translate_follows_the_preference_unless_told(tmp_path):
    prefers = tiny(tmp_path / "prefers.safetensors", PREFERS)
    rng = np.random.default_rng(0)
    save_png(tmp_path / "d.png", rng.integers(0, 256, (40, 56, 3), dtype=np.uint8))
    img = load_image(tmp_path / "d.png", channels=3)
    outs = {}
    for name, flags in (("pref", []), ("told", ["--bn-stats", "running", "--fit", "pad"])):
        out = tmp_path / f"{name}.png"
        assert (
            main(
                [
                    "translate",
                    str(prefers),
                    str(tmp_path / "d.png"),
                    "-o",
                    str(out),
                    "--device",
                    "cpu",
                    *flags,
                ]
            )
            == 0
        )
        outs[name] = load_image(out, channels=3)
    plain = tiny(tmp_path / "plain.safetensors")
    assert np.array_equal(outs["pref"], Translator(plain, device="cpu", bn_stats="image", fit="resize")(img))
    assert np.array_equal(outs["told"], Translator(plain, device="cpu")(img))
    assert not np.array_equal(outs["pref"], outs["told"])


@pytest.mark.gui
def test_the_bn_box_follows_each_loaded_model(qtbot, tmp_path):
    from sketchpad.window import MainWindow

    image_a = tiny(tmp_path / "a.safetensors", PREFERS, num_downs=6)
    image_b = tiny(tmp_path / "b.safetensors", {"bn_stats": "image"}, num_downs=6, seed=1)
    running = tiny(tmp_path / "r.safetensors", num_downs=6, seed=2)
    w = MainWindow(str(running), device="cpu", backend="torch", prompts=False)
    qtbot.addWidget(w)
    try:
        assert w.model_loader.wait(60)
        assert (w.bn_box.currentData(), w.live.bn_stats) == ("running", "running")
        assert w.load_model(str(image_a), wait=True)
        assert (w.bn_box.currentData(), w.live.bn_stats) == ("image", "image")
        assert w.model_loader.current.full.fit == "resize"  # the app's Translator runs at its fit too
        w.bn_box.setCurrentIndex(w.bn_box.findData("running"))  # the user's choice wins ...
        assert w.live.bn_stats == "running"
        assert w.load_model(str(image_a), wait=True)  # ... over the same model loaded again
        assert (w.bn_box.currentData(), w.live.bn_stats) == ("running", "running")
        assert w.load_model(str(image_b), wait=True)  # until another model comes
        assert (w.bn_box.currentData(), w.live.bn_stats) == ("image", "image")
        assert w.load_model(str(running), wait=True)
        assert (w.bn_box.currentData(), w.live.bn_stats) == ("running", "running")
    finally:
        w.shutdown(clean=True)
