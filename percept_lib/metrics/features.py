"""Validation of feature vectors and Gaussian statistics: the one gate every metric on features goes through.

Every metric in this package takes N×d feature vectors (one row per image) or their statistics (mean μ of
length d, covariance Σ of shape d×d). Bad input is turned into a ``ValueError`` that names the problem and
the fix, before any linear algebra can turn it into a confusing number. Valid input comes out as float64:
numpy arrays stay numpy arrays, torch tensors stay torch tensors on their device.
"""
from __future__ import annotations

from typing import Union

import numpy as np
import torch

Array = Union[np.ndarray, torch.Tensor]

_RESHAPE_HINT = "pass N×d feature vectors, e.g. features.reshape(len(features), -1)"


def _to_float64(f, name: str) -> Array:
    """float64 copy (or view) of ``f``; torch stays torch on its device, anything else becomes numpy."""
    if isinstance(f, torch.Tensor):
        if f.is_complex():
            raise ValueError(f"{name}: got a complex tensor; feature vectors must be real numbers")
        return f.detach().to(torch.float64)
    a = np.asarray(f)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise ValueError(f"{name}: got dtype {a.dtype}; pass a numeric numpy array or torch tensor")
    if np.iscomplexobj(a):
        raise ValueError(f"{name}: got a complex array; feature vectors must be real numbers")
    return a.astype(np.float64, copy=False)


def _host_view(x: Array) -> Array:
    """A CPU tensor as the numpy array sharing its memory; anything else unchanged.

    The checks below then run in numpy, on the calling thread: a torch reduction would wake torch's thread
    pool, which fights SciPy's for the two cores when the metric's linear algebra has just run (10× slower
    validation inside a loop of FIDs; see percept_lib.metrics.frechet)."""
    if isinstance(x, torch.Tensor) and x.device.type == "cpu":
        return x.numpy()
    return x


def _bad_rows(x: Array) -> tuple[int, int]:
    """(how many rows hold NaN/Inf, index of the first one); (0, -1) when all are finite."""
    x = _host_view(x)
    # Fast path: finite row sums prove every row finite (NaN and ±Inf propagate into the sum), at memory
    # speed (6 ms on 10 000 × 2048 instead of 100 ms for the elementwise test, which builds a mask). A sum
    # that overflows on finite values only sends us to the exact test.
    if bool((torch if isinstance(x, torch.Tensor) else np).isfinite(x.sum(1)).all()):
        return 0, -1
    if isinstance(x, torch.Tensor):
        bad = ~torch.isfinite(x).all(dim=1)
        count = int(bad.sum())
        return count, (int(bad.nonzero()[0, 0]) if count else -1)
    bad = ~np.isfinite(x).all(axis=1)
    count = int(bad.sum())
    return count, (int(np.flatnonzero(bad)[0]) if count else -1)


def validate_features(f, name: str = "features", min_samples: int = 2) -> Array:
    """Check ``f`` is N×d finite feature vectors with N ≥ ``min_samples``; return it as float64.

    numpy in → numpy out, torch in → torch out on the same device (detached). ``min_samples`` is 2 for a
    metric (a covariance with N−1 in the denominator needs two samples); a streaming accumulator passes 0
    so that a batch of one, or an empty shard, is allowed.
    """
    x = _to_float64(f, name)
    shape = tuple(x.shape)
    if len(shape) != 2:
        raise ValueError(f"{name}: got shape {shape}; {_RESHAPE_HINT}")
    n, d = shape
    if d < 1:
        raise ValueError(f"{name}: got shape {shape}, feature vectors of dimension 0; {_RESHAPE_HINT}")
    if n < min_samples:
        raise ValueError(
            f"{name}: got {n} feature vector(s), need at least {min_samples}: a covariance (N−1 in the "
            f"denominator) and an unbiased estimate need two samples or more; pass more images"
        )
    count, first = _bad_rows(x)
    if count:
        raise ValueError(
            f"{name}: {count} of {n} feature vectors contain NaN or Inf (first at row {first}); the extractor "
            f"produced non-finite values — drop those rows (e.g. features[np.isfinite(features).all(1)]) or "
            f"fix the input images"
        )
    return x


def validate_feature_pair(f1, f2, names: tuple[str, str] = ("features1", "features2")) -> tuple[Array, Array]:
    """Validate two feature sets that will be compared; their dimensions must agree.

    Returns both as float64 (each keeps its own type; :func:`as_tensors` brings them together).
    """
    x = validate_features(f1, names[0])
    y = validate_features(f2, names[1])
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"feature dimensions differ: {names[0]} has d={x.shape[1]}, {names[1]} has d={y.shape[1]}; both "
            f"sets must come from the same extractor and layer (e.g. Inception pool3, d=2048)"
        )
    return x, y


def validate_covariance(sigma, name: str = "sigma", dim: int | None = None, exhaustive: bool = False) -> Array:
    """Check a finite, symmetric d×d covariance (d = ``dim`` when given); return it as float64.

    Symmetry is checked to a loose relative tolerance (covariances accumulated in float32 are symmetric only to
    ~1e-7) on up to 256 evenly spaced rows against the matching columns: a full check reads the whole matrix
    transposed (60 ms at d = 2048, as long as the rest of a small FID), while what it guards against — a
    matrix that is not a covariance, e.g. the product of two — is asymmetric everywhere. A matrix read from an
    untrusted file may be damaged anywhere, so ``exhaustive=True`` checks every entry. A matrix whose
    sampled entries are not exactly symmetric (within the tolerance) comes back symmetrised, (Σ + Σᵀ)/2, a new
    array: solvers read one triangle, and the CPU and GPU ones read different triangles, so they must see the
    same numbers in both. Positive semi-definiteness is checked where it costs nothing, inside the Fréchet
    distance's factorisation.
    """
    s = _to_float64(sigma, name)
    shape = tuple(s.shape)
    if len(shape) == 2 and shape[0] == shape[1] == 0:
        raise ValueError(f"{name}: an empty 0×0 matrix; statistics of d-dimensional features have d ≥ 1")
    if len(shape) != 2 or shape[0] != shape[1] or (dim is not None and shape[0] != dim):
        expected = f"{dim}×{dim}" if dim is not None else "d×d"
        raise ValueError(
            f"{name}: got shape {shape}, expected a {expected} covariance matrix "
            f"(e.g. np.cov(features, rowvar=False) on the N×d features)"
        )
    values = _host_view(s)
    lib = torch if isinstance(values, torch.Tensor) else np
    # A finite sum proves every entry finite (see _bad_rows); only otherwise test them one by one.
    if not bool(lib.isfinite(values.sum())) and not bool(lib.isfinite(values).all()):
        raise ValueError(f"{name}: contains NaN or Inf; recompute the covariance from finite features")
    d = shape[0]
    if exhaustive:
        sampled_rows, sampled_cols = values, values.T
    else:
        rows = np.unique(np.linspace(0, d - 1, min(d, 256)).astype(np.int64))
        if isinstance(values, torch.Tensor):
            rows = torch.from_numpy(rows).to(values.device)
        sampled_rows, sampled_cols = values[rows, :], values[:, rows].T
    scale = float(abs(sampled_rows).max())
    asym = float(abs(sampled_rows - sampled_cols).max())
    if asym > 1e-6 * max(scale, np.finfo(np.float64).tiny):
        raise ValueError(
            f"{name}: not symmetric (|Σ − Σᵀ| up to {asym:.3g}, |Σ| up to {scale:.3g}); pass a covariance "
            f"matrix, not e.g. the product of two covariances"
        )
    if asym > 0:
        s = (s + s.T) / 2
    return s


def validate_stats(mu, sigma, name: str = "stats", exhaustive: bool = False) -> tuple[Array, Array]:
    """Check a Gaussian's statistics: μ of length d (or 1×d) and a covariance Σ (d×d); return both float64.

    ``exhaustive``: check Σ's symmetry everywhere (see :func:`validate_covariance`), for statistics read from
    a file.
    """
    m = _to_float64(mu, f"{name}: mu")
    if m.ndim == 2 and m.shape[0] == 1:  # torchmetrics keeps its means as 1×d
        m = m[0]
    if m.ndim != 1:
        shape = "×".join(map(str, m.shape)) or "() (a scalar)"
        sigma_shape = tuple(getattr(sigma, "shape", ()))
        square = len(sigma_shape) == 2 and sigma_shape[0] == sigma_shape[1]
        length = str(sigma_shape[0]) if square else "d"  # Σ says what d is
        raise ValueError(f"{name}: mu has shape {shape}; expected a vector of {length} (the mean of the N×d "
                         f"features, e.g. features.mean(axis=0))")
    if m.shape[0] == 0:
        raise ValueError(f"{name}: mu is empty; statistics of d-dimensional features have d ≥ 1")
    lib = torch if isinstance(m, torch.Tensor) else np
    if not bool(lib.isfinite(m).all()):
        raise ValueError(f"{name}: mu contains NaN or Inf; recompute the statistics from finite features")
    s = validate_covariance(sigma, f"{name}: sigma", dim=m.shape[0], exhaustive=exhaustive)
    return m, s


def as_tensors(*arrays: Array) -> tuple[torch.Tensor, ...]:
    """The arrays as float64 torch tensors on one device: the device of the first tensor on an accelerator.

    numpy arrays are wrapped without a copy where possible. Mixing two different accelerators is an error.
    """
    devices = {a.device for a in arrays if isinstance(a, torch.Tensor) and a.device.type != "cpu"}
    if len(devices) > 1:
        raise ValueError(f"inputs live on different devices {sorted(map(str, devices))}; move them to one device")
    device = devices.pop() if devices else torch.device("cpu")
    out = []
    for a in arrays:
        t = a if isinstance(a, torch.Tensor) else numpy_to_tensor(a)
        out.append(t.to(device=device, dtype=torch.float64))
    return tuple(out)


def numpy_to_tensor(a: np.ndarray) -> torch.Tensor:
    """A CPU tensor sharing ``a``'s memory when it can (contiguous and writeable), else a copy."""
    a = np.ascontiguousarray(a)
    return torch.from_numpy(a if a.flags.writeable else a.copy())
