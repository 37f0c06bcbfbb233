"""Shapes and sizes of every registered network, at tiny size, and the reference's numbers at full size."""

from __future__ import annotations

import pytest
import torch

from models.discriminator import DiscriminatorConfig, build_discriminator
from models.generator import (
    PRESETS,
    BlurConvTranspose2d,
    GeneratorConfig,
    build_generator,
    config_for,
    count_macs,
    count_params,
)
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


def _flat_phases(up: torch.nn.Module, size: int = 12) -> torch.Tensor:
    """The interior of `up` applied to a flat input, as its 2x2 phases' mean values: four equal numbers
    when the layer draws no checkerboard."""
    with torch.no_grad():
        y = up(torch.ones(1, up.in_channels, size, size))[0, :, 4:-4, 4:-4]
    return torch.stack([y[:, a::2, b::2].mean(dim=(1, 2)) for a in (0, 1) for b in (0, 1)])


@pytest.mark.parametrize(
    "kw", [dict(kernel_size=4, padding=1), dict(kernel_size=3, padding=1, output_padding=1)]
)
def test_blur_upsampling_draws_no_checkerboard_whatever_the_weights(kw):
    torch.manual_seed(0)
    plain = torch.nn.ConvTranspose2d(3, 5, stride=2, **kw)
    blur = BlurConvTranspose2d(3, 5, stride=2, **kw)
    blur.load_state_dict(plain.state_dict())  # the same parameters and keys
    spread = lambda p: (p.max(0).values - p.min(0).values).max().item()  # noqa: E731
    assert spread(_flat_phases(plain)) > 1e-2  # the reference layer: four phases, four values
    assert spread(_flat_phases(blur)) < 1e-6
    x = torch.rand(1, 3, 9, 7)
    assert blur(x).shape == plain(x).shape  # a filter, not a change of size
    assert torch.allclose(
        blur(x).mean(), plain(x)[..., 1:-1, 1:-1].mean(), atol=0.05
    )  # and it keeps the level


@pytest.mark.parametrize("name", ["unet_128", "resnet_6blocks"])
def test_upsample_blur_keeps_the_keys_so_a_transpose_file_loads(name):
    torch.manual_seed(0)
    plain = build_generator(config_for(name, ngf=4))
    blur = build_generator(config_for(name, ngf=4, upsample="blur"))
    assert plain.state_dict().keys() == blur.state_dict().keys()
    blur.load_state_dict(plain.state_dict())
    ups = [m for m in blur.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert ups and all(isinstance(m, BlurConvTranspose2d) for m in ups)
    x = torch.rand(1, 3, 128, 128) * 2 - 1
    plain.eval(), blur.eval()
    assert not torch.allclose(plain(x), blur(x))  # the same weights, computing something else
    outs = []
    hooks = [m.register_forward_hook(lambda m, i, o: outs.append(o.numel())) for m in ups]
    with torch.no_grad():
        blur(torch.zeros(1, 3, 256, 256))
    for h in hooks:
        h.remove()
    assert count_macs(blur) - count_macs(plain) == 9 * sum(outs)  # the filter: 9 MACs per value it makes
    assert GeneratorConfig.from_dict(blur.cfg.to_dict()).upsample == "blur"
    assert GeneratorConfig.from_dict(
        {k: v for k, v in blur.cfg.to_dict().items() if k != "upsample"}
    ).upsample == (
        "transpose"  # a header written before the option: the reference's layers
    )
    with pytest.raises(ValueError, match="upsample"):
        GeneratorConfig(upsample="bilinear")
