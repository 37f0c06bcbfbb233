"""Faster runners for a generator, with the Translator's semantics: `runner(x) -> y` on float (N, C, H, W).

- CPU: ONNX Runtime (graph optimisations on, intra-op threads = physical cores, no spinning so a UI
  thread on the same cores is not starved), for batch norm from running statistics or from the image's
  own (exported as instance norm, exact for batch 1), dropout off. Dropout-on stays with PyTorch, whose
  seeded masks the Translator promises.
- CUDA: a copy of the net in channels-last bf16 (fp16 where bf16 is missing), replayed through a CUDA
  graph per input shape (or torch.compile), cudnn autotuning on. Reduced precision changes the output
  slightly; `tolerance` says by how much we accept.

`make_runner(net, device, backend, bn_stats)` returns a runner or None (None: run the net itself);
`checked_runner` also checks it once against the net. Whoever runs the net keeps the runners it built.
"""

from __future__ import annotations

import copy
import os
import threading
from collections import OrderedDict

import torch
from torch import nn

from .errors import SketchpadError

BACKENDS = ("auto", "torch", "onnx")


class BackendError(SketchpadError):
    """A backend asked for by name is not available here."""


def physical_cores() -> int:
    """Physical CPU cores this process may use (hyper-threads do not help convolutions)."""
    try:
        allowed = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        allowed = os.cpu_count() or 1
    cores = None
    try:
        import psutil

        cores = psutil.cpu_count(logical=False)
    except Exception:  # psutil missing or unable to tell
        try:
            with open("/proc/cpuinfo") as f:
                pairs, phys = set(), None
                for line in f:
                    if line.startswith("physical id"):
                        phys = line.split(":")[1].strip()
                    elif line.startswith("core id"):
                        pairs.add((phys, line.split(":")[1].strip()))
                cores = len(pairs) or None
        except OSError:
            pass
    return max(1, min(cores or allowed, allowed))


def onnxruntime_available() -> bool:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


class OnnxRunner:
    """The generator through ONNX Runtime on the CPU; weights copied at construction."""

    tolerance = 1e-3

    def __init__(
        self, net: nn.Module, *, bn_stats: str = "running", threads: int | None = None, spin: bool = False
    ):
        import onnxruntime as ort

        from .export import onnx_model

        self.bn_stats = bn_stats
        self.threads = threads or physical_cores()
        weights: dict = {}
        model = onnx_model(net, bn_stats=bn_stats, external=weights)
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.intra_op_num_threads = self.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Spinning workers shave a little latency but burn the cores the UI and the pen need between runs.
        so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        self._arrays = weights  # onnxruntime reads these in place; keep them alive
        names = list(weights)
        so.add_external_initializers(names, [ort.OrtValue.ortvalue_from_numpy(weights[n]) for n in names])
        self.session = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        self.name = f"onnxruntime {ort.__version__} ({self.threads} threads)"

    def supports(self, x: torch.Tensor) -> bool:
        return x.device.type == "cpu" and (self.bn_stats == "running" or x.shape[0] == 1)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        a = x.detach().float().contiguous().numpy()
        return torch.from_numpy(self.session.run(["output"], {"input": a})[0])


class CudaRunner:
    """The generator on CUDA: channels-last, reduced precision, a CUDA graph per input shape (or
    torch.compile). Falls back to plain eager (still channels-last, reduced precision) if capture fails."""

    MAX_GRAPHS = 4  # shapes kept; a drawing rarely changes size

    def __init__(
        self, net: nn.Module, device: torch.device, *, dtype: torch.dtype | None = None, mode="graphs"
    ):
        if device.type != "cuda":
            raise BackendError("the CUDA runner needs a CUDA device")
        if mode not in ("graphs", "compile", "eager"):
            raise ValueError("mode must be graphs, compile or eager")
        if dtype is None:
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.device, self.dtype, self.mode = device, dtype, mode
        self.tolerance = 1e-3 if dtype == torch.float32 else 6e-2
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cudnn pick the fastest algorithms
        # A private copy: the Translator's own net stays fp32 NCHW for the torch paths.
        self.net = copy.deepcopy(net).to(device=device, dtype=dtype, memory_format=torch.channels_last)
        self.net.eval()  # callers ask for the running-statistics, dropout-off mode only
        self.net.requires_grad_(False)
        self._fn = self.net
        if mode == "compile":
            self._fn = torch.compile(self.net, mode="max-autotune-no-cudagraphs", fullgraph=True)
        self._graphs: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self.name = f"cuda {mode} {str(dtype).removeprefix('torch.')} channels-last"

    def supports(self, x: torch.Tensor) -> bool:
        return x.device.type == "cuda"

    def _capture(self, shape: tuple[int, ...]):
        static_x = torch.zeros(shape, device=self.device, dtype=self.dtype).contiguous(
            memory_format=torch.channels_last
        )
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side), torch.no_grad():
            for _ in range(3):  # warm-up outside the graph: cudnn autotuning, lazy allocations
                self._fn(static_x)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph), torch.no_grad():
            static_y = self._fn(static_x)
        return graph, static_x, static_y

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        xin = x.to(self.device, self.dtype, non_blocking=True).contiguous(memory_format=torch.channels_last)
        if self.mode != "graphs":
            return self._fn(xin).float().contiguous()
        shape = tuple(xin.shape)
        with self._lock:  # a graph's static buffers are shared state
            entry = self._graphs.get(shape)
            if entry is None:
                try:
                    entry = self._capture(shape)
                except RuntimeError:  # capture unsupported here: stay eager from now on
                    self.mode = "eager"
                    self.name = self.name.replace("graphs", "eager")
                    return self._fn(xin).float().contiguous()
                self._graphs[shape] = entry
                while len(self._graphs) > self.MAX_GRAPHS:
                    self._graphs.popitem(last=False)
            self._graphs.move_to_end(shape)
            graph, static_x, static_y = entry
            static_x.copy_(xin)
            graph.replay()
            return static_y.to(torch.float32, copy=True)  # the next replay must not overwrite it


def make_runner(net: nn.Module, device: torch.device, backend: str = "auto", bn_stats: str = "running"):
    """The fastest runner for `net` on `device` in mode `bn_stats` with dropout off, or None for PyTorch.

    backend "torch": None. "onnx": ONNX Runtime (CPU only), BackendError if it is not installed.
    "auto": ONNX Runtime on the CPU when installed, the CUDA runner (running statistics) on CUDA."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}")
    if backend == "torch":
        return None
    if backend == "onnx":
        if not onnxruntime_available():
            raise BackendError("the onnx backend needs onnxruntime and onnx (pip install 'sketchpad[onnx]')")
        if device.type != "cpu":
            raise BackendError(f"the onnx backend runs on the CPU, not {device.type}")
        return OnnxRunner(net, bn_stats=bn_stats)
    if device.type == "cpu":
        return OnnxRunner(net, bn_stats=bn_stats) if onnxruntime_available() else None
    if device.type == "cuda" and bn_stats == "running":
        return CudaRunner(net, device)
    return None


def checked_runner(
    net: nn.Module, device: torch.device, backend: str, bn_stats: str, x: torch.Tensor
) -> tuple[object | None, torch.Tensor | None, str]:
    """Build the runner for `net` in mode `bn_stats` (dropout off) and check it once against the net on
    the first input `x`: (runner, or None for PyTorch; that first output, or None if nothing ran; why
    PyTorch was chosen, or ''). A runner that disagrees with the net beyond its tolerance, or fails to
    build under "auto", gives None and its reason; under "onnx" a failure is a BackendError."""
    try:
        runner = make_runner(net, device, backend, bn_stats)
        if runner is None or not runner.supports(x):
            return runner, None, ""
        first = runner(x)
        ref = net(x)
        diff = float((first.to(ref.device, ref.dtype) - ref).abs().max())
        if not diff <= runner.tolerance:
            return None, ref, f"{runner.name} differs by {diff:.2g}; using PyTorch"
        return runner, first, ""
    except BackendError:
        raise
    except Exception as e:  # an unusual net or runtime: PyTorch always works
        if backend != "auto":
            raise BackendError(f"the {backend} backend failed: {e}") from None
        return None, None, f"fast backend unavailable ({type(e).__name__}); using PyTorch"
