"""The user's training runs (folders under paths.runs_dir()): name, date, progress and metrics, with
rename, delete, resume and "use in live view"."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QInputDialog,
    QMessageBox,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from models.dataset_make import sanitize_name
from models.errors import SketchpadError
from sketchpad import paths

RUN_MARKERS = ("options.json", "metrics.jsonl", "latest.safetensors")  # what makes a folder a run
TAIL_BYTES = 256 * 1024  # metrics.jsonl grows a line per step; the newest events are at the end


class RunError(SketchpadError):
    """A run that cannot be renamed or deleted as asked."""


@dataclass
class RunInfo:
    """What the list shows about one run folder."""

    path: Path
    name: str
    model: str = ""
    created: float = 0.0  # seconds since the epoch (folder or options.json time)
    updated: float = 0.0  # latest checkpoint's time, 0 if none yet
    epoch: int = 0
    iter: int = 0
    total_iters: int = 0
    val: dict = field(default_factory=dict)  # the last "val" event: l1, psnr
    losses: dict = field(default_factory=dict)  # the last step's losses
    state: str = ""  # "done", "stopped", "error" or "" (unknown / running)

    @property
    def checkpoint(self) -> Path | None:
        p = self.path / "latest.safetensors"
        return p if p.is_file() else None

    @property
    def resumable(self) -> bool:
        return (self.path / "latest_state.pt").is_file() and self.state != "done"

    def metrics_text(self) -> str:
        parts = []
        if self.val.get("l1") is not None:
            parts.append(f"val L1 {float(self.val['l1']):.3f}")
        if self.val.get("psnr") is not None:
            parts.append(f"PSNR {float(self.val['psnr']):.1f}")
        if not parts and "G_L1" in self.losses:
            parts.append(f"G_L1 {float(self.losses['G_L1']):.3f}")
        return ", ".join(parts)


def tail_events(path: Path, limit: int = TAIL_BYTES) -> list[dict]:
    """The JSON events at the end of a metrics.jsonl (at most `limit` bytes read)."""
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
        except ValueError:
            continue
        if isinstance(ev, dict):
            out.append(ev)
    return out


def read_run(run_dir: str | os.PathLike) -> RunInfo:
    """A RunInfo from a run folder's options.json and metrics.jsonl; missing files leave fields empty."""
    d = Path(run_dir)
    info = RunInfo(path=d, name=d.name)
    try:
        opts = json.loads((d / "options.json").read_text("utf-8"))
        if isinstance(opts, dict):
            info.model = str(opts.get("model", ""))
        info.created = (d / "options.json").stat().st_mtime
    except (OSError, ValueError):
        try:
            info.created = d.stat().st_mtime
        except OSError:
            pass
    ckpt = d / "latest.safetensors"
    if ckpt.is_file():
        info.updated = ckpt.stat().st_mtime
    for ev in tail_events(d / "metrics.jsonl"):
        kind = ev.get("event")
        if kind in ("step", "checkpoint", "done", "stopped", "start"):
            info.epoch = int(ev.get("epoch", info.epoch) or 0)
            info.iter = int(ev.get("iter", info.iter) or 0)
        if kind == "start":
            info.model = info.model or str(ev.get("model", ""))
            info.state = ""
        elif kind == "step":
            info.losses = ev.get("losses") or {}
            info.total_iters = int(ev.get("total_iters", 0) or 0)
        elif kind == "val":
            info.val = ev
        elif kind in ("done", "stopped", "error"):
            info.state = kind
    return info


def list_runs(root: str | os.PathLike | None = None) -> list[RunInfo]:
    """Every run folder under `root` (default paths.runs_dir()), newest first."""
    root = Path(root) if root is not None else paths.runs_dir()
    if not root.is_dir():
        return []
    runs = [read_run(p) for p in root.iterdir() if p.is_dir() and any((p / m).exists() for m in RUN_MARKERS)]
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
        raise RunError(f"cannot rename {d.name}: {e.strerror or e}") from None
    return target


def delete_run(run_dir: str | os.PathLike, root: str | os.PathLike | None = None) -> None:
    """Delete a run folder; refuses anything that is not a run inside the runs folder."""
    d = Path(run_dir).resolve()
    root = (Path(root) if root is not None else paths.runs_dir()).resolve()
    if d.parent != root or not any((d / m).exists() for m in RUN_MARKERS):
        raise RunError(f"{d}: not a training run folder; nothing deleted")
    try:
        shutil.rmtree(d)
    except OSError as e:
        raise RunError(f"cannot delete {d.name}: {e.strerror or e}") from None


def _date(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t)) if t else ""


class RunsList(QWidget):
    """A table of runs; buttons act on the selected one. `busy` is the folder being trained (not touched)."""

    use_requested = Signal(str)  # a checkpoint path to put into the live view
    resume_requested = Signal(str)  # a run folder
    selected = Signal(str)  # a run folder ("" when none)
    changed = Signal()  # a run was renamed or deleted (the model picker lists runs too)
    message = Signal(str)

    COLUMNS = ("Name", "Date", "Model", "Progress", "Metrics")

    def __init__(self, parent: QWidget | None = None, root: str | os.PathLike | None = None):
        super().__init__(parent)
        self.root = Path(root) if root is not None else None
        self.busy: Path | None = None
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(list(self.COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setAlternatingRowColors(True)
        self.tree.itemSelectionChanged.connect(self._on_select)
        self.tree.itemDoubleClicked.connect(lambda *_: self._use())
        self.use_btn = QPushButton("Use in live view")
        self.resume_btn = QPushButton("Resume")
        self.rename_btn = QPushButton("Rename…")
        self.delete_btn = QPushButton("Delete…")
        self.refresh_btn = QPushButton("Refresh")
        self.use_btn.setToolTip("Load this run's latest checkpoint into the live view (the drawing stays)")
        self.resume_btn.setToolTip("Continue this run from its last checkpoint")
        self.use_btn.clicked.connect(self._use)
        self.resume_btn.clicked.connect(self._resume)
        self.rename_btn.clicked.connect(self._rename)
        self.delete_btn.clicked.connect(self._delete)
        self.refresh_btn.clicked.connect(self.refresh)
        bar = QHBoxLayout()
        for b in (self.use_btn, self.resume_btn, self.rename_btn, self.delete_btn):
            bar.addWidget(b)
        bar.addStretch(1)
        bar.addWidget(self.refresh_btn)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.tree, 1)
        lay.addLayout(bar)
        self.runs: list[RunInfo] = []
        self.refresh()

    def refresh(self) -> None:
        current = self.current()
        self.runs = list_runs(self.root)
        self.tree.clear()
        for r in self.runs:
            progress = f"epoch {r.epoch}, iter {r.iter}" + (f" / {r.total_iters}" if r.total_iters else "")
            if r.state:
                progress += f" ({r.state})"
            item = QTreeWidgetItem(
                [r.name, _date(r.updated or r.created), r.model, progress, r.metrics_text()]
            )
            item.setData(0, Qt.ItemDataRole.UserRole, str(r.path))
            item.setToolTip(0, str(r.path))
            self.tree.addTopLevelItem(item)
            if current is not None and r.path == current.path:
                item.setSelected(True)
        for c in range(len(self.COLUMNS)):
            self.tree.resizeColumnToContents(c)
        self._on_select()

    def current(self) -> RunInfo | None:
        items = self.tree.selectedItems() if hasattr(self, "tree") else []
        if not items:
            return None
        path = items[0].data(0, Qt.ItemDataRole.UserRole)
        return next((r for r in self.runs if str(r.path) == path), None)

    def select(self, run_dir: str | os.PathLike) -> None:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            item.setSelected(Path(item.data(0, Qt.ItemDataRole.UserRole)) == Path(run_dir))

    def _on_select(self) -> None:
        r = self.current()
        is_busy = r is not None and self.busy is not None and r.path == self.busy
        self.use_btn.setEnabled(r is not None and r.checkpoint is not None)
        self.resume_btn.setEnabled(r is not None and r.resumable and self.busy is None)
        self.rename_btn.setEnabled(r is not None and not is_busy)
        self.delete_btn.setEnabled(r is not None and not is_busy)
        self.selected.emit(str(r.path) if r else "")

    def set_busy(self, run_dir: str | os.PathLike | None) -> None:
        self.busy = Path(run_dir) if run_dir else None
        self._on_select()

    # Dialogs go through these two methods so that tests can answer them.
    def ask_name(self, current: str) -> str | None:
        name, ok = QInputDialog.getText(self, "Rename run", "New name:", text=current)
        return name if ok and name.strip() else None

    def confirm(self, text: str) -> bool:
        answer = QMessageBox.question(self, "Delete run", text)
        return answer == QMessageBox.StandardButton.Yes

    def _use(self) -> None:
        r = self.current()
        if r is not None and r.checkpoint is not None:
            self.use_requested.emit(str(r.checkpoint))

    def _resume(self) -> None:
        r = self.current()
        if r is not None and r.resumable:
            self.resume_requested.emit(str(r.path))

    def _rename(self) -> None:
        r = self.current()
        if r is None:
            return
        name = self.ask_name(r.name)
        if not name:
            return
        try:
            new = rename_run(r.path, name)
        except RunError as e:
            self.message.emit(str(e))
            return
        self.refresh()
        self.select(new)
        self.changed.emit()

    def _delete(self) -> None:
        r = self.current()
        if r is None or (self.busy is not None and r.path == self.busy):
            return
        if not self.confirm(f"Delete the run “{r.name}” and all its checkpoints and samples?"):
            return
        try:
            delete_run(r.path, self.root)
        except RunError as e:
            self.message.emit(str(e))
            return
        self.refresh()
        self.changed.emit()
