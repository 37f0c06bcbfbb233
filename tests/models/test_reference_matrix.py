"""Every architecture the reference implementation can save loads through our loader and computes what the
reference computes: U-Net of any depth, ResNet of any block count, batch / instance (with and without
affine weights and running statistics) / no norm, dropout on and off, reflect / replicate / zero padding,
1 or 3 channels in and out, any ngf.

The reference's module trees are re-built here, independently of models/generator.py, from a reading of
junyanz/pytorch-CycleGAN-and-pix2pix models/networks.py (UnetGenerator, UnetSkipConnectionBlock,
ResnetGenerator, ResnetBlock); their state dicts are saved with torch.save as its save_networks does.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest
import torch
from torch import nn

from models.checkpoint import infer_config, load_checkpoint
from models.errors import CheckpointError
from models.imageio import load_image, save_png

# ------------------------------------------------------------------ the reference's module trees


def ref_norm(kind: str, affine: bool, stats: bool):
    if kind == "batch":
        return functools.partial(nn.BatchNorm2d, affine=affine, track_running_stats=stats)
    if kind == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=affine, track_running_stats=stats)
    return lambda channels: nn.Identity()


class RefUnetLevel(nn.Module):
    def __init__(
        self, outer, inner, *, input_nc=None, sub=None, outermost=False, innermost=False, norm, bias, drop
    ):
        super().__init__()
        self.outermost = outermost
        down = nn.Conv2d(input_nc or outer, inner, 4, 2, 1, bias=bias)
        if outermost:
            seq = [down, sub, nn.ReLU(True), nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1), nn.Tanh()]
        elif innermost:
            up = nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=bias)
            seq = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True), up, norm(outer)]
        else:
            up = nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1, bias=bias)
            seq = [nn.LeakyReLU(0.2, True), down, norm(inner), sub, nn.ReLU(True), up, norm(outer)]
            seq += [nn.Dropout(0.5)] if drop else []
        self.model = nn.Sequential(*seq)

    def forward(self, x):
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


class RefUnet(nn.Module):
    def __init__(self, input_nc, output_nc, num_downs, ngf, norm, bias, drop):
        super().__init__()
        kw = dict(norm=norm, bias=bias)
        level = RefUnetLevel(ngf * 8, ngf * 8, innermost=True, drop=False, **kw)
        for _ in range(num_downs - 5):
            level = RefUnetLevel(ngf * 8, ngf * 8, sub=level, drop=drop, **kw)
        for mult in (4, 2, 1):
            level = RefUnetLevel(ngf * mult, ngf * mult * 2, sub=level, drop=False, **kw)
        self.model = RefUnetLevel(
            output_nc, ngf, input_nc=input_nc, sub=level, outermost=True, drop=False, **kw
        )

    def forward(self, x):
        return self.model(x)


class RefResnetBlock(nn.Module):
    def __init__(self, dim, padding, norm, bias, drop):
        super().__init__()
        pads = {"reflect": nn.ReflectionPad2d, "replicate": nn.ReplicationPad2d}
        seq = []
        for second in (False, True):
            seq += [pads[padding](1)] if padding in pads else []
            seq += [nn.Conv2d(dim, dim, 3, padding=0 if padding in pads else 1, bias=bias), norm(dim)]
            if not second:
                seq += [nn.ReLU(True)] + ([nn.Dropout(0.5)] if drop else [])
        self.conv_block = nn.Sequential(*seq)

    def forward(self, x):
        return x + self.conv_block(x)


class RefResnet(nn.Module):
    def __init__(self, input_nc, output_nc, ngf, norm, bias, drop, n_blocks, padding):
        super().__init__()
        seq = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, bias=bias), norm(ngf), nn.ReLU(True)]
        for mult in (1, 2):
            seq += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, 3, 2, 1, bias=bias),
                norm(ngf * mult * 2),
                nn.ReLU(True),
            ]
        seq += [RefResnetBlock(ngf * 4, padding, norm, bias, drop) for _ in range(n_blocks)]
        for mult in (4, 2):
            up = nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, 2, 1, output_padding=1, bias=bias)
            seq += [up, norm(ngf * mult // 2), nn.ReLU(True)]
        seq += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*seq)

    def forward(self, x):
        return self.model(x)


def build_reference(case: dict) -> nn.Module:
    norm = ref_norm(case["norm"], case["affine"], case["stats"])
    bias = case["norm"] == "instance"  # the reference: a conv before a norm has a bias only for instance norm
    common = (case["input_nc"], case["output_nc"])
    if case["arch"] == "unet":
        net = RefUnet(*common, case["depth"], case["ngf"], norm, bias, case["dropout"])
    else:
        net = RefResnet(*common, case["ngf"], norm, bias, case["dropout"], case["blocks"], case["padding"])
    return randomise(net)


def randomise(net: nn.Module) -> nn.Module:
    """Weights that make every layer count: unit-gain convs, norm weights and statistics away from 1 and 0."""
    g = torch.Generator().manual_seed(0)

    def randn(t: torch.Tensor, std: float, mean: float = 0.0) -> None:
        t.copy_(mean + std * torch.randn(t.shape, generator=g))

    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
                fan_in = m.weight[0].numel() if isinstance(m, nn.Conv2d) else m.weight.shape[0] * 4
                randn(m.weight, (1.5 / fan_in) ** 0.5)
            if isinstance(m, nn.BatchNorm2d | nn.InstanceNorm2d) and m.affine:
                randn(m.weight, 0.2, 1.0)
            if isinstance(m, nn.BatchNorm2d | nn.InstanceNorm2d) and m.track_running_stats:
                randn(m.running_mean, 0.2)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.num_batches_tracked.fill_(7)
            if getattr(m, "bias", None) is not None:
                randn(m.bias, 0.2)
    return net.eval()


# ------------------------------------------------------------------ the matrix

NORMS = [  # (norm, affine, running statistics): the reference's two, and what forks and old versions made
    ("batch", True, True),
    ("instance", False, False),
    ("instance", True, False),
    ("instance", False, True),
    ("instance", True, True),
    ("none", False, False),
]


def _cases() -> list[dict]:
    cases = []
    for i, ((norm, affine, stats), dropout) in enumerate(itertools.product(NORMS, (False, True))):
        cases.append(
            dict(
                arch="unet",
                norm=norm,
                affine=affine,
                stats=stats,
                dropout=dropout,
                depth=(5, 6, 7, 8)[i % 4],
                input_nc=(1, 3)[i % 2],
                output_nc=(3, 1)[i // 2 % 2],
                ngf=(2, 3, 1)[i % 3],
            )
        )
    product = itertools.product(NORMS, (False, True), ("reflect", "replicate", "zero"))
    for i, ((norm, affine, stats), dropout, padding) in enumerate(product):
        cases.append(
            dict(
                arch="resnet",
                norm=norm,
                affine=affine,
                stats=stats,
                dropout=dropout,
                padding=padding,
                blocks=(9, 0, 1, 6, 2)[i % 5],
                input_nc=(1, 3)[i % 2],
                output_nc=(3, 1)[i // 2 % 2],
                ngf=(2, 3, 5)[i % 3],
            )
        )
    return cases


CASES = _cases()


def _id(c: dict) -> str:
    shape = f"d{c['depth']}" if c["arch"] == "unet" else f"b{c['blocks']}-{c['padding']}"
    norm = c["norm"] + ("-affine" if c["affine"] and c["norm"] == "instance" else "")
    norm += "-stats" if c["stats"] and c["norm"] == "instance" else ""
    drop = "-dropout" if c["dropout"] else ""
    return f"{c['arch']}-{shape}-{norm}{drop}-ngf{c['ngf']}-{c['input_nc']}to{c['output_nc']}"


def _image(case: dict) -> torch.Tensor:
    side = 2 ** case["depth"] if case["arch"] == "unet" else 20
    return torch.rand((1, case["input_nc"], side, side), generator=torch.Generator().manual_seed(1)) * 2 - 1


def test_the_matrix_covers_every_value():
    seen = {
        key: {c[key] for c in CASES if key in c} for key in ("depth", "blocks", "padding", "input_nc", "ngf")
    }
    assert seen["depth"] == {5, 6, 7, 8} and seen["blocks"] == {0, 1, 2, 6, 9}
    assert seen["padding"] == {"reflect", "replicate", "zero"} and seen["input_nc"] == {1, 3}
    assert {c["output_nc"] for c in CASES} == {1, 3} and len(seen["ngf"]) >= 4
    assert len({(c["arch"], c["norm"], c["affine"], c["stats"], c["dropout"]) for c in CASES}) == 24


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_every_reference_architecture_loads_and_computes_the_same(case, tmp_path, one_torch_thread):
    ref = build_reference(case)
    path = tmp_path / "latest_net_G.pth"
    torch.save(ref.state_dict(), path)

    cfg = infer_config(torch.load(path, weights_only=True))
    expect = dict(arch=case["arch"], input_nc=case["input_nc"], output_nc=case["output_nc"], ngf=case["ngf"])
    expect["norm"] = case["norm"]
    if case["arch"] == "unet":
        # A U-Net's dropout leaves no trace: pix2pix's default, on, is assumed.
        expect.update(num_downs=case["depth"], dropout=True)
    elif case["blocks"] == 0:  # no blocks, nothing to pad or drop out: the reference's defaults
        expect.update(n_blocks=0, dropout=False, padding_type="reflect")
    else:  # replicate padding leaves no trace either: the reference's reflect is assumed
        padding = "reflect" if case["padding"] == "replicate" else case["padding"]
        expect.update(n_blocks=case["blocks"], dropout=case["dropout"], padding_type=padding)
    assert {k: getattr(cfg, k) for k in expect} == expect

    # What the weights cannot tell, the caller says; everything else comes from the file.
    overrides = {"dropout": case["dropout"]} if case["arch"] == "unet" else {"padding_type": case["padding"]}
    ckpt = load_checkpoint(path, arch=overrides)
    norms = [m for m in ckpt.net.modules() if isinstance(m, nn.BatchNorm2d | nn.InstanceNorm2d)]
    ref_norms = [m for m in ref.modules() if isinstance(m, nn.BatchNorm2d | nn.InstanceNorm2d)]
    assert [(type(m), m.affine, m.track_running_stats) for m in norms] == [
        (type(m), m.affine, m.track_running_stats) for m in ref_norms
    ]
    assert sum(isinstance(m, nn.Dropout) for m in ckpt.net.modules()) == sum(
        isinstance(m, nn.Dropout) for m in ref.modules()
    )
    x = _image(case)
    with torch.no_grad():
        expected, got = ref(x), ckpt.net.eval()(x)
    assert got.shape == expected.shape == (1, case["output_nc"], *x.shape[-2:])
    assert expected.std() > 0.05  # the weights make a picture, not a flat grey
    assert (got - expected).abs().max().item() < 1e-6


def test_pix2pix_resnet_9blocks_with_batch_norm(tmp_path, one_torch_thread):
    """The issue's checkpoint: `--netG resnet_9blocks` with pix2pix's batch norm, whose norm weight at
    conv_block.6 was read as a dropout block's second conv."""
    case = dict(arch="resnet", norm="batch", affine=True, stats=True, dropout=False, padding="reflect")
    case.update(blocks=9, input_nc=3, output_nc=3, ngf=8)
    ref = build_reference(case)
    torch.save(ref.state_dict(), tmp_path / "latest_net_G.pth")
    ckpt = load_checkpoint(tmp_path / "latest_net_G.pth")
    assert (ckpt.config.name, ckpt.config.norm, ckpt.config.dropout) == ("resnet_9blocks", "batch", False)
    x = _image(case)
    with torch.no_grad():
        assert torch.equal(ckpt.net(x), ref(x))


def test_replicate_padding_needs_saying(tmp_path, one_torch_thread):
    case = dict(arch="resnet", norm="instance", affine=False, stats=False, dropout=False, padding="replicate")
    case.update(blocks=2, input_nc=3, output_nc=3, ngf=4)
    ref = build_reference(case)
    torch.save(ref.state_dict(), tmp_path / "g.pth")
    x = _image(case)
    with torch.no_grad():
        assumed = load_checkpoint(tmp_path / "g.pth").net(x)
        said = load_checkpoint(tmp_path / "g.pth", arch={"padding_type": "replicate"}).net(x)
        expected = ref(x)
    assert torch.equal(said, expected)
    assert not torch.allclose(assumed, expected, atol=1e-4)  # the borders differ: the override matters
    # Saying something the weights contradict is refused, not obeyed.
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(tmp_path / "g.pth", arch={"padding_type": "zero"})
    with pytest.raises(ValueError, match="read from the weights"):
        load_checkpoint(tmp_path / "g.pth", arch={"ngf": 8})


@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_statistics_saved_by_old_pytorch(tmp_path, norm, one_torch_thread):
    """PyTorch < 0.4 saved instance-norm running statistics it never used (no num_batches_tracked); batch
    norm before 0.4.1 had no num_batches_tracked. Both load and compute as the reference does."""
    case = dict(arch="unet", norm=norm, affine=norm == "batch", stats=norm == "batch", dropout=True, depth=5)
    case.update(input_nc=3, output_nc=3, ngf=2)
    ref = build_reference(case)
    state = dict(ref.state_dict())
    if norm == "batch":
        state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    else:
        for k, m in ref.named_modules():
            if isinstance(m, nn.InstanceNorm2d):
                state[f"{k}.running_mean"] = torch.full((m.num_features,), 5.0)
                state[f"{k}.running_var"] = torch.full((m.num_features,), 9.0)
    torch.save(state, tmp_path / "old.pth")
    ckpt = load_checkpoint(tmp_path / "old.pth")
    assert ckpt.config.norm == norm and ckpt.config.norm_stats is None  # the reference's choice
    x = _image(case)
    with torch.no_grad():
        assert (ckpt.net(x) - ref(x)).abs().max() < 1e-6


def test_cli_translates_and_converts_a_reference_checkpoint(tmp_path, capsys, one_torch_thread):
    from models.inference import to_tensor, to_uint8
    from sketchpad.cli import main

    case = dict(arch="resnet", norm="batch", affine=True, stats=True, dropout=True, padding="replicate")
    case.update(blocks=3, input_nc=3, output_nc=3, ngf=4)
    ref = build_reference(case)
    pth, drawing = tmp_path / "latest_net_G.pth", tmp_path / "in.png"
    torch.save(ref.state_dict(), pth)
    save_png(drawing, np.random.default_rng(0).integers(0, 256, (24, 28, 3), dtype=np.uint8))
    with torch.no_grad():
        expected = to_uint8(ref(to_tensor(load_image(drawing), 3)))

    st = tmp_path / "g.safetensors"
    assert main(["convert", str(pth), str(st), "--padding-type", "replicate"]) == 0
    assert "resnet_3blocks ngf 4 norm batch" in capsys.readouterr().out
    assert main(["translate", str(st), str(drawing), "-o", str(tmp_path / "converted.png")]) == 0
    assert np.array_equal(load_image(tmp_path / "converted.png"), expected) and expected.std() > 5
    # The .pth as it is: reflect padding assumed, which the weights cannot tell from replicate.
    assert main(["translate", str(pth), str(drawing), "-o", str(tmp_path / "direct.png")]) == 0
    assert not np.array_equal(load_image(tmp_path / "direct.png"), expected)
