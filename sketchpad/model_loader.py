"""Model loading and device choice, off the UI thread: a checkpoint is read and put on its device by a
worker thread while the window keeps drawing and the model in use keeps translating; the window hears
`loaded` (the new model, ready) or `failed` (one line; the model in use stays). A newer request replaces
an older one still loading. `wait` blocks until the newest request has ended: for startup, scripts and
tests, never for a user's action."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, Signal
from torch import nn

from models.checkpoint import Checkpoint, load_checkpoint
from models.errors import SketchpadError
from models.inference import Translator, preferred_modes
from sketchpad import models_list, settings
from sketchpad.models_list import ModelEntry

DEVICES = [("Auto", "auto"), ("CPU", "cpu"), ("CUDA", "cuda"), ("MPS", "mps")]
LOAD_ERRORS = (SketchpadError, ValueError, RuntimeError, OSError)  # a bad file, not a bug: one line

log = logging.getLogger(__name__)


def saved_device() -> str:
    """The device the user last chose; anything else in the settings file means 'auto'."""
    name = settings.get_str("device", "auto")
    return name if name in {v for _, v in DEVICES} else "auto"


def one_line(e: BaseException) -> str:
    """What failed, for the status bar: the message's first line."""
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to translate: its entry, checkpoint, full Translator and optional live one."""

    entry: ModelEntry
    checkpoint: Checkpoint
    full: Translator
    live: Translator | None
    device: str  # the device asked for (auto / cpu / cuda / mps); full.device is where it runs
    live_note: str = ""  # why the live model is not used, or ""

    @property
    def has_dropout(self) -> bool:
        return any(isinstance(m, nn.Dropout) for m in self.checkpoint.net.modules())

    @property
    def preferred_bn_stats(self) -> str:
        """The batch-norm statistics the model's header prefers ("image" for batch norm trained at batch
        size 1); its Translators already run at the fit it prefers."""
        return preferred_modes(self.checkpoint.meta)[0]

    @property
    def note(self) -> str:
        """The device fallback or the live model's problem, else ''."""
        return self.full.device_note or self.live_note


def read_model(entry: ModelEntry, device: str, backend: str) -> LoadedModel:
    """Read an entry's checkpoint (and its live tier) onto `device`; raises on a bad file. Runs on the
    loader's thread."""
    ckpt = models_list.builtin_checkpoint() if entry.is_builtin else load_checkpoint(entry.path)
    full = Translator(ckpt, device=device, backend=backend)
    live, live_note = None, ""
    if entry.live_path is not None:
        try:
            live = Translator(load_checkpoint(entry.live_path), device=device, backend=backend)
        except SketchpadError as e:
            live_note = f"live model not used: {e}"
    return LoadedModel(entry, ckpt, full, live, device, live_note)


class ModelLoader(QObject):
    """The model in use and the device it runs on; switches both on a worker thread."""

    loaded = Signal(object)  # LoadedModel, now the model in use
    failed = Signal(str)  # one line; the model in use stays
    _ended = Signal(int)  # a request's number, from the worker thread (queued to the UI thread)

    def __init__(self, *, device: str | None = None, backend: str = "auto", parent=None):
        super().__init__(parent)
        self.device_name = device or saved_device()  # the device of the model in use (or the next one)
        self.backend = backend
        self.current: LoadedModel | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-loader")
        self._seq = 0  # the newest request's number
        self._ended_seq = 0  # the newest request whose outcome was delivered
        self._future: Future | None = None
        self._remember_device = False  # the newest request is a device change: saved once it works
        self._target: tuple[ModelEntry, str] | None = None  # what the newest request loads, and where
        self.last_ok = False  # the newest delivered request's outcome
        self.before_read: Callable[[ModelEntry], None] | None = None  # test hook (e.g. a slow disk)
        self._ended.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    @property
    def entry(self) -> ModelEntry | None:
        return self.current.entry if self.current else None

    def busy(self) -> bool:
        """A request has not ended yet."""
        return self._ended_seq != self._seq

    def load(self, entry: ModelEntry, *, device: str | None = None) -> None:
        """Start loading `entry` on `device` (default: the one a request still loading asked for, else the
        current one); `loaded` or `failed` follows."""
        if device is None:
            device = self._target[1] if self.busy() and self._target else self.device_name
        self._seq += 1
        seq = self._seq
        self._target = (entry, device)
        self._remember_device = device != self.device_name
        self._future = self._pool.submit(self._run, seq, entry, device)

    def set_device(self, name: str) -> None:
        """Run the model (the one loading, else the one in use) on `name`; the choice is remembered once
        it loads there. With no model yet, it is the device the first one loads on."""
        if name == self.device_name and not self.busy():
            return
        target = self._target[0] if self.busy() and self._target else self.entry
        if target is None:
            self.device_name = name
            settings.put("device", name)
            return
        self.load(target, device=name)

    def _run(self, seq: int, entry: ModelEntry, device: str) -> LoadedModel | None:
        """On the worker: read the model, unless a newer request already replaced this one."""
        try:
            if seq != self._seq:
                return None
            if self.before_read is not None:
                self.before_read(entry)
            return read_model(entry, device, self.backend)
        finally:
            try:
                self._ended.emit(seq)
            except RuntimeError:  # the loader is gone (the window closed while this loaded)
                pass

    def _deliver(self, seq: int) -> None:
        """On the UI thread: the newest request's outcome, once; older requests' are dropped."""
        if seq != self._seq or self._ended_seq == seq or self._future is None:
            return
        self._ended_seq = seq
        try:
            model = self._future.result()
        except LOAD_ERRORS as e:
            self.last_ok = False
            self.failed.emit(f"Could not load the model: {one_line(e)}")
            return
        self.current, self.device_name, self.last_ok = model, model.device, True
        if self._remember_device:
            settings.put("device", model.device)
        self.loaded.emit(model)

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the newest request has ended and deliver its outcome now (startup, scripts,
        tests). True when its model is in use; False on failure or timeout."""
        future = self._future
        if future is None:
            return self.current is not None
        try:
            future.exception(timeout_s)
        except FutureTimeout:
            log.warning("model still loading after %s s", timeout_s)
            return False
        self._deliver(self._seq)
        return self.last_ok

    def shutdown(self) -> None:
        """Drop any request still loading (its thread finishes on its own; nothing is delivered)."""
        self._seq += 1
        self._ended_seq = self._seq
        self._pool.shutdown(wait=False, cancel_futures=True)
