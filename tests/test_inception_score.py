"""Inception Score: equal to torch-fidelity's isc_features_to_metric on the same logits (no shuffle), the values
the definition fixes (uniform → 1, confident and balanced over C classes → C), and bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_fidelity.metric_isc import isc_features_to_metric

from percept_lib.metrics import inception_score


def logits(n: int, classes: int = 1008, seed: int = 0) -> np.ndarray:
    """Peaked but imperfect class scores, as a classifier gives on generated images."""
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((n, classes)) * 2.0
    scores[np.arange(n), rng.integers(0, min(40, classes), n)] += 8.0  # 40 popular classes
    return scores


@pytest.mark.parametrize("n,splits", [(1000, 10), (997, 10), (500, 3), (64, 1)])
def test_equals_torch_fidelity_on_the_same_logits(n, splits):
    x = logits(n)
    expected = isc_features_to_metric(torch.from_numpy(x), splits=splits, shuffle=False)
    mean, std = inception_score(x, splits=splits)
    assert mean == pytest.approx(expected["inception_score_mean"], rel=1e-12)
    assert std == pytest.approx(expected["inception_score_std"], rel=1e-9, abs=1e-12)
    assert 1.0 < mean < 40.0


def test_float32_tensor_input_gives_the_float32_values_result():
    x = torch.from_numpy(logits(300)).float()
    expected = isc_features_to_metric(x, splits=5, shuffle=False)
    assert inception_score(x, splits=5)[0] == pytest.approx(expected["inception_score_mean"], rel=1e-12)


def test_the_values_the_definition_fixes():
    assert inception_score(np.zeros((100, 1008)), splits=4) == pytest.approx((1.0, 0.0), abs=1e-12)
    confident = np.eye(25)[np.arange(500) % 25] * 60.0  # each image sure of its class, classes balanced
    mean, std = inception_score(confident, splits=5)
    assert mean == pytest.approx(25.0, rel=1e-12) and std == pytest.approx(0.0, abs=1e-9)


def test_splits_follow_the_order_given():
    # Images stored class by class: each split sees only its own classes, so IS collapses towards 1.
    confident = np.eye(10)[np.repeat(np.arange(10), 20)] * 60.0
    assert inception_score(confident, splits=10)[0] == pytest.approx(1.0, rel=1e-9)
    shuffled = confident[np.random.default_rng(0).permutation(200)]
    assert inception_score(shuffled, splits=10)[0] > 5.0


def test_extreme_logits_give_a_finite_score():
    x = logits(200)
    x[:, 500:] = -2000.0  # these probabilities underflow to exactly 0
    mean, std = inception_score(x, splits=4)
    assert np.isfinite(mean) and np.isfinite(std) and mean > 1.0


@pytest.mark.parametrize(
    "data,splits,message",
    [
        (np.full((20, 10), 0.1), 2, "look like probabilities"),
        (logits(5, 10), 10, r"logits: got 5 row\(s\) for splits=10"),
        (logits(20, 10), 0, "splits must be a positive integer"),
        (logits(20, 1), 2, r"got 1 class\(es\) per image"),
        (np.where(np.arange(20)[:, None] == 3, np.nan, logits(20, 10)), 2, r"\(first at row 3\)"),
        (logits(20, 10)[0], 1, r"logits: got shape \(10,\)"),
    ],
)
def test_bad_input(data, splits, message):
    with pytest.raises(ValueError, match=message):
        inception_score(data, splits=splits)
