"""tools/judge_strip.py: a row per val pair, five tiles each, the judge's tiles painted in palette colours."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image

from models.checkpoint import save_checkpoint
from models.generator import GeneratorConfig, build_generator
from models.palette import FACADES, colors
from models.segmenter import SegmenterConfig, save_segmenter, segmenter_from_config
from tests.train_data import make_facades

TOOL = Path(__file__).resolve().parent.parent / "tools" / "judge_strip.py"


def test_the_strip_shows_photo_judge_output_judge_labels(tmp_path):
    spec = importlib.util.spec_from_file_location("judge_strip", TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    data = make_facades(tmp_path / "facades", n_val=2)
    meta = {"input_kind": "labels", "direction": "BtoA", "palette": [[n, list(c)] for n, c in FACADES]}
    gen = save_checkpoint(
        tmp_path / "g.safetensors", build_generator(GeneratorConfig(ngf=4, num_downs=5)), meta
    )
    seg = save_segmenter(tmp_path / "s.safetensors", segmenter_from_config(SegmenterConfig(ngf=4)).eval(), {})
    out = tmp_path / "strip.png"
    assert (
        tool.main(
            [str(gen), "--data", str(data), "--segmenter", str(seg), "--pairs", "1", "0", "-o", str(out)]
        )
        == 0
    )
    strip = np.asarray(Image.open(out))
    assert strip.shape == (2 * 64 + 4, 5 * 64 + 4 * 4, 3)
    first = Image.open(data / "val" / "1.png")
    assert np.array_equal(
        strip[:64, :64], np.asarray(first)[:, :64]
    )  # the real photo of the first pair asked
    assert np.array_equal(strip[:64, -64:], np.asarray(first)[:, 64:])  # and its label map
    palette = {tuple(c) for c in colors(FACADES)}
    judged = strip[:64, 68:132].reshape(-1, 3)
    assert {tuple(c) for c in judged} <= palette  # the judge's tile is classes, nothing else
