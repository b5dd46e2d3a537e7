"""Metrics on feature vectors: features in, numbers out (FID, KID, CMMD, precision / recall / density /
coverage, Inception Score, any of them vs N), plus streaming statistics.

Pure math on N×d features (numpy or torch, float64 inside, CUDA tensors stay on their GPU). The image-level
pipelines (folders, pairs) live in their own modules of this package and are imported from there.

- :func:`frechet_distance`, :func:`fid_from_features` — FID (Heusel et al., 2017) without ``scipy.linalg.sqrtm``;
  their linear algebra behind one seam, :class:`LinearAlgebra` (``backend="numpy"`` / ``"torch"``)
- :func:`kid`, :func:`mmd2_unbiased` — KID (Bińkowski et al., 2018)
- :func:`cmmd` — CMMD (Jayasumana et al., 2024): RBF-kernel MMD² on L2-normalised CLIP embeddings
- :func:`prdc`, :func:`precision_recall` — precision and recall (Kynkäänniemi et al., 2019), density and
  coverage (Naeem et al., 2020): fidelity and diversity apart, the real and generated sets' roles in the names
- :func:`inception_score` — IS (Salimans et al., 2016) from the FID Inception's logits
- :func:`metric_vs_n`, :func:`metric_bootstrap` — any of these at several sample sizes, and resampling intervals
- :func:`fid_vs_n`, :func:`fid_infinity`, :func:`fid_bootstrap` — FID's bias in N (Chong & Forsyth, 2020)
- :class:`FeatureStats` — streaming / sharded / distributed mean and covariance, ``.npz`` like pytorch-fid
"""
from .cmmd import cmmd
from .features import validate_feature_pair, validate_features, validate_stats
from .fid_n import FIDInfinity, fid_bootstrap, fid_infinity, fid_vs_n
from .frechet import (
    fid_from_features,
    frechet_distance,
    trace_sqrt_exact,
    trace_sqrt_symmetric,
)
from .inception_score import inception_score
from .kid import kid, mmd2_unbiased, polynomial_kernel
from .linalg import LinearAlgebra
from .prdc import PRDC, prdc, precision_recall
from .sample_size import metric_bootstrap, metric_vs_n
from .stats import FeatureStats

__all__ = [
    "FIDInfinity",
    "FeatureStats",
    "LinearAlgebra",
    "PRDC",
    "cmmd",
    "fid_bootstrap",
    "fid_from_features",
    "fid_infinity",
    "fid_vs_n",
    "frechet_distance",
    "inception_score",
    "kid",
    "metric_bootstrap",
    "metric_vs_n",
    "mmd2_unbiased",
    "polynomial_kernel",
    "prdc",
    "precision_recall",
    "trace_sqrt_exact",
    "trace_sqrt_symmetric",
    "validate_feature_pair",
    "validate_features",
    "validate_stats",
]
