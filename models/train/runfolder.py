"""The run folder's files, read defensively: a lock that dies with its process, and options.json,
latest_state.pt and metrics.jsonl checked field by field, so that a damaged or hand-edited file ends in
one line naming the file and the field."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, DataError
from .common import TrainOptions

LOCK_FILE = ".lock"
STATE_FORMAT = "sketchpad.train-state/1"


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


def read_log(path: Path) -> list[tuple[str, dict[str, Any]]]:
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
        if not isinstance(event, dict) or not isinstance(event.get("event"), str):
            raise DataError(f"{path}: line {n} has no 'event' field")
        for key in ("iter", "epoch"):
            if key in event and type(event[key]) is not int:
                raise DataError(f"{path}: line {n}: field {key!r} must be an integer")
        out.append((line if line.endswith("\n") else line + "\n", event))
    return out
