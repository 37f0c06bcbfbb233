"""The model picker's runs: named with their input kind, local date, epoch and val L1, and still found by
folder name; two runs of one dataset with different input kinds look different."""

from __future__ import annotations

from datetime import datetime

from models.checkpoint import save_checkpoint
from models.generator import GeneratorConfig, build_generator
from sketchpad import models_list, paths


def tiny_run(folder: str, **meta):
    net = build_generator(GeneratorConfig(num_downs=5, ngf=2))
    return save_checkpoint(paths.runs_dir() / folder / "latest.safetensors", net, meta)


def test_runs_are_labelled_with_kind_date_epoch_and_metrics():
    created = "2026-11-25T14:30:07+00:00"
    tiny_run("my-style", input_kind="lineart", created=created, epoch=3, metrics={"val": {"l1": 0.0754}})
    (entry,) = models_list.user_runs()
    local = datetime.fromisoformat(created).astimezone().strftime("%Y-%m-%d %H:%M")  # the user's clock
    assert entry.label == f"run: my-style (line art) · {local} · epoch 3 · val L1 0.075"
    assert entry.input_kind == "lineart" and not entry.damaged
    assert models_list.resolve("my-style", [entry]) is entry


def test_runs_of_different_kinds_are_told_apart_and_odd_headers_are_tolerated():
    tiny_run("facades-a", input_kind="labels", epoch=1)
    tiny_run("facades-b", input_kind="lineart", epoch=1)
    tiny_run("odd", input_kind=None, name=["not", "text"], epoch=True, metrics={"val": {"l1": "low"}})
    labels = {e.path.parent.name: e.label for e in models_list.user_runs()}
    assert labels["facades-a"] == "run: facades-a (label maps) · epoch 1"
    assert labels["facades-b"] == "run: facades-b (line art) · epoch 1"
    assert labels["odd"] == "run: odd"


def test_the_picker_shows_kind_and_damage(qtbot):
    from PySide6.QtCore import Qt

    from sketchpad.widgets.model_picker import ModelPicker

    tiny_run("sketches", input_kind="lineart", epoch=2)
    (paths.runs_dir() / "broken").mkdir()
    (paths.runs_dir() / "broken" / "latest.safetensors").write_bytes(b"\x00" * 3)
    picker = ModelPicker()
    qtbot.addWidget(picker)
    picker.set_entries(models_list.user_runs())
    items = {
        picker.itemText(i): picker.itemData(i, Qt.ItemDataRole.ToolTipRole) for i in range(picker.count())
    }
    assert "translates line art" in items["run: sketches (line art) · epoch 2"]
    assert "Damaged: latest.safetensors" in items["run: broken (damaged)"]
