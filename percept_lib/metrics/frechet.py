"""The Fréchet distance between two Gaussians fitted to feature vectors (FID; Heusel et al., 2017).

    FID = ‖μ1 − μ2‖² + tr Σ1 + tr Σ2 − 2 tr (Σ1 Σ2)^{1/2},   Σ with N − 1 in the denominator.

Everything hard sits in the last term, the trace of the square root of a product of two covariances. The
reference packages take a general matrix square root of the non-symmetric product Σ1Σ2 (pytorch-fid and
clean-fid: ``scipy.linalg.sqrtm``, seconds to minutes at d = 2048, with an eps retry and a discarded
imaginary part on near-singular input; torchmetrics: ``eigvals`` of the non-symmetric product, real part).
Neither is needed. One identity does all the work here:

    for any factors F1 F1ᵀ = Σ1, F2 F2ᵀ = Σ2 (d×r1, d×r2):   tr (Σ1Σ2)^{1/2} = ‖F2ᵀ F1‖_*,

the nuclear norm (sum of singular values) of the r2×r1 matrix C = F2ᵀ F1: Σ1Σ2 = F1 (F1ᵀ F2 F2ᵀ), and AB and
BA share their non-zero eigenvalues, so those of Σ1Σ2 are the eigenvalues of F1ᵀF2F2ᵀF1 = CᵀC, the squared
singular values of C. The art is in the cheapest exact factors:

- centred features X (N×d) with N ≤ d: Xᵀ / sqrt(N−1) itself, nothing to compute. Two such sets give an N×M
  matrix C = Y Xᵀ / sqrt((N−1)(M−1)) instead of anything d×d — the "low-rank" case of N < d, cheap and exact.
- a set with more samples than dimensions, or statistics alone: a Cholesky factor of Σ (on the CPU LAPACK's
  rank-revealing pivoted Cholesky ``dpstrf``, so a singular Σ of rank r gives a d×r factor; on a GPU an
  unpivoted Cholesky, else the eigen-factor V Λ^{1/2} on the numerically non-zero eigenvalues). The
  factorisation also checks that Σ is a covariance (positive semi-definite).
- a large set against a small one may still enter raw (C is then M×N): :func:`_plan` takes whichever costs
  fewer flops.

Then two ways to the nuclear norm:

(a) ``route="eigh"``: Σ sqrt(λ_i) over the eigenvalues of the smaller Gram matrix CᵀC or CCᵀ — one symmetric
    eigenvalue problem, values only. With F1 = Σ1^{1/2} this is literally Σ sqrt(eig(Σ1^{1/2} Σ2 Σ1^{1/2})),
    the symmetric route. It squares: a backward-stable eigensolver returns each λ_i = σ_i² with an absolute
    error of a few eps·σ_max², so a singular value far below σ_max loses digits (δ/(2σ_i), at worst
    sqrt(δ) ≈ 1e-8 σ_max each).
(b) ``route="exact"``: the singular values of C directly (an SVD, 2–4× the time of (a)); nothing is squared,
    within ~1e-14 of a 40-digit reference. For features it uses the features themselves as factors
    (a set with more rows than d first replaced by the triangular R of its QR decomposition, which leaves the
    singular values unchanged), so no covariance is formed either.

``route="auto"`` (the default) runs (a), estimates its error from the very eigenvalues it computed
(:func:`_nuclear_norm_eigh`), and recomputes by (b) when that estimate exceeds 1e-9 of the FID. The estimate
is conservative, so (b) runs wherever C has singular values near 1e-6 σ_max or below: with Inception-like
features at d = 2048, for two sets of equal size from N = M = 800 to 3000 (C is then square or d×d, and a
square matrix's smallest singular values sit near 0). Route (a) is really off only near N = M ≈ d (by 2e-8
at N = M = 2000, 1e-7 at 2048–2080; by 1e-6 at N = M = 200–270, d = 256) and under a flat tail of small
eigenvalues with an FID far below the traces; elsewhere in that band it would have been right to 1e-12, but
the eigenvalues it computed do not tell those cases apart. Unequal sizes (1500 against 2000, 2000 against
10 000), sets well below d (N = M = 600) and covariances of many samples (N = M = 5000, 10 000) keep route (a).

All computation is float64 (numpy input is wrapped, torch input stays on its device, so a CUDA tensor is
processed on the GPU by torch); on the CPU the BLAS and LAPACK work goes through SciPy, one thread pool for
everything (see "one BLAS on the CPU" below), with BLAS syrk for every product of a matrix with its own
transpose (half the flops). Results are Python floats, never complex; a negative result is possible only from
rounding and is clamped to 0 (see :func:`_assemble`).
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from .features import Array, as_tensors, validate_covariance, validate_feature_pair, validate_stats

_EPS = torch.finfo(torch.float64).eps

# An eigenvalue below -_NOT_PSD * λ_max cannot come from rounding, even of a covariance accumulated in float32
# (~1e-7 λ_max): the matrix is not a covariance, and the formula's square roots would be meaningless.
_NOT_PSD = 1e-5

# What "auto" asks of route (a): its error estimate within this fraction of the FID, else route (b).
AUTO_TOLERANCE = 1e-9

# Route (a)'s error model (see _nuclear_norm_eigh), in units of eps·λ_max: the eigenvalue error assumed
# (rigorous backward-error bounds carry a factor growing with the size; the errors seen here stay below 8),
# and the noise floor below which an eigenvalue is charged its worst case (σ below ~1e-6 σ_max).
_EIGENVALUE_ERROR, _NOISE_FLOOR = 8.0, 1e4

# Relative cost per flop of each kernel against a matrix product, measured with 2 threads at d = 2048 on this
# project's CPU (used only to choose the factors; every choice gives the same number): symmetric eigenvalues,
# values only, 3.5× (its tridiagonal reduction is half BLAS-2); Cholesky 5×.
_EIGVALSH_COST, _CHOLESKY_COST = 3.5, 5.0

Route = Literal["auto", "eigh", "exact"]
_ROUTES = ("auto", "eigh", "exact")


def _check_route(route: str) -> None:
    if route not in _ROUTES:
        raise ValueError(f"route must be 'auto', 'eigh' or 'exact', got {route!r}")


# ------------------------------------------------------------------------------- one BLAS on the CPU
# On the CPU every BLAS / LAPACK call here goes through SciPy's OpenBLAS — not numpy's (a second OpenBLAS with
# threads of its own) and not torch's MKL or thread pool — and the element-wise work on large arrays is
# numpy's, which runs on the calling thread. Two thread pools on the same cores slow each other down: each
# pool's idle threads spin for a while after a call, and the other pool's threads then wait at every barrier
# for a core (an eigenvalue problem of 500×500 right after a product in the other library took 65–75 ms
# instead of 9–12, a torch mean over 500×2048 features 15 ms instead of 1). On a GPU everything is torch. The
# one exception is the QR decomposition of route (b) for a set with more rows than d (torch's is 3–5× faster
# than SciPy's OpenBLAS; it runs before any SciPy call of its computation).
def _scipy_for(t: torch.Tensor) -> bool:
    """Whether ``t``'s linear algebra goes through SciPy (CPU) rather than torch (GPU; tests also force the
    torch path on CPU tensors to check it where no GPU is)."""
    return t.device.type == "cpu"


def _fortran(a: np.ndarray) -> tuple[np.ndarray, int]:
    """``a`` in Fortran order for BLAS without a copy where possible, and 1 if the array returned is aᵀ."""
    if a.flags.f_contiguous:
        return a, 0
    if a.flags.c_contiguous:
        return a.T, 1
    return np.asfortranarray(a), 0


def _product_tn(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """aᵀ b."""
    if not _scipy_for(a):
        return a.T @ b
    from scipy.linalg import blas

    fa, a_transposed = _fortran(a.numpy())
    fb, b_transposed = _fortran(b.numpy())
    return torch.from_numpy(blas.dgemm(1.0, fa, fb, trans_a=1 - a_transposed, trans_b=b_transposed))


def _largest_entry(c: torch.Tensor) -> float:
    """max |c_ij| (one pass, no temporary: BLAS idamax on the CPU)."""
    if not _scipy_for(c):
        return float(c.abs().max())
    from scipy.linalg import blas

    flat = _fortran(c.numpy())[0].ravel(order="K")
    return abs(float(flat[blas.idamax(flat)]))


def _gram(c: torch.Tensor, scale: float) -> torch.Tensor:
    """The smaller of CᵀC and CCᵀ divided by scale² (both have the squared singular values of C as their
    non-zero eigenvalues). On the CPU by BLAS syrk, half the flops of a product, which fills one triangle only
    (the lower: see :func:`_eigvalsh`). Scaling by max |c_ij| keeps the squares inside float64's range for
    features from ~1e-150 to 1e150 (unscaled, entries of C beyond 1e154 overflow and below 1e-162
    underflow)."""
    tall = c.shape[0] >= c.shape[1]
    if not _scipy_for(c):
        c = c / scale
        return c.T @ c if tall else c @ c.T
    from scipy.linalg import blas

    fc, transposed = _fortran(c.numpy())  # dsyrk: trans=0 gives fc fcᵀ, trans=1 gives fcᵀ fc
    trans = (1 - transposed) if tall else transposed
    if 1e-100 <= scale <= 1e100:  # the products of entries stay in range: scale the sums (syrk's alpha)
        return torch.from_numpy(blas.dsyrk(1.0 / scale**2, fc, trans=trans, lower=1))
    return torch.from_numpy(blas.dsyrk(1.0, fc / scale, trans=trans, lower=1))


def _eigvalsh(g: torch.Tensor) -> torch.Tensor:
    """Eigenvalues (ascending) of a symmetric matrix from :func:`_gram`, which may be overwritten.

    Read from the lower triangle, as torch does: the Householder reduction then starts at the first column,
    and with pivoted-Cholesky factors (columns in decreasing order of size) the Gram matrix is graded that way,
    large entries first — the order in which its small eigenvalues come out accurately (from the upper
    triangle they came out 10³–10⁴× less accurately: 3e-11 instead of 7e-15 relative at N = 3000, d = 2048).
    """
    if not _scipy_for(g):
        return torch.linalg.eigvalsh(g)
    from scipy.linalg import eigh

    values = eigh(g.numpy(), lower=True, eigvals_only=True, overwrite_a=True, check_finite=False)
    return torch.from_numpy(values)


def _svdvals(c: torch.Tensor) -> torch.Tensor:
    if not _scipy_for(c):
        return torch.linalg.svdvals(c)
    from scipy.linalg import svdvals

    return torch.from_numpy(svdvals(c.numpy(), check_finite=False))


# ----------------------------------------------------------------------------------------------- factors
@dataclass(frozen=True)
class _Factor:
    """F (d×r) and a scale s with (sF)(sF)ᵀ = Σ; ``rank``: Σ's rank where it is known to be below r
    (centred features: N − 1, since the rows sum to 0)."""

    matrix: torch.Tensor
    scale: float = 1.0
    rank: int | None = None

    @property
    def known_rank(self) -> int:
        return self.matrix.shape[1] if self.rank is None else self.rank


def _rank_tolerance(largest: torch.Tensor) -> torch.Tensor:
    """Below this an eigenvalue is treated as exactly 0: 16·eps·λ_max.

    A symmetric eigensolver returns an eigenvalue that is truly 0 as ±(a few)·eps·λ_max; its square root,
    ~1e-8 sqrt(λ_max), would add pure noise to the trace (hundreds of such terms when N < d: this is how scipy's
    sqrtm and torchmetrics' eigvals drift by ~1e-8 relative on rank-deficient statistics). The tolerance must not
    be larger than it needs to be, because every real eigenvalue below it is lost too: numpy's matrix_rank rule,
    size·eps·λ_max, is 100× too coarse here, while 1·eps lets noise through.
    """
    return largest.clamp(min=0) * 16 * _EPS


def _factor_tolerance(sigma: torch.Tensor) -> float:
    """Pivot tolerance for (pivoted) Cholesky: 16·eps·‖Σ‖_F, i.e. the rank tolerance with ‖Σ‖_F for λ_max.

    A factorisation has no eigenvalues to measure against, and max diag(Σ) can be far below λ_max for
    correlated features (by 60× on Inception-like statistics), which would let rounding noise (~eps·λ_max)
    through as extra "rank": every noise column adds a spurious singular value of size sqrt(noise) to the
    nuclear norm. ‖Σ‖_F is an upper bound of λ_max that costs O(d²).
    """
    if _scipy_for(sigma):
        from scipy.linalg import norm

        return float(16 * _EPS * norm(sigma.numpy(), check_finite=False))
    return float(16 * _EPS * torch.linalg.matrix_norm(sigma))


def _cholesky_factor(sigma: torch.Tensor) -> torch.Tensor | None:
    """Lower-triangular L with L Lᵀ = Σ when Σ is numerically positive definite, else None.

    Cholesky of a singular PSD matrix may "succeed" with pivots at the rounding level; such a factor would
    inject noise into the spectrum, so pivots below :func:`_factor_tolerance` count as failure.
    """
    if _scipy_for(sigma):
        from scipy.linalg import lapack

        # Σ symmetric: its C-ordered array read in Fortran order is Σ again; the factor comes back lower
        # triangular with the upper part zeroed (clean=1).
        lower, info = lapack.dpotrf(sigma.numpy().T, lower=1, clean=1)
        factor = torch.from_numpy(lower)
    else:
        factor, info = torch.linalg.cholesky_ex(sigma)
    if int(info) != 0:
        return None
    pivots = torch.diagonal(factor) ** 2
    if float(pivots.min()) <= _factor_tolerance(sigma):
        return None
    return factor


def _pivoted_cholesky_factor(sigma: torch.Tensor) -> torch.Tensor | None:
    """F (d×r) with F Fᵀ = Σ by LAPACK's rank-revealing pivoted Cholesky (CPU); None if Σ is not PSD.

    r = d for a positive definite Σ; for a singular PSD Σ of rank r (e.g. N ≤ d samples) ``dpstrf`` stops
    after r steps, far cheaper than an eigendecomposition. It stops when the largest remaining diagonal entry
    falls below :func:`_factor_tolerance`; for a PSD matrix that leaves a residual Σ − F Fᵀ whose entries are all
    below that tolerance (|S_ij| ≤ sqrt(S_ii S_jj)) up to the rounding of F Fᵀ. A larger residual means Σ is
    not PSD: we return None so that the eigendecomposition path reports it.
    """
    from scipy.linalg import lapack

    d = sigma.shape[0]
    tolerance = _factor_tolerance(sigma)
    # Σ is symmetric, so its C-ordered array read as Fortran order (the transpose view, no copy) is Σ again.
    factor, pivots, rank, info = lapack.dpstrf(sigma.numpy().T, tol=tolerance, lower=1)
    if info < 0 or rank == 0:
        return None
    # dpstrf leaves Σ's upper triangle in place; zero it column by column (contiguous in Fortran order: 2 ms
    # at d = 2048, where np.tril builds a mask and takes 100 ms).
    for j in range(1, rank):
        factor[:j, j] = 0.0
    f = np.empty((d, rank))
    f[pivots - 1] = factor[:, :rank]  # F = Pᵀ L: F Fᵀ = Σ when Σ[order][:, order] = L Lᵀ
    f = torch.from_numpy(f)
    if rank < d:
        # PSD check on the residual S = Σ − F Fᵀ, applied to 4 fixed random vectors instead of formed (O(d·r)
        # per vector instead of O(d²·r)): for PSD input every |S_ij| is below the tolerance plus the rounding
        # of the r-term sums in F Fᵀ, so ‖S v‖ ≤ sqrt(d)·that·‖v‖; a negative eigenvalue λ of Σ survives in S
        # and gives ‖S v‖ ≈ |λ| ‖v‖ / sqrt(d) — for |λ| ≥ 1e-5 λ_max orders of magnitude above the bound.
        probes = torch.randn(d, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        applied = _product_tn(sigma, probes) - _product_tn(f.T, _product_tn(f, probes))
        bound = math.sqrt(d) * (tolerance + 4 * d * float(_EPS * torch.diagonal(sigma).max()))
        if float(torch.linalg.matrix_norm(applied) / torch.linalg.matrix_norm(probes)) > bound:
            return None
    return f


def _eigen_factor(sigma: torch.Tensor, name: str) -> torch.Tensor:
    """F = V_r Λ_r^{1/2} (d×r) with F Fᵀ = Σ, keeping only the numerically non-zero eigenvalues."""
    if _scipy_for(sigma):
        from scipy.linalg import eigh

        eigenvalues, eigenvectors = (torch.from_numpy(a) for a in eigh(sigma.numpy(), check_finite=False))
    else:
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


def _covariance_factor(sigma: torch.Tensor, name: str, kind: str = "auto") -> _Factor:
    """A factor of the covariance ``sigma``, checking that it is PSD.

    ``kind``: ``"auto"`` — pivoted Cholesky on the CPU (full or reduced rank), Cholesky on a GPU (positive
    definite Σ only), otherwise the eigen-factor (which reports a Σ that is not PSD); ``"cholesky"`` — Σ must
    be positive definite; ``"eigh"`` — the eigen-factor V Λ^{1/2}. The pivoted factor is used on the CPU even
    where Σ is positive definite (0.11 s at d = 2048 against 0.08 s unpivoted): its columns come in decreasing
    order of size, which makes the Gram matrix graded (see :func:`_eigvalsh`) — 6e-14 instead of 7e-13 relative
    at N = 10 000.
    """
    if kind == "eigh":
        return _Factor(_eigen_factor(sigma, name))
    if kind == "cholesky":
        f = _cholesky_factor(sigma)
        if f is None:
            raise ValueError(f"{name} is not numerically positive definite (e.g. N ≤ d); use factor='eigh'")
        return _Factor(f)
    f = _pivoted_cholesky_factor(sigma) if _scipy_for(sigma) else _cholesky_factor(sigma)
    return _Factor(f if f is not None else _eigen_factor(sigma, name))


def _covariance(centred: torch.Tensor) -> torch.Tensor:
    """XᵀX / (N−1) for centred X. On the CPU by BLAS syrk, which computes one triangle: half the flops of the
    general product (0.29 s instead of 0.50 s for N = 10 000, d = 2048 on two cores)."""
    n = centred.shape[0]
    if not _scipy_for(centred):
        return centred.T @ centred / (n - 1)
    from scipy.linalg import blas

    # The C-ordered N×d array read in Fortran order is Xᵀ (d×N): syrk with trans=0 gives Xᵀ(Xᵀ)ᵀ = XᵀX.
    upper = blas.dsyrk(1.0 / (n - 1), centred.numpy().T, trans=0, lower=0)
    full = upper + upper.T  # syrk leaves the strict lower triangle 0: this doubles only the diagonal
    np.fill_diagonal(full, np.diagonal(upper))
    return torch.from_numpy(full)


def _plan(n1: int, n2: int, d: int) -> tuple[bool, bool]:
    """For centred features N1×d and N2×d: whether each set enters as its raw features (True) or as a Cholesky
    factor of its covariance (False), whichever costs fewer flops for the route-(a) computation.

    A set with N ≤ d always enters raw (its factor is free and narrower than d). A larger set enters raw only
    against a small one: for 500 against 10 000 samples at d = 2048, C = Y Xᵀ (10 000×500) costs a third of
    forming and factoring the 2048×2048 covariance.
    """

    def cost(raw1: bool, raw2: bool) -> float:
        r1, r2 = (n1 if raw1 else d), (n2 if raw2 else d)
        small, large = min(r1, r2), max(r1, r2)
        prepare = sum(n * d * d + _CHOLESKY_COST * d**3 / 3 for n, raw in ((n1, raw1), (n2, raw2)) if not raw)
        return prepare + 2.0 * d * r1 * r2 + large * small**2 + _EIGVALSH_COST * 4.0 / 3.0 * small**3

    choices1 = (True,) if n1 <= d else (True, False)
    choices2 = (True,) if n2 <= d else (True, False)
    return min(((raw1, raw2) for raw1 in choices1 for raw2 in choices2), key=lambda plan: cost(*plan))


def _feature_factor(centred: torch.Tensor, raw: bool) -> _Factor:
    """The factor of a centred feature set's covariance: the features themselves, or a Cholesky factor."""
    n = centred.shape[0]
    if raw:
        return _Factor(centred.T, 1.0 / math.sqrt(n - 1), min(n - 1, centred.shape[1]))
    return _covariance_factor(_covariance(centred), "covariance of the features")


def _exact_factor(centred: torch.Tensor) -> _Factor:
    """Route (b)'s factor, never a covariance: the features, or for a set with more rows than columns the
    triangular R of X = QR (Q orthonormal, so F = Rᵀ, d×d, has F Fᵀ = XᵀX without squaring anything)."""
    n, d = centred.shape
    if n <= d:
        return _feature_factor(centred, raw=True)
    return _Factor(torch.linalg.qr(centred, mode="r").R.T, 1.0 / math.sqrt(n - 1))


# --------------------------------------------------------------------------------------- nuclear norms
def _nuclear_norm_eigh(c: torch.Tensor, zeros: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(‖C‖_* by route (a), an estimate of its error). ``zeros``: eigenvalues of the Gram matrix that are 0 by
    construction (they are set to 0 and add nothing to the estimate).

    A backward-stable eigensolver returns each λ = σ² of the Gram matrix with an absolute error of about
    eps·λ_max, and the square root turns that into an error of about eps·λ_max / (2σ) — up to sqrt(eps·λ_max)
    ≈ 1e-8 σ_max for a σ near 0 (the drift of sqrtm and eigvals on singular statistics). The estimate has
    two parts:
    - eigenvalues below _NOISE_FLOOR·eps·λ_max are charged their worst case over a truth within
      δ = _EIGENVALUE_ERROR·eps·λ_max of what we computed: errors there do not average out (a square root of
      noise is biased), and this is what flags C nearly square with both sets about as large as d;
    - the others are charged eps·λ_max / (2σ) each, added with random signs (the square root of the sum of
      squares): their worst-case sum would flag every covariance of 10 000 samples, where route (a) is exact
      to 1e-13, but a flat tail of many small eigenvalues under a small FID does add up (a case the first
      part alone missed by 1e-6).
    The estimate covered the measured error in every case of tests/test_frechet.py and benchmarks/fid.py.
    """
    scale = _largest_entry(c) if c.numel() else 0.0
    if scale == 0.0 or zeros >= min(c.shape):  # C = 0, or all its singular values are 0 by construction
        return c.new_zeros(()), c.new_zeros(())
    eigenvalues = _eigvalsh(_gram(c, scale))[zeros:]  # ascending, of (C / scale)ᵀ(C / scale)
    largest = eigenvalues[-1].clamp(min=0)
    kept = eigenvalues > _rank_tolerance(largest)
    roots = torch.where(kept, eigenvalues, 0.0).sqrt()
    error = _EIGENVALUE_ERROR * _EPS * largest
    worst = torch.where(
        kept,
        roots - (eigenvalues - error).clamp(min=0).sqrt(),  # a kept λ: the truth may be up to δ lower
        (eigenvalues.clamp(min=0) + error).sqrt(),  # a λ set to 0: the truth may be up to δ above it
    )
    near_floor = eigenvalues <= _NOISE_FLOOR * _EPS * largest
    first_order = torch.where(near_floor, 0.0, _EPS * largest / (2 * torch.where(near_floor, 1.0, roots)))
    estimate = torch.where(near_floor, worst, 0.0).sum() + torch.linalg.vector_norm(first_order)
    return roots.sum() * scale, estimate * scale


def _nuclear_norm_svd(c: torch.Tensor) -> torch.Tensor:
    """‖C‖_* by route (b): the singular values themselves, never squared."""
    if c.numel() == 0:
        return c.new_zeros(())
    return _svdvals(c).sum()


def _trace_sqrt(f1: _Factor, f2: _Factor, route: str, terms: float = 0.0) -> torch.Tensor:
    """tr (Σ1Σ2)^{1/2} = s1 s2 ‖F2ᵀ F1‖_*. ``terms`` = ‖μ1−μ2‖² + tr Σ1 + tr Σ2, which ``route="auto"`` needs to
    judge route (a)'s error against the FID."""
    c = _product_tn(f2.matrix, f1.matrix)
    scale = f1.scale * f2.scale
    if route != "exact":
        zeros = max(min(c.shape) - min(f1.known_rank, f2.known_rank), 0)
        value, error = _nuclear_norm_eigh(c, zeros)
        value, error = value * scale, error * scale
        # Relative to the FID, with a floor for (near-)identical sets where the FID itself is rounding noise.
        fid = terms - 2.0 * float(value)
        if route == "eigh" or 2.0 * float(error) <= AUTO_TOLERANCE * max(fid, 1e-6 * terms):
            return value
    return _nuclear_norm_svd(c) * scale


def _fid_from_factors(
    mean_term: torch.Tensor, trace1: torch.Tensor, trace2: torch.Tensor, f1: _Factor, f2: _Factor, route: str
) -> float:
    terms = float(mean_term + trace1 + trace2)
    return _assemble(mean_term, trace1, trace2, _trace_sqrt(f1, f2, route, terms))


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


# ------------------------------------------------------------------------------------------ public API
def frechet_distance(mu1: Array, sigma1: Array, mu2: Array, sigma2: Array, route: Route = "auto") -> float:
    """Fréchet distance between N(μ1, Σ1) and N(μ2, Σ2) (Heusel et al., 2017) from the statistics alone.

    Drop-in for pytorch-fid's ``calculate_frechet_distance`` and clean-fid's ``frechet_distance`` (same value on
    well-conditioned statistics) without scipy's ``sqrtm``: no eps retry, never complex, never negative. Both
    covariances are factored (pivoted Cholesky on the CPU, which also proves them PSD), then ``route`` as in the
    module docstring: ``"auto"`` (route (a) with its error estimate checked, route (b) where it is not within
    1e-9 of the FID), ``"eigh"`` (route (a) alone: fastest, but off by up to ~1e-6 relative for two sets of
    about d samples each, see the module docstring) or ``"exact"`` (route (b) alone).
    numpy or torch in (CUDA tensors are processed on their GPU), float64 inside, Python float out.
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
    diff = m1 - m2
    mean_term, trace1, trace2 = diff @ diff, torch.trace(s1), torch.trace(s2)
    _check_range(mean_term + trace1 + trace2, "statistics")
    f1, f2 = _covariance_factor(s1, "sigma1"), _covariance_factor(s2, "sigma2")
    return _fid_from_factors(mean_term, trace1, trace2, f1, f2, route)


def fid_from_features(f1: Array, f2: Array, route: Route = "auto") -> float:
    """FID between two sets of feature vectors (N×d and M×d), numpy or torch, as a Python float.

    ``route`` as in :func:`frechet_distance`. From features the factors are the centred features themselves
    wherever a set has at most d samples, so for N, M < d only an N×M matrix is ever formed (at d = 2048,
    N = M = 500: ~20 ms against seconds for sqrtm); ``"exact"`` never forms a covariance at all.
    """
    _check_route(route)
    x, y = as_tensors(*validate_feature_pair(f1, f2))
    return _fid_tensors(x, y, route)


def _centre(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, x − mean), a new tensor: the caller's features are never modified."""
    if not _scipy_for(x):
        mean = x.mean(dim=0)
        return mean, x - mean
    a = x.numpy()
    mean = a.mean(axis=0)
    return torch.from_numpy(mean), torch.from_numpy(a - mean)


def _sum_of_squares(centred: torch.Tensor) -> torch.Tensor:
    """‖X_c‖_F² = (N−1) tr Σ: no covariance needed. A BLAS dot (4e-15 relative on 10 000 × 2048, 8× faster than
    (x * x).sum(), which builds the squares); not vector_norm().square() (2e-14)."""
    if not _scipy_for(centred):
        flat = centred.reshape(-1)
        return torch.dot(flat, flat)
    from scipy.linalg import blas

    flat = centred.numpy().reshape(-1)
    chunk = 1 << 28  # BLAS takes 32-bit lengths
    total = sum(blas.ddot(flat[i:i + chunk], flat[i:i + chunk]) for i in range(0, flat.size, chunk))
    return torch.tensor(total, dtype=torch.float64)


def _check_range(total_variance: torch.Tensor, name: str) -> None:
    """The squares of the inputs must fit in float64 (the Fréchet distance is quadratic in them)."""
    value = float(total_variance)
    if not math.isfinite(value):
        raise ValueError(
            f"{name}: squared magnitudes overflow float64 (values near 1e154 or above); rescale them, e.g. divide "
            f"both sets by the same constant — FID scales with its square"
        )
    if 0.0 < value < sys.float_info.min * 1e20:
        raise ValueError(
            f"{name}: squared magnitudes underflow float64 (values near 1e-144 or below); rescale them, e.g. "
            f"multiply both sets by the same constant — FID scales with its square"
        )


def _fid_tensors(x: torch.Tensor, y: torch.Tensor, route: str = "auto") -> float:
    """FID on validated float64 tensors on one device (the loop body of FID-vs-N and the bootstrap)."""
    n, d = x.shape
    m = y.shape[0]
    (mu1, xc), (mu2, yc) = _centre(x), _centre(y)
    diff = mu1 - mu2
    trace1, trace2 = _sum_of_squares(xc) / (n - 1), _sum_of_squares(yc) / (m - 1)
    _check_range(trace1 + trace2, "features")
    if route == "exact":
        g1, g2 = _exact_factor(xc), _exact_factor(yc)
    else:
        raw1, raw2 = _plan(n, m, d)
        g1, g2 = _feature_factor(xc, raw1), _feature_factor(yc, raw2)
    return _fid_from_factors(diff @ diff, trace1, trace2, g1, g2, route)


def trace_sqrt_symmetric(sigma1: Array, sigma2: Array, factor: str = "auto") -> float:
    """tr (Σ1Σ2)^{1/2} by route (a) from two covariances: Σ sqrt(eig(F1ᵀ Σ2 F1)), F Fᵀ = Σ.

    ``factor``: how both covariances are factored — ``"cholesky"`` (both must be positive definite),
    ``"eigh"`` (F = V Λ^{1/2} on the range of Σ, i.e. literally Σ sqrt(eig(Σ1^{1/2} Σ2 Σ1^{1/2}))), or
    ``"auto"`` (the fastest: see the module docstring). All give the same number up to rounding.
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
    f1, f2 = _covariance_factor(s1, "sigma1", factor), _covariance_factor(s2, "sigma2", factor)
    return float(_trace_sqrt(f1, f2, "eigh"))


def trace_sqrt_exact(f1: Array, f2: Array) -> float:
    """tr (Σ1Σ2)^{1/2} = ‖X Yᵀ‖_* / sqrt((N−1)(M−1)) from the features themselves (route (b)).

    X, Y are the centred feature sets (N×d, M×d). Exact, and cheap when N and M are below d: the SVD is of an
    N×M matrix (QR first reduces a side with more than d rows to d).
    """
    x, y = as_tensors(*validate_feature_pair(f1, f2))
    return float(_trace_sqrt(_exact_factor(_centre(x)[1]), _exact_factor(_centre(y)[1]), "exact"))
