"""The Fréchet distance between two Gaussians fitted to feature vectors (FID; Heusel et al., 2017).

    FID = ‖μ1 − μ2‖² + tr Σ1 + tr Σ2 − 2 tr (Σ1 Σ2)^{1/2},   Σ with N − 1 in the denominator.

Everything hard sits in the last term, the trace of the square root of a product of two covariances. The
reference packages take a general matrix square root of the non-symmetric product Σ1Σ2 (pytorch-fid and
clean-fid: ``scipy.linalg.sqrtm``, seconds to minutes at d = 2048, with an eps retry and a discarded
imaginary part on near-singular input; torchmetrics: ``eigvals`` of the non-symmetric product, real part).
Neither is needed. Two exact routes:

(a) symmetric ("eigh"). Σ1Σ2 is similar to the symmetric PSD matrix Σ1^{1/2} Σ2 Σ1^{1/2}, so
    tr (Σ1Σ2)^{1/2} = Σ_i sqrt(λ_i(Σ1^{1/2} Σ2 Σ1^{1/2})). Any factor F with F Fᵀ = Σ1 gives the same non-zero
    spectrum (F = Σ1^{1/2} W with W orthogonal on the range of Σ1, so Fᵀ Σ2 F = Wᵀ Σ1^{1/2} Σ2 Σ1^{1/2} W), so
    we pick the cheapest factor that is accurate: the Cholesky factor when Σ1 — or Σ2, the formula is
    symmetric — is numerically positive definite (a third of the cost of an eigendecomposition); when both
    are singular (N1, N2 ≤ d), a rank-revealing pivoted Cholesky d×r (LAPACK ``dpstrf``, CPU); otherwise
    (GPU, or ``factor="eigh"``) the eigen-factor V Λ^{1/2} restricted to the numerically non-zero
    eigenvalues. One symmetric eigenvalue problem (values only) then finishes the job. Works from (μ, Σ)
    alone.

(b) exact low-rank ("exact"). With centred features X (N×d) and Y (M×d), Σ1 = XᵀX/(N−1), Σ2 = YᵀY/(M−1), and
    the eigenvalues of Σ1Σ2 are the squared singular values of X Yᵀ / sqrt((N−1)(M−1)), so
    tr (Σ1Σ2)^{1/2} = ‖X Yᵀ‖_* / sqrt((N−1)(M−1)), the nuclear norm (sum of singular values) of an N×M matrix.
    No covariance is formed and nothing is squared, so no precision is lost to a square root of rounding
    noise: this is the accurate route when N < d, where both covariances are singular. When a side has more
    rows than d it is first replaced by the d×d triangular factor R of its QR decomposition (X = QR with
    orthonormal Q leaves the singular values of X Yᵀ unchanged), so the SVD is never larger than d×d.

All computation is float64 in torch (numpy input is wrapped, torch input stays on its device, so a CUDA tensor
is processed on the GPU). Results are Python floats, never complex; a negative result is possible only from
rounding and is clamped to 0 (see :func:`_assemble`).
"""
from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch

from .features import Array, as_tensors, validate_covariance, validate_feature_pair, validate_stats

_EPS = torch.finfo(torch.float64).eps

# An eigenvalue below -_NOT_PSD * λ_max cannot come from rounding, even of a covariance accumulated in float32
# (~1e-7 λ_max): the matrix is not a covariance, and the formula's square roots would be meaningless.
_NOT_PSD = 1e-5

# Relative weights of how slowly each kind of kernel runs per flop on a CPU, compared with a matrix product
# (measured with MKL on 2 AVX-512 cores, d = 2048): blocked Householder QR about 2×; the BLAS-2-bound
# reductions to tri/bidiagonal form inside SVD and symmetric eigensolvers about 6×.
_QR_COST, _REDUCTION_COST = 2.0, 6.0

Route = Literal["auto", "eigh", "exact"]


def _rank_tolerance(largest: torch.Tensor) -> torch.Tensor:
    """Below this an eigenvalue (or Cholesky pivot) is treated as exactly 0: 16·eps·λ_max.

    A symmetric eigensolver returns an eigenvalue that is truly 0 as ±(a few)·eps·λ_max; its square root,
    ~1e-8 sqrt(λ_max), would add pure noise to the trace (hundreds of such terms when N < d: this is how scipy's
    sqrtm and torchmetrics' eigvals drift by ~1e-8 relative on rank-deficient statistics). So eigenvalues
    below the tolerance are set to 0. The tolerance must not be larger than it needs to be, because every real
    eigenvalue below it is lost too, costing up to sqrt(16 eps) ≈ 6e-8 sqrt(λ_max) each: numpy's matrix_rank
    rule, size·eps·λ_max, is 100× too coarse here (5e-6 relative error on Inception-like statistics at
    N = 2000, d = 2048), while 1·eps lets noise through (2e-9). 16·eps keeps both below 1e-10 on the cases
    in the tests and benchmark except where squaring itself limits route (a) (see :func:`fid_from_features`).
    """
    return largest.clamp(min=0) * 16 * _EPS


def _cholesky_factor(sigma: torch.Tensor) -> torch.Tensor | None:
    """Lower-triangular L with L Lᵀ = Σ when Σ is numerically positive definite, else None.

    Cholesky of a singular PSD matrix may "succeed" with pivots at the rounding level; such a factor would
    inject noise into the spectrum, so pivots below the rank tolerance count as failure.
    """
    d = sigma.shape[0]
    factor, info = torch.linalg.cholesky_ex(sigma)
    if int(info) != 0:
        return None
    pivots = torch.diagonal(factor) ** 2
    if float(pivots.min()) <= float(_rank_tolerance(torch.diagonal(sigma).max())):
        return None
    return factor


def _pivoted_cholesky_factor(sigma: torch.Tensor) -> torch.Tensor | None:
    """F (d×r) with F Fᵀ = Σ from LAPACK's rank-revealing pivoted Cholesky (CPU only), else None.

    For a singular PSD Σ of rank r (e.g. N ≤ d samples) this costs O(d r²) instead of the O(d³) of an
    eigendecomposition. LAPACK's ``dpstrf`` stops when the largest remaining diagonal entry falls below our
    rank tolerance, 16·eps·max diag(Σ) (:func:`_rank_tolerance`). For a PSD matrix that leaves a residual
    Σ − F Fᵀ whose entries are all below that tolerance (|S_ij| ≤ sqrt(S_ii S_jj)) up to the rounding of F Fᵀ;
    a larger residual means Σ is not PSD, and we return None so that the eigendecomposition path reports it.
    """
    if sigma.device.type != "cpu":
        return None
    from scipy.linalg import lapack

    d = sigma.shape[0]
    tolerance = float(_rank_tolerance(torch.diagonal(sigma).max()))
    factor, pivots, rank, info = lapack.dpstrf(sigma.numpy(), tol=tolerance, lower=1)
    if info < 0 or rank == 0:
        return None
    lower = np.tril(factor[:, :rank])
    f = np.empty_like(lower)
    f[pivots - 1] = lower  # P Σ Pᵀ = L Lᵀ with P from the 1-based pivots, so Σ = (PᵀL)(PᵀL)ᵀ
    f = torch.from_numpy(f)
    residual = sigma - f @ f.T
    # PSD: |residual| ≤ tolerance, plus the rounding of the r-term products in F Fᵀ (≤ r·eps·max diag).
    if float(residual.abs().max()) > tolerance + 4 * d * float(_EPS * torch.diagonal(sigma).max()):
        return None
    return f


def _eigen_factor(sigma: torch.Tensor, name: str) -> torch.Tensor:
    """F = V_r Λ_r^{1/2} (d×r) with F Fᵀ = Σ, keeping only the numerically non-zero eigenvalues."""
    eigenvalues, eigenvectors = torch.linalg.eigh(sigma)
    largest = eigenvalues.max()
    _check_psd(eigenvalues.min(), largest, name)
    keep = eigenvalues > _rank_tolerance(largest)
    return eigenvectors[:, keep] * eigenvalues[keep].sqrt()


def _check_psd(smallest: torch.Tensor, largest: torch.Tensor, name: str) -> None:
    if float(smallest) < -_NOT_PSD * max(float(largest), 0.0):
        raise ValueError(
            f"{name} has an eigenvalue {float(smallest):.3g} (largest {float(largest):.3g}): it is not positive "
            f"semi-definite, so it is not a covariance matrix; pass np.cov(features, rowvar=False) or "
            f"FeatureStats(...).compute()"
        )


def _trace_sqrt_symmetric(sigma1: torch.Tensor, sigma2: torch.Tensor, factor: str = "auto") -> torch.Tensor:
    """tr (Σ1Σ2)^{1/2} by route (a) on validated float64 tensors; see :func:`trace_sqrt_symmetric`."""
    if factor not in ("auto", "cholesky", "eigh"):
        raise ValueError(f"factor must be 'auto', 'cholesky' or 'eigh', got {factor!r}")
    names = ("sigma1", "sigma2")
    f = None
    if factor in ("auto", "cholesky"):
        f = _cholesky_factor(sigma1)
        if f is None and factor == "auto":
            # tr (Σ1Σ2)^{1/2} = tr (Σ2Σ1)^{1/2}: factor whichever covariance is positive definite.
            f = _cholesky_factor(sigma2)
            if f is not None:
                sigma1, sigma2, names = sigma2, sigma1, names[::-1]
        if f is None and factor == "cholesky":
            raise ValueError("sigma1 is not numerically positive definite (e.g. N ≤ d); use factor='eigh'")
    if f is None and factor == "auto":  # both singular (N1, N2 ≤ d): a rank-revealing factor of Σ1
        f = _pivoted_cholesky_factor(sigma1)
    if f is None:
        f = _eigen_factor(sigma1, names[0])
    if f.shape[1] == 0:  # Σ1 = 0: the product is 0
        return sigma1.new_zeros(())
    middle = f.T @ sigma2 @ f
    middle = (middle + middle.T) / 2  # exactly symmetric: eigvalsh reads one triangle only
    eigenvalues = torch.linalg.eigvalsh(middle)
    largest = eigenvalues.max()
    _check_psd(eigenvalues.min(), largest, names[1])
    # Clip: negative eigenvalues here are rounding noise around a true 0 (the matrix is PSD by construction),
    # and so are tiny positive ones (see _rank_tolerance); sqrt of either is noise, not signal.
    eigenvalues = torch.where(eigenvalues > _rank_tolerance(largest), eigenvalues, 0.0)
    return eigenvalues.sqrt().sum()


def _trace_sqrt_exact(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """tr (Σ1Σ2)^{1/2} by route (b) on validated float64 tensors; see :func:`trace_sqrt_exact`."""
    n, d = x.shape
    m = y.shape[0]
    xc = x - x.mean(dim=0)
    yc = y - y.mean(dim=0)
    # More rows than columns: keep only R of X = QR (d×d). Q has orthonormal columns, so the singular values of
    # X Yᵀ = Q (R Yᵀ) are those of R Yᵀ.
    if n > d:
        xc = torch.linalg.qr(xc, mode="r").R
    if m > d:
        yc = torch.linalg.qr(yc, mode="r").R
    singular_values = torch.linalg.svdvals(xc @ yc.T)
    return singular_values.sum() / math.sqrt((n - 1) * (m - 1))


def trace_sqrt_symmetric(sigma1: Array, sigma2: Array, factor: str = "auto") -> float:
    """tr (Σ1Σ2)^{1/2} through the symmetric matrix Fᵀ Σ2 F, F Fᵀ = Σ1 (route (a) of the module docstring).

    ``factor``: ``"cholesky"`` (Σ1 must be positive definite), ``"eigh"`` (F = V Λ^{1/2} on the range of Σ1,
    i.e. literally Σ sqrt(eig(Σ1^{1/2} Σ2 Σ1^{1/2}))), or ``"auto"`` (Cholesky of Σ1, else of Σ2, else a pivoted
    Cholesky of Σ1 on the CPU, else eigh). All give the same number up to rounding.
    """
    s1 = validate_covariance(sigma1, "sigma1")
    s2 = validate_covariance(sigma2, "sigma2")
    if s1.shape != s2.shape:
        raise ValueError(
            f"covariances differ in size: sigma1 is {tuple(s1.shape)}, sigma2 is {tuple(s2.shape)}; both must come "
            f"from the same extractor and layer"
        )
    s1, s2 = as_tensors(s1, s2)
    return float(_trace_sqrt_symmetric(s1, s2, factor))


def trace_sqrt_exact(f1: Array, f2: Array) -> float:
    """tr (Σ1Σ2)^{1/2} = ‖X Yᵀ‖_* / sqrt((N−1)(M−1)) from the features themselves (route (b)).

    X, Y are the centred feature sets (N×d, M×d). Exact, and cheap when N and M are below d: the SVD is of an
    N×M matrix (QR first reduces a side with more than d rows to d).
    """
    x, y = as_tensors(*validate_feature_pair(f1, f2))
    return float(_trace_sqrt_exact(x, y))


def route_costs(n1: int, n2: int, d: int) -> dict[str, float]:
    """Estimated cost (flops, weighted by how fast each kernel runs) of each route for N1×d against N2×d features.

    exact: QR of each side with more than d rows, the cross product a×d×b with a = min(N1, d), b = min(N2, d),
    and the SVD of that a×b matrix. eigh: the two covariances; then, if one has more than d samples, its
    Cholesky factor, Fᵀ Σ F (d×d) and a d×d symmetric eigenvalue problem; if both are singular, a pivoted
    Cholesky of rank r = N1 − 1, the residual check and Fᵀ Σ2 F (d×r), and an r×r eigenvalue problem.
    """
    a, b = min(n1, d), min(n2, d)
    small, large = min(a, b), max(a, b)
    exact = 2.0 * a * b * d + _REDUCTION_COST * (4.0 * small**2 * large - 4.0 / 3.0 * small**3)
    exact += sum(_QR_COST * (2.0 * n * d**2 - 2.0 / 3.0 * d**3) for n in (n1, n2) if n > d)
    eigh = 2.0 * (n1 + n2) * d**2
    if max(n1, n2) > d:
        eigh += d**3 / 3 + 4.0 * d**3 + _REDUCTION_COST * 4.0 / 3.0 * d**3
    else:
        r = n1 - 1
        eigh += d * r**2 + 4.0 * d**2 * r + 2.0 * d * r**2 + _REDUCTION_COST * 4.0 / 3.0 * r**3
    return {"exact": exact, "eigh": eigh}


def choose_route(n1: int, n2: int, d: int) -> str:
    """The cheaper route by :func:`route_costs`.

    In practice ``"exact"`` when both sets have at most d samples — where it is also the more accurate route,
    since both covariances are singular — and ``"eigh"`` once a set has more than d samples (then QR-reducing
    the features costs more than forming covariances). With very unequal sizes the switch moves a little.
    """
    costs = route_costs(n1, n2, d)
    return "exact" if costs["exact"] <= costs["eigh"] else "eigh"


def _assemble(mean_term: torch.Tensor, trace1: torch.Tensor, trace2: torch.Tensor, trace_sqrt: torch.Tensor) -> float:
    """‖μ1−μ2‖² + tr Σ1 + tr Σ2 − 2 tr (Σ1Σ2)^{1/2} as a Python float, never negative.

    Mathematically FID ≥ 0 (tr (Σ1Σ2)^{1/2} ≤ sqrt(tr Σ1 tr Σ2) ≤ (tr Σ1 + tr Σ2)/2). Computed, the subtraction
    of two nearly equal numbers (identical or near-identical sets) can land slightly below 0: anything down to
    -1e-6 of the terms' size (room for covariances that are PSD only to float32 rounding) is clamped to 0.0;
    below that something is wrong with the inputs and we say so rather than hide it.
    """
    value = float(mean_term + trace1 + trace2 - 2.0 * trace_sqrt)
    scale = float(mean_term + trace1 + trace2)
    if value < 0.0:
        if value < -1e-6 * scale:
            raise ValueError(
                f"Fréchet distance came out at {value:.6g}, negative beyond rounding (terms of size {scale:.6g}); "
                f"the covariances are not valid covariance matrices of the given means"
            )
        value = 0.0
    return value


def frechet_distance(mu1: Array, sigma1: Array, mu2: Array, sigma2: Array, factor: str = "auto") -> float:
    """Fréchet distance between N(μ1, Σ1) and N(μ2, Σ2) (Heusel et al., 2017), by the symmetric route (a).

    Drop-in for pytorch-fid's ``calculate_frechet_distance`` and clean-fid's ``frechet_distance`` (same value on
    well-conditioned statistics) without scipy's ``sqrtm``: no eps retry, never complex, never negative.
    numpy or torch in (CUDA tensors are processed on their GPU), float64 inside, Python float out.
    """
    m1, s1 = validate_stats(mu1, sigma1, "first statistics (mu1, sigma1)")
    m2, s2 = validate_stats(mu2, sigma2, "second statistics (mu2, sigma2)")
    if m1.shape != m2.shape:
        raise ValueError(
            f"feature dimensions differ: mu1 has d={m1.shape[0]}, mu2 has d={m2.shape[0]}; both statistics must "
            f"come from the same extractor and layer"
        )
    m1, s1, m2, s2 = as_tensors(m1, s1, m2, s2)
    diff = m1 - m2
    return _assemble(diff @ diff, torch.trace(s1), torch.trace(s2), _trace_sqrt_symmetric(s1, s2, factor))


def fid_from_features(f1: Array, f2: Array, route: Route = "auto") -> float:
    """FID between two sets of feature vectors (N×d and M×d), numpy or torch, as a Python float.

    ``route``: ``"exact"`` (nuclear norm of the centred cross-product, route (b)), ``"eigh"`` (covariances, then
    route (a)) or ``"auto"`` (the cheaper of the two by :func:`choose_route`: exact for samples up to about d,
    eigh beyond). Both are exact up to rounding; on rank-deficient samples (N < d) they agree to ~1e-14 on the
    CPU. Route (a) squares singular values (it takes square roots of eigenvalues σ²), so where the product has
    singular values far below the largest it is the less accurate one (~1e-9 relative seen on low-rank
    features with the GPU's eigen-factor); route (b) never squares.
    """
    if route not in ("auto", "eigh", "exact"):
        raise ValueError(f"route must be 'auto', 'eigh' or 'exact', got {route!r}")
    x, y = as_tensors(*validate_feature_pair(f1, f2))
    return _fid_tensors(x, y, route)


def _fid_tensors(x: torch.Tensor, y: torch.Tensor, route: str = "auto") -> float:
    """FID on validated float64 tensors on one device (the loop body of FID-vs-N and the bootstrap)."""
    n, d = x.shape
    m = y.shape[0]
    if route == "auto":
        route = choose_route(n, m, d)
    mu1, mu2 = x.mean(dim=0), y.mean(dim=0)
    diff = mu1 - mu2
    if route == "exact":
        # tr Σ = ‖X_c‖_F² / (N−1): no covariance needed.
        trace1 = ((x - mu1) ** 2).sum() / (n - 1)
        trace2 = ((y - mu2) ** 2).sum() / (m - 1)
        return _assemble(diff @ diff, trace1, trace2, _trace_sqrt_exact(x, y))
    xc, yc = x - mu1, y - mu2
    s1 = xc.T @ xc / (n - 1)
    s2 = yc.T @ yc / (m - 1)
    return _assemble(diff @ diff, torch.trace(s1), torch.trace(s2), _trace_sqrt_symmetric(s1, s2))
