"""Metrics of a generative model on folders of images: precision / recall / density / coverage, Inception Score
and CMMD, each as :class:`~.results.MetricResult` s.

Their math needs the features themselves, not a mean and covariance, so under torchrun each rank extracts
every world_size-th file (cached as a folder's features are) and the rows are gathered back into the folder's
order on every rank (:func:`sharded_features`). Any embedding extractor works; CMMD defaults to CLIP ViT-L/14
at 336 px, as its paper, and IS reads the FID Inception's class logits.

Roles: for precision, recall, density and coverage the first folder is the REAL (reference) set and the
second the GENERATED set; swapping them swaps precision with recall (see :mod:`percept_lib.metrics.prdc`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .extraction import FeatureSpec, extract_folder
from .loading import folder_files
from .options import RunOptions
from .results import MetricResult
from .sharding import check_image_count, process_group

# The papers' neighbourhood sizes: Kynkäänniemi et al. 2019 (precision, recall), Naeem et al. 2020 (density,
# coverage).
K_PRECISION_RECALL, K_DENSITY_COVERAGE = 3, 5
IS_LAYER = "logits_unbiased"  # the original IS code's and torch-fidelity's logits: pool3 · W, no bias
CMMD_EXTRACTOR = "clip-vit-l-14-336"


def sharded_features(folder, spec: FeatureSpec, options: RunOptions) -> tuple[np.ndarray, str]:
    """(N×d features of the readable images of ``folder`` in its order, weights label), extracted by this process
    alone, or under torchrun by every rank for every world_size-th file and gathered on every rank."""
    files = folder_files(folder)
    group = process_group(options.torch_device, options.distributed)
    if group is None:
        result = extract_folder(folder, spec, options=options, files=files)
        return result.features, result.weights
    import torch.distributed as dist

    rank, world = group
    shard = RunOptions.resolve(options, progress=options.progress and rank == 0)
    mine = extract_folder(folder, spec, options=shard, files=files[rank::world], require_images=False)
    parts = [None] * world
    dist.all_gather_object(parts, (mine.names, mine.features, mine.weights))
    order = {f.relative_to(Path(folder)).as_posix(): i for i, f in enumerate(files)}
    rows = sorted((order[name], row) for names, features, _ in parts for name, row in zip(names, features))
    if not rows:
        raise ValueError(f"{folder}: none of the {len(files)} image files could be read; check the files")
    return np.stack([row for _, row in rows]), mine.weights


def _check_count(folder, n: int, need: int, what: str, fix: str, readable: bool = False) -> None:
    if n < need:
        kind = "readable image" if readable else "image file"
        raise ValueError(f"{folder}: {n} {kind}{'' if n == 1 else 's'}; {what} needs at least {need}: {fix}")


def prdc_k(k) -> tuple[int, int]:
    """(k for precision/recall, k for density/coverage) from None (the papers': 3 and 5), one k for all four,
    or a pair."""
    if k is None:
        return K_PRECISION_RECALL, K_DENSITY_COVERAGE
    pair = (k, k) if not isinstance(k, (tuple, list)) else tuple(k)
    if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1 for v in pair):
        raise ValueError(f"k={k!r}: use one positive integer for all four metrics, or a pair (k for precision and "
                         "recall, k for density and coverage), e.g. (3, 5) as the papers")
    return int(pair[0]), int(pair[1])


def prdc_folders(real, generated, k=None, *, extractor="inception-fid", layer=None, resize=None,
                 options: RunOptions | None = None, **run) -> dict[str, MetricResult]:
    """Precision, recall, density and coverage of the GENERATED folder against the REAL (reference) folder.

    ``k``: None for the papers' choices (3 for precision/recall, Kynkäänniemi et al. 2019; 5 for
    density/coverage, Naeem et al. 2020), one integer for all four (as ``prdc.compute_prdc``), or a pair.
    Returns ``{"precision": …, "recall": …, "density": …, "coverage": …}``, each a :class:`MetricResult`
    with ``n`` the real set's size and ``n_reference`` the generated set's (the arguments' order, as
    :func:`~.folders.fid_folders`), ``details["k"]`` its k.
    """
    from ..metrics.prdc import prdc

    k_pr, k_dc = prdc_k(k)
    need = max(k_pr, k_dc) + 1
    fix = "add images, or lower --k (every sample's k-th nearest other sample must exist)"
    for folder in (real, generated):
        _check_count(folder, len(folder_files(folder)), need, f"k = {max(k_pr, k_dc)}", fix)
    spec = FeatureSpec.of(extractor, layer, resize)
    options = RunOptions.resolve(options, **run)
    x, weights = sharded_features(real, spec, options)
    y, _ = sharded_features(generated, spec, options)
    for folder, features in ((real, x), (generated, y)):
        _check_count(folder, len(features), need, f"k = {max(k_pr, k_dc)}", fix, readable=True)
    values = prdc(x, y, k=k_dc, precision_recall_k=k_pr)  # one neighbour search per set serves both ks
    sources = (str(real), str(generated))
    amp = {"amp": True} if options.amp else {}
    return {name: MetricResult(name, float(values[name]), len(x), len(y), None, sources, spec.label, spec.resize,
                               weights, {"k": k_pr if name in ("precision", "recall") else k_dc, **amp})
            for name in ("precision", "recall", "density", "coverage")}


def inception_score_folder(folder, splits: int = 10, *, layer: str = IS_LAYER, resize=None,
                           options: RunOptions | None = None, **run) -> MetricResult:
    """Inception Score (mean ± std over ``splits`` consecutive parts, in the folder's sorted order) of the images
    of ``folder``, from the FID Inception's class logits.

    ``layer``: ``logits_unbiased`` (default: pool3 times the classifier's weights, no bias — the original IS
    code's and torch-fidelity's) or ``logits`` (the classifier with its bias). ``resize`` as
    :func:`~.folders.fid_folders`. torch-fidelity shuffles the images first by default; we keep their order.
    """
    from ..metrics.inception_score import inception_score

    if isinstance(splits, bool) or not isinstance(splits, (int, np.integer)) or splits < 1:
        raise ValueError(f"splits={splits!r}: use a positive integer (the reference uses 10)")
    if layer not in ("logits", "logits_unbiased"):
        raise ValueError(f"layer={layer!r}: the Inception Score reads class logits: 'logits_unbiased' (default, "
                         "the reference's) or 'logits'")
    fix = "add images, or lower --splits (the reference uses 10 splits of 5 000 images)"
    _check_count(folder, len(folder_files(folder)), splits, f"--splits {splits}", fix)
    spec = FeatureSpec.of("inception-fid", layer, resize)
    options = RunOptions.resolve(options, **run)
    logits, weights = sharded_features(folder, spec, options)
    _check_count(folder, len(logits), splits, f"--splits {splits}", fix, readable=True)
    mean, std = inception_score(logits, splits=splits)
    amp = {"amp": True} if options.amp else {}
    return MetricResult("is", mean, len(logits), None, std, (str(folder),), spec.label, spec.resize, weights,
                        {"splits": splits, **amp})


def cmmd_folders(dir_a, dir_b, *, extractor: str = CMMD_EXTRACTOR, layer=None, resize=None, unbiased: bool = False,
                 options: RunOptions | None = None, **run) -> MetricResult:
    """CMMD (Jayasumana et al. 2024) between two folders: MMD² of a Gaussian RBF kernel (σ = 10, × 1000) on
    L2-normalised embeddings, by default CLIP ViT-L/14 at 336 px as the paper.

    ``unbiased``: the U-statistic (diagonals left out) instead of the authors' full-matrix mean. Symmetric in
    the two folders.
    """
    from ..metrics.cmmd import cmmd

    why = "its kernel means pair each image with another of its own folder"
    for folder in (dir_a, dir_b):
        check_image_count(folder, len(folder_files(folder)), "CMMD", why)
    spec = FeatureSpec.of(extractor, layer, resize)
    options = RunOptions.resolve(options, **run)
    a, weights = sharded_features(dir_a, spec, options)
    b, _ = sharded_features(dir_b, spec, options)
    for folder, features in ((dir_a, a), (dir_b, b)):
        check_image_count(folder, len(features), "CMMD", why, readable=True)
    value = cmmd(a, b, unbiased=unbiased)  # L2-normalises the embeddings, as the metric requires
    amp = {"amp": True} if options.amp else {}
    return MetricResult("cmmd", value, len(a), len(b), None, (str(dir_a), str(dir_b)), spec.label, spec.resize,
                        weights, {"estimator": "unbiased" if unbiased else "biased", **amp})


__all__ = ["cmmd_folders", "inception_score_folder", "prdc_folders", "prdc_k",
           "sharded_features"]
