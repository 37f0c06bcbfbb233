"""The header's "inference" field (the batch-norm statistics and fit a generator runs best in): written by
training, checked on load, followed by the Translator and evaluate unless told otherwise."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from models.checkpoint import load_checkpoint, read_header, save_checkpoint
from models.errors import CheckpointError
from models.evaluate import evaluate
from models.generator import GeneratorConfig, build_generator
from models.inference import Translator, trained_modes
from models.train import Trainer, make_options
from models.train.runfolder import G_FILE

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PREFERS = {"bn_stats": "image", "fit": "resize"}


def tiny(path, inference=None):
    """A tiny batch-norm U-Net (32-pixel multiples) trained at size 32; the same weights every time."""
    torch.manual_seed(0)
    net = build_generator(GeneratorConfig(num_downs=5, ngf=4), init_type="kaiming")
    meta = {"name": path.stem, "size": 32}
    if inference is not None:
        meta["inference"] = inference
    return save_checkpoint(path, net, meta)


def drawing(h=40, w=56) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_the_field_survives_a_round_trip(tmp_path):
    path = tiny(tmp_path / "g.safetensors", PREFERS)
    assert read_header(path)["inference"] == PREFERS
    assert load_checkpoint(path).meta["inference"] == PREFERS


@pytest.mark.parametrize(
    "bad", ["image", ["image"], {"bn_stats": "batch"}, {"fit": "stretch"}, {"bn_stats": ["image"]}]
)
def test_a_malformed_field_is_one_line(tmp_path, bad):
    path = tiny(tmp_path / "g.safetensors", bad)
    with pytest.raises(CheckpointError, match="inference") as e:
        load_checkpoint(path)
    assert "\n" not in str(e.value)


def test_the_translator_runs_in_the_modes_the_header_prefers(tmp_path):
    plain = tiny(tmp_path / "plain.safetensors")
    prefers = tiny(tmp_path / "prefers.safetensors", PREFERS)
    img = drawing()
    t = Translator(prefers, device="cpu")
    assert (t.bn_stats, t.fit) == ("image", "resize")
    asked = Translator(plain, device="cpu", bn_stats="image", fit="resize")(img)
    assert np.array_equal(t(img), asked)
    default = Translator(plain, device="cpu")
    assert (default.bn_stats, default.fit) == ("running", "pad")  # no field: today's behaviour
    assert not np.array_equal(default(img), asked)


def test_an_explicit_mode_overrides_the_preference(tmp_path):
    plain = tiny(tmp_path / "plain.safetensors")
    prefers = tiny(tmp_path / "prefers.safetensors", PREFERS)
    img = drawing()
    t = Translator(prefers, device="cpu", bn_stats="running", fit="pad")
    assert (t.bn_stats, t.fit) == ("running", "pad")
    assert np.array_equal(t(img), Translator(plain, device="cpu")(img))
    only_bn = Translator(prefers, device="cpu", bn_stats="running")
    assert (only_bn.bn_stats, only_bn.fit) == ("running", "resize")


def aligned_pairs(root, n=2, w=32, h=32, split="train"):
    rng = np.random.default_rng(0)
    (root / split).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        a = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        Image.fromarray(np.concatenate([a, 255 - a], 1)).save(root / split / f"{i}.png")
    return root


def test_eval_reports_the_modes_it_ran_in(tmp_path):
    data = aligned_pairs(tmp_path / "data", split="val", w=48, h=40)
    prefers = tiny(tmp_path / "prefers.safetensors", PREFERS)
    r = evaluate(prefers, data, "val")
    assert (r["bn_stats"], r["fit"]) == ("image", "resize")
    asked = evaluate(prefers, data, "val", bn_stats="running", fit="pad")
    assert (asked["bn_stats"], asked["fit"]) == ("running", "pad")
    assert asked["l1"] != r["l1"]
    plain = evaluate(tiny(tmp_path / "plain.safetensors"), data, "val", bn_stats="image", fit="resize")
    assert plain["l1"] == r["l1"]


def test_trained_modes_follow_norm_batch_size_and_geometry():
    bn, inst = GeneratorConfig(), GeneratorConfig(arch="resnet", norm="instance", dropout=False)
    square, faces = {"400x200": 5}, {"200x250": 9, "256x256": 1}
    kw = dict(preprocess="resize_and_crop", sizes=square, aligned=True)
    assert trained_modes(bn, batch_size=1, **kw) == {"bn_stats": "image", "fit": "pad"}
    assert trained_modes(bn, batch_size=4, **kw)["bn_stats"] == "running"
    assert trained_modes(inst, batch_size=1, **kw)["bn_stats"] == "running"
    assert (
        trained_modes(bn, batch_size=1, preprocess="resize_and_crop", sizes=faces, aligned=False)["fit"]
        == "resize"
    )
    assert trained_modes(bn, batch_size=1, preprocess="crop", sizes=faces, aligned=False)["fit"] == "pad"
    assert (
        trained_modes(bn, batch_size=1, preprocess="resize_and_crop", sizes=square, aligned=False)["fit"]
        == "resize"
    )


def train(data, out, **kw):
    opts = make_options(
        "pix2pix", data=str(data), out=str(out), ngf=4, ndf=4, num_downs=5, load_size=36, crop_size=32,
        num_workers=0, sample_every=0, n_epochs=1, n_epochs_decay=0, max_iters=1, **kw,
    )  # fmt: skip
    Trainer.create(opts, progress=False).run()
    return read_header(out / G_FILE)["inference"]


def test_a_batch_one_run_writes_image_statistics(tmp_path):
    data = aligned_pairs(tmp_path / "data")
    assert train(data, tmp_path / "run", batch_size=1) == {"bn_stats": "image", "fit": "pad"}


def test_a_batch_two_run_on_tall_images_writes_running_statistics_and_resize(tmp_path):
    data = aligned_pairs(tmp_path / "data", w=32, h=40)
    assert train(data, tmp_path / "run", batch_size=2) == {"bn_stats": "running", "fit": "resize"}
