"""Never lose a drawing: autosave files, a simulated crash in-process, and a real SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from models.checkpoint import save_checkpoint
from models.generator import GeneratorConfig, build_generator
from models.imageio import load_image, save_png
from sketchpad import paths
from sketchpad.autosave import AutosaveStore, pid_alive

REPO = Path(__file__).resolve().parents[2]
DEAD_PID = 4_194_999  # above Linux's largest pid_max: never a running process


def tiny(path):
    torch.manual_seed(0)
    net = build_generator(GeneratorConfig(ngf=4, num_downs=6), init_gain=0.1)
    return save_checkpoint(path, net, {"name": path.stem, "input_kind": "lineart"})


def drawing(seed=0):
    a = np.full((256, 256, 3), 255, np.uint8)
    rng = np.random.default_rng(seed)
    for _ in range(5):
        y, x = rng.integers(0, 220, 2)
        a[y : y + 30, x : x + 30] = rng.integers(0, 256, 3)
    return a


def test_store_writes_atomically_and_finds_only_dead_sessions(tmp_path):
    assert not pid_alive(DEAD_PID) and pid_alive(os.getpid())
    mine = AutosaveStore(tmp_path)
    dead = AutosaveStore(tmp_path, pid=DEAD_PID)
    mine.write(drawing(1), {"model": "m"})
    dead.write(drawing(2), {"model": "m", "document": None})
    assert not list(tmp_path.glob(".*tmp"))  # nothing half-written left behind
    found = mine.orphans()
    assert [r.png for r in found] == [dead.png]  # our own live session is never offered
    assert np.array_equal(found[0].image(), drawing(2))
    assert found[0].meta["model"] == "m" and "unsaved" in found[0].describe()
    AutosaveStore.discard(found[0])
    assert mine.orphans() == []
    mine.clear()
    assert not mine.png.exists()


@pytest.mark.gui
def test_autosave_fires_after_a_change_and_a_clean_exit_clears_it(qtbot, tmp_path):
    from sketchpad.window import MainWindow

    w = MainWindow(str(tiny(tmp_path / "m.safetensors")), device="cpu", prompts=False)
    qtbot.addWidget(w)
    w.autosaver._timer.setInterval(50)
    with qtbot.waitSignal(w.autosaver.saved, timeout=5000):
        w.canvas.set_image_array(drawing())
    png = w.autosaver.store.png
    assert png.exists()
    w.close()
    assert not png.exists()


@pytest.mark.gui
def test_restore_after_a_simulated_crash(qtbot, tmp_path):
    from sketchpad.window import MainWindow

    ckpt = str(tiny(tmp_path / "m.safetensors"))
    crashed = MainWindow(ckpt, device="cpu", prompts=False, autosave=AutosaveStore(pid=DEAD_PID))
    qtbot.addWidget(crashed)
    crashed.canvas.set_image_array(drawing(3))
    crashed.autosaver.save_now()
    crashed.shutdown(clean=False)  # the process "dies": no clean exit, the autosave stays
    crashed.deleteLater()

    w = MainWindow(ckpt, device="cpu", prompts=False)
    qtbot.addWidget(w)
    try:
        assert w.recovered is not None
        assert w.message_bar.isVisibleTo(w) and "Restore" in w.message_bar.label.text()
        w.message_bar.button("Restore").click()
        assert np.array_equal(w.canvas.image_array(), drawing(3))
        assert w.canvas.is_modified()  # restored work is unsaved work
        assert w.recovered is None and not list(paths.autosave_dir().glob(f"session-{DEAD_PID}*"))
    finally:
        w.shutdown()


@pytest.mark.gui
def test_restore_brings_back_the_drawings_model_first(qtbot, tmp_path):
    """The crashed session's model is read off the UI thread; the drawing comes back once it is in use."""
    from sketchpad.window import MainWindow

    crashed_model = tiny(tmp_path / "theirs.safetensors")
    store = AutosaveStore(pid=DEAD_PID)
    store.write(drawing(5), {"model": str(crashed_model.resolve()), "kind": "lineart", "document": None})
    w = MainWindow(str(tiny(tmp_path / "mine.safetensors")), device="cpu", prompts=False)
    qtbot.addWidget(w)
    try:
        changed = []
        w.model_changed.connect(changed.append)
        assert w.restore_autosave()
        assert w.model_loader.wait()  # the model loaded, then the drawing was put back
        assert changed == [str(crashed_model.resolve())] and w.model_entry.path == crashed_model.resolve()
        assert np.array_equal(w.canvas.image_array(), drawing(5)) and w.canvas.is_modified()
        assert w.recovered is None and not store.png.exists()
    finally:
        w.shutdown()


@pytest.mark.gui
@pytest.mark.slow
def test_sigkill_then_restore_gives_the_same_pixels(qtbot, tmp_path):
    """A real app process autosaves, is killed with SIGKILL, and a new window restores its drawing."""
    if not hasattr(signal, "SIGKILL"):
        pytest.skip("no SIGKILL here")
    ckpt = tiny(tmp_path / "m.safetensors")
    src = tmp_path / "drawing.png"
    save_png(src, drawing(4))
    script = (
        "import sys\n"
        "from sketchpad.app import make_app\n"
        "from sketchpad.window import MainWindow\n"
        "app = make_app()\n"
        "w = MainWindow(sys.argv[1], device='cpu')\n"
        "w.show()\n"
        "w.import_image(sys.argv[2])\n"  # an unsaved edit, as a user's drawing would be
        "app.exec()\n"
    )
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "SKETCHPAD_AUTOSAVE_MS": "100",
        "SKETCHPAD_NO_PROMPTS": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(ckpt), str(src)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    saved = paths.autosave_dir() / f"session-{proc.pid}.png"
    try:
        deadline = time.monotonic() + 60
        while not saved.with_suffix(".json").exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # waiting on another process: nothing of ours to signal on
        assert saved.exists(), "the app never autosaved"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    deadline = time.monotonic() + 10
    while pid_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)  # the kernel reaps it; psutil must see it gone

    from sketchpad.window import MainWindow

    w = MainWindow(str(ckpt), device="cpu", prompts=False)
    qtbot.addWidget(w)
    try:
        assert w.recovered is not None and w.recovered.png == saved
        assert w.restore_autosave()
        assert np.array_equal(w.canvas.image_array(), drawing(4))
    finally:
        w.shutdown()


def test_timed_autosave_writes_off_the_ui_thread_and_clear_waits_for_it(qtbot, tmp_path):
    """PNG encoding and fsync must not stall drawing; a clean exit must not race a late write."""
    import threading

    from sketchpad.autosave import Autosaver

    image = drawing(3)
    store = AutosaveStore(tmp_path / "auto", pid=os.getpid())
    threads = []
    real_write = store.write

    def write(img, meta=None):
        threads.append(threading.current_thread())
        return real_write(img, meta)

    store.write = write
    saver = Autosaver(lambda: image, delay_ms=10, store=store)
    with qtbot.waitSignal(saver.saved, timeout=5000):
        saver.schedule()
    assert threads and threads[0] is not threading.main_thread()
    assert np.array_equal(load_image(store.png), image)
    saver.schedule()
    qtbot.waitUntil(lambda: saver._writing is not None, timeout=5000)
    saver.clear()
    assert not store.png.exists() and not store.meta_path.exists()
