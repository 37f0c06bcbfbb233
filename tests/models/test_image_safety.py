"""Images from anywhere: every mode converts to the right 8-bit pixels, every damaged or hostile file is one
ImageError line, and decompression bombs are refused from their header, fast and without allocating."""

from __future__ import annotations

import io
import resource
import struct
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.checkpoint import save_checkpoint
from models.errors import ImageError
from models.generator import GeneratorConfig, build_generator
from models.imageio import MAX_PIXELS, load_image, open_image
from sketchpad.cli import main as cli_main


def _save(im: Image.Image, path: Path, **kw) -> Path:
    im.save(path, **kw)
    return path


def _load(path: Path, channels: int = 3) -> np.ndarray:
    t0 = time.perf_counter()
    a = load_image(path, channels=channels)
    assert time.perf_counter() - t0 < 10
    assert a.dtype == np.uint8
    return a


def _refused(path: Path) -> str:
    t0 = time.perf_counter()
    with pytest.raises(ImageError) as e:
        load_image(path)
    assert time.perf_counter() - t0 < 10
    msg = str(e.value)
    assert "\n" not in msg and path.name in msg, msg
    return msg


# ------------------------------------------------------------------ decompression bombs


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(w: int, h: int, *, color_type: int = 2) -> bytes:
    """A valid-looking PNG (good CRCs) whose IHDR claims w x h, with one tiny IDAT: a few dozen bytes."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def bmp_claiming(w: int, h: int) -> bytes:
    """A BMP header claiming w x h 24-bit pixels, with almost no pixel data."""
    dib = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, 0, 2835, 2835, 0, 0)
    body = dib + b"\x00" * 16
    return b"BM" + struct.pack("<IHHI", 14 + len(body), 0, 0, 14 + 40) + body


def _peak_rss_mb() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / (1 << 20) if sys.platform == "darwin" else r / 1024


@pytest.mark.parametrize(
    "name,data",
    [
        ("png_100000x100000.png", png_claiming(100_000, 100_000)),
        ("png_just_over.png", png_claiming(7100, 7100)),  # 50.4 M: over our limit, under PIL's own
        ("png_wide.png", png_claiming(2**31 - 1, 1, color_type=0)),
        ("bmp_60000x60000.bmp", bmp_claiming(60_000, 60_000)),
        ("bmp_just_over.bmp", bmp_claiming(8000, 7000)),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_bombs_are_refused_from_the_header(tmp_path, name, data):
    assert len(data) < 200
    p = tmp_path / name
    p.write_bytes(data)
    before = _peak_rss_mb()
    t0 = time.perf_counter()
    msg = _refused(p)
    assert time.perf_counter() - t0 < 1.0
    assert _peak_rss_mb() - before < 50  # nothing near w*h bytes was ever allocated
    assert "limit" in msg or "bomb" in msg or "corrupt" in msg, msg


def test_the_limit_is_the_documented_one(tmp_path):
    side = int(MAX_PIXELS**0.5) + 1
    p = tmp_path / "over.png"
    p.write_bytes(png_claiming(side, side))
    assert f"{MAX_PIXELS:,}" in _refused(p)
    # and a caller may lower it: a real 64x64 image is refused under a 1000-pixel limit
    q = _save(Image.new("RGB", (64, 64)), tmp_path / "small.png")
    with pytest.raises(ImageError, match="limit"):
        open_image(q, max_pixels=1000)


# ------------------------------------------------------------------ damaged files


def _valid_files(d: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (48, 40, 3), np.uint8)
    im = Image.fromarray(a)
    return {
        "png": _save(im, d / "v.png"),
        "jpg": _save(im, d / "v.jpg", quality=90),
        "gif": _save(im.convert("P"), d / "v.gif"),
        "webp": _save(im, d / "v.webp", lossless=True),
        "tif": _save(im, d / "v.tif", compression="tiff_lzw"),
        "bmp": _save(im, d / "v.bmp"),
    }


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    return _valid_files(tmp_path_factory.mktemp("valid"))


@pytest.mark.parametrize("fraction", [0.02, 0.1, 0.33, 0.5, 0.75, 0.97])
@pytest.mark.parametrize("fmt", ["png", "jpg", "gif", "webp", "tif", "bmp"])
def test_truncated_images_are_refused_or_read(valid, tmp_path, fmt, fraction):
    raw = valid[fmt].read_bytes()
    p = tmp_path / f"cut.{fmt}"
    p.write_bytes(raw[: max(1, int(len(raw) * fraction))])
    try:
        a = _load(p)
    except ImageError as e:
        assert "\n" not in str(e) and p.name in str(e)
    else:  # a reader may legitimately stop early (e.g. a TIFF whose strip table survived): right shape
        assert a.shape == (48, 40, 3)


def test_zero_byte_and_missing_and_folder(tmp_path):
    p = tmp_path / "empty.png"
    p.write_bytes(b"")
    assert "empty" in _refused(p)
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(ImageError):
        load_image(tmp_path / "dir.png")


@pytest.mark.parametrize(
    "name,data",
    [
        ("random.png", bytes(np.random.default_rng(1).integers(0, 256, 4096, np.uint8))),
        ("text.jpg", b"this is not an image\n" * 20),
        ("sig_only.png", b"\x89PNG\r\n\x1a\n"),
        ("sig_garbage.png", b"\x89PNG\r\n\x1a\n" + b"\x00\x01" * 300),
        ("bad_ihdr_crc.png", png_claiming(4, 4)[:29] + b"\x00\x00\x00\x00" + png_claiming(4, 4)[33:]),
        ("zero_size.png", png_claiming(0, 0)),
        ("eps.png", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"),
        ("jpeg_soi_only.jpg", b"\xff\xd8\xff\xd9"),
        ("gif_header_only.gif", b"GIF89a\x10\x00\x10\x00\x00\x00\x00"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_corrupt_and_foreign_files_are_one_line(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(data)
    _refused(p)


# ------------------------------------------------------------------ every mode, checked pixel by pixel


def test_animated_gif_gives_the_first_frame(tmp_path):
    frames = [Image.new("RGB", (16, 12), c) for c in ((200, 0, 0), (0, 200, 0), (0, 0, 200))]
    p = _save(frames[0], tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=50, loop=0)
    a = _load(p)
    assert a.shape == (12, 16, 3)
    assert np.abs(a.astype(int) - (200, 0, 0)).max() <= 8


def test_animated_png_gives_the_first_frame(tmp_path):
    frames = [Image.new("RGBA", (16, 12), c) for c in ((10, 20, 30, 255), (250, 250, 0, 255))]
    p = _save(frames[0], tmp_path / "anim.png", save_all=True, append_images=frames[1:], duration=50)
    with Image.open(p) as im:
        assert getattr(im, "n_frames", 1) == 2
    assert (_load(p) == (10, 20, 30)).all()


def test_cmyk_jpeg(tmp_path):
    p = _save(Image.new("RGB", (16, 16), (10, 200, 30)).convert("CMYK"), tmp_path / "cmyk.jpg", quality=100)
    with Image.open(p) as im:
        assert im.mode == "CMYK"
    a = _load(p)
    assert a.shape == (16, 16, 3)
    assert np.abs(a.astype(int) - (10, 200, 30)).max() <= 6


def test_16_bit_png_is_scaled_not_truncated(tmp_path):
    a16 = np.array([[0, 257, 32768, 65535]], np.uint16).repeat(4, 0)
    p = _save(Image.fromarray(a16), tmp_path / "g16.png")
    with Image.open(p) as im:
        assert im.mode.startswith("I")
    assert _load(p, channels=1)[0].tolist() == [0, 1, 128, 255]
    assert _load(p)[0, 3].tolist() == [255, 255, 255]
    dark = _save(Image.fromarray(np.full((4, 4), 200, np.uint16)), tmp_path / "dark16.png")
    assert _load(dark, channels=1).max() <= 1  # 200 of 65535 is nearly black, not 200 of 255


def test_palette_with_transparency_goes_on_white(tmp_path):
    im = Image.new("P", (4, 2), 0)
    im.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    im.putpixel((1, 0), 1)
    p = _save(im, tmp_path / "pal.png", transparency=0)
    a = _load(p)
    assert a[0, 0].tolist() == [255, 255, 255]  # transparent red -> white paper
    assert a[0, 1].tolist() == [0, 0, 255]
    opaque = _save(im, tmp_path / "pal_opaque.png")
    assert _load(opaque)[0, 0].tolist() == [255, 0, 0]


def test_rgba_and_la_alpha_composite_on_white(tmp_path):
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[0, 0] = (0, 0, 0, 255)
    rgba[0, 1] = (0, 0, 0, 0)
    rgba[0, 2] = (0, 0, 0, 128)
    a = _load(_save(Image.fromarray(rgba, "RGBA"), tmp_path / "rgba.png"))
    assert a[0, 0].tolist() == [0, 0, 0]
    assert a[0, 1].tolist() == [255, 255, 255]
    assert abs(int(a[0, 2, 0]) - 127) <= 1
    la = Image.fromarray(rgba[..., [0, 3]], "LA")
    g = _load(_save(la, tmp_path / "la.png"), channels=1)
    assert g[0, :2].tolist() == [0, 255] and abs(int(g[0, 2]) - 127) <= 1


def test_exif_orientation_6_is_rotated(tmp_path):
    # 32 wide x 16 tall, left half red, right half blue; orientation 6 means "rotate 90 clockwise to view".
    a = np.zeros((16, 32, 3), np.uint8)
    a[:, :16] = (255, 0, 0)
    a[:, 16:] = (0, 0, 255)
    im = Image.fromarray(a)
    exif = im.getexif()
    exif[0x0112] = 6
    p = _save(im, tmp_path / "rot.jpg", exif=exif, quality=95)
    out = _load(p)
    assert out.shape == (32, 16, 3)
    assert out[4, 8, 0] > 200 and out[4, 8, 2] < 60  # the left (red) half is now on top
    assert out[28, 8, 2] > 200 and out[28, 8, 0] < 60


def test_damaged_exif_keeps_the_pixels(tmp_path):
    im = Image.new("RGB", (8, 4), (0, 128, 0))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=95, exif=b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\xff\xff\x01\x12")
    p = tmp_path / "badexif.jpg"
    p.write_bytes(buf.getvalue())
    out = _load(p)
    assert out.shape == (4, 8, 3) and abs(int(out[2, 4, 1]) - 128) <= 6


def test_one_bit(tmp_path):
    im = Image.new("1", (8, 2), 0)
    im.putpixel((3, 1), 1)
    a = _load(_save(im, tmp_path / "bits.png"), channels=1)
    assert a[1, 3] == 255 and a[0, 0] == 0 and set(np.unique(a)) == {0, 255}


def test_float_tiff(tmp_path):
    f = np.array([[0.0, 0.5, 1.0, np.nan]], np.float32).repeat(2, 0)
    a = _load(_save(Image.fromarray(f, "F"), tmp_path / "f.tif"), channels=1)
    assert a[0].tolist() == [0, 128, 255, 0]  # NaN -> black, never a cast warning
    wide = np.array([[0.0, 1000.0, -5.0, np.inf]], np.float32)
    b = _load(_save(Image.fromarray(wide, "F"), tmp_path / "wide.tif"), channels=1)
    assert b[0, 0] == 0 and b[0, 2] == 0 and b.dtype == np.uint8


def test_the_file_is_closed_even_when_refused(tmp_path):
    """An animated or refused image must not leave its file open (ResourceWarning is an error here)."""
    frames = [Image.new("RGB", (4, 4), c) for c in ((1, 1, 1), (2, 2, 2))]
    p = _save(frames[0], tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    for _ in range(3):
        _load(p)
        with pytest.raises(ImageError):
            open_image(p, max_pixels=4)


# ------------------------------------------------------------------ through the CLI


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("ck") / "tiny.safetensors"
    return save_checkpoint(p, build_generator(GeneratorConfig(ngf=4, num_downs=5)), {"name": "tiny"})


@pytest.mark.parametrize(
    "name,data",
    [
        ("bomb.png", png_claiming(100_000, 100_000)),
        ("empty.png", b""),
        ("garbage.jpg", b"\xff\xd8\xff" + b"\x13" * 500),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_cli_translate_bad_images_are_one_line(tiny_checkpoint, tmp_path, capsys, name, data):
    p = tmp_path / name
    p.write_bytes(data)
    out = tmp_path / "out.png"
    rc = cli_main(["translate", str(tiny_checkpoint), str(p), "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and name in err, err
    assert not out.exists()


def test_cli_translate_odd_modes_work(tiny_checkpoint, tmp_path, capsys):
    ins = [
        _save(Image.new("RGB", (40, 24), (9, 9, 9)).convert("CMYK"), tmp_path / "cmyk.jpg"),
        _save(Image.fromarray(np.full((24, 40), 4000, np.uint16)), tmp_path / "deep.png"),
        _save(Image.new("LA", (24, 40), (0, 100)), tmp_path / "la.png"),
    ]
    out = tmp_path / "results"
    out.mkdir()
    assert cli_main(["translate", str(tiny_checkpoint), *map(str, ins), "-o", str(out)]) == 0
    capsys.readouterr()
    for p in ins:
        with Image.open(out / f"{p.stem}.png") as r:
            assert r.mode == "RGB"
            assert r.size[::-1] == load_image(p).shape[:2]
