"""Distribution metrics on folders of images: FID, KID and CLIPScore, each a :class:`~.results.MetricResult`.

Folder in, features out (:mod:`.extraction`, cached; :mod:`.sharding` under torchrun), math on features
(:mod:`percept_lib.metrics`) — this module only joins them and says what the number was computed with.
Any embedding extractor works (``extractor="clip-vit-b-32"``, ``"dinov2-vits14"``: Fréchet distance and KID in
that space); the default is the FID Inception at pool3 with clean resizing.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import torch

from ..metrics.clip_score import check_convention, clip_score_from_embeddings, embed_texts, with_prefix
from ..metrics.stats import read_stats_npz
from .captions import read_captions
from .extraction import FeatureSpec, extract_folder
from .loading import folder_files
from .options import RunOptions
from .results import MetricResult
from .sharding import folder_stats


def is_stats_file(path) -> bool:
    return Path(path).suffix.lower() == ".npz"


def _side_stats(path, spec: FeatureSpec, options: RunOptions):
    """(mu, sigma, N, weights) of a folder, or of an .npz statistics file (N unknown for pytorch-fid's files)."""
    if not is_stats_file(path):
        stats = folder_stats(path, spec, options=options)
        mu, sigma = stats.compute()
        return mu, sigma, stats.count, stats.weights
    data = read_stats_npz(path)
    dim = data["mu"].shape[-1] if data["mu"].ndim else 0
    expected = spec.network(torch.device("cpu")).feature_dim(spec.layer)
    if data["mu"].shape != (expected,):
        raise ValueError(f"{path}: statistics of dimension {dim}, but the layer {spec.layer} has {expected}; pass "
                         f"--dims {dim or '?'} or recompute the statistics with this layer")
    return data["mu"], data["sigma"], data["n"], None


def fid_folders(path_a, path_b, feature=None, resize=None, *, extractor="inception-fid",
                options: RunOptions | None = None, **run) -> MetricResult:
    """FID (Heusel et al. 2017) between two folders of images; either side may be an .npz statistics file.

    ``feature``: the layer (inception-fid: pool3/2048 — the standard —, 768, 192, 64). ``resize``: ``"clean"``
    (default) or ``"pytorch-fid"``. ``extractor``: any embedding extractor (a Fréchet distance in its space).
    Statistics files from pytorch-fid and clean-fid load as they are; they must come from the same layer (and
    should come from the same resize mode and weights — a file cannot tell, so that is on you).
    """
    from ..metrics.frechet import frechet_distance

    spec = FeatureSpec.of(extractor, feature, resize)
    options = RunOptions.resolve(options, **run)
    mu_a, sigma_a, n_a, weights_a = _side_stats(path_a, spec, options)
    mu_b, sigma_b, n_b, weights_b = _side_stats(path_b, spec, options)
    value = frechet_distance(mu_a, sigma_a, mu_b, sigma_b)
    weights = weights_a or weights_b or _weights_of(spec)
    return MetricResult("fid", value, n_a, n_b, None, (str(path_a), str(path_b)), spec.label, spec.resize,
                        weights, {"amp": True} if options.amp else {})


def _weights_of(spec: FeatureSpec) -> str:
    from .. import weights as W

    return W.label(spec.network(torch.device("cpu")).pretrained)


def kid_folders(dir_a, dir_b, feature=None, resize=None, *, extractor="inception-fid", num_subsets: int = 100,
                subset_size: int = 1000, seed: int = 0, options: RunOptions | None = None, **run) -> MetricResult:
    """KID (Bińkowski et al. 2018) between two folders: mean and std of the unbiased MMD² over subsets.

    ``subset_size`` is capped at the smaller folder's N (clean-fid's choice); the size used is reported.
    Other arguments as :func:`fid_folders`.
    """
    from ..metrics.kid import kid

    for path in (dir_a, dir_b):
        if is_stats_file(path):
            raise ValueError(f"{path}: KID needs the features themselves, not mean and covariance; pass the folder")
    spec = FeatureSpec.of(extractor, feature, resize)
    options = RunOptions.resolve(options, **run)
    a = extract_folder(dir_a, spec, options=options)
    b = extract_folder(dir_b, spec, options=options)
    size = min(subset_size, a.n, b.n)
    mean, std = kid(a.features, b.features, num_subsets=num_subsets, subset_size=size, seed=seed)
    return MetricResult("kid", float(mean), a.n, b.n, float(std), (str(dir_a), str(dir_b)), spec.label,
                        spec.resize, a.weights, {"num_subsets": num_subsets, "subset_size": size, "seed": seed})


def clip_score_folder(folder, captions_csv, convention: str = "hessel", prefix: str | None = None, *,
                      options: RunOptions | None = None, **run) -> MetricResult:
    """CLIPScore (Hessel et al. 2021) of the images of ``folder`` against their captions (CSV ``file,caption``).

    Every captioned file must exist; images without a caption are left out with a warning. ``convention`` and
    ``prefix`` as in :func:`~percept_lib.metrics.clip_score.clip_score`. Per-file values are in
    ``result.details["per_sample"]``.
    """
    check_convention(convention)
    options = RunOptions.resolve(options, **run)
    root = Path(folder)
    available = {p.relative_to(root).as_posix(): p for p in folder_files(root)}
    captions = read_captions(captions_csv, root)
    missing = [name for name in captions if name not in available]
    if missing:
        raise ValueError(f"{len(missing)} captioned file(s) are not images in {root}: {', '.join(missing[:3])}"
                         f"{' …' if len(missing) > 3 else ''}; fix the 'file' column (names relative to the folder)")
    uncaptioned = sorted(set(available) - set(captions))
    if uncaptioned:
        warnings.warn(f"{root}: {len(uncaptioned)} image(s) have no caption and are left out: "
                      f"{', '.join(uncaptioned[:3])}{' …' if len(uncaptioned) > 3 else ''}", stacklevel=2)
    names = sorted(captions)
    spec = FeatureSpec.of("clip-vit-b-32")
    images = extract_folder(root, spec, options=options, files=[available[n] for n in names])
    net = spec.network(options.torch_device)
    with torch.no_grad():
        texts = embed_texts(net, with_prefix([captions[n] for n in images.names], prefix), options.batch_size)
    result = clip_score_from_embeddings(torch.from_numpy(images.features), texts.cpu(), convention)
    per_sample = dict(zip(images.names, result.per_sample.tolist()))
    return MetricResult("clip-score", result.score, images.n, None, None, (str(root), str(captions_csv)),
                        spec.label, "", images.weights,
                        {"convention": convention, "prefix": prefix or "", "per_sample": per_sample})


__all__ = ["fid_folders", "kid_folders", "clip_score_folder", "is_stats_file"]
