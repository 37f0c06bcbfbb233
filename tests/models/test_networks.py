"""Shapes and sizes of every registered network, at tiny size, and the reference's numbers at full size."""

from __future__ import annotations

import pytest
import torch

from models.discriminator import DiscriminatorConfig, build_discriminator
from models.generator import PRESETS, GeneratorConfig, build_generator, config_for, count_macs, count_params
from models.norm import init_weights


def test_unet_256_ngf64_matches_the_paper():
    g = build_generator(config_for("unet_256"))
    assert count_params(g) == 54_413_955  # 54.4 M
    assert 6.0e9 < count_macs(g, 256) < 6.2e9  # about 6.1 GMACs
    dropouts = [m for m in g.modules() if isinstance(m, torch.nn.Dropout)]
    assert len(dropouts) == 3  # the three innermost 512-channel up-levels


def test_resnet_9blocks_size():
    g = build_generator(config_for("resnet_9blocks"))
    assert count_params(g) == 11_378_179
    assert sum(isinstance(m, torch.nn.InstanceNorm2d) for m in g.modules()) == 2 * 9 + 5


@pytest.mark.parametrize("name", sorted(PRESETS))
@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
def test_every_generator_runs_at_tiny_size(name, norm):
    cfg = config_for(name, ngf=4, norm=norm, input_nc=1, output_nc=3)
    g = build_generator(cfg).eval()
    size = 2**cfg.num_downs if cfg.arch == "unet" else 32
    y = g(torch.randn(2, 1, size, size))
    assert y.shape == (2, 3, size, size)
    assert y.abs().max() <= 1.0


@pytest.mark.parametrize("downs", [5, 6, 9])
def test_unet_of_any_depth(downs):
    g = build_generator(GeneratorConfig(num_downs=downs, ngf=2)).eval()
    x = torch.randn(1, 3, 2**downs, 2**downs)
    assert g(x).shape == x.shape


@pytest.mark.parametrize(
    ("n_layers", "grid"),
    [(1, 126), (2, 62), (3, 30), (4, 14), (5, 6)],
)
def test_patchgan_grid(n_layers, grid):
    d = build_discriminator(DiscriminatorConfig(ndf=4, n_layers=n_layers))
    assert d(torch.randn(1, 6, 256, 256)).shape == (1, 1, grid, grid)


def test_pixelgan_is_per_pixel():
    d = build_discriminator(DiscriminatorConfig(arch="pixel", ndf=4, input_nc=3))
    assert d(torch.randn(1, 3, 17, 23)).shape == (1, 1, 17, 23)


@pytest.mark.parametrize("init", ["normal", "xavier", "kaiming", "orthogonal"])
def test_init_types(init):
    g = GeneratorConfig(num_downs=5, ngf=8)
    net = init_weights(build_generator(g), init, 0.02)
    w = net.model.model[0].weight
    assert torch.isfinite(w).all() and w.std() > 0
    if init == "normal":
        assert abs(w.std().item() - 0.02) < 0.005
    bn = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)][0]
    assert abs(bn.weight.mean().item() - 1.0) < 0.05 and bn.bias.abs().max() == 0


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="norm"):
        GeneratorConfig(norm="group")
    with pytest.raises(ValueError, match="num_downs"):
        GeneratorConfig(num_downs=3)
    with pytest.raises(ValueError, match="unknown generator"):
        config_for("unet_512x")


@pytest.mark.parametrize("norm", ["batch", "instance"])
@pytest.mark.parametrize(("affine", "stats"), [(None, None), (True, None), (None, True), (False, False)])
def test_norm_affine_and_statistics(norm, affine, stats):
    """None is the reference's choice: batch norm with both, instance norm with neither."""
    cfg = GeneratorConfig(arch="resnet", n_blocks=1, ngf=2, norm=norm, norm_affine=affine, norm_stats=stats)
    g = build_generator(cfg).eval()
    norms = [m for m in g.modules() if isinstance(m, torch.nn.BatchNorm2d | torch.nn.InstanceNorm2d)]
    default = norm == "batch"
    assert len(norms) == 2 * 1 + 5
    assert all(m.affine == (default if affine is None else affine) for m in norms)
    assert all(m.track_running_stats == (default if stats is None else stats) for m in norms)
    assert g(torch.randn(1, 3, 16, 16)).shape == (1, 3, 16, 16)
    assert GeneratorConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="none"):
        GeneratorConfig(norm="none", norm_affine=True)
