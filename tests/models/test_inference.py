"""The inference API: any size in, same size out; batch-norm and dropout modes; seeds."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from models.checkpoint import save_checkpoint
from models.generator import GeneratorConfig, build_generator
from models.inference import Translator, pick_device


@pytest.fixture
def ckpt(tmp_path):
    torch.manual_seed(1)
    net = build_generator(GeneratorConfig(num_downs=6, ngf=4), init_type="kaiming")
    with torch.no_grad():  # move running stats away from (0, 1) so the two modes differ
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return save_checkpoint(tmp_path / "g.safetensors", net, {"input_kind": "lineart"})


@pytest.fixture
def image():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)


@pytest.mark.parametrize("shape", [(64, 64, 3), (37, 90, 3), (200, 250), (1, 1, 3), (130, 64, 4)])
@pytest.mark.parametrize("fit", ["pad", "resize"])
def test_any_size_round_trips(ckpt, shape, fit):
    t = Translator(ckpt, device="cpu", fit=fit)
    x = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    y = t(x)
    assert y.shape == (*shape[:2], 3) and y.dtype == np.uint8


def test_deterministic_without_dropout(ckpt, image):
    t = Translator(ckpt, device="cpu")
    assert np.array_equal(t(image), t(image))


def test_seeded_dropout_is_reproducible_and_seeds_differ(ckpt, image):
    t = Translator(ckpt, device="cpu", dropout=True)
    a, b, c = t(image, seed=5), t(image, seed=5), t(image, seed=6)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a, t(image, dropout=False))


def test_batchnorm_modes_differ_and_never_touch_running_stats(ckpt, image):
    t = Translator(ckpt, device="cpu")
    before = {k: v.clone() for k, v in t.net.state_dict().items()}
    running, per_image = t(image), t(image, bn_stats="image")
    assert not np.array_equal(running, per_image)
    assert np.array_equal(running, t(image))  # back to running after an image-stats call
    for k, v in t.net.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_grayscale_net_takes_colour_input(tmp_path, image):
    net = build_generator(GeneratorConfig(num_downs=5, ngf=4, input_nc=1, output_nc=3))
    t = Translator(save_checkpoint(tmp_path / "g.safetensors", net), device="cpu")
    assert t(image).shape == (64, 64, 3)
    assert t(image[..., 0]).shape == (64, 64, 3)


def test_device_fallback_is_explained():
    dev, note = pick_device("cuda")
    if torch.cuda.is_available():
        assert dev.type == "cuda" and note == ""
    else:
        assert dev.type == "cpu" and "CUDA is not available" in note
    with pytest.raises(ValueError, match="unknown device"):
        pick_device("tpu")


# ---------------------------------------------------------------- what the Python API accepts


def _pil_cases() -> dict:
    """PIL images in the modes people hand over, each with the file format that keeps that mode."""
    rng = np.random.default_rng(3)
    rgba = rng.integers(0, 256, (24, 40, 4), np.uint8)
    pal = Image.new("P", (40, 24), 0)
    pal.putpalette([255, 0, 0, 0, 0, 255, 0, 200, 0] + [0] * 759)
    pal.paste(1, (5, 5, 20, 15))
    pal.paste(2, (25, 2, 38, 20))
    pal.info["transparency"] = 0
    cases = {
        "P": (pal, "png"),
        "I;16": (Image.fromarray(rng.integers(0, 65536, (24, 40)).astype(np.uint16)), "png"),
        "LA": (Image.fromarray(rgba[..., [0, 3]], "LA"), "png"),
        "RGBA": (Image.fromarray(rgba, "RGBA"), "png"),
        "L": (Image.fromarray(rgba[..., 0], "L"), "png"),
        "1": (Image.fromarray(rgba[..., 0] > 128), "png"),
        "CMYK": (Image.fromarray(rgba, "RGBA").convert("CMYK"), "tiff"),
        "F": (Image.fromarray(rng.random((24, 40), np.float32), "F"), "tiff"),
    }
    return cases


@pytest.mark.parametrize("mode", list(_pil_cases()))
@pytest.mark.parametrize("input_nc", [3, 1])
def test_pil_images_are_normalised_as_files_are(tmp_path, mode, input_nc):
    from models.imageio import load_image

    net = build_generator(GeneratorConfig(num_downs=5, ngf=4, input_nc=input_nc))
    t = Translator(save_checkpoint(tmp_path / "g.safetensors", net), device="cpu")
    im, fmt = _pil_cases()[mode]
    assert im.mode == mode
    path = tmp_path / f"x.{fmt}"
    im.save(path, format=fmt.upper(), **({"transparency": 0} if mode == "P" else {}))
    expected = t(load_image(path, channels=input_nc))
    assert np.array_equal(t(im), expected)  # the same pixels whether handed over or read from disk


def test_arrays_of_other_types_are_normalised_as_pil_would(ckpt):
    from models.imageio import to_pixels

    rng = np.random.default_rng(4)
    rgba = rng.integers(0, 256, (24, 40, 4), np.uint8)
    assert np.array_equal(to_pixels(rgba), to_pixels(Image.fromarray(rgba, "RGBA")))  # alpha on white
    la = rgba[..., [0, 3]]
    assert np.array_equal(to_pixels(la, 1), to_pixels(Image.fromarray(la, "LA"), 1))
    g16 = rng.integers(0, 65536, (24, 40)).astype(np.uint16)
    assert np.array_equal(to_pixels(g16, 1), to_pixels(Image.fromarray(g16), 1))
    f = rng.random((24, 40, 3))
    assert np.array_equal(to_pixels(f), np.floor(f * 255 + 0.5).astype(np.uint8))
    assert to_pixels(np.ones((4, 4), bool), 1).max() == 255
    assert np.array_equal(to_pixels(rgba[..., :3].astype(np.int64)), rgba[..., :3])
    x = rgba[..., :3].copy()
    assert to_pixels(x) is x  # the app's canvas: no copy, no conversion
    t = Translator(ckpt, device="cpu")
    assert np.array_equal(t(rgba[..., :3].astype(np.float32) / 255), t(rgba[..., :3]))


@pytest.mark.parametrize(
    "bad,needle",
    [
        (np.zeros((1, 32, 32, 3), np.uint8), "expected one image"),
        (np.zeros((0, 32, 3), np.uint8), "empty"),
        (np.zeros((32, 0), np.uint8), "empty"),
        (np.zeros((32, 32, 5), np.uint8), "C = 1, 2, 3 or 4"),
        (np.zeros((3, 32, 32), np.uint8), "C = 1, 2, 3 or 4"),  # channels first
        (np.zeros(32, np.uint8), "expected one image"),
        (np.full((8, 8, 3), 2.0), "floats must lie in [0, 1]"),
        (np.full((8, 8, 3), -0.5, np.float32), "floats must lie in [0, 1]"),
        (np.full((8, 8, 3), np.nan), "NaN"),
        (np.full((8, 8), 300, np.int32), "0..255"),
        (np.full((8, 8, 3), 1 + 2j), "array of pixels"),
        (np.array([["a"]]), "array of pixels"),
        ("drawing.png", "not a file name"),
        (None, "array of pixels"),
        (Image.new("RGB", (0, 5)), "no pixels"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_odd_inputs_are_one_line_value_errors(ckpt, bad, needle):
    t = Translator(ckpt, device="cpu")
    with pytest.raises(ValueError) as e:
        t(bad)
    msg = str(e.value)
    assert needle in msg and "\n" not in msg, msg


def test_a_huge_array_is_refused_before_any_work(ckpt):
    from models.imageio import MAX_PIXELS

    side = int(MAX_PIXELS**0.5) + 1
    huge = np.broadcast_to(np.uint8(255), (side, side, 3))  # no memory behind it
    with pytest.raises(ValueError, match="pixel limit"):
        Translator(ckpt, device="cpu")(huge)


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shape=st.lists(st.integers(0, 6), min_size=0, max_size=5).map(tuple),
    dtype=st.sampled_from(
        ["uint8", "uint16", "int8", "int32", "int64", "float16", "float32", "float64", "bool"]
    ),
    scale=st.sampled_from([0.0, 1.0, 255.0, 70000.0, -3.0, float("nan")]),
    channels=st.sampled_from([1, 3]),
)
def test_fuzz_to_pixels_gives_an_image_or_one_line(shape, dtype, scale, channels):
    """Any array: the model's pixels (uint8, (H, W) or (H, W, 3)) or one PixelError line, nothing else."""
    from models.imageio import PixelError, to_pixels

    with np.errstate(all="ignore"):
        a = (np.random.default_rng(len(shape)).random(shape) * scale).astype(dtype)
    try:
        p = to_pixels(a, channels)
    except PixelError as e:
        assert isinstance(e, ValueError) and "\n" not in str(e) and str(e)
        return
    assert p.dtype == np.uint8 and p.shape[:2] == a.shape[:2]
    assert p.shape == (a.shape[:2] if channels == 1 else (*a.shape[:2], 3))
