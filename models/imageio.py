"""Reading and writing images safely: every failure is an `ImageError` with one line, decompression bombs
are refused from the header before any pixel is decoded, and every mode (RGBA, P, L, I;16, CMYK,
EXIF-rotated, animated) becomes plain 8-bit RGB or L."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .checkpoint import atomic_write, printable
from .errors import ImageError

MAX_PIXELS = 50_000_000  # about 7000 x 7000: far past any drawing; refused before decoding
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif")
# The decoders PIL may use. Others stay off: EPS runs Ghostscript, and each rarely used plugin is more
# attack surface for a file that claims to be a drawing. (JPEG also opens phones' multi-picture MPO files.)
FORMATS = ("PNG", "JPEG", "BMP", "WEBP", "TIFF", "GIF")


def open_image(path: str | os.PathLike, *, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open, check the size from the header, decode, and normalise to 8-bit 'RGB' or 'L' (alpha on white)."""
    try:
        return _open_image(Path(path), max_pixels)
    except ImageError as e:
        if str(e).isprintable():
            raise
        raise ImageError(printable(str(e))) from None  # a newline in a file name: still one line


def _open_image(path: Path, max_pixels: int) -> Image.Image:
    name = path.name
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ImageError(f"{name}: empty file")
    try:
        with warnings.catch_warnings():
            # A damaged EXIF block or a short TIFF strip only warns; the result is checked below either way.
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # `with`: the file is closed on every path, also when refused or animated (PIL keeps those open).
            with Image.open(path, formats=FORMATS) as opened:
                im = opened
                w, h = im.size
                if w * h > max_pixels:
                    raise ImageError(f"{name}: {w}x{h} is over the {max_pixels:,}-pixel limit")
                im.load()  # an animated file opens at its first frame, and that is what we decode
                try:
                    im = ImageOps.exif_transpose(im)
                except Exception:  # a damaged EXIF block: keep the pixels as stored rather than refuse them
                    pass
                out = to_8bit(im)
                return out.copy() if out is opened else out  # closing `opened` drops its pixels
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{name}: over the pixel limit (decompression bomb?)") from None
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not a PNG, JPEG, BMP, WebP, TIFF or GIF image") from None
    except MemoryError:
        raise ImageError(f"{name}: too large to decode in the memory available") from None
    except Exception as e:
        # PIL's decoders raise OSError, SyntaxError, struct.error, IndexError, ... on damaged files.
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ImageError(f"{name}: corrupt or truncated image ({first[:120]})") from None


def to_8bit(im: Image.Image) -> Image.Image:
    """Any PIL mode to 'RGB' or 'L': alpha composited on white, 16/32-bit scaled, palette expanded."""
    mode = im.mode
    if mode in ("RGB", "L"):
        return im
    if mode == "1":
        return im.convert("L")
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # float32, NaN as black and +-inf clipped: a float TIFF may hold anything, and this must not warn.
        a = np.nan_to_num(np.asarray(im, dtype=np.float32), nan=0.0, posinf=3.0e38, neginf=-3.0e38)
        top = 65535.0 if mode.startswith("I;16") or (a.size and a.max() > 255) else 255.0
        if mode == "F":
            top = max(float(a.max()), 1.0) if a.size else 1.0
        return Image.fromarray(np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if mode == "P":
        im = im.convert("RGBA") if "transparency" in im.info else im.convert("RGB")
        mode = im.mode
        if mode == "RGB":
            return im
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        out = Image.alpha_composite(white, rgba).convert("RGB")
        return out.convert("L") if mode.startswith("L") else out
    return im.convert("RGB")  # CMYK, YCbCr, LAB, HSV


def load_image(path: str | os.PathLike, channels: int = 3, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """An image file as uint8 (H, W, 3) or (H, W) for channels=1."""
    return _channels(open_image(path, max_pixels=max_pixels), channels)


def _channels(im: Image.Image, channels: int) -> np.ndarray:
    im = im.convert("L") if channels == 1 else im.convert("RGB")
    return np.asarray(im).copy()


class PixelError(ImageError, ValueError):
    """Pixels handed to the Python API that are no image (a 4-D array, 5 channels, floats outside [0, 1])."""


def to_pixels(image, channels: int = 3, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """A PIL image or an array as the uint8 (H, W, 3) or (H, W) (channels=1) that `load_image` would give.

    PIL images go through the file loader's normalisation (EXIF rotation, palette, 16-bit, alpha on
    white). Arrays: (H, W) or (H, W, C) with C = 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA, alpha
    on white); uint8 as is, bool as 0/255, uint16 scaled from 0..65535, other integers if within 0..255,
    floats if within [0, 1] (NaN refused). Anything else is a one-line `PixelError` (a ValueError)."""
    if isinstance(image, Image.Image):
        w, h = image.size
        if w * h > max_pixels:
            raise PixelError(f"a {w}x{h} image is over the {max_pixels:,}-pixel limit")
        if w == 0 or h == 0:
            raise PixelError(f"a {w}x{h} image has no pixels")
        try:
            image = ImageOps.exif_transpose(image)
        except Exception:  # a damaged EXIF block: keep the pixels as they are, as the file loader does
            pass
        return _channels(to_8bit(image), channels)
    if isinstance(image, str | bytes | os.PathLike):
        raise PixelError("expected pixels, not a file name: load files with models.imageio.load_image")
    try:
        a = np.asarray(image)
    except Exception as e:
        raise PixelError(
            f"expected a PIL image or an array of pixels, not {type(image).__name__} ({e})"
        ) from None
    if a.dtype == object or a.dtype.kind not in "buif":
        raise PixelError(
            f"expected a PIL image or an array of pixels, not {type(image).__name__} of {a.dtype}"
        )
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (2, 3, 4)):
        raise PixelError(
            f"pixels of shape {a.shape}: expected one image, (H, W) or (H, W, C) with C = 1, 2, 3 or 4"
        )
    h, w = a.shape[:2]
    if h == 0 or w == 0:
        raise PixelError(f"pixels of shape {a.shape}: the image is empty")
    if h * w > max_pixels:
        raise PixelError(f"a {w}x{h} image is over the {max_pixels:,}-pixel limit")
    a = _as_uint8(a)
    if a.ndim == 2 or a.shape[2] == 3:
        if (a.ndim == 2) == (channels == 1):
            return a  # the common case (the app's canvas): no copy, no conversion
        return _channels(Image.fromarray(a), channels)
    mode = "LA" if a.shape[2] == 2 else "RGBA"
    return _channels(to_8bit(Image.fromarray(np.ascontiguousarray(a), mode)), channels)


def _as_uint8(a: np.ndarray) -> np.ndarray:
    kind = a.dtype.kind
    if a.dtype == np.uint8:
        return a
    if kind == "b":
        return a.astype(np.uint8) * 255
    if a.dtype == np.uint16:
        return ((a.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)  # as the 16-bit files
    if kind in "iu":
        lo, hi = int(a.min()), int(a.max())
        if lo < 0 or hi > 255:
            raise PixelError(
                f"{a.dtype} pixels from {lo} to {hi}: integers must lie in 0..255 (or be uint16)"
            )
        return a.astype(np.uint8)
    f = a.astype(np.float32, copy=False)
    if not np.isfinite(f).all():
        raise PixelError(f"{a.dtype} pixels hold NaN or infinity")
    lo, hi = float(f.min()), float(f.max())
    if lo < 0.0 or hi > 1.0:
        raise PixelError(f"{a.dtype} pixels from {lo:.3g} to {hi:.3g}: floats must lie in [0, 1]")
    return (f * 255.0 + 0.5).astype(np.uint8)


def save_png(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write uint8 (H, W[, C]) as a lossless PNG, atomically."""
    array = np.ascontiguousarray(array)
    if array.dtype != np.uint8:
        raise ValueError("save_png expects uint8 pixels")
    im = Image.fromarray(array)
    return atomic_write(path, lambda tmp: im.save(tmp, format="PNG"))
