"""pix2pix (Isola et al. 2017): a U-Net generator and a PatchGAN on (A, B) pairs; G minimises the GAN
loss plus lambda_L1 * |B - G(A)|_1, D's loss is halved. The step reads like the paper.

With a teacher (distillation, as in GAN Compression and OMGD) G's loss also has lambda_teacher * the L1 to
the frozen teacher's output and lambda_feat * the MSE of its decoder features, through 1x1 adapters, to
the teacher's at a few U-Net levels (distill.py)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..discriminator import DiscriminatorConfig, build_discriminator
from ..generator import GeneratorConfig, build_generator, config_for
from ..losses import GANLoss, gradient_penalty
from ..modes import in_modes, trained_bn_stats
from .base import GANModel, set_requires_grad
from .common import Dist, TrainOptions
from .distill import FEAT_LEVELS, Adapters, FeatureTap, freeze
from .runfolder import G_FILE


def generator_config(opts: TrainOptions, input_nc: int, output_nc: int) -> GeneratorConfig:
    over = dict(
        input_nc=input_nc, output_nc=output_nc, ngf=opts.ngf, norm=opts.norm, dropout=not opts.no_dropout
    )
    if opts.upsample:
        over["upsample"] = opts.upsample
    if opts.num_downs and opts.netG.startswith("unet"):
        over["num_downs"] = opts.num_downs
    return config_for(opts.netG, **over)


def discriminator_config(opts: TrainOptions, input_nc: int) -> DiscriminatorConfig:
    n_layers = 3 if opts.netD == "basic" else opts.n_layers_D
    arch = "pixel" if opts.netD == "pixel" else "patch"
    return DiscriminatorConfig(arch=arch, input_nc=input_nc, ndf=opts.ndf, n_layers=n_layers, norm=opts.norm)


class TwoCalls(nn.Module):
    """D on a fake and a real batch in one forward, so DDP sees one call per backward while batch norm
    still sees the two batches apart, as in the reference."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net(fake), self.net(real)


class Pix2Pix(GANModel):
    """The pix2pix nets, optimisers and one training step: `Pix2Pix(opts, input_nc, output_nc).step(batch)`
    with batch {"A": (N, input_nc, H, W), "B": (N, output_nc, H, W)} in [-1, 1]."""

    loss_names = ("G_GAN", "G_L1", "D_real", "D_fake")
    optional_nets = ("adapters",)

    def __init__(
        self,
        opts: TrainOptions,
        input_nc: int = 3,
        output_nc: int = 3,
        *,
        device: torch.device | str = "cpu",
        dist: Dist = Dist(),
        G: nn.Module | None = None,
        teacher: nn.Module | None = None,
    ):
        super().__init__(opts, torch.device(device), dist)
        if G is None:
            G = build_generator(
                generator_config(opts, input_nc, output_nc),
                init_type=opts.init_type,
                init_gain=opts.init_gain,
            )
        D = build_discriminator(
            discriminator_config(opts, G.cfg.input_nc + G.cfg.output_nc),
            init_type=opts.init_type,
            init_gain=opts.init_gain,
        )
        self.G, self.D = self.place(G), self.place(D)
        self.G_train, self.D_pair = self.wrap(self.G), self.wrap(TwoCalls(self.D))
        self.nets = {"G": self.G, "D": self.D}
        self.optimizers = {"G": self.adam(self.G), "D": self.adam(self.D)}
        self.criterion = GANLoss(opts.gan_mode)
        self.teacher = self.adapters = self.s_tap = self.t_tap = None
        if teacher is not None:
            self._add_teacher(teacher)

    def _add_teacher(self, teacher: nn.Module) -> None:
        """The frozen teacher (never in `nets`: it is not trained, and its file is reloaded on resume), the
        feature taps, and the adapters, trained by their own Adam on G's learning-rate schedule."""
        self.teacher = self.place(freeze(teacher))
        self.loss_names = (*self.loss_names, "G_teacher", "G_feat")
        if self.opts.lambda_feat <= 0:
            return
        s_tap, t_tap = FeatureTap(self.G, FEAT_LEVELS), FeatureTap(self.teacher, FEAT_LEVELS)
        adapters = Adapters(s_tap.channels, t_tap.channels)
        if not adapters.convs:  # a ResNet on either side: no U-Net levels to match, output L1 only
            s_tap.remove(), t_tap.remove()
            return
        self.s_tap, self.t_tap = s_tap, t_tap
        self.adapters = self.place(adapters)
        self.adapters_train = self.wrap(self.adapters)
        self.nets["adapters"] = self.adapters
        self.optimizers["adapters"] = self.adam(self.adapters)

    def step(self, batch: dict) -> dict[str, float]:
        real_A, real_B = self.to_device(batch["A"]), self.to_device(batch["B"])
        opt_G, opt_D = self.optimizers["G"], self.optimizers["D"]
        with self.autocast():
            fake_B = self.G_train(real_A)  # G(A)
        fake_AB = torch.cat([real_A, fake_B], 1)  # conditional D sees the input too
        real_AB = torch.cat([real_A, real_B], 1)

        # D: real pairs -> real, detached fakes -> fake; the loss halved
        set_requires_grad(self.D, True)
        opt_D.zero_grad(set_to_none=True)
        with self.autocast():
            pred_fake, pred_real = self.D_pair(fake_AB.detach(), real_AB)
            loss_D_fake = self.criterion(pred_fake, False)
            loss_D_real = self.criterion(pred_real, True)
            loss_D = (loss_D_fake + loss_D_real) * 0.5
        if self.opts.gan_mode == "wgangp":
            loss_D = loss_D + gradient_penalty(self.D, real_AB.float(), fake_AB.float())
        self.backward(loss_D, opt_D)

        # G: fool the frozen D, and stay near B in L1 (and near the teacher, when there is one)
        set_requires_grad(self.D, False)
        opt_G.zero_grad(set_to_none=True)
        with self.autocast():
            loss_G_GAN = self.criterion(self.D(fake_AB), True)
        loss_G_L1 = F.l1_loss(fake_B.float(), real_B.float()) * self.opts.lambda_L1
        losses = [loss_G_GAN, loss_G_L1, loss_D_real, loss_D_fake]
        loss_G, optimizers = loss_G_GAN + loss_G_L1, [opt_G]
        if self.teacher is not None:
            loss_T, loss_F = self._distill_losses(real_A, fake_B)
            loss_G = loss_G + loss_T + loss_F
            losses += [loss_T, loss_F]
            if self.adapters is not None:
                self.optimizers["adapters"].zero_grad(set_to_none=True)
                optimizers.append(self.optimizers["adapters"])
        self.backward(loss_G, *optimizers)
        self.end_step()
        if self.s_tap is not None:  # let the step's activations go
            self.s_tap.feats.clear(), self.t_tap.feats.clear()
        values = torch.stack([x.detach().float() for x in losses]).cpu()
        return dict(zip(self.loss_names, values.tolist(), strict=True))

    def _distill_losses(
        self, real_A: torch.Tensor, fake_B: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """lambda_teacher * |T(A) - G(A)|_1 and lambda_feat * the adapted feature MSE (G's features were
        tapped in the forward that made fake_B)."""
        with torch.no_grad(), self.autocast():
            target = self.teacher(real_A)
        loss_T = F.l1_loss(fake_B.float(), target.float()) * self.opts.lambda_teacher
        if self.adapters is None:
            return loss_T, torch.zeros((), device=loss_T.device)
        with self.autocast():
            loss_F = self.adapters_train(self.s_tap.feats, self.t_tap.feats) * self.opts.lambda_feat
        return loss_T, loss_F

    def translate(self, A: torch.Tensor) -> torch.Tensor:
        """G(A) as the exported file runs it (its header's "inference"), no dropout, training state untouched:
        batch norm trained one image at a time normalises each image by its own statistics (the running
        ones swing from epoch to epoch: a val curve on them is noise), else by the running statistics."""
        bn_stats = trained_bn_stats(self.opts.norm, self.opts.batch_size)
        A = self.to_device(A)
        with in_modes(self.G, bn_stats=bn_stats):
            if bn_stats == "image":
                return torch.cat([self.G(a[None]) for a in A]).float()
            return self.G(A).float()

    def sample_rows(self, batch: dict) -> list[list[torch.Tensor]]:
        fake = self.translate(batch["A"]).cpu()
        return [[a, f, b] for a, f, b in zip(batch["A"], fake, batch["B"], strict=True)]

    def val_metrics(self, batches: list[dict]) -> dict[str, float]:
        """Mean L1 and PSNR of G(A) against B, both on the [0, 1] pixel scale."""
        l1 = psnr = 0.0
        n = 0
        for batch in batches:
            fake = (self.translate(batch["A"]).cpu().clamp(-1, 1) + 1) / 2
            real = (batch["B"].float() + 1) / 2
            for f, r in zip(fake, real, strict=True):
                l1 += float((f - r).abs().mean())
                mse = float(((f - r) ** 2).mean())
                psnr += 10 * torch.log10(torch.tensor(1.0 / max(mse, 1e-10))).item()
                n += 1
        return {"l1": round(l1 / max(n, 1), 5), "psnr": round(psnr / max(n, 1), 3)}

    def generators(self) -> dict[str, nn.Module]:
        """Files written at each checkpoint: name -> generator."""
        return {G_FILE: self.G}
