"""User settings in an INI file under the app's data folder (so tests, which move that folder, stay
isolated), and the recent-files list.

Scripted runs (`sketchpad app --screenshot`, the app benchmark, the soak) call `use_scratch()`: settings then
start empty and every write stays in memory, so the user's saved model, folders and recent files are never
read or changed. Values are read defensively: a hand-edited or damaged file gives defaults, never a crash."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PySide6.QtCore import QSettings

from sketchpad import paths

MAX_RECENT = 10
_MAX_PATH = 4096

_scratch: dict | None = None  # the throwaway scope, when in use


def use_scratch(on: bool = True) -> None:
    """Switch this process to a throwaway, in-memory settings scope (or back to the user's file)."""
    global _scratch
    _scratch = {} if on else None


@contextmanager
def scratch() -> Iterator[None]:
    """A throwaway settings scope for the duration of a `with` block."""
    global _scratch
    old, _scratch = _scratch, {}
    try:
        yield
    finally:
        _scratch = old


def is_scratch() -> bool:
    return _scratch is not None


def settings() -> QSettings:
    """The settings file; made per call because the data folder can change (tests)."""
    return QSettings(str(paths.data_dir() / "settings.ini"), QSettings.Format.IniFormat)


def _value(key: str, default):
    if _scratch is not None:
        return _scratch.get(key, default)
    return settings().value(key, default)


def get(key: str, default=None, type_=None):
    v = _value(key, default)
    if type_ is bool:
        return v if isinstance(v, bool) else str(v).lower() in ("1", "true", "yes")
    if type_ is not None:
        try:
            return type_(v)
        except (TypeError, ValueError):
            return default
    return v


def get_str(key: str, default: str | None = "") -> str | None:
    """A string setting; anything else (a list, a number a hand edit left) gives `default`."""
    v = _value(key, default)
    return v if isinstance(v, str) and "\x00" not in v and len(v) <= _MAX_PATH else default


def get_list(key: str) -> list[str]:
    """A list-of-strings setting (INI stores a one-item list as a string); junk items are dropped."""
    v = _value(key, [])
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list | tuple):
        return []
    return [p for p in v if isinstance(p, str) and p and "\x00" not in p and len(p) <= _MAX_PATH]


def put(key: str, value) -> None:
    if _scratch is not None:
        _scratch[key] = value
        return
    s = settings()
    s.setValue(key, value)
    s.sync()


def exists(path: str | os.PathLike, *, file: bool = False) -> bool:
    """Path.exists / is_file that say False, never raise, for any path a settings file may hold."""
    try:
        p = Path(path)
        return p.is_file() if file else p.exists()
    except (OSError, ValueError, TypeError):
        return False


def recent_files(kind: str = "drawings") -> list[str]:
    """The recent files that are still files, newest first."""
    return [p for p in get_list(f"recent/{kind}") if exists(p, file=True)]


def add_recent(path, kind: str = "drawings") -> list[str]:
    p = str(Path(path).resolve())
    items = [p] + [q for q in recent_files(kind) if q != p]
    items = items[:MAX_RECENT]
    put(f"recent/{kind}", items)
    return items
