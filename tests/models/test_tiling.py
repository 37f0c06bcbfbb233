"""Large drawings: translated in overlapping tiles whose size, not the image's, bounds the memory; the tiled
result matches the whole-image one; nets that normalise by the whole image are never tiled (refused above
their limit instead); an impossible --fit resize size and running out of memory are one line each."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from models import inference
from models.checkpoint import save_checkpoint
from models.errors import ImageError
from models.generator import GeneratorConfig, build_generator
from models.inference import (
    Translator,
    TranslatorError,
    blend_weights,
    bytes_per_pixel,
    tile_plan,
    tile_starts,
)
from sketchpad.cli import main as cli_main

REPO = Path(__file__).resolve().parents[2]


def net_file(path: Path, meta=None, **cfg) -> Path:
    torch.manual_seed(0)
    net = build_generator(GeneratorConfig(**cfg), init_type="kaiming")
    return save_checkpoint(path, net, meta or {})


def drawing(h: int, w: int, seed: int = 0) -> np.ndarray:
    """White paper with coloured rectangles of many sizes: edges everywhere, flat areas too."""
    rng = np.random.default_rng(seed)
    a = np.full((h, w, 3), 255, np.uint8)
    for _ in range(h * w // 8000):
        y, x = rng.integers(0, h), rng.integers(0, w)
        a[y : y + rng.integers(2, 80), x : x + rng.integers(2, 80)] = rng.integers(0, 256, 3)
    return a


@pytest.mark.parametrize(
    "n,tile,overlap", [(1000, 544, 256), (544, 544, 256), (2048, 576, 256), (800, 640, 64)]
)
def test_tiles_cover_with_the_overlap_and_weights_blend(n, tile, overlap):
    starts = tile_starts(n, tile, overlap)
    assert starts[0] == 0 and starts[-1] + tile == n
    for a, b in zip(starts, starts[1:], strict=False):
        assert a < b and a + tile - b >= overlap  # neighbours share at least the overlap
    weights = blend_weights(starts, tile)
    total = np.zeros(n, np.float32)
    for s, w in zip(starts, weights, strict=True):
        total[s : s + tile] += w
        assert w.min() >= 0 and w.max() == 1
    assert total.min() > 0.99  # every pixel fully weighted: no dark or bright band at a seam


def test_tile_plan_follows_the_width_and_the_grid():
    small, wide = GeneratorConfig(num_downs=7, ngf=24), GeneratorConfig(num_downs=8, ngf=64)
    for cfg in (small, wide, GeneratorConfig(arch="resnet", ngf=64)):
        side, overlap = tile_plan(cfg)
        assert side % cfg.multiple == 0 and overlap % cfg.multiple == 0 and side >= 2 * overlap
        assert side * side * bytes_per_pixel(cfg) <= inference.TILE_BYTES  # the budget holds
    assert tile_plan(small)[0] > tile_plan(wide)[0]  # a wider net gets smaller tiles


@pytest.mark.parametrize(
    "cfg,tolerance",
    [
        (dict(num_downs=5, ngf=4), (1, 0.01)),  # the field of view fits in the overlap: exact
        (dict(num_downs=6, ngf=8), (8, 0.1)),  # measured: max 4, mean 0.017 grey levels
        (dict(num_downs=5, ngf=4, input_nc=1, output_nc=1), (1, 0.01)),
    ],
)
def test_tiled_result_matches_the_whole_image(tmp_path, one_torch_thread, cfg, tolerance):
    p = net_file(tmp_path / "g.safetensors", **cfg)
    whole = Translator(p, device="cpu")
    tiled = Translator(p, device="cpu", tile=2 * whole.overlap + whole.config.multiple)
    img = drawing(700, 820)
    a = whole(img)
    b = tiled(img)
    assert a.shape == b.shape == ((700, 820, 3) if cfg.get("output_nc", 3) == 3 else (700, 820))
    d = np.abs(a.astype(int) - b.astype(int))
    assert d.max() <= tolerance[0] and d.mean() <= tolerance[1], (d.max(), d.mean())


def test_the_net_never_sees_more_than_a_tile(tmp_path, one_torch_thread):
    p = net_file(tmp_path / "g.safetensors", num_downs=5, ngf=4)
    t = Translator(p, device="cpu", tile=544)
    seen = []
    forward = t._forward

    def spy(x, *a):
        seen.append(tuple(x.shape[-2:]))
        return forward(x, *a)

    t._forward = spy
    out = t(drawing(300, 2000))  # a long strip: one row of tiles
    assert out.shape == (300, 2000, 3)
    assert len(seen) == len(tile_starts(2016, 544, 256)) and all(h * w <= 544 * 544 for h, w in seen)


def test_per_image_statistics_run_whole_or_are_refused(tmp_path, one_torch_thread, monkeypatch):
    p = net_file(tmp_path / "in.safetensors", num_downs=5, ngf=4, norm="instance")
    whole = Translator(p, device="cpu")
    tiled = Translator(p, device="cpu", tile=544)
    img = drawing(700, 820)
    assert np.array_equal(whole(img), tiled(img))  # never tiled: each tile would have its own statistics
    q = net_file(tmp_path / "bn.safetensors", num_downs=5, ngf=4)
    bn = Translator(q, device="cpu", tile=544)
    assert np.array_equal(bn(img, bn_stats="image"), Translator(q, device="cpu")(img, bn_stats="image"))
    monkeypatch.setattr(inference, "WHOLE_BYTES", 704 * 832 * bytes_per_pixel(tiled.config) - 1)
    with pytest.raises(ImageError, match="cannot run in tiles; at most") as e:
        tiled(img)
    assert "\n" not in str(e.value)
    assert bn(img).shape == (700, 820, 3)  # running statistics: tiled, not refused


def test_fit_resize_to_a_huge_header_size_is_refused(tmp_path, capsys):
    p = net_file(tmp_path / "g.safetensors", {"size": 8192, "name": "huge"}, num_downs=5, ngf=4)
    with pytest.raises(TranslatorError, match="8192"):
        Translator(p, device="cpu", fit="resize")
    assert Translator(p, device="cpu").fit == "pad"  # padding never blows a drawing up
    src = tmp_path / "small.png"
    from PIL import Image

    Image.fromarray(drawing(40, 30)).save(src)
    rc = cli_main(["translate", str(p), str(src), "-o", str(tmp_path / "o.png"), "--fit", "resize"])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "8192" in err, err
    assert not (tmp_path / "o.png").exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc/self/status")
def test_out_of_memory_is_one_line_from_the_cli(tmp_path):
    """A real allocator failure: the process may map only 200 MB more than its imports took, and one tile
    of a wide net needs more."""
    script = textwrap.dedent(
        f"""
        import resource, sys
        import numpy as np, torch
        from PIL import Image
        from models.checkpoint import save_checkpoint
        from models.generator import GeneratorConfig, build_generator
        import sketchpad.cli.translate
        from sketchpad.cli import main
        torch.set_num_threads(1)
        net = build_generator(GeneratorConfig(num_downs=5, ngf=64))
        p = save_checkpoint({str(tmp_path / "wide.safetensors")!r}, net)
        Image.fromarray(np.full((1400, 1400, 3), 200, np.uint8)).save({str(tmp_path / "big.png")!r})
        vm = int([ln for ln in open("/proc/self/status") if ln.startswith("VmSize")][0].split()[1]) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (vm + 200 * 2**20, resource.RLIM_INFINITY))
        sys.exit(main(["translate", str(p), {str(tmp_path / "big.png")!r}, "-o", {str(tmp_path / "o.png")!r}]))
        """
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    r = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 2, r.stderr[-2000:]
    assert r.stderr.strip() == (
        "sketchpad: error: not enough memory on cpu to translate a 1400x1400 image with unet_32 ngf 64"
    )
    assert not (tmp_path / "o.png").exists()
