"""The FCN-score segmenter trained by `sketchpad train --model segmenter`: the run writes a file
`load_segmenter` reads, its val event reports pixel and class accuracy, --resume continues exactly, and
`sketchpad export --role segmenter` writes the file to ship."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from models.checkpoint import read_header, save_checkpoint
from models.generator import GeneratorConfig, build_generator
from models.palette import FACADES, colors, label_indices
from models.segmenter import FORMAT, load_segmenter
from models.train.segmenter import jitter, label_targets
from sketchpad.cli import main
from tests.train_data import make_facades, make_pairs

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SEG = ["--model", "segmenter", "--ngf", "4", "--num-downs", "5", "--load-size", "72", "--crop-size", "64",
       "--batch-size", "2", "--num-workers", "0", "--sample-every", "0", "--epochs", "1", "--epochs-decay", "1"]  # fmt: skip


def events(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def pixels(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def one_line_error(capsys, argv) -> str:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    assert code != 0
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def facades(tmp_path):
    return make_facades(tmp_path / "facades")


def test_training_writes_a_segmenter_and_resume_continues_exactly(tmp_path, facades):
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert main(["train", "--data", str(facades), "--out", str(straight), *SEG]) == 0
    assert main(["train", "--data", str(facades), "--out", str(split), *SEG, "--max-iters", "2"]) == 0

    # the first session: one epoch (2 iterations of 2 photos), its val event, a segmenter file
    first = events(split)
    assert json.loads((split / "options.json").read_text())["direction"] == "BtoA"  # the label side first
    val = [e for e in first if e["event"] == "val"]
    assert len(val) == 1 and 0 <= val[0]["pixel_acc"] <= 1 and 0 <= val[0]["class_acc"] <= 1
    assert "l1" not in val[0] and "psnr" not in val[0]
    header = read_header(split / "latest.safetensors")
    assert header["format"] == FORMAT and header["role"] == "segmenter" and header["model"] == "segmenter"
    assert header["training"]["commands"][0].startswith("sketchpad train --model segmenter")
    assert header["metrics"]["val"] == {k: val[0][k] for k in ("pixel_acc", "class_acc")}
    seg = load_segmenter(split / "latest.safetensors")
    assert seg.palette == FACADES and seg.net.cfg.output_nc == len(FACADES)
    photo = pixels(facades / "val" / "0.png")[:, :64]
    assert seg.predict(photo).shape == (64, 64)

    # the second: picks up at iteration 3 and ends where the uninterrupted run ended, bit for bit
    assert main(["train", "--resume", str(split), "--max-iters", "4"]) == 0
    second = events(split)[len(first) :]
    assert second[0]["event"] == "start" and second[0]["resumed"] is True and second[0]["iter"] == 2
    assert [e["iter"] for e in second if e["event"] == "step"] == [3, 4]
    a = load_segmenter(straight / "latest.safetensors").net.state_dict()
    b = load_segmenter(split / "latest.safetensors").net.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [e["pixel_acc"] for e in events(straight) if e["event"] == "val"] == [
        e["pixel_acc"] for e in events(split) if e["event"] == "val"
    ]
    assert len(read_header(split / "latest.safetensors")["training"]["commands"]) == 2


def test_export_role_segmenter_writes_the_file_to_ship(tmp_path, facades, capsys):
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--data",
                str(facades),
                "--out",
                str(run),
                *SEG,
                "--max-iters",
                "1",
                "--sample-every",
                "1",
            ]
        )
        == 0
    )
    sample = next(e for e in events(run) if e["event"] == "sample")  # photo | predicted | true label map
    assert pixels(sample["path"]).shape == (2 * 64 + 2, 3 * 64 + 2 * 2, 3)
    out = tmp_path / "facades-seg.safetensors"
    argv = ["export", run / "latest.safetensors", "--fp16", "-o", out, "--name", "facades-seg"]
    assert main([str(a) for a in [*argv, "--role", "segmenter", "--licence", "CMP"]]) == 0
    assert "segmenter unet_32" in capsys.readouterr().out
    header = read_header(out)
    assert header["format"] == FORMAT and header["role"] == "segmenter" and header["name"] == "facades-seg"
    assert header["licence"] == "CMP" and header["exported"]["fp16"] is True
    assert header["training"]["commands"] == read_header(run / "latest.safetensors")["training"]["commands"]
    from safetensors.torch import load_file

    assert {v.dtype for v in load_file(out).values() if v.is_floating_point()} == {torch.float16}
    photo = pixels(facades / "val" / "1.png")[:, :64]
    assert load_segmenter(out).predict(photo).shape == (64, 64)

    again = tmp_path / "again.safetensors"
    assert "--role segmenter" in one_line_error(capsys, [*argv[:4], again, "--role", "full"])
    assert "drop --metrics" in one_line_error(capsys, [*argv[:4], again, "--metrics", tmp_path / "e.json"])
    gen = save_checkpoint(tmp_path / "g.safetensors", build_generator(GeneratorConfig(ngf=4, num_downs=5)))
    assert "not a segmenter" in one_line_error(capsys, ["export", gen, "-o", again, "--role", "segmenter"])


def test_options_a_segmenter_has_no_use_for_are_refused_in_one_line(tmp_path, facades, capsys):
    base = ["train", "--data", facades, "--out", tmp_path / "r", *SEG]
    assert "drop --ndf" in one_line_error(capsys, [*base, "--ndf", "8"])
    assert "drop --gan-mode" in one_line_error(capsys, [*base, "--gan-mode", "lsgan"])
    assert "--teacher" in one_line_error(capsys, [*base, "--teacher", tmp_path / "t.safetensors"])
    assert "U-Net" in one_line_error(capsys, [*base, "--netG", "resnet_6blocks", "--num-downs", "0"])
    noise = make_pairs(tmp_path / "noise", size=64)
    assert "label maps" in one_line_error(capsys, ["train", "--data", noise, "--out", tmp_path / "r2", *SEG])
    assert not (tmp_path / "r").exists() and not (tmp_path / "r2" / "options.json").exists()


def test_targets_are_the_palette_indices_and_jitter_stays_in_range():
    rng = np.random.default_rng(1)
    maps = colors(FACADES)[rng.integers(0, len(FACADES), (2, 16, 16))]  # (2, 16, 16, 3)
    x = torch.from_numpy(maps).permute(0, 3, 1, 2).float() / 127.5 - 1
    want = np.stack([label_indices(m, FACADES) for m in maps])
    assert torch.equal(label_targets(x), torch.from_numpy(want))
    photos = torch.rand(3, 3, 8, 8) * 2 - 1
    assert torch.allclose(jitter(photos, 0.0), photos, atol=1e-6)
    moved = jitter(photos)
    assert moved.min() >= -1 and moved.max() <= 1 and not torch.allclose(moved, photos)
