"""A training run killed with SIGKILL at random points (after some steps, right after a checkpoint, and
while a file is being written) resumes each time from its last complete checkpoint, every file in the run
folder loads after every kill, and the run ends where an uninterrupted one would.

Also: file names from a dataset are never used as paths when the run writes samples, and a translate
batch with odd input names writes only into its output folder.
"""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("models.train")

from models.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from models.generator import GeneratorConfig, build_generator  # noqa: E402
from models.imageio import load_image, save_png  # noqa: E402
from sketchpad.cli import main as cli_main  # noqa: E402

MAX_ITERS = 24
TINY = [
    "--model", "pix2pix", "--netG", "unet_256", "--num-downs", "5", "--ngf", "4", "--ndf", "4",
    "--load-size", "32", "--crop-size", "32", "--batch-size", "1", "--num-workers", "0",
    "--save-every-iters", "2", "--sample-every", "3", "--device", "cpu", "--json",
]  # fmt: skip


def _dataset(root: Path, names: list[str]) -> Path:
    rng = np.random.default_rng(0)
    (root / "train").mkdir(parents=True)
    for name in names:
        save_png(root / "train" / name, rng.integers(0, 255, (32, 64, 3), np.uint8))
    return root


class _Run:
    """A `sketchpad train` subprocess whose JSON events are read on a thread."""

    def __init__(self, args: list[str]):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sketchpad", "train", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        self.events: queue.Queue = queue.Queue()
        self.seen: list[dict] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.events.put(json.loads(line))  # stdout carries only JSON lines (--json)
        self.events.put(None)

    def next_event(self, timeout: float = 180) -> dict | None:
        ev = self.events.get(timeout=timeout)
        if ev is not None:
            self.seen.append(ev)
        return ev

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.finish()

    def finish(self) -> int:
        """Wait for the process and its reader (which ends at EOF), then close the pipe."""
        rc = self.proc.wait(timeout=180)
        self._reader.join(timeout=60)
        self.proc.stdout.close()
        return rc


def _check_run_folder(run: Path) -> int:
    """Every file loads; returns the iteration of the resume state (0 if none yet)."""
    hidden = [p.name for p in run.rglob(".*")]
    assert all(n.endswith(".tmp") or n == ".lock" for n in hidden), hidden  # temporaries, the lock
    opts = json.loads((run / "options.json").read_text())
    assert opts["model"] == "pix2pix"
    log = (run / "metrics.jsonl").read_bytes().decode()
    assert log == "" or log.endswith("\n"), "metrics.jsonl ends in a half-written line"
    for line in log.splitlines():
        json.loads(line)
    for png in (run / "samples").glob("*.png") if (run / "samples").is_dir() else []:
        assert load_image(png).ndim == 3
    state_iter = 0
    if (run / "latest_state.pt").exists():
        state = torch.load(run / "latest_state.pt", map_location="cpu", weights_only=True)
        state_iter = int(state["iter"])
    if state_iter:
        assert (run / "latest.safetensors").exists()  # a state never without its generator
    if (run / "latest.safetensors").exists():
        ckpt = load_checkpoint(run / "latest.safetensors")
        assert ckpt.config.ngf == 4
        # written before the state that belongs to it: a kill between the two leaves it ahead, never behind
        assert ckpt.meta["iter"] >= state_iter
    return state_iter


def _temps(run_dir: Path) -> set[Path]:
    return set(run_dir.glob(".*.tmp")) | set(run_dir.glob("samples/.*.tmp"))


def _kill_at(run: _Run, run_dir: Path, mode: str, rng: random.Random) -> tuple[int, bool]:
    """Kill the run at a point chosen by `mode`; returns (the iteration of the last checkpoint event it
    printed, whether it finished before the kill)."""
    last_ckpt = 0
    if mode == "during_write":
        # Poll for atomic_write's temporary file and kill while it exists: mid-write. (The first files
        # are options.json and the first checkpoint, so let a step go by first.)
        while (ev := run.next_event()) is not None and ev["event"] != "step":
            pass
        stale = _temps(run_dir)  # left by an earlier kill: not a write in progress
        t_end = time.monotonic() + 120
        while time.monotonic() < t_end and run.proc.poll() is None:
            if _temps(run_dir) - stale:
                run.kill()
                break
            time.sleep(0.0002)
        else:
            run.finish()
        while (ev := run.events.get(timeout=60)) is not None:
            last_ckpt = ev["iter"] if ev["event"] == "checkpoint" else last_ckpt
        return last_ckpt, run.proc.returncode == 0
    target = rng.randint(1, 4)
    steps = 0
    while (ev := run.next_event()) is not None:
        assert ev["event"] != "error", ev
        if ev["event"] in ("done", "stopped"):
            run.finish()
            return last_ckpt, True
        if ev["event"] == "checkpoint":
            last_ckpt = ev["iter"]
            if mode == "after_checkpoint" and steps >= 1:
                break
        if ev["event"] == "step":
            steps += 1
            if mode == "after_steps" and steps >= target:
                time.sleep(rng.uniform(0, 0.3))
                break
    run.kill()
    while (ev := run.events.get(timeout=60)) is not None:  # printed before the kill landed
        last_ckpt = ev["iter"] if ev["event"] == "checkpoint" else last_ckpt
    return last_ckpt, run.proc.returncode == 0


@pytest.mark.slow
def test_sigkill_at_random_points_resumes_from_the_last_complete_checkpoint(tmp_path):
    seed = int(os.environ.get("SKETCHPAD_KILL_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    data = _dataset(tmp_path / "data", [f"{i}.png" for i in range(6)])
    run_dir = tmp_path / "run"
    modes = ["after_steps", "after_checkpoint", "during_write"]
    rng.shuffle(modes)
    run = _Run(["--data", str(data), "--out", str(run_dir), "--max-iters", str(MAX_ITERS), *TINY])
    kills = 0
    finished = False
    for mode in modes:
        last_ckpt, finished = _kill_at(run, run_dir, mode, rng)
        assert run_dir.is_dir(), f"seed {seed}: no run folder"
        state_iter = _check_run_folder(run_dir)
        if finished:
            break
        kills += 1
        # The last checkpoint the run announced is complete on disk, and nothing half-done is newer.
        assert state_iter >= last_ckpt and state_iter % 2 == 0, f"seed {seed}, {mode}: {state_iter}"
        run = _Run(["--resume", str(run_dir), "--json"])
        start = run.next_event()
        assert start is not None and start["event"] == "start", f"seed {seed}, after {mode}: {start}"
        assert start["iter"] == state_iter, f"seed {seed}: resumed at {start['iter']}, state was {state_iter}"
        assert start["resumed"] == (run_dir / "latest_state.pt").exists()
    # The last one runs to the end.
    ev = None
    if not finished:
        while (ev := run.next_event()) is not None:
            assert ev["event"] != "error", f"seed {seed}: {ev}"
            if ev["event"] == "done":
                break
        assert run.finish() == 0, f"seed {seed}"
        assert ev is not None and ev["event"] == "done" and ev["iter"] == MAX_ITERS, f"seed {seed}: {ev}"
    assert _check_run_folder(run_dir) == MAX_ITERS
    assert not _temps(run_dir), f"seed {seed}: a resume leaves the temporaries of killed writes"
    assert kills >= 2, f"seed {seed}: the run ended before it could be killed ({kills} kills)"
    starts = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert sum(1 for e in starts if e["event"] == "start") == kills + 1


# ------------------------------------------------------------------ paths


ODD_NAMES = [
    "..%2F..%2Fevil.png",
    "..png",
    "-rf.png",
    "a\\..\\..\\b.png",
    "spaces and ünïcödé.png",
    "semi;colon$(touch x).png",
    "line\nbreak.png",
]


def _files_outside(root: Path, allowed: list[Path]) -> set[Path]:
    found = set()
    for p in root.rglob("*"):
        if p.is_file() and not any(p.is_relative_to(a) for a in allowed):
            found.add(p)
    return found


def test_dataset_file_names_never_become_paths_when_training(tmp_path, monkeypatch):
    """A short in-process run with samples every step: it writes only in its run folder."""
    from models.train import Trainer, make_options

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    names = []
    for n in ODD_NAMES:
        try:
            (tmp_path / "probe").mkdir(exist_ok=True)
            (tmp_path / "probe" / n).write_bytes(b"")
            names.append(n)
        except (OSError, ValueError):
            pass  # a name this filesystem cannot hold
    assert names
    data = _dataset(tmp_path / "work" / "data", names)
    before = _files_outside(tmp_path, [])
    run_dir = tmp_path / "work" / "run"
    opts = make_options(
        "pix2pix",
        data=str(data),
        out=str(run_dir),
        num_downs=5,
        ngf=4,
        ndf=4,
        load_size=32,
        crop_size=32,
        batch_size=1,
        num_workers=0,
        max_iters=2,
        sample_every=1,
        save_every_iters=1,
        device="cpu",
    )
    Trainer.create(opts, progress=False).run()
    new = _files_outside(tmp_path, []) - before
    assert new and all(p.is_relative_to(run_dir) for p in new), sorted(map(str, new))
    assert list((run_dir / "samples").glob("*.png"))
    assert not list(tmp_path.rglob("evil.png"))


def test_translate_batch_with_odd_names_writes_only_into_its_folder(tmp_path, capsys):
    ck = save_checkpoint(tmp_path / "g.safetensors", build_generator(GeneratorConfig(ngf=4, num_downs=5)))
    src = tmp_path / "in"
    src.mkdir()
    inputs = []
    for n in ODD_NAMES:
        try:
            inputs.append(save_png(src / n, np.full((32, 32, 3), 128, np.uint8)))
        except (OSError, ValueError):
            pass
    out = tmp_path / "deep" / "out"
    out.mkdir(parents=True)
    before = _files_outside(tmp_path, [])
    assert cli_main(["translate", str(ck), *map(str, inputs), "-o", str(out) + "/"]) == 0
    capsys.readouterr()
    new = _files_outside(tmp_path, []) - before
    assert len(new) == len(inputs) and all(p.parent == out for p in new), sorted(map(str, new))
    assert not list(tmp_path.rglob("evil.png"))
