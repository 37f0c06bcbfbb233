"""Where Sketchpad keeps its own files: settings, autosaves, training runs, recent files.

`SKETCHPAD_DATA_DIR` overrides the platform's user data folder (tests point it into a temp folder)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
WEIGHTS_DIR = REPO_ROOT / "weights"
RESOURCES_DIR = REPO_ROOT / "resources"


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
