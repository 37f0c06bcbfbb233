"""The `sketchpad train` command lines in every checkpoint header: rendered from the options, they parse
back (through the real argument parser) to the same options; a resumed run lists its resumes; a run made
by older code gets its line from options.json; `sketchpad export -o --fp16` keeps them in the shipped file
with the training time, device, teacher and val metrics."""

from __future__ import annotations

import json
import shlex
from dataclasses import fields

import pytest
import torch
from safetensors import safe_open

from models.checkpoint import read_header, save_checkpoint
from models.errors import SketchpadError
from models.generator import GeneratorConfig, build_generator
from models.train import TrainOptions, make_options
from models.train.common import command_args, option_flag, render_command, render_resume
from sketchpad.cli import build_parser, main
from sketchpad.cli.train import options_from_args, options_from_argv
from tests.train_data import make_pairs

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = ["--ngf", "4", "--ndf", "4", "--num-downs", "5", "--load-size", "36", "--crop-size", "32",
        "--num-workers", "0", "--epochs", "1", "--epochs-decay", "1"]  # fmt: skip


def parse(line: str) -> TrainOptions:
    argv = shlex.split(line)
    assert argv[:2] == ["sketchpad", "train"]
    return options_from_args(build_parser().parse_args(argv[1:]))


CASES = [
    dict(model="pix2pix"),
    dict(
        model="pix2pix",
        data="../shared/data/facades",
        out="runs/a b",
        direction="BtoA",
        ngf=16,
        ndf=32,
        teacher="/work/runs/facades/latest.safetensors",
        lambda_teacher=50.0,
        lambda_feat=0.5,
        lr=1e-5,
        no_flip=True,
        sketch_augment=True,
        seed=2**63 - 1,
        sample_every=0,
        max_iters=7,
        input_nc=1,
        input_kind="lineart",
        name="x'y",
        holdout=15,
        init_gain=0.03,
    ),  # fmt: skip
    dict(
        model="pix2pix",
        netG="resnet_6blocks",
        norm="instance",
        gan_mode="wgangp",
        netD="n_layers",
        n_layers_D=4,
        batch_size=4,
        preprocess="scale_width_and_crop",
        amp="bf16",
        device="cuda:1",
    ),  # fmt: skip
    dict(model="cyclegan", data="d", out="r", crop_size=128, load_size=143, netG="resnet_9blocks"),
    dict(model="cyclegan", data="d", out="r", crop_size=128, load_size=143),
    dict(model="dcgan", data="d", out="r", crop_size=32, load_size=64, nz=64),
    dict(model="dcgan", data="d", out="r", crop_size=32),
]


@pytest.mark.parametrize("given", CASES)
def test_rendered_command_parses_back_to_the_same_options(given):
    opts = make_options(**given)
    line = render_command(opts)
    assert parse(line) == opts, line
    assert render_command(parse(line)) == line  # stable
    assert options_from_argv(command_args(opts)) == opts  # the app's reading of the same arguments


def test_the_apps_options_read_typed_arguments_over_its_own_and_refuse_instead_of_exiting():
    opts = options_from_argv(
        ["--ngf", "8", "--model", "cyclegan"], model="pix2pix", data="d", ngf=16, lr=1e-4
    )
    assert (opts.model, opts.ngf, opts.lr, opts.netG) == ("cyclegan", 8, 1e-4, "resnet_9blocks")
    assert options_from_argv([], model="dcgan", data="d").load_size == 64  # the model's own defaults
    for argv, message in (
        (["--no-such-option"], "unrecognized arguments"),
        (["--ngf", "x"], "invalid int value"),
        (["--resume", "r"], "--resume continues a run"),
        (["--crop-size", "33"], "does not fit a U-Net"),
    ):
        with pytest.raises(SketchpadError, match=message):
            options_from_argv(argv, data="d")


def test_every_option_has_its_flag():
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    flags = {s for a in train._actions for s in a.option_strings}
    assert {option_flag(f.name) for f in fields(TrainOptions)} <= flags
    assert render_resume("runs/a b", {"max_iters": 9, "device": "cpu"}) == (
        "sketchpad train --resume 'runs/a b' --device cpu --max-iters 9"
    )


def test_headers_carry_the_commands_time_and_device_and_export_keeps_them(tmp_path, capsys):
    data = make_pairs(tmp_path / "d", n_val=2)
    teacher = save_checkpoint(
        tmp_path / "teacher.safetensors",
        build_generator(GeneratorConfig(ngf=8, num_downs=5)),
        {"name": "big", "role": "full", "training": {"commands": ["sketchpad train --model pix2pix"]}},
    )
    run = tmp_path / "run"
    create = ["train", "--data", data, "--out", run, *TINY, "--teacher", teacher, "--max-iters", "2"]
    assert main([str(a) for a in create]) == 0
    assert main(["train", "--resume", str(run), "--max-iters", "3"]) == 0
    h = read_header(run / "latest.safetensors")
    commands = h["training"]["commands"]
    assert len(commands) == 2 and commands[1] == f"sketchpad train --resume {run} --max-iters 3"
    assert parse(commands[0]) == options_from_args(build_parser().parse_args([str(a) for a in create]))
    assert h["training"]["seconds"] > 0 and h["training"]["device"].startswith("cpu (")
    assert h["teacher"]["file"] == "teacher.safetensors" and h["teacher"]["commands"]
    state = torch.load(run / "latest_state.pt", weights_only=True)
    assert state["commands"] == commands and round(state["seconds"], 3) == h["training"]["seconds"]

    capsys.readouterr()
    assert main(["eval", str(run / "latest.safetensors"), "--data", str(data), "--json"]) == 0
    (tmp_path / "eval.json").write_text(capsys.readouterr().out)
    shipped = tmp_path / "weights" / "x-live.safetensors"
    argv = ["export", str(run / "latest.safetensors"), "--fp16", "-o", str(shipped), "--name", "x-live",
            "--role", "live", "--metrics", str(tmp_path / "eval.json"), "--licence", "CC0"]  # fmt: skip
    assert main(argv) == 0
    out = read_header(shipped)
    assert out["name"] == "x-live" and out["role"] == "live" and out["licence"] == "CC0"
    assert out["training"]["commands"] == commands and out["training"]["seconds"] == h["training"]["seconds"]
    assert out["teacher"] == h["teacher"] and out["metrics"]["split"] == "val" and "l1" in out["metrics"]
    with safe_open(str(shipped), "pt") as f:
        assert all(f.get_tensor(k).dtype in (torch.float16, torch.int64) for k in f.keys())


def test_export_refuses_bad_arguments_in_one_line(tmp_path, capsys):
    ckpt = save_checkpoint(tmp_path / "g.safetensors", build_generator(GeneratorConfig(ngf=4, num_downs=5)))
    (tmp_path / "bad.json").write_text("{nope")
    (tmp_path / "nol1.json").write_text('{"psnr": 3}')
    cases = [
        (["-o", str(ckpt)], "the output is an input"),
        (["-o", str(tmp_path / "x.pt")], "must end in .safetensors"),
        (["-o", str(tmp_path / "x.safetensors"), "--metrics", str(tmp_path / "bad.json")], "not JSON"),
        (["-o", str(tmp_path / "x.safetensors"), "--metrics", str(tmp_path / "nol1.json")], "no 'l1'"),
        (["-o", str(tmp_path / "x.safetensors"), "--metrics", str(tmp_path / "missing.json")], "cannot read"),
        ([], "give one of --onnx"),
        (["--onnx", str(tmp_path / "x.onnx"), "--fp16"], "--fp16 goes with -o"),
        (["-o", str(tmp_path / "x.safetensors"), "--role", "teacher"], "invalid choice"),
    ]
    for extra, message in cases:
        try:
            code = main(["export", str(ckpt), *extra])
        except SystemExit as e:
            code = e.code
        err = capsys.readouterr().err
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (extra, err)
    assert not (tmp_path / "x.safetensors").exists()


def test_a_run_made_by_older_code_gets_its_command_from_options_json(tmp_path):
    from models.train import Trainer

    data = make_pairs(tmp_path / "d", n_val=2)
    run = tmp_path / "run"
    opts = make_options("pix2pix", data=str(data), out=str(run), ngf=4, ndf=4, num_downs=5, load_size=36,
                        crop_size=32, num_workers=0, max_iters=2)  # fmt: skip
    Trainer.create(opts, progress=False).run()
    state = torch.load(run / "latest_state.pt", weights_only=True)
    for key in ("commands", "seconds", "devices"):
        del state[key]
    torch.save(state, run / "latest_state.pt")
    t = Trainer.resume(run, progress=False, overrides={"max_iters": 3})
    t.run()
    commands = read_header(run / "latest.safetensors")["training"]["commands"]
    saved = TrainOptions.from_dict(json.loads((run / "options.json").read_text()))
    assert len(commands) == 2 and commands[1].startswith("sketchpad train --resume")
    first = parse(commands[0])
    assert (first.ngf, first.data, first.max_iters, first.out) == (4, str(data), 2, str(run))
    assert first.input_nc == saved.input_nc == 3  # what the run resolved is spelled out
