"""Evaluating a generator on a split: L1, PSNR and SSIM against the real images, and for label-map models the
FCN-score of the pix2pix paper (a segmenter run on the generated photos and on the real ones, scored
against the input labels; "fcn_ratio" is generated over real pixel accuracy). Optionally the trivial
baselines: the mean training photo as every output (with a segmenter, its FCN-score too: the judge's floor)
and, for label maps, the majority class answered everywhere ("baseline_majority_class"). "grid" and
"grid_real" measure a checkerboard locked to the pixel grid in the outputs and the real photos (it shows
where the net runs at the image's own pixels, fit "pad"; a resize back smears it).

    from models.evaluate import evaluate
    evaluate("weights/facades.safetensors", "../shared/data/facades", "val",
             segmenter="weights/facades-seg.safetensors", baseline=True)

Direction, input channels, input kind and palette come from the checkpoint's header, and so do the modes
it runs in (its "inference" field: batch-norm statistics and fit; the result's "bn_stats" and "fit" say
which ran). Images are scored at their own size (the translator pads to what the net accepts and crops
back, or resizes to the header's size and back). FID needs Inception weights,
which cannot be downloaded here, so `fid` is None with the reason in `fid_note`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .checkpoint import Checkpoint, load_checkpoint
from .data import DataOptions, PairedDataset, detect_format, list_split
from .errors import DataError
from .inference import Translator
from .metrics import confusion, grid, l1, psnr, segmentation_scores, ssim
from .palette import label_indices

DEFAULT_HOLDOUT = 15  # the val pairs cut from train for sets without a val folder (faces, shoes)
PSNR_CAP = 100.0  # identical images give inf; JSON has no inf
FID_NOTE = (
    "not computed: FID needs Inception-v3 weights, which cannot be downloaded here and have no offline "
    "source in this project"
)


def _uint8(t) -> np.ndarray:
    """float (C, H, W) in [-1, 1] -> uint8 (H, W, C), or (H, W) for one channel."""
    a = ((t.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    return a[:, :, 0] if a.shape[2] == 1 else a


def resolve_holdout(data_dir: Path, split: str, holdout: int | None, meta: dict | None = None) -> int:
    """How many train pairs stand in for `split`: none when the folder has that split; otherwise the
    explicit value, the checkpoint's training value, or DEFAULT_HOLDOUT for 'val'."""
    fmt = detect_format(data_dir)
    if list_split(data_dir, fmt, split).pairs:
        return 0
    if holdout is not None:
        return holdout
    training = (meta or {}).get("training") or {}
    if isinstance(training.get("holdout"), int) and training["holdout"] > 0:
        return training["holdout"]
    return DEFAULT_HOLDOUT if split == "val" else 0


def load_split(
    data_dir: str | os.PathLike,
    split: str,
    *,
    direction: str = "AtoB",
    input_nc: int = 3,
    holdout: int | None = None,
    limit: int | None = None,
    meta: dict | None = None,
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, input uint8, target uint8 (H, W, 3)) for each pair of `split`, at the images' own size."""
    data_dir = Path(data_dir)
    n_hold = resolve_holdout(data_dir, split, holdout, meta)
    opts = DataOptions(
        direction=direction,
        preprocess="none",
        flip=False,
        input_nc=input_nc,
        output_nc=3,
        multiple=1,
        holdout=n_hold,
    )
    ds = PairedDataset(data_dir, split, opts)
    if len(ds) == 0:
        raise DataError(f"{data_dir}: no pairs in the {split!r} split")
    n = len(ds) if not limit or limit <= 0 else min(limit, len(ds))
    out = []
    for i in range(n):
        item = ds[i]
        out.append((item["name"], _uint8(item["A"]), _uint8(item["B"])))
    return out


def mean_photo(
    data_dir: str | os.PathLike,
    *,
    direction: str = "AtoB",
    holdout: int = 0,
    size: tuple[int, int] | None = None,
) -> np.ndarray:
    """The mean of the training targets (train minus `holdout` held-out pairs), uint8 (H, W, 3); resized to
    `size` (W, H) if given."""
    opts = DataOptions(direction=direction, preprocess="none", flip=False, multiple=1, holdout=holdout)
    ds = PairedDataset(Path(data_dir), "train", opts)
    if len(ds) == 0:
        raise DataError(f"{data_dir}: no training pairs for the mean photo")
    pairs = [(None, None, _uint8(ds[i]["B"])) for i in range(len(ds))]
    h, w = pairs[0][2].shape[:2]
    acc = np.zeros((h, w, 3), np.float64)
    for _, _, target in pairs:
        if target.shape[:2] != (h, w):
            target = np.asarray(Image.fromarray(target).resize((w, h), Image.BICUBIC))
        acc += target
    mean = np.clip(acc / len(pairs) + 0.5, 0, 255).astype(np.uint8)
    if size is not None and size != (w, h):
        mean = np.asarray(Image.fromarray(mean).resize(size, Image.BICUBIC))
    return mean


def _image_scores(outputs: list[np.ndarray], targets: list[np.ndarray]) -> dict[str, float]:
    n = len(outputs)
    return {
        "l1": sum(l1(o, t) for o, t in zip(outputs, targets, strict=True)) / n,
        "psnr": sum(min(psnr(o, t), PSNR_CAP) for o, t in zip(outputs, targets, strict=True)) / n,
        "ssim": sum(ssim(o, t) for o, t in zip(outputs, targets, strict=True)) / n,
    }


def majority_class(label_maps: list[np.ndarray], palette) -> dict[str, Any]:
    """The class that covers most pixels of `label_maps` and its share: the pixel accuracy of a segmenter
    that answers it everywhere."""
    counts = np.zeros(len(palette), np.int64)
    for labels in label_maps:
        counts += np.bincount(label_indices(labels, palette).ravel(), minlength=len(palette))
    top = int(counts.argmax())
    return {"class": palette[top][0], "pixel_acc": float(counts[top] / max(int(counts.sum()), 1))}


def fcn_scores(
    segmenter, photos: list[np.ndarray], label_maps: list[np.ndarray], palette
) -> dict[str, float]:
    """Segment each photo and score it against the classes of its label map (confusion summed over the set)."""
    k = len(palette)
    hist = np.zeros((k, k), np.int64)
    for photo, labels in zip(photos, label_maps, strict=True):
        truth = label_indices(labels, palette)
        pred = segmenter.predict(photo)
        hist += confusion(np.clip(pred, 0, k - 1), truth, k)
    return segmentation_scores(hist)


def evaluate(
    checkpoint: str | os.PathLike | Checkpoint,
    data_dir: str | os.PathLike,
    split: str = "val",
    *,
    limit: int | None = None,
    holdout: int | None = None,
    segmenter: str | os.PathLike | None = None,
    baseline: bool = False,
    device: str = "cpu",
    bn_stats: str | None = None,
    fit: str | None = None,
) -> dict[str, Any]:
    """Metrics of `checkpoint` on `data_dir`/`split` (see the module docstring for the keys); `bn_stats`
    and `fit` override the header's preferred modes."""
    ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(checkpoint)
    meta = ckpt.meta
    direction = meta.get("direction", "AtoB")
    kind = ckpt.input_kind
    pairs = load_split(
        data_dir,
        split,
        direction=direction,
        input_nc=ckpt.config.input_nc,
        holdout=holdout,
        limit=limit,
        meta=meta,
    )
    tr = Translator(ckpt, device=device, bn_stats=bn_stats, fit=fit, dropout=False)
    outputs = []
    for _, inp, _target in pairs:
        out = tr(inp)
        if out.ndim == 2:
            out = np.repeat(out[:, :, None], 3, axis=2)
        outputs.append(out)
    targets = [t for _, _, t in pairs]
    result: dict[str, Any] = {
        "checkpoint": str(ckpt.path) if ckpt.path else ckpt.name,
        "name": ckpt.name,
        "data": str(data_dir),
        "split": split,
        "holdout": resolve_holdout(Path(data_dir), split, holdout, meta),
        "n": len(pairs),
        "direction": direction,
        "input_kind": kind,
        "bn_stats": tr.bn_stats,
        "fit": tr.fit,
        **_image_scores(outputs, targets),
        # the checkerboard of stride-2 upsampling, period 2, against the real photos' (see metrics.grid)
        "grid": float(np.mean([grid(o) for o in outputs])),
        "grid_real": float(np.mean([grid(t) for t in targets])),
        "fid": None,
        "fid_note": FID_NOTE,
    }
    inputs = [inp for _, inp, _ in pairs]
    keys = ("fcn_pixel_acc", "fcn_class_acc", "fcn_miou")
    seg = None  # the FCN-score judge, loaded for label-map models with a palette
    if kind == "labels":
        palette = ckpt.palette
        if segmenter is None or not palette:
            for k in keys:
                result[k] = result[k + "_real"] = None
            result["fcn_note"] = "no segmenter given" if palette else "the checkpoint has no palette"
        else:
            from .segmenter import load_segmenter

            seg = load_segmenter(segmenter)
            fake = fcn_scores(seg, outputs, inputs, palette)
            real = fcn_scores(seg, targets, inputs, palette)
            for short, k in zip(("pixel_acc", "class_acc", "miou"), keys, strict=True):
                result[k] = fake[short]
                result[k + "_real"] = real[short]
            result["fcn_ratio"] = fake["pixel_acc"] / real["pixel_acc"] if real["pixel_acc"] else None
            result["segmenter"] = Path(segmenter).name
    if baseline:
        h, w = targets[0].shape[:2]
        hold = resolve_holdout(Path(data_dir), "val", holdout, meta) if split == "val" else 0
        mean = mean_photo(data_dir, direction=direction, holdout=hold, size=(w, h))
        means = [
            mean
            if t.shape == mean.shape
            else np.asarray(Image.fromarray(mean).resize((t.shape[1], t.shape[0]), Image.BICUBIC))
            for t in targets
        ]
        result["baseline_mean_photo"] = _image_scores(means, targets)
        if kind == "labels" and ckpt.palette:
            result["baseline_majority_class"] = majority_class(inputs, ckpt.palette)
            if seg is not None:  # the judge's floor: what it gives a photo that says nothing
                mean_fcn = fcn_scores(seg, means, inputs, ckpt.palette)
                for short, k in zip(("pixel_acc", "class_acc", "miou"), keys, strict=True):
                    result["baseline_mean_photo"][k] = mean_fcn[short]
    for k, v in list(result.items()):
        if isinstance(v, float) and not math.isfinite(v):
            result[k] = None
    return result


def val_strip(
    checkpoints: list[str | os.PathLike],
    data_dir: str | os.PathLike,
    out: str | os.PathLike,
    *,
    split: str = "val",
    n: int = 4,
    tile: int = 128,
    holdout: int | None = None,
) -> Path:
    """A PNG with one row per val example: input | each checkpoint's output (in its preferred modes) |
    target, tiles of `tile` px."""
    from .imageio import save_png

    ckpts = [load_checkpoint(c) for c in checkpoints]
    first = ckpts[0]
    pairs = load_split(
        data_dir,
        split,
        direction=first.meta.get("direction", "AtoB"),
        input_nc=3,
        holdout=holdout,
        limit=n,
        meta=first.meta,
    )
    translators = [Translator(c, device="cpu") for c in ckpts]

    def fit(a: np.ndarray) -> np.ndarray:
        if a.ndim == 2:
            a = np.repeat(a[:, :, None], 3, axis=2)
        h, w = a.shape[:2]
        s = tile / max(h, w)
        im = Image.fromarray(a).resize((max(1, round(w * s)), max(1, round(h * s))), Image.BICUBIC)
        canvas = Image.new("RGB", (tile, tile), (255, 255, 255))
        canvas.paste(im, ((tile - im.width) // 2, (tile - im.height) // 2))
        return np.asarray(canvas)

    rows = []
    for _, inp, target in pairs:
        tiles = [fit(inp)] + [fit(t(inp)) for t in translators] + [fit(target)]
        rows.append(np.concatenate(tiles, axis=1))
    grid = np.concatenate(rows, axis=0)
    return save_png(out, grid)
