"""KID: parity with clean-fid's kernel_distance and torchmetrics' KID where the subset is the whole sample, the
estimator against a hand-written double loop, and the subset sampling (without replacement, seeded)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from cleanfid.fid import kernel_distance

from percept_lib.metrics import kid, mmd2_unbiased


def pair(n1, n2, d, seed=0, shift=0.1):
    rng = np.random.default_rng(seed)
    x = np.maximum(rng.standard_normal((n1, d)), 0)
    y = np.maximum(rng.standard_normal((n2, d)) + shift, 0)
    return x, y


def mmd2_double_loop(x, y):
    """The unbiased estimator of Bińkowski et al. written out term by term, as independent as it gets."""
    d = x.shape[1]

    def k(a, b):
        return (float(np.dot(a, b)) / d + 1.0) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_mmd2_unbiased_matches_double_loop_with_unequal_sizes():
    x, y = pair(7, 9, 5)
    assert mmd2_unbiased(x, y) == pytest.approx(mmd2_double_loop(x, y), rel=1e-12)
    assert mmd2_unbiased(torch.from_numpy(x), torch.from_numpy(y)) == pytest.approx(mmd2_double_loop(x, y), rel=1e-12)


def test_matches_clean_fid_kernel_distance_when_the_subset_is_the_whole_sample():
    x, y = pair(150, 150, 64, seed=1)
    np.random.seed(0)  # clean-fid draws from the global RNG; with m = n every draw is a permutation anyway
    reference = kernel_distance(x, y, num_subsets=3, max_subset_size=1000)  # m = min(150, 150, 1000) = 150
    mean, std = kid(x, y, num_subsets=3, subset_size=1000)
    assert mean == pytest.approx(reference, rel=1e-10)
    assert std == 0.0


def test_matches_torchmetrics_kid_when_the_subset_is_the_whole_sample():
    from torchmetrics.image.kid import KernelInceptionDistance

    x, y = pair(120, 120, 32, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "will save all extracted features in buffer"
        metric = KernelInceptionDistance(feature=torch.nn.Identity(), subsets=4, subset_size=120)
    metric.update(torch.from_numpy(x), real=True)
    metric.update(torch.from_numpy(y), real=False)
    ref_mean, ref_std = (float(v) for v in metric.compute())
    mean, std = kid(x, y, num_subsets=4, subset_size=120)
    assert mean == pytest.approx(ref_mean, rel=1e-10)
    assert std == pytest.approx(ref_std, abs=1e-12 * abs(ref_mean))


def test_subsets_average_to_the_full_sample_estimate_so_they_are_drawn_without_replacement():
    # Averaged over random subsets of size m drawn without replacement, the unbiased MMD² equals the unbiased
    # MMD² of the full samples (a U-statistic property). Drawing with replacement would pair a vector with
    # itself in the within-set terms and bias the average upward by far more than the tolerance.
    x, y = pair(40, 60, 8, seed=3, shift=0.3)
    full = mmd2_unbiased(x, y)
    mean, std = kid(x, y, num_subsets=3000, subset_size=10, seed=1)
    assert abs(mean - full) < 4 * std / np.sqrt(3000), (mean, full, std)


def test_subset_size_is_clipped_to_the_smaller_sample_like_clean_fid():
    x, y = pair(50, 80, 16, seed=4)
    mean, std = kid(x, y, num_subsets=20, subset_size=1000)
    same_m, _ = kid(x, y, num_subsets=20, subset_size=50)
    assert mean == same_m and std > 0


def test_seeded_and_reproducible():
    x, y = pair(100, 100, 16, seed=5)
    assert kid(x, y, num_subsets=10, subset_size=30, seed=0) == kid(x, y, num_subsets=10, subset_size=30, seed=0)
    assert kid(x, y, num_subsets=10, subset_size=30, seed=0) != kid(x, y, num_subsets=10, subset_size=30, seed=1)


def test_same_distribution_near_zero_different_distribution_positive():
    same_a, same_b = pair(400, 400, 16, seed=6, shift=0.0)
    _, far = pair(400, 400, 16, seed=7, shift=1.0)
    same_mean, same_std = kid(same_a, same_b, num_subsets=20, subset_size=200)
    far_mean, far_std = kid(same_a, far, num_subsets=20, subset_size=200)
    assert abs(same_mean) < 3 * same_std + 1e-3
    assert far_mean > 10 * far_std


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"subset_size": 1}, "subset_size must be an integer ≥ 2"),
        ({"num_subsets": 0}, "num_subsets must be a positive integer"),
    ],
)
def test_bad_arguments(kwargs, message):
    x, y = pair(10, 10, 4)
    with pytest.raises(ValueError, match=message):
        kid(x, y, **kwargs)


def test_bad_features():
    x, y = pair(10, 10, 4)
    with pytest.raises(ValueError, match="feature dimensions differ"):
        kid(x, y[:, :3])
    with pytest.raises(ValueError, match="need at least 2"):
        mmd2_unbiased(x[:1], y)
    with pytest.raises(ValueError, match="NaN or Inf"):
        kid(np.where(x > 1, np.nan, x), y)
