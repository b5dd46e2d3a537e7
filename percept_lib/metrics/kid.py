"""Kernel Inception Distance (KID; Bińkowski, Sutherland, Arbel & Gretton, "Demystifying MMD GANs", ICLR 2018).

KID is the squared maximum mean discrepancy between the two feature distributions under the cubic polynomial
kernel k(x, y) = (xᵀy/d + 1)³, estimated without bias:

    MMD²_u = Σ_{i≠j} k(x_i, x_j) / (m(m−1)) + Σ_{i≠j} k(y_i, y_j) / (n(n−1)) − 2 Σ_{i,j} k(x_i, y_j) / (mn).

Unlike FID its expectation does not depend on the sample size (it can be slightly negative); it pays with
variance, so it is reported as mean ± std over random subsets.

Agreement with the reference implementations (read from their source):
- clean-fid ``kernel_distance(feats1, feats2, num_subsets=100, max_subset_size=1000)``: subset size
  m = min(n1, n2, max_subset_size), each subset drawn with ``np.random.choice(..., replace=False)`` from the
  *global* numpy RNG (unseeded), returns the mean only.
- torchmetrics ``KernelInceptionDistance(subsets=100, subset_size=1000)``: subsets by ``torch.randperm`` (also
  without replacement within a subset, torch's global RNG), no clipping — it raises when subset_size exceeds
  a sample — and returns (mean, std) with the *population* std (``unbiased=False``). It computes in the dtype
  of the stored features (float32 for Inception), we in float64.
- All three use the same estimator (the cross term keeps its diagonal i = j, which is unbiased because x_i
  and y_i are independent) and the same kernel. So where a subset is the whole sample (n1 = n2 = m) the
  three agree to rounding; with smaller subsets they agree in distribution only, since each draws its subsets
  with a different RNG. Ours: seeded ``numpy.random.Generator``, subset size clipped like clean-fid, population
  std like torchmetrics (and torch-fidelity).
"""
from __future__ import annotations

import numpy as np
import torch

from .features import Array, as_tensors, validate_feature_pair


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """k(x, y) = (xᵀy/d + 1)³ for all pairs of rows: the KID kernel (degree 3, γ = 1/d, coef 1)."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def _mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Unbiased MMD² on float64 tensors (see the module docstring); sizes may differ."""
    m, n = x.shape[0], y.shape[0]
    k_xx = polynomial_kernel(x, x)
    k_yy = polynomial_kernel(y, y)
    k_xy = polynomial_kernel(x, y)
    within_x = (k_xx.sum() - torch.diagonal(k_xx).sum()) / (m * (m - 1))
    within_y = (k_yy.sum() - torch.diagonal(k_yy).sum()) / (n * (n - 1))
    return within_x + within_y - 2.0 * k_xy.sum() / (m * n)


def mmd2_unbiased(f1: Array, f2: Array) -> float:
    """Unbiased MMD² with the KID kernel between two whole feature sets (one "subset"), as a Python float."""
    x, y = as_tensors(*validate_feature_pair(f1, f2))
    return float(_mmd2_unbiased(x, y))


def kid(
    f1: Array, f2: Array, num_subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID (Bińkowski et al., 2018) as (mean, std) of the unbiased MMD² over ``num_subsets`` random subsets.

    Each subset takes m = min(n1, n2, subset_size) vectors from each set, without replacement within the
    subset, subsets independent of each other, from ``numpy.random.default_rng(seed)`` (reproducible; the
    global RNGs are untouched). std is the population std over subsets (as torchmetrics / torch-fidelity).
    numpy or torch in (CUDA tensors are processed on their GPU), float64 inside.
    """
    if not isinstance(num_subsets, (int, np.integer)) or num_subsets < 1:
        raise ValueError(f"num_subsets must be a positive integer, got {num_subsets!r}")
    if not isinstance(subset_size, (int, np.integer)) or subset_size < 2:
        raise ValueError(f"subset_size must be an integer ≥ 2 (the estimator divides by m − 1), got {subset_size!r}")
    x, y = as_tensors(*validate_feature_pair(f1, f2))
    n1, n2 = x.shape[0], y.shape[0]
    m = min(n1, n2, int(subset_size))
    if m == n1 == n2:
        # Every subset is the whole sample in another order, and MMD² does not depend on the order: all
        # num_subsets values are the same number (to rounding), so compute it once.
        return float(_mmd2_unbiased(x, y)), 0.0
    rng = np.random.default_rng(seed)
    values = torch.empty(num_subsets, dtype=torch.float64, device=x.device)
    for i in range(num_subsets):
        idx1 = torch.from_numpy(rng.choice(n1, m, replace=False)).to(x.device)
        idx2 = torch.from_numpy(rng.choice(n2, m, replace=False)).to(y.device)
        values[i] = _mmd2_unbiased(x[idx1], y[idx2])
    return float(values.mean()), float(values.std(unbiased=False))
