"""ONNX export of our generators, built straight from the module tree (no tracing), with dynamic H and W.

Walking the known layers (U-Net and ResNet blocks, conv, transposed conv, norms, activations, pads) makes
the graph in milliseconds, needs neither TorchScript nor onnxscript, and lets us choose the batch-norm
mode: `bn_stats="running"` is the eval net; `bn_stats="image"` normalises by the image's own statistics,
which for batch 1 is exactly instance normalisation with the batch norm's scale and shift (the reference
test script without --eval). Dropout is left out (off); dropout-on stays a PyTorch job because its
random masks must follow torch's seeds.

    from models.export import export_onnx
    export_onnx(net, "facades.onnx")          # verified against torch, raises ExportError on a mismatch
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .errors import SketchpadError
from .generator import BlurConvTranspose2d, ResnetBlock, ResnetGenerator, UnetBlock, UnetGenerator
from .modes import BN_STATS, in_modes

OPSET = 17  # onnxruntime >= 1.12 runs it; every op we emit has been stable since opset 11-14
IR_VERSION = 8


class ExportError(SketchpadError):
    """The net cannot be exported, or the exported graph does not match PyTorch."""


class _Unsupported(Exception):
    pass


@dataclass
class _Graph:
    """Nodes and weights being collected; names are unique by a counter."""

    nodes: list
    inits: list
    external: dict | None = None  # name -> array, when weights are handed to the runtime in memory
    phases: bool = False  # stride-2 transposed convs as four small convs (see _up2_as_convs)
    n: int = 0

    def name(self, hint: str) -> str:
        self.n += 1
        return f"{hint}_{self.n}"

    def const(self, a: np.ndarray, hint: str) -> str:
        from onnx import TensorProto, numpy_helper

        name = self.name(hint)
        a = np.ascontiguousarray(a)
        if self.external is None or a.dtype != np.float32:
            self.inits.append(numpy_helper.from_array(a, name))
            return name
        # A placeholder that says "external data"; onnxruntime takes the array itself from memory, which
        # spares copying 200 MB of weights through protobuf twice.
        t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=a.shape)
        t.data_location = TensorProto.EXTERNAL
        for k, v in (("location", "in-memory"), ("offset", "0"), ("length", str(a.nbytes))):
            t.external_data.add(key=k, value=v)
        self.inits.append(t)
        self.external[name] = a
        return name

    def node(self, op: str, inputs: list[str], **attrs) -> str:
        from onnx import helper

        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out


def _np(t: torch.Tensor | None) -> np.ndarray | None:
    # A copy: a runtime that reads the array in place must not see later training steps.
    return None if t is None else t.detach().to("cpu", torch.float32).clone().numpy()


def _is_up2(m: nn.ConvTranspose2d) -> bool:
    return (
        tuple(m.kernel_size) == (4, 4)
        and tuple(m.stride) == (2, 2)
        and tuple(m.padding) == (1, 1)
        and tuple(m.output_padding) == (0, 0)
        and tuple(m.dilation) == (1, 1)
        and m.groups == 1
    )


# Output row 2i+a of a 4x4 stride-2 pad-1 transposed conv reads input rows (i-1, i) through kernel rows
# (3, 1) when a = 0, and rows (i, i+1) through kernel rows (2, 0) when a = 1; columns alike.
_PHASE_TAPS = ([3, 1], [2, 0])


def _up2_as_convs(m: nn.ConvTranspose2d, x: str, g: _Graph) -> str:
    """The U-Net's transposed conv as four 2x2 convs, one per output phase, interleaved by DepthToSpace:
    the same arithmetic, in a form onnxruntime runs much faster than its ConvTranspose."""
    w = _np(m.weight)  # (C_in, C_out, 4, 4)
    outs = []
    for a in (0, 1):
        for b in (0, 1):
            k = w[:, :, _PHASE_TAPS[a], :][:, :, :, _PHASE_TAPS[b]].transpose(
                1, 0, 2, 3
            )  # (C_out, C_in, 2, 2)
            ins = [x, g.const(np.ascontiguousarray(k), "w")]
            if m.bias is not None:
                ins.append(g.const(_np(m.bias), "b"))
            outs.append(g.node("Conv", ins, kernel_shape=[2, 2], pads=[1 - a, 1 - b, a, b]))
    return g.node("DepthToSpace", [g.node("Concat", outs, axis=1)], blocksize=2, mode="DCR")


def _emit_transposed(m: nn.ConvTranspose2d, x: str, g: _Graph) -> str:
    if g.phases and _is_up2(m):
        return _up2_as_convs(m, x, g)
    ins = [x, g.const(_np(m.weight), "w")]
    if m.bias is not None:
        ins.append(g.const(_np(m.bias), "b"))
    ph, pw = m.padding
    return g.node(
        "ConvTranspose",
        ins,
        kernel_shape=list(m.kernel_size),
        strides=list(m.stride),
        pads=[ph, pw, ph, pw],
        output_padding=list(m.output_padding),
        dilations=list(m.dilation),
        group=m.groups,
    )


def _blur(m: BlurConvTranspose2d, x: str, g: _Graph) -> str:
    """BlurConvTranspose2d's filter after its transposed conv: a reflect pad and a depthwise 3x3 conv."""
    c = m.out_channels
    t = np.array(m.TAPS, np.float32)
    k = np.ascontiguousarray(np.broadcast_to(np.outer(t, t), (c, 1, 3, 3)))
    pads = g.const(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads")
    y = g.node("Pad", [x, pads], mode="reflect")
    return g.node("Conv", [y, g.const(k, "blur")], kernel_shape=[3, 3], pads=[0, 0, 0, 0], group=c)


def _emit(m: nn.Module, x: str, g: _Graph, bn_stats: str) -> str:
    """Append the ONNX nodes of module `m` applied to tensor `x`; returns the output's name."""
    if isinstance(m, UnetGenerator | ResnetGenerator):
        return _emit(m.model, x, g, bn_stats)
    if isinstance(m, UnetBlock):
        y = _emit(m.model, x, g, bn_stats)
        return y if m.outermost else g.node("Concat", [x, y], axis=1)  # the skip connection
    if isinstance(m, ResnetBlock):
        return g.node("Add", [x, _emit(m.conv_block, x, g, bn_stats)])
    if isinstance(m, nn.Sequential):
        for sub in m:
            x = _emit(sub, x, g, bn_stats)
        return x
    if isinstance(m, nn.Conv2d):
        if m.padding_mode != "zeros" or isinstance(m.padding, str):
            raise _Unsupported(f"Conv2d padding {m.padding!r}/{m.padding_mode}")
        ins = [x, g.const(_np(m.weight), "w")]
        if m.bias is not None:
            ins.append(g.const(_np(m.bias), "b"))
        ph, pw = m.padding
        return g.node(
            "Conv",
            ins,
            kernel_shape=list(m.kernel_size),
            strides=list(m.stride),
            pads=[ph, pw, ph, pw],
            dilations=list(m.dilation),
            group=m.groups,
        )
    if isinstance(m, BlurConvTranspose2d):
        return _blur(m, _emit_transposed(m, x, g), g)
    if isinstance(m, nn.ConvTranspose2d):
        return _emit_transposed(m, x, g)
    if isinstance(m, nn.BatchNorm2d):
        c = m.num_features
        scale = _np(m.weight) if m.weight is not None else np.ones(c, np.float32)
        shift = _np(m.bias) if m.bias is not None else np.zeros(c, np.float32)
        s, b = g.const(scale, "bn_scale"), g.const(shift, "bn_shift")
        if bn_stats == "image" or m.running_mean is None:
            # Batch statistics of a batch of one = per-channel statistics of the image (biased variance).
            return g.node("InstanceNormalization", [x, s, b], epsilon=float(m.eps))
        mean, var = g.const(_np(m.running_mean), "bn_mean"), g.const(_np(m.running_var), "bn_var")
        return g.node("BatchNormalization", [x, s, b, mean, var], epsilon=float(m.eps))
    if isinstance(m, nn.InstanceNorm2d):
        if m.track_running_stats:
            raise _Unsupported("InstanceNorm2d with running statistics")
        c = m.num_features
        scale = _np(m.weight) if m.affine else np.ones(c, np.float32)
        shift = _np(m.bias) if m.affine else np.zeros(c, np.float32)
        return g.node(
            "InstanceNormalization",
            [x, g.const(scale, "in_scale"), g.const(shift, "in_shift")],
            epsilon=float(m.eps),
        )
    if isinstance(m, nn.LeakyReLU):
        return g.node("LeakyRelu", [x], alpha=float(m.negative_slope))
    if isinstance(m, nn.ReLU):
        return g.node("Relu", [x])
    if isinstance(m, nn.Tanh):
        return g.node("Tanh", [x])
    if isinstance(m, nn.Dropout | nn.Identity):
        return x  # dropout off: the identity
    if isinstance(m, nn.ReflectionPad2d | nn.ReplicationPad2d):
        left, right, top, bottom = m.padding
        pads = g.const(np.array([0, 0, top, left, 0, 0, bottom, right], np.int64), "pads")
        mode = "reflect" if isinstance(m, nn.ReflectionPad2d) else "edge"
        return g.node("Pad", [x, pads], mode=mode)
    raise _Unsupported(type(m).__name__)


def onnx_model(
    net: nn.Module,
    *,
    bn_stats: str = "running",
    input_nc: int | None = None,
    external: dict | None = None,
    phases: bool = False,
):
    """The `onnx.ModelProto` of generator `net` (input 'input' (1|N, C, H, W) -> 'output'), H and W dynamic.
    With `external` (a dict), float weights are left out of the proto and put there by name, for
    `SessionOptions.add_external_initializers`."""
    from onnx import TensorProto, helper

    if bn_stats not in BN_STATS:
        raise ValueError("bn_stats must be 'running' or 'image'")
    cfg = getattr(net, "cfg", None)
    input_nc = input_nc or (cfg.input_nc if cfg else 3)
    output_nc = cfg.output_nc if cfg else 3
    g = _Graph(nodes=[], inits=[], external=external, phases=phases)
    try:
        out = _emit(net, "input", g, bn_stats)
    except _Unsupported as e:
        raise ExportError(f"cannot export a {type(net).__name__} to ONNX: unsupported layer {e}") from None
    g.nodes.append(helper.make_node("Identity", [out], ["output"], name="output"))
    dims_in = ["batch", input_nc, "height", "width"]
    dims_out = ["batch", output_nc, "height", "width"]
    graph = helper.make_graph(
        g.nodes,
        "sketchpad_generator",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, dims_in)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, dims_out)],
        initializer=g.inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="sketchpad",
        doc_string=f"{cfg.name if cfg else 'generator'} ngf {cfg.ngf if cfg else '?'}, bn_stats={bn_stats}",
    )
    model.ir_version = IR_VERSION
    return model


def torch_reference(net: nn.Module, x: torch.Tensor, bn_stats: str = "running") -> torch.Tensor:
    """`net(x)` in the mode the export is made for (dropout off), leaving the net's modes as they were."""
    with in_modes(net, bn_stats=bn_stats):
        return net(x.to(next(net.parameters()).device)).float().cpu()


def max_abs_diff_onnx(
    model_bytes: bytes, net: nn.Module, size: int | tuple[int, int], bn_stats: str
) -> float:
    """Largest |ONNX Runtime - PyTorch| over one random input of `size`."""
    import onnxruntime as ort

    h, w = (size, size) if isinstance(size, int) else size
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, net.cfg.input_nc, h, w, generator=gen) * 2 - 1
    sess = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    y = sess.run(None, {"input": x.numpy()})[0]
    return float(np.abs(y - torch_reference(net, x, bn_stats).numpy()).max())


def export_onnx(
    net: nn.Module,
    path: str | os.PathLike,
    *,
    bn_stats: str = "running",
    verify_size: int | tuple[int, int] | None = 256,
    tol: float = 1e-4,
) -> float | None:
    """Write `net` as ONNX to `path` (atomically) and, unless verify_size is None, check ONNX Runtime's
    output against PyTorch's; returns the max abs difference. Raises ExportError on a mismatch."""
    from .checkpoint import atomic_write

    model = onnx_model(net, bn_stats=bn_stats)
    data = model.SerializeToString()
    diff = None
    if verify_size is not None:
        diff = max_abs_diff_onnx(data, net, verify_size, bn_stats)
        if not diff <= tol:
            raise ExportError(f"the ONNX graph differs from PyTorch by {diff:.2g} (tolerance {tol:g})")
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
    return diff
