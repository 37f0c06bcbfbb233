"""The inference API: load a checkpoint once, translate images of any size.

from models.inference import Translator
t = Translator("weights/facades.safetensors", device="auto")
photo = t(label_map)                  # uint8 (H, W, 3) in, uint8 (H, W, 3) out
photo = t(Image.open("labels.png"))   # a PIL image: palette, 16-bit, alpha on white, as files are read
t.translate(label_map, dropout=True, seed=7)

Inputs go through `imageio.to_pixels`: a 4-D, empty, 5-channel or out-of-range array is a one-line
ValueError. Large images run in tiles (see Translator); running out of memory is an `OutOfMemory`.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import nullcontext

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import Checkpoint, load_checkpoint, printable
from .errors import ImageError, SketchpadError
from .fast import BACKENDS, checked_runner
from .imageio import to_pixels
from .modes import FITS, set_modes, trained_bn_stats

SEED_MAX = 2**63 - 1


def preferred_modes(meta: dict) -> tuple[str, str]:
    """(bn_stats, fit) a generator's header says it runs best in (its "inference" field), else
    ("running", "pad"): the eval net at the image's own scale."""
    modes = meta.get("inference") or {}
    return modes.get("bn_stats", "running"), modes.get("fit", "pad")


def trained_modes(cfg, *, batch_size: int, preprocess: str, sizes: dict[str, int], aligned: bool) -> dict:
    """The "inference" header field for a generator trained so. Batch norm at batch size 1 normalised each
    training image by its own statistics, and the running statistics (an EMA over the last few images) are
    a poor stand-in: "image" (measured on shoes val: L1 0.098 against 0.575). Non-square images that
    resize_and_crop stretched to a square were learnt at that geometry: "resize" to the header's size and
    back (faces val: L1 0.079 against 0.107 at native scale). `sizes` is `check_dataset`'s "WxH" -> count;
    an aligned file holds A|B side by side."""
    fit = "pad"
    if preprocess == "resize_and_crop" and sizes:
        w, h = (int(n) for n in max(sizes, key=sizes.get).split("x"))
        if (w // 2 if aligned else w) != h:
            fit = "resize"
    return {"bn_stats": trained_bn_stats(cfg.norm, batch_size), "fit": fit}


class TranslatorError(SketchpadError, ValueError):
    """A Translator asked for something it cannot do (an unknown device, a seed out of range); one line."""


DEVICE_NAMES = "auto, cpu, cuda, cuda:N or mps"


def pick_device(name: str = "auto", *, strict: bool = False) -> tuple[torch.device, str]:
    """The torch device for `name` ('auto', 'cpu', 'cuda', 'cuda:1', 'mps'; 'cpu:0' and 'mps:0' too), and
    a note if we fell back. A device that is not here falls back to one that is (the app keeps working
    with a device remembered from another machine), or with `strict` is refused (a command line that asks
    for it by name). A name that is no device is always a `TranslatorError`."""
    text = (name or "auto").strip().lower()
    kind, _, index = text.partition(":")
    if kind not in ("auto", "cpu", "cuda", "mps") or (index and (kind == "auto" or not index.isdigit())):
        raise TranslatorError(f"unknown device {printable(str(name))!r}; choose {DEVICE_NAMES}")
    n = int(index) if index else None
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()

    def missing(why: str, fallback: torch.device) -> tuple[torch.device, str]:
        if strict:
            raise TranslatorError(f"device {text}: {why}")
        return fallback, f"{why}; using {'the CPU' if fallback.type == 'cpu' else fallback}"

    if kind == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu"), ""
    if kind == "cpu":
        if n:
            raise TranslatorError(f"device {text}: there is one CPU device, cpu (or cpu:0)")
        return torch.device("cpu"), ""
    if kind == "mps":
        if n:
            raise TranslatorError(f"device {text}: there is one MPS device, mps (or mps:0)")
        if mps:
            return torch.device("mps"), ""
        return missing("MPS is not available (Apple GPUs only)", torch.device("cpu"))
    if not cuda:
        return missing("CUDA is not available (no NVIDIA GPU or a CPU-only PyTorch)", torch.device("cpu"))
    count = torch.cuda.device_count()
    if n is not None and n >= count:
        return missing(
            f"there is no {text} (this machine has {count} CUDA device(s))", torch.device("cuda:0")
        )
    return torch.device("cuda" if n is None else f"cuda:{n}"), ""


def to_tensor(img: np.ndarray, channels: int) -> torch.Tensor:
    """uint8 (H, W[, C]) -> float (1, channels, H, W) in [-1, 1]."""
    a = np.asarray(img)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.shape[2] == 4:
        a = a[:, :, :3]
    if channels == 1 and a.shape[2] == 3:
        a = np.round(a[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))[:, :, None]
    elif channels == 3 and a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).permute(2, 0, 1)[None]
    return t / 127.5 - 1.0


def to_uint8(t: torch.Tensor) -> np.ndarray:
    """float (1, C, H, W) in [-1, 1] -> uint8 (H, W, 3) or (H, W), rounded."""
    a = ((t[0].float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    return a[:, :, 0] if a.shape[2] == 1 else a


def fit_to(
    x: torch.Tensor, multiple: int, fit: str, size: int | None, min_side: int = 1
) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad (reflect) or resize (H, W) up to a size the net accepts; returns the tensor and the original size."""
    h, w = x.shape[-2:]
    if fit == "resize":
        th = tw = size or multiple
        th, tw = (
            max(multiple, min_side, round(th / multiple) * multiple),
            max(multiple, min_side, round(tw / multiple) * multiple),
        )
        if (th, tw) != (h, w):
            x = F.interpolate(x, size=(th, tw), mode="bilinear", align_corners=False, antialias=True)
        return x, (h, w)
    th, tw = _padded(h, multiple, min_side), _padded(w, multiple, min_side)
    if (th, tw) != (h, w):
        ph, pw = th - h, tw - w
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), mode=mode)
    return x, (h, w)


def _padded(n: int, multiple: int, min_side: int = 1) -> int:
    return max(-(-n // multiple) * multiple, -(-min_side // multiple) * multiple)


def unfit(y: torch.Tensor, orig: tuple[int, int], fit: str) -> torch.Tensor:
    h, w = orig
    if fit == "resize":
        if y.shape[-2:] != (h, w):
            y = F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
        return y
    th, tw = y.shape[-2:]
    top, left = (th - h) // 2, (tw - w) // 2
    return y[..., top : top + h, left : left + w]


# ---------------------------------------------------------------- large images: tiles

TILE_BYTES = 512 * 2**20  # activations one tile may take; a larger image is translated in tiles
# A net that normalises by the image's own statistics (instance norm, bn_stats="image") cannot be tiled
# without changing its result (each tile would get its own statistics): it runs whole, up to this much.
WHOLE_BYTES = 1024 * 2**20
OVERLAP = 256  # pixels neighbouring tiles share (at least; a multiple of what the net accepts)


def bytes_per_pixel(cfg) -> int:
    """Peak activation bytes per input pixel of one float32 forward pass without gradients, measured on
    the CPU: a U-Net keeps every skip until its decoder, about 5 * ngf + 48; a ResNet runs its blocks at
    4 * ngf channels on a quarter of the pixels, about 14 * ngf + 48."""
    return (5 if cfg.arch == "unet" else 14) * cfg.ngf + 48


def tile_plan(cfg, budget: int = TILE_BYTES) -> tuple[int, int]:
    """(tile side, overlap) for `cfg`: the largest square tile within `budget`, on the net's grid. The
    overlap covers the part of a U-Net's field of view that the tile's border changes. Measured with the
    shipped facades models on a mosaic of val label maps, at the smallest tile: unet_128 mean |tiled -
    whole| 0.12 grey levels (max 20 on 0.03% of pixels), unet_256 0.43 (max 32 on 0.4%), all inside the
    blend, no visible seam."""
    m = cfg.multiple
    overlap = -(-max(OVERLAP, m) // m) * m
    side = int((budget / bytes_per_pixel(cfg)) ** 0.5) // m * m
    return max(side, 2 * overlap + m), overlap


def tile_starts(n: int, tile: int, overlap: int) -> list[int]:
    """Starts of tiles of `tile` covering 0..n with at least `overlap` shared; the last one ends at n."""
    if tile >= n:
        return [0]
    starts = list(range(0, n - tile, tile - overlap))
    return [*starts, n - tile]


def blend_weights(starts: list[int], tile: int) -> list[np.ndarray]:
    """Per tile, a 1-D weight over its `tile` pixels: 0 on the quarter of each overlap nearest its edge
    (what the border changed most), a linear ramp over the middle half, 1 elsewhere. Overlapping weights
    are normalised by their sum, so any overlap blends smoothly."""
    out = []
    i = np.arange(tile, dtype=np.float32) + 0.5
    for k, s in enumerate(starts):
        w = np.ones(tile, np.float32)
        if k > 0:
            ov = starts[k - 1] + tile - s
            w = np.minimum(w, np.clip((i - ov / 4) / (ov / 2), 0, 1))
        if k + 1 < len(starts):
            ov = s + tile - starts[k + 1]
            w = np.minimum(w, np.clip((tile - i - ov / 4) / (ov / 2), 0, 1))
        out.append(w)
    return out


def per_image_statistics(net: nn.Module) -> bool:
    """Whether `net`, in its current modes, normalises by each input's own statistics (instance norm
    without running statistics, or batch norm from the batch): then its tiles would not match."""
    return any(
        isinstance(m, nn.modules.batchnorm._NormBase) and (m.training or not m.track_running_stats)
        for m in net.modules()
    )


def _reflect_index(idx: np.ndarray, n: int) -> np.ndarray:
    """Indices outside 0..n-1 mirrored as F.pad(mode='reflect') does (the edge pixel not repeated)."""
    idx = np.abs(idx)
    return np.where(idx > n - 1, 2 * (n - 1) - idx, idx)


class OutOfMemory(SketchpadError, MemoryError):
    """Translating needed more memory than the device has: one line instead of an allocator's traceback."""


def _is_oom(e: BaseException) -> bool:
    if isinstance(e, MemoryError | torch.OutOfMemoryError):
        return True
    text = str(e).lower()
    return isinstance(e, RuntimeError) and any(
        k in text
        for k in ("out of memory", "not enough memory", "can't allocate memory", "cannot allocate memory")
    )


class Translator:
    """A loaded generator plus how to run it: device, batch-norm statistics, dropout, seed, size fitting.

    Images of any size up to `imageio.MAX_PIXELS`: one whose padded size fits a tile runs whole; a larger
    one runs in overlapping tiles (`tile_plan`: the side whose activations fit TILE_BYTES, 1,536 px
    for the shipped ngf-24 unet_256), blended across the overlaps, so memory is bounded by the tile and not
    by the image. Tiles align with the net's downsampling grid, so away from the overlaps a tile computes
    what the whole image would (measured: within a few grey levels, spread over the blend). A net that
    normalises by the image's own statistics (instance norm without running statistics, or
    `bn_stats="image"`) is never tiled, which would give each tile its own: it runs whole, and an image
    whose activations would pass WHOLE_BYTES is refused (about 1,000 x 1,000 for a ResNet of ngf 64).

    `bn_stats` and `fit` default to what the header's "inference" field prefers (`preferred_modes`)."""

    def __init__(
        self,
        checkpoint: str | os.PathLike | Checkpoint,
        *,
        device: str = "auto",
        bn_stats: str | None = None,
        dropout: bool = False,
        seed: int | None = None,
        fit: str | None = None,
        backend: str = "torch",
        tile: int | None = None,
    ):
        if fit is not None and fit not in FITS:
            raise ValueError(f"fit must be one of {FITS}")
        _check_seed(seed)
        # "torch": the net itself. "auto"/"onnx": models.fast runners (ONNX Runtime on the CPU, channels-last
        # reduced precision with CUDA graphs on CUDA) where the mode allows; PyTorch for dropout on.
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}")
        self.backend = backend
        self._runners: dict[str, object] = {}  # bn_stats -> runner, or None where PyTorch runs it
        self.runner_name, self.runner_note = "torch", ""  # what ran last, and why not faster
        self.device, self.device_note = pick_device(device)
        ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(checkpoint)
        self.checkpoint = ckpt
        preferred_bn, preferred_fit = preferred_modes(ckpt.meta)
        bn_stats, fit = bn_stats or preferred_bn, fit or preferred_fit
        cfg = ckpt.config
        self.tile, self.overlap = tile_plan(cfg)
        if tile is not None:
            m = cfg.multiple
            if tile % m or tile < 2 * self.overlap + m:
                raise TranslatorError(
                    f"tile {tile}: {cfg.name} needs a multiple of {m} of at least {2 * self.overlap + m}"
                )
            self.tile = tile
        # a ResNet's reflect padding needs a few pixels left after its two downsamplings
        self.min_side = cfg.multiple if cfg.arch == "unet" else max(16, cfg.multiple)
        size = ckpt.meta.get("size")
        if fit == "resize" and size and _padded(size, cfg.multiple, self.min_side) > self.tile:
            raise TranslatorError(
                f"{ckpt.name}: --fit resize would run the net at the header's size {size}, over the "
                f"{self.tile} px it can run at in {TILE_BYTES >> 20} MiB; use fit pad"
            )
        self.net = ckpt.net.to(self.device)
        self.bn_stats, self.dropout, self.seed, self.fit = bn_stats, dropout, seed, fit
        set_modes(self.net, bn_stats=bn_stats, dropout=dropout)
        self.last_ms = 0.0

    @property
    def config(self):
        return self.checkpoint.config

    @property
    def meta(self) -> dict:
        return self.checkpoint.meta

    def __call__(self, image, **kw) -> np.ndarray:
        return self.translate(image, **kw)

    @torch.no_grad()
    def translate(
        self,
        image,
        *,
        dropout: bool | None = None,
        seed: int | None = None,
        bn_stats: str | None = None,
    ) -> np.ndarray:
        """A PIL image or pixels (see `imageio.to_pixels`) -> uint8 (H, W, 3), or (H, W) for a one-channel
        model, of the same H, W. Odd input is a one-line ValueError; running out of memory an `OutOfMemory`."""
        dropout = self.dropout if dropout is None else dropout
        bn_stats = self.bn_stats if bn_stats is None else bn_stats
        seed = self.seed if seed is None else seed
        _check_seed(seed)
        set_modes(self.net, bn_stats=bn_stats, dropout=dropout)
        t0 = time.perf_counter()
        a = to_pixels(image, self.config.input_nc)
        rng = nullcontext()
        if dropout and seed is not None:
            devices = [self.device] if self.device.type == "cuda" else []
            rng = torch.random.fork_rng(devices=devices, device_type=self.device.type if devices else "cuda")
        try:
            with rng:
                if dropout and seed is not None:
                    torch.manual_seed(seed)
                out = self._run(a, bn_stats, dropout)
        except Exception as e:
            if not _is_oom(e):
                raise
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            h, w = a.shape[:2]
            raise OutOfMemory(
                f"not enough memory on {self.device} to translate a {w}x{h} image with {self.config.name} "
                f"ngf {self.config.ngf}"
            ) from None
        self.last_ms = (time.perf_counter() - t0) * 1000
        return out

    def _run(self, a: np.ndarray, bn_stats: str, dropout: bool) -> np.ndarray:
        m, h, w = self.config.multiple, a.shape[0], a.shape[1]
        area = _padded(h, m, self.min_side) * _padded(w, m, self.min_side)
        whole = area <= self.tile * self.tile
        if not whole and self.fit == "pad" and per_image_statistics(self.net):
            limit = WHOLE_BYTES // bytes_per_pixel(self.config)
            if area > limit:
                raise ImageError(
                    f"a {w}x{h} image is too large for {self.checkpoint.name}: it normalises by the whole "
                    f"image's statistics, so it cannot run in tiles; at most {limit:,} pixels (scale it down)"
                )
            whole = True
        if self.fit == "resize" or whole:
            x = to_tensor(a, self.config.input_nc).to(self.device)
            x, orig = fit_to(x, m, self.fit, self.meta.get("size"), self.min_side)
            y = self._forward(x, bn_stats, dropout)
            return to_uint8(unfit(y, orig, self.fit))
        return self._tiled(a, bn_stats, dropout)

    def _tiled(self, a: np.ndarray, bn_stats: str, dropout: bool) -> np.ndarray:
        """The image in tiles on the padded image's grid, blended. Besides the uint8 input and output, one
        strip of rows (tile rows x image width) is held in float: weighted sums, written out row by row
        once no later tile reaches them. The weights are separable, so their sum is row sum x column sum."""
        m, h, w = self.config.multiple, a.shape[0], a.shape[1]
        th, tw = _padded(h, m, self.min_side), _padded(w, m, self.min_side)
        top, left = (th - h) // 2, (tw - w) // 2  # where fit_to's padding puts the image
        ty, tx = min(self.tile, th), min(self.tile, tw)
        ys, xs = tile_starts(th, ty, self.overlap), tile_starts(tw, tx, self.overlap)
        wys, wxs = blend_weights(ys, ty), blend_weights(xs, tx)
        nc = self.config.output_nc
        out = np.empty((h, w, nc), np.uint8)
        row_sum, col_sum = np.zeros(th, np.float32), np.zeros(tw, np.float32)
        for y0, wy in zip(ys, wys, strict=True):
            row_sum[y0 : y0 + ty] += wy
        for x0, wx in zip(xs, wxs, strict=True):
            col_sum[x0 : x0 + tx] += wx
        inv_col = (1.0 / col_sum[left : left + w])[None, :, None]
        cols = [_reflect_index(np.arange(x0, x0 + tx) - left, w) for x0 in xs]
        acc = np.zeros((ty, tw, nc), np.float32)  # padded rows acc_y0 .. acc_y0 + ty: weighted sums
        acc_y0 = 0

        def emit(upto: int) -> None:  # padded rows acc_y0 .. upto are complete
            for lo in range(max(acc_y0, top), min(upto, top + h), 256):  # in bands: small temporaries
                hi = min(lo + 256, upto, top + h)
                v = acc[lo - acc_y0 : hi - acc_y0, left : left + w] * inv_col
                v /= row_sum[lo:hi, None, None]
                np.clip(v, -1, 1, out=v)
                out[lo - top : hi - top] = np.rint((v + 1) * 127.5).astype(np.uint8)

        for y0, wy in zip(ys, wys, strict=True):
            if y0 > acc_y0:  # rows above this strip are complete: write them out, slide the rest up
                emit(y0)
                shift = y0 - acc_y0
                acc[: ty - shift] = acc[shift:].copy()
                acc[ty - shift :] = 0
                acc_y0 = y0
            rows = _reflect_index(np.arange(y0, y0 + ty) - top, h)
            for x0, wx, c in zip(xs, wxs, cols, strict=True):
                x = to_tensor(a[np.ix_(rows, c)], self.config.input_nc).to(self.device)
                y = self._forward(x, bn_stats, dropout)[0].float().permute(1, 2, 0).cpu().numpy()
                acc[:, x0 : x0 + tx] += y * (wy[:, None, None] * wx[None, :, None])
        emit(acc_y0 + ty)
        return out[:, :, 0] if nc == 1 else out

    def _forward(self, x: torch.Tensor, bn_stats: str, dropout: bool) -> torch.Tensor:
        """The net's forward pass, or its fast runner's for `bn_stats` (built on first use and checked once
        against the net on that first input) where one fits. `runner_name` says what ran last; a runner
        dropped for PyTorch leaves the reason in `runner_note`."""
        if self.backend == "torch":
            return self.net(x)
        if dropout:  # seeded masks: PyTorch's job
            self.runner_name = "torch"
            return self.net(x)
        if bn_stats not in self._runners:
            with _build_lock:
                if bn_stats not in self._runners:
                    runner, first, note = checked_runner(self.net, self.device, self.backend, bn_stats, x)
                    self._runners[bn_stats] = runner
                    if note:
                        self.runner_note = note
                    if first is not None:
                        self.runner_name = runner.name if runner is not None else "torch"
                        return first.to(x.device)
        runner = self._runners[bn_stats]
        if runner is None or not runner.supports(x):
            self.runner_name = "torch"
            return self.net(x)
        self.runner_name = runner.name
        return runner(x).to(x.device)


_build_lock = threading.Lock()  # one runner built at a time, by any Translator


def _check_seed(seed) -> None:
    if seed is not None and not (isinstance(seed, int | np.integer) and 0 <= seed <= SEED_MAX):
        raise TranslatorError(f"seed {seed!r:.40}: give a whole number from 0 to 2**63-1")
