"""Which generators the app can offer: shipped weights, the user's training runs, files opened from disk,
and a built-in untrained network so the app always starts."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import torch

from models.checkpoint import FORMAT as GENERATOR_FORMAT
from models.checkpoint import Checkpoint, read_header
from models.errors import CheckpointError
from models.generator import GeneratorConfig, build_generator
from models.palette import FACADES
from models.train.runfolder import generator_files
from sketchpad import paths
from sketchpad.runs import KIND_NAMES, is_text_name

BUILTIN_ID = "builtin:untrained"
BUILTIN_LABEL = "untrained (no weights found)"
LIVE_SUFFIX = "-live"
CHECKPOINT_SUFFIXES = (".safetensors", ".pth", ".pt")
DEFAULT_TASKS = ("facades", "faces", "shoes")  # the first shipped one found is the default model


@dataclass(frozen=True)
class ModelEntry:
    """One choice in the model picker."""

    id: str  # unique: the checkpoint path as a string, or BUILTIN_ID
    label: str  # what the picker shows
    source: str  # "shipped", "run", "opened" or "builtin"
    path: Path | None = None
    live_path: Path | None = None  # the fast tier for the two-tier live view, if one exists
    input_kind: str = "image"
    task: str = ""  # examples folder name under resources/examples
    damaged: str = ""  # why the file's header does not read ("" when it does); loading says more

    @property
    def is_builtin(self) -> bool:
        return self.path is None


def read_meta(path: Path) -> tuple[dict, str]:
    """(header, problem): a safetensors file's header, or {} and why it cannot be read. Never raises:
    a listing must survive any file (zero bytes, garbage, no permission, hostile JSON)."""
    if path.suffix != ".safetensors":
        return {}, ""
    try:
        return read_header(path), ""
    except CheckpointError as e:
        return {}, str(e)
    except (OSError, ValueError, RecursionError) as e:
        return {}, f"{path.name}: unreadable ({type(e).__name__})"


def _header(path: Path) -> dict:
    return read_meta(path)[0]


def _is_generator(path: Path) -> bool:
    """False for the other networks kept in weights/ (e.g. the FCN-score segmenter)."""
    h = _header(path)
    fmt = str(h.get("format", GENERATOR_FORMAT))
    return fmt.startswith("sketchpad.generator") and h.get("role", "full") in ("full", "live")


def _entry(path: Path, source: str, label: str | None = None, live: Path | None = None) -> ModelEntry:
    h, problem = read_meta(path)
    kind = h.get("input_kind") if h.get("input_kind") in KIND_NAMES else "image"
    name = h.get("name") if isinstance(h.get("name"), str) else ""
    task = str(h.get("task") or name or path.stem).removesuffix(LIVE_SUFFIX)
    label = label or name or path.stem
    return ModelEntry(
        id=str(path.resolve()),
        label=label + (" (damaged)" if problem else ""),
        source=source,
        path=path.resolve(),
        live_path=live.resolve() if live else None,
        input_kind=kind,
        task=task,
        damaged=problem,
    )


def shipped(weights_dir: Path | None = None) -> list[ModelEntry]:
    """weights/*.safetensors; `<task>-live.safetensors` is the live tier of `<task>`, not an entry."""
    d = Path(weights_dir or paths.WEIGHTS_DIR)
    try:
        files = sorted(p for p in d.glob("*.safetensors") if not p.name.startswith(".") and _is_generator(p))
    except OSError:
        return []
    by_stem = {p.stem: p for p in files}
    out = []
    for p in files:
        if p.stem.endswith(LIVE_SUFFIX) and p.stem.removesuffix(LIVE_SUFFIX) in by_stem:
            continue
        out.append(_entry(p, "shipped", label=p.stem, live=by_stem.get(p.stem + LIVE_SUFFIX)))
    order = {t: i for i, t in enumerate(DEFAULT_TASKS)}
    return sorted(out, key=lambda e: (order.get(e.path.stem, len(order)), e.label))


def _mtime(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except OSError:
        return 0.0


def user_runs(runs_dir: Path | None = None) -> list[ModelEntry]:
    """Training runs: RUN_DIR/latest.safetensors, newest first. Never raises; a run whose checkpoint
    does not read is marked "(damaged)"; one whose folder name is not UTF-8 is left out (Qt cannot carry
    its path: the runs list offers to rename it)."""
    try:
        d = Path(runs_dir or paths.runs_dir())
        found = [p for p in generator_files(d) if is_text_name(str(p)) and _is_file(p)]
    except (OSError, ValueError):
        return []
    found.sort(key=_mtime, reverse=True)
    return [_entry(p, "run", label=run_label(p)) for p in found]


def _is_file(p: Path) -> bool:
    try:
        return p.is_file()
    except (OSError, ValueError):  # no permission, a NUL in a remembered path
        return False


def run_label(path: Path) -> str:
    """'run: NAME (line art) · 2026-11-25 14:30 · epoch 3 · val L1 0.075': what a user picks a run by."""
    h = _header(path)
    kind = KIND_NAMES.get(h.get("input_kind"), "") if isinstance(h.get("input_kind"), str) else ""
    parts = [f"run: {path.parent.name}" + (f" ({kind})" if kind else "")]
    created = _local_time(h.get("created"))
    if created:
        parts.append(created)
    if type(h.get("epoch")) is int:
        parts.append(f"epoch {h['epoch']}")
    val = (h.get("metrics") or {}).get("val") if isinstance(h.get("metrics"), dict) else None
    l1 = val.get("l1") if isinstance(val, dict) else None
    if isinstance(l1, int | float) and not isinstance(l1, bool) and math.isfinite(l1):
        parts.append(f"val L1 {l1:.3f}")
    return " · ".join(parts)


def _local_time(created) -> str:
    """The header's ISO time (UTC) as the user's local 'YYYY-MM-DD HH:MM'; '' if there is none."""
    if not isinstance(created, str) or not created:
        return ""
    try:
        return datetime.fromisoformat(created).astimezone().strftime("%Y-%m-%d %H:%M")
    except (ValueError, OverflowError, OSError):
        return created[:16].replace("T", " ")


def opened_entry(path: str | os.PathLike) -> ModelEntry:
    p = Path(path)
    live = p.with_name(p.stem + LIVE_SUFFIX + p.suffix)
    name = _header(p).get("name")
    name = name if isinstance(name, str) else ""
    label = f"{name} ({p.name})" if name and name != p.stem else f"file: {p.name}"
    return _entry(p, "opened", label=label, live=live if _is_file(live) else None)


def builtin_entry() -> ModelEntry:
    return ModelEntry(
        id=BUILTIN_ID, label=BUILTIN_LABEL, source="builtin", input_kind="labels", task="facades"
    )


def discover(opened: list[str | os.PathLike] = (), *, weights_dir=None, runs_dir=None) -> list[ModelEntry]:
    """Every model the picker offers: shipped, then runs, then opened files; the built-in one when no
    shipped model exists."""
    entries = shipped(weights_dir)
    entries += user_runs(runs_dir)
    seen = {e.id for e in entries}
    for p in opened:
        if _is_file(Path(p)) and str(Path(p).resolve()) not in seen:
            e = opened_entry(p)
            entries.append(e)
            seen.add(e.id)
    if not any(e.source == "shipped" for e in entries):
        entries.insert(0, builtin_entry())
    return entries


def resolve(name_or_path: str | os.PathLike | None, entries: list[ModelEntry]) -> ModelEntry:
    """A shipped/run name ('facades', 'run: x'), an entry id, or a checkpoint path; None: the default."""
    if name_or_path is None or name_or_path == "":
        return entries[0] if entries else builtin_entry()
    s = str(name_or_path)
    if s == BUILTIN_ID:
        return builtin_entry()
    for e in entries:
        if s in (e.id, e.label) or (e.path is not None and s in (e.path.stem, e.path.parent.name)):
            return e
    p = Path(s).expanduser()
    if _is_file(p):
        return opened_entry(p)
    names = ", ".join(e.label for e in entries if not e.is_builtin) or "none shipped"
    raise CheckpointError(f"{s}: no such model or checkpoint file (known models: {names})")


def builtin_checkpoint(ngf: int = 16) -> Checkpoint:
    """An untrained ngf-16 U-Net for facade label maps: the app works (badly) with no weights at all."""
    cfg = GeneratorConfig(ngf=ngf, num_downs=8)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = build_generator(cfg)
    net.eval()
    meta = {
        "name": BUILTIN_LABEL,
        "input_kind": "labels",
        "palette": [[n, list(c)] for n, c in FACADES],
        "direction": "BtoA",
        "size": 256,
        "description": "Random weights: the app runs, the pictures mean nothing. Train or add weights/.",
    }
    return Checkpoint(net=net, config=cfg, meta=meta, path=None)
