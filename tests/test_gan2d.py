"""The ring of Gaussians of notebook 07: sampling (modes kept, spread), its exact moments, the count of
modes captured against the truth; bad input."""
import math

import numpy as np
import pytest
import torch

from percept_lib.teaching.gan2d import MODES, RADIUS, STD, mode_report, ring, ring_centres, ring_moments


def test_centres_sit_evenly_on_the_circle_from_angle_zero():
    centres = ring_centres(8, 2.0).double()
    assert centres.shape == (8, 2)
    torch.testing.assert_close(centres.norm(dim=1), torch.full((8,), 2.0, dtype=torch.float64))
    torch.testing.assert_close(centres[0], torch.tensor([2.0, 0.0], dtype=torch.float64))
    torch.testing.assert_close(centres[2], torch.tensor([0.0, 2.0], dtype=torch.float64), atol=1e-6, rtol=0)


def test_ring_is_seeded_and_samples_every_mode_with_its_spread():
    a, b, c = ring(4000, seed=3), ring(4000, seed=3), ring(4000, seed=4)
    assert a.shape == (4000, 2) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    distance, nearest = torch.cdist(a.double(), ring_centres().double()).min(dim=1)
    counts = torch.bincount(nearest, minlength=MODES)
    assert counts.min() > 400  # 500 expected per mode
    # 2-D Gaussian offsets: E‖offset‖² = 2σ²
    assert float((distance ** 2).mean()) == pytest.approx(2 * STD ** 2, rel=0.1)


def test_keep_drops_the_other_modes():
    x = ring(1000, keep=[1, 5], seed=0)
    nearest = torch.cdist(x.double(), ring_centres().double()).argmin(dim=1)
    assert set(nearest.tolist()) == {1, 5}


def test_spread_scales_the_offsets_and_zero_puts_samples_on_the_centres():
    on_centres = ring(500, spread=0.0, seed=7)
    assert torch.cdist(on_centres.double(), ring_centres().double()).min(dim=1).values.max() < 1e-6
    once, twice = ring(500, seed=7), ring(500, spread=2.0, seed=7)
    torch.testing.assert_close(twice - on_centres, 2 * (once - on_centres), atol=1e-6, rtol=0)


def test_moments_are_those_of_the_samples():
    keep = [0, 1, 2]
    x = ring(200_000, keep=keep, spread=1.5, seed=1).double()
    mean, cov = ring_moments(keep=keep, spread=1.5)
    torch.testing.assert_close(x.mean(dim=0), mean, atol=0.01, rtol=0)
    torch.testing.assert_close(torch.cov(x.T), cov, atol=0.01, rtol=0)
    # all eight modes: mean 0, covariance (R²/2 + σ²) I
    mean8, cov8 = ring_moments()
    torch.testing.assert_close(mean8, torch.zeros(2, dtype=torch.float64), atol=1e-7, rtol=0)
    torch.testing.assert_close(cov8, (RADIUS ** 2 / 2 + STD ** 2) * torch.eye(2, dtype=torch.float64), atol=1e-6, rtol=0)


def test_every_other_mode_has_the_moments_of_all_eight():
    mean8, cov8 = ring_moments()
    mean4, cov4 = ring_moments(keep=[0, 2, 4, 6])
    torch.testing.assert_close(mean4, mean8, atol=1e-7, rtol=0)
    torch.testing.assert_close(cov4, cov8, atol=1e-6, rtol=0)
    _, cov_adjacent = ring_moments(keep=[0, 1, 2, 3])
    assert not torch.allclose(cov_adjacent, cov8, atol=1e-3)


def test_mode_report_counts_against_the_truth():
    centres = ring_centres().double()
    points = torch.cat([
        centres[0].repeat(10, 1),                                  # on mode 0
        centres[1] + torch.tensor([2 * STD, 0.0], dtype=torch.float64).repeat(5, 1),   # within 3σ of mode 1
        centres[2] + torch.tensor([4 * STD, 0.0], dtype=torch.float64).repeat(3, 1),   # beyond 3σ of mode 2
        torch.zeros(2, 2, dtype=torch.float64),                    # between modes
    ])
    report = mode_report(points)
    assert report.counts == (10, 5, 0, 0, 0, 0, 0, 0)
    assert report.high_quality == pytest.approx(15 / 20)
    assert report.captured == (0, 1) and report.modes_captured == 2
    # a mode needs min_share of its fair share (20 / 8 = 2.5 samples): with min_share 1, 5 ≥ 2.5 still counts
    assert mode_report(points, min_share=1.0).captured == (0, 1)
    assert mode_report(points.numpy(), within=5.0).counts[2] == 3


def test_a_collapsed_set_captures_one_mode():
    report = mode_report(ring(800, keep=[4], seed=0))
    assert report.captured == (4,) and report.high_quality > 0.95


@pytest.mark.parametrize("call, message", [
    (lambda: ring(0), "n must be a positive integer"),
    (lambda: ring(True), "n must be a positive integer"),
    (lambda: ring(10, std=0.0), "std must be a positive number"),
    (lambda: ring(10, spread=-1.0), "spread must be a number ≥ 0"),
    (lambda: ring(10, spread=math.nan), "spread must be a number ≥ 0"),
    (lambda: ring(10, keep=[]), "keep is empty"),
    (lambda: ring(10, keep=[8]), "modes \\[8\\] do not exist"),
    (lambda: ring(10, keep=[1, 1]), "lists a mode twice"),
    (lambda: ring_centres(0), "modes must be a positive integer"),
    (lambda: ring_centres(8, radius=-2.0), "radius must be a positive number"),
    (lambda: mode_report(torch.zeros(5, 3)), "expected an n×2 array"),
    (lambda: mode_report(np.full((4, 2), np.nan)), "NaN or Inf"),
    (lambda: mode_report(torch.zeros(5, 2), min_share=0.0), "min_share must be in"),
])
def test_bad_input_is_one_clear_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
