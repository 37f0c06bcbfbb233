"""User settings in an INI file under the app's data folder (so tests, which move that folder, stay
isolated), and the recent-files list."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from sketchpad import paths

MAX_RECENT = 10


def settings() -> QSettings:
    """The settings store; made per call because the data folder can change (tests)."""
    return QSettings(str(paths.data_dir() / "settings.ini"), QSettings.Format.IniFormat)


def get(key: str, default=None, type_=None):
    s = settings()
    if type_ is bool:
        v = s.value(key, default)
        return v if isinstance(v, bool) else str(v).lower() in ("1", "true", "yes")
    if type_ is not None:
        try:
            return type_(s.value(key, default))
        except (TypeError, ValueError):
            return default
    return s.value(key, default)


def put(key: str, value) -> None:
    s = settings()
    s.setValue(key, value)
    s.sync()


def recent_files(kind: str = "drawings") -> list[str]:
    v = settings().value(f"recent/{kind}", [])
    if isinstance(v, str):
        v = [v]
    return [str(p) for p in (v or []) if Path(str(p)).exists()]


def add_recent(path, kind: str = "drawings") -> list[str]:
    p = str(Path(path).resolve())
    items = [p] + [q for q in recent_files(kind) if q != p]
    items = items[:MAX_RECENT]
    put(f"recent/{kind}", items)
    return items
