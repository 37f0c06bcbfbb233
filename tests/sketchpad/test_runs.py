"""Run folders as a careless user or a crash leaves them: a missing or garbage options.json, a truncated
metrics.jsonl, a zero-byte or corrupt checkpoint, a folder without permission, a name that is not UTF-8.
Every listing (runs, the model picker's entries, the panel's "Start from") loads; the bad run is marked
or left out, never an exception."""

from __future__ import annotations

import ctypes
import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from models.checkpoint import save_checkpoint
from models.generator import GeneratorConfig, build_generator
from sketchpad import models_list, paths
from sketchpad.runs import delete_run, display_name, list_runs, read_run, rename_run


def tiny_checkpoint(path: Path, **meta) -> Path:
    net = build_generator(GeneratorConfig(num_downs=5, ngf=2, input_nc=meta.pop("input_nc", 3)))
    return save_checkpoint(path, net, {"input_kind": "lineart", "epoch": 2, **meta})


def good_run(root: Path, name: str = "good") -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "options.json").write_text(json.dumps({"model": "pix2pix", "input_kind": "lineart"}))
    events = [
        {"event": "start", "epoch": 1, "iter": 0, "model": "pix2pix"},
        {"event": "step", "epoch": 2, "iter": 10, "total_iters": 20, "losses": {"G_L1": 9.5}},
        {"event": "val", "epoch": 2, "l1": 0.0831},
    ]
    (d / "metrics.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    tiny_checkpoint(d / "latest.safetensors")
    return d


@contextmanager
def without_root_override():
    """Make permissions bind on this thread even for root: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH
    from the effective set (kept in the permitted set, so they come back after)."""
    if os.geteuid() != 0:
        yield
        return
    if not sys.platform.startswith("linux"):
        pytest.skip("running as root on a system where capabilities cannot be dropped")

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [
            ("effective", ctypes.c_uint32),
            ("permitted", ctypes.c_uint32),
            ("inheritable", ctypes.c_uint32),
        ]

    libc = ctypes.CDLL(None, use_errno=True)
    data = (Data * 2)()
    if libc.capget(ctypes.byref(Header(0x20080522, 0)), data) != 0:
        pytest.skip("capget failed: cannot make permissions bind for root")
    saved = data[0].effective
    data[0].effective &= ~((1 << 1) | (1 << 2))  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
    if libc.capset(ctypes.byref(Header(0x20080522, 0)), data) != 0:
        pytest.skip("capset failed: cannot make permissions bind for root")
    try:
        yield
    finally:
        data[0].effective = saved
        libc.capset(ctypes.byref(Header(0x20080522, 0)), data)


@pytest.fixture
def locked_run(tmp_path):
    """A run folder with mode 000, its permissions restored after the test (so tmp_path can be removed)."""
    d = good_run(paths.runs_dir(), "locked")
    d.chmod(0)
    yield d
    d.chmod(0o755)


def test_a_good_run_reads_whole():
    d = good_run(paths.runs_dir())
    (r,) = list_runs()
    assert (r.path, r.model, r.input_kind, r.epoch, r.iter, r.total_iters) == (
        d,
        "pix2pix",
        "lineart",
        2,
        10,
        20,
    )
    assert r.metrics_text() == "val L1 0.083"
    assert r.checkpoint == d / "latest.safetensors" and not r.damaged


@pytest.mark.parametrize(
    "options",
    [None, b"", b"{not json", b"\xff\xfe garbage", b"[1, 2, 3]", b"[" * 100_000, b'{"model": {"a": [1]}}'],
)
def test_options_json_missing_or_garbage(options):
    d = good_run(paths.runs_dir())
    if options is None:
        (d / "options.json").unlink()
    else:
        (d / "options.json").write_bytes(options)
    (r,) = list_runs()
    assert r.path == d and r.iter == 10 and r.checkpoint is not None  # the rest of the run still reads
    if options is None:
        assert not r.damaged
    elif options != b'{"model": {"a": [1]}}':
        assert "options.json" in r.damaged


def test_truncated_and_hand_edited_metrics():
    d = good_run(paths.runs_dir())
    with open(d / "metrics.jsonl", "ab") as f:
        f.write(b'{"event": "step", "epoch": "two", "iter": [3], "losses": "G_L1", "total_iters": NaN}\n')
        f.write(b'{"event": "val", "l1": "low", "psnr": Infinity}\n')
        f.write(b"\xff\xfe\n" + b"[" * 50_000 + b"\n")
        f.write(b'{"event": "step", "epoch": 3, "iter": 12, "los')  # cut by a crash mid-write
    (r,) = list_runs()
    assert (r.epoch, r.iter) == (2, 10) and r.losses == {} and r.metrics_text() == ""
    assert not r.damaged  # a log with bad lines is still a run; the bad lines are skipped


@pytest.mark.parametrize(
    "content", [b"", b"\x00" * 7, b"\xff" * 64, b"\x08\x00\x00\x00\x00\x00\x00\x00{bad json"]
)
def test_zero_byte_or_corrupt_checkpoint_is_marked_damaged(qtbot, content):
    d = good_run(paths.runs_dir())
    (d / "latest.safetensors").write_bytes(content)
    (r,) = list_runs()
    assert r.checkpoint is None and "latest.safetensors is damaged" in r.damaged and r.iter == 10
    (entry,) = models_list.user_runs()
    assert entry.label.endswith("(damaged)") and entry.damaged
    entries = models_list.discover()  # what the app starts with
    assert any(e.damaged for e in entries)

    from sketchpad.widgets.runs_list import RunsList

    runs = RunsList()
    qtbot.addWidget(runs)
    runs.select(d)
    item = runs.tree.selectedItems()[0]
    assert item.text(0) == "good (damaged)" and "latest.safetensors" in item.toolTip(0)
    assert not runs.use_btn.isEnabled() and runs.rename_btn.isEnabled()


def test_a_checkpoint_header_of_deeply_nested_json():
    d = good_run(paths.runs_dir())
    body = b"[" * 200_000 + b"]" * 200_000
    (d / "latest.safetensors").write_bytes(len(body).to_bytes(8, "little") + body)
    (r,) = list_runs()
    assert "damaged" in r.damaged
    assert models_list.user_runs()[0].damaged


def test_a_folder_without_permission_is_listed_as_damaged(qtbot, locked_run):
    good_run(paths.runs_dir(), "fine")
    with without_root_override():
        runs = {r.name: r for r in list_runs()}
        entries = models_list.user_runs()
        from sketchpad.widgets.runs_list import RunsList

        widget = RunsList()
        qtbot.addWidget(widget)
    assert set(runs) == {"locked", "fine"} and not runs["fine"].damaged
    assert runs["locked"].checkpoint is None and not runs["locked"].resumable
    assert [e.label.split(" ")[1] for e in entries] == ["fine"]  # the picker cannot see into it
    assert widget.tree.topLevelItemCount() == 2


def test_an_unreadable_runs_folder_lists_nothing(monkeypatch, tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    monkeypatch.setenv("SKETCHPAD_DATA_DIR", str(not_a_folder))
    assert list_runs() == [] and models_list.user_runs() == []
    assert list_runs(tmp_path / "missing") == []


@pytest.mark.skipif(sys.platform != "linux", reason="file names are bytes on Linux only")
def test_a_folder_name_that_is_not_utf8(qtbot):
    name = os.fsdecode(b"caf\xe9-run")  # Latin-1: a surrogate escape in Python, unrepresentable in Qt
    d = good_run(paths.runs_dir(), name)
    good_run(paths.runs_dir(), "plain")
    (r,) = [r for r in list_runs() if r.path == d]
    assert r.display_name == "caf\ufffd-run" and "not valid UTF-8" in r.damaged
    assert [e.path.parent.name for e in models_list.user_runs()] == ["plain"]  # left out of the picker

    from sketchpad.widgets.runs_list import RunsList

    runs = RunsList()
    qtbot.addWidget(runs)
    runs.select(d)
    assert runs.tree.selectedItems()[0].text(0) == "caf\ufffd-run (damaged)"
    assert not runs.use_btn.isEnabled() and runs.rename_btn.isEnabled()
    runs.ask_name = lambda current: "cafe run"  # renaming it makes it usable
    with qtbot.waitSignal(runs.changed):
        runs.rename_btn.click()
    assert (paths.runs_dir() / "cafe_run").is_dir() and runs.use_btn.isEnabled()
    assert display_name(name) == "caf\ufffd-run"


def test_rename_and_delete_refuse_cleanly(tmp_path):
    d = good_run(paths.runs_dir(), "a")
    good_run(paths.runs_dir(), "b")
    with pytest.raises(Exception, match="already exists"):
        rename_run(d, "b")
    (tmp_path / "precious").mkdir()
    with pytest.raises(Exception, match="not a training run"):
        delete_run(tmp_path / "precious")
    assert read_run(d).name == "a"


@pytest.mark.gui
def test_the_app_starts_and_lists_whatever_the_run_folders_hold(qtbot, locked_run):
    from sketchpad import settings
    from sketchpad.window import MainWindow

    root = paths.runs_dir()
    good_run(root, "fine")
    (good_run(root, "no-options") / "options.json").unlink()
    (good_run(root, "garbage-options") / "options.json").write_bytes(b"\x00\xff{")
    (good_run(root, "cut-log") / "metrics.jsonl").write_bytes(b'{"event": "step", "ep')
    (good_run(root, "empty-ckpt") / "latest.safetensors").write_bytes(b"")
    (good_run(root, "bad-ckpt") / "latest.safetensors").write_bytes(b"\xff" * 100)
    if sys.platform == "linux":
        good_run(root, os.fsdecode(b"\xe9t\xe9"))
    settings.put("model", str(root / "empty-ckpt" / "latest.safetensors"))  # remembered, now damaged
    with without_root_override():
        w = MainWindow(prompts=False, restore="no")
        qtbot.addWidget(w)
        try:
            panel = w.show_training_panel()
            listed = {r.display_name for r in panel.runs.runs}
            picker = [w.model_picker.itemText(i) for i in range(w.model_picker.count())]
            starts = [panel.recipe.init_combo.itemText(i) for i in range(panel.recipe.init_combo.count())]
        finally:
            w.shutdown()
    assert {"fine", "no-options", "garbage-options", "cut-log", "empty-ckpt", "bad-ckpt", "locked"} <= listed
    assert any(t.startswith("run: empty-ckpt") and t.endswith("(damaged)") for t in picker)
    assert any(t.startswith("run: fine") for t in starts)
    assert not any("damaged" in t or "empty-ckpt" in t for t in starts)  # nothing to fine-tune from
    assert w.model_entry is not None and not w.model_entry.damaged
