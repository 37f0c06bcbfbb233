"""Generators: the pix2pix U-Net and the CycleGAN ResNet, laid out so that state-dict keys equal the
reference implementation's (`model.model.0.weight`, ...), which lets its checkpoints load as they are."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from .norm import NORMS, conv_bias, init_weights, norm_layer

UPSAMPLES = ("transpose", "blur")


class BlurConvTranspose2d(nn.ConvTranspose2d):
    """A stride-2 transposed conv followed by the fixed filter [1, 2, 1]/4 in each direction (reflected at the
    borders), channel by channel.

    A stride-2 transposed conv draws its kernel's four phases (every other row and column) with different
    weights, so even a flat input comes out as a 2x2 checkerboard (Odena et al., "Deconvolution and
    Checkerboard Artifacts", 2016). The filter has a zero at the Nyquist frequency, so filter * kernel
    weighs the four phases alike: a flat input gives a flat output, whatever the weights. Its parameters and
    state-dict keys are the transposed conv's, so a reference-style file loads into it and fine-tunes."""

    TAPS = (0.25, 0.5, 0.25)

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        y = super().forward(x, output_size)
        t = torch.tensor(self.TAPS, dtype=y.dtype, device=y.device)
        k = (t[:, None] * t[None, :]).expand(y.shape[1], 1, 3, 3)
        return F.conv2d(F.pad(y, (1, 1, 1, 1), mode="reflect"), k, groups=y.shape[1])


def _up(cfg_upsample: str):
    """The transposed-conv class for GeneratorConfig.upsample."""
    return BlurConvTranspose2d if cfg_upsample == "blur" else nn.ConvTranspose2d


@dataclass(frozen=True)
class GeneratorConfig:
    arch: str = "unet"  # "unet" (pix2pix) or "resnet" (CycleGAN)
    input_nc: int = 3  # channels of the drawing (1 for grayscale sketches)
    output_nc: int = 3  # channels of the image made
    ngf: int = 64  # filters in the first (and last) conv; the rest scale from it
    norm: str = "batch"  # "batch", "instance" or "none"
    dropout: bool = True  # Dropout(0.5) in the three innermost U-Net up-levels / inside ResNet blocks
    num_downs: int = 8  # U-Net: stride-2 downsamplings (8 -> unet_256, 7 -> unet_128)
    n_blocks: int = 9  # ResNet: residual blocks at the bottleneck (9 or 6)
    padding_type: str = "reflect"  # ResNet blocks: "reflect", "replicate" or "zero"
    # None below means the reference's choice for `norm`: batch norm has both, instance norm neither.
    norm_affine: bool | None = None  # the norms learn a scale and shift
    norm_stats: bool | None = None  # the norms keep running statistics (and use them in eval mode)
    # "transpose": the reference's stride-2 transposed convs; "blur": each followed by a fixed binomial
    # filter, which cannot draw the checkerboard (same weights and keys: a "transpose" file fine-tunes as is)
    upsample: str = "transpose"

    def __post_init__(self) -> None:
        if self.arch not in ("unet", "resnet"):
            raise ValueError(f"arch must be 'unet' or 'resnet', not {self.arch!r}")
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, not {self.norm!r}")
        if self.input_nc < 1 or self.output_nc < 1 or self.ngf < 1:
            raise ValueError("input_nc, output_nc and ngf must be positive")
        if self.arch == "unet" and self.num_downs < 5:
            raise ValueError("a U-Net needs num_downs >= 5")
        if self.arch == "resnet" and self.n_blocks < 0:
            raise ValueError("n_blocks must be >= 0")
        if self.padding_type not in ("reflect", "replicate", "zero"):
            raise ValueError(f"unknown padding_type {self.padding_type!r}")
        if self.upsample not in UPSAMPLES:
            raise ValueError(f"upsample must be one of {UPSAMPLES}, not {self.upsample!r}")
        if self.norm == "none" and (self.norm_affine or self.norm_stats):
            raise ValueError("norm 'none' has no affine parameters or running statistics")

    def make_norm(self):
        """The constructor `f(channels) -> module` of this net's norm layers."""
        return norm_layer(self.norm, affine=self.norm_affine, track_stats=self.norm_stats)

    @property
    def name(self) -> str:
        if self.arch == "unet":
            return f"unet_{2**self.num_downs}"
        return f"resnet_{self.n_blocks}blocks"

    @property
    def multiple(self) -> int:
        """Spatial sizes the net accepts are multiples of this."""
        return 2**self.num_downs if self.arch == "unet" else 4

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> GeneratorConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


# The largest architecture a checkpoint may describe: far past anything real (unet_256 is 8 levels, ngf 64;
# resnet_9blocks 9 blocks), small enough that a lying file can't make us build something that exhausts
# memory or the stack. Checked on every header and every architecture read off a reference state dict.
ARCH_LIMITS = {"input_nc": 4, "output_nc": 4, "ngf": 1024, "num_downs": 12, "n_blocks": 64}
MAX_PARAMS = 1 << 28  # 268 M values (1 GiB as fp32); unet_256 at ngf 64 has 54 M


PRESETS = {
    "unet_256": dict(arch="unet", num_downs=8),
    "unet_128": dict(arch="unet", num_downs=7),
    "resnet_9blocks": dict(arch="resnet", n_blocks=9, norm="instance", dropout=False),
    "resnet_6blocks": dict(arch="resnet", n_blocks=6, norm="instance", dropout=False),
}


def config_for(name: str, **overrides) -> GeneratorConfig:
    """A GeneratorConfig for a reference name such as 'unet_256' or 'resnet_9blocks'."""
    if name not in PRESETS:
        raise ValueError(f"unknown generator {name!r}; choose one of {', '.join(PRESETS)}")
    return GeneratorConfig(**{**PRESETS[name], **overrides})


class UnetBlock(nn.Module):
    """One U-Net level: down, the inner levels, up; concatenates its input to its output (except outermost)."""

    def __init__(
        self,
        outer_nc: int,
        inner_nc: int,
        *,
        input_nc: int | None = None,
        submodule: nn.Module | None = None,
        outermost: bool = False,
        innermost: bool = False,
        norm: str = "batch",
        make_norm: Callable[[int], nn.Module] | None = None,
        dropout: bool = False,
        upsample: str = "transpose",
    ):
        super().__init__()
        self.outermost = outermost
        up = _up(upsample)
        bias = conv_bias(norm)
        make_norm = make_norm or norm_layer(norm)
        input_nc = outer_nc if input_nc is None else input_nc
        down_conv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=bias)
        if outermost:
            up_conv = up(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
            layers = [down_conv, submodule, nn.ReLU(True), up_conv, nn.Tanh()]
        elif innermost:
            up_conv = up(inner_nc, outer_nc, kernel_size=4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down_conv, nn.ReLU(True), up_conv, make_norm(outer_nc)]
        else:
            up_conv = up(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down_conv, make_norm(inner_nc), submodule]
            layers += [nn.ReLU(True), up_conv, make_norm(outer_nc)]
            if dropout:
                layers.append(nn.Dropout(0.5))
        # The attribute name `model` keeps the reference's state-dict keys.
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)  # (B, C_in + C_out, H, W): the skip connection


class UnetGenerator(nn.Module):
    """pix2pix U-Net: `num_downs` stride-2 levels, channels ngf-2ngf-4ngf-8ngf-8ngf..., skips at every level."""

    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        self.cfg = cfg
        ngf = cfg.ngf
        norm = dict(norm=cfg.norm, make_norm=cfg.make_norm(), upsample=cfg.upsample)
        block = UnetBlock(ngf * 8, ngf * 8, innermost=True, **norm)
        for _ in range(cfg.num_downs - 5):  # the 512-channel levels below the innermost carry dropout
            block = UnetBlock(ngf * 8, ngf * 8, submodule=block, dropout=cfg.dropout, **norm)
        block = UnetBlock(ngf * 4, ngf * 8, submodule=block, **norm)
        block = UnetBlock(ngf * 2, ngf * 4, submodule=block, **norm)
        block = UnetBlock(ngf, ngf * 2, submodule=block, **norm)
        self.model = UnetBlock(
            cfg.output_nc, ngf, input_nc=cfg.input_nc, submodule=block, outermost=True, **norm
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)  # (B, input_nc, H, W) -> (B, output_nc, H, W) in [-1, 1]


def _pad(padding_type: str) -> tuple[list[nn.Module], int]:
    if padding_type == "reflect":
        return [nn.ReflectionPad2d(1)], 0
    if padding_type == "replicate":
        return [nn.ReplicationPad2d(1)], 0
    return [], 1


class ResnetBlock(nn.Module):
    """x + conv-norm-relu-[dropout]-conv-norm(x)."""

    def __init__(
        self,
        dim: int,
        *,
        padding_type: str,
        norm: str,
        dropout: bool,
        make_norm: Callable[[int], nn.Module] | None = None,
    ):
        super().__init__()
        bias = conv_bias(norm)
        make_norm = make_norm or norm_layer(norm)
        pad, p = _pad(padding_type)
        layers = [*pad, nn.Conv2d(dim, dim, 3, padding=p, bias=bias), make_norm(dim), nn.ReLU(True)]
        if dropout:
            layers.append(nn.Dropout(0.5))
        pad, p = _pad(padding_type)
        layers += [*pad, nn.Conv2d(dim, dim, 3, padding=p, bias=bias), make_norm(dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """CycleGAN generator: 7x7 conv, two stride-2 convs, residual blocks, two transposed convs, 7x7 conv, Tanh."""

    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        self.cfg = cfg
        ngf, norm = cfg.ngf, cfg.norm
        bias = conv_bias(norm)
        make_norm = cfg.make_norm()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(cfg.input_nc, ngf, 7, padding=0, bias=bias),
            make_norm(ngf),
            nn.ReLU(True),
        ]
        for i in range(2):
            mult = 2**i
            layers += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=bias),
                make_norm(ngf * mult * 2),
                nn.ReLU(True),
            ]
        for _ in range(cfg.n_blocks):
            layers.append(
                ResnetBlock(
                    ngf * 4,
                    padding_type=cfg.padding_type,
                    norm=norm,
                    dropout=cfg.dropout,
                    make_norm=make_norm,
                )
            )
        for i in range(2):
            mult = 2 ** (2 - i)
            layers += [
                _up(cfg.upsample)(
                    ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1, bias=bias
                ),
                make_norm(ngf * mult // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, cfg.output_nc, 7, padding=0), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def build_generator(cfg: GeneratorConfig, *, init_type: str = "normal", init_gain: float = 0.02) -> nn.Module:
    """Build and initialise the generator that `cfg` describes."""
    net = UnetGenerator(cfg) if cfg.arch == "unet" else ResnetGenerator(cfg)
    return init_weights(net, init_type, init_gain)


def count_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def count_macs(net: nn.Module, size: int | tuple[int, int] = 256, in_channels: int | None = None) -> int:
    """Multiply-accumulates of the convolutions for one image of `size`, by forward hooks."""
    h, w = (size, size) if isinstance(size, int) else size
    if in_channels is None:
        in_channels = net.cfg.input_nc if hasattr(net, "cfg") else 3
    total = 0

    def hook(m, inp, out):
        nonlocal total
        if isinstance(m, nn.Conv2d):
            k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
            total += out.numel() * k
        elif isinstance(m, nn.ConvTranspose2d):
            k = m.kernel_size[0] * m.kernel_size[1] * (m.out_channels // m.groups)
            total += inp[0].numel() * k
            if isinstance(m, BlurConvTranspose2d):
                total += out.numel() * len(m.TAPS) ** 2  # the 3x3 filter, channel by channel

    handles = [
        m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)
    ]
    was_training = net.training
    try:
        net.eval()
        with torch.no_grad():
            net(torch.zeros(1, in_channels, h, w))
    finally:
        for hd in handles:
            hd.remove()
        net.train(was_training)
    return total
