"""CMMD: equal to a direct transcription of the authors' reference (google-research cmmd/distance.py, after the
L2 normalisation their CLIP embeddings carry), the unbiased option against a double loop, blocks of any size,
and bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from percept_lib.metrics import cmmd


def embeddings(n: int, d: int = 16, shift: float = 0.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)) + shift


def reference_mmd(x, y, sigma=10.0, scale=1000.0):
    """distance.py's ``mmd`` line by line in numpy float64, on embeddings normalised as CLIP's are."""
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    y = y / np.linalg.norm(y, axis=1, keepdims=True)
    x_sqnorms = np.diag(np.matmul(x, x.T))
    y_sqnorms = np.diag(np.matmul(y, y.T))
    gamma = 1 / (2 * sigma**2)
    k_xx = np.mean(np.exp(-gamma * (
        -2 * np.matmul(x, x.T) + np.expand_dims(x_sqnorms, 1) + np.expand_dims(x_sqnorms, 0))))
    k_xy = np.mean(np.exp(-gamma * (
        -2 * np.matmul(x, y.T) + np.expand_dims(x_sqnorms, 1) + np.expand_dims(y_sqnorms, 0))))
    k_yy = np.mean(np.exp(-gamma * (
        -2 * np.matmul(y, y.T) + np.expand_dims(y_sqnorms, 1) + np.expand_dims(y_sqnorms, 0))))
    return scale * (k_xx + k_yy - 2 * k_xy)


def unbiased_double_loop(x, y, sigma=10.0, scale=1000.0):
    """The U-statistic written out pair by pair."""
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    y = y / np.linalg.norm(y, axis=1, keepdims=True)

    def k(a, b):
        return math.exp(-float(np.sum((a - b) ** 2)) / (2 * sigma**2))

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return scale * (xx + yy - 2 * xy)


@pytest.mark.parametrize("sigma", [10.0, 1.0, 0.3])
def test_equals_the_reference_formula_with_unequal_sizes(sigma):
    x, y = embeddings(40, seed=1), embeddings(55, shift=0.3, seed=2)
    expected = reference_mmd(x, y, sigma=sigma)
    assert cmmd(x, y, sigma=sigma) == pytest.approx(expected, rel=1e-10)
    assert expected > 0


def test_scale_and_torch_input():
    x, y = embeddings(30, seed=3), embeddings(30, shift=0.5, seed=4)
    expected = reference_mmd(x, y) / 1000
    assert cmmd(torch.from_numpy(x), torch.from_numpy(y), scale=1.0) == pytest.approx(expected, rel=1e-10)


def test_unbiased_option_equals_the_double_loop():
    x, y = embeddings(12, d=5, seed=5), embeddings(17, d=5, shift=0.4, seed=6)
    unbiased = cmmd(x, y, sigma=1.0, unbiased=True)
    assert unbiased == pytest.approx(unbiased_double_loop(x, y, sigma=1.0), rel=1e-10)
    assert unbiased < cmmd(x, y, sigma=1.0)  # the full means add (1 − mean off-diagonal k)/m per set


@pytest.mark.parametrize("unbiased", [False, True])
def test_blocks_of_any_size_give_the_unblocked_result(unbiased):
    x, y = embeddings(50, seed=7), embeddings(37, shift=0.2, seed=8)
    whole = cmmd(x, y, unbiased=unbiased, chunk_size=1000)
    for chunk_size in (1, 3, 16):
        assert cmmd(x, y, unbiased=unbiased, chunk_size=chunk_size) == pytest.approx(whole, rel=1e-9)


def test_embeddings_are_normalised_so_their_lengths_do_not_matter():
    x, y = embeddings(25, seed=9), embeddings(25, shift=0.3, seed=10)
    lengths = np.random.default_rng(11).uniform(0.1, 50.0, (25, 1))
    assert cmmd(x * lengths, y) == pytest.approx(cmmd(x, y), rel=1e-10)


def test_more_different_sets_score_higher():
    x = embeddings(200, seed=12)
    near, far = embeddings(200, shift=0.2, seed=13), embeddings(200, shift=1.0, seed=14)
    assert cmmd(x, far) > cmmd(x, near) > 0


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(sigma=0), "sigma must be positive"),
        (dict(sigma=float("nan")), "sigma must be a finite number"),
        (dict(scale="1000"), "scale must be a finite number"),
        (dict(chunk_size=0), "chunk_size must be a positive integer"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        cmmd(embeddings(10), embeddings(10, seed=1), **kwargs)


def test_bad_input():
    x, y = embeddings(10), embeddings(12, seed=1)
    x[4] = 0.0
    with pytest.raises(ValueError, match=r"x: 1 embedding\(s\) of norm 0 \(first at row 4\)"):
        cmmd(x, y)
    with pytest.raises(ValueError, match="feature dimensions differ: x has d=16, y has d=8"):
        cmmd(embeddings(10), embeddings(10, d=8))
    y[3, 2] = np.inf
    with pytest.raises(ValueError, match=r"y: 1 of 12 feature vectors contain NaN or Inf"):
        cmmd(embeddings(10), y)
