"""A long-session soak: the real MainWindow, offscreen, driven the way a user drives it (QTest mouse
strokes, toolbar tool buttons, undo/redo, brush sizes, colours, zoom, model switches) for a given time,
while resident memory, pending translation requests and exceptions are watched.

`sketchpad bench --soak SECONDS` prints what `run_soak` returns; the targets (issue 7) are memory growth
under 50 MB after warm-up, at most one pending request, and no exceptions.
"""

from __future__ import annotations

import gc
import os
import random
import sys
import tempfile
import threading
import time
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TARGET_GROWTH_MB = 50.0
TARGET_MAX_PENDING = 1
DRAW_TOOLS = ("pen", "brush", "eraser", "fill", "rect", "polygon", "eyedropper")


def _trim() -> None:
    """Hand freed heap pages back to the OS (glibc keeps them otherwise), so RSS shows what is in use."""
    gc.collect()
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass


def _undo_mb(canvas) -> float:
    """Pixels held by the undo histories (one per drawing kind)."""
    total = 0
    for stack in canvas.undo_stacks():
        for i in range(stack.count()):
            cmd = stack.command(i)
            total += cmd.nbytes() if hasattr(cmd, "nbytes") else 0
    return total / 2**20


def rss_mb() -> float:
    """This process's resident memory now, in MiB."""
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:
        pass
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, AttributeError):
        import resource  # peak, not current: the best left

        r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return r / 2**20 if sys.platform == "darwin" else r / 1024


class _Exceptions:
    """Every exception that reaches sys.excepthook (Qt slots) or threading.excepthook (worker threads)."""

    def __init__(self):
        self.count = 0
        self.first: list[str] = []

    def add(self, etype, value, tb) -> None:
        self.count += 1
        if len(self.first) < 5:
            where = traceback.extract_tb(tb)[-1] if tb else None
            at = f" at {Path(where.filename).name}:{where.lineno}" if where else ""
            self.first.append(f"{etype.__name__}: {str(value).splitlines()[0] if str(value) else ''}{at}")

    @contextmanager
    def installed(self):
        old_sys, old_thread = sys.excepthook, threading.excepthook
        sys.excepthook = self.add
        threading.excepthook = lambda args: self.add(args.exc_type, args.exc_value, args.exc_traceback)
        try:
            yield self
        finally:
            sys.excepthook, threading.excepthook = old_sys, old_thread


@contextmanager
def _scratch_data_dir(data_dir: str | os.PathLike | None):
    """The soak's autosaves and runs go to a scratch folder, its settings stay in memory: the user's saved
    model, folders and recent files are never read or written."""
    from sketchpad import settings

    old = os.environ.get("SKETCHPAD_DATA_DIR")
    with tempfile.TemporaryDirectory(prefix="sketchpad-soak-") as tmp, settings.scratch():
        os.environ["SKETCHPAD_DATA_DIR"] = str(data_dir or tmp)
        try:
            yield Path(tmp)
        finally:
            if old is None:
                os.environ.pop("SKETCHPAD_DATA_DIR", None)
            else:
                os.environ["SKETCHPAD_DATA_DIR"] = old


def _extra_models(folder: Path) -> list[Path]:
    """Small checkpoints of each input kind, so model switches also change the canvas kind and palette."""
    from models.checkpoint import save_checkpoint
    from models.generator import GeneratorConfig, build_generator
    from models.palette import FACADES

    specs = [
        ("soak-labels", GeneratorConfig(ngf=8, num_downs=6), "labels"),
        ("soak-lineart", GeneratorConfig(ngf=8, num_downs=6, input_nc=1), "lineart"),
        ("soak-image", GeneratorConfig(arch="resnet", ngf=8, n_blocks=2, norm="instance"), "image"),
    ]
    out = []
    for name, cfg, kind in specs:
        meta: dict[str, Any] = {"name": name, "input_kind": kind, "size": 256}
        if kind == "labels":
            meta["palette"] = [[n, list(rgb)] for n, rgb in FACADES]
        out.append(save_checkpoint(folder / f"{name}.safetensors", build_generator(cfg), meta))
    return out


class _Driver:
    """Random user actions on a MainWindow, with real QTest mouse events on the canvas."""

    def __init__(self, window, rng: random.Random, models: list[str]):
        self.w = window
        self.rng = rng
        self.models = models
        self.model_i = 0
        self.counts: dict[str, int] = {}

    # -- mouse on the canvas, in image coordinates
    def _point(self):
        from PySide6.QtCore import QPointF

        c = self.w.canvas
        h, w = c.image_array().shape[:2]
        p = c.view_transform().map(QPointF(self.rng.uniform(0, w - 1), self.rng.uniform(0, h - 1)))
        return p.toPoint()

    def _move(self, pos, buttons) -> None:
        from PySide6.QtCore import QEvent, QPointF, Qt
        from PySide6.QtGui import QMouseEvent
        from PySide6.QtWidgets import QApplication

        c = self.w.canvas
        ev = QMouseEvent(
            QEvent.Type.MouseMove,
            QPointF(pos),
            QPointF(c.mapToGlobal(pos)),
            Qt.MouseButton.NoButton,
            buttons,
            Qt.KeyboardModifier.NoModifier,
        )
        QApplication.sendEvent(c, ev)  # QTest.mouseMove carries no buttons; a drag needs them

    def _drag(self, n: int) -> None:
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest

        c, left = self.w.canvas, Qt.MouseButton.LeftButton
        pts = [self._point() for _ in range(2)]
        # a wandering line between two random points, sampled like a real mouse
        a, b = pts
        QTest.mousePress(c, left, Qt.KeyboardModifier.NoModifier, a)
        for i in range(1, n + 1):
            t = i / n
            p = a * (1 - t) + b * t
            p.setX(p.x() + self.rng.randint(-3, 3))
            p.setY(p.y() + self.rng.randint(-3, 3))
            self._move(p, left)
            if i % 8 == 0:
                QTest.qWait(1)  # let the live view run between mouse events, as between real ones
        QTest.mouseRelease(c, left, Qt.KeyboardModifier.NoModifier, b)

    def _click(self, double: bool = False) -> None:
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest

        p, left, nomod = self._point(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
        if double:
            QTest.mouseDClick(self.w.canvas, left, nomod, p)
        else:
            QTest.mouseClick(self.w.canvas, left, nomod, p)

    # -- actions
    def draw(self) -> None:
        tool = self.w.canvas.tool()
        if tool in ("pen", "brush", "eraser"):
            self._drag(self.rng.randint(3, 40))
        elif tool == "rect":
            self._drag(4)
        elif tool == "polygon":
            for _ in range(self.rng.randint(2, 5)):
                self._click()
            self._click(double=True)
        else:  # fill, eyedropper
            self._click()

    def tool(self) -> None:
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest
        from PySide6.QtWidgets import QToolBar

        name = self.rng.choice(DRAW_TOOLS)
        action = self.w.tool_actions[name]
        for bar in self.w.findChildren(QToolBar):  # press the toolbar button, as a user does
            button = bar.widgetForAction(action)
            if button is not None and button.isVisible():
                QTest.mouseClick(button, Qt.MouseButton.LeftButton)
                return
        action.trigger()

    def undo(self) -> None:
        self.w.act_undo.trigger()

    def redo(self) -> None:
        self.w.act_redo.trigger()

    def brush_size(self) -> None:
        self.w.size_box.setValue(self.rng.randint(1, 40))

    def colour(self) -> None:
        colours = [(0, 0, 0), (255, 255, 255), (90, 90, 90)]
        if self.w.canvas.kind() == "labels":
            from models.palette import FACADES

            palette = self.w.checkpoint_meta.get("palette") or FACADES
            colours = [tuple(rgb) for _, rgb in palette]
        self.w.palette_bar.color_selected.emit(tuple(self.rng.choice(colours)))

    def zoom(self) -> None:
        self.rng.choice([self.w.act_zoom_in, self.w.act_zoom_out, self.w.act_fit, self.w.act_fit]).trigger()

    def clear(self) -> None:
        self.w.act_clear.trigger()

    def switch_model(self) -> None:
        if len(self.models) < 2:
            return
        self.model_i = (self.model_i + 1) % len(self.models)
        self.w.load_model(self.models[self.model_i])

    def rest(self) -> None:
        from PySide6.QtTest import QTest

        QTest.qWait(self.rng.randint(50, 400))  # the pause after a stroke: the full tier runs

    WEIGHTS = {
        "draw": 50,
        "tool": 8,
        "undo": 9,
        "redo": 6,
        "brush_size": 4,
        "colour": 5,
        "zoom": 3,
        "clear": 1,
        "switch_model": 2,
        "rest": 12,
    }

    def step(self) -> str:
        from PySide6.QtTest import QTest

        names = list(self.WEIGHTS)
        name = self.rng.choices(names, weights=[self.WEIGHTS[n] for n in names])[0]
        getattr(self, name)()
        self.counts[name] = self.counts.get(name, 0) + 1
        QTest.qWait(self.rng.randint(0, 20))
        return name


def _settled_rss(window, driver: _Driver, app) -> float:
    """RSS in the same state at start and end: the first model in use (models differ in size, and
    whichever happened to be loaded would otherwise dominate the difference), no request running,
    freed heap returned."""
    from PySide6.QtTest import QTest

    if driver.models and window.model_entry is not None and window.model_entry.id != driver.models[0]:
        window.load_model(driver.models[0], wait=True)
        driver.model_i = 0
    deadline = time.monotonic() + 10
    while (window.live.busy() or window.live.pending_count()) and time.monotonic() < deadline:
        QTest.qWait(20)
    QTest.qWait(300)
    app.processEvents()
    _trim()
    return rss_mb()


def run_soak(
    seconds: float,
    *,
    seed: int = 0,
    warmup_s: float | None = None,
    models: list[str] | None = None,
    data_dir: str | os.PathLike | None = None,
    progress=None,
    weights: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Drive a real MainWindow for `seconds` after a warm-up (every model loaded once, some drawing);
    returns resident memory at the start (after warm-up) and end, the most pending requests ever seen,
    exceptions (count and first messages), actions done, and whether the issue's targets were met.

    `models`: ids/paths to switch between (default: what the window discovers plus three small ones of
    each input kind). Autosaves go to `data_dir` (default: a scratch folder); settings stay in memory.
    `progress(elapsed_s, info)` is called about every 10 s. `weights` changes how often each kind of
    action is picked (e.g. {"switch_model": 0} to tell a leak in drawing from one in model loading)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("SKETCHPAD_NO_PROMPTS", "1")
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(["sketchpad-soak"])
    rng = random.Random(seed)
    warmup = min(30.0, max(3.0, seconds / 10)) if warmup_s is None else warmup_s
    errors = _Exceptions()
    with _scratch_data_dir(data_dir) as scratch, errors.installed():
        from sketchpad.window import MainWindow

        window = MainWindow(prompts=False, restore="no")
        window.resize(1100, 650)
        window.show()
        QTest.qWaitForWindowExposed(window)
        shown = {"n": 0}
        window.translation_shown.connect(lambda _info: shown.__setitem__("n", shown["n"] + 1))
        if models is None:
            models = [e.id for e in window.entries] + [str(p) for p in _extra_models(scratch)]
        driver = _Driver(window, rng, list(dict.fromkeys(models)))
        if weights:
            driver.WEIGHTS = {**_Driver.WEIGHTS, **weights}

        # Warm-up: each model once (its first load allocates for good), then ordinary drawing.
        t0 = time.monotonic()
        for _ in driver.models:
            driver.switch_model()
            for _ in range(3):
                driver.draw()
            QTest.qWait(100)
        while time.monotonic() - t0 < warmup:
            driver.step()
        rss_start = _settled_rss(window, driver, app)
        undo_start = _undo_mb(window.canvas)
        actions_warmup = sum(driver.counts.values())

        samples = [(0.0, round(rss_start, 1))]
        peak = rss_start
        t_start = last_sample = time.monotonic()
        while (now := time.monotonic()) - t_start < seconds:
            driver.step()
            if now - last_sample >= 10:
                last_sample = now
                _trim()
                r = rss_mb()
                peak = max(peak, r)
                samples.append((round(now - t_start, 1), round(r, 1)))
                if progress is not None:
                    progress(now - t_start, {"rss_mb": round(r, 1), "actions": sum(driver.counts.values())})
        measured = time.monotonic() - t_start
        rss_end = _settled_rss(window, driver, app)
        peak = max(peak, rss_end)
        samples.append((round(measured, 1), round(rss_end, 1)))
        result = {
            "seconds": round(measured, 1),
            "warmup_s": round(warmup, 1),
            "seed": seed,
            "rss_mb_start": round(rss_start, 1),
            "rss_mb_end": round(rss_end, 1),
            "rss_growth_mb": round(rss_end - rss_start, 1),
            "rss_mb_peak": round(peak, 1),
            "rss_samples": samples[:: max(1, len(samples) // 20)][:20] + [samples[-1]],
            "max_pending_seen": int(window.live.max_pending_seen),
            "exceptions": {"count": errors.count, "first": list(errors.first)},
            "errors_shown": {"count": len(window.errors), "first": [str(e) for e in window.errors[:3]]},
            "actions": sum(driver.counts.values()) - actions_warmup,
            "actions_by_kind": dict(sorted(driver.counts.items())),
            "translations_shown": shown["n"],
            "undo_steps": sum(s.count() for s in window.canvas.undo_stacks()),
            "undo_mb_start": round(undo_start, 1),
            "undo_mb_end": round(_undo_mb(window.canvas), 1),
            "models": [Path(m).name if os.sep in m else m for m in driver.models],
        }
        window.shutdown(clean=True)
        window.close()
        window.deleteLater()
        app.processEvents()
    result["targets"] = {
        "rss_growth_mb_under_50": result["rss_growth_mb"] < TARGET_GROWTH_MB,
        "max_pending_at_most_1": result["max_pending_seen"] <= TARGET_MAX_PENDING,
        "no_exceptions": result["exceptions"]["count"] == 0,
    }
    result["ok"] = all(result["targets"].values())
    return result


if __name__ == "__main__":  # python -m sketchpad.soak 60
    import json

    secs = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    print(json.dumps(run_soak(secs, progress=lambda t, i: print(f"{t:.0f}s {i}", file=sys.stderr)), indent=1))
