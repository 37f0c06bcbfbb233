"""Training in its own process: `python -m sketchpad train ... --json`, its JSON lines turned into signals.

A crash, an out-of-memory kill or a Python error in the trainer ends that process only; the app gets an
`errored` signal carrying the trainer's last stderr lines. Stop and pause send SIGTERM, on which the
trainer saves a checkpoint at the next iteration boundary and exits; resume starts `--resume RUN_DIR`.

proc = TrainingProcess()
proc.step.connect(lambda ev: print(ev["iter"], ev["losses"]))
proc.start(make_options(data="my-set", out=str(runs_dir() / "cats")))
...
proc.pause()          # later: proc.resume()
"""

from __future__ import annotations

import os
import sys
from collections import deque
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from models.train import events
from models.train.common import TrainOptions, command_args, resume_args

STDERR_KEEP = 40  # lines of the trainer's stderr kept to explain a failure
KILL_AFTER_MS = 60_000  # a trainer that ignores SIGTERM this long is killed (its last checkpoint stays)
# Windows has no SIGTERM for console programs: a stop kills the trainer after this grace; the run resumes
# from its last checkpoint.
WINDOWS_KILL_AFTER_MS = 3000


class TrainingProcess(QObject):
    """One `sketchpad train --json` child process at a time, its events as signals (each carries the
    event's dict as the trainer sent it)."""

    started = Signal(dict)  # events.START
    step = Signal(dict)
    sample = Signal(dict)
    checkpoint = Signal(dict)
    val = Signal(dict)
    finished = Signal(dict)  # events.DONE: the run reached its end
    stopped = Signal(dict)  # stopped or paused on request; resumable
    unknown = Signal(dict)  # an event this app does not know (a newer trainer's): passed on, not lost
    errored = Signal(str)  # the trainer failed or died: one line, then its last stderr lines
    log = Signal(str)  # a line of the trainer's stderr (human progress, warnings)
    state_changed = Signal(str)  # "idle", "starting", "running", "stopping"

    def __init__(self, parent: QObject | None = None, *, python: str | None = None):
        super().__init__(parent)
        self.python = python or sys.executable
        self.run_dir: Path | None = None
        self.paused = False  # the last stop was a pause: the panel offers Resume
        self.last_event: dict = {}
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_KEEP)
        self._proc: QProcess | None = None
        self._out_buf = b""
        self._err_buf = b""
        self._stop_requested = False
        self._end_event: dict | None = None  # the trainer's events.ENDS, sent on once it has exited
        self._error_message = ""
        self._state = "idle"
        # How long a stopped trainer has to exit before it is killed.
        self.kill_after_ms = WINDOWS_KILL_AFTER_MS if sys.platform == "win32" else KILL_AFTER_MS

    # ------------------------------------------------------------ control

    @property
    def state(self) -> str:
        return self._state

    def is_running(self) -> bool:
        return self._proc is not None

    def pid(self) -> int:
        return int(self._proc.processId()) if self._proc is not None else 0

    def start(self, opts: TrainOptions) -> None:
        """Start a new run with `opts` (passed as render_command writes them)."""
        self.run_dir = Path(opts.out)
        self._launch(command_args(opts))

    def resume(self, run_dir: str | os.PathLike | None = None, overrides: dict | None = None) -> None:
        """Continue a stopped run from its last checkpoint (the same iteration counter and schedule);
        `overrides`: TrainOptions fields a resume may change (max_iters, device, num_workers)."""
        run_dir = Path(run_dir) if run_dir is not None else self.run_dir
        if run_dir is None:
            raise RuntimeError("no run to resume")
        self.run_dir = run_dir
        self._launch(resume_args(str(run_dir), overrides))

    def stop(self) -> None:
        """Ask the trainer to save and exit (SIGTERM); killed if it has not exited after a minute (on
        Windows, after a few seconds)."""
        self._request_stop(pause=False)

    def pause(self) -> None:
        """Stop so that the run can be resumed (the trainer keeps its state file either way)."""
        self._request_stop(pause=True)

    def kill(self) -> None:
        """End the trainer at once (app quitting); the last checkpoint on disk stays resumable."""
        self._stop_requested = True
        self._kill(self._proc)

    def wait(self, ms: int = 30_000) -> bool:
        """Block until the process has ended (for closing the app); True if it did."""
        if self._proc is None:
            return True
        return self._proc.waitForFinished(ms)

    # ------------------------------------------------------------ internals

    def _launch(self, args: list[str]) -> None:
        if self._proc is not None:
            raise RuntimeError("a training process is already running")
        self.stderr_tail.clear()
        self._out_buf = self._err_buf = b""
        self._stop_requested = False
        self._end_event = None
        self._error_message = ""
        self.paused = False
        self.last_event = {}
        proc = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        env.insert("PYTHONIOENCODING", "utf-8")
        proc.setProcessEnvironment(env)
        proc.readyReadStandardOutput.connect(self._read_stdout)
        proc.readyReadStandardError.connect(self._read_stderr)
        proc.finished.connect(self._on_finished)
        proc.errorOccurred.connect(self._on_error)
        self._proc = proc
        self._set_state("starting")
        proc.start(self.python, ["-m", "sketchpad", "train", *args, "--json"])

    def _request_stop(self, *, pause: bool) -> None:
        if self._proc is None:
            return
        self._stop_requested = True
        self.paused = pause
        self._set_state("stopping")
        proc = self._proc
        proc.terminate()  # SIGTERM on Unix: the trainer checkpoints and exits
        # The timer is bound to this process: if it has exited and a resume started another by the time
        # the timer fires, the timer does nothing.
        QTimer.singleShot(self.kill_after_ms, self, lambda: self._kill(proc))

    def _kill(self, proc: QProcess | None) -> None:
        """Kill `proc` if it is still the running trainer (never a later one)."""
        if proc is not None and proc is self._proc:
            proc.kill()

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.state_changed.emit(state)

    def _read_stdout(self) -> None:
        if self._proc is None:
            return
        self._out_buf += bytes(self._proc.readAllStandardOutput())
        *lines, self._out_buf = self._out_buf.split(b"\n")
        for raw in lines:
            self._handle_line(raw.decode("utf-8", "replace").strip())

    def _read_stderr(self) -> None:
        if self._proc is None:
            return
        self._err_buf += bytes(self._proc.readAllStandardError())
        # tqdm redraws its bar with carriage returns: each redraw counts as a line.
        *lines, self._err_buf = self._err_buf.replace(b"\r", b"\n").split(b"\n")
        for raw in lines:
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                self._stderr_line(line)

    def _stderr_line(self, line: str) -> None:
        if self.stderr_tail and "it/s" in line and "it/s" in self.stderr_tail[-1]:
            self.stderr_tail[-1] = line  # one progress bar line, not forty
        else:
            self.stderr_tail.append(line)
        self.log.emit(line)

    def _handle_line(self, line: str) -> None:
        if not line:
            return
        try:
            parsed = events.parse(line)
        except ValueError:
            self._stderr_line(line)  # a stray print in the trainer: keep it as a log line
            return
        kind, ev = parsed.kind, parsed.fields
        self.last_event = ev
        if kind == events.START:
            if ev.get("run"):
                self.run_dir = Path(ev["run"])
            self._set_state("stopping" if self._stop_requested else "running")
            self.started.emit(ev)
        elif kind in self._SIGNALS:
            getattr(self, self._SIGNALS[kind]).emit(ev)
        elif kind in events.ENDS:
            # Held until the process has exited, so that a listener sees it gone and can resume at once.
            self._end_event = ev
        elif kind == events.ERROR:
            self._error_message = str(ev.get("message", "training failed"))
        else:  # events.UNKNOWN (parse has logged it)
            self.unknown.emit(ev)

    _SIGNALS = {
        events.STEP: "step",
        events.SAMPLE: "sample",
        events.CHECKPOINT: "checkpoint",
        events.VAL: "val",
    }

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and self._proc is not None:
            msg = f"could not start the trainer ({self.python}): {self._proc.errorString()}"
            self._proc.deleteLater()
            self._proc = None
            self._set_state("idle")
            self.errored.emit(msg)

    def _on_finished(self, code: int, status: QProcess.ExitStatus) -> None:
        # Read what is left in the pipes first: the last events often arrive with the exit.
        self._read_stdout()
        self._read_stderr()
        if self._out_buf.strip():
            self._handle_line(self._out_buf.decode("utf-8", "replace").strip())
        if self._err_buf.strip():
            self._stderr_line(self._err_buf.decode("utf-8", "replace").strip())
        self._out_buf = self._err_buf = b""
        proc, self._proc = self._proc, None
        self._set_state("idle")
        if proc is not None:
            proc.deleteLater()
        crashed = status == QProcess.ExitStatus.CrashExit
        end = self._end_event
        if end is not None and not self._error_message and (code == 0 or self._stop_requested):
            # A "done" after a stop request is a stop too (the stop came at the very end).
            stopped = end.get(events.KEY) == events.STOPPED or self._stop_requested
            (self.stopped if stopped else self.finished).emit(end)
            return
        if self._stop_requested and not self._error_message and (crashed or code == 0):
            # Stopped before it could say so (killed after the grace period, or stopped during start-up).
            here = {"run": str(self.run_dir or ""), **_where(self.last_event)}
            self.stopped.emit({events.KEY: events.STOPPED, **here})
            return
        if code == 0 and not crashed and not self._error_message:
            self.finished.emit({events.KEY: events.DONE, **_where(self.last_event)})
            return
        self.errored.emit(self._failure_text(code, crashed))

    def _failure_text(self, code: int, crashed: bool) -> str:
        if self._error_message:
            head = self._error_message
        elif crashed:
            head = "the training process died (killed, out of memory, or crashed)"
        else:
            head = f"the training process failed (exit code {code})"
        tail = [ln for ln in self.stderr_tail if "it/s" not in ln][-8:]
        if tail and not (len(tail) == 1 and self._error_message and self._error_message in tail[0]):
            head += "\n" + "\n".join(tail)
        return head


def _where(ev: dict) -> dict:
    return {k: ev[k] for k in ("epoch", "iter") if k in ev}
