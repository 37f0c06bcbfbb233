"""The main window with real widgets, real mouse events and tiny real models, offscreen."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from models.checkpoint import save_checkpoint
from models.generator import GeneratorConfig, build_generator
from models.imageio import load_image
from models.inference import Translator
from models.palette import FACADES, colors
from sketchpad import models_list, paths
from sketchpad.live import digest

pytestmark = pytest.mark.gui

LEFT = Qt.MouseButton.LeftButton
NOMOD = Qt.KeyboardModifier.NoModifier


def tiny(path, kind="lineart", ngf=4, seed=0):
    """A small real U-Net checkpoint (num_downs 6: 64-pixel multiples)."""
    torch.manual_seed(seed)
    net = build_generator(GeneratorConfig(ngf=ngf, num_downs=6), init_gain=0.1)
    meta = {"name": path.stem, "input_kind": kind}
    if kind == "labels":
        meta["palette"] = [[n, list(c)] for n, c in FACADES]
    return save_checkpoint(path, net, meta)


@pytest.fixture
def models(tmp_path):
    return {
        "lineart": tiny(tmp_path / "sketch.safetensors"),
        "lineart2": tiny(tmp_path / "sketch2.safetensors", seed=1),
        "labels": tiny(tmp_path / "facade.safetensors", kind="labels"),
    }


@pytest.fixture(params=["torch"])
def window(request, qtbot, models):
    from sketchpad.window import MainWindow

    w = MainWindow(str(models["lineart"]), device="cpu", backend=request.param, prompts=False)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.shutdown(clean=True)


def wpos(c, x, y) -> QPoint:
    return c.view_transform().map(QPointF(x, y)).toPoint()


def drag(qtbot, c, pts):
    ws = [wpos(c, x, y) for x, y in pts]
    qtbot.mousePress(c, LEFT, NOMOD, ws[0])
    for p in ws[1:]:
        ev = QMouseEvent(
            QEvent.Type.MouseMove, QPointF(p), QPointF(c.mapToGlobal(p)), Qt.MouseButton.NoButton, LEFT, NOMOD
        )
        QApplication.sendEvent(c, ev)
    qtbot.mouseRelease(c, LEFT, NOMOD, ws[-1])


def drop(w, path):
    """A real drag-enter and drop of one file on the window."""
    from PySide6.QtCore import QMimeData, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    pos = QPointF(w.width() / 2, w.height() / 2)
    enter = QDragEnterEvent(pos.toPoint(), Qt.DropAction.CopyAction, mime, LEFT, NOMOD)
    QApplication.sendEvent(w, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(w, QDropEvent(pos, Qt.DropAction.CopyAction, mime, LEFT, NOMOD))


def wait_full(qtbot, w, image=None, timeout=10_000):
    """Until the window shows the full-tier result of `image` (default: the canvas now)."""
    want = digest(np.ascontiguousarray(w.canvas.image_array() if image is None else image))

    def done():
        i, c = w.live.last_info, w.live
        return (
            i.get("digest") == want
            and i.get("tier") == "full"
            and i.get("model_id") == c.model_id
            and (i.get("dropout"), i.get("seed"), i.get("bn_stats")) == (c.dropout, c.seed, c.bn_stats)
        )

    qtbot.waitUntil(done, timeout=timeout)


@pytest.mark.parametrize("window", ["torch", "auto"], indirect=True)
def test_strokes_change_the_canvas_and_show_a_translation(qtbot, window, models):
    w = window
    wait_full(qtbot, w)
    before = w.canvas.image_array()
    shown = []
    w.translation_shown.connect(shown.append)
    w.canvas.set_tool("brush")
    drag(qtbot, w.canvas, [(40, 40), (120, 60), (200, 200)])
    after = w.canvas.image_array()
    assert (after != before).any()
    wait_full(qtbot, w)
    assert shown and {"tier", "ms", "request_id"} <= set(shown[-1])
    runner = shown[-1]["runner"]
    assert runner == "torch" if w.backend == "torch" else runner.startswith(("onnx", "torch"))
    ref = Translator(models["lineart"], device="cpu", backend=w.backend)(after)  # the same runner
    assert np.array_equal(w.current_result(), ref)
    assert "ms" in w.status_ms.text() and "full" in w.status_tier.text()


def test_a_flood_of_changes_keeps_one_pending_and_ends_with_the_last_drawing(qtbot, window, models):
    w = window
    wait_full(qtbot, w)
    w.live.worker.before_run = lambda req: time.sleep(0.02)  # a slow model
    rng = np.random.default_rng(0)
    base = np.full((256, 256, 3), 255, np.uint8)
    for i in range(200):
        d = base.copy()
        y, x = rng.integers(0, 240, 2)
        d[y : y + 16, x : x + 16] = 0
        w.canvas.set_image_array(d)
        assert w.live.pending_count() <= 1
        if i % 10 == 0:
            qtbot.wait(5)
    final = w.canvas.image_array()
    wait_full(qtbot, w, final)
    assert w.live.max_pending_seen <= 1
    assert w.live.replaced > 0
    assert w.live.worker.runs < 200
    ref = Translator(models["lineart"], device="cpu")(final)
    assert np.array_equal(w.current_result(), ref)


def test_undo_redo_round_trip_through_the_window(qtbot, window):
    w = window
    blank = w.canvas.image_array()
    w.canvas.set_tool("brush")
    drag(qtbot, w.canvas, [(30, 30), (100, 100)])
    drawn = w.canvas.image_array()
    assert (drawn != blank).any()
    assert w.windowTitle().startswith("Untitled*")
    w.act_undo.trigger()
    assert np.array_equal(w.canvas.image_array(), blank)
    w.act_redo.trigger()
    assert np.array_equal(w.canvas.image_array(), drawn)
    wait_full(qtbot, w)


def test_switching_models_of_one_kind_keeps_the_drawing(qtbot, window, models):
    w = window
    w.canvas.set_tool("brush")
    drag(qtbot, w.canvas, [(30, 30), (200, 120)])
    drawing = w.canvas.image_array()
    assert w.load_model(str(models["lineart2"]), wait=True)
    assert np.array_equal(w.canvas.image_array(), drawing)
    wait_full(qtbot, w)
    assert np.array_equal(w.current_result(), Translator(models["lineart2"], device="cpu")(drawing))


def test_the_drawing_and_the_old_model_carry_on_while_a_model_loads(qtbot, window, models):
    w = window
    wait_full(qtbot, w)
    old = w.model_entry.id
    gate = threading.Event()
    w.model_loader.before_read = lambda entry: gate.wait(30)  # a slow disk
    changed = []
    w.model_changed.connect(changed.append)
    try:
        assert w.load_model(str(models["lineart2"]))  # returns at once; the file is read elsewhere
        assert w.statusBar().currentMessage().startswith("Loading ")
        w.canvas.set_tool("brush")
        drag(qtbot, w.canvas, [(30, 30), (200, 120)])  # the canvas takes real strokes meanwhile
        drawing = w.canvas.image_array()
        assert (drawing != 255).any()
        wait_full(qtbot, w)  # ... translated by the model still in use
        assert w.model_entry.id == old and w.live.model_id == old and not changed
        assert np.array_equal(w.current_result(), Translator(models["lineart"], device="cpu")(drawing))
    finally:
        gate.set()
    qtbot.waitUntil(lambda: changed == [str(models["lineart2"].resolve())], timeout=10_000)
    assert np.array_equal(w.canvas.image_array(), drawing) and w.canvas.is_modified()
    wait_full(qtbot, w)
    assert np.array_equal(w.current_result(), Translator(models["lineart2"], device="cpu")(drawing))


def test_one_drawing_per_kind_each_with_its_undo(qtbot, window, models):
    w = window
    w.canvas.set_tool("brush")
    drag(qtbot, w.canvas, [(30, 30), (200, 120)])
    sketch = w.canvas.image_array()
    assert w.load_model(str(models["labels"]), wait=True)
    # The sketch is put away, not snapped onto the palette: a label map of its own starts (a plain wall).
    assert w.canvas.kind() == "labels" and (w.canvas.image_array() == FACADES[0][1]).all()
    assert w.drawing_title.text().startswith("Drawing — label map")
    assert w.palette_bar.palette_colors() == FACADES
    assert w.model_picker.current_id() == w.model_entry.id
    wait_full(qtbot, w)
    assert np.array_equal(
        w.current_result(), Translator(models["labels"], device="cpu")(w.canvas.image_array())
    )
    w.canvas.set_tool("rect")
    drag(qtbot, w.canvas, [(40, 40), (120, 100)])
    labels = w.canvas.image_array()
    w.act_undo.trigger()  # the label map's own history: the sketch never comes back through undo
    assert w.canvas.kind() == "labels" and w.drawing_title.text().startswith("Drawing — label map")
    assert (w.canvas.image_array() == FACADES[0][1]).all()
    w.act_redo.trigger()
    assert w.convert_actions["lineart"].isVisible()  # a line-art drawing is kept
    assert w.convert_actions["lineart"].text() == "Convert line art drawing to label map"
    assert not w.convert_actions["labels"].isVisible()

    assert w.load_model(str(models["lineart"]), wait=True)  # back: the sketch and its undo history return
    assert w.canvas.kind() == "lineart" and np.array_equal(w.canvas.image_array(), sketch)
    assert w.drawing_title.text().startswith("Drawing — line art")
    wait_full(qtbot, w)
    assert np.array_equal(w.current_result(), Translator(models["lineart"], device="cpu")(sketch))
    w.act_undo.trigger()
    assert (w.canvas.image_array() == 255).all()
    w.act_redo.trigger()
    assert np.array_equal(w.canvas.image_array(), sketch)

    # Converting is a command: the label map's outlines replace the sketch, as one undo step.
    assert w.convert_actions["labels"].text() == "Convert label map drawing to line art"
    w.convert_actions["labels"].trigger()
    lines = w.canvas.image_array()
    assert set(np.unique(lines)) == {0, 255} and not np.array_equal(lines, sketch)
    assert w.canvas.kind() == "lineart" and w.drawing_title.text().startswith("Drawing — line art")
    w.act_undo.trigger()
    assert np.array_equal(w.canvas.image_array(), sketch)
    assert w.load_model(str(models["labels"]), wait=True)
    assert np.array_equal(w.canvas.image_array(), labels)  # converting never touched the label map
    wait_full(qtbot, w)


def test_label_painting_keeps_only_palette_colours(qtbot, window, models):
    w = window
    w.load_model(str(models["labels"]), wait=True)
    w.canvas.set_tool("brush")
    w.palette_bar.buttons()[FACADES[2][1]].click()  # window class
    drag(qtbot, w.canvas, [(20, 20), (90, 150), (220, 30)])
    a = w.canvas.image_array().reshape(-1, 3)
    allowed = {tuple(c) for c in colors(FACADES)}
    assert {tuple(p) for p in np.unique(a, axis=0)} <= allowed
    assert (a == FACADES[2][1]).all(1).any()


def test_a_corrupt_image_and_checkpoint_give_messages_and_the_window_lives(qtbot, window, tmp_path):
    w = window
    w.canvas.set_tool("brush")
    drag(qtbot, w.canvas, [(30, 30), (100, 100)])
    drawing = w.canvas.image_array()
    bad_png = tmp_path / "bad.png"
    bad_png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 50)
    assert not w.open_drawing(bad_png)
    assert "bad.png" in w.errors[-1]
    assert w.message_bar.isVisible()
    bad_ckpt = tmp_path / "bad.safetensors"
    bad_ckpt.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all" + b"\x00" * 100)
    model_before = w.model_entry.id
    assert not w.load_model(str(bad_ckpt), wait=True)
    assert "bad.safetensors" in w.errors[-1] and "\n" not in w.errors[-1]
    pickle_ckpt = tmp_path / "evil.pth"
    pickle_ckpt.write_bytes(
        b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94\x8c\x06system\x94\x93\x94."
    )
    shown = len(w.errors)
    assert w.open_path(pickle_ckpt)  # a dropped checkpoint goes through the same path, off the UI thread
    qtbot.waitUntil(lambda: len(w.errors) > shown, timeout=10_000)
    assert w.errors[-1].startswith("Could not load the model") and "\n" not in w.errors[-1]
    assert w.model_entry.id == model_before
    assert np.array_equal(w.canvas.image_array(), drawing)
    w.canvas.set_image_array(np.zeros((256, 256, 3), np.uint8))  # still translating
    wait_full(qtbot, w)


def test_files_save_export_pair_and_drop(qtbot, window, tmp_path, models):
    w = window
    w.canvas.set_tool("brush")
    drag(qtbot, w.canvas, [(30, 30), (100, 180)])
    wait_full(qtbot, w)
    drawing = w.canvas.image_array()
    assert w.save_drawing(tmp_path / "d.png")
    assert np.array_equal(load_image(tmp_path / "d.png"), drawing)
    assert not w.canvas.is_modified() and w.windowTitle().startswith("d.png —")
    assert w.export_result(tmp_path / "r.png")
    assert np.array_equal(load_image(tmp_path / "r.png"), w.current_result())
    assert w.save_pair(tmp_path / "pair.png")
    assert load_image(tmp_path / "pair.png").shape == (256, 512, 3)
    assert w.copy_result()
    assert QApplication.clipboard().image().width() == 256
    w.canvas.clear()
    assert w.open_drawing(tmp_path / "d.png")
    assert np.array_equal(w.canvas.image_array(), drawing)
    assert str((tmp_path / "d.png").resolve()) in [a.toolTip() for a in w.recent_menu.actions()]
    drop(w, models["lineart2"])  # a dropped checkpoint becomes the model
    assert w.model_loader.wait() and w.model_entry.path == models["lineart2"].resolve()
    w.canvas.clear()
    drop(w, tmp_path / "d.png")  # a dropped image becomes the drawing
    assert np.array_equal(w.canvas.image_array(), drawing)
    assert any(e.id == w.model_entry.id for e in w.model_picker.entries())


def test_random_example_variations_and_device_fallback(qtbot, window, models):
    w = window
    path = w.random_example()
    assert path is not None and path.parent.parent == paths.RESOURCES_DIR / "examples"
    wait_full(qtbot, w)
    d = w.show_variations()
    qtbot.waitUntil(lambda: all(b.isEnabled() for b in d._buttons), timeout=10_000)
    assert len(d.arrays) == 4 and not all(np.array_equal(d.arrays[0], a) for a in d.arrays[1:])
    d._use(1)
    assert w.dropout_box.isChecked() and w.seed_box.value() == d.seeds[1]
    wait_full(qtbot, w)
    ref = Translator(models["lineart"], device="cpu").translate(
        w.canvas.image_array(), dropout=True, seed=d.seeds[1]
    )
    assert np.array_equal(w.current_result(), ref)
    d.close()
    if not torch.cuda.is_available():
        assert w.set_device("cuda", wait=True)
        assert "CPU" in w.statusBar().currentMessage() or "CPU" in w.status_device.toolTip()
        assert w.status_device.text().startswith("Device: cpu")
        wait_full(qtbot, w)


def test_without_weights_the_builtin_untrained_model_is_used(qtbot, tmp_path, monkeypatch):
    from sketchpad.window import MainWindow

    monkeypatch.setattr(paths, "WEIGHTS_DIR", tmp_path / "no-weights")
    entries = models_list.discover()
    assert entries[0].id == models_list.BUILTIN_ID
    w = MainWindow(device="cpu", prompts=False)
    qtbot.addWidget(w)
    try:
        assert w.model_entry.id == models_list.BUILTIN_ID
        assert "untrained" in w.status_model.text()
        assert w.canvas.kind() == "labels"
        # Its task is facades: it opens on the first facade example, unsaved and unmodified.
        assert w.example == sorted((paths.RESOURCES_DIR / "examples" / "facades").glob("*.png"))[0]
        assert not w.canvas.is_modified() and "(example)" in w.windowTitle()
    finally:
        w.shutdown()


def test_shipped_live_tier_is_paired_with_its_model(tmp_path):
    d = tmp_path / "weights"
    d.mkdir()
    tiny(d / "facades.safetensors", kind="labels")
    tiny(d / "facades-live.safetensors", kind="labels")
    tiny(d / "faces.safetensors")
    seg = build_generator(GeneratorConfig(ngf=4, num_downs=6, output_nc=12))
    save_checkpoint(d / "facades-seg.safetensors", seg, {"role": "segmenter"})  # not a drawing model
    entries = models_list.shipped(d)
    assert [e.label for e in entries] == ["facades", "faces"]
    assert entries[0].live_path == (d / "facades-live.safetensors").resolve()
    assert entries[0].input_kind == "labels" and entries[1].live_path is None


def test_two_tier_live_model_while_the_pen_moves_full_when_it_rests(qtbot, tmp_path):
    from sketchpad.window import MainWindow

    full = tiny(tmp_path / "pair.safetensors", ngf=8)
    tiny(tmp_path / "pair-live.safetensors", ngf=4, seed=3)
    w = MainWindow(str(full), device="cpu", backend="torch", prompts=False)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    try:
        assert w.model_entry.live_path is not None
        wait_full(qtbot, w)
        tiers = []
        w.translation_shown.connect(lambda info: tiers.append(info["tier"]))
        c = w.canvas
        c.set_tool("brush")
        qtbot.mousePress(c, LEFT, NOMOD, wpos(c, 20, 20))
        for i in range(1, 40):
            p = wpos(c, 20 + 5 * i, 20 + 3 * i)
            ev = QMouseEvent(
                QEvent.Type.MouseMove,
                QPointF(p),
                QPointF(c.mapToGlobal(p)),
                Qt.MouseButton.NoButton,
                LEFT,
                NOMOD,
            )
            QApplication.sendEvent(c, ev)
            qtbot.wait(10)
        qtbot.waitUntil(lambda: bool(tiers), timeout=10_000)
        qtbot.wait(400)  # longer than the rest time, pen still down
        assert set(tiers) == {"live"}  # the pen is down: only the fast model
        assert "live" in w.status_tier.text()
        qtbot.mouseRelease(c, LEFT, NOMOD, wpos(c, 215, 137))
        wait_full(qtbot, w)  # the pen rests: the full model refines, once
        assert tiers[-1] == "full" and tiers.count("full") == 1
        ref = Translator(full, device="cpu")(c.image_array())
        assert np.array_equal(w.current_result(), ref)
    finally:
        w.shutdown()


def test_close_asks_about_unsaved_changes(qtbot, models, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from sketchpad.window import MainWindow

    w = MainWindow(str(models["lineart"]), device="cpu", prompts=True)
    qtbot.addWidget(w)
    w.canvas.set_image_array(np.zeros((64, 64, 3), np.uint8))
    asked = []
    answer = QMessageBox.StandardButton.Cancel
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a) or answer)
    assert not w.close()  # cancelled: the window and the drawing stay
    assert asked and w.live.worker.isRunning()
    answer = QMessageBox.StandardButton.Discard
    assert w.close()
    assert not w.live.worker.isRunning()


def test_uncaught_exceptions_become_a_message_in_the_window(qtbot, window, monkeypatch):
    import sys

    from sketchpad.app import install_excepthook

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    install_excepthook(window.show_error)
    try:
        raise ValueError("boom in a slot")
    except ValueError:
        sys.excepthook(*sys.exc_info())
    assert "boom in a slot" in window.errors[-1] and window.message_bar.isVisible()


def test_a_model_without_dropout_disables_the_dropout_controls(qtbot, window, tmp_path):
    w = window
    torch.manual_seed(0)
    net = build_generator(GeneratorConfig(ngf=4, num_downs=6, dropout=False))
    path = save_checkpoint(tmp_path / "nodrop.safetensors", net, {"name": "nodrop", "input_kind": "lineart"})
    w.dropout_box.setChecked(True)
    assert w.load_model(str(path), wait=True)
    assert not w.dropout_box.isEnabled() and not w.dropout_box.isChecked()
    assert not w.act_variations.isEnabled()
    assert w.live.dropout is False


def test_quitting_offers_to_save_the_other_kinds_drawing_too(qtbot, models, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog, QMessageBox

    from sketchpad.window import MainWindow

    w = MainWindow(str(models["lineart"]), device="cpu", backend="torch", prompts=True, restore="no")
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    w.canvas.set_tool("brush")
    drag(qtbot, w.canvas, [(30, 30), (200, 120)])
    sketch = w.canvas.image_array()
    assert w.load_model(str(models["labels"]), wait=True)  # the sketch is put away, unsaved
    asked = []
    answer = QMessageBox.StandardButton.Cancel
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or answer)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "sketch.png"), ""))
    assert not w.close()  # cancelled: nothing is lost
    assert len(asked) == 1 and "line art drawing" in asked[0]  # the untouched label map asks nothing
    answer = QMessageBox.StandardButton.Save
    assert w.close()
    assert np.array_equal(load_image(tmp_path / "sketch.png"), sketch)
