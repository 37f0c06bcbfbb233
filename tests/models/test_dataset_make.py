"""Making paired datasets: from a folder of photos, and one tracing at a time; the check then passes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from models.data import DataOptions, PairedDataset, check_dataset
from models.dataset_make import add_pair, make_lineart_dataset, sanitize_name
from models.errors import DataError
from models.lineart import LineartParams


def photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), 230, np.uint8)
    y, x = rng.integers(2, h // 2), rng.integers(2, w // 2)
    img[y : y + h // 3, x : x + w // 3] = rng.integers(0, 120, 3)
    return img


@pytest.fixture
def photos(tmp_path):
    d = tmp_path / "photos"
    d.mkdir()
    Image.fromarray(photo(40, 48, 1)).save(d / "a.png")
    Image.fromarray(photo(40, 48, 2)).save(d / "a.jpg")  # same stem, other suffix
    Image.fromarray(photo(300, 600, 3)).save(d / "été photo!.jpg")
    (d / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (d / "notes.txt").write_text("not an image")
    return d


def test_make_lineart_dataset_from_photos(photos, tmp_path):
    out = tmp_path / "set"
    seen = []
    report = make_lineart_dataset(
        photos, out, LineartParams(detail=0.5, thickness=2), max_side=256, progress=lambda *a: seen.append(a)
    )
    assert sorted(report.made) == ["a", "a_2", "ete_photo"]
    assert [f["path"] for f in report.failed] == [str(photos / "broken.jpg")]
    assert "broken.jpg" in report.text() and len(seen) == 4 and seen[-1][:2] == (4, 4)
    for stem in report.made:
        a = np.asarray(Image.open(out / "train" / "A" / f"{stem}.png"))
        b = np.asarray(Image.open(out / "train" / "B" / f"{stem}.png"))
        assert a.ndim == 2 and b.ndim == 3 and a.shape == b.shape[:2]
        assert (a < 128).any() and (a == 255).mean() > 0.5  # lines on paper
    big = np.asarray(Image.open(out / "train" / "B" / "ete_photo.png"))
    assert big.shape[:2] == (128, 256)  # scaled to max_side, aspect kept
    rep = check_dataset(out)
    assert rep.format == "paired" and rep.usable and not rep.problems
    assert rep.counts["train"] == {"A": 3, "B": 3}
    ds = PairedDataset(out, "train", DataOptions(input_nc=1, load_size=32, crop_size=32))
    assert len(ds) == 3 and ds[0]["A"].shape == (1, 32, 32)


def test_making_can_be_cancelled_and_refuses_bad_folders(photos, tmp_path):
    report = make_lineart_dataset(photos, tmp_path / "set", progress=lambda done, total, name: done < 2)
    assert report.cancelled and len(report.made) + len(report.failed) == 2
    with pytest.raises(DataError, match="no photos"):
        make_lineart_dataset(tmp_path / "set" / "train" / "A" / "..", tmp_path / "x")  # folders only
    with pytest.raises(DataError, match="no such folder"):
        make_lineart_dataset(tmp_path / "missing", tmp_path / "x")
    with pytest.raises(DataError, match="not the photo folder"):
        make_lineart_dataset(photos, photos)


def test_add_pair_sanitises_names_and_aligns_sizes(tmp_path):
    ds = tmp_path / "set"
    drawing = np.full((64, 80, 3), 255, np.uint8)
    drawing[30, 10:70] = 0
    pa, pb = add_pair(ds, drawing, photo(128, 160), name="../../my cat: 1")
    assert pa == ds / "train" / "A" / "my_cat_1.png" and pb == ds / "train" / "B" / "my_cat_1.png"
    assert np.asarray(Image.open(pb)).shape == (64, 80, 3)  # photo resized onto the tracing
    assert (np.asarray(Image.open(pa)) == drawing).all()
    pa2, _ = add_pair(ds, drawing, photo(64, 80), name="../../my cat: 1")
    assert pa2.name == "my_cat_1_2.png"
    rep = check_dataset(ds)
    assert rep.usable and rep.counts["train"] == {"A": 2, "B": 2} and not rep.problems
    assert not list(tmp_path.glob("*.png"))  # nothing escaped the dataset folder


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("a b", "a_b"),
        ("CON", "pair_CON"),
        ("", "pair"),
        ("..", "pair"),
        ("Ünïcödé", "Unicode"),
        ("x" * 200, "x" * 80),
    ],
)
def test_sanitize_name(raw, clean):
    assert sanitize_name(raw) == clean


def test_sketch_augment_in_the_training_data(tmp_path):
    drawing = np.full((48, 48), 255, np.uint8)
    drawing[10:40, 24] = 0
    drawing[24, 5:20] = 0
    drawing[8, 30:33] = 0
    add_pair(tmp_path, drawing, photo(48, 48))
    plain = PairedDataset(tmp_path, "train", DataOptions(input_nc=1, load_size=48, crop_size=48, flip=False))
    aug = PairedDataset(
        tmp_path,
        "train",
        DataOptions(input_nc=1, load_size=48, crop_size=48, flip=False, sketch_augment=True),
    )
    items = [aug[(e, 0)] for e in range(4)]
    assert any((it["A"] != plain[(e, 0)]["A"]).any() for e, it in enumerate(items))
    assert all((it["B"] == plain[(e, 0)]["B"]).all() for e, it in enumerate(items))  # targets untouched
    assert (aug[(2, 0)]["A"] == items[2]["A"]).all()  # seeded by (epoch, index): resumes reproduce it
    assert (aug[0]["A"] == plain[0]["A"]).all()  # validation items (no epoch) are never augmented
