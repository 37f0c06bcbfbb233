"""Never lose a drawing: each running app writes its drawing to the autosave folder a few seconds after a
change (atomically) and removes it on a clean exit; a file whose app is no longer running is what a
crash left behind, and the next start offers to restore it."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from models.checkpoint import atomic_write
from models.errors import ImageError
from models.imageio import load_image, save_png
from sketchpad import paths

DEFAULT_DELAY_MS = 3000


def autosave_delay_ms() -> int:
    """SKETCHPAD_AUTOSAVE_MS overrides the delay (tests and scripts)."""
    try:
        return max(0, int(os.environ.get("SKETCHPAD_AUTOSAVE_MS", DEFAULT_DELAY_MS)))
    except ValueError:
        return DEFAULT_DELAY_MS


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        import psutil

        return psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except ImportError:
        pass
    except Exception:  # psutil.NoSuchProcess and friends: it is gone
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError, ValueError):  # gone, or no pid at all
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


@dataclass(frozen=True)
class Recovered:
    """A drawing an earlier session left behind."""

    png: Path
    meta: dict

    @property
    def saved_at(self) -> float:
        """When it was written: the notes' time, else the file's; 0 when neither is usable."""
        t = self.meta.get("time")
        if isinstance(t, int | float) and not isinstance(t, bool) and 0 <= t < 1e11:
            return float(t)
        try:
            return self.png.stat().st_mtime
        except OSError:
            return 0.0

    def image(self) -> np.ndarray:
        return load_image(self.png)

    def describe(self) -> str:
        try:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.saved_at))
        except (OverflowError, OSError, ValueError):
            when = "an unknown time"
        doc = self.meta.get("document")
        name = Path(doc).name if isinstance(doc, str) and doc and "\x00" not in doc else ""
        return f"{name or 'an unsaved drawing'} from {when}"


class AutosaveStore:
    """This session's autosave files (session-<pid>.png + .json) and those of dead sessions."""

    def __init__(self, directory: Path | None = None, pid: int | None = None):
        self.dir = Path(directory) if directory else paths.autosave_dir()
        self.pid = os.getpid() if pid is None else pid

    @property
    def png(self) -> Path:
        return self.dir / f"session-{self.pid}.png"

    @property
    def meta_path(self) -> Path:
        return self.png.with_suffix(".json")

    def write(self, image: np.ndarray, meta: dict | None = None) -> Path:
        """Save the drawing, then its notes; each file atomically."""
        self.dir.mkdir(parents=True, exist_ok=True)
        save_png(self.png, np.ascontiguousarray(image, dtype=np.uint8))
        info = {**(meta or {}), "pid": self.pid, "time": time.time()}
        atomic_write(self.meta_path, lambda tmp: Path(tmp).write_text(json.dumps(info)))
        return self.png

    def clear(self) -> None:
        for p in (self.png, self.meta_path):
            p.unlink(missing_ok=True)

    def orphans(self) -> list[Recovered]:
        """Autosaves of sessions that are no longer running, newest first."""
        found = []
        try:
            pngs = list(self.dir.glob("session-*.png"))
        except OSError:
            return []
        for png in pngs:
            try:
                pid = int(png.stem.split("-", 1)[1])
            except ValueError:
                continue
            if pid == self.pid or not png.is_file() or pid_alive(pid):
                continue  # a folder or a device under an autosave's name is no drawing
            meta_path = png.with_suffix(".json")
            try:
                meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
            except (OSError, ValueError):
                meta = {}
            found.append(Recovered(png, meta if isinstance(meta, dict) else {}))
        found.sort(key=lambda r: r.saved_at, reverse=True)
        return found

    @staticmethod
    def discard(rec: Recovered) -> None:
        rec.png.unlink(missing_ok=True)
        rec.png.with_suffix(".json").unlink(missing_ok=True)


class Autosaver(QObject):
    """Saves the drawing at most every `delay_ms`, starting at the first change after a save."""

    saved = Signal(str)  # path
    failed = Signal(str)  # one-line message

    def __init__(
        self,
        source: Callable[[], np.ndarray],
        meta: Callable[[], dict] | None = None,
        *,
        should_save: Callable[[], bool] | None = None,
        delay_ms: int | None = None,
        store: AutosaveStore | None = None,
        parent=None,
    ):
        super().__init__(parent)
        self.store = store or AutosaveStore()
        self._source, self._meta = source, meta or dict
        self._should_save = should_save or (lambda: True)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(autosave_delay_ms() if delay_ms is None else delay_ms)
        self._timer.timeout.connect(self._save_in_background)
        # PNG encoding and fsync take tens of ms: off the UI thread, one write at a time, in order.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="autosave")
        self._writing: Future | None = None
        self.enabled = True

    def schedule(self) -> None:
        """A change happened: save within the delay (continuous drawing still saves every delay)."""
        if self.enabled and not self._timer.isActive():
            self._timer.start()

    def pending(self) -> bool:
        return self._timer.isActive()

    def _write(self, image: np.ndarray, meta: dict) -> Path | None:
        try:
            path = self.store.write(image, meta)
        except (OSError, ImageError, ValueError) as e:
            self.failed.emit(f"autosave failed: {e}")  # queued to the UI thread when called from the writer
            return None
        self.saved.emit(str(path))
        return path

    def _save_in_background(self) -> None:
        """The timer's save: the drawing is copied here, encoded and written on the writer thread."""
        if not self._should_save():
            self.wait()
            self.store.clear()
            return
        self._writing = self._writer.submit(
            self._write, np.array(self._source(), dtype=np.uint8), self._meta()
        )

    def wait(self) -> None:
        """Block until a background write in flight has landed."""
        if self._writing is not None:
            self._writing.result()
            self._writing = None

    def save_now(self) -> Path | None:
        """Write the drawing now, synchronously; an unmodified drawing (saved, or undone to clean) removes
        the file."""
        self._timer.stop()
        self.wait()
        if not self._should_save():
            self.store.clear()
            return None
        return self._write(np.array(self._source(), dtype=np.uint8), self._meta())

    def clear(self) -> None:
        """A clean exit (or a saved, closed document): nothing to restore."""
        self._timer.stop()
        self.wait()  # a write landing after this would leave a file to "restore"
        self.store.clear()
