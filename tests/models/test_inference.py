"""The inference API: any size in, same size out; batch-norm and dropout modes; seeds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

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
