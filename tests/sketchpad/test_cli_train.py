"""`sketchpad train` and `sketchpad data check` from the command line: the JSON-lines stream, SIGTERM
leaving a checkpoint that --resume continues, and every error path ending in one line and a non-zero exit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import torch

from models.checkpoint import load_checkpoint
from sketchpad.cli import main
from tests.train_data import make_pairs, tiny

TINY = tiny(ngf=8, epochs=2)
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # two busy cores: no thread spinning


def sketchpad(*args, **kw):
    return subprocess.Popen(
        [sys.executable, "-m", "sketchpad", *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, **kw,
    )  # fmt: skip


def one_line_error(capsys, argv) -> str:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # argparse's own errors
        code = e.code
    err = capsys.readouterr().err
    assert code != 0
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_json_stream_and_files(tmp_path):
    data = make_pairs(tmp_path / "d", n=6)
    p = sketchpad("train", "--data", data, "--out", tmp_path / "run", "--json", *TINY, "--max-iters", "4",
                  "--sample-every", "2")  # fmt: skip
    out, err = p.communicate(timeout=240)
    assert p.returncode == 0, err
    events = [json.loads(line) for line in out.splitlines()]  # stdout: only JSON lines
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done"
    assert {"step", "checkpoint", "sample"} <= set(kinds)
    assert (
        events[0]["model"] == "pix2pix"
        and events[0]["resumed"] is False
        and events[0]["iters_per_epoch"] == 6
    )
    assert [e["iter"] for e in events if e["event"] == "step"] == [1, 2, 3, 4]
    logged = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert logged == events
    assert load_checkpoint(tmp_path / "run" / "latest.safetensors").meta["iter"] == 4


@pytest.mark.slow
def test_sigterm_leaves_a_checkpoint_that_resume_continues(tmp_path):
    data = make_pairs(tmp_path / "d", n=6)
    run = tmp_path / "run"
    p = sketchpad("train", "--data", data, "--out", run, "--json", "--save-every-iters", "0", *TINY)
    seen = []
    for line in p.stdout:
        seen.append(json.loads(line))
        if seen[-1]["event"] == "step" and seen[-1]["iter"] >= 2:
            p.send_signal(signal.SIGTERM)
            break
    out, err = p.communicate(timeout=120)
    seen += [json.loads(line) for line in out.splitlines()]
    assert p.returncode == 0, err
    assert seen[-1]["event"] == "stopped"
    stopped_at = seen[-1]["iter"]
    assert seen[-2] == {
        "event": "checkpoint",
        "epoch": 1,
        "iter": stopped_at,
        "path": str(run / "latest.safetensors"),
    }
    assert load_checkpoint(run / "latest.safetensors").meta["iter"] == stopped_at
    assert torch.load(run / "latest_state.pt", weights_only=True)["iter"] == stopped_at
    r = sketchpad("train", "--resume", run, "--json", "--max-iters", stopped_at + 2)
    out, err = r.communicate(timeout=240)
    assert r.returncode == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert events[0]["event"] == "start" and events[0]["resumed"] is True and events[0]["iter"] == stopped_at
    assert [e["iter"] for e in events if e["event"] == "step"] == [stopped_at + 1, stopped_at + 2]
    assert events[-1]["event"] == "done"


def test_train_error_paths(tmp_path, capsys):
    data = make_pairs(tmp_path / "d", n=6)
    (tmp_path / "empty").mkdir()
    (tmp_path / "notarun").mkdir()
    assert "no such folder" in one_line_error(
        capsys, ["train", "--data", tmp_path / "missing", "--out", tmp_path / "r1"]
    )
    assert "no images" in one_line_error(
        capsys, ["train", "--data", tmp_path / "empty", "--out", tmp_path / "r2"]
    )
    assert "--out" in one_line_error(capsys, ["train", "--data", data])
    assert "--data" in one_line_error(capsys, ["train", "--out", tmp_path / "r3"])
    assert "crop" in one_line_error(
        capsys, ["train", "--data", data, "--out", tmp_path / "r4", "--load-size", "32", "--crop-size", "64"]
    )
    assert "multiple of 256" in one_line_error(
        capsys,
        ["train", "--data", data, "--out", tmp_path / "r5", "--crop-size", "100", "--load-size", "120"],
    )
    assert "not a training run" in one_line_error(capsys, ["train", "--resume", tmp_path / "notarun"])
    assert "no such run" in one_line_error(capsys, ["train", "--resume", tmp_path / "nope"])
    assert "--resume" in one_line_error(capsys, ["train", "--resume", tmp_path / "notarun", "--lr", "0.1"])
    assert "unpaired" in one_line_error(
        capsys, ["train", "--model", "cyclegan", "--data", data, "--out", tmp_path / "r6"]
    )
    assert "invalid choice" in one_line_error(
        capsys, ["train", "--data", data, "--out", tmp_path / "r7", "--gan-mode", "hinge"]
    )
    assert "no such checkpoint" in one_line_error(
        capsys, ["train", "--data", data, "--out", tmp_path / "r8", "--init", tmp_path / "x.pth"]
    )
    assert "no such checkpoint" in one_line_error(
        capsys, ["train", "--data", data, "--out", tmp_path / "r10", "--teacher", tmp_path / "t.safetensors"]
    )
    from models.checkpoint import save_checkpoint
    from models.generator import GeneratorConfig, build_generator

    gray = save_checkpoint(tmp_path / "gray.safetensors", build_generator(GeneratorConfig(ngf=4, input_nc=1)))
    assert "gray.safetensors: maps 1 to 3 channels" in one_line_error(
        capsys, ["train", "--data", data, "--out", tmp_path / "r11", "--teacher", gray, "--input-nc", "3"]
    )
    (data / "train" / "bad.png").write_bytes(b"nope")
    assert "--skip-bad" in one_line_error(capsys, ["train", "--data", data, "--out", tmp_path / "r9"])


def test_json_mode_reports_errors_as_an_event(tmp_path):
    p = sketchpad("train", "--data", tmp_path / "missing", "--out", tmp_path / "r", "--json")
    out, err = p.communicate(timeout=120)
    assert p.returncode == 2
    assert json.loads(out) == {"event": "error", "message": f"{tmp_path / 'missing'}: no such folder"}
    assert len(err.strip().splitlines()) == 1


def test_data_check(tmp_path, capsys):
    data = make_pairs(tmp_path / "d", n=3)
    assert main(["data", "check", str(data)]) == 0  # clean
    capsys.readouterr()
    (data / "train" / "broken.jpg").write_bytes(b"\xff\xd8junk")
    assert main(["data", "check", str(data)]) == 1  # problems found: non-zero (issue 13, class 8)
    out = capsys.readouterr().out
    assert "aligned" in out and "train: AB 4" in out and "unreadable" in out and "broken.jpg" in out
    assert main(["data", "check", str(data), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["format"] == "aligned" and report["usable"] and len(report["unreadable"]) == 1
    (tmp_path / "empty").mkdir()
    assert "no images" in one_line_error(capsys, ["data", "check", tmp_path / "empty"])
    assert "no such folder" in one_line_error(capsys, ["data", "check", tmp_path / "missing"])
    assert "not a folder" in one_line_error(capsys, ["data", "check", data / "train" / "0.png"])
