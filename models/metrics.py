"""Image quality metrics on pixels in [0, 1]: L1, PSNR, SSIM, a checkerboard measure (`grid`), and the
FCN-score's segmentation accuracies.

SSIM follows Wang et al. 2004 as scikit-image computes it with `gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=1`: an 11x11 Gaussian window (sigma 1.5, truncated at 3.5 sigma),
K1 = 0.01, K2 = 0.03, the mean of the SSIM map over the pixels whose window lies inside the image (what
skimage's crop of (win - 1) / 2 border pixels leaves), and for colour images the mean over channels.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

SSIM_SIGMA = 1.5
SSIM_TRUNCATE = 3.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def as_unit(img) -> np.ndarray:
    """uint8 -> float64 in [0, 1]; float arrays are taken as already in [0, 1]."""
    a = np.asarray(img)
    if a.dtype == np.uint8:
        return a.astype(np.float64) / 255.0
    return a.astype(np.float64)


def _check(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")


def l1(a, b) -> float:
    """Mean absolute difference of two images in [0, 1] (uint8 is scaled by 1/255)."""
    a, b = as_unit(a), as_unit(b)
    _check(a, b)
    return float(np.abs(a - b).mean())


def psnr(a, b, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB; inf for identical images."""
    a, b = as_unit(a), as_unit(b)
    _check(a, b)
    mse = float(((a - b) ** 2).mean())
    if mse == 0:
        return math.inf
    return 10.0 * math.log10(data_range**2 / mse)


def gaussian_window(sigma: float = SSIM_SIGMA, truncate: float = SSIM_TRUNCATE) -> np.ndarray:
    """The normalised 1-D Gaussian scipy.ndimage uses: radius int(truncate * sigma + 0.5) (5 -> 11 taps)."""
    radius = int(truncate * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-0.5 * (x / sigma) ** 2)
    return w / w.sum()


def ssim(a, b, data_range: float = 1.0) -> float:
    """Mean SSIM of two (H, W) or (H, W, C) images in [0, 1]; colour: the mean over channels."""
    a, b = as_unit(a), as_unit(b)
    _check(a, b)
    if a.ndim == 2:
        a, b = a[:, :, None], b[:, :, None]
    w = gaussian_window()
    k = len(w)
    if a.shape[0] < k or a.shape[1] < k:
        raise ValueError(f"SSIM needs images of at least {k}x{k} pixels")
    x = torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[:, None]  # (C, 1, H, W) float64
    y = torch.from_numpy(np.ascontiguousarray(b.transpose(2, 0, 1)))[:, None]
    wt = torch.from_numpy(w)
    kh, kw = wt.view(1, 1, k, 1), wt.view(1, 1, 1, k)

    def blur(t: torch.Tensor) -> torch.Tensor:  # 'valid': only windows fully inside the image
        return F.conv2d(F.conv2d(t, kh), kw)

    ux, uy = blur(x), blur(y)
    uxx, uyy, uxy = blur(x * x), blur(y * y), blur(x * y)
    vx, vy, vxy = uxx - ux * ux, uyy - uy * uy, uxy - ux * uy
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return float(s.mean(dim=(1, 2, 3)).mean())


# ---------------------------------------------------------------- segmentation (FCN-score)


def grid(img, period: int = 2) -> float:
    """How strong a pattern repeating every `period` pixels is, locked to the pixel grid: the RMS (on the
    [0, 1] scale) of the image's mean `period` x `period` tile (all tiles from the top-left corner
    averaged, gray, its own mean removed). Stride-2 upsampling draws such a checkerboard; in a photo the
    tiles' content averages out (edges2shoes val: 0.00005 at period 2)."""
    a = as_unit(img)
    g = a.mean(axis=2) if a.ndim == 3 else a
    h, w = g.shape[0] // period * period, g.shape[1] // period * period
    if h == 0 or w == 0:
        raise ValueError(f"an image of {g.shape[1]}x{g.shape[0]} px has no {period}x{period} tile")
    tile = g[:h, :w].reshape(h // period, period, w // period, period).mean(axis=(0, 2))
    return float(np.sqrt(((tile - tile.mean()) ** 2).mean()))


def confusion(pred: np.ndarray, truth: np.ndarray, n_classes: int) -> np.ndarray:
    """(n, n) int64 counts: row = true class, column = predicted class."""
    pred, truth = np.asarray(pred).ravel(), np.asarray(truth).ravel()
    if pred.shape != truth.shape:
        raise ValueError("prediction and truth differ in size")
    ok = (truth >= 0) & (truth < n_classes)
    return np.bincount(n_classes * truth[ok] + pred[ok], minlength=n_classes**2).reshape(n_classes, n_classes)


def segmentation_scores(hist: np.ndarray) -> dict[str, float]:
    """Per-pixel accuracy, mean per-class accuracy and mean IoU from a confusion matrix summed over a set,
    as the pix2pix / Cityscapes FCN-score code computes them (class accuracy skips classes absent from the truth; IoU skips classes absent from both)."""
    hist = np.asarray(hist, dtype=np.float64)
    diag = np.diag(hist)
    truth = hist.sum(1)
    union = truth + hist.sum(0) - diag
    present = truth > 0
    pixel = diag.sum() / max(hist.sum(), 1.0)
    cls = (diag[present] / truth[present]).mean() if present.any() else 0.0
    seen = union > 0  # a class only predicted counts with IoU 0, as np.nanmean does in the reference code
    iou = (diag[seen] / union[seen]).mean() if seen.any() else 0.0
    return {"pixel_acc": float(pixel), "class_acc": float(cls), "miou": float(iou)}
