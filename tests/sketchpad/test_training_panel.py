"""The training panel, with a real trainer in a real child process: it trains a tiny model, the loss plot
and the sample grid update, pause and resume continue the same run, the newest checkpoint goes into a real
MainWindow's live view, and a broken dataset lists its problems and never starts. "Start from" follows the
live view's model and must fit the dataset's kind of drawings; a run never switches the drawing's kind
without asking; a finished run is offered everywhere at once."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt

from models.checkpoint import read_header, save_checkpoint
from models.generator import GeneratorConfig, build_generator
from models.imageio import load_image
from sketchpad import paths
from sketchpad.runs import RunError, delete_run
from sketchpad.widgets.loss_plot import LossPlot, ema
from sketchpad.widgets.runs_list import RunsList
from sketchpad.widgets.training_panel import SCRATCH, TrainingPanel
from tests.train_data import make_sketch_pairs

pytestmark = pytest.mark.gui

# No --sample-every: the panel shows samples at the trainer's own cadence (about every tenth of a run, and
# at its end), which is what a user's run gets.
TINY = "--num-downs 5 --ngf 4 --ndf 4 --crop-size 32 --load-size 32 --num-workers 0 --save-every-iters 2"


@pytest.fixture
def window(qtbot):
    from sketchpad.window import MainWindow

    w = MainWindow(prompts=False, restore="no")
    qtbot.addWidget(w)
    yield w
    w.shutdown()


@pytest.fixture
def panel(qtbot, window):
    p = window.show_training_panel()  # the window's hook: made on first use, docked
    assert isinstance(p, TrainingPanel) and window.show_training_panel() is p
    window.show()
    yield p
    if p.proc.is_running():
        p.proc.kill()
        p.proc.wait(10_000)


def check(qtbot, panel, folder) -> None:
    panel.dataset.set_dataset(str(folder))
    qtbot.waitUntil(lambda: panel.report is not None, timeout=20_000)


def fake_trainer(tmp_path: Path) -> str:
    """A stand-in `python` that starts a run at once and answers SIGTERM as the real trainer does."""
    if sys.platform == "win32":
        pytest.skip("the stand-in trainer is a shell script")
    exe = tmp_path / "fake-python"
    exe.write_text(
        "#!/bin/sh\n"
        'trap \'echo "{\\"event\\": \\"stopped\\", \\"iter\\": 3}"; exit 0\' TERM\n'
        'echo \'{"event": "start", "run": "R", "epoch": 1, "iter": 0}\'\n'
        "while true; do sleep 0.05; done\n"
    )
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return str(exe)


@pytest.fixture
def bare(qtbot):
    """A panel without a window: only what it is given and the signals it emits."""
    p = TrainingPanel(prompts=False)
    qtbot.addWidget(p)
    yield p
    if p.proc.is_running():
        p.proc.kill()
        p.proc.wait(10_000)
    p.shutdown()


def load(qtbot, window, name: str) -> None:
    """Put a model into the live view and wait until it is there (the window may load it in a worker)."""
    with qtbot.waitSignal(window.model_changed, timeout=30_000):
        assert window.load_model(name)


def save_shot(widget, tmp_path, name: str) -> Path:
    out = tmp_path / name
    assert widget.grab().save(str(out))
    if os.environ.get("SKETCHPAD_TEST_SHOTS"):  # to look at it by hand
        widget.grab().save(str(Path(os.environ["SKETCHPAD_TEST_SHOTS"]) / name))
    return out


@pytest.mark.slow
def test_trains_pauses_resumes_and_hot_swaps(qtbot, tmp_path, window, panel):
    load(qtbot, window, "faces")  # line art in the live view, as the pairs below
    data = make_sketch_pairs(tmp_path / "pairs")
    check(qtbot, panel, data)
    assert panel.report.format == "paired" and panel.dataset.data_kind.kind == "lineart"
    assert panel.controls.start_btn.isEnabled(), panel.dataset.report_view.toPlainText()
    panel.recipe.set_init(SCRATCH)
    panel.recipe.holdout.setValue(2)
    panel.recipe.name_edit.setText("tiny run")
    panel.recipe.extra_edit.setText(TINY + " --max-iters 8")
    proc = panel.proc

    qtbot.mouseClick(panel.controls.start_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.watch.samples_seen >= 2, timeout=90_000)  # shown as they arrive
    assert panel.is_training() and panel.run_dir.name == "tiny_run"
    assert panel.watch.plot.points("G_L1") >= 2 and set(panel.watch.plot.names()) >= {
        "G_GAN",
        "G_L1",
        "D_real",
        "D_fake",
    }
    assert panel.watch.samples_seen >= 1 and not panel.watch.sample_view.pixmap().isNull()
    assert panel.controls.progress.maximum() == 8 and panel.controls.progress.value() >= 2
    assert panel.controls.pause_btn.isEnabled() and not panel.controls.start_btn.isEnabled()
    panel.watch.plot.flush()
    assert len(panel.watch.plot.curve("G_L1").getData()[0]) >= 2
    shot = save_shot(panel, tmp_path, "training-panel.png")
    with Image.open(shot) as im:
        assert im.size[0] > 200

    with qtbot.waitSignal(proc.stopped, timeout=60_000) as stopped:
        qtbot.mouseClick(panel.controls.pause_btn, Qt.MouseButton.LeftButton)
    paused_at = stopped.args[0]["iter"]
    assert 2 <= paused_at < 8 and panel.controls.resume_btn.isEnabled() and not panel.is_training()
    points_before = panel.watch.plot.points("G_L1")

    with qtbot.waitSignal(proc.started, timeout=60_000) as started:
        qtbot.mouseClick(panel.controls.resume_btn, Qt.MouseButton.LeftButton)
    assert started.args[0]["resumed"] and started.args[0]["iter"] == paused_at
    with qtbot.waitSignal(proc.finished, timeout=90_000) as done:
        pass
    assert done.args[0]["iter"] == 8 and panel.watch.plot.points("G_L1") > points_before
    # Samples as they came, a tenth of the run apart (every iteration of 8) and the last one at the end.
    assert panel.watch.samples_seen >= 8 and "iteration 8 of 8" in panel.watch.sample_caption.text()
    assert not panel.watch.sample_view.source().isNull() and panel.watch.history.count() > 1
    assert panel.watch.last_sample.endswith(".png") and Path(panel.watch.last_sample).is_file()
    ckpt = panel.run_dir / "latest.safetensors"
    assert read_header(ckpt)["input_kind"] == "lineart"  # detected from the pairs, not inherited
    assert json.loads((panel.run_dir / "options.json").read_text())["direction"] == "AtoB"
    # Offered at once, no restart: the runs list, "Start from" and the window's model picker.
    start_from = [panel.recipe.init_combo.itemText(i) for i in range(panel.recipe.init_combo.count())]
    picker = [window.model_picker.itemText(i) for i in range(window.model_picker.count())]
    assert any(t.startswith("run: tiny_run (line art)") for t in start_from), start_from
    assert any(t.startswith("run: tiny_run (line art)") and "epoch" in t for t in picker), picker
    events = [json.loads(ln) for ln in (panel.run_dir / "metrics.jsonl").read_text().splitlines()]
    iters = [e["iter"] for e in events if e["event"] == "step"]
    assert iters == list(range(1, 9))  # one run, its counter continued, no step twice
    assert [e["resumed"] for e in events if e["event"] == "start"] == [False, True]

    # The run is listed; one click puts its checkpoint into the live view, the drawing kept.
    assert any(r.path == panel.run_dir for r in panel.runs.runs)
    with qtbot.waitSignal(window.translation_shown, timeout=20_000):
        window.canvas.set_image_array(np.full((*window.canvas.image_size()[::-1], 3), 255, np.uint8))
    before = window.current_result().copy()
    drawing = window.canvas.image_array()
    panel.confirm = lambda text: pytest.fail(f"asked: {text}")  # the same kind: nothing to ask
    with qtbot.waitSignal(window.translation_shown, timeout=20_000):
        assert panel.controls.use_btn.isEnabled()
        qtbot.mouseClick(panel.controls.use_btn, Qt.MouseButton.LeftButton)
    assert window.model_entry.path == ckpt.resolve()
    after = window.current_result()
    assert after.shape[:2] == before.shape[:2] and np.abs(after.astype(int) - before.astype(int)).mean() > 1
    assert (window.canvas.image_array() == drawing).all() and window.canvas.kind() == "lineart"
    assert panel.recipe.init_path() == str(
        ckpt.resolve()
    )  # "Start from" follows the live view: continue from it


def test_start_checks_the_dataset_in_a_worker_and_a_second_start_does_nothing(qtbot, tmp_path, bare):
    data = make_sketch_pairs(tmp_path / "pairs", n=4)
    (data / "train" / "B" / "pair1.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    bare.dataset.data_edit.setText(str(data))  # typed, not checked yet
    assert bare.start() is False
    assert bare.report is None and bare.dataset.checking() == str(data)  # the check is not on the UI thread
    assert "Checking" in bare.dataset.report_view.toPlainText()
    checks = bare.dataset.checks
    assert bare.start() is False and bare.dataset.checks == checks  # a second Start while checking
    with qtbot.waitSignal(bare.dataset_checked, timeout=20_000):
        pass
    assert "pair1.png" in bare.dataset.report_view.toPlainText() and not bare.is_training()
    assert bare.controls.error.isVisibleTo(bare) and "1 problem files" in bare.controls.error.text()
    assert bare.dataset.checks == checks and not bare.dataset.checking()


def test_start_launches_the_run_when_the_check_arrives(qtbot, tmp_path, bare):
    bare.proc.python = fake_trainer(tmp_path)
    bare.dataset.data_edit.setText(str(make_sketch_pairs(tmp_path / "pairs")))
    with qtbot.waitSignal(bare.proc.started, timeout=30_000):
        assert bare.start() is False and bare.start() is False
    assert bare.is_training() and bare.dataset.checks == 1 and bare.report.format == "paired"
    assert bare.tabs.currentWidget() is bare.watch and not bare.controls.start_btn.isEnabled()


def test_the_panel_asks_the_window_through_signals(qtbot, tmp_path, bare):
    from sketchpad import models_list
    from sketchpad.widgets.canvas import Canvas

    ckpt = str(tiny_run("sketchy", "lineart"))
    assert not bare.dataset.trace_btn.isEnabled() and not bare.controls.use_btn.isEnabled()
    assert bare.use_checkpoint(ckpt) is False and "no live view" in bare.controls.error.text()
    canvas = Canvas((64, 64))
    qtbot.addWidget(canvas)
    bare.set_canvas(canvas)
    assert bare.dataset.trace_btn.isEnabled()
    photo = tmp_path / "cat.png"
    Image.new("RGB", (80, 40), (200, 120, 40)).save(photo)
    with qtbot.waitSignal(bare.underlay_shown) as shown:
        assert bare.trace_photo(str(photo))
    assert shown.args == [str(photo)] and canvas.has_underlay() and bare.dataset.save_pair_btn.isEnabled()

    with qtbot.waitSignal(bare.use_model_requested) as asked, qtbot.assertNotEmitted(bare.model_loaded):
        assert bare.use_checkpoint(ckpt)  # asked for; nothing answered, so not in the live view
    assert asked.args == [ckpt]
    # A window answers with the live model; "Start from" follows it, and the panel says it is in use.
    bare.use_model_requested.connect(lambda p: bare.set_live_model(models_list.resolve(p, [])))
    with qtbot.waitSignal(bare.model_loaded):
        assert bare.use_checkpoint(ckpt)
    assert Path(bare.recipe.init_path()).resolve() == Path(ckpt).resolve()


def test_broken_dataset_lists_its_problems_and_does_not_start(qtbot, tmp_path, panel):
    data = make_sketch_pairs(tmp_path / "pairs", n=4)
    (data / "train" / "B" / "pair1.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    Image.new("L", (32, 32), 255).save(data / "train" / "A" / "lonely.png")
    check(qtbot, panel, data)
    text = panel.dataset.report_view.toPlainText()
    assert "pair1.png" in text and "lonely.png" in text and "Cannot start" in text
    assert not panel.controls.start_btn.isEnabled()
    assert panel.start() is False and not panel.is_training()
    assert panel.controls.error.isVisible() and "2 problem files" in panel.controls.error.text()
    # Offered, never silently done: training without the listed files is an explicit choice.
    assert panel.dataset.skip_bad.isVisibleTo(panel)
    panel.dataset.skip_bad.setChecked(True)
    panel.recipe.set_init(SCRATCH)  # line-art pairs; the live view's facades model would not fit them
    assert panel.controls.start_btn.isEnabled()


def test_photo_folder_becomes_a_lineart_dataset(qtbot, tmp_path, panel):
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(1)
    for i in range(3):
        img = np.full((48, 64, 3), 235, np.uint8)
        img[10:30, 12 + 8 * i : 40 + 8 * i] = rng.integers(0, 150, 3)
        Image.fromarray(img).save(photos / f"photo {i}.jpg")
    check(qtbot, panel, photos)
    assert panel.report.format == "folder" and not panel.controls.start_btn.isEnabled()
    assert "make a line-art dataset" in panel.dataset.report_view.toPlainText()
    dlg = panel.dataset.open_make_dialog()
    qtbot.addWidget(dlg)
    assert dlg.photos_edit.text() == str(photos) and dlg.out_edit.text() == str(tmp_path / "photos-lineart")
    thin = dlg.preview_lineart()
    dlg.thickness.setValue(10)  # 5 px
    thick = dlg.preview_lineart()
    assert (thick < 128).sum() > 2 * (thin < 128).sum()
    assert not dlg.preview_lines.pixmap().isNull()
    with qtbot.waitSignal(dlg.made, timeout=30_000):
        qtbot.mouseClick(dlg.make_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.report is not None and panel.report.format == "paired", timeout=20_000)
    assert panel.report.counts["train"] == {"A": 3, "B": 3} and panel.dataset.data_kind.kind == "lineart"
    assert not panel.controls.start_btn.isEnabled() and panel.recipe.fit_offer_btn.isVisibleTo(
        panel
    )  # facades is live
    qtbot.mouseClick(panel.recipe.fit_offer_btn, Qt.MouseButton.LeftButton)
    assert panel.controls.start_btn.isEnabled()


def test_trace_a_photo_and_save_the_pair(qtbot, tmp_path, window, panel):
    data = make_sketch_pairs(tmp_path / "pairs", n=2)
    check(qtbot, panel, data)
    photo = tmp_path / "cat.png"
    Image.fromarray(np.tile(np.linspace(0, 255, 80, dtype=np.uint8), (40, 1))).convert("RGB").save(photo)
    assert not panel.dataset.save_pair_btn.isEnabled()
    assert panel.trace_photo(str(photo))
    canvas = window.canvas
    w, h = canvas.image_size()
    assert canvas.has_underlay() and abs(w / h - 2.0) < 0.1
    canvas.set_tool("pen")
    t = canvas.view_transform()
    p0, p1 = t.map(QPoint(w // 4, h // 2)), t.map(QPoint(3 * w // 4, h // 2))
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=p0)
    qtbot.mouseMove(canvas, p1)
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=p1)
    drawing = canvas.image_array()
    assert (drawing != drawing[0, 0]).any()
    qtbot.mouseClick(panel.dataset.save_pair_btn, Qt.MouseButton.LeftButton)
    a, b = data / "train" / "A" / "tracing.png", data / "train" / "B" / "tracing.png"
    assert (load_image(a) == drawing).all()
    assert load_image(b).shape[:2] == drawing.shape[:2]
    qtbot.waitUntil(
        lambda: panel.report is not None and panel.report.counts["train"]["A"] == 3, timeout=20_000
    )


def test_runs_list_renames_and_deletes(qtbot, tmp_path):
    root = tmp_path / "runs"
    for name, l1 in (("cats", 0.2), ("dogs", 0.3)):
        d = root / name
        d.mkdir(parents=True)
        (d / "options.json").write_text(json.dumps({"model": "pix2pix"}))
        lines = [
            {"event": "step", "epoch": 2, "iter": 40, "losses": {"G_L1": 9.0}},
            {"event": "val", "l1": l1},
        ]
        (d / "metrics.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))
    runs = RunsList(root=root)
    qtbot.addWidget(runs)
    assert {r.name for r in runs.runs} == {"cats", "dogs"}
    assert runs.tree.topLevelItemCount() == 2
    runs.select(root / "cats")
    assert "val L1 0.200" in runs.tree.selectedItems()[0].text(5)
    runs.ask_name = lambda current: "big cats!"
    with qtbot.waitSignal(runs.changed):
        qtbot.mouseClick(runs.rename_btn, Qt.MouseButton.LeftButton)
    assert (root / "big_cats").is_dir() and not (root / "cats").exists()
    runs.select(root / "dogs")
    runs.set_busy(root / "dogs")  # being trained: not deleted
    assert not runs.delete_btn.isEnabled()
    runs.set_busy(None)
    runs.confirm = lambda text: "dogs" in text
    qtbot.mouseClick(runs.delete_btn, Qt.MouseButton.LeftButton)
    assert not (root / "dogs").exists() and [r.name for r in runs.runs] == ["big_cats"]
    (tmp_path / "precious").mkdir()
    with pytest.raises(RunError):
        delete_run(tmp_path / "precious", root)


def test_loss_plot_curves_and_log_scale(qtbot):
    plot = LossPlot()
    qtbot.addWidget(plot)
    for i in range(1, 6):
        plot.add(i, {"G_L1": 10.0 / i, "D_real": 0.5, "bad": float("nan")})
    assert plot.points("G_L1") == 5 and plot.points("bad") == 0
    plot.log_box.setChecked(True)
    assert plot.is_log() and plot.plot.getPlotItem().ctrl.logYCheck.isChecked()
    smooth = ema(np.array([1.0, 0.0, 0.0]), 0.5)
    assert smooth[0] == 1.0 and 0 < smooth[2] < smooth[1] < 1


def test_closing_the_window_asks_while_training_and_pauses_the_run(qtbot, tmp_path, window, panel):
    panel.proc.python = fake_trainer(tmp_path)
    with qtbot.waitSignal(panel.proc.started, timeout=10_000):
        panel.resume(str(tmp_path))
    asked = []
    panel.confirm = lambda text: asked.append(text) or False  # "keep training"
    window.prompts = True
    window.canvas.set_clean()
    assert not window.close() and panel.is_training() and "Training is running" in asked[0]
    panel.confirm = lambda text: True
    with qtbot.waitSignal(panel.proc.stopped, timeout=10_000):
        assert window.close()
    assert not panel.is_training() and panel.proc.paused


def test_cpu_defaults_follow_the_measured_recipe(qtbot, tmp_path, panel):
    from models.checkpoint import save_checkpoint
    from models.generator import GeneratorConfig, build_generator

    live = save_checkpoint(
        tmp_path / "shoes-live.safetensors",
        build_generator(GeneratorConfig(ngf=4, num_downs=5)),
        {"size": 64},
    )
    panel.recipe.device.setCurrentIndex(panel.recipe.device.findData("cpu"))
    check(qtbot, panel, make_sketch_pairs(tmp_path / "pairs", n=20))
    assert panel.recipe.effective_holdout() == 3
    assert (panel.recipe.epochs.value(), panel.recipe.batch.value()) == (12, 1)  # ~200 iterations on 17 pairs
    assert panel.recipe.lr.value() == pytest.approx(2e-4) and panel.recipe.lam.value() == 100
    panel.recipe.set_init(str(live))
    opts = panel.request()
    assert opts.init == str(live) and opts.crop_size == 64 and opts.num_downs == 5
    assert opts.ndf == 16 and opts.num_workers == 0 and opts.holdout == 3
    assert (opts.n_epochs, opts.n_epochs_decay, opts.lr) == (6, 6, pytest.approx(2e-4))


def test_start_from_defaults_to_the_live_views_model(qtbot, tmp_path, window):
    entry = window.model_entry
    panel = window.show_training_panel()
    want = entry.live_path or entry.path
    if want is None:  # the built-in untrained net: nothing to fine-tune, so scratch
        assert panel.recipe.init_combo.currentData() in (SCRATCH, panel.recipe.init_combo.itemData(0))
    else:
        assert panel.recipe.init_combo.currentData() == str(want)


def test_start_from_follows_the_live_model_and_must_fit_the_dataset(qtbot, tmp_path, window, panel):
    facades_live = str(window.model_entry.live_path)
    assert window.model_entry.label == "facades" and panel.recipe.init_path() == facades_live
    load(qtbot, window, "faces")
    faces_live = str(window.model_entry.live_path)
    assert (
        panel.recipe.init_path() == faces_live
        and "faces · line art · live" in panel.recipe.init_combo.currentText()
    )
    load(qtbot, window, "facades")
    assert panel.recipe.init_path() == facades_live

    # Face sketches with facades in the live view: refused in one line, the right model offered.
    check(qtbot, panel, make_sketch_pairs(tmp_path / "pairs"))
    assert (
        panel.dataset.data_kind.kind == "lineart"
        and "Drawings: line art (A, 1 channel)" in panel.dataset.report_view.toPlainText()
    )
    why = "facades-live translates label maps, but this dataset's drawings are line art"
    assert panel.recipe.fit_box.isVisibleTo(panel) and panel.recipe.fit_note.text() == why
    assert not panel.controls.start_btn.isEnabled() and why in panel.dataset.report_view.toPlainText()
    assert panel.start() is False and not panel.is_training() and why in panel.controls.error.text()
    assert panel.recipe.fit_offer_btn.text() == "Start from faces"
    qtbot.mouseClick(panel.recipe.fit_offer_btn, Qt.MouseButton.LeftButton)
    assert panel.recipe.init_path() == faces_live and panel.controls.start_btn.isEnabled()
    assert (
        not panel.recipe.fit_box.isVisibleTo(panel)
        and "Ready to train" in panel.dataset.report_view.toPlainText()
    )
    opts = panel.request()
    assert opts.input_kind == "lineart" and opts.direction == "AtoB"
    panel.recipe.set_init(facades_live)
    qtbot.mouseClick(panel.recipe.fit_scratch_btn, Qt.MouseButton.LeftButton)
    assert panel.recipe.init_path() == SCRATCH and panel.controls.start_btn.isEnabled()


def tiny_run(name: str, kind: str) -> Path:
    net = build_generator(GeneratorConfig(num_downs=5, ngf=4, input_nc=1 if kind == "lineart" else 3))
    return save_checkpoint(
        paths.runs_dir() / name / "latest.safetensors", net, {"input_kind": kind, "name": name}
    )


def test_use_in_live_view_asks_before_a_run_changes_the_drawing_kind(qtbot, tmp_path, window, panel):
    ckpt = tiny_run("sketchy", "lineart")
    panel.runs.refresh()
    panel.runs.select(ckpt.parent)
    model, drawing = window.model_entry.id, window.canvas.image_array().copy()
    assert window.canvas.kind() == "labels"
    asked = []
    panel.confirm = lambda text: asked.append(text) or False  # "no"
    qtbot.mouseClick(panel.runs.use_btn, Qt.MouseButton.LeftButton)
    assert "sketchy translates line art, but your drawing is a label map" in asked[0]
    assert window.model_entry.id == model and window.canvas.kind() == "labels"
    assert (window.canvas.image_array() == drawing).all()
    panel.confirm = lambda text: True  # "yes": switched, as asked
    with qtbot.waitSignal(panel.model_loaded, timeout=30_000):
        assert panel.use_checkpoint(str(ckpt))
    assert window.model_entry.path == ckpt.resolve()
    asked.clear()
    panel.confirm = lambda text: asked.append(text) or False
    with qtbot.waitSignal(panel.model_loaded, timeout=30_000):
        assert panel.use_checkpoint(str(tiny_run("sketchy2", "lineart")))
    assert not asked  # the same kind: no question
