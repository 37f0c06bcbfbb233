"""DCGAN (Radford et al. 2016): an unconditional generator from a latent vector, strided (transposed)
convs, batch norm, ReLU / LeakyReLU, Tanh out; the same objectives and optimiser as pix2pix. The fastest
test of the GAN loop (32x32 in tests)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from ..checkpoint import write_safetensors
from ..losses import GANLoss, gradient_penalty
from ..modes import in_modes
from ..norm import init_weights
from .base import GANModel, set_requires_grad
from .common import Dist, TrainOptions
from .pix2pix import TwoCalls
from .runfolder import G_FILE

FORMAT = "sketchpad.dcgan/1"


@dataclass(frozen=True)
class DCGANConfig:
    nz: int = 100  # latent size
    ngf: int = 64
    ndf: int = 64
    nc: int = 3  # image channels
    size: int = 64  # image side, a power of 2 >= 8

    def __post_init__(self) -> None:
        if self.size < 8 or self.size & (self.size - 1):
            raise ValueError("DCGAN image size must be a power of 2 >= 8")

    @property
    def levels(self) -> int:
        return int(math.log2(self.size)) - 2  # 4x4 -> size: this many doublings


class DCGANGenerator(nn.Module):
    """(N, nz) -> (N, nc, size, size) in [-1, 1]."""

    def __init__(self, cfg: DCGANConfig):
        super().__init__()
        self.cfg = cfg
        ch = cfg.ngf * 2 ** (cfg.levels - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(cfg.nz, ch, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ch),
            nn.ReLU(True),
        ]
        for _ in range(cfg.levels - 1):
            layers += [
                nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ch // 2),
                nn.ReLU(True),
            ]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, cfg.nc, 4, 2, 1, bias=False), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model(z.view(z.shape[0], -1, 1, 1))

    def save_file(self, path: str | Path, meta: dict) -> Path:
        """Our safetensors with the DCGAN config under 'dcgan' (no 'arch': not a translation generator)."""
        header = {**meta, "format": FORMAT, "dcgan": asdict(self.cfg)}
        return write_safetensors(path, self.state_dict(), header)


class DCGANDiscriminator(nn.Module):
    """(N, nc, size, size) -> (N, 1, 1, 1) logits."""

    def __init__(self, cfg: DCGANConfig):
        super().__init__()
        ch = cfg.ndf
        layers: list[nn.Module] = [nn.Conv2d(cfg.nc, ch, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for _ in range(cfg.levels - 1):
            layers += [
                nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ch * 2),
                nn.LeakyReLU(0.2, True),
            ]
            ch *= 2
        layers.append(nn.Conv2d(ch, 1, 4, 1, 0, bias=False))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class DCGAN(GANModel):
    """The DCGAN nets, optimisers and step (D on real and detached fakes, then G), batch {"B": images}."""

    loss_names = ("G", "D_real", "D_fake")

    def __init__(
        self,
        opts: TrainOptions,
        input_nc: int = 3,
        output_nc: int = 3,
        *,
        device: torch.device | str = "cpu",
        dist: Dist = Dist(),
        G: nn.Module | None = None,
    ):
        super().__init__(opts, torch.device(device), dist)
        self.cfg = DCGANConfig(nz=opts.nz, ngf=opts.ngf, ndf=opts.ndf, nc=output_nc, size=opts.crop_size)
        self.G = self.place(init_weights(DCGANGenerator(self.cfg), opts.init_type, opts.init_gain))
        self.D = self.place(init_weights(DCGANDiscriminator(self.cfg), opts.init_type, opts.init_gain))
        self.G_train, self.D_pair = self.wrap(self.G), self.wrap(TwoCalls(self.D))
        self.nets = {"G": self.G, "D": self.D}
        self.optimizers = {"G": self.adam(self.G), "D": self.adam(self.D)}
        self.criterion = GANLoss(opts.gan_mode)
        g = torch.Generator().manual_seed(opts.seed + 12345)  # samples always from the same latents
        self.fixed_z = torch.randn(16, opts.nz, generator=g)

    def step(self, batch: dict) -> dict[str, float]:
        real = self.to_device(batch["B"])
        z = torch.randn(real.shape[0], self.cfg.nz, device=self.device)
        with self.autocast():
            fake = self.G_train(z)

        set_requires_grad(self.D, True)
        self.optimizers["D"].zero_grad(set_to_none=True)
        with self.autocast():
            pred_fake, pred_real = self.D_pair(fake.detach(), real)
            loss_D_fake = self.criterion(pred_fake, False)
            loss_D_real = self.criterion(pred_real, True)
            loss_D = (loss_D_fake + loss_D_real) * 0.5
        if self.opts.gan_mode == "wgangp":
            loss_D = loss_D + gradient_penalty(self.D, real.float(), fake.float())
        self.backward(loss_D, self.optimizers["D"])

        set_requires_grad(self.D, False)
        self.optimizers["G"].zero_grad(set_to_none=True)
        with self.autocast():
            loss_G = self.criterion(self.D(fake), True)
        self.backward(loss_G, self.optimizers["G"])
        self.end_step()
        values = torch.stack([loss_G, loss_D_real, loss_D_fake]).detach().float().cpu().tolist()
        return dict(zip(self.loss_names, values, strict=True))

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """G(z) with this batch's statistics (early running statistics are poor), stored ones untouched."""
        with in_modes(self.G, bn_stats="image"):
            return self.G(z.to(self.device)).float().cpu()

    def sample_rows(self, batch: dict) -> list[list[torch.Tensor]]:
        images = self.generate(self.fixed_z)
        return [list(images[r * 4 : r * 4 + 4]) for r in range(4)]

    def val_metrics(self, batches: list[dict]) -> dict[str, float]:
        return {}

    def generators(self) -> dict[str, nn.Module]:
        return {G_FILE: self.G}
