"""Metrics on feature vectors: features in, numbers out (FID, KID, FID-vs-N, FID∞), plus streaming statistics.

Pure math on N×d features (numpy or torch, float64 inside, CUDA tensors stay on their GPU). The image-level
pipelines (folders, pairs) live in their own modules of this package and are imported from there.

- :func:`frechet_distance`, :func:`fid_from_features` — FID (Heusel et al., 2017) without ``scipy.linalg.sqrtm``;
  their linear algebra behind one seam, :class:`LinearAlgebra` (``backend="numpy"`` / ``"torch"``)
- :func:`kid`, :func:`mmd2_unbiased` — KID (Bińkowski et al., 2018)
- :func:`fid_vs_n`, :func:`fid_infinity`, :func:`fid_bootstrap` — bias in N (Chong & Forsyth, 2020)
- :class:`FeatureStats` — streaming / sharded / distributed mean and covariance, ``.npz`` like pytorch-fid
"""
from .features import validate_feature_pair, validate_features, validate_stats
from .fid_n import FIDInfinity, fid_bootstrap, fid_infinity, fid_vs_n
from .frechet import (
    fid_from_features,
    frechet_distance,
    trace_sqrt_exact,
    trace_sqrt_symmetric,
)
from .kid import kid, mmd2_unbiased, polynomial_kernel
from .linalg import LinearAlgebra
from .stats import FeatureStats

__all__ = [
    "FIDInfinity",
    "FeatureStats",
    "LinearAlgebra",
    "fid_bootstrap",
    "fid_from_features",
    "fid_infinity",
    "fid_vs_n",
    "frechet_distance",
    "kid",
    "mmd2_unbiased",
    "polynomial_kernel",
    "trace_sqrt_exact",
    "trace_sqrt_symmetric",
    "validate_feature_pair",
    "validate_features",
    "validate_stats",
]
