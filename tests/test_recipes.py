"""tools/recipes.py, the shipped weights' recipes: every stage prints a `sketchpad train` line that parses
back to its options and the `sketchpad export` line of the shipped file; the segmenter stage trains the
FCN-score judge."""

from __future__ import annotations

import importlib.util
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from sketchpad.cli import build_parser
from sketchpad.cli.train import options_from_args

TOOL = Path(__file__).resolve().parent.parent / "tools" / "recipes.py"


@pytest.fixture(scope="module")
def recipes():
    spec = importlib.util.spec_from_file_location("recipes", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules["recipes"] = module  # its dataclasses look their module up while being made
    spec.loader.exec_module(module)
    yield module
    del sys.modules["recipes"]


def parse_train(line: str):
    argv = shlex.split(line)
    assert argv[:2] == ["sketchpad", "train"]
    return options_from_args(build_parser().parse_args(argv[1:]))


@pytest.mark.parametrize("task,stage", [("facades", "full"), ("faces", "live"), ("facades", "segmenter")])
def test_every_stage_prints_a_train_line_that_makes_its_options(recipes, task, stage):
    over = {"teacher": "t.safetensors"} if stage == "live" else {}
    opts = recipes.train_options(task, stage, data_root="data", out="RUN", **over)
    assert parse_train(recipes.render_command(opts)) == opts


def test_the_segmenter_stage(recipes):
    opts = recipes.train_options("facades", "segmenter", data_root="data", out="RUN", pretrained="w.whl")
    assert (opts.model, opts.name, opts.netG, opts.ngf, opts.batch_size, opts.pretrained) == (
        "segmenter",
        "facades-seg",
        "mobilenetv2",
        32,
        8,
        "w.whl",
    )
    assert (opts.load_size, opts.crop_size, opts.lr, opts.beta1) == (286, 256, 5e-4, 0.9)
    from models.segmenter import SegmenterConfig, segmenter_from_config

    net = segmenter_from_config(SegmenterConfig(output_nc=12, ngf=opts.ngf))
    assert sum(p.numel() for p in net.parameters()) * 2 <= 16 * 2**20  # its fp16 file fits the 16 MB limit
    export = shlex.split(
        recipes.export_command("facades", "segmenter", "RUN", "weights/facades-seg.safetensors")
    )
    assert export[:6] == [
        "sketchpad",
        "export",
        "RUN/latest.safetensors",
        "--fp16",
        "-o",
        "weights/facades-seg.safetensors",
    ]
    assert export[export.index("--role") + 1] == "segmenter" and "--metrics" not in export
    with pytest.raises(ValueError, match="no label maps"):
        recipes.train_options("shoes", "segmenter", data_root="data", out="RUN")


def test_the_fix_stages_go_on_at_the_resolution_the_file_runs_at(recipes):
    full = recipes.train_options("faces", "full", data_root="data", out="RUN")
    fix = recipes.train_options(
        "faces", "full-fix", data_root="data", out="FIX", init="RUN/latest.safetensors"
    )
    assert (fix.load_size, fix.crop_size, fix.lr, fix.init) == (256, 256, 1e-4, "RUN/latest.safetensors")
    assert (fix.ngf, fix.ndf, fix.name, fix.input_nc) == (full.ngf, full.ndf, "faces", 1)
    assert parse_train(recipes.render_command(fix)) == fix
    live = recipes.train_options("faces", "live-fix", data_root="data", out="L", init="i", teacher="FIX/t")
    assert (live.name, live.ngf, live.load_size, live.teacher) == ("faces-live", 16, 256, "FIX/t")
    export = shlex.split(recipes.export_command("faces", "live-fix", "L", "weights/faces-live.safetensors"))
    assert export[export.index("--role") + 1] == "live" and export[export.index("--name") + 1] == "faces-live"


def test_the_blur_stages_turn_a_finished_file_into_blur_upsampling(recipes):
    fix = recipes.train_options("shoes", "full-fix", data_root="data", out="FIX", init="RUN/g.safetensors")
    blur = recipes.train_options("shoes", "full-blur", data_root="data", out="B", init="FIX/g.safetensors")
    assert (blur.upsample, blur.load_size, blur.crop_size, blur.lr) == ("blur", 256, 256, 5e-5)
    assert (blur.ngf, blur.ndf, blur.name, blur.init, fix.upsample) == (
        fix.ngf,
        fix.ndf,
        "shoes",
        "FIX/g.safetensors",
        "",
    )
    line = recipes.render_command(blur)
    assert "--upsample blur" in line and parse_train(line) == blur
    live = recipes.train_options("shoes", "live-blur", data_root="data", out="L", init="i", teacher="B/t")
    assert (live.name, live.ngf, live.upsample, live.teacher) == ("shoes-live", 16, "blur", "B/t")
    export = shlex.split(recipes.export_command("shoes", "live-blur", "L", "weights/shoes-live.safetensors"))
    assert export[export.index("--role") + 1] == "live" and export[export.index("--name") + 1] == "shoes-live"


def test_the_script_asks_for_init_with_the_fix_and_blur_stages_only(tmp_path):
    def run(*args):
        p = subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True, timeout=120)
        return p.returncode, p.stdout, p.stderr

    rc, out, _ = run("shoes", "full-fix", "--out", "F", "--init", "R/latest.safetensors")
    assert rc == 0 and "--init R/latest.safetensors" in out and "--load-size 256" in out
    assert run("shoes", "full-fix", "--out", "F")[0] == 2
    assert run("shoes", "full", "--out", "F", "--init", "x")[0] == 2
    rc, _, err = run("shoes", "live-fix", "--out", "F", "--init", "x")
    assert rc == 2 and "--teacher" in err
    rc, out, _ = run("shoes", "full-blur", "--out", "B", "--init", "F/latest.safetensors")
    assert rc == 0 and "--upsample blur" in out and "--init F/latest.safetensors" in out
    assert run("shoes", "full-blur", "--out", "B")[0] == 2


def test_it_runs_as_a_script_from_the_clone(tmp_path, recipes):
    run = [sys.executable, str(TOOL), "facades", "segmenter", "--out", str(tmp_path / "run")]
    p = subprocess.run(run, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    train, export = p.stdout.splitlines()
    assert train.startswith("sketchpad train --model segmenter --data ../shared/data/facades")
    assert f"--pretrained {recipes.WHEEL}" in train
    assert "--role segmenter" in export
    p = subprocess.run(
        [*run[:2], "faces", "segmenter", "--out", "r"], capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 2 and "no label maps" in p.stderr
