"""Fréchet distance: parity with pytorch-fid / clean-fid / torchmetrics, exactness on rank-deficient samples
(against an mpmath reference at 40 digits), the default route within 1e-7 of the exact one (N < d, N ≈ d, N > d),
the backend seam (torch's linear algebra against SciPy's on the same CPU tensors), never complex or negative,
and clear errors on bad input."""
from __future__ import annotations

import mpmath
import numpy as np
import pytest
import torch
from cleanfid.fid import frechet_distance as cleanfid_frechet_distance
from pytorch_fid.fid_score import calculate_frechet_distance
from torchmetrics.image.fid import _compute_fid as torchmetrics_compute_fid

from percept_lib.metrics import (
    fid_from_features,
    frechet_distance,
    trace_sqrt_exact,
    trace_sqrt_symmetric,
)
from percept_lib.metrics.linalg import SciPyLinearAlgebra

# pytorch-fid and clean-fid pass sqrtm the `disp` argument that SciPy deprecates; not our concern here.
pytestmark = pytest.mark.filterwarnings("ignore:The `disp` argument is deprecated:DeprecationWarning")

# What the default route promises against the exact one (benchmarks/fid.py prints it at d = 2048).
DEFAULT_ACCURACY = 1e-7

def gaussian_pair(n1, n2, d, seed=0, relu=False):
    """Two samples of different, correlated Gaussians (optionally rectified, like CNN activations)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((d, d)) / np.sqrt(d)
    b = rng.standard_normal((d, d)) / np.sqrt(d)
    x = rng.standard_normal((n1, d)) @ (np.eye(d) + 0.5 * a)
    y = 0.3 + rng.standard_normal((n2, d)) @ (0.8 * np.eye(d) + 0.5 * b)
    if relu:
        x, y = np.maximum(x, 0), np.maximum(y, 0)
    return x, y


def stats(f):
    return f.mean(axis=0), np.cov(f, rowvar=False)


def mpmath_fid(x: np.ndarray, y: np.ndarray, digits: int = 40) -> float:
    """FID at 40 significant digits, independently of our code: centred cross-product, then eigenvalues of its
    Gram matrix (squaring is harmless at this precision). Float64 inputs convert to mpf exactly."""
    mpmath.mp.dps = digits
    n, d = x.shape
    m = y.shape[0]
    xs = [[mpmath.mpf(float(v)) for v in row] for row in x]
    ys = [[mpmath.mpf(float(v)) for v in row] for row in y]
    mx = [mpmath.fsum(row[j] for row in xs) / n for j in range(d)]
    my = [mpmath.fsum(row[j] for row in ys) / m for j in range(d)]
    xc = mpmath.matrix([[row[j] - mx[j] for j in range(d)] for row in xs])
    yc = mpmath.matrix([[row[j] - my[j] for j in range(d)] for row in ys])
    cross = xc * yc.T
    gram = cross.T * cross if m <= n else cross * cross.T
    eigenvalues = mpmath.eigsy(gram, eigvals_only=True)
    trace_sqrt = mpmath.fsum(mpmath.sqrt(max(e, 0)) for e in eigenvalues) / mpmath.sqrt((n - 1) * (m - 1))
    trace1 = mpmath.fsum(v**2 for v in xc) / (n - 1)
    trace2 = mpmath.fsum(v**2 for v in yc) / (m - 1)
    mean_term = mpmath.fsum((a - b) ** 2 for a, b in zip(mx, my))
    return float(mean_term + trace1 + trace2 - 2 * trace_sqrt)


def rel(a, b):
    return abs(a - b) / abs(b)



def correlated_features(n, d, seed, shift=0.0):
    """Rectified low-rank features (64 latent factors with decaying scales, positive loadings, small noise):
    strongly correlated dimensions, so λ_max(Σ) is ~50× max diag(Σ), as for Inception activations, and a noise
    floor ~1e-6 λ_max under which the small singular values of the cross-product are hard to get right."""
    rng = np.random.default_rng(seed)
    mixing = np.abs(np.random.default_rng(99).standard_normal((64, d)))
    latent = rng.standard_normal((n, 64)) * np.arange(1, 65) ** -0.7
    return np.maximum(latent @ mixing + shift + 0.1 * rng.standard_normal((n, d)), 0)


def both_ways(x, y):
    """{name: FID} by every route, from features and from statistics, as numpy and as CPU tensors."""
    (mu1, s1), (mu2, s2) = stats(x), stats(y)
    values = {}
    for route in ("auto", "exact"):
        values["features", route] = fid_from_features(x, y, route=route)
        values["stats", route] = frechet_distance(mu1, s1, mu2, s2, route=route)
    return values


class Recording(SciPyLinearAlgebra):
    """The default backend, counting the calls that make a route's cost: a test double for the seam."""

    def __init__(self):
        self.calls = []

    def eigvalsh(self, g):
        self.calls.append(("eigvalsh", tuple(g.shape)))
        return super().eigvalsh(g)

    def svdvals(self, c):
        self.calls.append(("svdvals", tuple(c.shape)))
        return super().svdvals(c)

    def eigh(self, s):
        self.calls.append(("eigh", tuple(s.shape)))
        return super().eigh(s)

    def cholesky(self, s):
        self.calls.append(("cholesky", tuple(s.shape)))
        return super().cholesky(s)

    def pivoted_cholesky(self, s, tolerance):
        self.calls.append(("pivoted_cholesky", tuple(s.shape)))
        return super().pivoted_cholesky(s, tolerance)


# --------------------------------------------------------------------------------------------- parity
def test_matches_pytorch_fid_and_clean_fid_on_well_conditioned_statistics():
    x, y = gaussian_pair(1500, 1200, 64)
    (mu1, s1), (mu2, s2) = stats(x), stats(y)
    reference = calculate_frechet_distance(mu1, s1, mu2, s2)
    assert rel(cleanfid_frechet_distance(mu1, s1, mu2, s2), reference) < 1e-9  # the two references agree
    for name, value in both_ways(x, y).items():
        assert isinstance(value, float), name
        assert rel(value, reference) < 1e-9, (name, value, reference)


def test_matches_torchmetrics_compute_fid():
    x, y = gaussian_pair(800, 900, 48, seed=3, relu=True)
    (mu1, s1), (mu2, s2) = stats(x), stats(y)
    t = [torch.from_numpy(a) for a in (mu1, s1, mu2, s2)]
    reference = float(torchmetrics_compute_fid(*t))
    assert rel(frechet_distance(*t), reference) < 1e-9
    assert rel(fid_from_features(torch.from_numpy(x), torch.from_numpy(y)), reference) < 1e-9


def test_torch_and_numpy_inputs_agree_and_float32_is_promoted():
    x, y = gaussian_pair(300, 300, 32, seed=1)
    expected = fid_from_features(x, y)
    assert fid_from_features(torch.from_numpy(x), torch.from_numpy(y)) == pytest.approx(expected, rel=1e-12)
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    # float32 input is promoted, not computed in float32: same as the float64 computation on the same values
    assert fid_from_features(torch.from_numpy(x32), y32) == pytest.approx(
        fid_from_features(x32.astype(np.float64), y32.astype(np.float64)), rel=1e-12
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_tensors_are_computed_on_the_gpu_in_float64():
    x, y = gaussian_pair(200, 300, 64, seed=2)
    expected = fid_from_features(x, y)
    xg, yg = torch.from_numpy(x).float().cuda(), torch.from_numpy(y).float().cuda()
    for route in ("auto", "exact"):
        assert fid_from_features(xg, yg, route=route) == pytest.approx(
            fid_from_features(x.astype(np.float32), y.astype(np.float32), route=route), rel=1e-9
        )
    (mu1, s1), (mu2, s2) = stats(x), stats(y)
    value = frechet_distance(*(torch.from_numpy(a).cuda() for a in (mu1, s1, mu2, s2)))
    assert value == pytest.approx(expected, rel=1e-9)
    with pytest.raises(ValueError, match="backend 'numpy' computes on the CPU"):
        fid_from_features(xg, yg, backend="numpy")


# ------------------------------------------------------------------------------- rank-deficient: N < d
@pytest.mark.parametrize("n1,n2,seed", [(24, 24, 0), (20, 31, 1)])
def test_rank_deficient_exact_route_matches_high_precision_reference_while_sqrtm_drifts(n1, n2, seed):
    d = 128
    x, y = gaussian_pair(n1, n2, d, seed=seed, relu=True)
    truth = mpmath_fid(x, y)
    (mu1, s1), (mu2, s2) = stats(x), stats(y)

    exact = fid_from_features(x, y, route="exact")
    assert rel(exact, truth) < 1e-12
    assert rel(fid_from_features(x, y), truth) < 1e-11
    assert rel(frechet_distance(mu1, s1, mu2, s2), truth) < 1e-11
    assert rel(frechet_distance(mu1, s1, mu2, s2, route="exact"), truth) < 1e-11

    # scipy's sqrtm of the singular, non-symmetric product Σ1Σ2 (pytorch-fid, clean-fid) and torchmetrics'
    # eigvals: square roots of the ±eps noise in the d − N zero eigenvalues add up to a visible error.
    sqrtm_error = rel(calculate_frechet_distance(mu1, s1, mu2, s2), truth)
    eigvals_error = rel(float(torchmetrics_compute_fid(*(torch.from_numpy(a) for a in (mu1, s1, mu2, s2)))), truth)
    assert sqrtm_error > 1e-10 and sqrtm_error > 1000 * rel(exact, truth), sqrtm_error
    assert eigvals_error > 1e-10, eigvals_error


@pytest.mark.parametrize("n1,n2", [(600, 40), (100, 100), (40, 30), (2000, 200), (40, 3000), (3000, 2500)])
def test_singular_and_mixed_rank_covariances_default_within_promise_of_exact(n1, n2):
    d = 256
    x, y = correlated_features(n1, d, seed=1), correlated_features(n2, d, seed=2, shift=0.1)
    values = both_ways(x, y)
    exact = values["features", "exact"]
    assert rel(values["stats", "exact"], exact) < 1e-11
    assert rel(frechet_distance(*stats(y), *stats(x), route="exact"), exact) < 1e-11  # symmetric in its arguments
    assert rel(values["stats", "auto"], exact) < 1e-10  # graded (pivoted-Cholesky) factors: far inside the promise
    assert rel(values["features", "auto"], exact) < DEFAULT_ACCURACY


@pytest.mark.parametrize("n", [200, 240, 250, 255, 256, 260, 300])
def test_default_route_near_n_equal_d_within_promise_of_exact(n):
    """N ≈ d: both covariances (nearly) singular, the cross-product nearly square, singular values down to
    ~1e-9 σ_max below a noise floor: where squaring them (the default route) loses the most."""
    d = 256
    x, y = correlated_features(n, d, seed=1), correlated_features(n - 5, d, seed=2, shift=0.1)
    values = both_ways(x, y)
    exact = values["features", "exact"]
    assert rel(values["stats", "exact"], exact) < 1e-11
    assert rel(values["features", "auto"], exact) < DEFAULT_ACCURACY
    assert rel(values["stats", "auto"], exact) < DEFAULT_ACCURACY


def test_rank_deficient_at_inception_dimension():
    d = 2048
    x, y = gaussian_pair(40, 30, d, seed=4, relu=True)
    (mu1, s1), (mu2, s2) = stats(x), stats(y)
    exact = fid_from_features(x, y, route="exact")
    assert rel(frechet_distance(mu1, s1, mu2, s2), exact) < 1e-9  # two 2048×2048 factorisations: the costly line


def test_trace_sqrt_helpers_agree_with_each_other_and_with_eigenvalues_of_the_product():
    x, y = gaussian_pair(200, 150, 40, seed=5)
    (_, s1), (_, s2) = stats(x), stats(y)
    # independent formula: eigenvalues of the non-symmetric product, in extended precision via mpmath
    mpmath.mp.dps = 30
    eig = mpmath.eig(mpmath.matrix(s1) * mpmath.matrix(s2), left=False, right=False)
    reference = float(mpmath.fsum(mpmath.sqrt(mpmath.re(e)) for e in eig))
    for factor in ("auto", "cholesky", "eigh"):
        assert rel(trace_sqrt_symmetric(s1, s2, factor=factor), reference) < 1e-10
        assert rel(trace_sqrt_symmetric(s1, s2, factor=factor, backend="torch"), reference) < 1e-10
    assert rel(trace_sqrt_exact(x, y), reference) < 1e-10
    with pytest.raises(ValueError, match="not numerically positive definite"):
        trace_sqrt_symmetric(*(stats(a)[1] for a in gaussian_pair(20, 30, 40)), factor="cholesky")


def test_a_flat_tail_of_small_eigenvalues_under_a_small_fid():
    """Many eigenvalues just above the noise floor and an FID far below the traces: each carries a rounding
    error ~eps·λ_max/(2σ) in the default route, which together must stay within its promise."""
    d, rng = 200, np.random.default_rng(0)
    q1 = np.linalg.qr(rng.standard_normal((d, d)))[0]
    q2 = np.linalg.qr(q1 + 1e-3 * rng.standard_normal((d, d)))[0]
    spectrum = np.r_[1.0, np.full(d - 1, 3e-6)]
    s1, s2 = ((q * spectrum) @ q.T for q in (q1, q2))
    s1, s2 = (s1 + s1.T) / 2, (s2 + s2.T) / 2
    mu1, mu2 = np.zeros(d), np.r_[1e-2, np.zeros(d - 1)]
    exact = frechet_distance(mu1, s1, mu2, s2, route="exact")
    for backend in ("numpy", "torch"):
        assert rel(frechet_distance(mu1, s1, mu2, s2, backend=backend), exact) < DEFAULT_ACCURACY, backend
        assert rel(frechet_distance(mu1, s1, mu2, s2, route="exact", backend=backend), exact) < 1e-10, backend


# --------------------------------------------------------------------------------------- the backend seam
def near_square_case():
    d = 256
    return correlated_features(255, d, seed=1), correlated_features(250, d, seed=2, shift=0.1)


@pytest.mark.parametrize("case", ["low rank", "raw against factored", "both factored", "near square"])
def test_torch_backend_gives_the_numpy_backends_numbers_on_cpu_tensors(case):
    """On a GPU all linear algebra is torch's (Cholesky, else eigen-factors; products; eigvalsh; svdvals): run
    that backend on CPU tensors, where CI has no GPU, and compare with the SciPy one."""
    x, y = {
        "low rank": lambda: gaussian_pair(40, 30, 128, seed=1, relu=True),
        "raw against factored": lambda: (correlated_features(200, 256, 3), correlated_features(3000, 256, 4, 0.1)),
        "both factored": lambda: (correlated_features(3000, 256, 3), correlated_features(2500, 256, 4, 0.1)),
        "near square": near_square_case,
    }[case]()
    (mu1, s1), (mu2, s2) = stats(x), stats(y)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    for route in ("auto", "exact"):
        numpy_value = fid_from_features(x, y, route, backend="numpy")
        assert rel(fid_from_features(x, y, route, backend="torch"), numpy_value) < 1e-9, route
        numpy_value = frechet_distance(mu1, s1, mu2, s2, route, backend="numpy")
        assert rel(frechet_distance(mu1, s1, mu2, s2, route, backend="torch"), numpy_value) < 1e-9, route


def test_default_route_is_one_eigenvalue_problem_and_exact_one_svd():
    x, y = gaussian_pair(60, 50, 128, seed=2, relu=True)  # N < d: both sets enter raw, C is 50×60
    (mu1, s1), (mu2, s2) = stats(np.maximum(gaussian_pair(300, 300, 32)[0], 0)), stats(gaussian_pair(300, 300, 32)[1])
    for compute, route, expected in [
        (lambda la: fid_from_features(x, y, backend=la), "auto", [("eigvalsh", (50, 50))]),
        (lambda la: fid_from_features(x, y, "exact", backend=la), "exact", [("svdvals", (50, 60))]),
        (lambda la: frechet_distance(mu1, s1, mu2, s2, backend=la), "auto", [("eigvalsh", (32, 32))]),
    ]:
        recording = Recording()
        compute(recording)
        assert [call for call in recording.calls if "cholesky" not in call[0]] == expected, route


def test_from_statistics_a_positive_definite_sigma1_spares_factoring_sigma2():
    """Σ1 positive definite: one Cholesky, one congruence, one eigensolve; Σ2 enters only the congruence.
    Where Σ2 turns out singular (its zero eigenvalues would hide in rounding noise) or Σ1 is singular, both are
    factored with pivots and the lower-rank factor is applied: the answer stays within 1e-11 of the exact one."""
    d = 32
    full1, full2 = correlated_features(300, d, seed=1), correlated_features(200, d, seed=2, shift=0.1)
    few = np.random.default_rng(3).standard_normal((20, d))  # its covariance has rank 19
    cases = [
        (full1, full2, [("cholesky", (d, d)), ("eigvalsh", (d, d))]),
        (full1, few, [("cholesky", (d, d)), ("eigvalsh", (d, d)), ("pivoted_cholesky", (d, d)),
                      ("eigvalsh", (19, 19))]),
        (few, full2, [("cholesky", (d, d)), ("pivoted_cholesky", (d, d)), ("pivoted_cholesky", (d, d)),
                      ("eigvalsh", (19, 19))]),
    ]
    for x, y, expected in cases:
        recording = Recording()
        value = frechet_distance(*stats(x), *stats(y), backend=recording)
        assert recording.calls == expected
        assert rel(value, fid_from_features(x, y, route="exact")) < 1e-11


@pytest.mark.parametrize("rank", [3, 256, 300, 600])
def test_triangular_congruence_by_blocks_matches_the_plain_products_and_leaves_its_inputs_alone(rank):
    """Lᵀ s L by blocks of 256 columns that skip the triangle's zeros (the default route's one product from
    statistics): d = 600 crosses block edges, a factor of low rank stops inside one."""
    d, rng = 600, np.random.default_rng(11)
    lower = np.tril(rng.standard_normal((d, d)))
    lower[:, rank:] = 0.0
    lower = torch.from_numpy(np.asfortranarray(lower))  # as LAPACK's factorisations return it
    s = rng.standard_normal((d, d))
    s = torch.from_numpy(s @ s.T)
    inputs = (lower.clone(), s.clone())
    ours = SciPyLinearAlgebra().triangular_congruence(lower, s, rank)
    reference = lower[:, :rank].T @ s @ lower[:, :rank]
    assert torch.equal(lower, inputs[0]) and torch.equal(s, inputs[1])
    assert ours.shape == (rank, rank)
    assert torch.allclose(torch.tril(ours), torch.tril(reference), rtol=0, atol=1e-12 * float(reference.abs().max()))
    order = torch.from_numpy(rng.permutation(d))
    assert torch.equal(SciPyLinearAlgebra().take_symmetric(s, order), s[order][:, order])


def test_backend_and_route_are_checked():
    x, y = gaussian_pair(30, 30, 8)
    with pytest.raises(ValueError, match="backend must be one of"):
        fid_from_features(x, y, backend="cupy")
    with pytest.raises(ValueError, match="route must be 'auto'.*or 'exact'"):
        fid_from_features(x, y, route="eigh")


# ------------------------------------------------------------------------------------ scale and symmetry
@pytest.mark.parametrize("factor", [1e-85, 1e-60, 1e60, 1e76])
def test_far_from_unit_scale_features_give_the_scaled_fid(factor):
    x, y = gaussian_pair(50, 40, 20, seed=8)  # N > d and N < d on the two sides
    expected = fid_from_features(x, y) * factor**2
    for route in ("auto", "exact"):
        assert rel(fid_from_features(factor * x, factor * y, route=route), expected) < 1e-9, route
    (mu1, s1), (mu2, s2) = stats(factor * x), stats(factor * y)
    assert rel(frechet_distance(mu1, s1, mu2, s2), expected) < 1e-9


def test_features_whose_squares_overflow_raise_value_error():
    x, y = gaussian_pair(50, 40, 20, seed=8)
    with pytest.raises(ValueError, match="overflow float64.*rescale"):
        fid_from_features(1e200 * x, 1e200 * y)


def test_a_nearly_symmetric_covariance_is_read_the_same_by_every_backend():
    """Asymmetry within the accepted tolerance (float32-accumulated covariances) is symmetrised, so SciPy's
    solvers (which read one triangle) and torch's (the other) see the same matrix."""
    x, y = gaussian_pair(3000, 2000, 64, seed=9)
    (mu1, s1), (mu2, s2) = stats(x), stats(y)
    s1_perturbed = s1 + np.triu(np.full_like(s1, 0.9e-6 * np.abs(s1).max()), 1)
    original = s1_perturbed.copy()
    symmetrised = frechet_distance(mu1, (s1_perturbed + s1_perturbed.T) / 2, mu2, s2)
    for backend in ("numpy", "torch"):
        assert frechet_distance(mu1, s1_perturbed, mu2, s2, backend=backend) == pytest.approx(symmetrised, rel=1e-12)
    assert np.array_equal(s1_perturbed, original)  # the caller's matrix is not touched


def test_zero_covariances_and_constant_features(capfd):
    mu, zero = np.zeros(8), np.zeros((8, 8))
    for backend in ("numpy", "torch"):
        assert frechet_distance(mu, zero, mu + 1, zero, backend=backend) == pytest.approx(8.0)
        x = np.ones((20, 8))
        assert fid_from_features(x, x + 2.0, backend=backend) == pytest.approx(32.0)
    assert capfd.readouterr().err == ""  # no BLAS complaint about empty operands


def test_torch_thread_setting_is_left_alone():
    before = torch.get_num_threads()
    x, y = gaussian_pair(300, 200, 64, seed=10)
    fid_from_features(torch.from_numpy(x), torch.from_numpy(y))
    assert torch.get_num_threads() == before


# ------------------------------------------------------------------------- never complex, never negative
def test_identical_sets_give_zero_not_a_negative_number():
    x, _ = gaussian_pair(30, 30, 128, seed=6, relu=True)
    mu, s = stats(x)
    assert calculate_frechet_distance(mu, s, mu, s) < 0  # the reference goes negative here
    for value in (frechet_distance(mu, s, mu, s), fid_from_features(x, x), fid_from_features(x, x, route="exact")):
        assert isinstance(value, float) and 0.0 <= value < 1e-9 * np.trace(s)


def test_invariant_to_a_large_common_offset():
    x, y = gaussian_pair(100, 100, 32, seed=7)
    assert fid_from_features(x + 1e6, y + 1e6) == pytest.approx(fid_from_features(x, y), rel=1e-6)


# ------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "f1,f2,message",
    [
        (np.zeros((1, 8)), np.zeros((5, 8)), "need at least 2"),
        (np.ones((5, 8)), np.ones((5, 9)), "feature dimensions differ"),
        (np.ones((5, 2, 4)), np.ones((5, 8)), "pass N×d feature vectors, e.g. features.reshape"),
        (np.ones(8), np.ones((5, 8)), "got shape (8,)"),
        (np.array([[1.0, np.nan]] * 3), np.ones((5, 2)), "NaN or Inf"),
        (np.ones((5, 2)), torch.tensor([[1.0, float("inf")]] * 3), "NaN or Inf"),
    ],
)
def test_bad_features_raise_value_error_naming_the_problem(f1, f2, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fid_from_features(f1, f2)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_bad_statistics_raise_value_error(backend):
    mu, s = np.zeros(4), np.eye(4)
    with pytest.raises(ValueError, match="feature dimensions differ"):
        frechet_distance(mu, s, np.zeros(5), np.eye(5), backend=backend)
    with pytest.raises(ValueError, match="expected a 4×4 covariance"):
        frechet_distance(mu, np.eye(3), mu, s, backend=backend)
    with pytest.raises(ValueError, match="not symmetric"):
        frechet_distance(mu, np.triu(np.ones((4, 4))), mu, s, backend=backend)
    for bad in (np.diag([1.0, 1.0, 1.0, -0.5]), np.diag([1.0, 1.0, 0.0, -0.5])):  # full rank / singular
        with pytest.raises(ValueError, match="sigma1 has an eigenvalue -0.5.*not positive semi-definite"):
            frechet_distance(mu, bad, mu, s, backend=backend)
        with pytest.raises(ValueError, match="sigma2 has an eigenvalue -0.5.*not positive semi-definite"):
            frechet_distance(mu, s, mu, bad, backend=backend)
    with pytest.raises(ValueError, match="mu is empty"):
        frechet_distance(np.zeros(0), np.zeros((0, 0)), np.zeros(0), np.zeros((0, 0)), backend=backend)
