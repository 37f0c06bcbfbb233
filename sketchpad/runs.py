"""The user's training runs on disk (folders under paths.runs_dir()): what each one holds, read so that
no folder can break a listing, and rename / delete. Qt-free; the runs list widget shows these.

for run in list_runs():           # newest first; never raises
    print(run.display_name, run.input_kind, run.damaged or "ok")
"""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from models.checkpoint import read_header
from models.dataset_make import sanitize_name
from models.errors import SketchpadError
from sketchpad import paths

RUN_MARKERS = ("options.json", "metrics.jsonl", "latest.safetensors")  # what makes a folder a run
TAIL_BYTES = 256 * 1024  # metrics.jsonl grows a line per step; the newest events are at the end
OPTIONS_MAX_BYTES = 1 << 20  # options.json is a few KB; a bigger one is not ours
KIND_NAMES = {"labels": "label maps", "lineart": "line art", "image": "images"}


class RunError(SketchpadError):
    """A run that cannot be renamed or deleted as asked."""


@dataclass
class RunInfo:
    """What the list shows about one run folder."""

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
        return self.path / "latest.safetensors" if self.has_checkpoint else None

    @property
    def resumable(self) -> bool:
        return self.has_state and self.state != "done"

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
    """A file name as text Qt can show: undecodable bytes (surrogate escapes) become U+FFFD."""
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


def tail_events(path: Path, limit: int = TAIL_BYTES) -> list[dict]:
    """The JSON events at the end of a metrics.jsonl (at most `limit` bytes read); bad lines skipped."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - limit))
            data = f.read()
    except OSError:
        return []
    lines = data.split(b"\n")
    if size > limit:
        lines = lines[1:]  # the first line was cut in the middle
    out = []
    for ln in lines:
        try:
            ev = json.loads(ln)
        except (ValueError, RecursionError):  # a truncated or hand-edited line
            continue
        if isinstance(ev, dict):
            out.append(ev)
    return out


def _read_options(d: Path) -> dict:
    p = d / "options.json"
    with open(p, "rb") as f:
        raw = f.read(OPTIONS_MAX_BYTES + 1)
    if len(raw) > OPTIONS_MAX_BYTES:
        raise ValueError("options.json is too large")
    opts = json.loads(raw)
    if not isinstance(opts, dict):
        raise ValueError("options.json is not a JSON object")
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
        opts = _read_options(d)
        info.model = str(opts.get("model", ""))[:40]
        kind = opts.get("input_kind")
        info.input_kind = kind if kind in KIND_NAMES else ""
        info.created = (d / "options.json").stat().st_mtime
    except FileNotFoundError:
        pass
    except (OSError, ValueError, RecursionError) as e:
        problems.append(f"options.json is unreadable ({_reason(e)})")
    ckpt = d / "latest.safetensors"
    try:
        if ckpt.is_file():
            info.updated = ckpt.stat().st_mtime
            header = read_header(ckpt)
            info.has_checkpoint = True
            if header.get("input_kind") in KIND_NAMES:
                info.input_kind = header["input_kind"]
    except (OSError, SketchpadError, RecursionError) as e:
        problems.append(f"latest.safetensors is damaged ({_reason(e)})")
    try:
        info.has_state = (d / "latest_state.pt").is_file()
    except OSError:
        pass
    for ev in tail_events(d / "metrics.jsonl"):
        kind = ev.get("event")
        if kind in ("step", "checkpoint", "done", "stopped", "start"):
            info.epoch = _count(ev.get("epoch"), info.epoch)
            info.iter = _count(ev.get("iter"), info.iter)
        if kind == "start":
            info.model = info.model or str(ev.get("model", ""))[:40]
            info.state = ""
        elif kind == "step":
            info.losses = ev["losses"] if isinstance(ev.get("losses"), dict) else {}
            info.total_iters = _count(ev.get("total_iters"), 0)
        elif kind == "val":
            info.val = ev
        elif kind in ("done", "stopped", "error"):
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


def list_runs(root: str | os.PathLike | None = None) -> list[RunInfo]:
    """Every run folder under `root` (default paths.runs_dir()), newest first. Never raises: a folder it
    cannot read is listed with `damaged` saying why."""
    try:
        root = Path(root) if root is not None else paths.runs_dir()
        children = list(root.iterdir())
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


def new_run_dir(name: str, root: str | os.PathLike | None = None) -> Path:
    """A fresh folder path for a run called `name` (sanitised; `_2`, `_3`... if taken). Not created."""
    root = Path(root) if root is not None else paths.runs_dir()
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


def delete_run(run_dir: str | os.PathLike, root: str | os.PathLike | None = None) -> None:
    """Delete a run folder; refuses anything that is not a run inside the runs folder."""
    d = Path(run_dir).resolve()
    root = (Path(root) if root is not None else paths.runs_dir()).resolve()
    if d.parent != root or not _is_run(d):
        raise RunError(f"{display_name(str(d))}: not a training run folder; nothing deleted")
    try:
        shutil.rmtree(d)
    except OSError as e:
        raise RunError(f"cannot delete {display_name(d.name)}: {e.strerror or e}") from None
