"""`sketchpad bench`, `convert` and `export` run end to end on tiny nets; no timing is asserted. The bench's
training step is the trainer's own."""

from __future__ import annotations

import json
import math

import pytest
import torch

from models.checkpoint import load_checkpoint, save_checkpoint
from models.generator import build_generator, config_for
from models.train.pix2pix import Pix2Pix
from sketchpad.benchmark import TrainStep, our_amp
from sketchpad.cli import main

pytest.importorskip("onnxruntime")

KEYS = {
    "baseline_ms",
    "full_ms",
    "full_max_abs_diff",
    "live_ms",
    "train_baseline_img_s",
    "train_img_s",
    "device",
    "torch",
    "threads",
    "first_result_ms",
}
TINY = ["--runs", "3", "--size", "64", "--ngf", "8", "--live-ngf", "4", "--warmup", "1", "--threads", "1"]


def test_bench_json_has_every_key(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["bench", "--json", *TINY, "--train-steps", "1", "--out", str(out)]) == 0
    r = json.loads(capsys.readouterr().out)
    assert KEYS <= set(r)
    assert r == json.loads(out.read_text())
    for k in ("baseline_ms", "full_ms", "live_ms"):
        assert r[k]["runs"] == 3 and 0 < r[k]["p50"] <= r[k]["p95"]
    assert r["full_max_abs_diff"] < 1e-3  # fp32 on the CPU
    assert r["full_backend"] in r["full_candidates"]
    assert r["train_img_s"] > 0 and r["train_baseline_img_s"] > 0 and r["train_losses_finite"]
    assert r["threads"] >= 1 and r["torch"] == torch.__version__


def test_bench_table_and_a_given_model(tmp_path, capsys):
    net = build_generator(config_for("unet_128", ngf=4, num_downs=6))
    path = save_checkpoint(tmp_path / "mine.safetensors", net, {"name": "mine"})
    assert main(["bench", *TINY, "--no-train", "--model", str(path)]) == 0
    text = capsys.readouterr().out
    assert "baseline (eager fp32)" in text and "mine.safetensors" in text and "live (" in text


def test_the_training_step_is_the_trainers_and_learns():
    kw = dict(ngf=4, num_downs=5, size=32)
    step, again = TrainStep(**kw), TrainStep(**kw)
    assert isinstance(step.model, Pix2Pix)
    g0 = [p.detach().clone() for p in step.model.G.parameters()]
    step()
    again()
    # Same seed, same nets and batch: the same first losses; the weights moved.
    assert set(step.losses) == {"G_GAN", "G_L1", "D_real", "D_fake"}
    assert step.losses == pytest.approx(again.losses, rel=1e-4)
    assert all(math.isfinite(v) for v in step.losses.values())
    assert any((p - q).abs().max() > 0 for p, q in zip(step.model.G.parameters(), g0, strict=True))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_our_training_step_on_cuda_runs_with_amp():
    step = TrainStep("cuda", amp=our_amp("cuda"), ngf=8, num_downs=5, size=32)
    assert step.model.amp_dtype in (torch.bfloat16, torch.float16)
    for _ in range(3):
        step()
    assert all(math.isfinite(v) for v in step.losses.values())


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--size", "100", "--ngf", "4"], "not a multiple"),
        (["--live-model", "nowhere.safetensors"], "no such live checkpoint"),
        (["--runs", "0"], "--runs"),
    ],
)
def test_bench_user_errors_are_one_line(argv, message, capsys):
    assert main(["bench", "--no-train", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_convert_reference_pth_then_export_onnx(tmp_path, capsys):
    torch.manual_seed(0)
    net = build_generator(config_for("unet_256", ngf=4))
    ref = tmp_path / "latest_net_G.pth"
    torch.save(net.state_dict(), ref)
    dst = tmp_path / "facades.safetensors"
    argv = [
        "convert",
        str(ref),
        str(dst),
        "--input-kind",
        "labels",
        "--name",
        "Facades",
        "--direction",
        "BtoA",
    ]
    assert main(argv) == 0
    ck = load_checkpoint(dst)
    assert ck.meta["name"] == "Facades" and ck.input_kind == "labels" and len(ck.palette) == 12
    assert ck.meta["direction"] == "BtoA" and ck.config.ngf == 4
    x = torch.rand(1, 3, 256, 256)
    with torch.no_grad():
        torch.testing.assert_close(ck.net.eval()(x), net.eval()(x))

    onnx_path = tmp_path / "facades.onnx"
    assert main(["export", str(dst), "--onnx", str(onnx_path)]) == 0
    assert "max |ONNX - PyTorch|" in capsys.readouterr().out
    assert onnx_path.stat().st_size > 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["convert", "missing.pth", "out.safetensors"], "no such checkpoint"),
        (["convert", "missing.pth", "out.pt"], "must end in .safetensors"),
        (["export", "missing.safetensors", "--onnx", "x.onnx"], "no such checkpoint"),
        (["export", "missing.safetensors", "--onnx", "x.txt"], "must end in .onnx"),
    ],
)
def test_convert_export_errors_are_one_line(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_export_size_must_fit_the_net(tmp_path, capsys):
    path = save_checkpoint(tmp_path / "g.safetensors", build_generator(config_for("unet_128", ngf=4)))
    assert main(["export", str(path), "--onnx", str(tmp_path / "g.onnx"), "--size", "100"]) == 2
    assert "multiple of 128" in capsys.readouterr().err


@pytest.mark.gui
def test_app_bench_draws_real_strokes_and_reports(qapp):
    from sketchpad.bench_app import run_app_bench

    r = run_app_bench(3, ngf=8, live_ngf=4, points=6, point_ms=5)
    assert r["strokes"] == 3 and r["missed_strokes"] == 0
    assert r["latency_ms"]["n"] == 3 and r["full_latency_ms"]["n"] == 3
    assert r["shown"]["full"] >= 3  # each stroke ended in a refined picture
    assert r["ui_ticks"] > 0 and r["ui_stall_max_ms"] is not None
    assert r["max_pending_seen"] <= 1
