"""The linear algebra of the Fréchet distance behind one seam: a :class:`LinearAlgebra` per library.

:mod:`.frechet` asks for a dozen operations (a product, a Gram matrix, a factorisation, eigenvalues, singular
values) and never calls a library directly. Two implementations, float64 torch tensors in and out:

- :class:`SciPyLinearAlgebra` (``backend="numpy"``, the default for CPU tensors): SciPy's BLAS and LAPACK on
  numpy views of the tensors where torch has no such kernel — BLAS ``syrk`` (a product of a matrix with its
  own transpose, half the flops), LAPACK's rank-revealing pivoted Cholesky ``dpstrf`` (a singular covariance
  of rank r gives a d×r factor) — or where they are faster (products of numpy data, eigenvalues up to 1280); torch
  (MKL in its wheels) for the rest. Which kernel is faster was measured (benchmarks/fid.py); two libraries'
  thread pools woken one after the other also compete for the cores, so each route stays in one where it can.
- :class:`TorchLinearAlgebra` (``backend="torch"``, the only one for CUDA tensors): the same operations in torch,
  on the tensors' device. Tests run it on CPU tensors against the SciPy one, where no GPU is.

:func:`linear_algebra` picks one: by name, as given (any object with these methods, e.g. a test double), or
by device.
"""
from __future__ import annotations

import math

import numpy as np
import torch

EPS = float(torch.finfo(torch.float64).eps)


class LinearAlgebra:
    """What the Fréchet distance needs from a linear-algebra library; every method takes and returns float64
    tensors (results may share memory with the inputs; nothing the caller passed is modified)."""

    name = "abstract"

    def check_device(self, t: torch.Tensor) -> None:
        """Raise ``ValueError`` if this backend cannot compute on ``t``'s device."""

    def centre(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean of the rows, x − mean) as a new tensor."""
        raise NotImplementedError

    def sum_of_squares(self, x: torch.Tensor) -> float:
        raise NotImplementedError

    def norm(self, x: torch.Tensor) -> float:
        """Frobenius norm."""
        raise NotImplementedError

    def largest_entry(self, x: torch.Tensor) -> float:
        """max |x_ij|."""
        raise NotImplementedError

    def product_tn(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """aᵀ b."""
        raise NotImplementedError

    def covariance(self, centred: torch.Tensor) -> torch.Tensor:
        """XᵀX / (N − 1), symmetric, for centred X (N×d)."""
        raise NotImplementedError

    def gram(self, c: torch.Tensor, scale: float) -> torch.Tensor:
        """The smaller of (C/scale)ᵀ(C/scale) and (C/scale)(C/scale)ᵀ; only its lower triangle need be set."""
        raise NotImplementedError

    def eigvalsh(self, g: torch.Tensor) -> torch.Tensor:
        """Ascending eigenvalues of a symmetric matrix read from its lower triangle (``g`` may be overwritten)."""
        raise NotImplementedError

    def eigh(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(ascending eigenvalues, eigenvectors as columns) of a symmetric matrix."""
        raise NotImplementedError

    def svdvals(self, c: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def cholesky(self, s: torch.Tensor) -> torch.Tensor | None:
        """Lower-triangular L with L Lᵀ = s, or None where the factorisation breaks down."""
        raise NotImplementedError

    def pivoted_cholesky(self, s: torch.Tensor, tolerance: float) -> tuple[torch.Tensor, torch.Tensor, int] | None:
        """(L, order, r): s[order][:, order] = L Lᵀ up to ``tolerance``, L lower triangular d×d with its columns
        from r (the numerical rank) on zero, pivots in decreasing order; None where s is not positive
        semi-definite or the library has no such factorisation."""
        return None

    def take_rows(self, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """x[index], a new tensor."""
        return x[index]

    def take_symmetric(self, s: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
        """s[order][:, order], a new tensor."""
        return s[order][:, order]

    def triangular_congruence(self, lower: torch.Tensor, s: torch.Tensor, rank: int) -> torch.Tensor:
        """The leading rank×rank block of Lᵀ s L for symmetric s and lower-triangular L (d×d, its columns from
        ``rank`` on zero); only its lower triangle need be set.

        Blocks of columns skip the triangle's zeros: 4/3·d³ flops in matrix products, where two plain products
        take 4·d³ (torch has no triangular product)."""
        d, step = s.shape[0], 256
        part = lower[:, :rank]
        product = torch.empty((d, rank), dtype=s.dtype, device=s.device)  # s L
        for j in range(0, rank, step):  # columns j: of L are zero above row j
            torch.matmul(s[:, j:], part[j:, j:j + step], out=product[:, j:j + step])
        result = torch.zeros((rank, rank), dtype=s.dtype, device=s.device)
        for i in range(0, rank, step):  # rows i:i+step of Lᵀ (s L), up to the diagonal
            torch.matmul(part[i:, i:i + step].T, product[i:, :i + step], out=result[i:i + step, :i + step])
        return result

    def triangular_tn(self, lower: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Lᵀ b for lower-triangular L (d×d): half the flops of a general product."""
        return lower.T @ b

    def qr_r(self, x: torch.Tensor) -> torch.Tensor:
        """The triangular R (d×d) of x = QR for x with N ≥ d rows."""
        raise NotImplementedError


class TorchLinearAlgebra(LinearAlgebra):
    name = "torch"

    def centre(self, x):
        mean = x.mean(dim=0)
        return mean, x - mean

    def sum_of_squares(self, x):
        flat = x.reshape(-1)
        return float(torch.dot(flat, flat))

    def norm(self, x):
        return float(torch.linalg.matrix_norm(x))

    def largest_entry(self, x):
        return float(x.abs().max()) if x.numel() else 0.0

    def product_tn(self, a, b):
        return a.T @ b

    def covariance(self, centred):
        return centred.T @ centred / (centred.shape[0] - 1)

    def gram(self, c, scale):
        c = c / scale
        return c.T @ c if c.shape[0] >= c.shape[1] else c @ c.T

    def eigvalsh(self, g):
        return torch.linalg.eigvalsh(g)

    def eigh(self, s):
        return torch.linalg.eigh(s)

    def svdvals(self, c):
        return torch.linalg.svdvals(c)

    def cholesky(self, s):
        factor, info = torch.linalg.cholesky_ex(s)
        return factor if int(info) == 0 else None

    def qr_r(self, x):
        return torch.linalg.qr(x, mode="r").R


# Below this size SciPy's eigensolver is the faster one (equal near 1200, SciPy 1.15× at 500): it also keeps the
# whole computation on OpenBLAS's threads, which torch's pool, woken in between, would compete with.
_TORCH_EIGVALSH_FROM = 1280


def _fortran(a: np.ndarray) -> tuple[np.ndarray, int]:
    """``a`` in Fortran order for BLAS without a copy where possible, and 1 if the array returned is aᵀ."""
    if a.flags.f_contiguous:
        return a, 0
    if a.flags.c_contiguous:
        return a.T, 1
    return np.asfortranarray(a), 0


class SciPyLinearAlgebra(TorchLinearAlgebra):
    """The CPU backend: SciPy's kernels where torch has none or they are faster here, torch's for the rest
    (Cholesky, the congruence, large eigenproblems: MKL in torch's wheels)."""

    name = "numpy"

    def check_device(self, t):
        if t.device.type != "cpu":
            raise ValueError(f"backend 'numpy' computes on the CPU, got tensors on {t.device}; use backend='torch'")

    def centre(self, x):
        a = x.numpy()
        mean = a.mean(axis=0)
        return torch.from_numpy(mean), torch.from_numpy(a - mean)

    def sum_of_squares(self, x):
        # A BLAS dot: no array of squares is built, and it sums more accurately than vector_norm().square().
        from scipy.linalg import blas

        flat = x.numpy().reshape(-1)
        chunk = 1 << 28  # BLAS takes 32-bit lengths
        return float(sum(blas.ddot(flat[i:i + chunk], flat[i:i + chunk]) for i in range(0, flat.size, chunk)))

    def norm(self, x):
        from scipy.linalg import norm

        return float(norm(x.numpy(), check_finite=False))

    def largest_entry(self, x):
        if x.numel() == 0:
            return 0.0
        from scipy.linalg import blas

        flat = _fortran(x.numpy())[0].ravel(order="K")
        return abs(float(flat[blas.idamax(flat)]))

    def product_tn(self, a, b):
        from scipy.linalg import blas

        fa, a_transposed = _fortran(a.numpy())
        fb, b_transposed = _fortran(b.numpy())
        return torch.from_numpy(blas.dgemm(1.0, fa, fb, trans_a=1 - a_transposed, trans_b=b_transposed))

    def covariance(self, centred):
        from scipy.linalg import blas

        # The C-ordered N×d array read in Fortran order is Xᵀ (d×N): syrk with trans=0 gives XᵀX.
        upper = blas.dsyrk(1.0 / (centred.shape[0] - 1), centred.numpy().T, trans=0, lower=0)
        full = upper + upper.T  # syrk leaves the strict lower triangle 0: this doubles only the diagonal
        np.fill_diagonal(full, np.diagonal(upper))
        return torch.from_numpy(full)

    def gram(self, c, scale):
        from scipy.linalg import blas

        fc, transposed = _fortran(c.numpy())  # dsyrk: trans=0 gives fc fcᵀ, trans=1 gives fcᵀ fc
        trans = (1 - transposed) if c.shape[0] >= c.shape[1] else transposed
        if 1e-100 <= scale <= 1e100:  # products of entries stay in range: scale the sums (syrk's alpha)
            return torch.from_numpy(blas.dsyrk(1.0 / scale**2, fc, trans=trans, lower=1))
        return torch.from_numpy(blas.dsyrk(1.0, fc / scale, trans=trans, lower=1))

    def eigvalsh(self, g):
        if g.shape[0] > _TORCH_EIGVALSH_FROM:
            # torch's eigensolver, 1.35× SciPy's OpenBLAS one at 2048 (the floor rows of benchmarks/fid.py); it
            # reads the lower triangle, and takes a Fortran-ordered g without a copy.
            return super().eigvalsh(g)
        from scipy.linalg import eigh

        return torch.from_numpy(eigh(g.numpy(), lower=True, eigvals_only=True, overwrite_a=True, check_finite=False))

    def eigh(self, s):
        from scipy.linalg import eigh

        values, vectors = eigh(s.numpy(), check_finite=False)
        return torch.from_numpy(values), torch.from_numpy(vectors)

    def svdvals(self, c):
        from scipy.linalg import svdvals

        return torch.from_numpy(svdvals(c.numpy(), check_finite=False))

    def pivoted_cholesky(self, s, tolerance):
        from scipy.linalg import lapack

        # s symmetric, so its C-ordered array read in Fortran order (the transpose view, no copy) is s again.
        lower, pivots, rank, info = lapack.dpstrf(s.numpy().T, tol=tolerance, lower=1)
        if info < 0 or rank == 0:
            return None
        lower[:, rank:] = 0.0  # past the rank dpstrf leaves the unfinished Schur complement
        for j in range(1, rank):  # and s's upper triangle: zeroed column by column (contiguous in Fortran order)
            lower[:j, j] = 0.0
        order = torch.from_numpy(pivots.astype(np.int64) - 1)
        lower = torch.from_numpy(lower)
        if rank < s.shape[0] and not self._residual_is_small(s, lower, order, tolerance):
            return None
        return lower, order, rank

    def _residual_is_small(self, s, lower, order, tolerance) -> bool:
        """Whether S = s[order][:, order] − L Lᵀ is as small as it is for a PSD s (dpstrf stops on the largest
        remaining diagonal entry, which bounds every |S_ij| only if s is PSD). S is applied to 4 fixed random
        vectors, not formed: for PSD s, ‖S v‖ ≤ sqrt(d)·(tolerance + rounding of the sums in L Lᵀ)·‖v‖, while a
        negative eigenvalue λ of s survives in S and gives ‖S v‖ ≈ |λ| ‖v‖ / sqrt(d)."""
        d = s.shape[0]
        probes = torch.from_numpy(np.random.default_rng(0).standard_normal((d, 4)))
        spread = torch.zeros_like(probes)
        spread[order] = probes  # s[order][:, order] v = (s (Pᵀ v))[order]
        applied = self.product_tn(s, spread)[order] - self.product_tn(lower.T, self.product_tn(lower, probes))
        bound = math.sqrt(d) * (tolerance + 4 * d * EPS * float(np.diagonal(s.numpy()).max()))
        return self.norm(applied) <= bound * self.norm(probes)

    def take_rows(self, x, index):
        return torch.from_numpy(np.take(x.numpy(), index.numpy(), axis=0))

    def take_symmetric(self, s, order):
        index = order.numpy()
        return torch.from_numpy(np.take(np.take(s.numpy(), index, axis=0), index, axis=1))

    def triangular_tn(self, lower, b):
        from scipy.linalg import blas

        fb, transposed = _fortran(b.numpy())
        if transposed:  # b C-ordered: bᵀ is Fortran-ordered, and bᵀ L = (Lᵀ b)ᵀ, computed without a copy
            return torch.from_numpy(blas.dtrmm(1.0, lower.numpy(), fb, side=1, lower=1).T)
        return torch.from_numpy(blas.dtrmm(1.0, lower.numpy(), fb, side=0, lower=1, trans_a=1))

    def qr_r(self, x):
        from scipy.linalg import qr

        return torch.from_numpy(qr(x.numpy(), mode="r", check_finite=False)[0][: x.shape[1]])


BACKENDS = {"numpy": SciPyLinearAlgebra(), "torch": TorchLinearAlgebra()}


def linear_algebra(backend: str | LinearAlgebra | None, like: torch.Tensor) -> LinearAlgebra:
    """The backend to compute on tensors like ``like``: ``None`` picks by device ("numpy" on the CPU, "torch"
    elsewhere), a name picks from :data:`BACKENDS`, an object is used as given."""
    if backend is None:
        backend = "numpy" if like.device.type == "cpu" else "torch"
    if isinstance(backend, str):
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {sorted(BACKENDS)} or a LinearAlgebra, got {backend!r}")
        backend = BACKENDS[backend]
    backend.check_device(like)
    return backend
