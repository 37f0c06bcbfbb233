"""Datasets in the reference implementation's layouts, detected from the folder:

- ``aligned``: one image per pair, A left | B right, in DIR/train, DIR/val, DIR/test (pix2pix's own format);
- ``paired``: DIR/<split>/A/ and DIR/<split>/B/ with the same file stem on both sides;
- ``unpaired``: DIR/trainA, DIR/trainB (CycleGAN);
- ``folder``: images directly in DIR (DCGAN; pix2pix reads them as aligned pairs).

Items are addressed by ``(epoch, index)`` so that every random choice (crop, flip, the unpaired B image)
comes from a generator seeded by ``(seed, epoch, index)``: the data order and augmentation of a resumed run
equal an uninterrupted one, with any number of loader workers. Nothing is skipped silently: a file that
cannot be read raises a ``DataError`` naming it, unless the dataset was built with ``skip_bad=True`` and
the file is in the list of problems ``check_dataset`` found.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .errors import DataError, ImageError
from .imageio import IMAGE_SUFFIXES, open_image

FORMATS = ("aligned", "paired", "unpaired", "folder")
PREPROCESS = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none")
DIRECTIONS = ("AtoB", "BtoA")
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class DataOptions:
    direction: str = "AtoB"  # AtoB: the net maps the A side to the B side
    load_size: int = 286  # resize to this square before the random crop
    crop_size: int = 256  # the training crop
    preprocess: str = "resize_and_crop"
    flip: bool = True  # random horizontal flip, the same for both sides
    input_nc: int = 3  # channels of the input side (1 = grayscale)
    output_nc: int = 3
    multiple: int = 4  # 'none' / 'scale_width' round sizes to a multiple of this (what the net accepts)
    seed: int = 0
    holdout: int = 0  # >0: take this many train items as the val split (for sets without one)
    skip_bad: bool = False  # leave out files check_dataset reported, instead of refusing
    sketch_augment: bool = False  # perturb line-art inputs as a hand would draw them (models.lineart)

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise DataError(f"direction must be AtoB or BtoA, not {self.direction!r}")
        if self.preprocess not in PREPROCESS:
            raise DataError(f"preprocess must be one of {', '.join(PREPROCESS)}, not {self.preprocess!r}")
        if self.crop_size < 1 or self.load_size < 1:
            raise DataError("load size and crop size must be positive")
        if "crop" in self.preprocess and self.preprocess != "crop" and self.crop_size > self.load_size:
            raise DataError(f"crop size {self.crop_size} is larger than load size {self.load_size}")
        if self.input_nc not in (1, 3) or self.output_nc not in (1, 3):
            raise DataError("input_nc and output_nc must be 1 or 3")
        if self.holdout < 0:
            raise DataError("holdout must be >= 0")


# ---------------------------------------------------------------- finding files


def _images(folder: Path) -> list[Path]:
    """Image files directly in `folder`, sorted by name (hidden files ignored)."""
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    )


def detect_format(root: str | os.PathLike) -> str:
    """The layout of `root` (one of FORMATS), or a DataError that says what the folder lacks."""
    root = Path(root)
    if not root.exists():
        raise DataError(f"{root}: no such folder")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    if (root / "trainA").is_dir() or (root / "trainB").is_dir():
        return "unpaired"
    for split in SPLITS:
        if (root / split / "A").is_dir() or (root / split / "B").is_dir():
            return "paired"
    if any(_images(root / split) for split in SPLITS):
        return "aligned"
    if _images(root):
        return "folder"
    if (root / "A").is_dir() and (root / "B").is_dir():
        raise DataError(f"{root}: A/ and B/ must sit in a split folder (train/A, train/B)")
    raise DataError(
        f"{root}: no images found (expected train/ with A|B pairs, train/A + train/B, trainA + trainB, "
        "or images in the folder)"
    )


def holdout_stems(stems: list[str], n: int) -> set[str]:
    """The same `n` stems every time: the smallest by a hash of the name, so adding files moves few."""
    if n <= 0:
        return set()
    ranked = sorted(stems, key=lambda s: (hashlib.sha1(s.encode("utf-8", "surrogateescape")).hexdigest(), s))
    return set(ranked[:n])


@dataclass
class Listing:
    """The files of one split: pairs (A, B) for paired formats, or lists per side."""

    pairs: list[tuple[Path, Path | None]] = field(default_factory=list)  # aligned: (image, None)
    a: list[Path] = field(default_factory=list)  # unpaired / folder
    b: list[Path] = field(default_factory=list)
    unmatched: list[Path] = field(default_factory=list)


def list_split(root: Path, fmt: str, split: str, holdout: int = 0) -> Listing:
    """Files of `split` in a `fmt` dataset; with `holdout` > 0 and no val folder, 'train' and 'val' are
    cut from the train folder deterministically."""
    source = split
    cut = 0
    if holdout > 0 and split in ("train", "val") and not _has_split(root, fmt, "val"):
        source, cut = "train", holdout
    out = _list_raw(root, fmt, source)
    if cut:
        keep_val = split == "val"
        if fmt in ("aligned", "paired", "folder"):
            held = holdout_stems([p.stem for p, _ in out.pairs], cut)
            out.pairs = [(p, q) for p, q in out.pairs if (p.stem in held) == keep_val]
        else:
            held = holdout_stems([p.stem for p in out.a], cut)
            out.a = [p for p in out.a if (p.stem in held) == keep_val]
            held_b = holdout_stems([p.stem for p in out.b], cut)
            out.b = [p for p in out.b if (p.stem in held_b) == keep_val]
        if keep_val:
            out.unmatched = []
    return out


def _has_split(root: Path, fmt: str, split: str) -> bool:
    if fmt == "aligned":
        return bool(_images(root / split))
    if fmt == "paired":
        return bool(_images(root / split / "A"))
    if fmt == "unpaired":
        return bool(_images(root / f"{split}A"))
    return False


def _list_raw(root: Path, fmt: str, split: str) -> Listing:
    if fmt == "aligned":
        return Listing(pairs=[(p, None) for p in _images(root / split)])
    if fmt == "folder":
        return Listing(pairs=[(p, None) for p in _images(root)] if split == "train" else [])
    if fmt == "paired":
        a = {p.stem: p for p in _images(root / split / "A")}
        b = {p.stem: p for p in _images(root / split / "B")}
        pairs = [(a[s], b[s]) for s in sorted(a.keys() & b.keys())]
        unmatched = sorted([a[s] for s in a.keys() - b.keys()] + [b[s] for s in b.keys() - a.keys()])
        return Listing(pairs=pairs, unmatched=unmatched)
    if fmt == "unpaired":
        return Listing(a=_images(root / f"{split}A"), b=_images(root / f"{split}B"))
    raise DataError(f"unknown dataset format {fmt!r}")


# ---------------------------------------------------------------- the check


@dataclass
class DataReport:
    """What `check_dataset` found: format, counts per split and side, sizes, and every problem file."""

    root: str
    format: str = ""
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> side -> image files on disk
    usable_counts: dict[str, dict[str, int]] = field(default_factory=dict)  # ... that training reads
    sizes: dict[str, int] = field(default_factory=dict)  # "WxH" -> images
    modes: dict[str, int] = field(default_factory=dict)  # "L" / "RGB" -> images (after decoding)
    unreadable: list[dict[str, str]] = field(default_factory=list)  # {"path", "reason"}
    unmatched: list[str] = field(default_factory=list)
    error: str = ""  # why the folder cannot be used at all

    @property
    def usable(self) -> bool:
        return not self.error and any(n for sides in self.usable_counts.values() for n in sides.values())

    @property
    def problems(self) -> list[str]:
        return [u["path"] for u in self.unreadable] + list(self.unmatched)

    def to_dict(self) -> dict:
        return {**asdict(self), "usable": self.usable}

    def text(self) -> str:
        lines = [f"{self.root}: {self.format or 'unknown'} dataset"]
        if self.error:
            lines.append(f"  error: {self.error}")
        for split, sides in self.counts.items():
            line = f"  {split}: " + ", ".join(f"{side} {n}" for side, n in sides.items())
            usable = self.usable_counts.get(split, sides)
            if usable != sides:
                line += " (usable: " + ", ".join(f"{side} {n}" for side, n in usable.items()) + ")"
            lines.append(line)
        if self.sizes:
            common = sorted(self.sizes.items(), key=lambda kv: -kv[1])
            lines.append("  sizes: " + ", ".join(f"{k} x{n}" for k, n in common[:8]))
            if len(common) > 8:
                lines.append(f"         (+{len(common) - 8} more sizes)")
        if self.modes:
            lines.append("  modes: " + ", ".join(f"{k} x{n}" for k, n in sorted(self.modes.items())))
        for u in self.unreadable:
            lines.append(f"  unreadable: {u['path']}: {u['reason']}")
        for p in self.unmatched:
            lines.append(f"  unmatched: {p} (no file of the same name on the other side)")
        if self.usable:
            lines.append("  problems: none" if not self.problems else f"  problems: {len(self.problems)}")
        return "\n".join(lines)


def _probe(path: Path) -> tuple[tuple[int, int], str] | str:
    """((w, h), mode) of a fully decoded image, or why it cannot be read."""
    try:
        im = open_image(path)
    except ImageError as e:
        return str(e)
    return im.size, im.mode


def check_dataset(root: str | os.PathLike, *, holdout: int = 0) -> DataReport:
    """Open every image of every split; report format, counts, sizes and every unreadable/unmatched file."""
    root = Path(root)
    report = DataReport(root=str(root))
    try:
        report.format = detect_format(root)
    except DataError as e:
        report.error = str(e)
        return report
    sizes: Counter[str] = Counter()
    modes: Counter[str] = Counter()
    splits = ["train"] if report.format == "folder" else list(SPLITS)
    for split in splits:
        listing = list_split(root, report.format, split, holdout=holdout if split != "test" else 0)
        files: dict[str, list[Path]] = {}
        if report.format in ("aligned", "folder"):
            files["AB" if report.format == "aligned" else "images"] = [p for p, _ in listing.pairs]
        elif report.format == "paired":
            files["A"] = [p for p, _ in listing.pairs]
            files["B"] = [q for _, q in listing.pairs if q is not None]
        else:
            files["A"], files["B"] = listing.a, listing.b
        if not any(files.values()) and not listing.unmatched:
            continue
        # every image file of the split on disk, matched or not, readable or not
        on_disk = {side: len(v) for side, v in files.items()}
        for p in listing.unmatched:
            on_disk[p.parent.name] = on_disk.get(p.parent.name, 0) + 1
        report.counts[split] = on_disk
        report.unmatched += [str(p) for p in listing.unmatched]
        paths = [p for side in files.values() for p in side]
        bad: set[Path] = set()
        # Decoding releases the GIL: a few threads make a large set's check several times faster.
        with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 2) * 2)) as pool:
            for p, result in zip(paths, pool.map(_probe, paths), strict=True):
                if isinstance(result, str):
                    report.unreadable.append({"path": str(p), "reason": result})
                    bad.add(p)
                    continue
                (w, h), mode = result
                sizes[f"{w}x{h}"] += 1
                modes[mode] += 1
                if report.format == "aligned" and w < 2:
                    report.unreadable.append({"path": str(p), "reason": "too narrow to hold an A|B pair"})
                    bad.add(p)
        if report.format == "paired":  # a pair is usable when both its files are
            n = sum(1 for p, q in listing.pairs if p not in bad and q not in bad)
            report.usable_counts[split] = {side: n for side in files}
        else:
            report.usable_counts[split] = {side: sum(p not in bad for p in v) for side, v in files.items()}
    report.sizes, report.modes = dict(sizes), dict(modes)
    if not report.counts:
        report.error = f"{root}: no images found in any split"
    elif report.format == "unpaired" and not (
        report.counts.get("train", {}).get("A") and report.counts.get("train", {}).get("B")
    ):
        report.error = f"{root}: an unpaired dataset needs images in both trainA and trainB"
    return report


# ---------------------------------------------------------------- transforms


def _round_to(n: float, multiple: int) -> int:
    return max(multiple, int(n / multiple + 0.5) * multiple)


@dataclass(frozen=True)
class Aug:
    """The random choices for one item, shared by both sides: where to crop, whether to flip."""

    x: float  # crop offset as a fraction of the free room, in [0, 1)
    y: float
    flip: bool


def draw_aug(rng: np.random.Generator, opts: DataOptions) -> Aug:
    x, y = rng.random(2)
    flip = bool(opts.flip and rng.random() < 0.5)
    return Aug(float(x), float(y), flip)


def transform(im: Image.Image, opts: DataOptions, aug: Aug | None, channels: int) -> torch.Tensor:
    """PIL image -> float (channels, H, W) in [-1, 1], preprocessed as `opts` says; `aug` None = no
    randomness (centre crop, no flip), for validation and samples."""
    im = im.convert("L" if channels == 1 else "RGB")
    w, h = im.size
    p = opts.preprocess
    if p == "resize_and_crop":
        # Non-square images become square at load_size, as the reference does.
        im = im.resize((opts.load_size, opts.load_size), Image.BICUBIC)
    elif p.startswith("scale_width"):
        target = opts.load_size
        th = max(opts.crop_size if "crop" in p else 1, int(round(target * h / w)))
        im = im.resize((target, th), Image.BICUBIC)
    if "crop" in p:
        w, h = im.size
        c = opts.crop_size
        if w < c or h < c:
            im = im.resize((max(w, c), max(h, c)), Image.BICUBIC)
            w, h = im.size
        if aug is None:  # centre crop
            left, top = (w - c) // 2, (h - c) // 2
        else:
            left, top = min(int(aug.x * (w - c + 1)), w - c), min(int(aug.y * (h - c + 1)), h - c)
        im = im.crop((left, top, left + c, top + c))
    else:
        w, h = im.size
        tw, th = _round_to(w, opts.multiple), _round_to(h, opts.multiple)
        if (tw, th) != (w, h):
            im = im.resize((tw, th), Image.BICUBIC)
    if aug is not None and aug.flip:
        im = im.transpose(Image.FLIP_LEFT_RIGHT)
    a = np.asarray(im, dtype=np.float32)
    if a.ndim == 2:
        a = a[:, :, None]
    return torch.from_numpy(a.copy()).permute(2, 0, 1) / 127.5 - 1.0


def _open(path: Path) -> Image.Image:
    try:
        return open_image(path)
    except ImageError as e:
        raise DataError(f"unreadable training image: {e}") from None


def _item_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed & 0xFFFFFFFF, epoch, index])


def _key(key) -> tuple[int, int, bool]:
    """A dataset key: an index (no randomness), or (epoch, index) from EpochSampler (random aug)."""
    if isinstance(key, tuple | list):
        return int(key[0]), int(key[1]), True
    return 0, int(key), False


# ---------------------------------------------------------------- datasets


class _Base(torch.utils.data.Dataset):
    def __init__(
        self, root, split: str, opts: DataOptions, fmt: str | None = None, bad: set[str] = frozenset()
    ):
        self.root = Path(root)
        self.split = split
        self.opts = opts
        self.format = fmt or detect_format(self.root)
        self.bad = set(bad)
        self.listing = list_split(self.root, self.format, split, opts.holdout)

    def _keep(self, p: Path | None) -> bool:
        return p is None or str(p) not in self.bad


class PairedDataset(_Base):
    """Aligned (A|B in one image), paired folders, or a plain folder read as aligned pairs.
    Items: {"A": input (input_nc, H, W), "B": target, "name": stem}; A/B already follow `direction`."""

    def __init__(self, root, split: str, opts: DataOptions, fmt: str | None = None, bad=frozenset()):
        super().__init__(root, split, opts, fmt, bad)
        if self.format == "unpaired":
            raise DataError(
                f"{self.root}: an unpaired dataset (trainA/trainB) cannot train pix2pix; use cyclegan"
            )
        self.pairs = [(p, q) for p, q in self.listing.pairs if self._keep(p) and self._keep(q)]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, key) -> dict:
        epoch, index, random = _key(key)
        p, q = self.pairs[index]
        if q is None:
            ab = _open(p)
            w, h = ab.size
            a, b = ab.crop((0, 0, w // 2, h)), ab.crop((w // 2, 0, w, h))
        else:
            a, b = _open(p), _open(q)
        if self.opts.direction == "BtoA":
            a, b = b, a
        if random and self.opts.sketch_augment:
            from .lineart import sketch_augment

            # Its own seeded stream, so the crop and flip draws stay those of a run without it.
            rng = np.random.default_rng([self.opts.seed & 0xFFFFFFFF, epoch, index, 1])
            a = Image.fromarray(sketch_augment(np.asarray(a), rng))
        aug = draw_aug(_item_rng(self.opts.seed, epoch, index), self.opts) if random else None
        return {
            "A": transform(a, self.opts, aug, self.opts.input_nc),
            "B": transform(b, self.opts, aug, self.opts.output_nc),
            "name": p.stem,
        }


class UnpairedDataset(_Base):
    """trainA / trainB: item i is A[i % nA] with a random B (seeded by epoch and index), as the reference."""

    def __init__(self, root, split: str, opts: DataOptions, fmt: str | None = None, bad=frozenset()):
        super().__init__(root, split, opts, fmt, bad)
        a = [p for p in self.listing.a if self._keep(p)]
        b = [p for p in self.listing.b if self._keep(p)]
        if self.format in ("aligned", "paired", "folder"):
            raise DataError(f"{self.root}: cyclegan needs an unpaired dataset (trainA/ and trainB/)")
        if opts.direction == "BtoA":
            a, b = b, a
        self.a, self.b = a, b

    def __len__(self) -> int:
        return max(len(self.a), len(self.b)) if self.a and self.b else 0

    def __getitem__(self, key) -> dict:
        epoch, index, random = _key(key)
        rng = _item_rng(self.opts.seed, epoch, index)
        pa = self.a[index % len(self.a)]
        pb = self.b[int(rng.integers(len(self.b)))] if random else self.b[index % len(self.b)]
        aug_a = draw_aug(rng, self.opts) if random else None
        aug_b = draw_aug(rng, self.opts) if random else None  # unpaired: each side its own crop
        return {
            "A": transform(_open(pa), self.opts, aug_a, self.opts.input_nc),
            "B": transform(_open(pb), self.opts, aug_b, self.opts.output_nc),
            "name": pa.stem,
        }


class ImageFolderDataset(_Base):
    """Every image of a folder (or of a dataset's train split), for the unconditional DCGAN: {"B": image}."""

    def __init__(self, root, split: str, opts: DataOptions, fmt: str | None = None, bad=frozenset()):
        super().__init__(root, split, opts, fmt, bad)
        if self.format in ("aligned", "folder"):
            files = [p for p, _ in self.listing.pairs]
        elif self.format == "paired":
            files = [q for _, q in self.listing.pairs]
        else:
            files = self.listing.b or self.listing.a
        self.files = [p for p in files if self._keep(p)]

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, key) -> dict:
        epoch, index, random = _key(key)
        aug = draw_aug(_item_rng(self.opts.seed, epoch, index), self.opts) if random else None
        p = self.files[index]
        return {"B": transform(_open(p), self.opts, aug, self.opts.output_nc), "name": p.stem}


DATASETS = {"paired": PairedDataset, "unpaired": UnpairedDataset, "images": ImageFolderDataset}


class EpochSampler(torch.utils.data.Sampler):
    """Yields (epoch, index) keys: this rank's share of a seeded shuffle of the epoch, from `start`."""

    def __init__(
        self,
        n: int,
        *,
        epoch: int,
        seed: int,
        start: int = 0,
        shuffle: bool = True,
        rank: int = 0,
        world: int = 1,
    ):
        sampler = torch.utils.data.DistributedSampler(
            range(n), num_replicas=world, rank=rank, shuffle=shuffle, seed=seed, drop_last=False
        )
        sampler.set_epoch(epoch)
        self.epoch = epoch
        self.indices = list(sampler)[start:]

    def __iter__(self):
        return iter([(self.epoch, i) for i in self.indices])

    def __len__(self) -> int:
        return len(self.indices)


def per_rank(n: int, world: int) -> int:
    """Items each rank sees in an epoch (DistributedSampler pads to equal shares)."""
    return -(-n // world)


# ---------------------------------------------------------------- what the data says


def side_files(
    root: str | os.PathLike, direction: str = "AtoB", holdout: int = 0
) -> tuple[list[Path], list[Path], str]:
    """Sample files of the input and output sides of the train split (for guessing channels and kind)."""
    root = Path(root)
    fmt = detect_format(root)
    lst = list_split(root, fmt, "train", holdout)
    if fmt in ("aligned", "folder"):
        files = [p for p, _ in lst.pairs]
        return files, files, fmt
    if fmt == "paired":
        a, b = [p for p, _ in lst.pairs], [q for _, q in lst.pairs]
    else:
        a, b = lst.a, lst.b
    return (a, b, fmt) if direction == "AtoB" else (b, a, fmt)


def _side_arrays(files: list[Path], fmt: str, side: str, n: int = 8) -> list[np.ndarray]:
    out = []
    step = max(1, len(files) // n)
    for p in files[::step][:n]:
        try:
            im = open_image(p)
        except ImageError:
            continue
        if fmt in ("aligned", "folder"):
            w, h = im.size
            im = im.crop((0, 0, w // 2, h)) if side == "A" else im.crop((w // 2, 0, w, h))
        out.append(np.asarray(im))
    return out


def _is_gray(a: np.ndarray) -> bool:
    if a.ndim == 2:
        return True
    a = a[::4, ::4].astype(np.int16)
    return float(np.abs(a - a.mean(2, keepdims=True)).mean()) < 6


def guess_channels(root: str | os.PathLike, direction: str = "AtoB", holdout: int = 0) -> tuple[int, int]:
    """(input_nc, output_nc): 1 for a side whose files are stored single-channel (like pencil sketches,
    some saved as gray RGB), else 3."""
    inp, out, fmt = side_files(root, direction, holdout)
    first, second = ("A", "B") if direction == "AtoB" else ("B", "A")

    def nc(arrays: list[np.ndarray]) -> int:
        single = arrays and any(x.ndim == 2 for x in arrays) and all(_is_gray(x) for x in arrays)
        return 1 if single else 3

    return nc(_side_arrays(inp, fmt, first, 16)), nc(_side_arrays(out, fmt, second, 16))


def guess_input_kind(root: str | os.PathLike, direction: str = "AtoB", holdout: int = 0) -> str:
    """'labels' when the input side's colours sit on the FACADES palette, 'lineart' when it is gray, else 'image'."""
    from .palette import FACADES, colors

    inp, _, fmt = side_files(root, direction, holdout)
    side = "A" if direction == "AtoB" else "B"
    arrays = _side_arrays(inp, fmt, side)
    if not arrays:
        return "image"
    gray = on_palette = 0.0
    pal = colors(FACADES).astype(np.int32)
    for a in arrays:
        if _is_gray(a):
            gray += 1
            continue
        a = a[::4, ::4].reshape(-1, 3).astype(np.int32)
        d = ((a[:, None, :] - pal[None]) ** 2).sum(-1).min(1)
        on_palette += float((d < 3 * 24**2).mean())
    # JPEG label maps keep most pixels on the palette but smear region edges; photos are nowhere near.
    if on_palette / len(arrays) > 0.6:
        return "labels"
    if gray / len(arrays) > 0.5:
        return "lineart"
    return "image"
