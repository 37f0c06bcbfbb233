"""CycleGAN (Zhu et al. 2017): two ResNet generators G_A: A->B and G_B: B->A, two PatchGANs (D_A judges
B-domain images, D_B A-domain ones), lsgan, cycle L1 (lambda 10 each way), identity L1 (0.5 * lambda),
and history pools of 50 fakes. The step keeps the reference order: G step with both D frozen, then D."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..discriminator import build_discriminator
from ..generator import build_generator
from ..losses import GANLoss, gradient_penalty
from ..pool import ImagePool
from .base import GANModel, eval_mode, set_requires_grad
from .common import Dist, TrainOptions
from .pix2pix import TwoCalls, discriminator_config, generator_config
from .runfolder import G_B_FILE, G_FILE


class Generators(nn.Module):
    """Both generators in one forward (so DDP sees one call per backward): fakes, reconstructions, and
    identity images when the identity loss is on."""

    def __init__(self, G_A: nn.Module, G_B: nn.Module, identity: bool):
        super().__init__()
        self.G_A, self.G_B, self.identity = G_A, G_B, identity

    def forward(self, real_A: torch.Tensor, real_B: torch.Tensor) -> dict[str, torch.Tensor]:
        fake_B = self.G_A(real_A)
        fake_A = self.G_B(real_B)
        out = {"fake_B": fake_B, "rec_A": self.G_B(fake_B), "fake_A": fake_A, "rec_B": self.G_A(fake_A)}
        if self.identity:
            out["idt_A"] = self.G_A(real_B)  # G_A should leave a B image alone
            out["idt_B"] = self.G_B(real_A)
        return out


class CycleGAN(GANModel):
    """The CycleGAN nets, optimisers (one Adam for both G, one for both D, as the reference) and step."""

    loss_names = ("D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B")

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
        init = dict(init_type=opts.init_type, init_gain=opts.init_gain)
        G_A = G if G is not None else build_generator(generator_config(opts, input_nc, output_nc), **init)
        G_B = build_generator(generator_config(opts, G_A.cfg.output_nc, G_A.cfg.input_nc), **init)
        D_A = build_discriminator(discriminator_config(opts, G_A.cfg.output_nc), **init)
        D_B = build_discriminator(discriminator_config(opts, G_A.cfg.input_nc), **init)
        self.G_A, self.G_B, self.D_A, self.D_B = (self.place(n) for n in (G_A, G_B, D_A, D_B))
        # Identity needs images that fit both generators' inputs.
        self.identity = opts.lambda_identity > 0 and G_A.cfg.input_nc == G_A.cfg.output_nc
        self.G_pair = self.wrap(Generators(self.G_A, self.G_B, self.identity))
        self.D_A_pair, self.D_B_pair = self.wrap(TwoCalls(self.D_A)), self.wrap(TwoCalls(self.D_B))
        self.nets = {"G_A": self.G_A, "G_B": self.G_B, "D_A": self.D_A, "D_B": self.D_B}
        self.optimizers = {
            "G": torch.optim.Adam(
                [*self.G_A.parameters(), *self.G_B.parameters()], lr=opts.lr, betas=(opts.beta1, 0.999)
            ),
            "D": torch.optim.Adam(
                [*self.D_A.parameters(), *self.D_B.parameters()], lr=opts.lr, betas=(opts.beta1, 0.999)
            ),
        }
        self.pool_A = ImagePool(opts.pool_size, seed=opts.seed * 2 + 1 + dist.rank)
        self.pool_B = ImagePool(opts.pool_size, seed=opts.seed * 2 + 2 + dist.rank)
        self.criterion = GANLoss(opts.gan_mode)

    def _d_loss(self, pair: nn.Module, D: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        with self.autocast():
            pred_fake, pred_real = pair(fake.detach(), real)
            loss = (self.criterion(pred_real, True) + self.criterion(pred_fake, False)) * 0.5
        if self.opts.gan_mode == "wgangp":
            loss = loss + gradient_penalty(D, real.float(), fake.float())
        return loss

    def step(self, batch: dict) -> dict[str, float]:
        o = self.opts
        real_A, real_B = self.to_device(batch["A"]), self.to_device(batch["B"])
        with self.autocast():
            out = self.G_pair(real_A, real_B)

        # G: fool both frozen D, close both cycles, (optionally) leave the target domain alone
        set_requires_grad(self.D_A, False)
        set_requires_grad(self.D_B, False)
        self.optimizers["G"].zero_grad(set_to_none=True)
        with self.autocast():
            loss_G_A = self.criterion(self.D_A(out["fake_B"]), True)
            loss_G_B = self.criterion(self.D_B(out["fake_A"]), True)
        loss_cycle_A = F.l1_loss(out["rec_A"].float(), real_A.float()) * o.lambda_A
        loss_cycle_B = F.l1_loss(out["rec_B"].float(), real_B.float()) * o.lambda_B
        zero = real_A.new_zeros(())
        loss_idt_A = loss_idt_B = zero
        if self.identity:
            loss_idt_A = F.l1_loss(out["idt_A"].float(), real_B.float()) * o.lambda_B * o.lambda_identity
            loss_idt_B = F.l1_loss(out["idt_B"].float(), real_A.float()) * o.lambda_A * o.lambda_identity
        loss_G = loss_G_A + loss_G_B + loss_cycle_A + loss_cycle_B + loss_idt_A + loss_idt_B
        self.backward(loss_G, self.optimizers["G"])

        # D: real -> real, a fake from the history pool -> fake; each loss halved
        set_requires_grad(self.D_A, True)
        set_requires_grad(self.D_B, True)
        self.optimizers["D"].zero_grad(set_to_none=True)
        loss_D_A = self._d_loss(self.D_A_pair, self.D_A, real_B, self.pool_B.query(out["fake_B"]))
        loss_D_B = self._d_loss(self.D_B_pair, self.D_B, real_A, self.pool_A.query(out["fake_A"]))
        self.backward(loss_D_A + loss_D_B, self.optimizers["D"])
        self.end_step()
        values = [loss_D_A, loss_G_A, loss_cycle_A, loss_idt_A, loss_D_B, loss_G_B, loss_cycle_B, loss_idt_B]
        values = torch.stack([v.detach().float() for v in values]).cpu().tolist()
        return dict(zip(self.loss_names, values, strict=True))

    def sample_rows(self, batch: dict) -> list[list[torch.Tensor]]:
        """real A | G_A(A) | G_B(G_A(A)) per row."""
        with eval_mode(self.G_A, self.G_B):
            fake = self.G_A(self.to_device(batch["A"]))
            rec = self.G_B(fake)
        return [[a, f, r] for a, f, r in zip(batch["A"], fake.float().cpu(), rec.float().cpu(), strict=True)]

    def val_metrics(self, batches: list[dict]) -> dict[str, float]:
        return {}

    def generators(self) -> dict[str, nn.Module]:
        return {G_FILE: self.G_A, G_B_FILE: self.G_B}

    def generator_meta(self, name: str, meta: dict) -> dict:
        if "G_B" in name:  # the reverse direction
            flip = {"AtoB": "BtoA", "BtoA": "AtoB"}
            return {
                **meta,
                "direction": flip.get(meta.get("direction"), meta.get("direction")),
                "name": f"{meta.get('name', '')} (B to A)",
                "input_kind": "image",
            }
        return meta

    def state_dict(self) -> dict:
        return {
            **super().state_dict(),
            "pool_A": self.pool_A.state_dict(),
            "pool_B": self.pool_B.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.pool_A.load_state_dict(state["pool_A"], self.device)
        self.pool_B.load_state_dict(state["pool_B"], self.device)
