"""pix2pix training on a generated dataset: it learns (L1 drops), a kill-and-resume takes the same next
step as an uninterrupted run, and the run folder holds what the protocol promises."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from models.checkpoint import load_checkpoint, read_header
from models.errors import DataError
from models.train import Trainer, make_options
from models.train.common import lr_factor
from models.train.pix2pix import Pix2Pix

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make_inversion_set(root, n_train=12, n_val=4, size=32, seed=0):
    """Aligned A|B pairs: random coloured squares (A) and their colour inversion (B)."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("val", n_val)):
        (root / split).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            a = np.full((size, size, 3), 30, np.uint8)
            for _ in range(3):
                x, y = rng.integers(0, size - 8, 2)
                a[y : y + 8, x : x + 8] = rng.integers(60, 255, 3)
            Image.fromarray(np.concatenate([a, 255 - a], 1)).save(root / split / f"{i:03d}.png")
    return root


def tiny(data, out, **kw):
    base = dict(
        data=str(data), out=str(out), ngf=8, ndf=8, num_downs=5, load_size=36, crop_size=32,
        num_workers=0, sample_every=0, n_epochs=2, n_epochs_decay=2, seed=3,
    )  # fmt: skip
    return make_options("pix2pix", **{**base, **kw})


def test_defaults_follow_method_md():
    o = make_options("pix2pix")
    assert (o.netG, o.ngf, o.ndf, o.netD, o.n_layers_D, o.norm, o.no_dropout) == (
        "unet_256",
        64,
        64,
        "basic",
        3,
        "batch",
        False,
    )
    assert (o.gan_mode, o.lambda_L1, o.lr, o.beta1, o.batch_size) == ("vanilla", 100.0, 2e-4, 0.5, 1)
    assert (o.n_epochs, o.n_epochs_decay, o.load_size, o.crop_size, o.init_type, o.init_gain) == (
        100,
        100,
        286,
        256,
        "normal",
        0.02,
    )
    c = make_options("cyclegan")
    assert (c.netG, c.norm, c.gan_mode, c.lambda_A, c.lambda_identity, c.pool_size) == (
        "resnet_9blocks",
        "instance",
        "lsgan",
        10.0,
        0.5,
        50,
    )
    assert make_options("cyclegan", crop_size=128, load_size=143).netG == "resnet_6blocks"


def test_linear_decay_schedule():
    assert [lr_factor(e, 100, 100) for e in (0, 99)] == [1.0, 1.0]
    assert lr_factor(100, 100, 100) == pytest.approx(1 - 1 / 101)
    assert lr_factor(199, 100, 100) == pytest.approx(1 / 101)
    assert lr_factor(3, 2, 2) < lr_factor(2, 2, 2) < lr_factor(1, 2, 2) == 1.0


def test_step_order_and_adam_settings():
    o = make_options("pix2pix", ngf=4, ndf=4, num_downs=5, crop_size=32)
    m = Pix2Pix(o, 3, 3)
    assert m.optimizers["G"].param_groups[0]["betas"] == (0.5, 0.999)
    d_before = [p.detach().clone() for p in m.D.parameters()]
    losses = m.step({"A": torch.rand(1, 3, 32, 32) * 2 - 1, "B": torch.rand(1, 3, 32, 32) * 2 - 1})
    assert set(losses) == {"G_GAN", "G_L1", "D_real", "D_fake"}
    assert all(np.isfinite(v) for v in losses.values())
    assert any(not torch.equal(a, b) for a, b in zip(d_before, m.D.parameters(), strict=True))
    assert all(not p.requires_grad for p in m.D.parameters())  # frozen after the G step, as in the paper


@pytest.mark.parametrize("batch_size", [1, 2])
def test_val_and_samples_run_g_as_its_exported_file_will(batch_size):
    """Batch 1: each image on its own statistics (what the header's "inference" says); else running."""
    from models.modes import set_modes

    o = make_options("pix2pix", ngf=4, ndf=4, num_downs=5, crop_size=32, batch_size=batch_size)
    m = Pix2Pix(o, 3, 3)
    torch.manual_seed(0)
    for _ in range(2):
        m.step(
            {"A": torch.rand(batch_size, 3, 32, 32) * 2 - 1, "B": torch.rand(batch_size, 3, 32, 32) * 2 - 1}
        )
    A = torch.rand(3, 3, 32, 32) * 2 - 1
    buffers = {k: v.clone() for k, v in m.G.state_dict().items()}
    got = m.translate(A)
    assert m.G.training and all(torch.equal(v, buffers[k]) for k, v in m.G.state_dict().items())
    ref = Pix2Pix(o, 3, 3, G=None)
    ref.G.load_state_dict(m.G.state_dict())
    set_modes(ref.G, bn_stats="image" if batch_size == 1 else "running")
    with torch.no_grad():
        want = torch.cat([ref.G(a[None]) for a in A])
    assert torch.allclose(got, want, atol=1e-5)
    set_modes(ref.G, bn_stats="running" if batch_size == 1 else "image")
    with torch.no_grad():
        other = torch.cat([ref.G(a[None]) for a in A])
    assert not torch.allclose(got, other, atol=1e-3)  # the two modes differ: the test can tell them apart


def test_tiny_pix2pix_lowers_l1(tmp_path):
    data = make_inversion_set(tmp_path / "inv", n_train=10, n_val=4)
    t = Trainer.create(tiny(data, tmp_path / "run", n_epochs=6, n_epochs_decay=4, lr=1e-3), progress=False)
    before = t.model.val_metrics(t.val_batches)["l1"]
    t.run()
    after = t.model.val_metrics(t.val_batches)["l1"]
    assert t.iter == 100
    assert after < 0.6 * before, (before, after)
    events = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    vals = [e for e in events if e["event"] == "val"]
    assert len(vals) == 10 and vals[-1]["l1"] == pytest.approx(after, abs=1e-4)


def test_kill_and_resume_takes_the_same_next_step(tmp_path):
    data = make_inversion_set(tmp_path / "inv", n_train=6, n_val=2)
    # 6 iterations per epoch: stop at 8 (mid epoch 2), resume for the 9th.
    straight = Trainer.create(tiny(data, tmp_path / "a", max_iters=9), progress=False)
    straight.run()
    Trainer.create(tiny(data, tmp_path / "b", max_iters=8), progress=False).run()
    resumed = Trainer.resume(tmp_path / "b", progress=False, overrides={"max_iters": 9})
    assert (resumed.epoch, resumed.iter, resumed.iter_in_epoch) == (1, 8, 2)
    resumed.run()
    assert resumed.metrics["losses"] == straight.metrics["losses"]
    for name in ("G", "D"):
        a, b = straight.model.nets[name].state_dict(), resumed.model.nets[name].state_dict()
        for k in a:
            assert torch.equal(a[k], b[k]), (name, k)
    log = [json.loads(line) for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [e["iter"] for e in log if e["event"] == "step"] == list(range(1, 10))
    opt_a = straight.model.optimizers["G"].state_dict()["state"]
    opt_b = resumed.model.optimizers["G"].state_dict()["state"]
    assert all(torch.equal(opt_a[i]["exp_avg"], opt_b[i]["exp_avg"]) for i in opt_a)


def test_run_folder_and_checkpoint_header(tmp_path):
    data = make_inversion_set(tmp_path / "inv", n_train=4, n_val=2)
    events = []
    t = Trainer.create(
        tiny(data, tmp_path / "run", max_iters=5, sample_every=2), progress=False, listener=events.append
    )
    t.run()
    run = tmp_path / "run"
    assert {p.name for p in run.iterdir()} >= {
        "options.json",
        "latest.safetensors",
        "latest_state.pt",
        "metrics.jsonl",
        "samples",
    }
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done"
    assert {"step", "sample", "checkpoint", "val"} <= set(kinds)
    step = next(e for e in events if e["event"] == "step")
    assert set(step) >= {"epoch", "iter", "total_iters", "losses", "lr", "it_s", "eta_s", "mem_mb"}
    with Image.open(next(e for e in events if e["event"] == "sample")["path"]) as sample:
        size = sample.size
    assert size == (3 * 32 + 4, 2 * 32 + 2)  # input | output | target, one row per val image
    header = read_header(run / "latest.safetensors")
    assert header["model"] == "pix2pix" and header["direction"] == "AtoB" and header["size"] == 32
    assert header["iter"] == 5 and header["input_kind"] in ("labels", "lineart", "image")
    assert header["training"]["lambda_L1"] == 100.0 and header["role"] == "full"
    ckpt = load_checkpoint(run / "latest.safetensors")
    assert ckpt.config.ngf == 8 and ckpt.config.num_downs == 5
    state = torch.load(run / "latest_state.pt", weights_only=True)
    assert state["iter"] == 5 and "D" in state["model"]["nets"]
    with pytest.raises(DataError, match="already holds a run"):
        Trainer.create(tiny(data, run), progress=False)


def test_fine_tune_from_checkpoint_and_holdout(tmp_path):
    data = make_inversion_set(tmp_path / "inv", n_train=8, n_val=0)
    Trainer.create(tiny(data, tmp_path / "first", max_iters=2), progress=False).run()
    t = Trainer.create(
        tiny(
            data,
            tmp_path / "second",
            max_iters=2,
            init=str(tmp_path / "first" / "latest.safetensors"),
            ngf=16,
            holdout=3,
        ),
        progress=False,
    )
    assert t.model.G.cfg.ngf == 8  # the checkpoint's architecture, not --ngf
    first = load_checkpoint(tmp_path / "first" / "latest.safetensors").net.state_dict()
    assert all(torch.equal(v, t.model.G.state_dict()[k]) for k, v in first.items())
    assert len(t.train_set) == 5 and len(t.val_set) == 3
    t.run()
    (tmp_path / "first" / "latest.safetensors").unlink()  # resuming needs only the run folder
    again = Trainer.resume(tmp_path / "second", progress=False, overrides={"max_iters": 3})
    assert again.model.G.cfg.ngf == 8 and again.iter == 2
    again.run()


def test_refuses_a_dataset_with_problems_unless_skip_bad(tmp_path):
    data = make_inversion_set(tmp_path / "inv", n_train=4, n_val=0)
    (data / "train" / "zz_broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="zz_broken.png"):
        Trainer.create(tiny(data, tmp_path / "run"), progress=False)
    t = Trainer.create(tiny(data, tmp_path / "run2", skip_bad=True, max_iters=1), progress=False)
    assert len(t.train_set) == 4


def test_loader_workers_give_the_same_batches(tmp_path):
    data = make_inversion_set(tmp_path / "inv", n_train=6, n_val=0)
    t0 = Trainer.create(tiny(data, tmp_path / "a", batch_size=2), progress=False)
    t2 = Trainer.create(tiny(data, tmp_path / "b", batch_size=2, num_workers=2), progress=False)
    b0, b2 = list(t0._loader()), list(t2._loader())
    assert len(b0) == len(b2) == 3
    for x, y in zip(b0, b2, strict=True):
        assert x["name"] == y["name"] and torch.equal(x["A"], y["A"]) and torch.equal(x["B"], y["B"])


def test_fine_tune_checks_the_crop_against_the_init_checkpoint(tmp_path):
    """--init decides the architecture, so a depth-5 checkpoint fine-tunes at crop 32 whatever --netG says."""
    from models.checkpoint import save_checkpoint
    from models.errors import DataError
    from models.generator import GeneratorConfig, build_generator

    ckpt = save_checkpoint(tmp_path / "g.safetensors", build_generator(GeneratorConfig(num_downs=5, ngf=4)))
    make_options("pix2pix", init=str(ckpt), crop_size=32, load_size=36).validate()
    with pytest.raises(DataError, match="does not fit a U-Net of depth 8"):
        make_options("pix2pix", crop_size=32, load_size=36).validate()


# The options.json fields and resume-state keys of runs started before distillation, command lines and
# training time were recorded (e.g. a long run begun with that code): such a run must go on with --resume.
OLD_OPTION_FIELDS = (
    "model data out name netG ngf ndf netD n_layers_D norm no_dropout init_type init_gain num_downs nz "
    "gan_mode lambda_L1 lambda_A lambda_B lambda_identity pool_size lr beta1 n_epochs n_epochs_decay "
    "batch_size direction load_size crop_size preprocess no_flip input_nc output_nc input_kind holdout "
    "skip_bad sketch_augment num_workers device amp seed max_iters save_every_iters sample_every "
    "val_images init"
).split()
OLD_STATE_KEYS = (
    "format",
    "model",
    "epoch",
    "iter",
    "iter_in_epoch",
    "rng",
    "metrics_json",
    "generator_arch",
)


def test_a_run_made_by_older_code_resumes_exactly(tmp_path):
    data = make_inversion_set(tmp_path / "inv", n_train=6, n_val=2)
    straight = Trainer.create(tiny(data, tmp_path / "a", max_iters=9), progress=False)
    straight.run()
    Trainer.create(tiny(data, tmp_path / "b", max_iters=8), progress=False).run()
    run = tmp_path / "b"
    options = json.loads((run / "options.json").read_text())
    (run / "options.json").write_text(json.dumps({k: options[k] for k in OLD_OPTION_FIELDS}, indent=2))
    state = torch.load(run / "latest_state.pt", weights_only=True)
    torch.save({k: state[k] for k in OLD_STATE_KEYS}, run / "latest_state.pt")
    resumed = Trainer.resume(run, progress=False, overrides={"max_iters": 9})
    assert resumed.opts.teacher == "" and resumed.model.teacher is None
    resumed.run()
    assert resumed.metrics["losses"] == straight.metrics["losses"]
    for name in ("G", "D"):
        a, b = straight.model.nets[name].state_dict(), resumed.model.nets[name].state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), name


def _sample_iters(run) -> list[int]:
    events = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [e["iter"] for e in events if e["event"] == "sample"]


def test_samples_every_tenth_of_a_run_and_at_its_end(tmp_path):
    data = make_inversion_set(tmp_path / "inv", n_train=5, n_val=1)
    # 5 iterations an epoch, 5 epochs: 25 in all; auto cadence ceil(25 / 10) = 3, and the last one
    t = Trainer.create(tiny(data, tmp_path / "auto", sample_every=-1, n_epochs=3), progress=False)
    assert make_options("pix2pix").sample_every == -1 and t.sample_every == 3
    t.run()
    assert _sample_iters(tmp_path / "auto") == [3, 6, 9, 12, 15, 18, 21, 24, 25]
    assert len(list((tmp_path / "auto" / "samples").glob("*.png"))) == 9
    Trainer.create(tiny(data, tmp_path / "ten", sample_every=10, max_iters=12), progress=False).run()
    assert _sample_iters(tmp_path / "ten") == [10, 12]  # --sample-every N, and the end
    Trainer.create(tiny(data, tmp_path / "none", max_iters=4), progress=False).run()
    assert _sample_iters(tmp_path / "none") == []  # 0: never
    stopped = Trainer.create(tiny(data, tmp_path / "stop", sample_every=100), progress=False)
    stopped.log.listener = lambda e: e["event"] == "step" and e["iter"] == 4 and stopped.stop()
    stopped.run()
    assert _sample_iters(tmp_path / "stop") == [4]  # a stopped run ends with one too
    long = Trainer.create(tiny(data, tmp_path / "long", sample_every=-1, n_epochs=1000), progress=False)
    assert long.sample_every == 200  # a long run: at most 200 apart


def test_upsample_blur_fine_tunes_a_transpose_run_with_its_weights(tmp_path):
    from models.generator import BlurConvTranspose2d

    data = make_inversion_set(tmp_path / "inv", n_train=6, n_val=2)
    Trainer.create(tiny(data, tmp_path / "first", max_iters=2), progress=False).run()
    first = tmp_path / "first" / "latest.safetensors"
    assert load_checkpoint(first).config.upsample == "transpose"
    t = Trainer.create(
        tiny(data, tmp_path / "blur", max_iters=2, init=str(first), upsample="blur"), progress=False
    )
    assert t.model.G.cfg.upsample == "blur"
    assert any(isinstance(m, BlurConvTranspose2d) for m in t.model.G.modules())
    before = load_checkpoint(first).net.state_dict()
    assert all(torch.equal(v, t.model.G.state_dict()[k]) for k, v in before.items())  # the same weights
    t.run()
    made = load_checkpoint(tmp_path / "blur" / "latest.safetensors")
    assert (
        made.config.upsample == "blur"
        and read_header(tmp_path / "blur" / "latest.safetensors")["arch"]["upsample"] == "blur"
    )
    assert "--upsample blur" in made.meta["training"]["commands"][-1]
    again = Trainer.resume(tmp_path / "blur", progress=False, overrides={"max_iters": 3})
    assert again.model.G.cfg.upsample == "blur"  # a resume keeps it
    # an --init of a blur file without --upsample keeps the file's own
    t2 = Trainer.create(
        tiny(data, tmp_path / "more", max_iters=1, init=str(tmp_path / "blur" / "latest.safetensors"))
    )
    assert t2.model.G.cfg.upsample == "blur"
    with pytest.raises(DataError, match="--upsample"):
        make_options("pix2pix", upsample="bilinear")
    with pytest.raises(DataError, match="upsample"):
        make_options("segmenter", upsample="blur")
