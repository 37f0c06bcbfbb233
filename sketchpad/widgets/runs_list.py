"""The user's training runs (folders under paths.runs_dir()): name, date, progress and metrics, with
rename, delete, resume and "use in live view"."""

from __future__ import annotations

import os
import time
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
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

from sketchpad.runs import KIND_NAMES, RunError, RunInfo, delete_run, is_text_name, list_runs, rename_run

DAMAGED_COLOR = "#b00020"


def _date(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t)) if t else ""


class RunsList(QWidget):
    """A table of runs; buttons act on the selected one. `busy` is the folder being trained (not touched)."""

    use_requested = Signal(str)  # a checkpoint path to put into the live view
    resume_requested = Signal(str)  # a run folder
    selected = Signal(str)  # a run folder ("" when none)
    changed = Signal()  # a run was renamed or deleted (the model picker lists runs too)
    message = Signal(str)

    COLUMNS = ("Name", "Input", "Date", "Model", "Progress", "Metrics")

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
        """Re-read the runs folder. A damaged run is listed in red with the reason in its tooltip."""
        current = self.current()
        self.runs = list_runs(self.root)
        self.tree.clear()
        for i, r in enumerate(self.runs):
            progress = f"epoch {r.epoch}, iter {r.iter}" + (f" / {r.total_iters}" if r.total_iters else "")
            if r.state:
                progress += f" ({r.state})"
            name = r.display_name + (" (damaged)" if r.damaged else "")
            kind = KIND_NAMES.get(r.input_kind, "")
            item = QTreeWidgetItem(
                [name, kind, _date(r.updated or r.created), r.model, progress, r.metrics_text()]
            )
            # The row's index, not its path: Qt cannot carry a folder name that is not UTF-8.
            item.setData(0, Qt.ItemDataRole.UserRole, i)
            tip = r.display_name if not r.damaged else f"{r.display_name}: {r.damaged}"
            item.setToolTip(0, tip)
            if r.damaged:
                item.setForeground(0, QBrush(QColor(DAMAGED_COLOR)))
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
        i = items[0].data(0, Qt.ItemDataRole.UserRole)
        return self.runs[i] if isinstance(i, int) and 0 <= i < len(self.runs) else None

    def select(self, run_dir: str | os.PathLike) -> None:
        for i, r in enumerate(self.runs):
            self.tree.topLevelItem(i).setSelected(r.path == Path(run_dir))

    def _on_select(self) -> None:
        r = self.current()
        is_busy = r is not None and self.busy is not None and r.path == self.busy
        usable = r is not None and is_text_name(r.name)  # Qt cannot pass a non-UTF-8 path on
        self.use_btn.setEnabled(usable and r.checkpoint is not None)
        self.resume_btn.setEnabled(usable and r.resumable and self.busy is None)
        self.rename_btn.setEnabled(r is not None and not is_busy)
        self.delete_btn.setEnabled(r is not None and not is_busy)
        self.selected.emit(str(r.path) if usable else "")

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
        if r is not None and r.checkpoint is not None and is_text_name(r.name):
            self.use_requested.emit(str(r.checkpoint))

    def _resume(self) -> None:
        r = self.current()
        if r is not None and r.resumable and is_text_name(r.name):
            self.resume_requested.emit(str(r.path))

    def _rename(self) -> None:
        r = self.current()
        if r is None:
            return
        name = self.ask_name(r.display_name)
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
        if not self.confirm(f"Delete the run “{r.display_name}” and all its checkpoints and samples?"):
            return
        try:
            delete_run(r.path, self.root)
        except RunError as e:
            self.message.emit(str(e))
            return
        self.refresh()
        self.changed.emit()
