"""The trainer's events: every line of RUN/metrics.jsonl and of `sketchpad train --json`'s stdout is one
JSON object whose "event" field names one of these. The trainer builds them with `record`, which refuses
a field the schema does not name; readers go through `parse`, which passes an event of a name it does
not know on as UNKNOWN (with one log line) rather than dropping it.

ev = parse('{"event": "step", "iter": 3}')
if ev.kind == STEP: print(ev.fields["iter"])
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

KEY = "event"  # the field that names the event

START = "start"  # the run begins (or resumes): its shape and where it stands
STEP = "step"  # one training iteration: losses, rate, memory
SAMPLE = "sample"  # a sample grid was written to RUN/samples/
VAL = "val"  # validation at an epoch's end: the model's metrics (pix2pix: l1, psnr)
CHECKPOINT = "checkpoint"  # the generator file and the resume state were written
DONE = "done"  # the run reached its end (schedule or --max-iters)
STOPPED = "stopped"  # stopped on request, with a checkpoint: resumable
ERROR = "error"  # the trainer failed (`sketchpad train --json` only): one line
UNKNOWN = "unknown"  # a reader's name for an event it does not know (never written)

#: each event's fields (besides KEY), as the trainer writes them
FIELDS: dict[str, tuple[str, ...]] = {
    START: (
        "run",
        "model",
        "epochs",
        "iters_per_epoch",
        "total_iters",
        "device",
        "world_size",
        "resumed",
        "epoch",
        "iter",
        "input_nc",
        "output_nc",
        "input_kind",
    ),
    STEP: ("epoch", "iter", "total_iters", "losses", "lr", "it_s", "eta_s", "mem_mb"),
    SAMPLE: ("epoch", "iter", "path"),
    VAL: ("epoch",),  # and the model's metric names, which vary by model
    CHECKPOINT: ("epoch", "iter", "path"),
    DONE: ("epoch", "iter", "path"),
    STOPPED: ("epoch", "iter", "path"),
    ERROR: ("message",),
}
OPEN = frozenset({VAL})  # events that may carry fields beyond FIELDS
ENDS = (DONE, STOPPED)  # the trainer's last event when it ends by itself or on request
PROGRESS = (STEP, SAMPLE, VAL, CHECKPOINT)  # work a resume redoes when it came after the checkpoint

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """One parsed event: `kind` is a name above (UNKNOWN for another), `fields` the object as written
    (KEY included), which is what listeners are handed on."""

    kind: str
    fields: dict[str, Any]


def record(kind: str, **fields: Any) -> dict[str, Any]:
    """The object the trainer writes for `kind`; a ValueError (a bug in the writer) if it is not an
    event of the schema or its fields differ from FIELDS."""
    if kind not in FIELDS:
        raise ValueError(f"not a trainer event: {kind!r}")
    names = FIELDS[kind]
    missing = [f for f in names if f not in fields]
    extra = [] if kind in OPEN else [f for f in fields if f not in names]
    if missing or extra:
        raise ValueError(f"event {kind!r}: missing {missing}, unexpected {extra}")
    return {KEY: kind, **fields}


def parse(line: str | bytes | dict) -> Event:
    """A JSON line (or an object already decoded) as an Event. A ValueError says why it is not an
    event: not JSON, not an object, or no string KEY."""
    if isinstance(line, dict):
        obj = line
    else:
        try:
            obj = json.loads(line)
        except RecursionError:
            raise ValueError("nested too deeply") from None
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    name = obj.get(KEY)
    if not isinstance(name, str):
        raise ValueError(f"no {KEY!r} field")
    if name not in FIELDS:
        log.warning("unknown trainer event %r passed on as %r", name[:40], UNKNOWN)
        return Event(UNKNOWN, obj)
    return Event(name, obj)
