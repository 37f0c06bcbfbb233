"""GAN objectives: the formulas of method.md, and a gradient penalty that is zero exactly at unit norm."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from models.losses import GANLoss, gradient_penalty
from models.pool import ImagePool


def test_vanilla_is_bce_with_logits():
    pred = torch.tensor([[0.0, 2.0], [-1.0, 0.5]])
    real = GANLoss("vanilla")(pred, True)
    expected = torch.nn.functional.softplus(-pred).mean()  # -log(sigmoid(x))
    assert torch.allclose(real, expected)
    assert math.isclose(GANLoss("vanilla")(torch.zeros(3), False).item(), math.log(2), rel_tol=1e-6)


def test_lsgan_is_mse_to_labels():
    pred = torch.tensor([0.5, 1.5])
    assert math.isclose(GANLoss("lsgan")(pred, True).item(), 0.25)
    assert math.isclose(GANLoss("lsgan")(pred, False).item(), (0.25 + 2.25) / 2)


def test_wgangp_is_signed_mean():
    pred = torch.tensor([1.0, 3.0])
    assert GANLoss("wgangp")(pred, True).item() == -2.0
    assert GANLoss("wgangp")(pred, False).item() == 2.0


def test_unknown_mode_refused():
    with pytest.raises(ValueError, match="gan mode"):
        GANLoss("hinge")


def test_gradient_penalty_zero_at_unit_gradient_norm():
    x = torch.randn(4, 1, 2, 2)
    unit = nn.Linear(4, 1, bias=False)
    with torch.no_grad():
        unit.weight.copy_(torch.tensor([[1.0, 0.0, 0.0, 0.0]]))  # gradient norm 1 everywhere
    critic = nn.Sequential(nn.Flatten(), unit)
    assert gradient_penalty(critic, x, torch.randn_like(x)).item() == pytest.approx(0.0, abs=1e-6)
    with torch.no_grad():
        unit.weight.mul_(3.0)  # norm 3: (3 - 1)^2 * 10
    gp = gradient_penalty(critic, x, torch.randn_like(x))
    assert gp.item() == pytest.approx(40.0, rel=1e-5)
    gp.backward()
    assert unit.weight.grad is not None and unit.weight.grad.abs().sum() > 0


def test_image_pool_mixes_history_and_resumes():
    pool = ImagePool(3, seed=1)
    for i in range(3):
        assert (
            pool.query(torch.full((1, 1, 2, 2), float(i)))[0, 0, 0, 0].item() == i
        )  # filling: returns the new image
    outs = [pool.query(torch.full((1, 1, 2, 2), 10.0 + i))[0, 0, 0, 0].item() for i in range(20)]
    assert any(o < 10 for o in outs) and any(o >= 10 for o in outs)
    state = pool.state_dict()
    twin = ImagePool(3, seed=99)
    twin.load_state_dict(state)
    x = torch.full((1, 1, 2, 2), 50.0)
    assert [pool.query(x).sum().item() for _ in range(5)] == [twin.query(x).sum().item() for _ in range(5)]
    assert torch.equal(ImagePool(0).query(x), x)
