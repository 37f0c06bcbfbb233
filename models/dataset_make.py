"""Making paired datasets for pix2pix from what a user has: a folder of photos (line art made from each),
or one tracing drawn over a photo. The layout written is the one `models.data` reads as ``paired``:
DIR/train/A/<name>.png (the drawing) and DIR/train/B/<name>.png (the photo), the same name on both sides.

make_lineart_dataset("photos/", "my-set/", LineartParams(detail=0.4, thickness=2))
add_pair("my-set/", tracing, photo, name="cat 1")   -> (A path, B path)
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import DataError, ImageError
from .imageio import IMAGE_SUFFIXES, load_image, save_png
from .lineart import LineartParams, extract_lineart

MAX_SIDE = 512  # photos are scaled down to this: line art at 4000 px is slow and no net trains on it
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def sanitize_name(name: str, fallback: str = "pair") -> str:
    """A file stem safe on every OS: ASCII letters, digits, '-', '_' and '.', at most 80 characters."""
    name = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode("ascii")
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")[:80].rstrip("._-")
    if not name or name.lower().split(".")[0] in _RESERVED:
        name = f"{fallback}_{name}" if name else fallback
    return name


def _unique_stem(stem: str, *folders: Path) -> str:
    """`stem`, or `stem_2`, `stem_3`... so no file of that stem exists in any of the folders."""

    def taken(s: str) -> bool:
        return any(any(f.glob(f"{glob_escape(s)}.*")) for f in folders if f.is_dir())

    out, n = stem, 2
    while taken(out):
        out, n = f"{stem}_{n}", n + 1
    return out


def glob_escape(s: str) -> str:
    return re.sub(r"([*?\[\]])", r"[\1]", s)


def fit_photo(photo: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """The photo scaled down (never up) so its longer side is at most `max_side`; uint8 (H, W, 3)."""
    h, w = photo.shape[:2]
    s = max_side / max(h, w)
    if s >= 1:
        return photo
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return np.asarray(Image.fromarray(photo).resize(size, Image.LANCZOS))


@dataclass
class MakeReport:
    """What `make_lineart_dataset` did: pairs written and every photo it could not use, with the reason."""

    out: str
    made: list[str] = field(default_factory=list)  # stems written
    failed: list[dict[str, str]] = field(default_factory=list)  # {"path", "reason"}
    cancelled: bool = False

    def text(self) -> str:
        lines = [f"{self.out}: {len(self.made)} pairs made" + (" (cancelled)" if self.cancelled else "")]
        lines += [f"  skipped {f['path']}: {f['reason']}" for f in self.failed]
        return "\n".join(lines)


def photo_files(folder: str | os.PathLike) -> list[Path]:
    """Image files directly in `folder`, sorted by name, hidden files left out."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder")
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    )


def make_lineart_dataset(
    photos: str | os.PathLike,
    out: str | os.PathLike,
    params: LineartParams | None = None,
    *,
    max_side: int = MAX_SIDE,
    split: str = "train",
    progress: Callable[[int, int, str], bool | None] | None = None,
) -> MakeReport:
    """Write a (line art, photo) pair into `out`/`split`/A and B for every photo in `photos`.

    Unreadable photos are listed in the report, never silently dropped. `progress(done, total, name)` is
    called after each photo; returning False stops early (what is written stays, a valid dataset)."""
    params = params or LineartParams()
    files = photo_files(photos)
    if not files:
        raise DataError(f"{photos}: no photos in this folder ({', '.join(IMAGE_SUFFIXES)})")
    out = Path(out)
    if out.resolve() == Path(photos).resolve():
        raise DataError(f"{out}: choose a new folder for the dataset, not the photo folder itself")
    a_dir, b_dir = out / split / "A", out / split / "B"
    a_dir.mkdir(parents=True, exist_ok=True)
    b_dir.mkdir(parents=True, exist_ok=True)
    report = MakeReport(out=str(out))
    for i, path in enumerate(files):
        try:
            photo = fit_photo(load_image(path, 3), max_side)
            lineart = extract_lineart(photo, params)
            stem = _unique_stem(sanitize_name(path.stem, "photo"), a_dir, b_dir)
            save_png(b_dir / f"{stem}.png", photo)
            save_png(a_dir / f"{stem}.png", lineart)
            report.made.append(stem)
        except ImageError as e:
            report.failed.append({"path": str(path), "reason": str(e)})
        except OSError as e:  # a full disk or a read-only folder: the rest would fail the same way
            raise DataError(f"{out}: cannot write the dataset ({e.strerror or e})") from None
        if progress is not None and progress(i + 1, len(files), path.name) is False:
            report.cancelled = True
            break
    return report


def add_pair(
    dataset: str | os.PathLike,
    drawing: np.ndarray,
    photo: np.ndarray,
    *,
    name: str = "tracing",
    split: str = "train",
) -> tuple[Path, Path]:
    """Save one (drawing, photo) pair into `dataset`/`split`/A and B under a fresh sanitised name.

    The photo is resized to the drawing's size when they differ, since the pair must be pixel-aligned.
    Returns the two paths written."""
    drawing, photo = np.asarray(drawing), np.asarray(photo)
    if drawing.dtype != np.uint8 or photo.dtype != np.uint8:
        raise ValueError("add_pair expects uint8 images")
    if drawing.ndim not in (2, 3) or photo.ndim not in (2, 3) or min(drawing.shape[:2]) < 1:
        raise DataError("a pair needs two images")
    if photo.shape[:2] != drawing.shape[:2]:
        h, w = drawing.shape[:2]
        photo = np.asarray(Image.fromarray(photo).resize((w, h), Image.LANCZOS))
    root = Path(dataset)
    a_dir, b_dir = root / split / "A", root / split / "B"
    try:
        a_dir.mkdir(parents=True, exist_ok=True)
        b_dir.mkdir(parents=True, exist_ok=True)
        stem = _unique_stem(sanitize_name(name, "tracing"), a_dir, b_dir)
        # The photo first: a pair with only an A side would be "unmatched" to the dataset check.
        pb = save_png(b_dir / f"{stem}.png", photo)
        pa = save_png(a_dir / f"{stem}.png", drawing)
    except OSError as e:
        raise DataError(f"{root}: cannot save the pair there ({e.strerror or e})") from None
    return pa, pb
