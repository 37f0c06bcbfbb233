"""The model picker's runs: named with their date, epoch and val L1, and still found by folder name."""

from __future__ import annotations

from models.checkpoint import save_checkpoint
from models.generator import GeneratorConfig, build_generator
from sketchpad import models_list, paths


def test_runs_are_labelled_with_date_epoch_and_metrics():
    run = paths.runs_dir() / "my-style"
    meta = {
        "created": "2026-11-25T14:30:07+00:00",
        "epoch": 3,
        "metrics": {"val": {"l1": 0.0754, "psnr": 20.0}},
    }
    save_checkpoint(run / "latest.safetensors", build_generator(GeneratorConfig(num_downs=5, ngf=2)), meta)
    (entry,) = models_list.user_runs()
    assert entry.label == "run: my-style · 2026-11-25 14:30 · epoch 3 · val L1 0.075"
    assert models_list.resolve("my-style", [entry]) is entry
