"""Line art from photos, made to look like what people draw rather than what an edge detector sees.

Models trained on detector edges fail on hand drawings (thick double edges, texture speckle, no breaks).
So the pipeline is Canny-like but tuned for drawings: blur, gradient magnitude, non-maximum suppression
(1-pixel lines), hysteresis (lines continue through weak stretches), removal of short pieces (simplify),
then rendering at a chosen pen width with optional width variation and a little hand jitter.

Two user-facing knobs: `detail` (0..1: how many lines) and `thickness` (pen width in pixels).
`sketch_augment` perturbs existing line art the same way during training.

extract_lineart(photo, LineartParams(detail=0.5, thickness=2)) -> uint8 (H, W), dark lines on white.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class LineartParams:
    detail: float = 0.5  # 0..1: 0 keeps only the strongest outlines, 1 nearly every edge
    thickness: float = 2.0  # pen width in pixels (0.5..12)
    vary: float = 0.0  # 0..1: how much the pen width wanders along the lines
    jitter: float = 0.0  # pixels of smooth hand wobble (0 = exact)
    seed: int = 0  # for vary and jitter

    def __post_init__(self) -> None:
        if not 0.0 <= self.detail <= 1.0:
            raise ValueError(f"detail must be in 0..1, not {self.detail}")
        if not 0.5 <= self.thickness <= 12.0:
            raise ValueError(f"thickness must be 0.5..12 px, not {self.thickness}")
        if not 0.0 <= self.vary <= 1.0:
            raise ValueError(f"vary must be in 0..1, not {self.vary}")
        if not 0.0 <= self.jitter <= 8.0:
            raise ValueError(f"jitter must be 0..8 px, not {self.jitter}")


# ---------------------------------------------------------------- small image operations (torch, CPU)


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))[None, None]  # (1, 1, H, W)


def _gaussian(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with reflect padding."""
    if sigma <= 0:
        return x
    r = max(1, int(math.ceil(3 * sigma)))
    r = min(r, x.shape[-1] - 1, x.shape[-2] - 1) or 1
    k = torch.exp(-((torch.arange(-r, r + 1, dtype=torch.float32) / sigma) ** 2) / 2)
    k = k / k.sum()
    mode = "reflect" if min(x.shape[-2:]) > r else "replicate"
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode=mode), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, r, r), mode=mode), k.view(1, 1, -1, 1))


def _dilate(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Grey dilation by a disk of `radius` pixels (max over the disk)."""
    if radius <= 0:
        return x
    out = x
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            if dy * dy + dx * dx <= radius * radius + radius * 0.5 and (dy or dx):
                out = torch.maximum(out, _shift(x, dy, dx))
    return out


def _erode(x: torch.Tensor, radius: int) -> torch.Tensor:
    return -_dilate(-x, radius)


def _shift(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """x moved by (dy, dx) with edge replication, same size."""
    h, w = x.shape[-2:]
    p = F.pad(x, (abs(dx), abs(dx), abs(dy), abs(dy)), mode="replicate")
    return p[..., abs(dy) - dy : abs(dy) - dy + h, abs(dx) - dx : abs(dx) - dx + w]


def components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """8-connected components of a bool (H, W) mask: labels (0 = background, 1.. = parts) and the
    pixel count of each label (index 0 is the background count)."""
    mask = np.asarray(mask, bool)
    h, w = mask.shape
    # Union-find over horizontal runs: line art has few runs (thousands), so a Python loop over runs is
    # fast where a per-pixel one is not, and needs no SciPy.
    pad = np.zeros((h, w + 2), np.int8)
    pad[:, 1:-1] = mask
    d = np.diff(pad, axis=1)
    rows_s, cols_s = np.nonzero(d == 1)  # run starts (inclusive), row-major order
    _, cols_e = np.nonzero(d == -1)  # run ends (exclusive), in the same order
    n = len(rows_s)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    row_first = np.searchsorted(rows_s, np.arange(h + 1)).tolist()
    cs, ce = cols_s.tolist(), cols_e.tolist()
    for y in range(1, h):
        a0, a1, b1 = row_first[y - 1], row_first[y], row_first[y + 1]
        i = a0
        for j in range(a1, b1):
            s, e = cs[j], ce[j]
            while i < a1 and ce[i] < s:  # that run above ends left of this one, diagonal too far
                i += 1
            k = i
            while k < a1 and cs[k] <= e:  # touches (8-connected: diagonals count)
                ri, rj = find(k), find(j)
                if ri != rj:
                    parent[max(ri, rj)] = min(ri, rj)
                k += 1
    roots = np.array([find(i) for i in range(n)], np.int64)
    uniq, run_label = np.unique(roots, return_inverse=True)
    labels = np.zeros((h, w), np.int64)
    for j in range(n):
        labels[rows_s[j], cs[j] : ce[j]] = run_label[j] + 1
    sizes = np.bincount(labels.ravel(), minlength=len(uniq) + 1)
    return labels, sizes


def hysteresis(strong: np.ndarray, weak: np.ndarray) -> np.ndarray:
    """The 8-connected parts of `weak | strong` that hold at least one `strong` pixel."""
    labels, sizes = components(weak | strong)
    keep = np.zeros(len(sizes), bool)
    keep[np.unique(labels[strong])] = True
    keep[0] = False
    return keep[labels]


def remove_small(mask: np.ndarray, min_size: int) -> np.ndarray:
    """The mask without its 8-connected parts of fewer than `min_size` pixels."""
    if min_size <= 1 or not np.any(mask):
        return np.asarray(mask, bool)
    labels, sizes = components(mask)
    keep = sizes >= min_size
    keep[0] = False
    return keep[labels]


# ---------------------------------------------------------------- extraction


def to_gray(photo: np.ndarray) -> np.ndarray:
    """uint8 (H, W[, C]) -> float32 (H, W) in 0..1 (BT.601 luma)."""
    a = np.asarray(photo)
    if a.ndim == 3:
        a = a[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return a.astype(np.float32) / 255.0


def edge_skeleton(photo: np.ndarray, detail: float = 0.5) -> np.ndarray:
    """Thin (1-pixel), simplified edge lines of a photo as a bool (H, W) mask.

    `detail` 0 keeps the strongest, longest outlines only; 1 keeps fine texture lines too."""
    g = _t(to_gray(photo))
    h, w = g.shape[-2:]
    scale = max(h, w) / 256.0  # the knobs are tuned at 256 px and scale with the picture
    sigma = (2.6 - 1.8 * detail) * max(scale, 0.5)
    g = _gaussian(g, sigma)
    # Sobel gradient (central differences smoothed across); magnitudes in intensity per pixel.
    gx = (_shift(g, 0, -1) - _shift(g, 0, 1)) * 2 + (_shift(g, -1, -1) - _shift(g, -1, 1))
    gx = gx + (_shift(g, 1, -1) - _shift(g, 1, 1))
    gy = (_shift(g, -1, 0) - _shift(g, 1, 0)) * 2 + (_shift(g, -1, -1) - _shift(g, 1, -1))
    gy = gy + (_shift(g, -1, 1) - _shift(g, 1, 1))
    mag = torch.sqrt(gx * gx + gy * gy) / 8.0
    # Non-maximum suppression across the gradient direction, in four direction bins.
    ang = torch.remainder(torch.atan2(gy, gx) * 180 / math.pi, 180.0)
    keep = torch.zeros_like(mag, dtype=torch.bool)
    for lo, hi, (dy, dx) in ((0, 22.5, (0, 1)), (157.5, 180.1, (0, 1)), (22.5, 67.5, (1, 1))):
        sel = (ang >= lo) & (ang < hi)
        keep |= sel & (mag >= _shift(mag, dy, dx)) & (mag >= _shift(mag, -dy, -dx))
    sel = (ang >= 67.5) & (ang < 112.5)
    keep |= sel & (mag >= _shift(mag, 1, 0)) & (mag >= _shift(mag, -1, 0))
    sel = (ang >= 112.5) & (ang < 157.5)
    keep |= sel & (mag >= _shift(mag, 1, -1)) & (mag >= _shift(mag, -1, 1))
    thin = torch.where(keep, mag, torch.zeros_like(mag))
    cand = thin[thin > 0.004]  # below this the image is flat: 1 grey level per pixel
    if cand.numel() < 8:
        return np.zeros((h, w), bool)
    # Hysteresis: strong lines seed, weak ones continue them. More detail = lower thresholds.
    high = float(torch.quantile(cand[:: max(1, cand.numel() // 200_000)], 0.93 - 0.5 * detail))
    high = max(high, 0.012)
    low = 0.45 * high
    t = thin[0, 0].numpy()
    lines = hysteresis(t >= high, t >= low)
    # Simplify: drop short pieces (texture speckle); fewer survive at low detail.
    min_len = int(round((40 - 36 * detail) * max(scale, 0.5)))
    return remove_small(lines, max(min_len, 2))


def render_lines(
    skeleton: np.ndarray, thickness: float = 2.0, *, vary: float = 0.0, jitter: float = 0.0, seed: int = 0
) -> np.ndarray:
    """Draw a bool line mask with a round pen `thickness` px wide: uint8 (H, W), 0 = ink, 255 = paper.

    `vary` lets the width wander smoothly along the lines (pressure); `jitter` moves them by a smooth
    random field of about that many pixels (a hand is not a ruler)."""
    rng = np.random.default_rng(seed)
    sk = _t(skeleton.astype(np.float32))
    h, w = skeleton.shape
    if jitter > 0:
        sk = (_elastic(sk, jitter, rng) * 1.6).clamp(0, 1)  # resampling greys a 1 px line; restore its ink
    # A round pen: the line dilated by each whole radius up to the pen's, each ring weighted by how much
    # of it the (possibly varying) radius covers, so fractional widths come out anti-aliased.
    radius = (thickness - 1.0) / 2.0
    r_map = torch.full_like(sk, radius)
    if vary > 0:
        r_map = (radius + 0.5) * (1 + vary * 0.8 * _smooth_noise(h, w, rng, cell=24)) - 0.5
    ink = sk.clone()
    for r in range(1, int(math.ceil(float(r_map.max()))) + 1):
        ink = torch.maximum(ink, _dilate(sk, r) * (r_map - r + 1).clamp(0, 1))
    if thickness < 1.0:
        ink = ink * thickness
    return np.round(255.0 * (1.0 - ink[0, 0].clamp(0, 1).numpy())).astype(np.uint8)


def extract_lineart(photo: np.ndarray, params: LineartParams | None = None, **kw) -> np.ndarray:
    """Line art of a photo as uint8 (H, W), dark lines on white paper, the photo's size."""
    p = params or LineartParams(**kw)
    sk = edge_skeleton(photo, p.detail)
    return render_lines(sk, p.thickness, vary=p.vary, jitter=p.jitter, seed=p.seed)


# ---------------------------------------------------------------- augmentation


def _smooth_noise(h: int, w: int, rng: np.random.Generator, cell: int = 32) -> torch.Tensor:
    """A smooth random field in about -1..1, (1, 1, H, W): coarse noise upsampled bicubically."""
    gh, gw = max(2, h // cell + 2), max(2, w // cell + 2)
    coarse = torch.from_numpy(rng.uniform(-1, 1, (1, 1, gh, gw)).astype(np.float32))
    return F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=True).clamp(-1, 1)


def _elastic(x: torch.Tensor, amount: float, rng: np.random.Generator) -> torch.Tensor:
    """Move x (1, C, H, W) by a smooth displacement of up to about `amount` pixels."""
    h, w = x.shape[-2:]
    dx = _smooth_noise(h, w, rng) * amount
    dy = _smooth_noise(h, w, rng) * amount
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij"
    )
    gx = (xs + dx[0, 0]) / max(w - 1, 1) * 2 - 1
    gy = (ys + dy[0, 0]) / max(h - 1, 1) * 2 - 1
    grid = torch.stack([gx, gy], -1)[None]
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)


def sketch_augment(lineart: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A randomly perturbed copy of line art (dark on light), as a hand might have drawn it instead:
    lines thinned or thickened by a pixel, some short segments dropped, a small elastic wobble.

    Takes and returns uint8 (H, W) or (H, W, C) of the same shape; lines stay dark on light."""
    a = np.asarray(lineart)
    if a.dtype != np.uint8:
        raise ValueError("sketch_augment expects uint8 line art")
    gray = a if a.ndim == 2 else a[..., :3].mean(axis=2)
    ink = _t(1.0 - gray.astype(np.float32) / 255.0)
    # Thin or thicken. Thinning keeps 1-2 px lines whole (an erosion alone would erase them).
    r = rng.random()
    if r < 0.3:
        ink = _dilate(ink, 1)
    elif r < 0.6:
        eroded = _erode(ink, 1)
        lone = (ink > 0.5) & (_dilate(eroded, 1) <= 0.5)
        ink = torch.where(lone, ink, eroded)
    # Drop some short segments: a hand leaves gaps and skips details.
    mask = (ink[0, 0] > 0.3).numpy()
    if mask.any() and rng.random() < 0.7:
        labels, sizes = components(mask)
        parts = np.arange(1, len(sizes))
        # Short = well under the longest line; never more than a quarter of the ink goes.
        short = parts[sizes[1:] < 0.25 * sizes[1:].max()]
        drop = short[rng.random(len(short)) < 0.35]
        drop = drop[np.cumsum(sizes[drop]) <= 0.25 * mask.sum()]
        if len(drop):
            gone = _t(np.isin(labels, drop).astype(np.float32))
            keep = _t((mask & ~np.isin(labels, drop)).astype(np.float32))
            # Take the anti-aliased fringe of a dropped part too, but never a kept line's pixels.
            fringe = (_dilate(gone, 1) > 0) & (_dilate(keep, 1) == 0)
            ink = torch.where(fringe, torch.zeros_like(ink), ink)
    if rng.random() < 0.8:
        # Resampling greys thin lines; a gain restores their ink.
        ink = (_elastic(ink, float(rng.uniform(0.5, 1.5)), rng) * 1.4).clamp(0, 1)
    out = np.round(255.0 * (1.0 - ink[0, 0].clamp(0, 1).numpy())).astype(np.uint8)
    if a.ndim == 3:
        out = np.repeat(out[..., None], a.shape[2], axis=2)
    return out
