"""FID-vs-N, FID∞ (Chong & Forsyth, 2020) and the bootstrap: against closed-form Gaussian FIDs, scipy's
linear regression, and Monte Carlo estimates computed with pytorch-fid; the same curves and intervals for any
metric (CMMD, KID, precision / recall / density / coverage) through metric_vs_n and metric_bootstrap."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from pytorch_fid.fid_score import calculate_frechet_distance
from scipy.stats import linregress

from percept_lib.metrics import (
    cmmd,
    fid_bootstrap,
    fid_from_features,
    fid_infinity,
    fid_vs_n,
    kid,
    metric_bootstrap,
    metric_vs_n,
    prdc,
)

# pytorch-fid and clean-fid pass sqrtm the `disp` argument that SciPy deprecates; not our concern here.
pytestmark = pytest.mark.filterwarnings("ignore:The `disp` argument is deprecated:DeprecationWarning")

D = 32
POOL = 3000
NS = [300, 450, 700, 1000, 1500, 2000, 3000]
SHIFT = np.full(D, 0.1)
SCALES = np.linspace(0.8, 1.2, D)
# FID between N(0, I) and N(μ, diag(s²)): ‖μ‖² + Σ (1 + s² − 2s)
TRUE_FID = float(SHIFT @ SHIFT + np.sum(1 + SCALES**2 - 2 * SCALES))


@pytest.fixture(scope="module")
def samples():
    rng = np.random.default_rng(100)
    reference = rng.standard_normal((POOL, D))
    same = rng.standard_normal((POOL, D))
    other = SHIFT + rng.standard_normal((POOL, D)) * SCALES
    return reference, same, other


def test_same_distribution_fid_falls_with_n_and_extrapolates_to_zero(samples):
    reference, same, _ = samples
    fit = fid_infinity(reference, same, ns=NS, repeats=3, seed=0)
    means = [row["mean"] for row in fit.rows]
    assert all(a > b for a, b in zip(means, means[1:])), means
    assert fit.low <= 0.0 <= fit.high, (fit.value, fit.low, fit.high)
    assert abs(fit.value) < 0.25 * min(means)  # far closer to the truth (0) than any FID_N
    assert fit.slope > 0


def test_different_gaussians_interval_covers_the_closed_form_fid(samples):
    reference, _, other = samples
    fit = fid_infinity(reference, other, ns=NS, repeats=3, seed=0)
    assert fit.low <= TRUE_FID <= fit.high, (fit.value, fit.low, fit.high, TRUE_FID)
    largest_n = fit.rows[-2]["mean"]  # the largest N below the full sets
    assert abs(fit.value - TRUE_FID) < abs(largest_n - TRUE_FID)


def test_fit_is_ordinary_least_squares_in_one_over_n(samples):
    reference, _, other = samples
    fit = fid_infinity(reference[:1000], other[:1000], ns=[200, 400, 600, 800], repeats=2, seed=1)
    assert len(fit.fids) == 8 and list(fit.ns) == [200, 200, 400, 400, 600, 600, 800, 800]
    reg = linregress(1.0 / fit.ns, fit.fids)
    assert fit.value == pytest.approx(reg.intercept, rel=1e-10)
    assert fit.slope == pytest.approx(reg.slope, rel=1e-10)
    assert fit.stderr_fit == pytest.approx(reg.intercept_stderr, rel=1e-8)
    assert fit.stderr >= fit.stderr_fit and fit.low < fit.value < fit.high
    assert fit.predict(400) == pytest.approx(reg.intercept + reg.slope / 400)


def test_fid_vs_n_rows_and_subsampling_without_replacement(samples):
    reference, _, other = samples
    x, y = reference[:400], other[:400]
    rows = fid_vs_n(x, y, [100, 400], repeats=4, seed=3)
    assert [row["n"] for row in rows] == [100, 400]
    for row in rows:
        assert len(row["values"]) == 4
        assert row["min"] <= row["mean"] <= row["max"]
        assert row["std"] == pytest.approx(np.std(row["values"], ddof=1))
    # at N = the whole set, a draw without replacement is a permutation: every repeat is the full-sample FID
    full = fid_from_features(x, y)
    assert rows[1]["values"] == pytest.approx([full] * 4, rel=1e-12)
    assert rows[0]["std"] > 0
    assert fid_vs_n(x, y, [100], repeats=2, seed=3) == fid_vs_n(x, y, [100], repeats=2, seed=3)


def test_bootstrap_intervals_cover_their_targets():
    # Small Gaussians, many independent experiments; the targets are computed with pytorch-fid:
    # E[FID_N] by Monte Carlo over fresh samples, FID∞ in closed form.
    d, n, experiments, n_boot = 6, 150, 40, 40
    rng = np.random.default_rng(7)
    shift, scales = np.full(d, 0.2), np.linspace(0.7, 1.3, d)

    def draw():
        return rng.standard_normal((n, d)), shift + rng.standard_normal((n, d)) * scales

    def reference_fid(x, y):
        return calculate_frechet_distance(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))

    expected_fid_n = np.mean([reference_fid(*draw()) for _ in range(1000)])
    fid_inf = float(shift @ shift + np.sum(1 + scales**2 - 2 * scales))
    covered_n = covered_inf = 0
    for seed in range(experiments):
        x, y = draw()
        estimate, low, high = fid_bootstrap(x, y, n_boot=n_boot, seed=seed)
        assert estimate == pytest.approx(fid_from_features(x, y), rel=1e-12) and low < estimate < high
        covered_n += low <= expected_fid_n <= high
        _, low, high = fid_bootstrap(x, y, n_boot=n_boot, seed=seed, target="infinity")
        covered_inf += low <= fid_inf <= high
    # nominal 95 %: 38 of 40 expected, fewer than 32 has probability < 0.001
    assert covered_n >= 32, covered_n
    assert covered_inf >= 32, covered_inf


def test_bootstrap_is_seeded(samples):
    reference, _, other = samples
    x, y = reference[:100], other[:100]
    assert fid_bootstrap(x, y, n_boot=10, seed=0) == fid_bootstrap(x, y, n_boot=10, seed=0)
    assert fid_bootstrap(x, y, n_boot=10, seed=0) != fid_bootstrap(x, y, n_boot=10, seed=1)


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda x, y: fid_vs_n(x, y, [1, 10]), r"sample sizes \[1\] are out of range"),
        (lambda x, y: fid_vs_n(x, y, [10, 51]), r"sample sizes \[51\] are out of range"),
        (lambda x, y: fid_vs_n(x, y, [10], repeats=0), "repeats must be a positive integer"),
        (lambda x, y: fid_infinity(x, y, ns=[20, 20]), "at least two distinct sample sizes"),
        (lambda x, y: fid_infinity(x, y, ns=[10, 20], confidence=95), r"confidence must be in \(0, 1\)"),
        (lambda x, y: fid_bootstrap(x, y, n_boot=1), "n_boot must be an integer ≥ 2"),
        (lambda x, y: fid_bootstrap(x, y, target="n=inf"), "target must be"),
        (lambda x, y: fid_vs_n(x, y[:, :3], [10]), "feature dimensions differ"),
    ],
)
def test_bad_arguments(call, message):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((50, 4)), rng.standard_normal((60, 4))
    with pytest.raises(ValueError, match=message):
        call(x, y)


PRDC_NAMES = ["precision", "recall", "density", "coverage"]


def test_metric_vs_n_with_a_mapping_metric_follows_the_sampling_protocol(samples):
    reference, _, other = samples
    x, y = reference[:300, :6], other[:250, :6]
    rows = metric_vs_n(prdc, x, y, [60, 100], repeats=2, seed=4)
    assert list(rows) == PRDC_NAMES
    # Protocol: one seeded generator; per N, per repeat: N rows of real, then N rows of fake, no replacement.
    rng = np.random.default_rng(4)
    for position, n in enumerate([60, 100]):
        for repeat in range(2):
            expected = prdc(x[rng.choice(300, n, replace=False)], y[rng.choice(250, n, replace=False)])
            for name in PRDC_NAMES:
                row = rows[name][position]
                assert row["n"] == n and row["values"][repeat] == expected[name]
                assert row["min"] <= row["mean"] <= row["max"]


def test_biased_cmmd_carries_a_one_over_n_bias_that_the_unbiased_estimator_drops(samples):
    reference, same, _ = samples
    x, y = reference[:800, :8], same[:800, :8]  # one distribution: the population value is 0
    ns = [50, 100, 200, 400]
    biased = metric_vs_n(cmmd, x, y, ns, repeats=4, seed=0)
    assert list(biased[0]) == ["n", "mean", "std", "min", "max", "values"]
    means = [row["mean"] for row in biased]
    assert all(a > b for a, b in zip(means, means[1:])), means
    # Same seed, same subsamples: the two estimators differ by the kernel diagonals, (1 − E k(x, x'))·(2/N)·1000.
    unbiased = metric_vs_n(lambda a, b: cmmd(a, b, unbiased=True), x, y, ns, repeats=4, seed=0)
    scaled_gap = [n * (b["mean"] - u["mean"]) for n, b, u in zip(ns, biased, unbiased)]
    assert max(scaled_gap) < 1.05 * min(scaled_gap), scaled_gap
    assert abs(unbiased[-1]["mean"]) < 0.5 * biased[-1]["mean"]


def test_half_sampling_intervals_for_prdc_cover_the_expected_values():
    # As for FID's bootstrap: many independent experiments; the targets E[metric at N] by Monte Carlo.
    d, n, experiments, n_boot = 4, 120, 40, 30
    rng = np.random.default_rng(11)

    def draw():
        return rng.standard_normal((n, d)), 0.3 + 1.2 * rng.standard_normal((n, d))

    fresh = [prdc(*draw()) for _ in range(300)]
    expected = {name: np.mean([result[name] for result in fresh]) for name in PRDC_NAMES}
    covered = dict.fromkeys(PRDC_NAMES, 0)
    for seed in range(experiments):
        x, y = draw()
        intervals = metric_bootstrap(prdc, x, y, n_boot=n_boot, seed=seed, resample="half")
        full = prdc(x, y)
        for name, (estimate, low, high) in intervals.items():
            assert estimate == full[name] and low <= estimate <= high
            covered[name] += low <= expected[name] <= high
    # nominal 95 %: 38 of 40 expected, fewer than 32 has probability < 0.001
    assert min(covered.values()) >= 32, covered


def test_bootstrap_resamples_with_replacement_and_half_sampling_without(samples):
    x, y = samples[0][:100], samples[2][:80]
    for resample, sizes in (("bootstrap", (100, 80)), ("half", (50, 40))):
        seen = []

        def record(a, b):
            seen.append((len(a), len(b), len(torch.unique(a, dim=0)), len(torch.unique(b, dim=0))))
            return float(a.sum() - b.sum())

        metric_bootstrap(record, x, y, n_boot=6, seed=1, resample=resample)
        assert seen[0] == (100, 80, 100, 80)  # the estimate: the full sets
        assert all((a, b) == sizes for a, b, _, _ in seen[1:])
        repeated = [(a, b) != (ua, ub) for a, b, ua, ub in seen[1:]]
        assert all(repeated) if resample == "bootstrap" else not any(repeated)


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda x, y: metric_vs_n(kid, x, y, [10]), "metric returned tuple; .*kid\\(real, fake\\)\\[0\\]"),
        (lambda x, y: metric_bootstrap(fid_from_features, x, y, resample="jackknife"), "resample must be one of"),
        (lambda x, y: metric_bootstrap(fid_from_features, x[:3], y, resample="half"), "needs at least 4 samples"),
        (lambda x, y: metric_vs_n(lambda a, b: {"p": {"q": 1.0}}, x, y, [10]), "nested mappings"),
        (lambda x, y: metric_vs_n(prdc, x, y[:, :3], [10]), "feature dimensions differ: real has d=4, fake has d=3"),
    ],
)
def test_bad_metric_arguments(call, message):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((50, 4)), rng.standard_normal((60, 4))
    with pytest.raises(ValueError, match=message):
        call(x, y)
