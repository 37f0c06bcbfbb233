"""Distillation: the live student's size, the feature taps and adapters, and that training pulls a student
towards its teacher."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from models.checkpoint import load_checkpoint
from models.distill import Adapters, DistillConfig, FeatureTap, PairBank, checkpoint_saver, train, unet_blocks
from models.generator import GeneratorConfig, build_generator, config_for, count_macs


@pytest.mark.parametrize("name", ["unet_256", "unet_128"])
def test_live_student_is_under_half_a_gmac_at_256(name):
    net = build_generator(config_for(name, ngf=16))
    macs = count_macs(net, 256)
    assert 0.35e9 < macs <= 0.5e9
    assert count_macs(build_generator(config_for(name, ngf=24)), 256) > 0.5e9  # the full model is not


def test_feature_taps_record_decoder_outputs_and_adapters_map_channels():
    t = build_generator(GeneratorConfig(ngf=8, num_downs=5))
    s = build_generator(GeneratorConfig(ngf=4, num_downs=5))
    assert len(unet_blocks(s)) == 5
    ts, ss = FeatureTap(t, (1, 2, 3)), FeatureTap(s, (1, 2, 3))
    assert ts.channels(t) == {1: 8, 2: 16, 3: 32} and ss.channels(s) == {1: 4, 2: 8, 3: 16}
    x = torch.randn(2, 3, 32, 32)
    t(x), s(x)
    assert ts.feats[1].shape == (2, 8, 16, 16) and ts.feats[3].shape == (2, 32, 4, 4)
    ad = Adapters(ss.channels(s), ts.channels(t))
    loss = ad.loss(ss.feats, ts.feats)
    assert loss.item() > 0
    loss.backward()
    assert all(c.weight.grad is not None for c in ad.convs.values())
    ts.remove()
    t(x)
    assert ts.feats[1].shape[0] == 2  # old value kept, but no new hooks fire
    assert not t.model._forward_hooks


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def bank(n=6, size=32, seed=0) -> PairBank:
    g = torch.Generator().manual_seed(seed)
    a = [torch.randint(0, 256, (3, size, size), generator=g, dtype=torch.uint8) for _ in range(n)]
    # the target is a fixed function of the input, so there is something to learn
    b = [(255 - x).flip(0) for x in a]
    return PairBank(a, b)


def test_bank_batches_are_crops_in_unit_range():
    x, y = bank().batch(np.random.default_rng(0), 3, 16)
    assert x.shape == y.shape == (3, 3, 16, 16)
    assert x.min() >= -1 and x.max() <= 1
    assert torch.allclose(y, -x.flip(1), atol=1e-6)  # crop and flip applied to both sides alike


def test_distillation_pulls_the_student_to_the_teacher(tmp_path):
    torch.manual_seed(0)
    # Instance norm: no running statistics, so eval-mode outputs after a few steps mean what training did.
    teacher = build_generator(GeneratorConfig(ngf=8, num_downs=5, dropout=False, norm="instance")).eval()
    with torch.no_grad():  # a teacher whose outputs are far from the untrained student's (about 0)
        teacher.model.model[3].weight.mul_(3)
    data = bank()
    x = torch.stack([a.float() / 127.5 - 1 for a in data.a])
    with torch.no_grad():
        target = teacher(x)
    student_cfg = GeneratorConfig(ngf=4, num_downs=5, dropout=False, norm="instance")
    torch.manual_seed(1)
    with torch.no_grad():
        d0 = F.l1_loss(build_generator(student_cfg).eval()(x), target).item()
    assert d0 > 0.1
    logs = []
    cfg = DistillConfig(
        student=student_cfg,
        crop=32,
        batch=2,
        max_iters=20,
        lambda_l1=0.0,
        lambda_teacher=100.0,
        seed=1,
        ndf=4,
        lr=5e-3,
    )
    saver = checkpoint_saver(tmp_path / "s.safetensors", {"name": "s", "role": "live"})
    res = train(data, cfg, teacher=teacher, log=logs.append, save=saver)
    with torch.no_grad():
        d1 = F.l1_loss(res.net.eval()(x), target).item()
    assert res.iters == 20 and res.images_seen == 40
    assert d1 < 0.85 * d0
    assert "G_feat" in logs[-1]["losses"] and "G_teacher" in logs[-1]["losses"]
    assert all(p.requires_grad for p in teacher.parameters())  # the teacher is handed back as it came
    ck = load_checkpoint(tmp_path / "s.safetensors")
    assert ck.meta["role"] == "live" and ck.meta["training"]["iters"] == 20


def test_without_a_teacher_it_is_plain_pix2pix():
    cfg = DistillConfig(student=GeneratorConfig(ngf=4, num_downs=5), crop=32, batch=2, max_iters=3, ndf=8)
    logs = []
    res = train(bank(), cfg, log=logs.append)
    assert res.iters == 3
    assert set(logs[0]["losses"]) == {"G_GAN", "G_L1", "D_real", "D_fake"}
