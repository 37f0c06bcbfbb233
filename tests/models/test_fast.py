"""Fast backends keep the Translator's semantics: same pictures (to rounding) in both batch-norm modes,
PyTorch's exact seeded result for dropout on, PyTorch again wherever the fast path cannot be trusted."""

from __future__ import annotations

import copy
import os

import numpy as np
import pytest
import torch
from torch import nn

from models import fast
from models.checkpoint import Checkpoint
from models.generator import build_generator, config_for
from models.inference import Translator

pytest.importorskip("onnxruntime")


def _checkpoint(name="unet_128", ngf=4, **kw) -> Checkpoint:
    torch.manual_seed(1)
    net = build_generator(config_for(name, ngf=ngf, **kw))
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    return Checkpoint(net=net.eval(), config=net.cfg)


def _pair(**kw) -> tuple[Translator, Translator]:
    ck = _checkpoint()
    ck2 = Checkpoint(net=copy.deepcopy(ck.net), config=ck.config)
    return Translator(ck, device="cpu", **kw), Translator(ck2, device="cpu", backend="auto", **kw)


def _drawing(h=150, w=200, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("bn_stats", ["running", "image"])
def test_auto_backend_gives_the_same_picture(bn_stats):
    ref, quick = _pair(bn_stats=bn_stats)
    img = _drawing()  # not a multiple of 128: padded, run, cropped back
    a, b = ref(img), quick(img)
    assert quick.runner_name.startswith("onnxruntime")
    assert a.shape == b.shape == img.shape
    assert np.abs(a.astype(int) - b).max() <= 1  # fp32 rounding may move a pixel by one level
    assert (a != b).mean() < 0.01
    # A second image reuses the runner and still agrees.
    img2 = _drawing(seed=1)
    assert np.abs(ref(img2).astype(int) - quick(img2)).max() <= 1


def test_dropout_on_is_pytorch_exactly_with_its_seed():
    ref, quick = _pair(dropout=True, seed=5)
    img = _drawing(128, 128)
    np.testing.assert_array_equal(ref(img), quick(img))
    assert quick.runner_name == "torch"
    # and the fast path comes back when dropout goes off
    quick(img, dropout=False)
    assert quick.runner_name.startswith("onnxruntime")


def test_torch_backend_never_builds_a_runner(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("no runner for backend=torch")

    monkeypatch.setattr(fast, "make_runner", boom)
    t = Translator(_checkpoint(), device="cpu")
    t(_drawing(128, 128))
    assert t.runner_name == "torch" and t._runners == {}


def test_a_runner_that_disagrees_is_dropped_for_pytorch(monkeypatch):
    monkeypatch.setattr(fast.OnnxRunner, "tolerance", -1.0)
    ref, quick = _pair()
    img = _drawing(128, 128)
    np.testing.assert_array_equal(ref(img), quick(img))
    assert quick.runner_name == "torch"
    assert "differs" in quick.runner_note
    np.testing.assert_array_equal(ref(img), quick(img))  # and stays dropped


def test_onnx_backend_without_onnxruntime_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(fast, "onnxruntime_available", lambda: False)
    t = Translator(_checkpoint(), device="cpu", backend="onnx")
    with pytest.raises(fast.BackendError, match="onnxruntime"):
        t(_drawing(128, 128))
    # "auto" quietly uses PyTorch instead
    t = Translator(_checkpoint(), device="cpu", backend="auto")
    t(_drawing(128, 128))
    assert t.runner_name == "torch"


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="backend"):
        Translator(_checkpoint(), device="cpu", backend="tensorrt")


def test_runner_copies_the_weights():
    ck = _checkpoint()
    runner = fast.OnnxRunner(ck.net)
    x = torch.rand(1, 3, 128, 128) * 2 - 1
    before = runner(x)
    with torch.no_grad():
        for p in ck.net.parameters():
            p.add_(1.0)  # a training step on the live net must not leak into a built session
    torch.testing.assert_close(runner(x), before)


def test_physical_cores_is_sane():
    n = fast.physical_cores()
    assert 1 <= n <= (os.cpu_count() or 1)
    assert fast.OnnxRunner(_checkpoint().net).threads == n


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.gpu
@cuda
@pytest.mark.parametrize("mode", ["graphs", "eager"])
def test_cuda_runner_matches_fp32_within_reduced_precision(mode):
    net = _checkpoint("unet_256", 8).net.cuda()
    runner = fast.CudaRunner(net, torch.device("cuda"), mode=mode)
    for h, w in [(256, 256), (256, 512), (256, 256)]:  # a new shape captures a new graph; the old is reused
        x = torch.rand(1, 3, h, w, device="cuda") * 2 - 1
        with torch.no_grad():
            ref = net(x)
        y = runner(x)
        assert y.dtype == torch.float32 and y.shape == ref.shape
        assert (y - ref).abs().max() < runner.tolerance
        y2 = runner(x * 0)  # a replay must not overwrite a result already returned
        assert not torch.equal(y, y2)


@pytest.mark.gpu
@cuda
def test_translator_auto_on_cuda_uses_the_cuda_runner():
    t = Translator(_checkpoint("unet_256", 8), device="cuda", backend="auto")
    ref = Translator(_checkpoint("unet_256", 8), device="cuda")
    img = _drawing(256, 256)
    a, b = ref(img), t(img)
    assert t.runner_name.startswith("cuda")
    assert np.abs(a.astype(int) - b).max() <= 8  # bf16/fp16: a few levels at most
