"""CycleGAN and DCGAN on generated data: they train, write their files, and resume exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from models.checkpoint import load_checkpoint, read_header
from models.errors import CheckpointError
from models.train import Trainer, make_options

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _save(path, a):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(path)


def make_unpaired(root, n=4, size=32):
    rng = np.random.default_rng(1)
    for i in range(n):
        _save(root / "trainA" / f"a{i}.png", rng.integers(0, 120, (size, size, 3), dtype=np.uint8))
        _save(root / "trainB" / f"b{i}.png", rng.integers(130, 255, (size, size, 3), dtype=np.uint8))
    return root


def make_blobs(root, n=16, size=32):
    """A folder of bright discs on black: something a DCGAN can start to learn in a few steps."""
    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[:size, :size]
    for i in range(n):
        cx, cy, r = rng.integers(8, size - 8, 2).tolist() + [int(rng.integers(4, 8))]
        a = np.zeros((size, size, 3), np.uint8)
        a[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.integers(150, 255, 3)
        _save(root / f"{i:02d}.png", a)
    return root


def cyc(data, out, **kw):
    base = dict(data=str(data), out=str(out), ngf=4, ndf=4, crop_size=32, load_size=36, num_workers=0,
                sample_every=0, n_epochs=1, n_epochs_decay=1, pool_size=3, seed=5)  # fmt: skip
    return make_options("cyclegan", **{**base, **kw})


def test_cyclegan_trains_and_writes_both_generators(tmp_path):
    data = make_unpaired(tmp_path / "u")
    events = []
    t = Trainer.create(
        cyc(data, tmp_path / "run", max_iters=3, sample_every=3), progress=False, listener=events.append
    )
    assert t.model.G_A.cfg.name == "resnet_6blocks" and t.model.G_A.cfg.norm == "instance"
    t.run()
    step = next(e for e in events if e["event"] == "step")
    assert set(step["losses"]) == {"D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B"}
    assert step["losses"]["idt_A"] > 0
    a, b = (
        read_header(tmp_path / "run" / "latest.safetensors"),
        read_header(tmp_path / "run" / "latest_G_B.safetensors"),
    )
    assert (a["direction"], b["direction"], a["model"]) == ("AtoB", "BtoA", "cyclegan")
    assert load_checkpoint(tmp_path / "run" / "latest_G_B.safetensors").config.n_blocks == 6
    assert any(e["event"] == "sample" for e in events)


def test_cyclegan_resume_restores_pools_and_nets(tmp_path):
    data = make_unpaired(tmp_path / "u")
    straight = Trainer.create(cyc(data, tmp_path / "a", max_iters=6), progress=False)
    straight.run()
    Trainer.create(cyc(data, tmp_path / "b", max_iters=5), progress=False).run()
    resumed = Trainer.resume(tmp_path / "b", progress=False, overrides={"max_iters": 6})
    resumed.run()
    assert resumed.metrics["losses"] == straight.metrics["losses"]
    for name, net in straight.model.nets.items():
        other = resumed.model.nets[name].state_dict()
        assert all(torch.equal(v, other[k]) for k, v in net.state_dict().items()), name


def test_dcgan_loop_runs_on_a_folder(tmp_path):
    data = make_blobs(tmp_path / "blobs")
    opts = make_options("dcgan", data=str(data), out=str(tmp_path / "run"), crop_size=32, ngf=8, ndf=8, nz=16,
                        batch_size=8, num_workers=0, max_iters=12, sample_every=12, lr=5e-4)  # fmt: skip
    events = []
    Trainer.create(opts, progress=False, listener=events.append).run()
    steps = [e for e in events if e["event"] == "step"]
    assert len(steps) == 12 and set(steps[0]["losses"]) == {"G", "D_real", "D_fake"}
    assert all(np.isfinite(v) for s in steps for v in s["losses"].values())
    # D learns to tell the discs from early fakes
    assert np.mean([s["losses"]["D_real"] for s in steps[-4:]]) < steps[0]["losses"]["D_real"]
    sample = next(e for e in events if e["event"] == "sample")
    with Image.open(sample["path"]) as im:
        assert im.size == (4 * 32 + 6, 4 * 32 + 6)
    header = read_header(tmp_path / "run" / "latest.safetensors")
    assert header["dcgan"]["size"] == 32 and header["model"] == "dcgan"
    with pytest.raises(CheckpointError):  # not a translation generator: a clear refusal
        load_checkpoint(tmp_path / "run" / "latest.safetensors")
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["event"] == "done"


@pytest.mark.parametrize("mode", ["lsgan", "wgangp"])
def test_other_objectives_step(tmp_path, mode):
    data = make_blobs(tmp_path / "blobs", n=4)
    opts = make_options("dcgan", data=str(data), out=str(tmp_path / "run"), crop_size=16, ngf=4, ndf=4, nz=8,
                        batch_size=4, num_workers=0, max_iters=2, sample_every=0, gan_mode=mode)  # fmt: skip
    t = Trainer.create(opts, progress=False)
    t.run()
    assert all(np.isfinite(v) for v in t.metrics["losses"].values())
