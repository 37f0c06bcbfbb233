"""The training recipe without Qt: what kind of drawings a dataset on disk holds, whether a model to start
from fits it, the choices "Start from" offers, and the trainer options the panel's settings make."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from models.checkpoint import save_checkpoint
from models.dataset_make import add_pair
from models.errors import DataError
from models.generator import GeneratorConfig, build_generator
from models.palette import FACADES, colors
from sketchpad import models_list, paths
from sketchpad.cli import UsageError
from sketchpad.training_recipe import (
    SCRATCH,
    DataKind,
    PanelSettings,
    check_and_detect,
    cpu_epochs,
    dataset_problems,
    detect_data_kind,
    effective_holdout,
    fit_problem,
    fmt_eta,
    init_header,
    kind_switch,
    make_request,
    model_name,
    report_text,
    start_choices,
    start_path,
    suggest_start,
)


def lineart_pairs(root, n=4, size=32, rgb_sketch=False):
    """(gray sketch, colour photo) pairs as paired folders, the sketch single-channel unless asked."""
    rng = np.random.default_rng(0)
    for i in range(n):
        a = np.full((size, size), 255, np.uint8)
        a[8:24, 12] = 0
        b = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
        add_pair(root, np.stack([a] * 3, -1) if rgb_sketch else a, b, name=f"p{i}")
    return root


def facades_like(root, n=4, size=32):
    """Side-by-side pairs as the facades set stores them: the photo on the left (A), labels right (B)."""
    rng = np.random.default_rng(1)
    pal = colors(FACADES)
    (root / "train").mkdir(parents=True)
    for i in range(n):
        photo = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
        labels = pal[rng.integers(0, len(pal), (size // 8, size // 8))].repeat(8, 0).repeat(8, 1)
        Image.fromarray(np.concatenate([photo, labels], 1)).save(root / "train" / f"{i}.png")
    return root


def photo_pairs(root, n=4, size=32):
    rng = np.random.default_rng(2)
    for i in range(n):
        add_pair(
            root,
            rng.integers(0, 255, (size, size, 3), dtype=np.uint8),
            rng.integers(0, 255, (size, size, 3), dtype=np.uint8),
            name=f"p{i}",
        )
    return root


def ckpt(path, kind, input_nc=3, output_nc=3, **meta):
    net = build_generator(GeneratorConfig(num_downs=5, ngf=2, input_nc=input_nc, output_nc=output_nc))
    return str(save_checkpoint(path, net, {"input_kind": kind, "size": 64, **meta}))


def test_small_helpers():
    assert (fmt_eta(3903), fmt_eta(249), fmt_eta(7), fmt_eta(None), fmt_eta(float("nan"))) == (
        "1:05:03",
        "4:09",
        "0:07",
        "",
        "",
    )
    assert cpu_epochs(17) == 12 and cpu_epochs(0) == 12 and cpu_epochs(10_000) == 2
    assert init_header("") == {} and init_header("x.pth") == {}


def test_detects_the_kind_side_and_channels_of_real_datasets(tmp_path):
    assert detect_data_kind(lineart_pairs(tmp_path / "sketches"), "paired") == DataKind(
        "lineart", "AtoB", 1, 3
    )
    assert detect_data_kind(lineart_pairs(tmp_path / "edges", rgb_sketch=True), "paired") == DataKind(
        "lineart", "AtoB", 3, 3
    )
    facades = detect_data_kind(facades_like(tmp_path / "facades"), "aligned")
    assert (facades.kind, facades.direction) == ("labels", "BtoA")  # the labels are side B: trained BtoA
    assert detect_data_kind(photo_pairs(tmp_path / "photos"), "paired").kind == "image"
    assert detect_data_kind(tmp_path / "any", "folder").kind == "photos"
    assert detect_data_kind(tmp_path / "missing", "paired") == DataKind("")
    assert "line art (A, 1 channel)" in DataKind("lineart", "AtoB", 1, 3).text()


def test_a_start_model_must_fit_the_dataset(tmp_path):
    faces = init_header(ckpt(tmp_path / "faces.safetensors", "lineart", input_nc=1))
    facades = init_header(ckpt(tmp_path / "facades.safetensors", "labels"))
    gray_out = init_header(ckpt(tmp_path / "gray.safetensors", "lineart", output_nc=1))
    sketches = DataKind("lineart", "AtoB", 1, 3)
    assert fit_problem(sketches, faces, "faces") == ""
    assert fit_problem(DataKind("lineart", "AtoB", 3, 3), faces, "faces") == ""  # gray RGB files read as gray
    assert (
        fit_problem(sketches, facades, "facades")
        == "facades translates label maps, but this dataset's drawings are line art"
    )
    assert "paints in gray" in fit_problem(sketches, gray_out, "gray")
    assert "reads gray drawings" in fit_problem(
        DataKind("image", "AtoB", 3, 3), {**faces, "input_kind": "image"}, "x"
    )
    assert fit_problem(DataKind(""), facades, "facades") == fit_problem(sketches, {}, "scratch") == ""


def test_start_choices_and_the_offer_follow_the_models(tmp_path):
    weights = tmp_path / "weights"
    ckpt(weights / "facades.safetensors", "labels")
    ckpt(weights / "facades-live.safetensors", "labels")
    ckpt(weights / "faces.safetensors", "lineart", input_nc=1)
    ckpt(weights / "faces-live.safetensors", "lineart", input_nc=1)
    run = ckpt(paths.runs_dir() / "mine" / "latest.safetensors", "lineart", epoch=3)
    (paths.runs_dir() / "broken").mkdir()
    (paths.runs_dir() / "broken" / "latest.safetensors").write_bytes(b"")
    entries = models_list.discover(weights_dir=weights)
    choices = start_choices(entries)
    assert [label for label, _ in choices] == [
        "shipped: facades · label maps · live (fast)",
        "shipped: faces · line art · live (fast)",
        "shipped: facades · label maps · full",
        "shipped: faces · line art · full",
        "run: mine (line art) · epoch 3",
        "scratch (a new network)",
    ]
    assert (
        choices[-2][1]
        == str(paths.runs_dir().resolve() / "mine" / "latest.safetensors")
        == str(models_list.user_runs()[1].path)
        or run
    )
    faces = next(e for e in entries if e.label == "faces")
    assert start_path(faces) == str(weights.resolve() / "faces-live.safetensors")
    assert start_path(None) == start_path(models_list.builtin_entry()) == SCRATCH
    assert suggest_start(DataKind("lineart", "AtoB", 1, 3), entries) == ("faces", start_path(faces))
    assert suggest_start(DataKind("image", "AtoB", 3, 3), entries) is None
    assert model_name(run) == "mine" and model_name(SCRATCH) == "scratch"


@pytest.mark.parametrize("on_cpu", [True, False])
def test_the_request_fine_tunes_at_the_models_size_on_the_detected_side(tmp_path, on_cpu):
    init = ckpt(tmp_path / "facades-live.safetensors", "labels")
    kind = DataKind("labels", "BtoA", 3, 3)
    s = PanelSettings(data=" /data/my facades ", init=init, name="", on_cpu=on_cpu, holdout=3, data_kind=kind)
    opts = make_request(s, runs_root=tmp_path / "runs")
    assert opts.data == "/data/my facades" and opts.init == init
    assert (opts.crop_size, opts.load_size, opts.num_downs) == (64, 72, 5)
    assert (opts.direction, opts.input_kind, opts.holdout) == ("BtoA", "labels", 3)
    assert opts.name.startswith("my_facades") or opts.name.startswith("my facades")
    assert opts.ndf == (16 if on_cpu else 64) and opts.sample_every == -1  # samples: the trainer's cadence
    typed = make_request(PanelSettings(data="d", extra="--crop-size 128 --load-size 140 'unclosed"), tmp_path)
    assert typed.crop_size == 256  # an unclosed quote: all dropped
    typed = make_request(PanelSettings(data="d", extra="--direction AtoB --ngf 8", data_kind=kind), tmp_path)
    assert (typed.direction, typed.ngf) == ("AtoB", 8)  # what the user types comes last and wins
    with pytest.raises(UsageError, match="unrecognized"):
        make_request(PanelSettings(data="d", extra="--no-such-option"), tmp_path)
    with pytest.raises(DataError, match="does not fit a U-Net"):
        make_request(PanelSettings(data="d", extra="--crop-size 33"), tmp_path)


def test_the_panels_epochs_and_weight_become_the_trainers(tmp_path):
    opts = make_request(PanelSettings(data="d", epochs=5, lr=1e-4, lambda_l1=50), tmp_path)
    assert (opts.n_epochs, opts.n_epochs_decay, opts.lr, opts.lambda_L1) == (3, 2, 1e-4, 50)
    cyc = make_request(PanelSettings(data="d", model="cyclegan", lambda_l1=7, sketch_augment=True), tmp_path)
    assert (cyc.lambda_A, cyc.lambda_B, cyc.lambda_L1, cyc.sketch_augment) == (7, 7, 100, True)
    kind = DataKind("labels", "BtoA", 3, 3)
    assert (
        make_request(PanelSettings(data="d", model="cyclegan", data_kind=kind), tmp_path).direction == "AtoB"
    )


def test_why_training_cannot_start_on_a_checked_dataset(tmp_path):
    data = lineart_pairs(tmp_path / "pairs", n=8)
    (data / "train" / "B" / "p1.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    report, kind = check_and_detect(str(data))
    assert report.format == "paired" and kind == DataKind("lineart", "AtoB", 1, 3)
    assert effective_holdout(report, 3) == 2 and effective_holdout(report, 1) == 1  # a quarter at most
    assert effective_holdout(None, 3) == 0
    assert dataset_problems(report, "pix2pix", skip_bad=True) == []
    assert dataset_problems(report, "pix2pix", skip_bad=False) == [
        "1 problem files (listed above): fix them or train without them"
    ]
    assert "CycleGAN needs trainA/ and trainB/ folders" in dataset_problems(report, "cyclegan", True)
    assert dataset_problems(None, "pix2pix", True) == ["the dataset has not been checked yet"]
    text = report_text(report, kind, 2, [])
    assert text.startswith(
        "Format: paired folders (A/ and B/, matching names)\nDrawings: line art (A, 1 channel)"
    )
    assert "Held out for validation: 2 pairs" in text and text.endswith("Ready to train.")
    assert "Cannot start:\n  • no pairs" in report_text(report, kind, 0, ["no pairs"])
    missing, nothing = check_and_detect(str(tmp_path / "missing"))
    assert missing.error and not missing.usable and nothing == DataKind("")


def test_a_model_of_another_kind_than_the_drawing_is_named(tmp_path):
    sketches = ckpt(tmp_path / "sketches.safetensors", "lineart", input_nc=1, name="sketches")
    why = kind_switch(sketches, "labels")
    assert why == "sketches translates line art, but your drawing is a label map"
    assert kind_switch(sketches, "lineart") == "" and kind_switch(sketches, "") == ""
    assert kind_switch(str(tmp_path / "none.safetensors"), "labels") == ""


def test_the_recipe_and_the_run_folders_need_no_qt():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'PySide6': raise ImportError('Qt is blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import sketchpad.training_recipe, sketchpad.runs\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
