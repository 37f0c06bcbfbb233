"""ONNX export: the graph built from the module tree computes what PyTorch computes, in both batch-norm
modes, at sizes other than the one it was made at."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from models.export import ExportError, export_onnx, max_abs_diff_onnx, onnx_model, torch_reference
from models.generator import build_generator, config_for

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")


def _net(name: str, **kw) -> nn.Module:
    torch.manual_seed(0)
    net = build_generator(config_for(name, **kw))
    for m in net.modules():  # trained-looking statistics, so running and image modes differ
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    return net.eval()


@pytest.mark.parametrize(
    ("name", "kw", "size"),
    [
        ("unet_128", dict(ngf=4), (128, 256)),
        ("unet_128", dict(ngf=4, norm="instance"), 128),
        ("resnet_6blocks", dict(ngf=4), (40, 56)),
        ("resnet_6blocks", dict(ngf=4, norm="batch", padding_type="zero", dropout=True), 32),
        ("unet_128", dict(ngf=4, upsample="blur"), (128, 256)),
        ("resnet_6blocks", dict(ngf=4, upsample="blur"), (40, 56)),
    ],
)
@pytest.mark.parametrize("bn_stats", ["running", "image"])
def test_onnx_matches_torch(name, kw, size, bn_stats):
    net = _net(name, **kw)
    data = onnx_model(net, bn_stats=bn_stats).SerializeToString()
    assert max_abs_diff_onnx(data, net, size, bn_stats) < 1e-4


@pytest.mark.parametrize("upsample", ["transpose", "blur"])
def test_transposed_convs_as_phase_convs_are_the_same_arithmetic(upsample):
    net = _net("unet_128", ngf=4, upsample=upsample)
    native = onnx_model(net).SerializeToString()
    phases = onnx_model(net, phases=True).SerializeToString()
    assert b"DepthToSpace" in phases and b"DepthToSpace" not in native
    assert max_abs_diff_onnx(phases, net, (128, 256), "running") < 1e-4


def test_modes_differ_and_net_modes_are_left_alone():
    net = _net("unet_128", ngf=4)
    x = torch.rand(1, 3, 128, 128) * 2 - 1
    net.train()
    running, image = torch_reference(net, x, "running"), torch_reference(net, x, "image")
    assert (running - image).abs().max() > 1e-3  # the two modes are really different computations
    assert net.training  # and the net is back in the mode it was in
    assert all(m.track_running_stats for m in net.modules() if isinstance(m, nn.BatchNorm2d))


def test_one_export_runs_at_several_sizes(tmp_path):
    net = _net("unet_128", ngf=4)
    path = tmp_path / "g.onnx"
    diff = export_onnx(net, path, verify_size=128)
    assert diff is not None and diff < 1e-4
    onnx.checker.check_model(str(path))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for h, w in [(128, 128), (256, 128), (128, 384)]:
        x = torch.rand(1, 3, h, w) * 2 - 1
        y = sess.run(None, {"input": x.numpy()})[0]
        assert y.shape == (1, 3, h, w)
        np.testing.assert_allclose(y, torch_reference(net, x).numpy(), atol=1e-4)


def test_external_weights_leave_the_proto_small():
    net = _net("unet_128", ngf=8)
    weights: dict = {}
    small = onnx_model(net, external=weights).ByteSize()
    full = onnx_model(net).ByteSize()
    assert sum(a.nbytes for a in weights.values()) > 0.9 * full
    assert small < 0.05 * full


def test_unsupported_layer_is_one_clear_error(tmp_path):
    net = _net("resnet_6blocks", ngf=4)
    net.model.append(nn.GELU())
    with pytest.raises(ExportError, match="unsupported layer GELU"):
        export_onnx(net, tmp_path / "g.onnx")
    assert not (tmp_path / "g.onnx").exists()


def test_a_mismatch_is_refused_and_nothing_written(tmp_path):
    net = _net("unet_128", ngf=4)
    with pytest.raises(ExportError, match="differs from PyTorch"):
        export_onnx(net, tmp_path / "g.onnx", verify_size=128, tol=-1.0)
    assert not (tmp_path / "g.onnx").exists()
