"""A fine-tune trains the --init checkpoint's own generator: finetune_arch says which, from the loaded
checkpoint or its header alone, and the options' check sizes the crop by it, not by --netG."""

from __future__ import annotations

import pytest

from models.checkpoint import load_checkpoint, read_header, save_checkpoint
from models.errors import DataError
from models.generator import GeneratorConfig, build_generator
from models.train import make_options
from models.train.finetune import finetune_arch


def test_the_checkpoint_decides_from_its_weights_its_header_or_its_path(tmp_path):
    cfg = GeneratorConfig(num_downs=5, ngf=4, input_nc=1, norm="instance", dropout=False)
    path = save_checkpoint(tmp_path / "a.safetensors", build_generator(cfg), {"size": 32})
    assert (
        finetune_arch(load_checkpoint(path)) == finetune_arch(read_header(path)) == finetune_arch(path) == cfg
    )
    assert finetune_arch(str(path)) == cfg
    assert finetune_arch({}) is None and finetune_arch({"arch": "unet"}) is None  # nothing to go by
    assert finetune_arch({"arch": {"arch": "unet", "num_downs": 2}}) is None  # invalid: the load says why
    assert finetune_arch(tmp_path / "reference.pth") is None  # read from its keys when it loads
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 3)
    assert finetune_arch(tmp_path / "bad.safetensors") is None


def test_the_crop_check_follows_the_init_checkpoint_not_netG(tmp_path):
    unet5 = save_checkpoint(
        tmp_path / "u.safetensors", build_generator(GeneratorConfig(num_downs=5, ngf=4)), {}
    )
    resnet = build_generator(GeneratorConfig(arch="resnet", n_blocks=1, ngf=4))
    res = save_checkpoint(tmp_path / "r.safetensors", resnet, {})
    assert make_options(data="d", init=str(unet5), crop_size=32, load_size=32).init == str(unet5)
    assert make_options(data="d", init=str(res), crop_size=36, load_size=36).crop_size == 36  # no U-Net
    with pytest.raises(DataError, match="depth 5"):
        make_options(data="d", init=str(unet5), crop_size=36, load_size=36)
    with pytest.raises(DataError, match="depth 8"):  # no --init: --netG unet_256 decides
        make_options(data="d", crop_size=32, load_size=32)
