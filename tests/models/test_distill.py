"""Distillation inside the one trainer (`--teacher`): the live student's size, the feature taps and
adapters, that a student is pulled towards its teacher, that D gets no gradients from the G step, that the
teacher stays frozen, and that a distilled run resumes exactly."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from models.checkpoint import load_checkpoint, read_header, save_checkpoint
from models.errors import DataError
from models.generator import GeneratorConfig, build_generator, config_for, count_macs
from models.train import Trainer, make_options
from models.train.distill import Adapters, FeatureTap, unet_blocks
from tests.train_data import make_pairs

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("name", ["unet_256", "unet_128"])
def test_live_student_is_under_half_a_gmac_at_256(name):
    net = build_generator(config_for(name, ngf=16))
    macs = count_macs(net, 256)
    assert 0.35e9 < macs <= 0.5e9
    assert count_macs(build_generator(config_for(name, ngf=24)), 256) > 0.5e9  # the full model is not


def test_feature_taps_record_decoder_outputs_and_adapters_map_channels():
    t = build_generator(GeneratorConfig(ngf=8, num_downs=5))
    s = build_generator(GeneratorConfig(ngf=4, num_downs=6))  # another depth: levels still line up
    assert len(unet_blocks(s)) == 6
    ts, ss = FeatureTap(t, (1, 2, 3)), FeatureTap(s, (1, 2, 3))
    assert ts.channels == {1: 8, 2: 16, 3: 32} and ss.channels == {1: 4, 2: 8, 3: 16}
    x = torch.randn(2, 3, 64, 64)
    t(x), s(x)
    assert ts.feats[1].shape == (2, 8, 32, 32) and ts.feats[3].shape == (2, 32, 8, 8)
    assert ss.feats[3].shape == (2, 16, 8, 8)
    ad = Adapters(ss.channels, ts.channels)
    loss = ad(ss.feats, ts.feats)
    assert loss.item() > 0
    loss.backward()
    assert all(c.weight.grad is not None for c in ad.convs.values())
    ts.remove()
    t(x)
    assert not ts.feats and not t.model._forward_hooks  # no hooks fire after remove()


# ---------------------------------------------------------------- through the real Trainer


def make_teacher(path, ngf=8, num_downs=5, input_nc=3, scale=3.0):
    """Instance norm: eval-mode outputs after a few steps mean what training did. Scaled up so that its
    outputs are far from an untrained student's (about 0)."""
    torch.manual_seed(0)
    net = build_generator(
        GeneratorConfig(ngf=ngf, num_downs=num_downs, dropout=False, norm="instance", input_nc=input_nc)
    )
    with torch.no_grad():
        net.model.model[3].weight.mul_(scale)
    save_checkpoint(path, net, {"name": "big", "role": "full", "input_kind": "image"})
    return path


def student(data, out, teacher, **kw):
    base = dict(
        data=str(data), out=str(out), ngf=4, ndf=4, num_downs=5, load_size=36, crop_size=32,
        num_workers=0, sample_every=0, n_epochs=2, n_epochs_decay=2, seed=3, norm="instance",
        no_dropout=True, teacher=str(teacher),
    )  # fmt: skip
    return make_options("pix2pix", **{**base, **kw})


def test_distillation_pulls_the_student_to_the_teacher(tmp_path):
    data = make_pairs(tmp_path / "d", n=6, n_val=2)
    teacher_path = make_teacher(tmp_path / "teacher.safetensors")
    opts = student(data, tmp_path / "run", teacher_path, lambda_L1=0.0, lr=5e-3, max_iters=20)
    t = Trainer.create(opts, progress=False)
    x = torch.stack([t.train_set[i]["A"] for i in range(len(t.train_set))])
    teacher = load_checkpoint(teacher_path).net
    with torch.no_grad():
        target = teacher(x)
        d0 = F.l1_loss(t.model.translate(x), target).item()
    assert d0 > 0.1
    t.run()
    with torch.no_grad():
        d1 = F.l1_loss(t.model.translate(x), target).item()
    assert d1 < 0.85 * d0, (d0, d1)
    assert {"G_teacher", "G_feat"} <= t.metrics["losses"].keys() and t.metrics["losses"]["G_feat"] > 0
    header = read_header(tmp_path / "run" / "latest.safetensors")
    assert header["teacher"]["file"] == "teacher.safetensors" and header["teacher"]["name"] == "big"
    assert header["role"] == "live" and header["training"]["teacher"] == str(teacher_path)
    saved = json.loads((tmp_path / "run" / "options.json").read_text())
    assert saved["teacher"] == str(teacher_path) and saved["lambda_teacher"] == 100.0
    assert saved["lambda_feat"] == 1.0


def test_g_step_leaves_d_alone_and_the_teacher_frozen(tmp_path):
    data = make_pairs(tmp_path / "d", n=6, n_val=2)
    teacher_path = make_teacher(tmp_path / "teacher.safetensors")
    # batch norm in the teacher too: its running statistics must not move
    t = Trainer.create(
        student(data, tmp_path / "run", teacher_path, norm="batch", no_dropout=False), progress=False
    )
    m = t.model
    counts: dict[str, int] = {}

    def counter(name):
        def hook(_p):
            counts[name] = counts.get(name, 0) + 1

        return hook

    for net in ("G", "D", "adapters"):
        for i, p in enumerate(m.nets[net].parameters()):
            p.register_post_accumulate_grad_hook(counter(f"{net}.{i}"))
    teacher_state = {k: v.clone() for k, v in m.teacher.state_dict().items()}
    adapters_before = [p.detach().clone() for p in m.adapters.parameters()]
    d_grads_after_d_step = []
    d_step = m.optimizers["D"].step

    def record_then_step(*a, **kw):  # D's gradients as the D step left them
        d_grads_after_d_step.append([p.grad.clone() for p in m.D.parameters()])
        return d_step(*a, **kw)

    m.optimizers["D"].step = record_then_step
    batch = next(iter(t._loader()))
    losses = m.step(batch)
    assert set(losses) == {"G_GAN", "G_L1", "D_real", "D_fake", "G_teacher", "G_feat"}
    n_d = len(list(m.D.parameters()))
    # each D weight got its gradient once (the D step), each G and adapter weight once (the G step)
    assert sorted(k for k in counts if k.startswith("D.")) == sorted(f"D.{i}" for i in range(n_d))
    assert set(counts.values()) == {1}
    assert len([k for k in counts if k.startswith("G.")]) == len(list(m.G.parameters()))
    assert len([k for k in counts if k.startswith("adapters.")]) == len(list(m.adapters.parameters()))
    # the G backward left D's gradients exactly as the D step made them
    for g_then, p in zip(d_grads_after_d_step[0], m.D.parameters(), strict=True):
        assert torch.equal(g_then, p.grad)
    assert not m.teacher.training and all(not p.requires_grad for p in m.teacher.parameters())
    assert all(p.grad is None for p in m.teacher.parameters())
    for k, v in m.teacher.state_dict().items():
        assert torch.equal(v, teacher_state[k]), k  # running statistics untouched
    assert any(not torch.equal(a, b) for a, b in zip(adapters_before, m.adapters.parameters(), strict=True))
    assert m.G.training and all(p.requires_grad for p in m.G.parameters())


def test_distilled_run_resumes_exactly(tmp_path):
    data = make_pairs(tmp_path / "d", n=6, n_val=2)
    teacher_path = make_teacher(tmp_path / "teacher.safetensors")
    straight = Trainer.create(student(data, tmp_path / "a", teacher_path, max_iters=9), progress=False)
    straight.run()
    Trainer.create(student(data, tmp_path / "b", teacher_path, max_iters=8), progress=False).run()
    resumed = Trainer.resume(tmp_path / "b", progress=False, overrides={"max_iters": 9})
    assert resumed.model.teacher is not None
    resumed.run()
    assert resumed.metrics["losses"] == straight.metrics["losses"]
    for name in ("G", "D", "adapters"):
        a, b = straight.model.nets[name].state_dict(), resumed.model.nets[name].state_dict()
        for k in a:
            assert torch.equal(a[k], b[k]), (name, k)
    opt_a = straight.model.optimizers["adapters"].state_dict()["state"]
    opt_b = resumed.model.optimizers["adapters"].state_dict()["state"]
    assert opt_a and all(torch.equal(opt_a[i]["exp_avg"], opt_b[i]["exp_avg"]) for i in opt_a)


def test_teacher_must_match_the_students_channels(tmp_path):
    data = make_pairs(tmp_path / "d", n=6, n_val=2)
    gray_teacher = make_teacher(tmp_path / "gray.safetensors", input_nc=1)
    with pytest.raises(DataError, match="gray.safetensors: maps 1 to 3 channels, the student 3 to 3"):
        Trainer.create(student(data, tmp_path / "r1", gray_teacher, input_nc=3), progress=False)
    deep = make_teacher(tmp_path / "deep.safetensors", num_downs=6)
    with pytest.raises(DataError, match="multiple of 64"):
        Trainer.create(student(data, tmp_path / "r2", deep), progress=False)
    with pytest.raises(DataError, match="--teacher applies to pix2pix"):
        make_options("cyclegan", teacher=str(deep))


def test_the_student_takes_the_teachers_channels_and_kind(tmp_path):
    data = make_pairs(tmp_path / "d", n=6, n_val=2)  # 3-channel files
    gray = make_teacher(tmp_path / "gray.safetensors", input_nc=1)
    t = Trainer.create(student(data, tmp_path / "run", gray, max_iters=1), progress=False)
    assert (t.opts.input_nc, t.opts.output_nc, t.opts.input_kind) == (1, 3, "image")
    assert t.model.G.cfg.input_nc == 1
    t.run()


def test_without_feature_loss_there_are_no_adapters(tmp_path):
    data = make_pairs(tmp_path / "d", n=6, n_val=2)
    teacher_path = make_teacher(tmp_path / "teacher.safetensors")
    t = Trainer.create(
        student(data, tmp_path / "run", teacher_path, lambda_feat=0.0, max_iters=2), progress=False
    )
    assert "adapters" not in t.model.nets and t.model.adapters is None
    t.run()
    assert t.metrics["losses"]["G_feat"] == 0.0 and t.metrics["losses"]["G_teacher"] > 0


def test_a_batch_one_teacher_runs_on_each_images_own_statistics(tmp_path):
    """A batch-1 teacher's running statistics average the last few training images; its targets come from
    each image's own (as every training step saw), and teaching never moves the stored statistics."""
    from models.train.distill import load_teacher, teacher_bn_stats

    assert teacher_bn_stats({"training": {"batch_size": 1, "norm": "batch"}}) == "image"
    assert teacher_bn_stats({"training": {"batch_size": 4, "norm": "batch"}}) == "running"
    assert teacher_bn_stats({"training": {"batch_size": 1, "norm": "instance"}}) == "running"
    assert (
        teacher_bn_stats({"inference": {"bn_stats": "running"}, "training": {"batch_size": 1}}) == "running"
    )
    assert teacher_bn_stats({}) == "running"

    torch.manual_seed(0)
    net = build_generator(GeneratorConfig(arch="unet", input_nc=3, output_nc=3, ngf=4, num_downs=5))
    for m in net.modules():  # running statistics far from any image's: the two modes must differ
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.fill_(3.0)
            m.running_var.fill_(0.01)
    path = save_checkpoint(tmp_path / "t.safetensors", net, {"training": {"batch_size": 1, "norm": "batch"}})
    teacher = load_teacher(str(path)).net
    bn = next(m for m in teacher.modules() if isinstance(m, torch.nn.BatchNorm2d))
    stored = bn.running_mean.clone()
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        y = teacher(x)
        ref = load_checkpoint(path).net
        for m in ref.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.train()
                m.track_running_stats = False
        want = ref(x)
        running = load_checkpoint(path).net.eval()(x)
    assert torch.allclose(y, want, atol=1e-5)
    assert not torch.allclose(y, running, atol=1e-2)
    assert torch.equal(bn.running_mean, stored)
    from models.train.distill import freeze

    freeze(teacher)  # the student's model freezes it again: the mode chosen from the header stays
    with torch.no_grad():
        assert torch.allclose(teacher(x), want, atol=1e-5)
    assert not any(p.requires_grad for p in teacher.parameters())
