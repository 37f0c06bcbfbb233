"""Live translation: the newest drawing always wins.

Three layers, each testable on its own:
- `LiveScheduler`: a pure policy (no Qt): which tier to run now, if any. It skips an unchanged input,
  holds a short grace period after the latest edit only when recent generations were slow, never holds
  a change back longer than a maximum wait, keeps one job in flight, and asks for the full model once
  the pen has rested (two-tier live view).
- `TranslationRequest`: the immutable job that crosses to the worker thread.
- `TranslationWorker` (a QThread that owns the torch models) and `LiveController` (a QObject on the UI
  thread: at most one request running and one pending; a new change replaces the pending one; a result
  older than the shown one is dropped; every failure becomes an `errored` signal).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, QThread, QTimer, Signal

TIERS = ("live", "full")

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- the policy (no Qt)


@dataclass
class LiveScheduler:
    """Decides when to translate and with which tier. Times are seconds from any monotonic clock."""

    rest_s: float = 0.3  # the pen rests this long (and is up) -> the full model refines the picture
    slow_ms: float = 150.0  # recent fast-tier jobs averaging slower than this earn a grace period
    grace_s: float = 0.12  # wait this long after the latest edit when the model is slow
    max_wait_s: float = 0.5  # continuous editing never holds a change back longer than this
    two_tier: bool = True  # False: one model only; every job is "full" and there is no refinement
    history: int = 5  # generations averaged for the slow test

    _key: Hashable | None = field(default=None, init=False, repr=False)
    _last_change: float = field(default=0.0, init=False, repr=False)
    _oldest_unsent: float | None = field(default=None, init=False, repr=False)
    _fast_sent: Hashable | None = field(default=None, init=False, repr=False)
    _full_sent: Hashable | None = field(default=None, init=False, repr=False)
    _pen_down: bool = field(default=False, init=False, repr=False)
    _in_flight: str | None = field(default=None, init=False, repr=False)
    _started_at: float = field(default=0.0, init=False, repr=False)
    _times: dict = field(default_factory=dict, init=False, repr=False)
    _warming: set = field(default_factory=lambda: set(TIERS), init=False, repr=False)
    _orphan: bool = field(default=False, init=False, repr=False)  # the job in flight predates a reset

    # -- inputs
    def changed(self, key: Hashable, now: float) -> bool:
        """Note the current input (drawing + model + settings); False when it equals the last one."""
        if key == self._key:
            return False
        self._key = key
        self._last_change = now
        if self._oldest_unsent is None:
            self._oldest_unsent = now
        return True

    def pen(self, down: bool, now: float) -> None:
        self._pen_down = down

    def reset(self) -> None:
        """Forget what was sent and how long it took (a new model or device): the next call runs
        whatever is current, and the first job of each tier (warm-up) does not count as slow. A job still
        in flight belongs to the old model: its end is neither the new model's warm-up nor its speed."""
        self._orphan = self._in_flight is not None
        self._fast_sent = self._full_sent = None
        self._times.clear()
        self._warming = set(TIERS)
        self._oldest_unsent = self._last_change if self._key is not None else None

    # -- decisions
    @property
    def fast_tier(self) -> str:
        return "live" if self.two_tier else "full"

    @property
    def grace_period(self) -> float:
        return self.grace_s if self.average_ms(self.fast_tier) > self.slow_ms else 0.0

    def average_ms(self, tier: str) -> float:
        t = self._times.get(tier)
        return sum(t) / len(t) if t else 0.0

    @property
    def in_flight(self) -> str | None:
        return self._in_flight

    def next_tier(self, now: float) -> str | None:
        """The tier to start now, or None (nothing new, a job in flight, or still waiting)."""
        if self._in_flight or self._key is None or self._key == self._full_sent:
            return None
        if self.two_tier and self._rested(now):
            return "full"
        if self._key != self._fast_sent and self._grace_over(now):
            return self.fast_tier
        return None

    def wake_in(self, now: float) -> float | None:
        """Seconds until `next_tier` may answer differently without new input; None: only an event will."""
        if self._in_flight or self._key is None or self._key == self._full_sent:
            return None
        deadlines = []
        if self._key != self._fast_sent:
            deadlines.append(self._grace_deadline())
        if self.two_tier and not self._pen_down:
            deadlines.append(self._last_change + self.rest_s)
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - now)

    def _rested(self, now: float) -> bool:
        return not self._pen_down and now - self._last_change >= self.rest_s

    def _grace_deadline(self) -> float:
        oldest = self._oldest_unsent if self._oldest_unsent is not None else self._last_change
        return min(self._last_change + self.grace_period, oldest + self.max_wait_s)

    def _grace_over(self, now: float) -> bool:
        return now >= self._grace_deadline() - 1e-9

    # -- job life cycle
    def started(self, tier: str, now: float) -> None:
        if tier not in TIERS:
            raise ValueError(f"tier must be one of {TIERS}")
        self._in_flight = tier
        self._started_at = now
        self._fast_sent = self._key  # a full result also answers the fast tier
        if tier == "full":
            self._full_sent = self._key
        self._oldest_unsent = None

    def finished(self, now: float, *, ok: bool = True, ms: float | None = None) -> None:
        """The job in flight ended (`ms`: its compute time, if known; else the time since it started);
        a failed one is not retried until the input changes."""
        tier, self._in_flight = self._in_flight, None
        if self._orphan:  # started before a reset (another model): says nothing about this one
            self._orphan = False
        elif tier in self._warming:
            self._warming.discard(tier)  # one-time costs (allocation, kernel selection) are not speed
        elif ok and tier:
            took = (now - self._started_at) * 1000 if ms is None else ms
            self._times.setdefault(tier, deque(maxlen=self.history)).append(took)


# ---------------------------------------------------------------- the request


def digest(image: np.ndarray) -> str:
    """A short content hash of an image (shape included), to skip unchanged drawings."""
    h = hashlib.blake2b(digest_size=12)
    h.update(repr((image.shape, str(image.dtype))).encode())
    h.update(np.ascontiguousarray(image).data)
    return h.hexdigest()


@dataclass(frozen=True)
class TranslationRequest:
    """One job for the worker: an immutable copy of the drawing and how to translate it."""

    request_id: int
    image: np.ndarray  # uint8 (H, W, 3), read-only copy owned by this request
    digest: str
    model_id: str  # the selected model; the worker picks its live or full network by `tier`
    tier: str = "full"
    dropout: bool = False
    seed: int = 0
    bn_stats: str = "running"
    seeds: tuple[int, ...] = ()  # variations: one dropout sample per seed instead of one result
    generation: int = 0  # the controller's model generation it was started under (see set_model)

    @classmethod
    def make(cls, image: np.ndarray, *, request_id: int, model_id: str, **kw) -> TranslationRequest:
        a = np.array(image, dtype=np.uint8, copy=True)
        a.setflags(write=False)
        return cls(request_id=request_id, image=a, digest=digest(a), model_id=model_id, **kw)

    @property
    def key(self) -> tuple:
        """Everything that decides the output: an equal key means an equal picture."""
        return (self.digest, self.model_id, self.dropout, self.seed if self.dropout else None, self.bn_stats)


# ---------------------------------------------------------------- Qt: the worker and the controller


def describe_error(e: BaseException) -> str:
    """One line for the status bar."""
    import torch

    if isinstance(e, torch.OutOfMemoryError) or "out of memory" in str(e).lower():
        return "out of memory while translating: try the CPU device or a smaller drawing"
    first = (str(e).strip().splitlines() or [""])[0][:200]
    return (
        f"translation failed: {type(e).__name__}: {first}"
        if first
        else f"translation failed: {type(e).__name__}"
    )


class TranslationWorker(QThread):
    """Owns the models and runs one request at a time; its mailbox holds one request (the newest wins)."""

    done = Signal(object, object, float, str)  # request, output (array, or a list for variations), ms, runner
    failed = Signal(object, str)  # request, one-line message

    def __init__(self, parent=None):
        super().__init__(parent)
        self._cond = threading.Condition()
        self._job: TranslationRequest | None = None
        self._stopping = False
        self._models: dict[str, tuple] = {}  # model id -> (full Translator, live Translator | None)
        self.before_run: Callable[[TranslationRequest], None] | None = None  # test hook (e.g. a delay)
        self.runs = 0

    def install(self, model_id: str, full, live=None) -> None:
        with self._cond:
            self._models[model_id] = (full, live)

    def uninstall(self, model_id: str) -> None:
        with self._cond:
            self._models.pop(model_id, None)

    def submit(self, request: TranslationRequest) -> None:
        with self._cond:
            self._job = request
            self._cond.notify()

    def stop(self, timeout_ms: int = 10_000) -> bool:
        """Ask the thread to end after its current job and wait for it; True once it has ended. A thread
        still running after `timeout_ms` stays referenced (in _RUNNING) until a later stop sees it end."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        try:
            ended = self.wait(timeout_ms)
        except RuntimeError:  # the C++ thread object is already gone (interpreter shutdown)
            ended = True
        if ended:
            _RUNNING.discard(self)
        else:
            log.warning("translation thread still running %d ms after stop; kept until it ends", timeout_ms)
        return ended

    def run(self) -> None:
        while True:
            with self._cond:
                while self._job is None and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                req, self._job = self._job, None
                pair = self._models.get(req.model_id)
            try:
                if self.before_run is not None:
                    self.before_run(req)
                if pair is None:
                    raise LookupError(f"model {req.model_id!r} is not loaded")
                full, live = pair
                net = live if (req.tier == "live" and live is not None) else full
                t0 = time.perf_counter()
                if req.seeds:
                    out = [
                        net.translate(req.image, dropout=True, seed=s, bn_stats=req.bn_stats)
                        for s in req.seeds
                    ]
                else:
                    out = net.translate(req.image, dropout=req.dropout, seed=req.seed, bn_stats=req.bn_stats)
                ms = (time.perf_counter() - t0) * 1000
                runner = str(getattr(net, "runner_name", "torch"))  # what models.fast actually ran
                self.runs += 1
            except Exception as e:  # the thread must outlive any failure
                self.failed.emit(req, describe_error(e))
                continue
            self.done.emit(req, out, ms, runner)


# Running workers, kept referenced until they have ended: a QThread collected while it runs aborts the
# process, so a controller that is deleted without shutdown() (or an app that quits) still stops its thread.
_RUNNING: set[TranslationWorker] = set()


def _stop_all() -> None:
    for w in list(_RUNNING):
        w.stop()


class LiveController(QObject):
    """Turns drawing changes into translations on the worker, newest first, never blocking the UI."""

    # image, {"tier", "ms", "request_id", "model_id", "digest", "dropout", "seed", "bn_stats", "runner"}
    result_ready = Signal(object, dict)
    errored = Signal(str)
    variations_ready = Signal(object, object)  # list of images, list of seeds

    def __init__(self, parent=None, *, scheduler: LiveScheduler | None = None, clock=time.monotonic):
        super().__init__(parent)
        self.scheduler = scheduler or LiveScheduler()
        self._clock = clock
        self.worker = TranslationWorker()
        self.worker.done.connect(self._on_done)
        self.worker.failed.connect(self._on_failed)
        self.worker.start()
        _RUNNING.add(self.worker)
        worker = self.worker  # the lambda must not hold `self`: it runs after the C++ object is gone
        self.destroyed.connect(lambda *_: worker.stop())
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(_stop_all)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._pump)
        self.model_id: str | None = None
        self.generation = 0  # counts set_model calls: a job from an earlier one is never shown
        self.dropout = False
        self.seed = 0
        self.bn_stats = "running"
        self._next_id = 0
        self._latest: TranslationRequest | None = None
        self._pending: TranslationRequest | None = None
        self._running: TranslationRequest | None = None
        self._variations: TranslationRequest | None = None
        self._shown_id = -1
        self.max_pending_seen = 0
        self.replaced = 0  # pending requests replaced by a newer change before they ran
        self.last_info: dict = {}

    # -- configuration
    def set_model(
        self,
        model_id: str,
        full,
        live=None,
        *,
        image: np.ndarray | None = None,
        bn_stats: str | None = None,
    ) -> None:
        """Install a model (a full Translator and an optional fast one) and translate the drawing with it
        (`image`, when the drawing changed with the model, else the last one submitted), with `bn_stats`
        when given (the model's preference). The same id again (another device) is a new model too: a
        job started before is not shown."""
        old = self.model_id
        if bn_stats is not None:
            self.bn_stats = bn_stats
        self.worker.install(model_id, full, live)
        self.model_id = model_id
        self.generation += 1
        self.scheduler.two_tier = live is not None
        self.scheduler.reset()
        if old and old != model_id and (self._running is None or self._running.model_id != old):
            self.worker.uninstall(old)
        if image is not None:
            self.submit(image)
        else:
            self._refresh()
        self._pump()  # an unchanged drawing under the same id is not "changed", but runs again

    def set_options(
        self, *, dropout: bool | None = None, seed: int | None = None, bn_stats: str | None = None
    ):
        if dropout is not None:
            self.dropout = bool(dropout)
        if seed is not None:
            self.seed = int(seed)
        if bn_stats is not None:
            self.bn_stats = bn_stats
        self._refresh()

    def _refresh(self) -> None:
        if self._latest is not None:
            self.submit(self._latest.image)

    # -- inputs
    def submit(self, image: np.ndarray) -> None:
        """The drawing changed: replace the pending request with this one (never queue)."""
        if self.model_id is None:
            return
        self._next_id += 1
        req = TranslationRequest.make(
            image,
            request_id=self._next_id,
            model_id=self.model_id,
            dropout=self.dropout,
            seed=self.seed,
            bn_stats=self.bn_stats,
            generation=self.generation,
        )
        if not self.scheduler.changed(req.key, self._clock()):
            return
        if self._pending is not None:
            self.replaced += 1
        self._latest = self._pending = req
        self.max_pending_seen = max(self.max_pending_seen, self.pending_count())
        self._pump()

    def pen_down(self) -> None:
        self.scheduler.pen(True, self._clock())

    def pen_up(self) -> None:
        self.scheduler.pen(False, self._clock())
        self._pump()

    def request_variations(self, image: np.ndarray, seeds: list[int]) -> None:
        """Several dropout samples of one drawing; answered by `variations_ready`."""
        if self.model_id is None:
            return
        self._next_id += 1
        self._variations = TranslationRequest.make(
            image,
            request_id=self._next_id,
            model_id=self.model_id,
            tier="full",
            bn_stats=self.bn_stats,
            seeds=tuple(int(s) for s in seeds),
            generation=self.generation,
        )
        self._pump()

    # -- state
    def pending_count(self) -> int:
        return int(self._pending is not None)

    def busy(self) -> bool:
        return self._running is not None

    def shutdown(self) -> None:
        """Stop the worker thread (finishing its current job); the controller is unusable afterwards."""
        self._timer.stop()
        self.worker.stop()

    # -- the loop
    def _pump(self) -> None:
        if self._running is not None:
            return  # _on_done / _on_failed pumps again
        if self._variations is not None:
            req, self._variations = self._variations, None
            self._start(req)
            return
        now = self._clock()
        tier = self.scheduler.next_tier(now)
        if tier is None:
            wait = self.scheduler.wake_in(now)
            if wait is not None:
                self._timer.start(max(1, int(wait * 1000 + 0.5)))
            return
        self._timer.stop()
        req = dataclasses.replace(self._latest, tier=tier, generation=self.generation)
        self._pending = None
        self.scheduler.started(tier, now)
        self._start(req)

    def _start(self, req: TranslationRequest) -> None:
        self._running = req
        self.worker.submit(req)

    def _finish(self, req: TranslationRequest, ok: bool, ms: float | None = None) -> None:
        if self._running is not None and self._running.request_id == req.request_id:
            self._running = None
            if req.model_id != self.model_id:
                self.worker.uninstall(req.model_id)  # a replaced model, kept only while it ran
            if not req.seeds:
                self.scheduler.finished(self._clock(), ok=ok, ms=ms)
        self._pump()

    def _on_done(self, req: TranslationRequest, out, ms: float, runner: str = "torch") -> None:
        if req.seeds:
            if req.generation != self.generation and self._variations is None:  # ask the new model
                self._variations = dataclasses.replace(
                    req, model_id=self.model_id, generation=self.generation
                )
            self._finish(req, True)
            if req.generation == self.generation:
                self.variations_ready.emit(out, list(req.seeds))
            return
        stale = (
            req.request_id < self._shown_id
            or req.model_id != self.model_id
            or req.generation != self.generation
        )
        if not stale:
            self._shown_id = req.request_id
            self.last_info = {
                "tier": req.tier,
                "ms": ms,
                "request_id": req.request_id,
                "model_id": req.model_id,
                "digest": req.digest,
                "dropout": req.dropout,
                "seed": req.seed,
                "bn_stats": req.bn_stats,
                "runner": runner,
            }
        self._finish(req, True, ms)  # the worker's compute time: UI-side queueing is not model speed
        if not stale:
            self.result_ready.emit(out, dict(self.last_info))

    def _on_failed(self, req: TranslationRequest, message: str) -> None:
        self._finish(req, False)
        self.errored.emit(message)
