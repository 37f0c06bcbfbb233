"""The training panel: pick or make a dataset, check it, train in a child process, watch losses and
samples, and put the newest checkpoint into the live view with one click.

panel = TrainingPanel(prompts=True)
panel.set_canvas(window.canvas)                        # traced on, saved as pairs; its kind is asked about
panel.set_live_model(window.model_entry)               # "Start from" follows it (and on every change)
panel.use_model_requested.connect(window.load_model)   # the panel never calls the window: it asks

It composes its parts, each in its own module: the "Dataset" box (dataset_box), the "Training" box
(recipe_box; the recipe itself is Qt-free: sketchpad.training_recipe), the run's buttons and progress
(run_controls), the Watch tab (watch_view), the Runs tab (runs_list) and tracing pairs (tracing). The panel
owns the trainer process and the run folder, and says what it needs through signals.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QMessageBox, QPlainTextEdit, QScrollArea, QTabWidget, QVBoxLayout, QWidget

from models.data import DataReport
from models.errors import SketchpadError
from models.train.common import TrainOptions
from models.train.runfolder import G_FILE, STATE_FILE
from sketchpad.models_list import ModelEntry
from sketchpad.runs import run_events
from sketchpad.training_process import TrainingProcess
from sketchpad.training_recipe import (
    SCRATCH,
    DataKind,
    PanelSettings,
    dataset_problems,
    kind_switch,
    make_request,
    model_name,
)
from sketchpad.widgets.dataset_box import DatasetBox
from sketchpad.widgets.recipe_box import RecipeBox
from sketchpad.widgets.run_controls import RunControls
from sketchpad.widgets.runs_list import RunsList
from sketchpad.widgets.tracing import Tracing
from sketchpad.widgets.watch_view import WatchView

__all__ = ["SCRATCH", "TrainingPanel"]


class TrainingPanel(QWidget):
    """Everything about training a model on your own pairs, in one dockable widget."""

    dataset_checked = Signal(object)  # DataReport
    model_loaded = Signal(str)  # a checkpoint put into the live view
    runs_changed = Signal()  # a run was made, renamed or deleted (the model picker lists runs)
    message = Signal(str)  # a one-line status for the window's status bar
    use_model_requested = Signal(str)  # a checkpoint to put into the live view (the window loads it)
    underlay_shown = Signal(str)  # a photo now under the canvas to trace (the window shows its opacity)

    def __init__(self, parent: QWidget | None = None, *, prompts: bool = True):
        super().__init__(parent)
        self.prompts = prompts  # False: questions are answered yes (tests, scripts)
        self.canvas = None  # the window's drawing (set_canvas); None: no tracing, no live view
        self.run_dir: Path | None = None
        self.proc = TrainingProcess(self)
        self.last_checkpoint = ""
        self._started_at = 0.0
        self._run_listed = False  # this run's checkpoint is in "Start from" and the model picker
        self._start_when_checked = False  # Start waits for the dataset check running in its worker
        self._asked_live = ""  # the checkpoint asked for in the live view, until the window has it

        self.dataset = DatasetBox()
        self.recipe = RecipeBox()
        self.controls = RunControls()
        self.watch = WatchView()
        self.runs = RunsList()
        self.log_view = QPlainTextEdit(readOnly=True)
        self.log_view.setMaximumBlockCount(500)
        self.tracing = Tracing(lambda text: self.confirm(text), self)

        setup = QWidget()
        sl = QVBoxLayout(setup)
        sl.addWidget(self.dataset)
        sl.addWidget(self.recipe)
        sl.addStretch(1)
        setup_scroll = QScrollArea(widgetResizable=True)
        setup_scroll.setWidget(setup)
        self.tabs = QTabWidget()
        self.tabs.addTab(setup_scroll, "Setup")
        self.tabs.addTab(self.watch, "Watch")
        self.tabs.addTab(self.runs, "Runs")
        self.tabs.addTab(self.log_view, "Log")
        lay = QVBoxLayout(self)
        lay.addWidget(self.controls)
        lay.addWidget(self.tabs, 1)
        self._connect()
        self._update_buttons()

    def _connect(self) -> None:
        d, r, c = self.dataset, self.recipe, self.controls
        d.folder_changed.connect(self._on_folder_changed)
        d.checked.connect(self._on_checked)
        d.skip_bad.toggled.connect(lambda *_: self._update_buttons())
        d.trace_requested.connect(self.trace_photo)
        d.save_pair_requested.connect(self.save_tracing_pair)
        r.changed.connect(self._refresh)
        c.start_btn.clicked.connect(self.start)
        c.pause_btn.clicked.connect(self.pause)
        c.resume_btn.clicked.connect(lambda: self.resume())
        c.stop_btn.clicked.connect(self.stop)
        c.use_btn.clicked.connect(self.use_latest)
        t = self.tracing
        t.message.connect(self.message)
        t.error.connect(self._show_error)
        t.underlay_shown.connect(self.underlay_shown)
        t.saved.connect(self.dataset.set_dataset)
        p = self.proc
        p.started.connect(self._on_started)
        p.step.connect(self._on_step)
        p.sample.connect(lambda ev: self.watch.show_sample(ev, self.controls.total))
        p.checkpoint.connect(self._on_checkpoint)
        p.val.connect(self._on_val)
        p.finished.connect(lambda ev: self._on_end(ev, "Finished"))
        p.stopped.connect(lambda ev: self._on_end(ev, "Paused" if self.proc.paused else "Stopped"))
        p.errored.connect(self._on_error)
        p.log.connect(self._on_log)
        p.state_changed.connect(lambda *_: self._update_buttons())
        self.runs.use_requested.connect(self.use_checkpoint)
        self.runs.resume_requested.connect(self.resume)
        self.runs.changed.connect(self._on_runs_changed)
        self.runs.message.connect(self._show_error)

    # ================================================================ what the window gives

    def set_canvas(self, canvas) -> None:
        """The window's drawing: traced on, saved as pairs, and its kind asked about before a model of
        another kind goes into the live view."""
        self.canvas = canvas
        self.tracing.canvas = canvas
        self._update_buttons()

    def set_live_model(self, entry: ModelEntry | None) -> None:
        """The model in the live view (the window calls this whenever it changes): "Start from" follows
        it (its live tier), except while a run uses the choice."""
        if self._is_asked_live(entry):
            path, self._asked_live = self._asked_live, ""
            self.model_loaded.emit(path)
            self.message.emit(f"Live view: {Path(path).parent.name}")
        if self.proc.is_running():
            self.recipe.live_entry = entry
            return
        self.recipe.follow_live_model(entry)

    # ================================================================ the dataset and the recipe

    @property
    def report(self) -> DataReport | None:
        return self.dataset.report

    def _on_folder_changed(self, folder: str) -> None:
        self._start_when_checked = False
        self.recipe.set_dataset(None, None)
        self._update_buttons()

    def _on_checked(self, report: DataReport, kind: DataKind) -> None:
        self.recipe.set_dataset(report, kind)
        self._refresh()
        self.dataset_checked.emit(report)
        if self._start_when_checked:  # Start was asked for while the check ran
            self._start_when_checked = False
            self.start()

    def start_problems(self) -> list[str]:
        """Why training cannot start: the dataset's problems and a "Start from" that does not fit it."""
        fit = self.recipe.fit()
        problems = dataset_problems(
            self.report, self.recipe.model_combo.currentData(), self.dataset.skip_bad_files()
        )
        return problems + ([fit] if fit else [])

    def _refresh(self) -> None:
        """The report with what can start, and the buttons, after the dataset or the recipe changed."""
        self.dataset.show_report(self.start_problems(), self.recipe.effective_holdout())
        self._update_buttons()

    def settings(self) -> PanelSettings:
        """The panel's fields as plain values (sketchpad.training_recipe builds the request from them)."""
        return self.recipe.settings(self.dataset.folder(), self.dataset.skip_bad_files())

    def request(self) -> TrainOptions:
        """The options of the run the current settings make (a fresh run folder is named, not yet made);
        raises UsageError or DataError for typed options that cannot work."""
        return make_request(self.settings())

    # ================================================================ tracing pairs

    def trace_photo(self, path: str) -> bool:
        """Show a photo under the canvas (a new drawing of the photo's shape) to trace over it."""
        ok = self.tracing.trace_photo(path)
        self._update_buttons()
        return ok

    def save_tracing_pair(self) -> tuple[Path, Path] | None:
        """Add (drawing, underlay photo) to the chosen dataset as one pair; returns the paths written."""
        return self.tracing.save_pair(self.dataset.folder())

    def confirm(self, text: str) -> bool:
        """Yes/no question; answered yes where prompts are off (tests, scripts)."""
        if not self.prompts:
            return True
        return QMessageBox.question(self, "Sketchpad", text) == QMessageBox.StandardButton.Yes

    # ================================================================ running

    def is_training(self) -> bool:
        return self.proc.is_running()

    def start(self) -> bool:
        """Start a new run with the current settings; False (and the reasons shown) if it cannot. A folder
        not checked yet is checked first, in a worker: the run starts when the report is in, if it can
        (False now); Start again meanwhile does nothing."""
        if self.proc.is_running() or self._start_when_checked:
            return False
        folder = self.dataset.folder()
        if folder and (self.report is None or self.report.root != folder):
            if self.dataset.checking() != folder:
                self.dataset.set_dataset(folder)
            self._start_when_checked = True
            return False
        problems = self.start_problems()
        if problems:
            self._refresh()
            self._show_error("Cannot start: " + "; ".join(problems))
            self.tabs.setCurrentIndex(0)
            return False
        try:
            opts = self.request()
        except SketchpadError as e:  # typed options that cannot work: the trainer would refuse them too
            self._show_error(f"Cannot start: {e}")
            return False
        self.run_dir = Path(opts.out)
        self._reset_watch()
        self.proc.start(opts)
        self._after_launch(f"Starting {self.run_dir.name}…")
        return True

    def resume(self, run_dir: str | None = None) -> bool:
        """Continue the paused run (or `run_dir` from the runs list) from its last checkpoint."""
        if self.proc.is_running():
            return False
        target = Path(run_dir) if run_dir else self.run_dir
        if target is None:
            return False
        if self.run_dir is None or target != self.run_dir:
            self._reset_watch()
            self.watch.load_metrics(run_events(target))
        self.run_dir = target
        self.proc.resume(target)
        self._after_launch(f"Resuming {target.name}…")
        return True

    def pause(self) -> None:
        self.proc.pause()
        self.controls.set_status("Pausing: saving a checkpoint…")

    def stop(self) -> None:
        self.proc.stop()
        self.controls.set_status("Stopping: saving a checkpoint…")

    def shutdown(self, wait_ms: int = 30_000) -> None:
        """The app is closing: pause the run (resumable) and wait for its checkpoint, then kill if stuck;
        a dataset check still running is waited for."""
        self.dataset.wait_checks(wait_ms)
        if not self.proc.is_running():
            return
        self.proc.pause()
        if not self.proc.wait(wait_ms):
            self.proc.kill()
            self.proc.wait(5000)

    def confirm_close(self) -> bool:
        """Ask before the window closes while training runs; True = close (the run is paused first)."""
        if not self.proc.is_running():
            return True
        if not self.confirm(
            "Training is running. Pause it and quit? A checkpoint is saved and you can resume the run later."
        ):
            return False
        self.shutdown()
        return True

    def _after_launch(self, text: str) -> None:
        self.controls.hide_error()
        self._run_listed = False
        self._started_at = time.monotonic()
        self.controls.set_status(text)
        self.runs.set_busy(self.run_dir)
        self.tabs.setCurrentWidget(self.watch)
        self.controls.watch_memory(self.proc.pid)
        self._update_buttons()

    def _reset_watch(self) -> None:
        self.watch.reset()
        self.controls.reset()
        self.last_checkpoint = ""

    # ---- events

    def _on_started(self, ev: dict) -> None:
        self.controls.show_started(ev, self.run_dir)
        self.runs.refresh()
        self.runs_changed.emit()

    def _on_step(self, ev: dict) -> None:
        self.controls.show_step(ev)
        self.watch.add_losses(self.controls.iter, ev.get("losses") or {})

    def _on_checkpoint(self, ev: dict) -> None:
        self.last_checkpoint = str(ev.get("path", ""))
        if not self._run_listed:  # the run can now be picked and fine-tuned from: the lists offer it
            self._run_listed = True
            self.runs.refresh()
            self._on_runs_changed()
        self._update_buttons()

    def _on_val(self, ev: dict) -> None:
        l1, psnr = ev.get("l1"), ev.get("psnr")
        bits = [
            f"val L1 {float(l1):.4f}" if l1 is not None else "",
            f"PSNR {float(psnr):.2f} dB" if psnr is not None else "",
        ]
        self.log_view.appendPlainText(f"epoch {ev.get('epoch', '?')}: " + ", ".join(b for b in bits if b))

    def _on_end(self, ev: dict, word: str) -> None:
        self.controls.watch_memory(None)
        if ev.get("path"):
            self.last_checkpoint = str(ev["path"])
        elif self.run_dir is not None and (self.run_dir / G_FILE).is_file():
            self.last_checkpoint = str(self.run_dir / G_FILE)
        minutes = (time.monotonic() - self._started_at) / 60 if self._started_at else 0
        self.controls.set_status(
            f"{word} at iteration {ev.get('iter', self.controls.iter)} ({minutes:.1f} min)"
        )
        self.runs.set_busy(None)
        self.runs.refresh()
        self._on_runs_changed()  # the runs list, "Start from" and the window's model picker, at once
        self._update_buttons()

    def _on_error(self, text: str) -> None:
        self.controls.watch_memory(None)
        self.runs.set_busy(None)
        self.runs.refresh()
        self._show_error(text)
        self.log_view.appendPlainText(text)
        self.controls.set_status("Training failed")
        self._update_buttons()

    def _on_log(self, line: str) -> None:
        if "it/s" in line and "%" in line:
            return  # the trainer's progress bar: the panel shows its own
        self.log_view.appendPlainText(line)

    def _show_error(self, text: str) -> None:
        self.controls.show_error(text)
        self.message.emit(text.splitlines()[0] if text else "")

    def _on_runs_changed(self) -> None:
        self.recipe.refresh_init_choices()
        self.runs_changed.emit()

    # ================================================================ using

    def latest_checkpoint(self) -> str:
        if self.last_checkpoint and Path(self.last_checkpoint).is_file():
            return self.last_checkpoint
        if self.run_dir is not None and (self.run_dir / G_FILE).is_file():
            return str(self.run_dir / G_FILE)
        return ""

    def use_latest(self) -> bool:
        """Hot-swap the newest checkpoint of this run into the live view; the drawing stays."""
        path = self.latest_checkpoint()
        return self.use_checkpoint(path) if path else False

    def use_checkpoint(self, path: str) -> bool:
        """Ask for a checkpoint in the live view (use_model_requested; True: asked). The window loads it,
        maybe in a worker, and says so through set_live_model: then `model_loaded`. One of another drawing
        kind than the drawing's is asked about first: a run never switches the drawing's kind without the
        user saying so."""
        if self.canvas is None:
            self._show_error("no live view to load the model into")
            return False
        why = kind_switch(path, self.canvas.kind())
        if why and not self.confirm(f"{why}.\n\nSwitch the live view to {model_name(path)} anyway?"):
            self.message.emit(f"Live view unchanged: {why}")
            return False
        self._asked_live = path
        self.use_model_requested.emit(path)
        return True

    def _is_asked_live(self, entry: ModelEntry | None) -> bool:
        """`entry` (now in the live view) is the checkpoint use_checkpoint asked for."""
        path = entry.path if entry is not None else None
        return (
            bool(self._asked_live)
            and path is not None
            and Path(path).resolve() == Path(self._asked_live).resolve()
        )

    def _update_buttons(self) -> None:
        running = self.proc.is_running()
        stopping = self.proc.state == "stopping"
        c = self.controls
        c.start_btn.setEnabled(not running and self.report is not None and not self.start_problems())
        c.pause_btn.setEnabled(running and not stopping)
        c.stop_btn.setEnabled(running and not stopping)
        resumable = self.run_dir is not None and (self.run_dir / STATE_FILE).is_file()
        c.resume_btn.setEnabled(not running and self.proc.paused and resumable)
        c.use_btn.setEnabled(bool(self.latest_checkpoint()) and self.canvas is not None)
        self.dataset.set_tracing(self.canvas is not None, self.tracing.can_save())
        self.dataset.set_running(running)
        self.recipe.set_running(running)
