"""Fidelity and diversity apart: precision and recall (Kynkäänniemi et al., 2019), density and coverage
(Naeem et al., 2020), from k-nearest-neighbour balls around feature vectors.

FID mixes two failures into one number: generated images that look like no real image (low fidelity) and real
images that no generated image resembles (low diversity, e.g. mode collapse). These metrics keep them apart.
Around every real sample x_i put the ball B(x_i, r_k(x_i)) reaching its k-th nearest *other* real sample, and
likewise around every generated sample y_j; then, with N real and M generated samples,

- **precision** = share of generated samples inside at least one real ball (fidelity);
- **recall** = share of real samples inside at least one generated ball (diversity);
- **density** = (1/kM) Σ_j Σ_i 1[y_j ∈ B(x_i, r_k(x_i))]: how many real balls hold each generated sample, on
  average, over k (fidelity that outliers in the real set cannot inflate; ≈ 1 when both sets come from one
  distribution, can exceed 1);
- **coverage** = share of real balls that hold at least one generated sample (diversity that outliers in the
  generated set cannot inflate).

Roles matter: the real set defines the manifold for precision, density and coverage, the generated set for
recall. Swapping the arguments swaps precision with recall, so the arguments are named ``real`` and ``fake``
and the result names both sets' sizes. (torch-fidelity shipped them swapped once; its
``prc_features_to_metric`` now takes the generated features first: ``(fake, real)`` from version 0.4.)

Reference: the ``prdc`` package (``compute_prdc(real_features, fake_features, nearest_k)``), which forms three
full distance matrices; ours computes the same numbers in blocks (:mod:`percept_lib.metrics.knn`) with
nothing of size N×M held, so 50 000 against 50 000 runs in well under 2 GB beyond the features. As in
prdc, a ball is open (a sample exactly on its surface is outside) and the radius counts duplicates of the
sample as neighbours. torch-fidelity's precision and recall (and Kynkäänniemi et al.'s code) use closed balls
(≤): the numbers differ only when a distance equals a radius exactly, e.g. with duplicated samples.
"""
from __future__ import annotations

import numpy as np
import torch

from .features import Array, as_tensors, numpy_to_tensor, validate_feature_pair, validate_features
from .knn import ScreenedSet, ball_memberships, kth_neighbour_sq_radii, screen_dtype

DEFAULT_CHUNK = 2048  # rows and columns per block: a 2048×2048 float32 block is 16 MB


class PRDC(dict):
    """The metrics as a plain mapping (``result["precision"]``), plus the sizes and k they were computed with.

    ``n_real`` and ``n_fake`` are the sizes of the real and generated sets, ``k`` the neighbourhood size,
    ``precision_recall_k`` that of precision and recall where it differs.
    """

    def __init__(self, values: dict[str, float], n_real: int, n_fake: int, k: int,
                 precision_recall_k: int | None = None):
        super().__init__(values)
        self.n_real, self.n_fake, self.k = n_real, n_fake, k
        self.precision_recall_k = k if precision_recall_k is None else precision_recall_k

    def __repr__(self) -> str:
        values = ", ".join(f"{name}={value:.4f}" for name, value in self.items())
        ks = f"k={self.k}" + (f", precision/recall k={self.precision_recall_k}"
                              if self.precision_recall_k != self.k else "")
        return f"PRDC({values}; real N={self.n_real}, generated M={self.n_fake}, {ks})"


def _check_k(k, n_real: int, n_fake: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer (the neighbour whose distance is a ball's radius), got {k!r}")
    smaller = min(n_real, n_fake)
    if k >= smaller:
        which = "real" if n_real <= n_fake else "fake"
        raise ValueError(
            f"k={k} needs at least k + 1 = {k + 1} samples in each set (every sample's k-th nearest other sample), "
            f"but {which} has {smaller}; lower k or pass more samples (the papers use thousands, k = 3 or 5)"
        )
    return int(k)


def _check_chunk(chunk_size) -> int:
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer (rows per block), got {chunk_size!r}")
    return int(chunk_size)


def _as_tensor(f, name: str) -> torch.Tensor:
    """``f`` as a tensor in its own floating dtype; anything the helpers would reject (shape, size, dtype) is
    handed to ``validate_features``, which raises its message (or converts an integer set to float64)."""
    t = f.detach() if isinstance(f, torch.Tensor) else None
    if t is None and isinstance(f, np.ndarray) and f.dtype in (np.float16, np.float32, np.float64):
        t = numpy_to_tensor(f)
    if t is None or t.ndim != 2 or not t.is_floating_point() or t.shape[0] < 2 or t.shape[1] < 1:
        t = torch.as_tensor(validate_features(f, name))
    return t


def _feature_pair(real, fake) -> tuple[torch.Tensor, torch.Tensor]:
    """Both sets on one device, each in its own floating dtype. Not ``as_tensors(*validate_feature_pair(…))``:
    its float64 copies of two float32 sets of 10 000 × 768 would double this metric's memory. The values are
    checked block by block as they are read (:func:`_checked_rows`)."""
    x, y = _as_tensor(real, "real"), _as_tensor(fake, "fake")
    if x.shape[1] != y.shape[1]:
        validate_feature_pair(real, fake, names=("real", "fake"))  # raises: the dimensions differ
    devices = {t.device for t in (x, y) if t.device.type != "cpu"}
    if len(devices) > 1:
        as_tensors(x, y)  # raises: two accelerators
    device = devices.pop() if devices else torch.device("cpu")
    return x.to(device), y.to(device)


def _checked_rows(t: torch.Tensor, original, name: str):
    """rows ↦ those rows of ``t`` as float64, checked by ``validate_features``; a bad block is reported by
    ``validate_features`` on the whole set, so that the message counts the rows of the whole set."""
    def rows_as_float64(rows: slice) -> torch.Tensor:
        try:
            return validate_features(t[rows], name, min_samples=0)
        except ValueError:
            validate_features(original, name)
            raise
    return rows_as_float64


def _balls(real: Array, fake: Array, ks: tuple, chunk_size):
    """The ball memberships at each k of ``ks`` (one tally per k) from one neighbour search per set and one
    pass over the real × generated blocks; the sizes; the checked ks."""
    x, y = _feature_pair(real, fake)
    ks = tuple(_check_k(k, x.shape[0], y.shape[0]) for k in ks)
    block = _check_chunk(chunk_size)
    dtype = screen_dtype(x.device)
    # Distances do not change under a common shift; centring on the midpoint of the two means keeps the
    # norms, and with them the screen's error bound, small for both sets.
    centre = (x.sum(0, dtype=torch.float64) / len(x) + y.sum(0, dtype=torch.float64) / len(y)) / 2
    real_set = ScreenedSet.build(x, centre, dtype, _checked_rows(x, real, "real"))
    fake_set = ScreenedSet.build(y, centre, dtype, _checked_rows(y, fake, "fake"))
    radii = list(zip(kth_neighbour_sq_radii(real_set, ks, block), kth_neighbour_sq_radii(fake_set, ks, block)))
    return ball_memberships(real_set, fake_set, radii, block), x.shape[0], y.shape[0], ks


def prdc(real: Array, fake: Array, k: int = 5, *, precision_recall_k: int | None = None,
         chunk_size: int = DEFAULT_CHUNK) -> PRDC:
    """Precision, recall, density and coverage of generated features ``fake`` against real features ``real``.

    ``real``: N×d features of real images (they define the manifold of precision, density, coverage);
    ``fake``: M×d features of generated images, from the same extractor and layer. k = 5 is Naeem et al.'s
    default. Returns a :class:`PRDC` mapping with ``precision``, ``recall``, ``density``, ``coverage``, equal to
    ``prdc.compute_prdc(real, fake, nearest_k=k)``. numpy or torch in (CUDA tensors are processed on their
    device), float64 decisions inside; ``chunk_size`` rows and columns per block bound the memory.
    ``precision_recall_k``: precision and recall at this k instead (3, Kynkäänniemi et al.'s, next to Naeem et
    al.'s 5 for density and coverage), the same numbers as :func:`precision_recall` gives, from the same
    neighbour searches and pass over the sets as density and coverage: no work is done twice.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> real, fake = rng.standard_normal((500, 16)), rng.standard_normal((400, 16))
    >>> result = prdc(real, fake, k=5)
    >>> sorted(result), result.n_real, result.n_fake
    (['coverage', 'density', 'precision', 'recall'], 500, 400)
    """
    ks = (k,) if precision_recall_k is None or precision_recall_k == k else (k, precision_recall_k)
    tallies, n, m, ks = _balls(real, fake, ks, chunk_size)
    balls, pr = tallies[0], tallies[-1]
    return PRDC({
        "precision": float(pr.fake_in_real_ball.double().mean()),
        "recall": float(pr.real_in_fake_ball.double().mean()),
        "density": balls.pairs_in_real_balls / (ks[0] * m),
        "coverage": float(balls.real_ball_holds_fake.double().mean()),
    }, n_real=n, n_fake=m, k=ks[0], precision_recall_k=ks[-1])


def precision_recall(real: Array, fake: Array, k: int = 3, *, chunk_size: int = DEFAULT_CHUNK) -> PRDC:
    """Improved precision and recall (Kynkäänniemi et al., 2019) of generated features ``fake`` against real
    features ``real``, with k = 3 as in the paper: a :class:`PRDC` mapping with ``precision`` and ``recall``.

    precision: share of generated samples inside some real sample's k-NN ball (fidelity);
    recall: share of real samples inside some generated sample's k-NN ball (diversity). The same numbers as
    :func:`prdc` gives at this k, and as torch-fidelity's ``prc_features_to_metric(fake, real)`` (generated
    first, version ≥ 0.4) except on exact ties (see the module docstring).
    """
    (balls,), n, m, (k,) = _balls(real, fake, (k,), chunk_size)
    return PRDC({
        "precision": float(balls.fake_in_real_ball.double().mean()),
        "recall": float(balls.real_in_fake_ball.double().mean()),
    }, n_real=n, n_fake=m, k=k)
