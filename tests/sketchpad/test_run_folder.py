"""Run folders (issue 13, class 7) and training arguments (class 5): a second trainer on a running run's
folder refuses in one line and touches nothing; a damaged or hand-edited options.json, latest_state.pt or
metrics.jsonl ends in one line naming the file and the field; absurd sizes are refused up front with the
limit in the message."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import torch

from models.train.runfolder import RunLock
from sketchpad.cli import main
from tests.train_data import TINY, make_pairs

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def one_line_error(capsys, argv) -> str:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def run(tmp_path):
    """A finished tiny run (2 iterations, checkpointed)."""
    data = make_pairs(tmp_path / "d")
    out = tmp_path / "run"
    assert main(["train", "--data", str(data), "--out", str(out), *TINY, "--max-iters", "2"]) == 0
    return out


# ---------------------------------------------------------------- the lock


@pytest.mark.slow
def test_a_second_trainer_refuses_while_the_first_runs(tmp_path, capsys):
    data = make_pairs(tmp_path / "d")
    run = tmp_path / "long"
    long = [*TINY, "--epochs", "10000", "--max-iters", "2"]  # later flags win: a run that will not end
    assert main(["train", "--data", str(data), "--out", str(run), *long]) == 0
    capsys.readouterr()
    first = subprocess.Popen(
        [sys.executable, "-m", "sketchpad", "train", "--resume", str(run), "--max-iters", "100000", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=ENV,
    )  # fmt: skip
    try:
        for line in first.stdout:  # wait until it trains (and so holds the lock)
            if json.loads(line)["event"] == "step":
                break
        temp = run / ".latest_state.pt.abcd1234.tmp"  # as if the first were writing its state now
        temp.write_bytes(b"half")
        log_before = (run / "metrics.jsonl").read_text()
        message = one_line_error(capsys, ["train", "--resume", run, "--max-iters", "5"])
        assert "another trainer is running in this run folder" in message
        assert f"process {first.pid}" in message
        assert temp.exists()  # the first one's temporary file is left alone
        log_after = (run / "metrics.jsonl").read_text()
        assert log_after.startswith(log_before)  # not trimmed, not rewritten
        assert sum(json.loads(x)["event"] == "start" for x in log_after.splitlines()) == 2  # create + first
        first.send_signal(signal.SIGKILL)  # the lock dies with its process
        first.wait(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
        first.stdout.close()
    assert main(["train", "--resume", str(run), "--max-iters", "3"]) == 0
    assert not (run / ".latest_state.pt.abcd1234.tmp").exists()  # now ours to clean


def test_the_lock_is_exclusive_and_released(tmp_path):
    a = RunLock(tmp_path).acquire()
    with pytest.raises(Exception, match="another trainer is running"):
        RunLock(tmp_path).acquire()
    a.release()
    RunLock(tmp_path).acquire().release()


# ---------------------------------------------------------------- damaged files


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda o: "{not json", "options.json: not valid JSON"),
        (lambda o: "[1, 2]", "options.json: not a JSON object"),
        (lambda o: json.dumps({**o, "ngf": "wide"}), "options.json: field 'ngf' must be int, not 'wide'"),
        (lambda o: json.dumps({**o, "no_flip": 1}), "options.json: field 'no_flip' must be bool"),
        (lambda o: json.dumps({**o, "lr": None}), "options.json: field 'lr' must be float"),
        (lambda o: json.dumps({**o, "netG": "unet_9000"}), "options.json: --netG must be one of"),
        (lambda o: json.dumps({**o, "ngff": 3}), "options.json: unknown field 'ngff'"),
        (lambda o: json.dumps({**o, "ngf": 100000}), "options.json: --ngf 100000 is above the limit of 1024"),
    ],
)
def test_damaged_options_json(run, capsys, edit, message):
    options = json.loads((run / "options.json").read_text())
    (run / "options.json").write_text(edit(options))
    assert message in one_line_error(capsys, ["train", "--resume", run])


def _edit_state(run, change):
    state = torch.load(run / "latest_state.pt", weights_only=True)
    change(state)
    torch.save(state, run / "latest_state.pt")


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s.update(iter="7"), "field 'iter' must be a count >= 0"),
        (lambda s: s.update(epoch=-1), "field 'epoch' must be a count >= 0"),
        (lambda s: s.pop("model"), "field 'model' is missing"),
        (lambda s: s["model"].pop("optimizers"), "field 'model.optimizers' is missing"),
        (lambda s: s["model"]["nets"].pop("D"), "field 'model.nets' has no 'D'"),
        (lambda s: s["model"]["nets"]["G"].popitem(), "field 'model' does not fit this run's nets"),
        (lambda s: s.update(metrics_json="{"), "field 'metrics_json' is not a JSON object"),
        (lambda s: s.update(commands=[1]), "field 'commands' must be a list of strings"),
        (lambda s: s.update(seconds=-5.0), "field 'seconds' must be a time in seconds"),
        (lambda s: s.update(rng={"torch": torch.zeros(3)}), "field 'rng' is damaged"),
        (lambda s: s.update(format="other/1"), "not a sketchpad resume state"),
    ],
)
def test_damaged_resume_state(run, capsys, change, message):
    _edit_state(run, change)
    line = one_line_error(capsys, ["train", "--resume", run])
    assert "latest_state.pt" in line and message in line, line


def test_truncated_resume_state(run, capsys):
    data = (run / "latest_state.pt").read_bytes()
    (run / "latest_state.pt").write_bytes(data[: len(data) // 2])
    assert "latest_state.pt: unreadable resume state" in one_line_error(capsys, ["train", "--resume", run])


@pytest.mark.parametrize(
    "tail, message",
    [
        ("garbage\n", "metrics.jsonl: line {n} is not a JSON event"),
        ('{"iter": 1}\n', "metrics.jsonl: line {n} has no 'event' field"),
        ('{"event": "step", "iter": "x"}\n', "metrics.jsonl: line {n}: field 'iter' must be an integer"),
    ],
)
def test_damaged_metrics_jsonl(run, capsys, tail, message):
    log = run / "metrics.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:1]) + tail + "".join(lines[1:]))
    assert message.format(n=2) in one_line_error(capsys, ["train", "--resume", run])


def test_a_torn_last_log_line_is_dropped_not_refused(run):
    log = run / "metrics.jsonl"
    log.write_text(log.read_text() + '{"event": "st')
    assert main(["train", "--resume", str(run), "--max-iters", "3"]) == 0
    events = [json.loads(x) for x in log.read_text().splitlines()]
    assert [e["iter"] for e in events if e["event"] == "step"] == [1, 2, 3]


# ---------------------------------------------------------------- absurd sizes


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--ngf", "100000"], "--ngf 100000 is above the limit of 1024"),
        (["--ndf", "2048"], "--ndf 2048 is above the limit of 1024"),
        (["--load-size", "65536"], "--load-size 65536 is above the limit of 4096"),
        (["--crop-size", "8192", "--load-size", "8192"], "is above the limit of 4096"),
        (["--num-workers", "1000000"], "--num-workers 1000000 is above the limit of 64"),
        (["--batch-size", "100000"], "--batch-size 100000 is above the limit of 4096"),
        (["--epochs", "1000000000"], "--epochs 1000000000 is above the limit of 100000"),
        (["--epochs-decay", "200000"], "--epochs-decay 200000 is above the limit of 100000"),
        (["--num-downs", "40"], "--num-downs 40 is above the limit of 12"),
        (["--n-layers-D", "50"], "--n-layers-D 50 is above the limit of 8"),
        (["--seed", "-1"], "--seed must be in 0..2**63-1"),
        (["--seed", str(2**63)], "--seed must be in 0..2**63-1"),
        (["--lr", "nan"], "--lr must be"),
        (["--lambda-l1", "inf"], "--lambda-l1 must be a finite number"),
        (["--sample-every", "-5"], "--sample-every"),
    ],
)
def test_absurd_sizes_are_refused_up_front(tmp_path, capsys, flags, message):
    data = make_pairs(tmp_path / "d")
    line = one_line_error(capsys, ["train", "--data", data, "--out", tmp_path / "r", *flags])
    assert message in line, line
    assert not (tmp_path / "r").exists()  # refused before anything was made
