"""Model loading and device choice off the UI thread: real small checkpoints, a real worker thread."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from models.checkpoint import save_checkpoint
from models.generator import GeneratorConfig, build_generator
from models.inference import Translator
from sketchpad import models_list, settings

pytestmark = pytest.mark.gui


def tiny(path, seed=0):
    torch.manual_seed(seed)
    net = build_generator(GeneratorConfig(ngf=4, num_downs=6), init_gain=0.1)
    return save_checkpoint(path, net, {"name": path.stem, "input_kind": "lineart"})


@pytest.fixture
def loader(qtbot):
    from sketchpad.model_loader import ModelLoader

    m = ModelLoader(device="cpu", backend="torch")
    yield m
    m.shutdown()


def test_a_checkpoint_is_read_on_another_thread_and_announced(qtbot, tmp_path, loader):
    path = tiny(tmp_path / "sketch.safetensors")
    threads = []
    loader.before_read = lambda entry: threads.append(threading.current_thread())
    with qtbot.waitSignal(loader.loaded, timeout=20_000) as sig:
        loader.load(models_list.opened_entry(path))
        assert loader.busy() and loader.entry is None  # load returns before the file is read
    m = sig.args[0]
    assert threads and threads[0] is not threading.main_thread()
    assert loader.entry == m.entry and m.entry.path == path.resolve() and not loader.busy()
    assert m.device == "cpu" and m.has_dropout and m.live is None and m.note == ""
    img = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    assert np.array_equal(m.full(img), Translator(path, device="cpu", backend="torch")(img))


def test_a_corrupt_file_is_one_line_and_the_old_model_stays(qtbot, tmp_path, loader):
    good = tiny(tmp_path / "good.safetensors")
    loader.load(models_list.opened_entry(good))
    assert loader.wait(20)
    before = loader.current
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all" + b"\x00" * 100)
    loaded = []
    loader.loaded.connect(loaded.append)
    with qtbot.waitSignal(loader.failed, timeout=20_000) as sig:
        loader.load(models_list.opened_entry(bad))
    message = sig.args[0]
    assert message.startswith("Could not load the model:") and "bad.safetensors" in message
    assert "\n" not in message
    assert loader.current is before and not loaded and not loader.last_ok


def test_a_newer_request_replaces_one_still_loading(qtbot, tmp_path, loader):
    first, second = tiny(tmp_path / "first.safetensors"), tiny(tmp_path / "second.safetensors", seed=1)
    gate = threading.Event()
    loader.before_read = lambda entry: gate.wait(30) if entry.path == first.resolve() else None
    loaded = []
    loader.loaded.connect(lambda m: loaded.append(m.entry.path))
    try:
        loader.load(models_list.opened_entry(first))
        loader.load(models_list.opened_entry(second))
    finally:
        gate.set()
    assert loader.wait(20)
    qtbot.wait(100)  # the first request's end, queued behind, announces nothing
    assert loaded == [second.resolve()] and loader.entry.path == second.resolve()


def test_a_device_is_remembered_once_the_model_runs_there(qtbot, tmp_path, loader):
    loader.load(models_list.opened_entry(tiny(tmp_path / "m.safetensors")))
    assert loader.wait(20)
    want = "cuda"  # without CUDA: the CPU, with a note
    loader.set_device(want)
    assert loader.busy() and loader.device_name == "cpu"  # the model in use runs on, unmoved
    assert loader.wait(20)
    assert loader.device_name == want and settings.get_str("device", "") == want
    if not torch.cuda.is_available():
        assert "CPU" in loader.current.note and str(loader.current.full.device) == "cpu"


def test_wait_without_a_request_says_whether_a_model_is_in_use(loader):
    assert loader.wait() is False and loader.entry is None
