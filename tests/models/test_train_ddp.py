"""Two CPU processes under torchrun (gloo): DDP training finishes, rank 0 alone writes the run folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from models.checkpoint import load_checkpoint


@pytest.mark.slow
def test_two_process_gloo_run_writes_a_checkpoint(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "d" / "train").mkdir(parents=True)
    for i in range(8):
        a = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(np.concatenate([a, 255 - a], 1)).save(tmp_path / "d" / "train" / f"{i}.png")
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "sketchpad", "train", "--data", str(tmp_path / "d"), "--out", str(run),
        "--ngf", "8", "--ndf", "8", "--num-downs", "5", "--load-size", "36", "--crop-size", "32",
        "--num-workers", "0", "--max-iters", "3", "--sample-every", "0", "--json", "--device", "cpu",
    ]  # fmt: skip
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    events = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    # only rank 0 speaks: one start, three steps, one done
    assert [e["event"] for e in events].count("start") == 1
    assert events[0]["world_size"] == 2 and events[0]["iters_per_epoch"] == 4  # 8 items over 2 ranks
    assert [e["iter"] for e in events if e["event"] == "step"] == [1, 2, 3]
    assert events[-1]["event"] == "done"
    assert load_checkpoint(run / "latest.safetensors").meta["iter"] == 3
    assert torch.load(run / "latest_state.pt", weights_only=True)["iter"] == 3
    assert len((run / "metrics.jsonl").read_text().splitlines()) == len(events)
