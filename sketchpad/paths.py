"""Where Sketchpad finds its files: the shipped weights and resources, and the user's own (settings,
autosaves, training runs, recent files).

The shipped files live in the clone's top-level `weights/` and `resources/`; a wheel carries them as package
data in `sketchpad._data` (see pyproject.toml). `SKETCHPAD_DATA_DIR` overrides the platform's user data
folder (tests point it into a temp folder)."""

from __future__ import annotations

import os
import sys
from importlib import resources
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _shipped_dir(name: str) -> Path:
    """`name`/ inside the installed package (a wheel), else at the root of the clone (editable install)."""
    packaged = resources.files("sketchpad._data") / name
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    return REPO_ROOT / name


WEIGHTS_DIR = _shipped_dir("weights")
RESOURCES_DIR = _shipped_dir("resources")


def shipped_checkpoint(name_or_path: str) -> str:
    """`name_or_path` itself, or the shipped `weights/NAME.safetensors` when it is a bare model name ('faces',
    'faces-live') that is not an existing file."""
    p = Path(name_or_path)
    if p.exists() or p.name != name_or_path or p.suffix:
        return name_or_path
    shipped = WEIGHTS_DIR / f"{name_or_path}.safetensors"
    return str(shipped) if shipped.is_file() else name_or_path


def data_dir() -> Path:
    """The app's data folder, created on first use."""
    env = os.environ.get("SKETCHPAD_DATA_DIR")
    if env:
        root = Path(env)
    elif sys.platform == "win32":
        root = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "Sketchpad"
    elif sys.platform == "darwin":
        root = Path.home() / "Library" / "Application Support" / "Sketchpad"
    else:
        root = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "sketchpad"
    root.mkdir(parents=True, exist_ok=True)
    return root


def runs_dir() -> Path:
    """Training runs started from the app."""
    d = data_dir() / "runs"
    d.mkdir(parents=True, exist_ok=True)
    return d


def autosave_dir() -> Path:
    d = data_dir() / "autosave"
    d.mkdir(parents=True, exist_ok=True)
    return d
