"""evaluate() and `sketchpad eval` on small datasets made here, with tiny real models."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from models.checkpoint import save_checkpoint
from models.evaluate import evaluate, fcn_scores, mean_photo, val_strip
from models.generator import GeneratorConfig, build_generator
from models.inference import Translator
from models.metrics import grid, l1, psnr, ssim
from models.palette import FACADES, colors, label_indices
from models.segmenter import build_segmenter, load_segmenter, save_segmenter
from sketchpad.cli import main as cli

S = 32


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def read(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def label_map(rng) -> np.ndarray:
    c = colors(FACADES)
    a = np.empty((S, S, 3), np.uint8)
    a[:] = c[1]
    for _ in range(3):
        y, x, h, w = rng.integers(0, S - 8, 4) // 1
        a[y : y + 4 + h % 8, x : x + 4 + w % 8] = c[rng.integers(0, 12)]
    return a


@pytest.fixture
def facades_like(tmp_path):
    """Aligned pairs photo | labels (so BtoA), train photos flat grey of known values."""
    rng = np.random.default_rng(0)
    root = tmp_path / "fac"
    for split, n in (("train", 4), ("val", 3)):
        (root / split).mkdir(parents=True)
        for i in range(n):
            photo = (
                np.full((S, S, 3), 40 * (i + 1), np.uint8)
                if split == "train"
                else rng.integers(0, 256, (S, S, 3), dtype=np.uint8)
            )
            Image.fromarray(np.concatenate([photo, label_map(rng)], 1)).save(root / split / f"{i}.png")
    return root


@pytest.fixture
def labels_ckpt(tmp_path):
    torch_seed = 0
    import torch

    torch.manual_seed(torch_seed)
    net = build_generator(GeneratorConfig(ngf=4, num_downs=5))
    meta = {
        "name": "tiny",
        "input_kind": "labels",
        "direction": "BtoA",
        "palette": [[n, list(c)] for n, c in FACADES],
    }
    return save_checkpoint(tmp_path / "tiny.safetensors", net, meta)


@pytest.fixture
def segmenter_file(tmp_path):
    return save_segmenter(
        tmp_path / "seg.safetensors", build_segmenter(12, ngf=4, num_downs=5), {"name": "seg"}
    )


def test_metrics_equal_the_translator_outputs_scored_by_hand(facades_like, labels_ckpt):
    r = evaluate(labels_ckpt, facades_like, "val")
    assert r["n"] == 3 and r["direction"] == "BtoA" and r["input_kind"] == "labels"
    t = Translator(labels_ckpt, device="cpu")
    outs, targets = [], []
    for i in range(3):
        ab = read(facades_like / "val" / f"{i}.png")
        outs.append(t(ab[:, S:]))
        targets.append(ab[:, :S])
    assert r["l1"] == pytest.approx(np.mean([l1(o, g) for o, g in zip(outs, targets, strict=True)]))
    assert r["psnr"] == pytest.approx(np.mean([psnr(o, g) for o, g in zip(outs, targets, strict=True)]))
    assert r["ssim"] == pytest.approx(np.mean([ssim(o, g) for o, g in zip(outs, targets, strict=True)]))
    assert r["grid"] == pytest.approx(np.mean([grid(o) for o in outs]))
    assert r["grid_real"] == pytest.approx(np.mean([grid(g) for g in targets]))
    assert r["fid"] is None and "Inception" in r["fid_note"]
    assert r["fcn_pixel_acc"] is None and r["fcn_note"]  # no segmenter given


def test_fcn_scores_for_label_models_and_real_photos(facades_like, labels_ckpt, segmenter_file):
    r = evaluate(labels_ckpt, facades_like, "val", segmenter=segmenter_file, limit=2)
    assert r["n"] == 2
    for k in ("fcn_pixel_acc", "fcn_class_acc", "fcn_miou"):
        assert 0.0 <= r[k] <= 1.0 and 0.0 <= r[k + "_real"] <= 1.0


def test_fcn_scores_are_perfect_for_a_segmenter_that_recovers_the_labels():
    rng = np.random.default_rng(3)
    maps = [label_map(rng) for _ in range(2)]

    class Oracle:
        def predict(self, photo):
            return label_indices(photo, FACADES)  # the "photo" here is the label map itself

    s = fcn_scores(Oracle(), maps, maps, FACADES)
    assert s == {"pixel_acc": 1.0, "class_acc": 1.0, "miou": 1.0}

    class Wrong:
        def predict(self, photo):
            return np.full(photo.shape[:2], 11)  # 'shop' everywhere; the maps hold none

    assert fcn_scores(Wrong(), maps, maps, FACADES)["pixel_acc"] == 0.0


def test_mean_photo_baseline_by_hand(facades_like, labels_ckpt):
    mean = mean_photo(facades_like, direction="BtoA")
    assert np.all(mean == 100)  # train photos 40, 80, 120, 160
    r = evaluate(labels_ckpt, facades_like, "val", baseline=True)
    targets = [read(facades_like / "val" / f"{i}.png")[:, :S] for i in range(3)]
    want = np.mean([np.abs(t / 255.0 - 100 / 255.0).mean() for t in targets])
    assert r["baseline_mean_photo"]["l1"] == pytest.approx(want)


def test_baseline_gives_the_judges_floor_mean_photo_and_majority_class(
    facades_like, labels_ckpt, segmenter_file
):
    r = evaluate(labels_ckpt, facades_like, "val", segmenter=segmenter_file, baseline=True)
    maps = [read(facades_like / "val" / f"{i}.png")[:, S:] for i in range(3)]
    idx = np.concatenate([label_indices(m, FACADES).ravel() for m in maps])
    counts = np.bincount(idx, minlength=len(FACADES))
    m = r["baseline_majority_class"]
    assert m["class"] == FACADES[int(counts.argmax())][0]
    assert m["pixel_acc"] == pytest.approx(counts.max() / counts.sum())
    mean = mean_photo(facades_like, direction="BtoA")
    seg = load_segmenter(segmenter_file)
    want = fcn_scores(seg, [mean] * 3, maps, FACADES)
    assert r["baseline_mean_photo"]["fcn_pixel_acc"] == pytest.approx(want["pixel_acc"])
    assert r["baseline_mean_photo"]["fcn_miou"] == pytest.approx(want["miou"])
    assert r["fcn_ratio"] == pytest.approx(r["fcn_pixel_acc"] / r["fcn_pixel_acc_real"])
    # without a judge the majority class is still given, the mean photo's FCN-score is not
    r = evaluate(labels_ckpt, facades_like, "val", baseline=True)
    assert r["baseline_majority_class"] == m and "fcn_pixel_acc" not in r["baseline_mean_photo"]


def test_cli_text_names_the_judges_floor(facades_like, labels_ckpt, segmenter_file, capsys):
    argv = ["eval", str(labels_ckpt), "--data", str(facades_like), "--baseline", "--segmenter"]
    assert cli([*argv, str(segmenter_file)]) == 0
    out = capsys.readouterr().out
    assert "mean photo" in out.split("FCN pixel acc")[1].splitlines()[0]
    assert "FCN ratio" in out and "majority class" in out


@pytest.fixture
def paired_faces(tmp_path):
    """Paired folders without a val split: grayscale sketches in A, colour photos in B (20 x 24 px)."""
    rng = np.random.default_rng(1)
    root = tmp_path / "faces"
    (root / "train" / "A").mkdir(parents=True)
    (root / "train" / "B").mkdir(parents=True)
    for i in range(20):
        Image.fromarray(rng.integers(0, 256, (24, 20), dtype=np.uint8), "L").save(
            root / "train" / "A" / f"p{i:02d}.png"
        )
        Image.fromarray(rng.integers(0, 256, (24, 20, 3), dtype=np.uint8)).save(
            root / "train" / "B" / f"p{i:02d}.png"
        )
    return root


def test_val_is_the_held_out_train_pairs_for_sets_without_val(paired_faces, tmp_path):
    net = build_generator(GeneratorConfig(input_nc=1, ngf=4, num_downs=5))
    ck = save_checkpoint(tmp_path / "g.safetensors", net, {"input_kind": "lineart", "direction": "AtoB"})
    # SSIM needs 11 px; these are 24x20, fine.
    r = evaluate(ck, paired_faces, "val")
    assert r["n"] == 15 and r["holdout"] == 15
    r = evaluate(ck, paired_faces, "val", holdout=4, baseline=True)
    assert r["n"] == 4 and "baseline_mean_photo" in r


def test_cli_json_prints_one_object(facades_like, labels_ckpt, segmenter_file, capsys):
    rc = cli(
        [
            "eval",
            str(labels_ckpt),
            "--data",
            str(facades_like),
            "--json",
            "--limit",
            "2",
            "--segmenter",
            str(segmenter_file),
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    obj = json.loads(out)  # exactly one JSON document (json.loads refuses trailing data)
    assert out.count("\n") == 1
    assert obj["n"] == 2 and {"l1", "psnr", "ssim", "fcn_miou_real", "fid"} <= obj.keys()


def test_cli_text_output(facades_like, labels_ckpt, capsys):
    assert cli(["eval", str(labels_ckpt), "--data", str(facades_like), "--baseline"]) == 0
    out = capsys.readouterr().out
    assert "L1" in out and "mean photo" in out and "FID" in out and "Grid" in out


@pytest.mark.parametrize(
    "args",
    [
        ["missing.safetensors", "--data", "{data}"],
        ["{ckpt}", "--data", "{tmp}/nowhere"],
        ["{ckpt}", "--data", "{data}", "--split", "test"],
        ["{ckpt}", "--data", "{data}", "--segmenter", "{tmp}/none.safetensors"],
        ["{ckpt}", "--data", "{data}", "--limit", "-1"],
        ["{ckpt}", "{ckpt}", "--data", "{data}"],
        ["{ckpt}", "--data", "{data}", "--n", "2"],
        ["--strip", "{tmp}/s.png", "{ckpt}", "--data", "{data}", "--json"],
        ["--strip", "{ckpt}", "{ckpt}", "--data", "{data}"],
    ],
)
def test_cli_errors_are_one_line(args, facades_like, labels_ckpt, tmp_path, capsys):
    argv = ["eval"] + [a.format(data=facades_like, ckpt=labels_ckpt, tmp=tmp_path) for a in args]
    try:
        rc = cli(argv)
    except SystemExit as e:  # refused by the argument parser (--limit -1), before anything loads
        rc = e.code
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sketchpad") and "error:" in err and "\n" not in err


def test_val_strip_rows_are_input_outputs_target(facades_like, labels_ckpt, tmp_path):
    p = val_strip([labels_ckpt, labels_ckpt], facades_like, tmp_path / "strip.png", n=2, tile=16)
    with Image.open(p) as im:
        assert im.size == (16 * 4, 16 * 2)


def test_cli_strip_is_the_val_strip(facades_like, labels_ckpt, tmp_path, capsys):
    out = tmp_path / "strips" / "strip.png"
    argv = ["eval", "--strip", str(out), str(labels_ckpt), str(labels_ckpt), "--data", str(facades_like)]
    assert cli([*argv, "--n", "2", "--tile", "16"]) == 0
    assert capsys.readouterr().out == f"{out}\n"
    same = val_strip([labels_ckpt, labels_ckpt], facades_like, tmp_path / "lib.png", n=2, tile=16)
    with Image.open(out) as a, Image.open(same) as b:
        assert a.size == (16 * 4, 16 * 2)
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert cli(argv[:4] + argv[5:]) == 0  # one checkpoint, the default rows and tiles
    with Image.open(out) as a:
        assert a.size == (128 * 3, 128 * 3)  # input | output | target, a row for each of the 3 val pairs


def test_cli_warns_once_when_the_data_is_of_another_kind(facades_like, labels_ckpt, tmp_path, capsys):
    import torch

    torch.manual_seed(0)
    net = build_generator(GeneratorConfig(ngf=4, num_downs=5))
    meta = {"name": "sketcher", "input_kind": "lineart", "direction": "BtoA"}
    lineart = save_checkpoint(tmp_path / "sketcher.safetensors", net, meta)
    assert cli(["eval", str(lineart), "--data", str(facades_like), "--json"]) == 0
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sketchpad: warning: sketcher was trained on line art")
    assert "looks like label maps" in lines[0]
    assert json.loads(captured.out)["n"] == 3  # the scores still come, on stdout
    assert cli(["eval", str(labels_ckpt), "--data", str(facades_like), "--json"]) == 0
    assert capsys.readouterr().err == ""  # the right kind: no warning
