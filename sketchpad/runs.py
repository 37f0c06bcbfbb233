"""The user's training runs on disk, as the app sees them: the folders under paths.runs_dir(). What a run
folder holds and how it is read, listed, renamed and deleted is models.train.runfolder's; this module
gives those the app's runs folder and the app's names for input kinds. Qt-free; the runs list widget
shows these.

for run in list_runs():           # newest first; never raises
    print(run.display_name, run.input_kind, run.damaged or "ok")
"""

from __future__ import annotations

import os
from pathlib import Path

from models.train import runfolder
from models.train.runfolder import (  # re-exported: the app's widgets import them from here
    RunError,
    RunInfo,
    display_name,
    is_text_name,
    read_run,
    rename_run,
)
from sketchpad import paths

__all__ = [
    "KIND_NAMES",
    "RunError",
    "RunInfo",
    "delete_run",
    "display_name",
    "is_text_name",
    "list_runs",
    "new_run_dir",
    "read_run",
    "rename_run",
    "run_events",
]

KIND_NAMES = {"labels": "label maps", "lineart": "line art", "image": "images"}


def _root(root: str | os.PathLike | None) -> Path:
    return Path(root) if root is not None else paths.runs_dir()


def list_runs(root: str | os.PathLike | None = None) -> list[RunInfo]:
    """Every run folder under `root` (default paths.runs_dir()), newest first. Never raises."""
    try:
        root = _root(root)
    except (OSError, ValueError):
        return []
    return runfolder.list_runs(root)


def new_run_dir(name: str, root: str | os.PathLike | None = None) -> Path:
    """A fresh folder path for a run called `name` under `root` (default paths.runs_dir()). Not created."""
    return runfolder.new_run_dir(name, _root(root))


def delete_run(run_dir: str | os.PathLike, root: str | os.PathLike | None = None) -> None:
    """Delete a run folder; refuses anything that is not a run inside `root` (default paths.runs_dir())."""
    runfolder.delete_run(run_dir, _root(root))


def run_events(run_dir: str | os.PathLike) -> list[dict]:
    """The newest events of a run's log, each as the trainer wrote it (lines that are not events skipped)."""
    return [ev.fields for ev in runfolder.read_events(Path(run_dir) / runfolder.LOG_FILE)]
