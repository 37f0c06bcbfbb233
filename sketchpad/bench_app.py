"""`sketchpad bench --app`: the real MainWindow, offscreen, drawn on with real mouse events.

For each of N strokes (about 300 ms of pen movement each, then a rest until the full model has
refined the picture) we measure:
- stroke latency: pen up -> the first displayed result that includes the whole stroke (any tier),
  and pen up -> the full model's refined result;
- display latency per tier: a drawing change -> its result on screen, for every result shown;
- the UI thread's stalls: a 5 ms QTimer's longest gap (minus 5 ms). Over 50 ms is a bug.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

STALL_BUG_MS = 50.0
TICK_MS = 5


def _pct(values: list[float]) -> dict:
    if not values:
        return {"p50": None, "p95": None, "max": None, "n": 0}
    a = np.asarray(values)
    return {
        "p50": round(float(np.percentile(a, 50)), 1),
        "p95": round(float(np.percentile(a, 95)), 1),
        "max": round(float(a.max()), 1),
        "n": len(a),
    }


@contextmanager
def _scratch_env():
    """Autosaves into a throwaway folder, settings in memory (the user's are never read or written); no
    dialogs."""
    from sketchpad import settings

    old = {k: os.environ.get(k) for k in ("SKETCHPAD_DATA_DIR", "SKETCHPAD_NO_PROMPTS", "QT_QPA_PLATFORM")}
    with tempfile.TemporaryDirectory(prefix="sketchpad-bench-app-") as tmp, settings.scratch():
        os.environ["SKETCHPAD_DATA_DIR"] = str(Path(tmp) / "data")
        os.environ["SKETCHPAD_NO_PROMPTS"] = "1"
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        try:
            yield Path(tmp)
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def _bench_models(folder: Path, ngf: int, live_ngf: int) -> Path:
    """A labels model pair the window opens as two tiers: bench.safetensors + bench-live.safetensors."""
    from models.checkpoint import save_checkpoint
    from models.palette import FACADES
    from sketchpad.benchmark import random_unet

    meta = {"input_kind": "labels", "palette": [[n, list(c)] for n, c in FACADES], "size": 256}
    full = save_checkpoint(
        folder / "bench.safetensors", random_unet(ngf), {**meta, "name": "bench", "role": "full"}
    )
    save_checkpoint(
        folder / "bench-live.safetensors",
        random_unet(live_ngf, seed=1),
        {**meta, "name": "bench", "role": "live"},
    )
    return full


class _StallMeter:
    """A QTimer every 5 ms on the UI thread; a late tick means the event loop was blocked. A watchdog
    thread samples the UI thread's Python stack while a tick is overdue, to say where the time went."""

    def __init__(self):
        from PySide6.QtCore import Qt, QTimer

        self.gaps: list[float] = []
        self.sites: dict[str, float] = {}  # UI-thread stack seen during a stall -> longest stall there
        self._last = time.perf_counter()
        self._ui_thread = threading.get_ident()
        self._sample: str | None = None
        self._running = False
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._last = time.perf_counter()
        self._running = True
        self._watch = threading.Thread(target=self._watchdog, daemon=True)
        self._watch.start()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()
        self._running = False
        self._watch.join(1)

    def _watchdog(self) -> None:
        while self._running:
            time.sleep(0.01)
            if self._sample is None and (time.perf_counter() - self._last) * 1000 > STALL_BUG_MS * 0.6:
                frame = sys._current_frames().get(self._ui_thread)
                if frame is not None:
                    stack = traceback.extract_stack(frame)[-4:]
                    self._sample = " <- ".join(
                        f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(stack)
                    )

    def _tick(self) -> None:
        now = time.perf_counter()
        gap = (now - self._last) * 1000 - TICK_MS
        self._last = now
        self.gaps.append(gap)
        if self._sample is not None:
            if gap > STALL_BUG_MS * 0.6:
                self.sites[self._sample] = max(gap, self.sites.get(self._sample, 0.0))
            self._sample = None

    def worst_sites(self, n: int = 5) -> list[dict]:
        top = sorted(self.sites.items(), key=lambda kv: -kv[1])[:n]
        return [{"ms": round(ms, 1), "where": where} for where, ms in top]


def run_app_bench(
    strokes: int = 100,
    *,
    model: str | None = None,
    ngf: int = 64,
    live_ngf: int = 16,
    points: int = 30,
    point_ms: int = 10,
    seed: int = 0,
) -> dict[str, Any]:
    """Draw `strokes` strokes on a real MainWindow; returns latencies (ms) and UI stalls (see module doc).

    `model`: a model name or checkpoint for the window; default a fresh unet_256 ngf 64 with an ngf 16
    live tier (the shipped sizes), written to a scratch folder."""
    import random

    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    rng = random.Random(seed)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before the QApplication: it picks the platform
    app = QApplication.instance() or QApplication(["sketchpad-bench"])
    with _scratch_env() as tmp:
        from sketchpad.window import MainWindow

        if model is None:
            model = str(_bench_models(tmp, ngf, live_ngf))
        t0 = time.perf_counter()
        w = MainWindow(model, prompts=False, restore="no")
        w.resize(1100, 650)
        w.show()
        QTest.qWaitForWindowExposed(w)
        startup_ms = (time.perf_counter() - t0) * 1000
        c = w.canvas

        submitted: dict[int, float] = {}  # request id -> when the drawing changed
        shown: list[tuple[float, dict]] = []
        # Connected after the window's own slot, so the request for this change already has its id.
        c.changed.connect(lambda: submitted.setdefault(w.live._next_id, time.perf_counter()))
        w.translation_shown.connect(lambda info: shown.append((time.perf_counter(), dict(info))))

        def wait_for(pred, timeout_s: float) -> bool:
            end = time.perf_counter() + timeout_s
            while not pred():
                if time.perf_counter() > end:
                    return False
                QTest.qWait(2)
            return True

        # The first result after start-up, then measure from a settled window.
        wait_for(lambda: shown, 30)
        first_result_ms = (shown[0][0] - t0) * 1000 if shown else None
        QTest.qWait(200)

        def point() -> QPointF:
            h, wd = c.image_array().shape[:2]
            return c.view_transform().map(QPointF(rng.uniform(10, wd - 10), rng.uniform(10, h - 10)))

        def move(p: QPointF) -> None:
            ev = QMouseEvent(
                QEvent.Type.MouseMove,
                p,
                QPointF(c.mapToGlobal(p.toPoint())),
                Qt.MouseButton.NoButton,
                Qt.MouseButton.LeftButton,
                Qt.KeyboardModifier.NoModifier,
            )
            QApplication.sendEvent(c, ev)  # QTest.mouseMove carries no buttons; a drag needs them

        meter = _StallMeter()
        stroke_ms: list[float] = []
        full_ms: list[float] = []
        missed = 0
        meter.start()
        t_draw = time.perf_counter()
        for _ in range(strokes):
            a, b = point(), point()
            QTest.mousePress(c, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a.toPoint())
            for i in range(1, points + 1):
                t = i / points
                move(a * (1 - t) + b * t + QPointF(rng.uniform(-3, 3), rng.uniform(-3, 3)))
                QTest.qWait(point_ms)  # a pen's pace; the live view runs in between
            QTest.mouseRelease(c, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b.toPoint())
            t_up, last_id, seen = time.perf_counter(), w.live._next_id, len(shown)

            def done(tier=None, seen=seen, last_id=last_id):
                return any(
                    info["request_id"] >= last_id and (tier is None or info["tier"] == tier)
                    for _, info in shown[seen:]
                )

            if wait_for(done, 10):
                first = next(t for t, info in shown[seen:] if info["request_id"] >= last_id)
                stroke_ms.append((first - t_up) * 1000)
            else:
                missed += 1
            if wait_for(lambda seen=seen, last_id=last_id: done("full", seen, last_id), 10):
                t_full = next(
                    t for t, info in shown[seen:] if info["request_id"] >= last_id and info["tier"] == "full"
                )
                full_ms.append((t_full - t_up) * 1000)
        drawing_s = time.perf_counter() - t_draw
        meter.stop()

        display: dict[str, list[float]] = {}
        for t, info in shown:
            if info["request_id"] in submitted:
                display.setdefault(info["tier"], []).append((t - submitted[info["request_id"]]) * 1000)
        backends = {}
        try:  # which runner each tier used (best effort: the worker's private table)
            for tier, tr in zip(("full", "live"), w.live.worker._models[w.live.model_id], strict=False):
                if tr is not None:
                    backends[tier] = getattr(tr, "runner_name", "torch")
        except (AttributeError, KeyError, TypeError):
            pass
        gaps = meter.gaps
        result = {
            "strokes": strokes,
            "model": Path(model).name if os.path.sep in str(model) else model,
            "startup_ms": round(startup_ms, 1),
            "first_result_ms": None if first_result_ms is None else round(first_result_ms, 1),
            "latency_ms": _pct(stroke_ms),
            "full_latency_ms": _pct(full_ms),
            "display_ms": {tier: _pct(v) for tier, v in display.items()},
            "shown": {tier: len(v) for tier, v in display.items()},
            "missed_strokes": missed,
            "ui_stall_max_ms": round(max(gaps), 1) if gaps else None,
            "ui_stall_p99_ms": round(float(np.percentile(gaps, 99)), 1) if gaps else None,
            "ui_stalls_over_50ms": sum(g > STALL_BUG_MS for g in gaps),
            "ui_ticks": len(gaps),
            "ui_stall_sites": meter.worst_sites(),
            "max_pending_seen": w.live.max_pending_seen,
            "drawing_s": round(drawing_s, 1),
            "backends": backends,
        }
        w.close()
        w.deleteLater()
        QTest.qWait(50)
        app.processEvents()
        return result
