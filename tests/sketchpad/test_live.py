"""The live policy (no QApplication), the request, and the controller with a real worker thread."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.checkpoint import load_checkpoint, save_checkpoint
from models.generator import GeneratorConfig, build_generator
from models.inference import Translator
from sketchpad.live import LiveScheduler, TranslationRequest, digest

# ---------------------------------------------------------------- LiveScheduler: pure, clock given


def test_unchanged_input_is_skipped():
    s = LiveScheduler(two_tier=False)
    assert s.changed("a", 0.0)
    assert s.next_tier(0.0) == "full"
    s.started("full", 0.0)
    s.finished(0.01)
    assert not s.changed("a", 0.02)
    assert s.next_tier(0.02) is None
    assert s.wake_in(0.02) is None


def test_one_job_in_flight():
    s = LiveScheduler(two_tier=False)
    s.changed("a", 0.0)
    s.started(s.next_tier(0.0), 0.0)
    s.changed("b", 0.01)
    assert s.next_tier(0.5) is None  # busy
    s.finished(0.5)
    assert s.next_tier(0.5) == "full"


def test_no_grace_when_fast_grace_when_slow():
    s = LiveScheduler(two_tier=False, slow_ms=150, grace_s=0.2, max_wait_s=1.0)
    s.changed("w", 0.0)
    s.started("full", 0.0)
    s.finished(5.0)  # the first job warms up: its time does not count
    assert s.grace_period == 0.0
    s.changed("a", 0.0)
    s.started("full", 0.0)
    s.finished(0.02)  # 20 ms: fast
    assert s.grace_period == 0.0
    s.changed("b", 0.03)
    assert s.next_tier(0.03) == "full"  # right away
    s.started("full", 0.03)
    s.finished(1.03)  # a 1 s job: the average is now slow
    assert s.grace_period == 0.2
    s.changed("c", 1.1)
    assert s.next_tier(1.1) is None
    assert s.wake_in(1.1) == pytest.approx(0.2)
    assert s.next_tier(1.31) == "full"


def test_the_workers_compute_time_decides_slowness_not_queueing():
    s = LiveScheduler(two_tier=False, slow_ms=150)
    for k in ("w", "a"):
        s.changed(k, 0.0)
        s.started("full", 0.0)
        s.finished(2.0, ms=20.0)  # the UI was busy for 2 s, the model took 20 ms
    assert s.average_ms("full") == 20.0 and s.grace_period == 0.0


def test_max_wait_bounds_continuous_editing():
    s = LiveScheduler(two_tier=False, grace_s=0.2, max_wait_s=1.0)
    for k in ("w", "x"):  # warm-up, then a slow job
        s.changed(k, 0.0)
        s.started("full", 0.0)
        s.finished(0.5)
    t, fired = 1.0, None
    for i in range(100):  # an edit every 0.1 s, always inside the grace period
        t += 0.1
        s.changed(i, t)
        if s.next_tier(t):
            fired = t
            break
    assert fired is not None and fired - 1.1 <= 1.0 + 1e-6


def test_two_tier_live_while_drawing_full_when_rested():
    s = LiveScheduler(two_tier=True, rest_s=0.3)
    s.pen(True, 0.0)
    s.changed("a", 0.0)
    assert s.next_tier(0.0) == "live"
    s.started("live", 0.0)
    s.finished(0.02)
    s.changed("b", 0.05)
    assert s.next_tier(0.05) == "live"
    s.started("live", 0.05)
    s.finished(0.07)
    assert s.next_tier(1.0) is None  # pen still down: no refinement mid-stroke
    s.pen(False, 1.0)
    assert s.next_tier(1.0) == "full"
    s.started("full", 1.0)
    s.finished(1.3)
    assert s.next_tier(5.0) is None  # refined once


def test_two_tier_refines_after_rest_only():
    s = LiveScheduler(two_tier=True, rest_s=0.3)
    s.changed("a", 0.0)  # a discrete edit (undo, fill) with the pen up
    assert s.next_tier(0.0) == "live"
    s.started("live", 0.0)
    s.finished(0.02)
    assert s.next_tier(0.1) is None
    assert s.wake_in(0.1) == pytest.approx(0.2)
    assert s.next_tier(0.3) == "full"


def test_failed_job_is_not_retried_until_the_input_changes():
    s = LiveScheduler(two_tier=False)
    s.changed("a", 0.0)
    s.started("full", 0.0)
    s.finished(0.1, ok=False)
    assert s.next_tier(1.0) is None
    s.changed("b", 1.0)
    assert s.next_tier(1.0) == "full"


def test_reset_reruns_the_current_input():
    s = LiveScheduler(two_tier=False)
    s.changed("a", 0.0)
    s.started("full", 0.0)
    s.finished(0.1)
    s.reset()
    assert s.next_tier(0.2) == "full"


def test_a_job_from_before_a_reset_is_neither_warm_up_nor_speed():
    s = LiveScheduler(two_tier=False, slow_ms=150, grace_s=0.2)
    s.changed("a", 0.0)
    s.started(s.next_tier(0.0), 0.0)  # under the old model
    s.reset()  # a new model while it runs
    assert s.next_tier(0.1) is None  # one job in flight still
    s.finished(0.2, ms=20.0)  # the old model's job ends: not the new model's warm-up
    assert s.average_ms("full") == 0.0
    assert s.next_tier(0.2) == "full"  # the same drawing, again, by the new model
    s.started("full", 0.2)
    s.finished(5.2, ms=5000.0)  # its first job: the warm-up, however slow, is not its speed
    assert s.average_ms("full") == 0.0 and s.grace_period == 0.0
    s.changed("b", 5.3)
    s.started("full", 5.3)
    s.finished(5.32, ms=20.0)
    assert s.average_ms("full") == 20.0


# ---------------------------------------------------------------- TranslationRequest


def test_request_is_an_immutable_copy():
    a = np.zeros((8, 8, 3), np.uint8)
    r = TranslationRequest.make(a, request_id=1, model_id="m")
    a[0, 0] = 255
    assert r.image[0, 0, 0] == 0
    assert not r.image.flags.writeable
    assert r.digest == digest(np.zeros((8, 8, 3), np.uint8)) != digest(a)
    with pytest.raises(AttributeError):
        r.tier = "live"
    # dropout off: the seed does not change the picture, so it does not change the key
    r1 = TranslationRequest.make(a, request_id=1, model_id="m", seed=1)
    r2 = TranslationRequest.make(a, request_id=2, model_id="m", seed=2)
    assert r1.key == r2.key
    r3 = TranslationRequest.make(a, request_id=3, model_id="m", seed=2, dropout=True)
    assert r3.key != r2.key


# ---------------------------------------------------------------- the controller, with a real thread


def tiny_translator(tmp_path, name="tiny", ngf=4):
    torch.manual_seed(0)
    net = build_generator(GeneratorConfig(ngf=ngf, num_downs=6), init_gain=0.1)  # visible output
    path = save_checkpoint(tmp_path / f"{name}.safetensors", net, {"name": name, "input_kind": "lineart"})
    return path


@pytest.fixture
def controller(qtbot):
    from sketchpad.live import LiveController

    c = LiveController()
    yield c
    c.shutdown()


def test_controller_translates_and_drops_nothing_newer(qtbot, tmp_path, controller):
    path = tiny_translator(tmp_path)
    controller.set_model("tiny", Translator(path, device="cpu"))
    img = np.full((32, 32, 3), 255, np.uint8)
    img[8:20, 8:20] = 0
    with qtbot.waitSignal(controller.result_ready, timeout=10_000) as sig:
        controller.submit(img)
    out, info = sig.args
    ref = Translator(load_checkpoint(path), device="cpu")(img)
    assert np.array_equal(out, ref)
    assert info["tier"] == "full" and info["ms"] > 0


def test_flood_keeps_one_pending_and_ends_with_the_last_drawing(qtbot, tmp_path, controller):
    import time

    path = tiny_translator(tmp_path)
    controller.set_model("tiny", Translator(path, device="cpu"))
    controller.worker.before_run = lambda req: time.sleep(0.03)  # a slow model, in the worker thread
    rng = np.random.default_rng(0)
    shown = []
    controller.result_ready.connect(lambda out, info: shown.append(info))
    last = None
    for _ in range(200):
        last = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        controller.submit(last)
        assert controller.pending_count() <= 1
        qtbot.wait(1)
    want = digest(last)
    qtbot.waitUntil(lambda: shown and shown[-1]["digest"] == want and not controller.busy(), timeout=10_000)
    assert controller.max_pending_seen <= 1
    assert controller.replaced > 0  # newer changes replaced pending ones instead of queueing
    assert controller.worker.runs < 200
    ids = [i["request_id"] for i in shown]
    assert ids == sorted(ids)  # never an older result after a newer one


def test_worker_errors_become_a_signal_and_the_thread_lives(qtbot, tmp_path, controller):
    path = tiny_translator(tmp_path)
    controller.set_model("tiny", Translator(path, device="cpu"))

    def boom(req):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2 GiB")

    controller.worker.before_run = boom
    with qtbot.waitSignal(controller.errored, timeout=10_000) as sig:
        controller.submit(np.zeros((32, 32, 3), np.uint8))
    assert "out of memory" in sig.args[0]
    controller.worker.before_run = None
    with qtbot.waitSignal(controller.result_ready, timeout=10_000):
        controller.submit(np.ones((32, 32, 3), np.uint8))
    assert controller.worker.isRunning()


def test_two_tier_shows_live_then_full(qtbot, tmp_path, controller):
    full = tiny_translator(tmp_path, "full", ngf=8)
    live = tiny_translator(tmp_path, "live", ngf=4)
    controller.set_model("m", Translator(full, device="cpu"), Translator(live, device="cpu"))
    tiers = []
    controller.result_ready.connect(lambda out, info: tiers.append(info["tier"]))
    controller.pen_down()
    controller.submit(np.zeros((32, 32, 3), np.uint8))
    qtbot.waitUntil(lambda: tiers == ["live"], timeout=10_000)
    controller.pen_up()
    qtbot.waitUntil(lambda: tiers == ["live", "full"], timeout=10_000)


def test_variations_are_seeded_dropout_samples(qtbot, tmp_path, controller):
    path = tiny_translator(tmp_path, ngf=8)
    controller.set_model("tiny", Translator(path, device="cpu"))
    img = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    with qtbot.waitSignal(controller.variations_ready, timeout=10_000) as sig:
        controller.request_variations(img, [1, 2])
    outs, seeds = sig.args
    ref = Translator(load_checkpoint(path), device="cpu")
    assert seeds == [1, 2]
    assert np.array_equal(outs[0], ref.translate(img, dropout=True, seed=1))
    assert not np.array_equal(outs[0], outs[1])


def test_a_deleted_controller_stops_its_thread(qtbot):
    from sketchpad.live import LiveController

    c = LiveController()
    worker = c.worker
    assert worker.isRunning()
    with qtbot.waitSignal(c.destroyed, timeout=5000):
        c.deleteLater()
    assert worker.wait(5000) and not worker.isRunning()


def test_a_result_older_than_the_shown_one_is_dropped(qtbot, tmp_path, controller):
    path = tiny_translator(tmp_path)
    controller.set_model("tiny", Translator(path, device="cpu"))
    shown = []
    controller.result_ready.connect(lambda out, info: shown.append(info["request_id"]))
    img = np.zeros((8, 8, 3), np.uint8)
    g = controller.generation
    new = TranslationRequest.make(img, request_id=10, model_id="tiny", generation=g)
    old = TranslationRequest.make(img, request_id=9, model_id="tiny", generation=g)
    other = TranslationRequest.make(img, request_id=11, model_id="a replaced model", generation=g)
    before = TranslationRequest.make(img, request_id=12, model_id="tiny", generation=g - 1)
    controller._on_done(new, img, 1.0, "torch")
    controller._on_done(old, img, 1.0, "torch")  # arrives late: never shown over a newer picture
    controller._on_done(other, img, 1.0, "torch")  # from a model no longer selected
    controller._on_done(before, img, 1.0, "torch")  # the same id, loaded again since (another device)
    assert shown == [10]


def test_a_job_started_under_the_old_model_is_not_shown_as_the_new_ones(qtbot, tmp_path, controller):
    import threading

    old_path = tiny_translator(tmp_path, "old")
    torch.manual_seed(5)
    net = build_generator(GeneratorConfig(ngf=4, num_downs=6), init_gain=0.1)
    new_path = save_checkpoint(tmp_path / "new.safetensors", net, {"name": "new", "input_kind": "lineart"})
    controller.set_model("m", Translator(old_path, device="cpu"))
    gate, started = threading.Event(), threading.Event()

    def hold(req):
        started.set()
        gate.wait(30)

    controller.worker.before_run = hold
    shown = []
    controller.result_ready.connect(lambda out, info: shown.append((out, info)))
    img = np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    controller.submit(img)
    assert started.wait(10)  # running under the old model
    controller.worker.before_run = None
    controller.set_model("m", Translator(new_path, device="cpu"))  # the same id: e.g. another device
    gate.set()
    qtbot.waitUntil(lambda: bool(shown) and not controller.busy(), timeout=10_000)
    qtbot.wait(50)
    assert len(shown) == 1 and controller.worker.runs == 2  # the old job ran, only the new one shows
    assert np.array_equal(shown[0][0], Translator(new_path, device="cpu")(img))
    assert not np.array_equal(shown[0][0], Translator(old_path, device="cpu")(img))
    # The new model's first job was its warm-up: no speed measured yet, the old job's none either.
    assert controller.scheduler.average_ms("full") == 0.0


def test_stop_keeps_a_thread_that_outlives_its_timeout_referenced(qtbot, tmp_path, caplog):
    import threading

    from sketchpad.live import _RUNNING, LiveController

    c = LiveController()
    c.set_model("tiny", Translator(tiny_translator(tmp_path), device="cpu"))
    gate, started = threading.Event(), threading.Event()

    def hold(req):
        started.set()
        gate.wait(30)

    c.worker.before_run = hold
    worker = c.worker
    c.submit(np.zeros((32, 32, 3), np.uint8))
    try:
        assert started.wait(10)
        with caplog.at_level("WARNING", logger="sketchpad.live"):
            assert worker.stop(timeout_ms=50) is False  # a translation still runs
        assert worker.isRunning() and worker in _RUNNING
        assert len([r for r in caplog.records if r.name == "sketchpad.live"]) == 1
    finally:
        gate.set()
    assert worker.stop(timeout_ms=10_000) and worker not in _RUNNING and not worker.isRunning()
