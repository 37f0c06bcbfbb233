"""Discriminators: the PatchGAN (70x70 at n_layers=3, 16x16 at 1, 286x286 at 5) and the 1x1 PixelGAN."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from .norm import NORMS, conv_bias, init_weights, norm_layer


@dataclass(frozen=True)
class DiscriminatorConfig:
    arch: str = "patch"  # "patch" (PatchGAN) or "pixel" (1x1 PixelGAN)
    input_nc: int = 6  # pix2pix sees (A, B) concatenated; CycleGAN sees one image
    ndf: int = 64  # filters in the first conv
    n_layers: int = 3  # PatchGAN: 3 -> 70x70 receptive field
    norm: str = "batch"

    def __post_init__(self) -> None:
        if self.arch not in ("patch", "pixel"):
            raise ValueError(f"arch must be 'patch' or 'pixel', not {self.arch!r}")
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, not {self.norm!r}")
        if self.arch == "patch" and self.n_layers < 1:
            raise ValueError("n_layers must be >= 1")

    def to_dict(self) -> dict:
        return asdict(self)


class PatchDiscriminator(nn.Module):
    """Conv(ndf, s2)-LReLU, then n_layers-1 stride-2 and one stride-1 conv-norm-LReLU, then a 1-channel conv."""

    def __init__(self, cfg: DiscriminatorConfig):
        super().__init__()
        self.cfg = cfg
        bias = conv_bias(cfg.norm)
        make_norm = norm_layer(cfg.norm)
        ndf = cfg.ndf
        layers: list[nn.Module] = [
            nn.Conv2d(cfg.input_nc, ndf, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2, True),
        ]
        mult = 1
        for n in range(1, cfg.n_layers):
            prev, mult = mult, min(2**n, 8)
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, 4, stride=2, padding=1, bias=bias),
                make_norm(ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        prev, mult = mult, min(2**cfg.n_layers, 8)
        layers += [
            nn.Conv2d(ndf * prev, ndf * mult, 4, stride=1, padding=1, bias=bias),
            make_norm(ndf * mult),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1),
        ]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)  # (B, input_nc, 256, 256) -> (B, 1, 30, 30) logits at n_layers=3


class PixelDiscriminator(nn.Module):
    """1x1 PixelGAN: every pixel judged on its own."""

    def __init__(self, cfg: DiscriminatorConfig):
        super().__init__()
        self.cfg = cfg
        bias = conv_bias(cfg.norm)
        ndf = cfg.ndf
        self.net = nn.Sequential(
            nn.Conv2d(cfg.input_nc, ndf, 1),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 1, bias=bias),
            norm_layer(cfg.norm)(ndf * 2),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, 1, bias=bias),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_discriminator(
    cfg: DiscriminatorConfig, *, init_type: str = "normal", init_gain: float = 0.02
) -> nn.Module:
    net = PatchDiscriminator(cfg) if cfg.arch == "patch" else PixelDiscriminator(cfg)
    return init_weights(net, init_type, init_gain)
