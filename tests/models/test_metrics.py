"""Metrics against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.metrics import (
    SSIM_K1,
    SSIM_K2,
    confusion,
    gaussian_window,
    grid,
    l1,
    psnr,
    segmentation_scores,
    ssim,
)


def test_l1_is_the_mean_absolute_difference_in_unit_pixels():
    a = np.zeros((2, 2, 3))
    b = np.full((2, 2, 3), 0.25)
    b[0, 0, 0] = 1.0  # one value off by 1 instead of 0.25: mean = (11 * 0.25 + 1) / 12
    assert l1(a, b) == pytest.approx((11 * 0.25 + 1.0) / 12)


def test_uint8_is_scaled_to_unit_range():
    a = np.zeros((4, 4), np.uint8)
    b = np.full((4, 4), 51, np.uint8)  # 51 / 255 = 0.2
    assert l1(a, b) == pytest.approx(0.2)
    assert psnr(a, b) == pytest.approx(10 * math.log10(1 / 0.04))


def test_psnr_of_a_uniform_error_of_a_tenth_is_20_db():
    a = np.full((8, 8, 3), 0.5)
    assert psnr(a, a + 0.1) == pytest.approx(20.0)
    assert psnr(a, a) == math.inf


def test_shapes_must_match():
    with pytest.raises(ValueError):
        l1(np.zeros((2, 2)), np.zeros((2, 3)))


def test_gaussian_window_is_scipys_11_taps():
    w = gaussian_window()
    assert len(w) == 11 and w.sum() == pytest.approx(1.0)
    assert w[5] / w[6] == pytest.approx(math.exp(0.5 / 1.5**2))
    assert w[0] == pytest.approx(w[10])


def test_ssim_of_an_image_with_itself_is_one():
    rng = np.random.default_rng(0)
    a = rng.random((32, 40, 3))
    assert ssim(a, a) == pytest.approx(1.0)


def test_ssim_of_two_flat_images_is_the_luminance_term():
    # No variance anywhere: SSIM = (2ab + C1) / (a^2 + b^2 + C1) at every pixel.
    a, b = 0.2, 0.6
    c1 = SSIM_K1**2
    want = (2 * a * b + c1) / (a * a + b * b + c1)
    assert ssim(np.full((16, 16), a), np.full((16, 16), b)) == pytest.approx(want)


def test_ssim_of_rgb_is_the_mean_over_channels():
    rng = np.random.default_rng(1)
    x = rng.random((20, 20))
    a = np.stack([x, np.full_like(x, 0.2), np.full_like(x, 0.5)], -1)
    b = np.stack([x, np.full_like(x, 0.6), np.full_like(x, 0.5)], -1)
    c1 = SSIM_K1**2
    flat = (2 * 0.2 * 0.6 + c1) / (0.2**2 + 0.6**2 + c1)
    assert ssim(a, b) == pytest.approx((1.0 + flat + 1.0) / 3)


def test_ssim_of_a_negated_pattern_by_hand():
    # A pattern of +-d around 0.5 in a checkerboard: every 11x11 window has mean ~0.5 and variance ~d^2;
    # negating it makes the covariance -var, so SSIM ~ (-2 var + C2) / (2 var + C2).
    d = 0.25
    yy, xx = np.mgrid[0:33, 0:33]
    s = np.where((yy + xx) % 2 == 0, 1.0, -1.0)
    a, b = 0.5 + d * s, 0.5 - d * s
    w = gaussian_window()
    w2 = np.outer(w, w)
    # the exact windowed moments at an interior pixel with sign +1 at its centre
    patch = s[11:22, 11:22]
    mu = (w2 * patch).sum() * d
    var = d * d - mu * mu
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    ua, ub = 0.5 + mu, 0.5 - mu
    want = ((2 * ua * ub + c1) * (-2 * var + c2)) / ((ua * ua + ub * ub + c1) * (2 * var + c2))
    # the centre sign alternates, but both signs give the same value by symmetry
    assert ssim(a, b) == pytest.approx(want, rel=1e-9)
    assert ssim(a, b) < -0.9


def test_ssim_is_symmetric_and_drops_with_noise():
    rng = np.random.default_rng(2)
    a = rng.random((24, 24))
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1)
    c = np.clip(a + rng.normal(0, 0.3, a.shape), 0, 1)
    assert ssim(a, b) == pytest.approx(ssim(b, a))
    assert 1.0 > ssim(a, b) > ssim(a, c)


def test_ssim_refuses_images_smaller_than_the_window():
    with pytest.raises(ValueError):
        ssim(np.zeros((8, 8)), np.zeros((8, 8)))


def test_segmentation_scores_by_hand():
    truth = np.array([[0, 0, 1, 1], [2, 2, 2, 2]])
    pred = np.array([[0, 1, 1, 1], [2, 2, 0, 2]])
    hist = confusion(pred, truth, 4)
    assert hist[0].tolist() == [1, 1, 0, 0] and hist[2].tolist() == [1, 0, 3, 0]
    s = segmentation_scores(hist)
    assert s["pixel_acc"] == pytest.approx(6 / 8)
    # class 3 is absent from truth and prediction: skipped. Class acc: 1/2, 2/2, 3/4.
    assert s["class_acc"] == pytest.approx((0.5 + 1.0 + 0.75) / 3)
    # IoU: class 0: 1 / (2 + 2 - 1); class 1: 2 / (2 + 3 - 2); class 2: 3 / (4 + 3 - 3)
    assert s["miou"] == pytest.approx((1 / 3 + 2 / 3 + 3 / 4) / 3)


def test_grid_measures_a_checkerboard_locked_to_the_pixels():
    board = (np.indices((64, 48)).sum(0) % 2).astype(np.uint8) * 255  # 0/255 alternating
    assert grid(board) == pytest.approx(0.5)  # mean tile [[0, 1], [1, 0]], RMS about its mean 0.5
    assert grid(np.stack([board] * 3, axis=2)) == pytest.approx(0.5)
    assert grid(board[1:, :]) == pytest.approx(0.5)  # its phase does not matter
    assert grid(np.full((64, 48), 0.3)) == 0.0
    rng = np.random.default_rng(0)
    smooth = np.cumsum(rng.normal(0, 0.01, (256, 256)), 1) + 0.5  # texture with no period
    assert grid(smooth) < 0.002
    faint = smooth + 0.02 * (np.indices((256, 256)).sum(0) % 2)
    assert grid(faint) == pytest.approx(0.01, abs=0.002)  # a faint board on top of it is found
    assert grid(board, period=4) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="no 2x2 tile"):
        grid(np.zeros((1, 5)))
