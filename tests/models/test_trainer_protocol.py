"""The trainer's protocol. Its events have one schema (models.train.events): the trainer cannot write a
field it does not name, every line a real run writes parses as a known event with its fields, and a
reader passes an event it does not know on as UNKNOWN with one log line. Its run folder has one owner
(models.train.runfolder): a checkpoint writes the generator file before the resume state that belongs to
it, so a crash between the two leaves an older state beside a newer generator (the resume redoes that
work), never a state ahead of its generator."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
from PIL import Image

from models.checkpoint import read_header
from models.train import Trainer, events, make_options
from models.train.runfolder import G_FILE, LOG_FILE, STATE_FILE, read_log, read_state

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make_pairs(root, n_train=4, n_val=2, size=32):
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("val", n_val)):
        (root / split).mkdir(parents=True)
        for i in range(n):
            a = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
            Image.fromarray(np.concatenate([a, 255 - a], 1)).save(root / split / f"{i}.png")
    return root


def tiny(data, out, **kw):
    base = dict(
        data=str(data), out=str(out), ngf=4, ndf=4, num_downs=5, load_size=36, crop_size=32,
        num_workers=0, sample_every=2, n_epochs=1, n_epochs_decay=1, val_images=2,
    )  # fmt: skip
    return make_options("pix2pix", **{**base, **kw})


def test_record_holds_the_writer_to_the_schema():
    ev = events.record(events.SAMPLE, epoch=1, iter=2, path="s.png")
    assert ev == {events.KEY: "sample", "epoch": 1, "iter": 2, "path": "s.png"}
    with pytest.raises(ValueError, match="missing \\['path'\\]"):
        events.record(events.CHECKPOINT, epoch=1, iter=2)
    with pytest.raises(ValueError, match="unexpected \\['speed'\\]"):
        events.record(events.SAMPLE, epoch=1, iter=2, path="s.png", speed=3)
    with pytest.raises(ValueError, match="not a trainer event"):
        events.record("finished", epoch=1)
    # val carries the model's metrics, whatever their names
    assert events.record(events.VAL, epoch=1, l1=0.2, psnr=20.0)["psnr"] == 20.0


def test_parse_names_known_events_and_passes_unknown_ones_on(caplog):
    ev = events.parse('{"event": "step", "iter": 3, "losses": {"G_L1": 2.0}}')
    assert ev.kind == events.STEP and ev.fields["losses"] == {"G_L1": 2.0}
    assert events.parse(b'{"event": "done", "iter": 9}').kind == events.DONE
    with caplog.at_level(logging.WARNING, logger=events.__name__):
        ev = events.parse({"event": "epoch_summary", "iter": 4})
    assert ev.kind == events.UNKNOWN and ev.fields == {"event": "epoch_summary", "iter": 4}
    assert len(caplog.records) == 1 and "epoch_summary" in caplog.records[0].getMessage()
    for line in ("not json", "[1, 2]", '{"iter": 3}', '{"event": 7}', "[" * 100_000):
        with pytest.raises(ValueError):
            events.parse(line)


def test_every_event_a_run_writes_is_in_the_schema(tmp_path):
    data = make_pairs(tmp_path / "d")
    seen = []
    trainer = Trainer.create(tiny(data, tmp_path / "run", max_iters=5), progress=False, listener=seen.append)
    trainer.run()
    stopper = Trainer.resume(tmp_path / "run", progress=False, overrides={"max_iters": 7})
    stopper.log.listener = lambda ev: stopper.stop() if ev[events.KEY] == events.STEP else None
    stopper.run()  # stopped on request after one step
    log = [ev for _, ev in read_log(tmp_path / "run" / LOG_FILE)]
    kinds = [ev.kind for ev in log]
    assert {events.START, events.STEP, events.SAMPLE, events.VAL, events.CHECKPOINT, events.DONE} <= set(
        kinds
    )
    assert kinds[-1] == events.STOPPED and events.UNKNOWN not in kinds
    assert [ev.fields for ev in log[: len(seen)]] == json.loads(json.dumps(seen))  # the listener saw them
    for ev in log:
        names = set(ev.fields) - {events.KEY}
        assert names >= set(events.FIELDS[ev.kind]), ev.fields
        assert ev.kind in events.OPEN or names == set(events.FIELDS[ev.kind]), ev.fields


def test_the_generator_is_written_before_its_resume_state(tmp_path):
    data = make_pairs(tmp_path / "d", n_val=0)
    run = tmp_path / "run"
    Trainer.create(tiny(data, run, max_iters=2, sample_every=0), progress=False).run()
    assert read_header(run / G_FILE)["iter"] == read_state(run / STATE_FILE)["iter"] == 2
    trainer = Trainer.resume(run, progress=False, overrides={"max_iters": 3})
    # The state's write fails (a crash between the two files): its name is taken by a folder.
    state = tmp_path / "state-2.pt"
    shutil.move(run / STATE_FILE, state)
    (run / STATE_FILE).mkdir()
    with pytest.raises(OSError):
        trainer.run()
    assert read_header(run / G_FILE)["iter"] == 3  # the generator went first
    (run / STATE_FILE).rmdir()
    shutil.move(state, run / STATE_FILE)  # the state of iteration 2, as the crash left it
    resumed = Trainer.resume(run, progress=False, overrides={"max_iters": 3})
    assert resumed.iter == 2
    resumed.run()  # redoes iteration 3
    assert read_header(run / G_FILE)["iter"] == read_state(run / STATE_FILE)["iter"] == 3
