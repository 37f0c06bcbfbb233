"""Reference checkpoints load with no flags and reproduce the reference outputs; our format round-trips."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from models.checkpoint import convert_reference, infer_config, load_checkpoint, read_header, save_checkpoint
from models.errors import CheckpointError
from models.generator import GeneratorConfig, build_generator, config_for
from models.imageio import load_image
from models.inference import to_tensor


def _reference_layout_state(cfg: GeneratorConfig) -> dict[str, torch.Tensor]:
    """A state dict keyed exactly as the reference's save_networks writes it (our nets share its layout)."""
    torch.manual_seed(0)
    return {k: v.clone() for k, v in build_generator(cfg).state_dict().items()}


@pytest.mark.parametrize(
    "cfg",
    [
        config_for("unet_256", ngf=4),
        config_for("unet_128", ngf=4, input_nc=1, norm="instance"),
        GeneratorConfig(num_downs=6, ngf=3, norm="none", output_nc=1),
        config_for("resnet_9blocks", ngf=4),
        config_for("resnet_6blocks", ngf=4, norm="batch", dropout=True),
        config_for("resnet_6blocks", ngf=4, padding_type="zero"),
    ],
    ids=lambda c: f"{c.name}-{c.norm}-in{c.input_nc}-out{c.output_nc}",
)
def test_architecture_is_read_from_keys(cfg, tmp_path):
    state = _reference_layout_state(cfg)
    inferred = infer_config(state)
    for field in ("arch", "input_nc", "output_nc", "ngf", "norm"):
        assert getattr(inferred, field) == getattr(cfg, field), field
    if cfg.arch == "unet":
        assert inferred.num_downs == cfg.num_downs
    else:
        assert (inferred.n_blocks, inferred.dropout, inferred.padding_type) == (
            cfg.n_blocks,
            cfg.dropout,
            cfg.padding_type,
        )
    path = tmp_path / "latest_net_G.pth"
    torch.save(state, path)
    ckpt = load_checkpoint(path)
    for k, v in ckpt.net.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_dataparallel_prefix_and_old_instance_norm_stats_are_accepted(tmp_path):
    cfg = config_for("resnet_6blocks", ngf=4)
    state = _reference_layout_state(cfg)
    state = {f"module.{k}": v for k, v in state.items()}
    state["module.model.2.running_mean"] = torch.zeros(4)  # as PyTorch < 0.4 saved instance norms
    torch.save(state, tmp_path / "g.pth")
    assert load_checkpoint(tmp_path / "g.pth").config.n_blocks == 6


@pytest.mark.data
@pytest.mark.parametrize(
    ("name", "image"),
    [("unet128_ngf8_batch", "input128.png"), ("resnet9_ngf8_instance", "input.png")],
)
def test_reference_checkpoints_reproduce_reference_outputs(shared_data, name, image):
    folder = shared_data / "reference-checkpoints"
    ckpt = load_checkpoint(folder / f"{name}_net_G.pth")
    x = to_tensor(load_image(folder / image), ckpt.config.input_nc)
    with torch.no_grad():
        y = ckpt.net.eval()(x).numpy()
    expected = np.load(folder / f"{name}_out.npz")["eval"]
    assert y.shape == expected.shape
    assert np.abs(y - expected).max() < 1e-5


def test_safetensors_round_trip_with_header(tmp_path):
    cfg = config_for("unet_128", ngf=4, input_nc=1)
    net = build_generator(cfg)
    meta = {"name": "faces", "input_kind": "lineart", "direction": "AtoB", "epoch": 3, "metrics": {"l1": 0.1}}
    path = save_checkpoint(tmp_path / "m.safetensors", net, meta)
    header = read_header(path)
    assert header["arch"]["num_downs"] == 7 and header["input_kind"] == "lineart"
    ckpt = load_checkpoint(path)
    assert ckpt.config == cfg and ckpt.meta["metrics"] == {"l1": 0.1} and ckpt.input_kind == "lineart"
    for k, v in net.state_dict().items():
        assert torch.equal(ckpt.net.state_dict()[k], v)
    half = load_checkpoint(save_checkpoint(tmp_path / "h.safetensors", net, meta, half=True))
    w = half.net.model.model[0].weight
    assert w.dtype == torch.float32 and torch.allclose(w, net.model.model[0].weight, atol=1e-3)
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temp files


def test_convert_reference_to_ours(tmp_path):
    cfg = config_for("unet_256", ngf=2)
    torch.save(_reference_layout_state(cfg), tmp_path / "latest_net_G.pth")
    out = convert_reference(
        tmp_path / "latest_net_G.pth", tmp_path / "g.safetensors", {"input_kind": "labels"}
    )
    header = read_header(out)
    assert header["input_kind"] == "labels" and header["arch"]["ngf"] == 2
    assert json.dumps(header)  # plain JSON


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"a": [1, 2]}, "not a generator state dict"),
        ({"weird.key": torch.zeros(3)}, "not a pix2pix/CycleGAN generator"),
        ([torch.zeros(1)], "not a generator state dict"),
    ],
)
def test_non_state_dicts_get_one_line(tmp_path, payload, message):
    torch.save(payload, tmp_path / "x.pth")
    with pytest.raises(CheckpointError, match=message) as e:
        load_checkpoint(tmp_path / "x.pth")
    assert "\n" not in str(e.value)


def test_wrong_shapes_get_one_line(tmp_path):
    state = _reference_layout_state(config_for("unet_256", ngf=4))
    state["model.model.1.model.1.weight"] = torch.zeros(5, 4, 4, 4)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match="do not fit") as e:
        load_checkpoint(tmp_path / "bad.pth")
    assert "\n" not in str(e.value)
