"""The trainer's child process: JSON lines become signals; crashes and errors become one `errored`
message with the trainer's last stderr lines, and the app goes on."""

from __future__ import annotations

import stat
import sys

import pytest

from models.train import make_options
from models.train.common import command_args
from sketchpad.cli.train import options_from_argv
from sketchpad.training_process import TrainingProcess

pytestmark = pytest.mark.gui


def fake_python(tmp_path, body: str):
    """An executable that stands in for the Python interpreter (a real child process, no torch)."""
    if sys.platform == "win32":
        pytest.skip("the stand-in trainer is a shell script")
    exe = tmp_path / "fake-python"
    exe.write_text("#!/bin/sh\n" + body)
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return str(exe)


def test_the_child_gets_the_options_as_render_command_writes_them(qtbot, tmp_path):
    exe = fake_python(tmp_path, f"printf '%s\\n' \"$@\" >> {tmp_path / 'argv'}\n")
    opts = make_options(data="d", out=str(tmp_path / "run"), init="m.safetensors", n_epochs=3, lr=1e-4)
    proc = TrainingProcess(python=exe)
    with qtbot.waitSignal(proc.finished, timeout=10_000):
        proc.start(opts)
    with qtbot.waitSignal(proc.finished, timeout=10_000):
        proc.resume(overrides={"max_iters": 9})
    argv = (tmp_path / "argv").read_text().splitlines()
    create, resume = argv[: argv.index("--json") + 1], argv[argv.index("--json") + 1 :]
    assert create[:3] == ["-m", "sketchpad", "train"] and create[-1] == "--json"
    assert create[3:-1] == command_args(opts) and options_from_argv(create[3:-1]) == opts
    assert resume == ["-m", "sketchpad", "train", "--resume", opts.out, "--max-iters", "9", "--json"]


def test_events_become_signals_and_a_crash_is_reported(qtbot, tmp_path):
    exe = fake_python(
        tmp_path,
        """
echo '{"event": "start", "run": "R", "epoch": 1, "iter": 0}'
echo 'not json: a stray print'
printf '{"event": "step", "epoch": 1, "iter": 1, "losses": {"G_L1": 3.5}}\\n{"event": "sample", "path": "s.png"}\\n'
echo 'Traceback (most recent call last):' >&2
echo 'RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB' >&2
kill -9 $$
""",
    )
    proc = TrainingProcess(python=exe)
    steps, samples = [], []
    proc.step.connect(steps.append)
    proc.sample.connect(samples.append)
    with qtbot.waitSignal(proc.errored, timeout=10_000) as blocker:
        proc.start(make_options(data="d", out=str(tmp_path / "run")))
    text = blocker.args[0]
    assert "died" in text and "CUDA out of memory" in text
    assert steps[0]["losses"] == {"G_L1": 3.5} and samples[0]["path"] == "s.png"
    assert "not json: a stray print" in proc.stderr_tail
    assert not proc.is_running() and proc.state == "idle"


def test_error_event_and_exit_code(qtbot, tmp_path):
    exe = fake_python(
        tmp_path,
        """
echo '{"event": "error", "message": "dataset/x.png: corrupt image"}'
echo 'sketchpad: error: dataset/x.png: corrupt image' >&2
exit 2
""",
    )
    proc = TrainingProcess(python=exe)
    with qtbot.waitSignal(proc.errored, timeout=10_000) as blocker:
        proc.resume(tmp_path)
    assert blocker.args[0].startswith("dataset/x.png: corrupt image")


def test_stop_sends_sigterm_and_the_run_stops(qtbot, tmp_path):
    exe = fake_python(
        tmp_path,
        """
trap 'echo "{\\"event\\": \\"stopped\\", \\"epoch\\": 1, \\"iter\\": 7}"; exit 0' TERM
echo '{"event": "start", "run": "R", "epoch": 1, "iter": 0}'
while true; do sleep 0.05; done
""",
    )
    proc = TrainingProcess(python=exe)
    with qtbot.waitSignal(proc.started, timeout=10_000):
        proc.start(make_options(data="d", out=str(tmp_path / "run")))
    assert proc.is_running() and proc.pid() > 0
    with qtbot.waitSignal(proc.stopped, timeout=10_000) as blocker:
        proc.pause()
    assert blocker.args[0]["iter"] == 7 and proc.paused and not proc.is_running()


def test_a_missing_interpreter_is_an_error_not_a_crash(qtbot, tmp_path):
    proc = TrainingProcess(python=str(tmp_path / "no-such-python"))
    with qtbot.waitSignal(proc.errored, timeout=10_000) as blocker:
        proc.start(make_options(data="d", out=str(tmp_path / "run")))
    assert "could not start" in blocker.args[0] and not proc.is_running()


@pytest.mark.slow
def test_the_real_trainer_reports_a_bad_dataset(qtbot, tmp_path):
    proc = TrainingProcess()
    with qtbot.waitSignal(proc.errored, timeout=60_000) as blocker:
        proc.start(make_options(data=str(tmp_path / "missing"), out=str(tmp_path / "run")))
    assert "missing" in blocker.args[0] and "Traceback" not in blocker.args[0]


def test_an_unknown_event_is_passed_on_not_dropped(qtbot, tmp_path):
    exe = fake_python(
        tmp_path,
        """
echo '{"event": "start", "run": "R", "epoch": 1, "iter": 0}'
echo '{"event": "epoch_summary", "epoch": 1, "fid": 31.5}'
echo '{"event": "done", "epoch": 1, "iter": 4, "path": "R/latest.safetensors"}'
""",
    )
    proc = TrainingProcess(python=exe)
    unknown = []
    proc.unknown.connect(unknown.append)
    with qtbot.waitSignal(proc.finished, timeout=10_000) as blocker:
        proc.start(make_options(data="d", out=str(tmp_path / "run")))
    assert unknown == [{"event": "epoch_summary", "epoch": 1, "fid": 31.5}]
    assert blocker.args[0]["iter"] == 4


# The first run stops at once on SIGTERM; the resumed one (--resume) ignores SIGTERM and keeps running.
STOP_THEN_RESUME = """
case "$*" in
  *--resume*)
    trap '' TERM
    echo '{"event": "start", "run": "R", "epoch": 1, "iter": 7}'
    while true; do sleep 0.05; done ;;
  *)
    trap 'echo "{\\"event\\": \\"stopped\\", \\"epoch\\": 1, \\"iter\\": 7}"; exit 0' TERM
    echo '{"event": "start", "run": "R", "epoch": 1, "iter": 0}'
    while true; do sleep 0.05; done ;;
esac
"""


def test_a_stop_timer_never_kills_the_run_resumed_after_it(qtbot, tmp_path):
    """Windows kills a stopped trainer after a few seconds; a resume started before then must survive the
    stop's timer (here on Linux with the same short grace)."""
    proc = TrainingProcess(python=fake_python(tmp_path, STOP_THEN_RESUME))
    proc.kill_after_ms = 300
    with qtbot.waitSignal(proc.started, timeout=10_000):
        proc.start(make_options(data="d", out=str(tmp_path / "run")))
    first = proc.pid()
    proc.stopped.connect(lambda ev: proc.resume())  # at once, inside the stop's grace
    with qtbot.waitSignals([proc.stopped, proc.started], timeout=10_000, order="strict"):
        proc.pause()
    second = proc.pid()
    assert second not in (0, first)
    ended = []
    proc.errored.connect(ended.append)
    proc.stopped.connect(ended.append)
    qtbot.wait(1500)  # the first stop's timer fired long ago
    assert proc.is_running() and proc.pid() == second and not ended
    # The resumed run's own stop timer does act: it ignores SIGTERM, so it is killed after the grace.
    proc.stopped.disconnect()
    with qtbot.waitSignal(proc.stopped, timeout=10_000) as blocker:
        proc.stop()
    assert blocker.args[0]["iter"] == 7 and not proc.is_running()
