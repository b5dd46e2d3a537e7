"""The Fréchet distance between two Gaussians fitted to feature vectors (FID; Heusel et al., 2017).

    FID = ‖μ1 − μ2‖² + tr Σ1 + tr Σ2 − 2 tr (Σ1 Σ2)^{1/2},   Σ with N − 1 in the denominator.

Everything hard sits in the last term. pytorch-fid and clean-fid take ``scipy.linalg.sqrtm`` of the
non-symmetric product Σ1Σ2 (with an eps retry and a discarded imaginary part on near-singular input),
torchmetrics the ``eigvals`` of that product. Neither is needed. One identity does all the work here:

    for any factors F1 F1ᵀ = Σ1, F2 F2ᵀ = Σ2 (d×r1, d×r2):   tr (Σ1Σ2)^{1/2} = ‖F2ᵀ F1‖_*,

the nuclear norm (sum of singular values) of C = F2ᵀ F1: Σ1Σ2 = F1 (F1ᵀ F2 F2ᵀ), and AB and BA share their
non-zero eigenvalues, so those of Σ1Σ2 are the eigenvalues of CᵀC, the squared singular values of C.
The factors:

- centred features X (N×d), when one of the two sets has at most d/2 samples: Xᵀ / sqrt(N−1) itself, nothing
  to compute. C = Y Xᵀ / sqrt((N−1)(M−1)) is then N×M instead of anything d×d: the low-rank case.
- statistics, or two feature sets of more than d/2 samples each (their covariances): a Cholesky factor of Σ;
  for a singular Σ of rank r a d×r one (on the CPU LAPACK's pivoted Cholesky, elsewhere V Λ^{1/2}).
  Factoring also checks that Σ is a covariance (positive semi-definite).

Two routes:

- ``route="auto"`` (the default), one symmetric eigenvalue problem, values only. From statistics:
  Σ sqrt(eig(F1ᵀ Σ2 F1)), F1 a Cholesky factor of Σ1 — literally Σ sqrt(eig(Σ1^{1/2} Σ2 Σ1^{1/2})) with the
  square root replaced by a factor, and F1ᵀ Σ2 F1 one congruence by triangular blocks. Where Σ1 or
  Σ2 is singular (N ≤ d), both are factored with pivots and the factor of lower rank is the one applied, so
  that no zero eigenvalue has to be told from a small one. From features of at most d/2 samples:
  Σ sqrt(eig) of the smaller Gram matrix CᵀC or CCᵀ. Eigenvalues are squared singular values, each with an
  absolute rounding error of about eps·σ_max², so a σ far below σ_max could lose digits; the default stays
  within 1e-7 of the exact route (tests/test_frechet.py, benchmarks/fid.py measure it: 1e-12 or better
  from statistics).
- ``route="exact"``: the singular values of C themselves (an SVD; nothing is squared). From features it never
  forms a covariance: a set with more rows than d is replaced by the triangular R of its QR decomposition,
  which has the same Gram matrix.

All computation is float64 through one :class:`~.linalg.LinearAlgebra` (``backend=``: "numpy" — SciPy — for
CPU tensors, "torch" for CUDA tensors; numpy input is wrapped). Results are Python floats, never complex; a
negative result is possible only from rounding and is clamped to 0 (see :func:`_assemble`).
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Literal, Union

import torch

from .features import Array, as_tensors, validate_covariance, validate_feature_pair, validate_stats
from .linalg import EPS, LinearAlgebra, linear_algebra

Route = Literal["auto", "exact"]
Backend = Union[str, LinearAlgebra, None]

# Eigenvalues of a covariance below -_NOT_PSD·λ_max cannot come from rounding, even of a covariance accumulated
# in float32 (~1e-7 λ_max): the matrix is not a covariance, and the formula's square roots would be meaningless.
_NOT_PSD = 1e-5


def _check_route(route: str) -> None:
    if route not in ("auto", "exact"):
        raise ValueError(f"route must be 'auto' (the default) or 'exact' (an SVD, nothing squared), got {route!r}")


# ------------------------------------------------------------------------------------------- factors
@dataclass(frozen=True)
class _Factor:
    """A factor F (d×r) with Σ = (sF)(sF)ᵀ, held either as F itself (``matrix``: features, eigen-factors) or
    as a lower-triangular L (``lower``, d×d, its columns from ``rank`` on zero) with an ``order`` p such that
    Σ[p][:, p] = s² L Lᵀ (F = Pᵀ L; no order: F = L). ``rank``: where known to be below F's width (centred
    features: N − 1, since their rows sum to 0)."""

    matrix: torch.Tensor | None = None
    lower: torch.Tensor | None = None
    order: torch.Tensor | None = None
    scale: float = 1.0
    rank: int | None = None

    @property
    def known_rank(self) -> int:
        return self.rank if self.rank is not None else self.matrix.shape[1]

    def rows(self, la: LinearAlgebra, order: torch.Tensor | None = None) -> torch.Tensor:
        """F[order] (F itself without an order)."""
        if self.matrix is not None:
            return self.matrix if order is None else la.take_rows(self.matrix, order)
        lower = self.lower[:, : self.rank]
        if self.order is None:
            return lower if order is None else la.take_rows(lower, order)
        inverse = torch.argsort(self.order)  # F = Pᵀ L: row i of F is row inverse[i] of L
        return la.take_rows(lower, inverse if order is None else inverse[order])


def _cross(la: LinearAlgebra, f1: _Factor, f2: _Factor) -> torch.Tensor:
    """C = F2ᵀ F1; from a triangular F2 = P2ᵀ L2 as L2ᵀ (P2 F1), half the flops of a general product."""
    if f2.lower is not None:
        return la.triangular_tn(f2.lower, f1.rows(la, f2.order))[: f2.rank]
    return la.product_tn(f2.matrix, f1.rows(la))


def _scale_of(sigma: torch.Tensor) -> float:
    """A divisor that brings a covariance near unit size where its products could leave float64's range (its
    largest entry is on its diagonal), else 1: most inputs are never copied for it."""
    largest = float(torch.diagonal(sigma).max())
    return largest if largest > 0 and not 1e-50 <= largest <= 1e50 else 1.0


def _check_psd(values: torch.Tensor, name: str) -> None:
    """Raise if a matrix with these (ascending) eigenvalues is not positive semi-definite beyond rounding."""
    smallest, largest = float(values[0]), float(values[-1])
    if smallest < -_NOT_PSD * max(largest, 0.0):
        raise ValueError(
            f"{name} has an eigenvalue {smallest:.3g} (largest {largest:.3g}): it is not positive semi-definite, "
            f"so it is not a covariance matrix; pass np.cov(features, rowvar=False) or FeatureStats(...).compute()"
        )


def _covariance_factor(la: LinearAlgebra, sigma: torch.Tensor, name: str, kind: str = "auto") -> _Factor:
    """A factor of the covariance ``sigma``, checking that it is positive semi-definite.

    ``kind``: "auto" — pivoted Cholesky where the backend has it, else Cholesky, else the eigen-factor;
    "definite" — Cholesky first (faster, no order to apply; for a Σ expected to be positive definite), then as
    "auto"; "cholesky" — Σ must be positive definite; "eigh" — the eigen-factor V Λ^{1/2}. Pivoted and
    eigen-factors have their columns largest first, which grades the matrices built from them (large entries
    first), the order in which an eigensolver resolves small eigenvalues to their own relative accuracy.
    Pivots below 16·eps·‖Σ‖_F count as zero (‖Σ‖_F bounds λ_max; max diag Σ can be far below it)."""
    scale = _scale_of(sigma)
    sigma = sigma / scale if scale != 1.0 else sigma
    tolerance = 16 * EPS * la.norm(sigma)
    steps = {"auto": ("pivoted", "cholesky"), "definite": ("cholesky", "pivoted"), "cholesky": ("cholesky",)}
    for step in steps.get(kind, ()):
        if step == "pivoted" and (pivoted := la.pivoted_cholesky(sigma, tolerance)) is not None:
            lower, order, rank = pivoted
            return _Factor(lower=lower, order=order, rank=rank, scale=math.sqrt(scale))
        if step == "cholesky" and (lower := la.cholesky(sigma)) is not None:
            if float(torch.diagonal(lower).min()) ** 2 > tolerance:  # not rounding-level pivots
                return _Factor(lower=lower, rank=sigma.shape[0], scale=math.sqrt(scale))
    if kind == "cholesky":
        raise ValueError(f"{name} is not numerically positive definite (e.g. N ≤ d); use factor='eigh'")
    values, vectors = la.eigh(sigma)
    _check_psd(values, name)
    keep = values > 16 * EPS * max(float(values[-1]), 0.0)
    return _Factor(matrix=(vectors[:, keep] * values[keep].sqrt()).flip(1), scale=math.sqrt(scale))


def _raw_factor(centred: torch.Tensor) -> _Factor:
    n, d = centred.shape
    return _Factor(matrix=centred.T, scale=1.0 / math.sqrt(n - 1), rank=min(n - 1, d))


def _exact_factor(la: LinearAlgebra, centred: torch.Tensor) -> _Factor:
    """The exact route's factor of a feature set: the features, or for more rows than d the R of X = QR (the
    same Gram matrix, nothing squared)."""
    n, d = centred.shape
    return _raw_factor(centred) if n <= d else _Factor(matrix=la.qr_r(centred).T, scale=1.0 / math.sqrt(n - 1))


# ----------------------------------------------------------------------------------------- trace terms
def _trace_sqrt(la: LinearAlgebra, f1: _Factor, f2: _Factor, route: str) -> float:
    """tr (Σ1Σ2)^{1/2} = s1 s2 ‖C‖_*, C = F2ᵀ F1: the sum of its singular values ("exact") or of the square
    roots of the eigenvalues of its smaller Gram matrix (the default)."""
    c = _cross(la, f1, f2)
    scale = f1.scale * f2.scale
    if c.numel() == 0:
        return 0.0
    if route == "exact":
        return float(la.svdvals(c).sum()) * scale
    largest = la.largest_entry(c)
    zeros = max(min(c.shape) - min(f1.known_rank, f2.known_rank), 0)  # eigenvalues that are 0 by construction
    if largest == 0.0 or zeros >= min(c.shape):
        return 0.0
    # Eigenvalues of (C / max|c_ij|)ᵀ(C / max|c_ij|): the scaling keeps the squares inside float64's range.
    # No threshold beyond the zeros known by construction (the factors' ranks are exact): even a few
    # eps·λ_max would drop real singular values near sqrt(eps)·σ_max, each worth up to that much of the trace.
    eigenvalues = la.eigvalsh(la.gram(c, largest))[zeros:]
    return float(eigenvalues.clamp(min=0).sqrt().sum()) * largest * scale


def _assemble(mean_term: float, trace1: float, trace2: float, trace_sqrt: float) -> float:
    """‖μ1−μ2‖² + tr Σ1 + tr Σ2 − 2 tr (Σ1Σ2)^{1/2} as a Python float, never negative.

    Mathematically FID ≥ 0 (tr (Σ1Σ2)^{1/2} ≤ sqrt(tr Σ1 tr Σ2) ≤ (tr Σ1 + tr Σ2)/2). Computed, the subtraction
    of two nearly equal numbers (identical or near-identical sets) can land slightly below 0: anything down to
    -1e-6 of the terms' size (room for covariances that are PSD only to float32 rounding) is clamped to 0.0;
    below that something is wrong with the inputs and we say so rather than hide it.
    """
    terms = mean_term + trace1 + trace2
    value = terms - 2.0 * trace_sqrt
    if value < 0.0:
        if value < -1e-6 * terms:
            raise ValueError(
                f"Fréchet distance came out at {value:.6g}, negative beyond rounding (terms of size {terms:.6g}); "
                f"the covariances are not valid covariance matrices of the given means"
            )
        value = 0.0
    return value


def _check_range(total_variance: float, name: str) -> None:
    """The squares of the inputs must fit in float64 (the Fréchet distance is quadratic in them)."""
    if not math.isfinite(total_variance):
        raise ValueError(
            f"{name}: squared magnitudes overflow float64 (values near 1e154 or above); rescale them, e.g. divide "
            f"both sets by the same constant — FID scales with its square"
        )
    if 0.0 < total_variance < sys.float_info.min * 1e20:
        raise ValueError(
            f"{name}: squared magnitudes underflow float64 (values near 1e-144 or below); rescale them, e.g. "
            f"multiply both sets by the same constant — FID scales with its square"
        )


# ------------------------------------------------------------------------------------------ public API
def frechet_distance(
    mu1: Array, sigma1: Array, mu2: Array, sigma2: Array, route: Route = "auto", backend: Backend = None
) -> float:
    """Fréchet distance between N(μ1, Σ1) and N(μ2, Σ2) (Heusel et al., 2017) from the statistics alone.

    Drop-in for pytorch-fid's ``calculate_frechet_distance`` and clean-fid's ``frechet_distance`` (same value on
    well-conditioned statistics) without ``sqrtm``: no eps retry, never complex, never negative. ``route``:
    "auto" (the eigenvalues of the symmetric F1ᵀ Σ2 F1, F1 a factor of Σ1) or "exact" (the singular values of
    F2ᵀ F1); see the module docstring. ``backend``: "numpy", "torch" or a :class:`~.linalg.LinearAlgebra`
    (default: by device). numpy or torch in (CUDA tensors are processed on their GPU), float64 inside, Python
    float out.

    >>> import numpy as np
    >>> round(frechet_distance(np.zeros(3), np.eye(3), np.ones(3), 4 * np.eye(3)), 9)  # 3 + 3 + 12 − 2·6
    6.0
    """
    _check_route(route)
    m1, s1 = validate_stats(mu1, sigma1, "first statistics (mu1, sigma1)")
    m2, s2 = validate_stats(mu2, sigma2, "second statistics (mu2, sigma2)")
    if m1.shape != m2.shape:
        raise ValueError(
            f"feature dimensions differ: mu1 has d={m1.shape[0]}, mu2 has d={m2.shape[0]}; both statistics must "
            f"come from the same extractor and layer"
        )
    m1, s1, m2, s2 = as_tensors(m1, s1, m2, s2)
    la = linear_algebra(backend, s1)
    diff = m1 - m2
    mean_term, trace1, trace2 = float(diff @ diff), float(torch.trace(s1)), float(torch.trace(s2))
    _check_range(mean_term + trace1 + trace2, "statistics")
    return _assemble(mean_term, trace1, trace2, _trace_sqrt_from_covariances(la, s1, s2, route))


def _trace_sqrt_from_covariances(
    la: LinearAlgebra, s1: torch.Tensor, s2: torch.Tensor, route: str, definite: bool = True
) -> float:
    """tr (Σ1Σ2)^{1/2} from two covariances; ``definite``: Σ1 is expected to be positive definite (N > d)."""
    if route == "exact":
        return _trace_sqrt(la, _covariance_factor(la, s1, "sigma1"), _covariance_factor(la, s2, "sigma2"), route)
    f1 = _covariance_factor(la, s1, "sigma1", "definite" if definite else "auto")
    if f1.known_rank == s1.shape[0]:
        # Σ1 positive definite: F1ᵀ Σ2 F1 is positive definite exactly when Σ2 is (Sylvester's law of inertia):
        # eigenvalues all above rounding show it, and no zero lost in noise, without factoring Σ2.
        scale2 = _scale_of(s2)
        values = la.eigvalsh(_congruence(la, f1, s2 / scale2 if scale2 != 1.0 else s2))
        noise = math.sqrt(s1.shape[0]) * EPS * la.norm(s1) / f1.scale**2 * la.norm(s2) / scale2
        if float(values[0]) > noise:
            return float(values.sqrt().sum()) * f1.scale * math.sqrt(scale2)
    return _trace_sqrt_by_congruence(la, s1, s2, f1, _covariance_factor(la, s2, "sigma2"))


def _congruence(la: LinearAlgebra, f: _Factor, sigma: torch.Tensor) -> torch.Tensor:
    """F̃ᵀ Σ F̃ (r×r, r the factor's rank; F = scale·F̃), lower triangle set: congruent to Σ on F's range."""
    if f.lower is None:
        return la.product_tn(f.matrix, la.product_tn(sigma, f.matrix))  # Σ symmetric: Σᵀ F = Σ F
    return la.triangular_congruence(f.lower, sigma if f.order is None else la.take_symmetric(sigma, f.order), f.rank)


def _trace_sqrt_by_congruence(la: LinearAlgebra, s1: torch.Tensor, s2: torch.Tensor, f1: _Factor, f2: _Factor):
    """Σ sqrt(eig(Fᵀ Σ' F)), F the factor of lower rank, Σ' the other covariance: the non-zero eigenvalues of
    Σ1Σ2 and none of its zeros (where the ranges of Σ1 and Σ2 are in general position, as for sampled
    features), so no threshold has to tell zeros from small eigenvalues. Factors of rank ≤ d/2 go the cheaper
    way of the Gram matrix of F2ᵀ F1 (about d·r1·r2 flops instead of d²·r)."""
    f, other = (f1, s2) if f1.known_rank <= f2.known_rank else (f2, s1)
    if 2 * f.known_rank <= s1.shape[0]:
        return _trace_sqrt(la, f1, f2, "auto")
    scale = _scale_of(other)
    values = la.eigvalsh(_congruence(la, f, other / scale if scale != 1.0 else other))
    return float(values.clamp(min=0).sqrt().sum()) * f.scale * math.sqrt(scale)


def fid_from_features(f1: Array, f2: Array, route: Route = "auto", backend: Backend = None) -> float:
    """FID between two sets of feature vectors (N×d and M×d), numpy or torch, as a Python float.

    ``route`` and ``backend`` as in :func:`frechet_distance`. Where one set has at most d/2 samples, the
    centred features are their own factors and only an N×M matrix is formed (C = Y Xᵀ costs 2·N·M·d flops,
    less than the N·d² of a covariance); otherwise the covariances are formed and the statistics' route taken
    (its factors keep the small singular values that squaring raw cross-products loses when N nears d).
    "exact" never forms a covariance. This is the function to call in loops (FID-vs-N, bootstrap): features
    in, number out.

    >>> import numpy as np
    >>> x = np.random.default_rng(0).standard_normal((100, 8))
    >>> round(fid_from_features(x, x + 1.0), 9)  # a shift by 1 in each of 8 dimensions
    8.0
    """
    _check_route(route)
    x, y = as_tensors(*validate_feature_pair(f1, f2))
    la = linear_algebra(backend, x)
    (n, d), m = x.shape, y.shape[0]
    (mu1, xc), (mu2, yc) = la.centre(x), la.centre(y)
    diff = mu1 - mu2
    mean_term = float(diff @ diff)
    trace1, trace2 = la.sum_of_squares(xc) / (n - 1), la.sum_of_squares(yc) / (m - 1)
    _check_range(trace1 + trace2, "features")
    if route == "exact":
        trace_sqrt = _trace_sqrt(la, _exact_factor(la, xc), _exact_factor(la, yc), route)
    elif 2 * min(n, m) <= d:
        trace_sqrt = _trace_sqrt(la, _raw_factor(xc), _raw_factor(yc), route)
    else:
        # The trace term is symmetric in the two sets: the larger one goes first, Σ1 positive definite if N > d.
        larger, smaller = (xc, yc) if n >= m else (yc, xc)
        trace_sqrt = _trace_sqrt_from_covariances(
            la, la.covariance(larger), la.covariance(smaller), route, definite=max(n, m) > d
        )
    return _assemble(mean_term, trace1, trace2, trace_sqrt)


def trace_sqrt_symmetric(sigma1: Array, sigma2: Array, factor: str = "auto", backend: Backend = None) -> float:
    """tr (Σ1Σ2)^{1/2} by the default route from two covariances: Σ sqrt(eig(F1ᵀ Σ2 F1)), F Fᵀ = Σ.

    ``factor``: how both covariances are factored — "cholesky" (both must be positive definite), "eigh"
    (F = V Λ^{1/2} on the range of Σ, i.e. literally Σ sqrt(eig(Σ1^{1/2} Σ2 Σ1^{1/2}))), or "auto" (pivoted
    Cholesky where the backend has it). All give the same number up to rounding.
    """
    if factor not in ("auto", "cholesky", "eigh"):
        raise ValueError(f"factor must be 'auto', 'cholesky' or 'eigh', got {factor!r}")
    s1 = validate_covariance(sigma1, "sigma1")
    s2 = validate_covariance(sigma2, "sigma2")
    if s1.shape != s2.shape:
        raise ValueError(
            f"covariances differ in size: sigma1 is {tuple(s1.shape)}, sigma2 is {tuple(s2.shape)}; both must come "
            f"from the same extractor and layer"
        )
    s1, s2 = as_tensors(s1, s2)
    la = linear_algebra(backend, s1)
    f1, f2 = _covariance_factor(la, s1, "sigma1", factor), _covariance_factor(la, s2, "sigma2", factor)
    return _trace_sqrt_by_congruence(la, s1, s2, f1, f2)


def trace_sqrt_exact(f1: Array, f2: Array, backend: Backend = None) -> float:
    """tr (Σ1Σ2)^{1/2} = ‖X Yᵀ‖_* / sqrt((N−1)(M−1)) from the features themselves (the exact route).

    X, Y are the centred feature sets (N×d, M×d); a side with more than d rows is first reduced to d by QR.
    """
    x, y = as_tensors(*validate_feature_pair(f1, f2))
    la = linear_algebra(backend, x)
    return _trace_sqrt(la, _exact_factor(la, la.centre(x)[1]), _exact_factor(la, la.centre(y)[1]), "exact")
