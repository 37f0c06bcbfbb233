"""The training loop every model shares: data, run folder, schedule, samples, validation, checkpoints,
resume and stopping. Model-specific work lives in pix2pix.py, cyclegan.py, dcgan.py and segmenter.py."""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checkpoint import atomic_write, load_checkpoint, remove_stale_temps, save_checkpoint
from ..data import (
    DataOptions,
    EpochSampler,
    ImageFolderDataset,
    PairedDataset,
    UnpairedDataset,
    check_dataset,
    guess_channels,
    guess_input_kind,
    per_rank,
)
from ..errors import CheckpointError, DataError
from ..generator import GeneratorConfig, build_generator
from ..inference import pick_device, trained_modes
from ..palette import FACADES
from . import events
from .common import (
    SEGMENTER_NETS,
    EventLog,
    TrainOptions,
    any_rank,
    describe_device,
    lr_factor,
    memory_mb,
    render_command,
    render_resume,
    rng_state,
    set_rng_state,
    setup_distributed,
)
from .distill import check_teacher, load_teacher, teacher_header
from .finetune import finetune_arch
from .runfolder import (
    G_FILE,
    LOG_FILE,
    OPTIONS_FILE,
    SAMPLES_DIR,
    STATE_FILE,
    STATE_FORMAT,
    RunLock,
    is_run_dir,
    read_log,
    read_options,
    read_state,
    sample_path,
)


def _dataset_class(model: str):
    return {
        "pix2pix": PairedDataset,
        "cyclegan": UnpairedDataset,
        "dcgan": ImageFolderDataset,
        "segmenter": PairedDataset,
    }[model]


def _model_class(model: str):
    if model == "pix2pix":
        from .pix2pix import Pix2Pix

        return Pix2Pix
    if model == "cyclegan":
        from .cyclegan import CycleGAN

        return CycleGAN
    if model == "segmenter":
        from .segmenter import Segmentation

        return Segmentation
    from .dcgan import DCGAN

    return DCGAN


class Trainer:
    """One run: `Trainer.create(opts).run()` starts it, `Trainer.resume(run_dir).run()` continues it from
    the last complete checkpoint. `stop()` (or SIGTERM/SIGINT in the CLI) ends it at the next iteration
    boundary with a checkpoint."""

    def __init__(
        self,
        opts: TrainOptions,
        *,
        json_stdout: bool = False,
        progress: bool = True,
        listener=None,
        state: dict | None = None,
        lock: RunLock | None = None,
    ):
        self.opts = opts
        self.run_dir = Path(opts.out)
        self.device, self.device_note = pick_device(opts.device)
        self.dist = setup_distributed(self.device)
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
            torch.cuda.set_device(self.device)
        self.log = EventLog(
            self.run_dir / LOG_FILE if self.dist.main else None,
            json_stdout=json_stdout and self.dist.main,
            enabled=self.dist.main,
            listener=listener,
        )
        self.show_progress = progress and self.dist.main and not json_stdout
        self._stop = threading.Event()
        self.log.on_reader_gone = self._stop.set
        self.epoch = 0  # 0-based index of the epoch in progress
        self.iter = 0  # iterations done in total
        self.iter_in_epoch = 0  # iterations done in this epoch (to skip on resume)
        self.metrics: dict[str, Any] = {}
        self.resumed = state is not None
        self.commands: list[str] = []  # the `sketchpad train` lines that made this run, resumes included
        self.devices: list[str] = []  # what it trained on, one entry per change
        self.seconds_before = 0.0  # training time of the earlier sessions
        self._t0: float | None = None
        self.lock: RunLock | None = lock

        torch.manual_seed(opts.seed + self.dist.rank)
        np.random.seed((opts.seed + self.dist.rank) % 2**32)
        import random

        random.seed(opts.seed + self.dist.rank)
        self._resume_arch = (state or {}).get("generator_arch")
        try:
            self._build_data()
            self.model = self._build_model()
            if state is not None:
                self._load_state(state)
        except BaseException:
            self.close()
            raise
        here = describe_device(self.device, self.dist.world)
        if not self.devices or self.devices[-1] != here:
            self.devices.append(here)

    # ------------------------------------------------------------ construction

    @classmethod
    def create(cls, opts: TrainOptions, **kw) -> Trainer:
        """A new run in `opts.out` (which must not hold a run already)."""
        opts.validate()
        if not opts.out:
            raise DataError("give a run folder with --out")
        run = Path(opts.out)
        if run.exists() and not run.is_dir():
            raise DataError(f"{run}: exists and is not a folder")
        other_rank = int(os.environ.get("RANK", "0")) > 0  # under torchrun rank 0 may have made it already
        if not other_rank and ((run / STATE_FILE).exists() or (run / OPTIONS_FILE).exists()):
            raise DataError(
                f"{run}: already holds a run; continue it with --resume {run} or choose another --out"
            )
        command = render_command(opts)  # as the user gave them, before anything is filled in
        if not opts.name:
            opts.name = run.resolve().name
        trainer = cls(opts, **kw)
        trainer.commands = [*trainer.init_commands(), command]
        if trainer.dist.main:
            run.mkdir(parents=True, exist_ok=True)
            try:
                trainer.lock = RunLock(run).acquire()
            except BaseException:
                trainer.close()
                raise
            trainer._write_options()
        return trainer

    @classmethod
    def resume(cls, run_dir: str | Path, *, overrides: dict[str, Any] | None = None, **kw) -> Trainer:
        """Continue the run in `run_dir` from its last complete checkpoint; `overrides` (e.g. max_iters,
        device, num_workers) replace saved options and are saved with them."""
        run = Path(run_dir)
        if not run.is_dir():
            raise DataError(f"{run}: no such run folder")
        if not is_run_dir(run):
            raise DataError(f"{run}: not a training run folder (no {OPTIONS_FILE})")
        opts = read_options(run / OPTIONS_FILE)
        created_by = render_command(opts)  # for a run whose state predates recorded command lines
        opts.out = str(run)
        if overrides:
            for k, v in overrides.items():
                setattr(opts, k, v)
            opts.validate()
        main = int(os.environ.get("RANK", "0")) == 0
        # The lock comes first: a second trainer must neither delete the first one's temporaries nor
        # rewrite its log.
        lock = RunLock(run).acquire() if main else None
        try:
            state = read_state(run / STATE_FILE) if (run / STATE_FILE).is_file() else None
            # (no state: killed before its first checkpoint; start over in the same folder)
            if main:
                for folder in (run, run / SAMPLES_DIR):  # temporaries of writes a kill interrupted
                    remove_stale_temps(folder)
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        trainer = cls(opts, state=state, lock=lock, **kw)
        try:
            if not trainer.commands:
                trainer.commands = [created_by]
            trainer.commands.append(render_resume(str(run_dir), overrides))
            if trainer.dist.main:
                if overrides:
                    trainer._write_options()
                trainer._trim_log()
        except BaseException:
            trainer.close()
            raise
        return trainer

    def close(self) -> None:
        """Let go of the run folder (its lock); `run()` does this when it ends."""
        if getattr(self, "lock", None) is not None:
            self.lock.release()
            self.lock = None

    def init_commands(self) -> list[str]:
        """The command lines that made the --init checkpoint, where its header has them."""
        if self.init_ckpt is None:
            return []
        commands = (self.init_ckpt.meta.get("training") or {}).get("commands")
        ok = isinstance(commands, list) and all(isinstance(c, str) for c in commands)
        return list(commands) if ok else []

    def _data_options(self, input_nc: int, output_nc: int, multiple: int) -> DataOptions:
        o = self.opts
        return DataOptions(
            direction=o.direction,
            load_size=o.load_size,
            crop_size=o.crop_size,
            preprocess=o.preprocess,
            flip=not o.no_flip,
            input_nc=input_nc,
            output_nc=output_nc,
            multiple=multiple,
            seed=o.seed,
            holdout=o.holdout,
            skip_bad=o.skip_bad,
            sketch_augment=o.sketch_augment,
        )

    def _build_data(self) -> None:
        o = self.opts
        if not o.data:
            raise DataError("give a dataset folder with --data")
        report = check_dataset(o.data, holdout=o.holdout)
        if not report.usable:
            raise DataError(report.error or f"{o.data}: no usable images")
        bad: set[str] = set()
        if report.problems:
            first = report.problems[0]
            if not o.skip_bad:
                raise DataError(
                    f"{o.data}: {len(report.problems)} unreadable or unmatched file(s), e.g. {first}; "
                    "see `sketchpad data check`, or train without them with --skip-bad"
                )
            bad = set(report.problems)
        self.data_format = report.format
        self.data_sizes = report.sizes  # "WxH" -> images: the "inference" header's fit
        if o.model == "segmenter" and not o.direction:  # the side that holds the label map is the input
            from .segmenter import label_direction

            o.direction = label_direction(o.data, o.holdout)
        self.init_ckpt = self.init_arch = None
        if o.init and self._resume_arch:  # resuming a fine-tune: the state has the weights, not the file
            self.init_arch = GeneratorConfig.from_dict(json.loads(self._resume_arch))
        elif o.init:  # fine-tuning: the checkpoint decides the architecture and channels
            self.init_ckpt = load_checkpoint(o.init)
            self.init_arch = finetune_arch(self.init_ckpt)
            if o.upsample and self.init_arch is not None:  # the same weights, upsampled as asked
                self.init_arch = replace(self.init_arch, upsample=o.upsample)
        if self.init_arch is not None:
            o.input_nc, o.output_nc = self.init_arch.input_nc, self.init_arch.output_nc
        self.teacher_ckpt = None
        if o.teacher:  # distillation: the student maps the teacher's channels unless told otherwise
            self.teacher_ckpt = load_teacher(o.teacher)
            t_cfg = self.teacher_ckpt.config
            o.input_nc, o.output_nc = o.input_nc or t_cfg.input_nc, o.output_nc or t_cfg.output_nc
        if not o.input_nc or not o.output_nc:
            gi, go = guess_channels(o.data, o.direction, o.holdout) if o.model != "dcgan" else (3, 3)
            o.input_nc, o.output_nc = o.input_nc or gi, o.output_nc or go
        if not o.input_kind:
            if self.init_ckpt is not None and self.init_ckpt.meta.get("input_kind"):
                o.input_kind = self.init_ckpt.meta["input_kind"]
            elif self.teacher_ckpt is not None and self.teacher_ckpt.meta.get("input_kind"):
                o.input_kind = self.teacher_ckpt.meta["input_kind"]
            else:
                o.input_kind = (
                    guess_input_kind(o.data, o.direction, o.holdout)
                    if o.model in ("pix2pix", "segmenter")
                    else "image"
                )
        multiple = 4
        if o.model in ("pix2pix", "segmenter") and o.netG.startswith("unet"):
            multiple = 2 ** (o.num_downs or {"unet_256": 8, "unet_128": 7}.get(o.netG, 8))
        if o.model == "segmenter" and o.netG in SEGMENTER_NETS:
            from ..backbone import MULTIPLE

            multiple = MULTIPLE
        if self.init_arch is not None:
            multiple = self.init_arch.multiple
        if self.teacher_ckpt is not None:
            crop = o.crop_size if "crop" in o.preprocess else None
            check_teacher(o.teacher, self.teacher_ckpt, o.input_nc, o.output_nc, crop)
            multiple = max(multiple, self.teacher_ckpt.config.multiple)
        self.data_opts = self._data_options(o.input_nc, o.output_nc, multiple)
        cls = _dataset_class(o.model)
        self.train_set = cls(o.data, "train", self.data_opts, report.format, bad)
        if len(self.train_set) == 0:
            raise DataError(f"{o.data}: the train split is empty")
        has_val = "val" in report.counts and o.model in ("pix2pix", "segmenter")
        self.val_set = cls(o.data, "val", self.data_opts, report.format, bad) if has_val else None
        if self.val_set is not None and len(self.val_set) == 0:
            self.val_set = None
        self.iters_per_epoch = math.ceil(per_rank(len(self.train_set), self.dist.world) / o.batch_size)
        self.total_iters = self.iters_per_epoch * o.total_epochs
        if o.max_iters:
            self.total_iters = min(self.total_iters, o.max_iters)
        # Fixed, unaugmented items for samples (val if there is one) and validation.
        source = self.val_set if self.val_set is not None else self.train_set
        self.sample_batch = _collate([source[i] for i in range(min(4, len(source)))])
        self.val_batches = []
        if self.val_set is not None:
            items = [self.val_set[i] for i in range(min(o.val_images, len(self.val_set)))]
            self.val_batches = [_collate(items[i : i + 4]) for i in range(0, len(items), 4)]

    def _build_model(self):
        o = self.opts
        cls = _model_class(o.model)
        kw: dict[str, Any] = {"device": self.device, "dist": self.dist}
        if self.init_ckpt is not None:
            G = self.init_ckpt.net
            if self.init_arch is not None and G.cfg != self.init_arch:  # --upsample: same keys and shapes
                state = G.state_dict()
                G = build_generator(self.init_arch)
                G.load_state_dict(state)
            kw["G"] = G.train()
        elif self.init_arch is not None:
            kw["G"] = build_generator(self.init_arch)
        if self.teacher_ckpt is not None:
            kw["teacher"] = self.teacher_ckpt.net
        if o.pretrained:  # a resume's state holds the encoder's weights already
            kw["pretrained"] = not self.resumed
        return cls(o, o.input_nc, o.output_nc, **kw)

    # ------------------------------------------------------------ files

    def _write_options(self) -> None:
        text = json.dumps(self.opts.to_dict(), indent=2)
        atomic_write(self.run_dir / OPTIONS_FILE, lambda tmp: Path(tmp).write_text(text))

    def checkpoint_meta(self, seconds: float | None = None) -> dict[str, Any]:
        o = self.opts
        seconds = self.train_seconds() if seconds is None else seconds
        meta = {
            "name": o.name,
            "model": o.model,
            "input_kind": o.input_kind,
            "direction": o.direction,
            "size": o.crop_size,
            "training": {
                **o.to_dict(),
                "commands": list(self.commands),
                "seconds": round(seconds, 3),
                "device": "; ".join(self.devices),
            },
            "epoch": self.epoch,
            "iter": self.iter,
            "metrics": self.metrics,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "description": f"{o.model} trained on {Path(o.data).name} for {self.iter} iterations",
            "role": "live" if o.teacher else "full",
        }
        if self.teacher_ckpt is not None:
            meta["teacher"] = teacher_header(o.teacher, self.teacher_ckpt)
            meta["description"] += f", distilled from {Path(o.teacher).name}"
        if o.input_kind == "labels":
            meta["palette"] = [[name, list(rgb)] for name, rgb in FACADES]
        return meta

    def save(self) -> Path:
        """Write the generator file(s), then the resume state that belongs to them; each atomically. In
        this order a crash between the two leaves the earlier state beside the newer generator (a resume
        redoes that work), never a state whose generator is missing or older. Rank 0 only."""
        path = self.run_dir / next(iter(self.model.generators()))
        if not self.dist.main:
            return path
        seconds = self.train_seconds()  # one value for the state and the header
        state = {
            "format": STATE_FORMAT,
            "model": self.model.state_dict(),
            "epoch": self.epoch,
            "iter": self.iter,
            "iter_in_epoch": self.iter_in_epoch,
            "rng": rng_state(),
            "metrics_json": json.dumps(self.metrics),
            "seconds": seconds,
            "commands": list(self.commands),
            "devices": list(self.devices),
        }
        g = next(iter(self.model.generators().values()))
        if isinstance(getattr(g, "cfg", None), GeneratorConfig):
            state["generator_arch"] = json.dumps(g.cfg.to_dict())
        meta = self.checkpoint_meta(seconds)
        for name, net in self.model.generators().items():
            net_meta = self.model.generator_meta(name, meta)
            if hasattr(net, "save_file"):  # DCGAN: its own header
                net.save_file(self.run_dir / name, net_meta)
            elif hasattr(self.model, "save_file"):  # the segmenter: its own file format
                self.model.save_file(self.run_dir / name, net, net_meta)
            else:
                o = self.opts
                modes = trained_modes(
                    net.cfg,
                    batch_size=o.batch_size,
                    preprocess=o.preprocess,
                    sizes=self.data_sizes,
                    aligned=self.data_format == "aligned",
                )
                save_checkpoint(self.run_dir / name, net, {**net_meta, "inference": modes})
        atomic_write(self.run_dir / STATE_FILE, lambda tmp: torch.save(state, tmp))
        return path

    def train_seconds(self) -> float:
        """Training time of this run so far, every session together."""
        return self.seconds_before + (time.monotonic() - self._t0 if self._t0 is not None else 0.0)

    def _trim_log(self) -> None:
        """Drop the events after the checkpoint we resume from (their work is redone), and a torn last line."""
        path = self.run_dir / LOG_FILE
        if not path.is_file():
            return
        keep: list[str] = []
        for line, event in read_log(path):
            if event.kind in events.PROGRESS and event.fields.get("iter", 0) > self.iter:
                break
            if event.kind == events.VAL and event.fields.get("epoch", 0) > self.epoch:
                break
            keep.append(line)
        text = "".join(keep)
        atomic_write(path, lambda tmp: Path(tmp).write_text(text))

    def _load_state(self, state: dict) -> None:
        """Weights, optimisers, counters and RNG from a resume state `read_state` checked; a part that does
        not fit this run's nets is a CheckpointError naming it."""
        path = self.run_dir / STATE_FILE
        model = state["model"]
        for part in ("nets", "optimizers"):
            missing = sorted(
                set(getattr(self.model, part)) - set(model[part]) - set(self.model.optional_nets)
            )
            if missing:
                raise CheckpointError(f"{path}: field 'model.{part}' has no {missing[0]!r}")
        try:
            self.model.load_state_dict(model)
        except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
            raise CheckpointError(f"{path}: field 'model' does not fit this run's nets ({first})") from None
        self.epoch, self.iter, self.iter_in_epoch = (
            int(state["epoch"]),
            int(state["iter"]),
            int(state["iter_in_epoch"]),
        )
        self.metrics = json.loads(state.get("metrics_json", "{}"))
        self.seconds_before = float(state.get("seconds", 0.0))
        self.commands = list(state.get("commands", []))
        self.devices = list(state.get("devices", []))
        if self.dist.main:
            try:
                set_rng_state(state["rng"])  # other ranks keep their own seeded streams
            except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as e:
                raise CheckpointError(f"{path}: field 'rng' is damaged ({type(e).__name__})") from None

    # ------------------------------------------------------------ running

    def stop(self) -> None:
        """Ask the run to end at the next iteration boundary (with a checkpoint). Thread-safe."""
        self._stop.set()

    def _loader(self) -> torch.utils.data.DataLoader:
        o = self.opts
        sampler = EpochSampler(
            len(self.train_set),
            epoch=self.epoch,
            seed=o.seed,
            start=self.iter_in_epoch * o.batch_size,
            rank=self.dist.rank,
            world=self.dist.world,
        )
        g = torch.Generator()  # so the loader never draws from the global RNG
        g.manual_seed(o.seed * 1000003 + self.epoch)
        return torch.utils.data.DataLoader(
            self.train_set,
            batch_size=o.batch_size,
            sampler=sampler,
            num_workers=o.num_workers,
            collate_fn=_collate,
            generator=g,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
        )

    def _save_sample(self) -> Path:
        from ..imageio import save_png

        with torch.random.fork_rng(devices=[]):
            rows = self.model.sample_rows(self.sample_batch)
        grid = _grid(rows)
        path = sample_path(self.run_dir, self.epoch + 1, self.iter)
        save_png(path, grid)
        return path

    def run(self) -> dict[str, Any]:
        """Train until the schedule ends, max_iters, or stop(); returns the last event."""
        main_thread = threading.current_thread() is threading.main_thread()
        old_handlers = {}
        if main_thread:
            for sig in (signal.SIGTERM, signal.SIGINT):
                old_handlers[sig] = signal.signal(sig, lambda *_: self._stop.set())
        try:
            return self._run()
        finally:
            self.close()
            for sig, h in old_handlers.items():
                signal.signal(sig, h)
            if self.dist.enabled:
                import torch.distributed as dist

                dist.barrier()
                dist.destroy_process_group()

    @property
    def sample_every(self) -> int:
        """Iterations between sample grids: the option, or with -1 (auto) about a tenth of the run, at
        most 200 (a sample is also saved at the end of every run)."""
        if self.opts.sample_every >= 0:
            return self.opts.sample_every
        return min(200, max(1, math.ceil(self.total_iters / 10)))

    def _run(self) -> dict[str, Any]:
        o = self.opts
        self._t0 = time.monotonic()
        if self.device_note and self.dist.main:
            print(f"sketchpad: {self.device_note}", file=sys.stderr)
        if o.amp != "off" and self.device.type != "cuda" and self.dist.main:
            print("sketchpad: --amp needs CUDA; training in fp32", file=sys.stderr)
        self.log.emit(
            events.START,
            run=str(self.run_dir),
            model=o.model,
            epochs=o.total_epochs,
            iters_per_epoch=self.iters_per_epoch,
            total_iters=self.total_iters,
            device=str(self.device),
            world_size=self.dist.world,
            resumed=self.resumed,
            epoch=self.epoch + 1,
            iter=self.iter,
            input_nc=o.input_nc,
            output_nc=o.output_nc,
            input_kind=o.input_kind,
        )
        bar = None
        if self.show_progress:
            from tqdm import tqdm

            bar = tqdm(
                total=self.total_iters, initial=self.iter, unit="it", file=sys.stderr, dynamic_ncols=True
            )
        rate, t_last, last_saved = 0.0, time.perf_counter(), self.iter
        try:
            if o.max_iters and self.iter >= o.max_iters:  # resumed at its limit already: nothing to do
                return self.log.emit(
                    events.DONE, epoch=self.epoch, iter=self.iter, path=str(self.run_dir / G_FILE)
                )
            while self.epoch < o.total_epochs:
                lr = o.lr * lr_factor(self.epoch, o.n_epochs, o.n_epochs_decay)
                self.model.set_lr(lr)
                for batch in self._loader():
                    losses = self.model.step(batch)
                    self.iter += 1
                    self.iter_in_epoch += 1
                    now = time.perf_counter()
                    dt, t_last = now - t_last, now
                    rate = 1 / dt if rate == 0 else 0.9 * rate + 0.1 / max(dt, 1e-9)
                    self.metrics["losses"] = {k: round(v, 5) for k, v in losses.items()}
                    self.log.emit(
                        events.STEP,
                        epoch=self.epoch + 1,
                        iter=self.iter,
                        total_iters=self.total_iters,
                        losses=self.metrics["losses"],
                        lr=lr,
                        it_s=round(rate, 3),
                        eta_s=round(max(0, self.total_iters - self.iter) / max(rate, 1e-9), 1),
                        mem_mb=memory_mb(self.device),
                    )
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix({k: f"{v:.3g}" for k, v in losses.items()}, refresh=False)
                    limit = bool(o.max_iters and self.iter >= o.max_iters)
                    stop = any_rank(self._stop.is_set(), self.dist, self.device)
                    last = limit or stop or self.iter >= self.total_iters
                    every = self.sample_every
                    if every and (self.iter % every == 0 or last) and self.dist.main:  # and at the end
                        path = self._save_sample()
                        self.log.emit(events.SAMPLE, epoch=self.epoch + 1, iter=self.iter, path=str(path))
                    epoch_end = self.iter_in_epoch >= self.iters_per_epoch  # _end_epoch saves then
                    if o.save_every_iters and self.iter % o.save_every_iters == 0 and not epoch_end:
                        self._checkpoint()
                        last_saved = self.iter
                    if limit or stop:
                        if epoch_end:
                            self._end_epoch()
                        elif last_saved != self.iter:
                            self._checkpoint()
                        event = events.STOPPED if stop and not limit else events.DONE
                        return self.log.emit(
                            event,
                            epoch=self.epoch + (0 if self.iter_in_epoch == 0 else 1),
                            iter=self.iter,
                            path=str(self.run_dir / G_FILE),
                        )
                self._end_epoch()
                last_saved = self.iter
            return self.log.emit(
                events.DONE, epoch=self.epoch, iter=self.iter, path=str(self.run_dir / G_FILE)
            )
        finally:
            if bar is not None:
                bar.close()

    def _end_epoch(self) -> None:
        """Validate, move the counters to the next epoch, checkpoint."""
        finished = self.epoch + 1
        if self.val_batches and self.dist.main:
            with torch.random.fork_rng(devices=[]):
                val = self.model.val_metrics(self.val_batches)
            self.metrics["val"] = val
            self.log.emit(events.VAL, epoch=finished, **val)
        self.epoch += 1
        self.iter_in_epoch = 0
        self._checkpoint(epoch=finished)

    def _checkpoint(self, epoch: int | None = None) -> None:
        path = self.save()
        self.log.emit(events.CHECKPOINT, epoch=epoch or self.epoch + 1, iter=self.iter, path=str(path))


def _collate(items: list[dict]) -> dict:
    out: dict[str, Any] = {}
    for k in items[0]:
        vals = [it[k] for it in items]
        out[k] = torch.stack(vals) if isinstance(vals[0], torch.Tensor) else vals
    return out


def _to_rgb(t: torch.Tensor) -> torch.Tensor:
    t = t.detach().float().cpu().clamp(-1, 1)
    return t.expand(3, -1, -1) if t.shape[0] == 1 else t[:3]


def _grid(rows: list[list[torch.Tensor]], pad: int = 2) -> np.ndarray:
    """Rows of (C, H, W) images in [-1, 1] -> one uint8 (H, W, 3) picture, white gaps between."""
    h = max(t.shape[1] for row in rows for t in row)
    w = max(t.shape[2] for row in rows for t in row)
    ncols = max(len(r) for r in rows)
    canvas = torch.ones(3, len(rows) * (h + pad) - pad, ncols * (w + pad) - pad)
    for r, row in enumerate(rows):
        for c, t in enumerate(row):
            t = _to_rgb(t)
            y, x = r * (h + pad), c * (w + pad)
            canvas[:, y : y + t.shape[1], x : x + t.shape[2]] = t
    return ((canvas + 1) * 127.5).round().clamp(0, 255).byte().permute(1, 2, 0).numpy()
