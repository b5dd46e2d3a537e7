"""Inception Score (Salimans et al., "Improved Techniques for Training GANs", 2016) from classifier logits.

IS = exp(E_x KL(p(y|x) ‖ p(y))): high when each image is confidently one class (p(y|x) peaked) and the images
spread over many classes (the marginal p(y) flat). The reference definition splits the N images into
``splits`` consecutive parts (10 by default), estimates p(y) within each part as the mean of p(y|x), and reports
the mean and the standard deviation of the per-part scores. p(y|x) is the softmax of the FID Inception's
1008-class logits (the TF Inception's 1000 ImageNet classes plus 8 unused ones).

Reference: torch-fidelity's ``isc_features_to_metric(logits, splits, shuffle=False)`` (float64 softmax,
population std over splits); ours equals it on the same logits. torch-fidelity shuffles the samples by
default (``samples_shuffle=True``, seed 2020); we keep the order given. Shuffle first yourself if the order
carries structure — class-conditional samples stored class by class would give each split a single class and
an IS near 1.

IS needs no real images, so it cannot tell whether the generated classes look like the real ones; it is
biased in N like FID (Chong & Forsyth, 2020) and only comparable at equal N and splits.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .features import Array, validate_features


def _check_logits(logits: Array, splits) -> torch.Tensor:
    if isinstance(splits, bool) or not isinstance(splits, (int, np.integer)) or splits < 1:
        raise ValueError(f"splits must be a positive integer (the reference uses 10), got {splits!r}")
    n = len(logits) if np.ndim(logits) >= 1 else 0
    if n < splits:
        raise ValueError(
            f"logits: got {n} row(s) for splits={splits}; every split needs at least one image (the reference "
            f"uses 10 splits of 5 000): pass more images or fewer splits"
        )
    x = validate_features(logits, "logits", min_samples=1)
    if x.shape[1] < 2:
        raise ValueError(f"logits: got {x.shape[1]} class(es) per image; pass the classifier's N×C logits (C = 1008)")
    x = torch.as_tensor(x)
    if bool(((x >= 0) & (x <= 1)).all()) and bool(torch.allclose(x.sum(1), torch.ones_like(x[:, 0]), atol=1e-3)):
        raise ValueError(
            "logits: every row is non-negative and sums to 1, so these look like probabilities; the softmax of "
            "probabilities is not p(y|x) — pass the logits, or log(probabilities)"
        )
    return x


def inception_score(logits: Array, splits: int = 10) -> tuple[float, float]:
    """(mean, std) of the Inception Score over ``splits`` consecutive parts of the N×C ``logits``.

    numpy or torch in (float64 inside, CUDA tensors on their device); equal to torch-fidelity's
    ``isc_features_to_metric(torch.as_tensor(logits), splits, shuffle=False)``. std is the population std over
    the splits (0.0 for one split).

    >>> import numpy as np
    >>> confident = np.eye(10)[np.arange(100) % 10] * 50.0  # 10 classes, each image sure of its own
    >>> round(inception_score(confident, splits=10)[0], 6)
    10.0
    """
    x = _check_logits(logits, splits)
    n = x.shape[0]
    scores = []
    for i in range(splits):
        part = x[i * n // splits:(i + 1) * n // splits]
        p = part.softmax(dim=1)
        log_p = part.log_softmax(dim=1)
        log_marginal = p.mean(dim=0, keepdim=True).log()
        # A probability that underflowed to 0 contributes 0·log 0 = 0 to the KL, not NaN.
        kl = torch.where(p > 0, p * (log_p - log_marginal), torch.zeros_like(p))
        scores.append(math.exp(float(kl.sum(dim=1).mean())))
    return float(np.mean(scores)), float(np.std(scores))
