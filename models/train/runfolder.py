"""A run folder, the one place that knows its files: their names, a lock that dies with its process,
options.json, latest_state.pt and metrics.jsonl checked field by field for the trainer (a damaged or
hand-edited file ends in one line naming the file and the field), and for the app a summary of each
run that never raises, listing, rename and delete.

RUN/options.json          the run's TrainOptions
RUN/latest.safetensors    the newest generator (CycleGAN: also latest_G_B.safetensors)
RUN/latest_state.pt       the resume state of that generator: weights, optimisers, counters, RNG
RUN/metrics.jsonl         the trainer's events (models.train.events), one JSON object a line
RUN/samples/              sample grids, e001_i000200.png
RUN/.lock                 held while a trainer works in the folder
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from ..checkpoint import read_header
from ..dataset_make import sanitize_name
from ..errors import CheckpointError, DataError, SketchpadError
from . import events
from .common import INPUT_KINDS, TrainOptions

OPTIONS_FILE = "options.json"
G_FILE = "latest.safetensors"  # the generator the app loads
G_B_FILE = "latest_G_B.safetensors"  # CycleGAN: the generator of the other direction
STATE_FILE = "latest_state.pt"
LOG_FILE = "metrics.jsonl"
SAMPLES_DIR = "samples"
LOCK_FILE = ".lock"
RUN_MARKERS = (OPTIONS_FILE, LOG_FILE, G_FILE)  # what makes a folder a run
STATE_FORMAT = "sketchpad.train-state/1"
TAIL_BYTES = 256 * 1024  # metrics.jsonl grows a line per step; the newest events are at the end
OPTIONS_MAX_BYTES = 1 << 20  # options.json is a few KB; a bigger one is not ours


def is_run_dir(path: str | os.PathLike) -> bool:
    """A folder the trainer can resume: it has options.json."""
    return (Path(path) / OPTIONS_FILE).is_file()


def sample_path(run: Path, epoch: int, iteration: int) -> Path:
    """Where the sample grid of 1-based `epoch` at `iteration` goes."""
    return Path(run) / SAMPLES_DIR / f"e{epoch:03d}_i{iteration:06d}.png"


# ---------------------------------------------------------------- the lock


class RunLock:
    """An exclusive lock on a run folder, held while one trainer works in it. It is an flock on
    RUN/.lock, so the kernel drops it when the process dies (even by SIGKILL): a stale lock cannot block
    a later --resume. On Windows msvcrt locks the first byte the same way."""

    def __init__(self, run: Path):
        self.path = Path(run) / LOCK_FILE
        self._f = None

    def acquire(self) -> RunLock:
        f = open(self.path, "a+")  # noqa: SIM115 (held open for the lock's life)
        try:
            _lock(f)
        except OSError:
            f.seek(0)
            holder = f.read().strip()[:20]
            f.close()
            who = f" (process {holder})" if holder.isdigit() else ""
            raise DataError(
                f"{self.path.parent}: another trainer is running in this run folder{who}; "
                "wait for it to end or stop it first"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self._f = f
        return self

    def release(self) -> None:
        if self._f is not None:
            try:
                _unlock(self._f)
            finally:
                self._f.close()
                self._f = None

    def __del__(self) -> None:  # a trainer dropped without run() or close(): let go quietly
        self.release()

    @property
    def held(self) -> bool:
        return self._f is not None


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock(f) -> None:
        f.seek(0)
        msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)

    def _unlock(f) -> None:
        f.seek(0)
        msvcrt.locking(f.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(f) -> None:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(f) -> None:
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)


# ---------------------------------------------------------------- options.json


def read_options(path: Path) -> TrainOptions:
    """options.json as TrainOptions; fields missing from it (a run made by older code) take defaults.
    A DataError names the file and the field for bad JSON, unknown fields, wrong types or values."""
    try:
        raw = json.loads(Path(path).read_text())
    except OSError as e:
        raise DataError(f"{path}: unreadable ({e.strerror or e})") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text file") from None
    except ValueError as e:
        raise DataError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(raw, dict):
        raise DataError(f"{path}: not a JSON object of options")
    defaults = TrainOptions()
    known = {f.name for f in fields(TrainOptions)}
    for key, value in raw.items():
        if key not in known:
            raise DataError(f"{path}: unknown field {str(key)[:40]!r}")
        expected = type(getattr(defaults, key))
        ok = (
            isinstance(value, bool)
            if expected is bool
            else (
                type(value) is int
                if expected is int
                else (type(value) in (int, float) if expected is float else isinstance(value, expected))
            )
        )
        if not ok:
            raise DataError(f"{path}: field {key!r} must be {expected.__name__}, not {value!r:.40}")
    opts = TrainOptions.from_dict(raw)
    try:
        opts.validate()
    except DataError as e:
        raise DataError(f"{path}: {e}") from None
    return opts


# ---------------------------------------------------------------- latest_state.pt


def read_state(path: Path) -> dict[str, Any]:
    """The resume state, loaded weights-only and checked for the fields the loop reads."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # damaged file: say so in one line
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise CheckpointError(f"{path}: unreadable resume state ({first})") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise CheckpointError(f"{path}: not a sketchpad resume state")

    def bad(field: str, why: str) -> CheckpointError:
        return CheckpointError(f"{path}: field {field!r} {why}")

    for key in ("epoch", "iter", "iter_in_epoch"):
        if type(state.get(key)) is not int or state[key] < 0:
            raise bad(key, "must be a count >= 0")
    model = state.get("model")
    if not isinstance(model, dict):
        raise bad("model", "is missing")
    for part in ("nets", "optimizers"):
        if not isinstance(model.get(part), dict):
            raise bad(f"model.{part}", "is missing")
    if not isinstance(state.get("rng"), dict):
        raise bad("rng", "is missing")
    for key in ("metrics_json", "generator_arch"):
        if key in state:
            try:
                ok = isinstance(json.loads(state[key]), dict)
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise bad(key, "is not a JSON object")
    seconds = state.get("seconds", 0.0)
    if type(seconds) not in (int, float) or not 0 <= seconds < 1e10:
        raise bad("seconds", "must be a time in seconds")
    for key in ("commands", "devices"):
        value = state.get(key, [])
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            raise bad(key, "must be a list of strings")
    return state


# ---------------------------------------------------------------- metrics.jsonl


def read_log(path: Path) -> list[tuple[str, events.Event]]:
    """(line, event) for each complete event of metrics.jsonl; a torn last line (a kill mid-write) is
    dropped. Any other line that is not an event object raises a DataError naming the line and field."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError as e:
        raise DataError(f"{path}: unreadable ({e.strerror or e})") from None
    lines = text.splitlines(keepends=True)
    out = []
    for n, line in enumerate(lines, 1):
        last = n == len(lines)
        try:
            event = json.loads(line)
        except ValueError:
            if last and not line.endswith("\n"):
                break  # torn by a kill: the work after the checkpoint is redone anyway
            if not line.strip():
                continue
            raise DataError(f"{path}: line {n} is not a JSON event") from None
        try:
            event = events.parse(event)
        except ValueError:
            raise DataError(f"{path}: line {n} has no {events.KEY!r} field") from None
        for key in ("iter", "epoch"):
            if key in event.fields and type(event.fields[key]) is not int:
                raise DataError(f"{path}: line {n}: field {key!r} must be an integer")
        out.append((line if line.endswith("\n") else line + "\n", event))
    return out


def read_events(path: Path) -> list[events.Event]:
    """The events at the end of a metrics.jsonl (at most TAIL_BYTES read); lines that are not events
    (torn by a kill, hand-edited) skipped. Never raises: a listing must survive any file."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - TAIL_BYTES))
            data = f.read()
    except OSError:
        return []
    lines = data.split(b"\n")
    if size > TAIL_BYTES:
        lines = lines[1:]  # the first line was cut in the middle
    out = []
    for ln in lines:
        try:
            out.append(events.parse(ln))
        except ValueError:  # a truncated or hand-edited line
            continue
    return out


# ---------------------------------------------------------------- runs, for a listing


class RunError(SketchpadError):
    """A run that cannot be renamed or deleted as asked."""


@dataclass
class RunInfo:
    """What a listing shows about one run folder."""

    path: Path
    name: str
    model: str = ""
    input_kind: str = ""  # "labels", "lineart", "image" or "" (not known yet)
    created: float = 0.0  # seconds since the epoch (folder or options.json time)
    updated: float = 0.0  # latest checkpoint's time, 0 if none yet
    epoch: int = 0
    iter: int = 0
    total_iters: int = 0
    val: dict = field(default_factory=dict)  # the last "val" event: l1, psnr
    losses: dict = field(default_factory=dict)  # the last step's losses
    state: str = ""  # "done", "stopped", "error" or "" (unknown / running)
    has_checkpoint: bool = False  # latest.safetensors exists and its header reads
    has_state: bool = False  # latest_state.pt exists (the run can be resumed)
    damaged: str = ""  # why part of the folder cannot be used ("" when nothing is wrong)

    @property
    def display_name(self) -> str:
        """The folder name as text (bytes that are not UTF-8 shown as U+FFFD)."""
        return display_name(self.name)

    @property
    def checkpoint(self) -> Path | None:
        return self.path / G_FILE if self.has_checkpoint else None

    @property
    def resumable(self) -> bool:
        return self.has_state and self.state != events.DONE

    def metrics_text(self) -> str:
        parts = []
        l1, psnr = _number(self.val.get("l1")), _number(self.val.get("psnr"))
        if l1 is not None:
            parts.append(f"val L1 {l1:.3f}")
        if psnr is not None:
            parts.append(f"PSNR {psnr:.1f}")
        g_l1 = _number(self.losses.get("G_L1"))
        if not parts and g_l1 is not None:
            parts.append(f"G_L1 {g_l1:.3f}")
        return ", ".join(parts)


def display_name(name: str) -> str:
    """A file name as text a UI can show: undecodable bytes (surrogate escapes) become U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def is_text_name(name: str) -> bool:
    """False for a name whose bytes are not UTF-8: Qt cannot carry it, so it cannot be an item's data."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _number(v) -> float | None:
    """A finite float from a JSON value, or None (strings, lists, NaN from a hand-edited file)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _count(v, default: int) -> int:
    n = _number(v)
    return int(n) if n is not None and n >= 0 else default


def _options_dict(d: Path) -> dict:
    p = d / OPTIONS_FILE
    with open(p, "rb") as f:
        raw = f.read(OPTIONS_MAX_BYTES + 1)
    if len(raw) > OPTIONS_MAX_BYTES:
        raise ValueError(f"{OPTIONS_FILE} is too large")
    opts = json.loads(raw)
    if not isinstance(opts, dict):
        raise ValueError(f"{OPTIONS_FILE} is not a JSON object")
    return opts


def read_run(run_dir: str | os.PathLike) -> RunInfo:
    """A RunInfo from a run folder's options.json, metrics.jsonl and checkpoint header. Never raises: a
    file that is missing leaves its fields empty; one that is there but unreadable sets `damaged`."""
    d = Path(run_dir)
    info = RunInfo(path=d, name=d.name)
    problems = []
    try:
        info.created = d.stat().st_mtime
        os.listdir(d)
    except OSError as e:
        info.damaged = f"cannot read the folder ({_reason(e)})"
        return info
    try:
        opts = _options_dict(d)
        info.model = str(opts.get("model", ""))[:40]
        kind = opts.get("input_kind")
        info.input_kind = kind if kind in INPUT_KINDS else ""
        info.created = (d / OPTIONS_FILE).stat().st_mtime
    except FileNotFoundError:
        pass
    except (OSError, ValueError, RecursionError) as e:
        problems.append(f"{OPTIONS_FILE} is unreadable ({_reason(e)})")
    ckpt = d / G_FILE
    try:
        if ckpt.is_file():
            info.updated = ckpt.stat().st_mtime
            header = read_header(ckpt)
            info.has_checkpoint = True
            if header.get("input_kind") in INPUT_KINDS:
                info.input_kind = header["input_kind"]
    except (OSError, SketchpadError, RecursionError) as e:
        problems.append(f"{G_FILE} is damaged ({_reason(e)})")
    try:
        info.has_state = (d / STATE_FILE).is_file()
    except OSError:
        pass
    for ev in read_events(d / LOG_FILE):
        kind, f = ev.kind, ev.fields
        if kind in (events.STEP, events.CHECKPOINT, events.START, *events.ENDS):
            info.epoch = _count(f.get("epoch"), info.epoch)
            info.iter = _count(f.get("iter"), info.iter)
        if kind == events.START:
            info.model = info.model or str(f.get("model", ""))[:40]
            info.state = ""
        elif kind == events.STEP:
            info.losses = f["losses"] if isinstance(f.get("losses"), dict) else {}
            info.total_iters = _count(f.get("total_iters"), 0)
        elif kind == events.VAL:
            info.val = f
        elif kind in (*events.ENDS, events.ERROR):
            info.state = kind
    if not is_text_name(d.name):
        problems.append("the folder name is not valid UTF-8: rename it to use it")
    info.damaged = "; ".join(problems)
    return info


def _reason(e: BaseException) -> str:
    if isinstance(e, OSError):
        return e.strerror or type(e).__name__
    return (str(e).splitlines() or [type(e).__name__])[0][:120]


def _is_run(p: Path) -> bool:
    """A folder with a run's files. An unreadable folder counts (it is listed as damaged, not hidden)."""
    try:
        if not p.is_dir():
            return False
        return any((p / m).exists() for m in RUN_MARKERS)
    except OSError:
        return True


def list_runs(root: str | os.PathLike) -> list[RunInfo]:
    """Every run folder under `root`, newest first. Never raises: a folder it cannot read is listed with
    `damaged` saying why."""
    try:
        children = list(Path(root).iterdir())
    except (OSError, ValueError):
        return []
    runs = []
    for p in children:
        if not _is_run(p):
            continue
        try:
            runs.append(read_run(p))
        except OSError as e:  # read_run handles its files; this is the folder itself vanishing or locked
            runs.append(RunInfo(path=p, name=p.name, damaged=f"unreadable folder ({_reason(e)})"))
    runs.sort(key=lambda r: max(r.updated, r.created), reverse=True)
    return runs


def generator_files(root: str | os.PathLike) -> list[Path]:
    """Every run's generator file (ROOT/*/latest.safetensors) that exists; unordered."""
    return list(Path(root).glob(f"*/{G_FILE}"))


def new_run_dir(name: str, root: str | os.PathLike) -> Path:
    """A fresh folder path for a run called `name` (sanitised; `_2`, `_3`... if taken). Not created."""
    root = Path(root)
    base = sanitize_name(name, "run")
    out, n = root / base, 2
    while out.exists():
        out, n = root / f"{base}_{n}", n + 1
    return out


def rename_run(run_dir: str | os.PathLike, new_name: str) -> Path:
    """Rename a run's folder (its name in the model picker); returns the new path."""
    d = Path(run_dir)
    name = sanitize_name(new_name, "run")
    target = d.with_name(name)
    if target == d:
        return d
    if target.exists():
        raise RunError(f"a run called {name!r} already exists")
    try:
        d.rename(target)
    except OSError as e:
        raise RunError(f"cannot rename {display_name(d.name)}: {e.strerror or e}") from None
    return target


def delete_run(run_dir: str | os.PathLike, root: str | os.PathLike) -> None:
    """Delete a run folder; refuses anything that is not a run directly inside `root`."""
    d = Path(run_dir).resolve()
    if d.parent != Path(root).resolve() or not _is_run(d):
        raise RunError(f"{display_name(str(d))}: not a training run folder; nothing deleted")
    try:
        shutil.rmtree(d)
    except OSError as e:
        raise RunError(f"cannot delete {display_name(d.name)}: {e.strerror or e}") from None
