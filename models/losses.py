"""GAN objectives as method.md gives them: vanilla (BCE with logits, non-saturating), lsgan (least
squares) and wgangp (critic means plus a gradient penalty)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

GAN_MODES = ("vanilla", "lsgan", "wgangp")


class GANLoss(nn.Module):
    """`loss(pred, target_is_real)`: the objective of `mode` against an all-real or all-fake target
    the shape of `pred` (a PatchGAN grid or a single logit per image)."""

    def __init__(self, mode: str = "vanilla", real_label: float = 1.0, fake_label: float = 0.0):
        super().__init__()
        if mode not in GAN_MODES:
            raise ValueError(f"gan mode must be one of {', '.join(GAN_MODES)}, not {mode!r}")
        self.mode = mode
        self.real_label, self.fake_label = real_label, fake_label

    def forward(self, pred: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        pred = pred.float()  # losses in fp32 under autocast
        if self.mode == "wgangp":
            return -pred.mean() if target_is_real else pred.mean()
        target = torch.full_like(pred, self.real_label if target_is_real else self.fake_label)
        if self.mode == "lsgan":
            return F.mse_loss(pred, target)
        return F.binary_cross_entropy_with_logits(pred, target)


def gradient_penalty(
    critic: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    lambda_gp: float = 10.0,
    constant: float = 1.0,
) -> torch.Tensor:
    """WGAN-GP: lambda * E[(||grad critic(x_hat)||_2 / constant - 1)^2] at random mixes x_hat of real and fake."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    out = critic(mixed)
    (grad,) = torch.autograd.grad(
        outputs=out, inputs=mixed, grad_outputs=torch.ones_like(out), create_graph=True, retain_graph=True
    )
    grad = grad.reshape(grad.shape[0], -1)
    return lambda_gp * ((grad.norm(2, dim=1) / constant - 1) ** 2).mean()
