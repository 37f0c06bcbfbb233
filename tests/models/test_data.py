"""Datasets: each reference layout detected and read, the same crop/flip on both sides, holdout stable,
and the check reports every unreadable and unmatched file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from models.data import (
    DataOptions,
    EpochSampler,
    ImageFolderDataset,
    PairedDataset,
    UnpairedDataset,
    check_dataset,
    detect_format,
    guess_channels,
    guess_input_kind,
    holdout_stems,
    list_split,
)
from models.errors import DataError
from models.palette import FACADES


def _img(path, size=(40, 30), color=(200, 30, 30), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(abs(hash(path.name)) % 1000)
    a = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    a[: size[1] // 2, : size[0] // 3] = color  # a marker in the top-left corner
    im = Image.fromarray(a)
    if mode != "RGB":
        im = im.convert(mode)
    im.save(path)
    return path


def _aligned(root, n=4, splits=("train", "val")):
    for split in splits:
        for i in range(n):
            a = np.zeros((32, 64, 3), np.uint8)
            a[:, :32] = 40 + i  # A (left) dark
            a[:, 32:] = 220 - i  # B (right) light
            a[:8, :8] = 255  # marker top-left of A
            a[:8, 32:40] = 0  # same place in B
            (root / split).mkdir(parents=True, exist_ok=True)
            Image.fromarray(a).save(root / split / f"{i:03d}.png")
    return root


OPTS = DataOptions(load_size=36, crop_size=32, multiple=4)


def test_detects_every_layout(tmp_path):
    _aligned(tmp_path / "al")
    for s in ("a", "b"):
        _img(tmp_path / "pa" / "train" / "A" / f"{s}.png")
        _img(tmp_path / "pa" / "train" / "B" / f"{s}.png")
        _img(tmp_path / "un" / "trainA" / f"{s}.png")
        _img(tmp_path / "un" / "trainB" / f"{s}x.png")
        _img(tmp_path / "fo" / f"{s}.jpg")
    assert detect_format(tmp_path / "al") == "aligned"
    assert detect_format(tmp_path / "pa") == "paired"
    assert detect_format(tmp_path / "un") == "unpaired"
    assert detect_format(tmp_path / "fo") == "folder"
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        detect_format(tmp_path / "empty")
    with pytest.raises(DataError, match="no such folder"):
        detect_format(tmp_path / "missing")


def test_aligned_splits_halves_and_direction(tmp_path):
    root = _aligned(tmp_path)
    ds = PairedDataset(root, "train", DataOptions(preprocess="none", flip=False))
    assert len(ds) == 4
    item = ds[0]
    assert item["A"].shape == (3, 32, 32) and item["A"].mean() < 0  # A = dark left half
    assert item["B"].mean() > 0
    rev = PairedDataset(root, "train", DataOptions(preprocess="none", flip=False, direction="BtoA"))[0]
    assert torch.equal(rev["A"], item["B"]) and torch.equal(rev["B"], item["A"])
    assert len(PairedDataset(root, "val", OPTS)) == 4


def test_same_random_crop_and_flip_on_both_sides(tmp_path):
    root = _aligned(tmp_path)
    ds = PairedDataset(root, "train", DataOptions(load_size=48, crop_size=32, flip=True, seed=3))
    flips = 0
    for epoch in range(12):
        item = ds[(epoch, 1)]
        # The marker is white in A and black in B at the same place, wherever the crop and flip put it.
        ma, mb = item["A"][0] > 0.9, item["B"][0] < -0.9
        assert torch.equal(ma, mb)
        flips += int(ma[:, 16:].sum() > ma[:, :16].sum())
    assert 0 < flips < 12  # both flipped and unflipped seen
    assert torch.equal(ds[(5, 1)]["A"], ds[(5, 1)]["A"])  # the key decides the randomness


def test_paired_folders_grayscale_nonsquare_and_unmatched(tmp_path):
    root = tmp_path / "faces"
    for s in ("f1", "f2", "f3"):
        _img(root / "train" / "A" / f"{s}.jpg", size=(20, 25), mode="L")
        _img(root / "train" / "B" / f"{s}.jpg", size=(20, 25))
    _img(root / "train" / "A" / "lonely.jpg", size=(20, 25), mode="L")
    assert guess_channels(root) == (1, 3)
    assert guess_input_kind(root) == "lineart"
    ds = PairedDataset(root, "train", DataOptions(load_size=36, crop_size=32, input_nc=1))
    assert len(ds) == 3
    item = ds[(0, 0)]
    assert item["A"].shape == (1, 32, 32) and item["B"].shape == (3, 32, 32)
    assert list_split(root, "paired", "train").unmatched == [root / "train" / "A" / "lonely.jpg"]


def test_unpaired_and_folder(tmp_path):
    for i in range(3):
        _img(tmp_path / "u" / "trainA" / f"a{i}.png")
    for i in range(5):
        _img(tmp_path / "u" / "trainB" / f"b{i}.png", mode="RGBA")
    ds = UnpairedDataset(tmp_path / "u", "train", OPTS)
    assert len(ds) == 5
    assert ds[(0, 4)]["A"].shape == (3, 32, 32)
    bs = {ds[(e, 0)]["B"].sum().item() for e in range(8)}
    assert len(bs) > 1  # B drawn at random per epoch
    with pytest.raises(DataError, match="unpaired"):
        PairedDataset(tmp_path / "u", "train", OPTS)
    for i in range(3):
        _img(tmp_path / "f" / f"{i}.png", mode="P")
    imgs = ImageFolderDataset(
        tmp_path / "f", "train", DataOptions(preprocess="resize_and_crop", load_size=32, crop_size=32)
    )
    assert len(imgs) == 3 and imgs[0]["B"].shape == (3, 32, 32)


def test_preprocess_modes(tmp_path):
    _img(tmp_path / "train" / "x.png", size=(200, 50))  # A half: 100x50
    for pre, shape in [
        ("resize_and_crop", (32, 32)),
        ("crop", (32, 32)),
        ("scale_width", (20, 36)),
        ("none", (52, 100)),
    ]:
        opts = DataOptions(preprocess=pre, load_size=36, crop_size=32, multiple=4, flip=False)
        a = PairedDataset(tmp_path, "train", opts)[(0, 0)]["A"]
        assert tuple(a.shape[1:]) == shape, pre


def test_holdout_is_deterministic(tmp_path):
    root = tmp_path / "d"
    for i in range(40):
        _img(root / "train" / f"img{i:02d}.png", size=(8, 4))
    val = list_split(root, "aligned", "val", holdout=7).pairs
    train = list_split(root, "aligned", "train", holdout=7).pairs
    assert len(val) == 7 and len(train) == 33
    assert not {p for p, _ in val} & {p for p, _ in train}
    assert val == list_split(root, "aligned", "val", holdout=7).pairs
    stems = [f"img{i:02d}" for i in range(40)]
    assert holdout_stems(stems, 7) == holdout_stems(list(reversed(stems)), 7)
    # adding files keeps most of the held-out set
    assert len(holdout_stems(stems, 7) & holdout_stems([*stems, "new1", "new2"], 7)) >= 5


def test_check_lists_unreadable_and_unmatched(tmp_path):
    root = tmp_path / "set"
    for s in ("a", "b"):
        _img(root / "train" / "A" / f"{s}.png")
        _img(root / "train" / "B" / f"{s}.png")
    (root / "train" / "A" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (root / "train" / "B" / "broken.png").write_bytes(b"junk")
    _img(root / "train" / "B" / "orphan.png")
    report = check_dataset(root)
    assert report.format == "paired" and report.usable
    assert report.counts["train"] == {"A": 3, "B": 4}  # every image file on disk, orphan included
    assert report.usable_counts["train"] == {"A": 2, "B": 2}  # the pairs training reads
    assert {u["path"] for u in report.unreadable} == {
        str(root / "train" / "A" / "broken.png"),
        str(root / "train" / "B" / "broken.png"),
    }
    assert report.unmatched == [str(root / "train" / "B" / "orphan.png")]
    assert report.sizes == {"40x30": 4}
    text = report.text()
    assert "broken.png" in text and "orphan.png" in text
    # reading the broken pair without skip_bad fails loudly; with it, the reported files are left out
    ds = PairedDataset(root, "train", OPTS)
    with pytest.raises(DataError, match="broken.png"):
        [ds[i] for i in range(len(ds))]
    ok = PairedDataset(root, "train", OPTS, bad=set(report.problems))
    assert len(ok) == 2 and all(ok[i]["A"].shape == (3, 32, 32) for i in range(2))


def test_check_unusable_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    assert not check_dataset(tmp_path / "empty").usable
    assert "no such folder" in check_dataset(tmp_path / "nope").error


def test_labels_kind_detected(tmp_path):
    rng = np.random.default_rng(0)
    pal = np.array([c for _, c in FACADES], np.uint8)
    for i in range(3):
        lab = pal[rng.integers(0, 12, (4, 4))].repeat(8, 0).repeat(8, 1)
        photo = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
        (tmp_path / "train").mkdir(exist_ok=True)
        Image.fromarray(np.concatenate([photo, lab], 1)).save(tmp_path / "train" / f"{i}.png")
    assert guess_input_kind(tmp_path, "BtoA") == "labels"
    assert guess_input_kind(tmp_path, "AtoB") == "image"


def test_epoch_sampler_resumes_mid_epoch_and_shards():
    full = list(EpochSampler(10, epoch=2, seed=1))
    assert sorted(i for _, i in full) == list(range(10)) and all(e == 2 for e, _ in full)
    assert list(EpochSampler(10, epoch=2, seed=1, start=4)) == full[4:]
    assert full != list(EpochSampler(10, epoch=3, seed=1))
    r0 = [i for _, i in EpochSampler(10, epoch=2, seed=1, rank=0, world=2)]
    r1 = [i for _, i in EpochSampler(10, epoch=2, seed=1, rank=1, world=2)]
    assert sorted(r0 + r1) == list(range(10))


def test_sixteen_bit_and_exif_rotated_images(tmp_path):
    root = tmp_path / "f"
    root.mkdir()
    deep = (np.linspace(0, 65535, 32 * 32).reshape(32, 32)).astype(np.uint16)
    Image.fromarray(deep).save(root / "deep.png")  # I;16
    wide = np.zeros((16, 32, 3), np.uint8)
    wide[:, :16] = 255  # left half white
    im = Image.fromarray(wide)
    exif = im.getexif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise on display
    im.save(root / "rotated.jpg", exif=exif, quality=95)
    ds = ImageFolderDataset(root, "train", DataOptions(preprocess="none", flip=False, multiple=4))
    deep_t, rot_t = ds[0]["B"], ds[1]["B"]
    assert deep_t.shape == (3, 32, 32) and deep_t.min() == -1 and deep_t.max() == 1
    assert rot_t.shape == (3, 32, 16)  # upright: taller than wide
    assert rot_t[:, :16].mean() > 0.5 and rot_t[:, 16:].mean() < -0.5  # the white half is now on top


def test_check_counts_match_the_files_on_disk(tmp_path):
    """Counts are what `ls` shows (every image file, readable or not, matched or not); usable counts are
    what training reads; the problems list the difference, file by file."""
    root = tmp_path / "set"
    for split in ("train", "val"):
        for s in ("a", "b", "c"):
            _img(root / split / "A" / f"{s}.png")
            _img(root / split / "B" / f"{s}.png")
    (root / "train" / "A" / "cut.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)  # corrupt, matched
    _img(root / "train" / "B" / "cut.png")
    _img(root / "train" / "A" / "lonely.png")  # unmatched
    (root / "train" / "B" / "notes.txt").write_text("not an image")  # not counted: not an image file
    (root / "val" / "B" / "junk.jpg").write_bytes(b"junk")  # corrupt and unmatched
    report = check_dataset(root)
    for split in ("train", "val"):
        for side in ("A", "B"):
            on_disk = [p for p in (root / split / side).iterdir() if p.suffix in (".png", ".jpg")]
            assert report.counts[split][side] == len(on_disk), (split, side)
    assert report.usable_counts == {"train": {"A": 3, "B": 3}, "val": {"A": 3, "B": 3}}
    assert sorted(Path(p).name for p in report.problems) == ["cut.png", "junk.jpg", "lonely.png"]
    text = report.text()
    assert "train: A 5, B 4 (usable: A 3, B 3)" in text and "problems: 3" in text
    assert report.to_dict()["usable_counts"]["train"] == {"A": 3, "B": 3}
