"""Fuzzing the loaders that read files from strangers: the image loader, the checkpoint loader and the
dataset checker get mutated bytes of valid PNG/JPEG/GIF/WebP/TIFF/BMP/safetensors/pth files (and
structure-aware mutations: PNG chunks with their CRCs repaired, safetensors headers edited as JSON, the
pickle inside a zip-format .pth), and checkpoints of hostile structure: state dicts whose keys are not
names, whose tensors are sparse, meta, quantized or expanded to gigabytes, that claim hundreds of U-Net
levels or thousands of ResNet blocks; zip directories that lie about sizes; JSON nested 100,000 deep.
The only allowed outcomes are a valid result or a SketchpadError (and, for the hostile structures, no
more than a little memory).

Examples per target: SKETCHPAD_FUZZ_EXAMPLES (default 200, which CI runs in well under a minute; the
hostile-structure targets run a fifth of that, each example writing a whole file through torch.save).
A longer run by hand, e.g. 5000 per target, with the per-target counts printed:

    SKETCHPAD_FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest tests/models/test_fuzz.py -q -s
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import resource
import signal
import struct
import tempfile
import time
import warnings
import zipfile
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from PIL import Image

from models.checkpoint import load_checkpoint, save_checkpoint
from models.data import DataOptions, PairedDataset, check_dataset
from models.errors import SketchpadError
from models.generator import GeneratorConfig, build_generator
from models.imageio import load_image

EXAMPLES = int(os.environ.get("SKETCHPAD_FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # 2 shared cores: time per input varies; hangs are caught by _time_limit instead
    database=None,  # nothing written into the checkout
    # no "explain" phase: its line tracing slows a net's construction past the hang limit on a busy machine
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
PER_INPUT_S = 20  # far above any honest decode of these tiny files: past it, call it a hang

COUNTS: dict[str, Counter] = {}


@pytest.fixture(scope="module", autouse=True)
def _report_counts():
    yield
    total = sum(sum(c.values()) for c in COUNTS.values())
    lines = [f"fuzz {name}: {dict(c)}" for name, c in sorted(COUNTS.items())]
    print("\n" + "\n".join(lines) + f"\nfuzz total inputs: {total}")


def _count(target: str, outcome: str) -> None:
    COUNTS.setdefault(target, Counter())[outcome] += 1


@contextlib.contextmanager
def _time_limit(seconds: int):
    """Turn a hang into a failure (Unix main thread; elsewhere only the overall CI timeout guards)."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def _raise(*_):
        raise TimeoutError(f"an input took over {seconds} s")

    old = signal.signal(signal.SIGALRM, _raise)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _expect_valid_or_refused(target: str, fn):
    t0 = time.perf_counter()
    try:
        with _time_limit(PER_INPUT_S):
            out = fn()
    except SketchpadError as e:
        msg = str(e)
        assert msg.strip() and "\n" not in msg, f"{target}: not a one-line message: {msg!r}"
        _count(target, "refused")
        return None
    _count(target, "valid")
    assert time.perf_counter() - t0 < PER_INPUT_S
    return out


# ------------------------------------------------------------------ mutations


@st.composite
def mutated(draw, seed: bytes, hot: tuple[int, int] | None = None) -> bytes:
    """`seed` with 1-6 edits: byte sets, bit flips, inserts, deletes, repeats, truncation, interesting
    integers (0, -1, 2**31, ...). `hot` is a byte range (a header) that gets half of the edits."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        n = len(data)
        if n == 0:
            break
        if hot and draw(st.booleans()):
            lo, hi = hot[0], min(hot[1], n)
            i = draw(st.integers(lo, max(lo, hi - 1))) if hi > lo else 0
        else:
            i = draw(st.integers(0, n - 1))
        op = draw(st.sampled_from(["set", "flip", "insert", "delete", "repeat", "truncate", "int"]))
        if op == "set":
            data[i] = draw(st.integers(0, 255))
        elif op == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=64))
        elif op == "delete":
            del data[i : i + draw(st.integers(1, 256))]
        elif op == "repeat":
            chunk = bytes(data[i : i + draw(st.integers(1, 64))])
            data[i:i] = chunk * draw(st.integers(1, 20))
        elif op == "truncate":
            del data[i:]
        else:
            v = draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]))
            fmt = draw(st.sampled_from([">I", "<I", ">H", "<H"]))
            packed = struct.pack(fmt, v & (0xFFFF if fmt.endswith("H") else 0xFFFFFFFF))
            data[i : i + len(packed)] = packed
    return bytes(data)


def _fix_png_crcs(data: bytes) -> bytes:
    """Recompute every chunk CRC, so that a mutation reaches the decoder instead of the CRC check."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return data
    out, i = bytearray(data[:8]), 8
    while i + 8 <= len(data):
        n = struct.unpack(">I", data[i : i + 4])[0]
        end = i + 8 + n
        if end + 4 > len(data):
            out += data[i:]
            break
        kind_body = data[i + 4 : end]
        out += data[i:end] + struct.pack(">I", zlib.crc32(kind_body))
        i = end + 4
    return bytes(out)


# ------------------------------------------------------------------ image seeds


def _image_seeds() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (20, 24, 3), np.uint8)
    a[5:15, 5:15] = (250, 10, 10)  # something compressible, so the codecs use their structure
    im = Image.fromarray(a)

    def enc(img: Image.Image, fmt: str, **kw) -> bytes:
        buf = io.BytesIO()
        img.save(buf, fmt, **kw)
        return buf.getvalue()

    rgba = Image.fromarray(np.dstack([a, np.full(a.shape[:2], 128, np.uint8)]), "RGBA")
    frames = [im, Image.fromarray(255 - a)]
    exif = im.getexif()
    exif[0x0112] = 6
    return {
        "png": enc(im, "PNG"),
        "png_rgba": enc(rgba, "PNG"),
        "png_16": enc(Image.fromarray(a[..., 0].astype(np.uint16) * 257), "PNG"),
        "png_palette": enc(im.convert("P"), "PNG", transparency=3),
        "apng": enc(frames[0], "PNG", save_all=True, append_images=frames[1:]),
        "jpeg": enc(im, "JPEG", quality=80),
        "jpeg_progressive_exif": enc(im, "JPEG", quality=80, progressive=True, exif=exif),
        "jpeg_cmyk": enc(im.convert("CMYK"), "JPEG"),
        "gif": enc(frames[0].convert("P"), "GIF", save_all=True, append_images=[frames[1].convert("P")]),
        "webp": enc(im, "WEBP", lossless=True),
        "webp_lossy": enc(rgba, "WEBP", quality=50),
        "tiff": enc(im, "TIFF", compression="tiff_lzw"),
        "tiff_float": enc(Image.fromarray(a[..., 0].astype(np.float32) / 255, "F"), "TIFF"),
        "bmp": enc(im, "BMP"),
    }


IMAGE_SEEDS = _image_seeds()
SUFFIX = {"png": ".png", "apng": ".png", "jpeg": ".jpg", "gif": ".gif", "webp": ".webp", "tiff": ".tif"}


def _suffix(kind: str) -> str:
    return SUFFIX.get(kind.split("_")[0], "." + kind.split("_")[0])


@pytest.fixture(scope="module")
def work():
    with tempfile.TemporaryDirectory(prefix="sketchpad-fuzz-") as d:
        yield Path(d)


def _check_image(target: str, path: Path) -> None:
    for channels in (3, 1):
        a = _expect_valid_or_refused(target, lambda c=channels: load_image(path, channels=c))
        if a is None:
            return
        assert a.dtype == np.uint8 and a.ndim == (3 if channels == 3 else 2)
        assert a.shape[0] >= 1 and a.shape[1] >= 1


@st.composite
def mutated_image(draw):
    kind = draw(st.sampled_from(sorted(IMAGE_SEEDS)))
    seed = IMAGE_SEEDS[kind]
    data = draw(mutated(seed, hot=(0, 200)))
    return kind, data


@FUZZ
@given(mutated_image())
def test_fuzz_image_loader(work, case):
    kind, data = case
    p = work / f"img{_suffix(kind)}"
    p.write_bytes(data)
    _check_image("image_bytes", p)


@FUZZ
@given(
    st.sampled_from(["png", "png_rgba", "png_16", "png_palette", "apng"]).flatmap(
        lambda k: st.tuples(st.just(k), mutated(IMAGE_SEEDS[k], hot=(8, 120)))
    )
)
def test_fuzz_png_with_repaired_crcs(work, case):
    kind, data = case
    p = work / "crc.png"
    p.write_bytes(_fix_png_crcs(data))
    _check_image("png_crc_repaired", p)


# ------------------------------------------------------------------ checkpoint seeds

CFG = GeneratorConfig(ngf=2, num_downs=5, input_nc=1, output_nc=3)


def _checkpoint_seeds() -> dict[str, bytes]:
    torch.manual_seed(0)
    net = build_generator(CFG)
    with tempfile.TemporaryDirectory() as d:
        st_path = save_checkpoint(
            Path(d) / "g.safetensors",
            net,
            {"name": "g", "input_kind": "labels", "palette": [["wall", [0, 0, 255]]], "size": 32},
        )
        pth = Path(d) / "g.pth"
        torch.save(net.state_dict(), pth)
        return {"safetensors": st_path.read_bytes(), "pth": pth.read_bytes()}


CKPT_SEEDS = _checkpoint_seeds()


def _check_checkpoint(target: str, path: Path) -> None:
    ckpt = _expect_valid_or_refused(target, lambda: load_checkpoint(path))
    if ckpt is not None:  # whatever loaded must run
        x = torch.zeros(1, ckpt.config.input_nc, 32, 32)
        with torch.no_grad():
            y = ckpt.net(x)
        assert y.shape[-2:] == (32, 32)


def _st_header_len() -> int:
    return 8 + int.from_bytes(CKPT_SEEDS["safetensors"][:8], "little")


@FUZZ
@given(st.sampled_from(["safetensors", "pth"]).flatmap(lambda k: st.tuples(st.just(k), st.data())))
def test_fuzz_checkpoint_bytes(work, case):
    kind, data = case
    seed = CKPT_SEEDS[kind]
    if kind == "safetensors":
        hot = (0, _st_header_len())
    else:  # the zip's local header and pickle are at the start, its central directory at the end
        hot = (0, 400) if data.draw(st.booleans()) else (len(seed) - 600, len(seed))
    blob = data.draw(mutated(seed, hot=hot))
    p = work / f"fuzz.{kind}"
    p.write_bytes(blob)
    _check_checkpoint(f"checkpoint_bytes_{kind}", p)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64)
    | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)


@st.composite
def edited_header(draw) -> bytes:
    """Our safetensors file with its JSON header edited field by field (length prefix kept honest)."""
    raw = CKPT_SEEDS["safetensors"]
    n = int.from_bytes(raw[:8], "little")
    header, body = json.loads(raw[8 : 8 + n]), raw[8 + n :]
    meta = json.loads(header["__metadata__"]["sketchpad"])
    tensors = [k for k in header if k != "__metadata__"]
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.sampled_from(["tensor", "arch", "meta", "drop"]))
        if where == "tensor":
            k = draw(st.sampled_from(tensors))
            if not isinstance(header.get(k), dict):
                continue
            field = draw(st.sampled_from(["dtype", "shape", "data_offsets"]))
            header[k][field] = draw(
                st.sampled_from(["F16", "F64", "I8", "BOOL", "U8", "F8_E4M3", "junk"])
                if field == "dtype"
                else st.lists(st.integers(-5, 2**40) | st.integers(0, 300), max_size=5) | JSON_VALUES
            )
        elif where == "arch":
            if not isinstance(meta.get("arch"), dict):
                continue
            key = draw(st.sampled_from(sorted(meta["arch"]) + ["extra"]))
            meta["arch"][key] = draw(
                st.integers(-2, 2000) | st.sampled_from(["unet", "resnet", "batch", "instance"]) | JSON_VALUES
            )
        elif where == "meta":
            key = draw(st.sampled_from(["input_kind", "palette", "size", "name", "direction", "arch", "x"]))
            meta[key] = draw(JSON_VALUES)
        else:
            victim = draw(st.sampled_from(tensors + ["__metadata__"]))
            header.pop(victim, None)
    if isinstance(header.get("__metadata__"), dict):
        header["__metadata__"]["sketchpad"] = json.dumps(meta)
    h = json.dumps(header).encode()
    return len(h).to_bytes(8, "little") + h + body


@FUZZ
@given(edited_header())
def test_fuzz_safetensors_header_json(work, blob):
    p = work / "json.safetensors"
    p.write_bytes(blob)
    _check_checkpoint("safetensors_header_json", p)


@st.composite
def pth_with_mutated_pickle(draw) -> bytes:
    """A zip-format .pth whose data.pkl is mutated and re-zipped (valid zip, CRCs right): the unpickler sees it."""
    src = zipfile.ZipFile(io.BytesIO(CKPT_SEEDS["pth"]))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as dst:
        for name in src.namelist():
            data = src.read(name)
            if name.endswith("/data.pkl"):
                if draw(st.integers(0, 9)) == 0:  # sometimes a whole foreign pickle
                    data = pickle.dumps(draw(JSON_VALUES), protocol=draw(st.integers(0, 5)))
                else:
                    data = draw(mutated(data))
            dst.writestr(name, data)
    return buf.getvalue()


@FUZZ
@given(pth_with_mutated_pickle())
def test_fuzz_pth_pickle(work, blob):
    p = work / "pickle.pth"
    p.write_bytes(blob)
    _check_checkpoint("pth_pickle", p)


# ------------------------------------------------------------------ hostile structure in checkpoints

# Fewer examples: each writes a whole file through torch.save (up to thousands of keys).
FUZZ_STRUCTURE = settings(FUZZ, max_examples=max(10, EXAMPLES // 5))
SEED_STATE = dict(build_generator(CFG).state_dict())
ODD_KEYS = st.integers(-(2**70), 2**70) | st.none() | st.binary(max_size=6) | st.tuples(st.integers(0, 9))
ODD_KEYS = ODD_KEYS | st.floats(allow_nan=False) | st.booleans() | st.text(max_size=3000)


def _rss_mib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10


def _quantized(t: torch.Tensor) -> torch.Tensor:
    with warnings.catch_warnings():  # quantized tensors are deprecated: all the more reason to refuse them
        warnings.simplefilter("ignore")
        return torch.quantize_per_tensor(t, 0.1, 0, torch.qint8)


@st.composite
def hostile_state(draw) -> tuple[object, bool]:
    """The seed net's state dict with 1-3 structural edits: keys that are not names, sparse / meta /
    quantized / expanded (stride 0) / oddly typed tensors, a U-Net hundreds of levels deep, thousands of
    ResNet blocks, non-tensor values; saved in the zip format or the pre-1.6 one."""
    state: dict = dict(SEED_STATE)
    names = sorted(SEED_STATE)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(
            st.sampled_from(["key", "sparse", "meta", "quant", "expand", "dtype", "deep", "blocks", "value"])
        )
        k = draw(st.sampled_from(names))
        t = state.get(k)
        plain = (
            isinstance(t, torch.Tensor) and t.layout == torch.strided and not (t.is_meta or t.is_quantized)
        )
        t = t if plain else torch.zeros(2)  # each edit starts from plain weights
        if op == "key":
            state[draw(ODD_KEYS)] = state.pop(k, t)
        elif op == "sparse" and t.dim() >= 1:
            state[k] = t.to_sparse()
        elif op == "meta":
            state[k] = torch.empty(t.shape, dtype=t.dtype, device="meta")
        elif op == "quant" and t.is_floating_point():
            state[k] = _quantized(t.float())
        elif op == "expand":
            dims = draw(st.lists(st.integers(0, 1 << 14), min_size=1, max_size=5))
            state[k] = torch.zeros(1).expand(*dims)
        elif op == "dtype":
            kind = draw(
                st.sampled_from([torch.int8, torch.uint8, torch.bool, torch.complex64, torch.float64])
            )
            state[k] = t.to(kind)
        elif op == "deep":
            for i in range(draw(st.integers(1, 400))):
                state["model.model.1.model." + "3.model." * i + "1.weight"] = torch.zeros(1, 1, 4, 4)
        elif op == "blocks":
            w = torch.zeros(draw(st.integers(0, 3)))
            for i in range(draw(st.integers(1, 6000))):
                state[f"model.{10 + i}.conv_block.{draw(st.sampled_from([1, 5, 6]))}.weight"] = w
        elif op == "value":
            state[k] = draw(st.sampled_from([[t], (t,), {"t": t}, None, 3, "weights"]))
    obj = {"state_dict": state} if draw(st.booleans()) else state
    return obj, draw(st.booleans())


@FUZZ_STRUCTURE
@given(hostile_state())
def test_fuzz_pth_structure(work, case):
    obj, legacy = case
    p = work / "structure.pth"
    torch.save(obj, p, _use_new_zipfile_serialization=not legacy)
    before = _rss_mib()
    _check_checkpoint("pth_structure", p)
    assert _rss_mib() - before < 500, "a small file made the loader allocate hundreds of MiB"


def _directory_entries(raw: bytes) -> list[int]:
    """Offsets of the central-directory records of a zip."""
    out, pos = [], raw.find(b"PK\x01\x02")
    while pos != -1:
        out.append(pos)
        pos = raw.find(b"PK\x01\x02", pos + 46)
    return out


@st.composite
def pth_with_lying_directory(draw) -> bytes:
    """The seed .pth with the sizes its zip directory declares (compressed, uncompressed; central and
    local) set to interesting values, and sometimes an entry deflated: zip bombs and their near misses."""
    raw = bytearray(CKPT_SEEDS["pth"])
    if draw(st.booleans()):  # recompress some entries with deflate, as a hand-made archive could
        src = zipfile.ZipFile(io.BytesIO(bytes(raw)))
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as dst:
            for info in src.infolist():
                deflate = draw(st.booleans())
                dst.writestr(
                    info.filename, src.read(info), zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
                )
        raw = bytearray(buf.getvalue())
    entries = _directory_entries(bytes(raw))
    sizes = st.sampled_from(
        [0, 1, 1 << 20, (1 << 20) + 1, 1 << 30, 5 << 28, 0x7FFFFFFF, 0xFFFFFFFE, 0xFFFFFFFF]
    )
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.sampled_from(entries))
        field = draw(st.sampled_from([20, 24]))  # compressed size, uncompressed size
        raw[pos + field : pos + field + 4] = draw(sizes).to_bytes(4, "little")
        if draw(st.booleans()):  # the matching local header, whose offset the central record gives
            local = int.from_bytes(raw[pos + 42 : pos + 46], "little")
            if raw[local : local + 4] == b"PK\x03\x04":
                raw[local + field - 2 : local + field + 2] = draw(sizes).to_bytes(4, "little")
    return bytes(raw)


@FUZZ_STRUCTURE
@given(pth_with_lying_directory())
def test_fuzz_pth_zip_directory(work, blob):
    p = work / "directory.pth"
    p.write_bytes(blob)
    before = _rss_mib()
    _check_checkpoint("pth_zip_directory", p)
    assert _rss_mib() - before < 500


@st.composite
def deeply_nested_header(draw) -> bytes:
    """Our safetensors file with JSON nested 1 to 100,000 levels deep spliced into its header, into our
    metadata, or into a tensor entry; the length prefix kept honest."""
    raw = CKPT_SEEDS["safetensors"]
    n = int.from_bytes(raw[:8], "little")
    header, body = json.loads(raw[8 : 8 + n]), raw[8 + n :]
    depth = draw(st.integers(1, 100_000) | st.integers(28, 40))
    opener = draw(st.sampled_from(["[", '{"a":', "[1,"]))
    closer = {"[": "]", '{"a":': "}", "[1,": "]"}[opener]
    deep = opener * depth + "0" * (opener != "[") + closer * depth
    where = draw(st.sampled_from(["header", "metadata", "tensor"]))
    if where == "metadata":
        meta = header["__metadata__"]["sketchpad"]
        header["__metadata__"]["sketchpad"] = meta[:-1] + ', "deep": ' + deep + "}"
        text = json.dumps(header)
    elif where == "tensor":
        key = draw(st.sampled_from(sorted(k for k in header if k != "__metadata__")))
        text = json.dumps(header).replace(
            json.dumps(key) + ": {", json.dumps(key) + ': {"deep": ' + deep + ", ", 1
        )
    else:
        text = json.dumps(header)[:-1] + ', "deep": ' + deep + "}"
    h = text.encode()
    return len(h).to_bytes(8, "little") + h + body


@FUZZ_STRUCTURE
@given(deeply_nested_header())
def test_fuzz_safetensors_nesting(work, blob):
    p = work / "nested.safetensors"
    p.write_bytes(blob)
    _check_checkpoint("safetensors_nesting", p)


# ------------------------------------------------------------------ the dataset checker


FILE_NAMES = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"), min_size=1, max_size=24
)


@FUZZ
@given(
    st.lists(st.tuples(mutated_image(), st.booleans()), min_size=1, max_size=4),
    st.lists(FILE_NAMES, min_size=4, max_size=4),
)
def test_fuzz_dataset_checker(work, files, names):
    """An aligned dataset of damaged (or intact) images under odd names: check_dataset reports, never
    raises; each item the dataset then yields is a tensor pair or a DataError."""
    root = work / "ds"
    if root.exists():
        for p in sorted(root.rglob("*"), reverse=True):
            p.unlink() if p.is_file() else p.rmdir()
    (root / "train").mkdir(parents=True)
    for ((kind, data), intact), name in zip(files, names, strict=False):
        try:
            p = root / "train" / (name.strip(". ") or "x")
            p = p.with_name(p.name + _suffix(kind))
            p.write_bytes(IMAGE_SEEDS[kind] if intact else data)
        except (OSError, ValueError):  # a name this filesystem refuses: not what is under test
            continue
    report = _expect_valid_or_refused("dataset_check", lambda: check_dataset(root))
    if report is None:
        return
    assert isinstance(report.text(), str)
    json.dumps(report.to_dict())
    if not report.usable:
        return
    opts = DataOptions(load_size=32, crop_size=32, input_nc=3, output_nc=3)
    ds = _expect_valid_or_refused("dataset_build", lambda: PairedDataset(root, "train", opts))
    for i in range(len(ds) if ds is not None else 0):
        item = _expect_valid_or_refused("dataset_item", lambda i=i: ds[i])
        if item is not None:
            assert item["A"].shape == (3, 32, 32) and torch.isfinite(item["A"]).all()
