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
from .provenance import Side, check_same_features, joint_labels, run_provenance
from .results import MetricResult
from .sharding import check_image_count, folder_stats


def is_stats_file(path) -> bool:
    return Path(path).suffix.lower() == ".npz"


def check_stats_dimension(path, data: dict, spec: FeatureSpec) -> None:
    """A statistics file compared with a folder must have the width of the layer the folder is computed at."""
    dim = data["mu"].shape[0]
    expected = spec.network(torch.device("cpu")).feature_dim(spec.layer)
    if dim == expected:
        return
    made = data["provenance"] or {}
    extractor, layer = made.get("extractor", spec.extractor), made.get("layer")
    flags = [f"--extractor {extractor}"] if extractor != spec.extractor else []
    if extractor == "inception-fid" and dim in (2048, 768, 192, 64):
        flags.append(f"--dims {dim}")
    elif layer:
        flags.append(f"--layer {layer}")
    source = f" ({extractor}/{layer})" if layer else ""
    fix = f"pass {' '.join(flags)}" if flags else "pass the --extractor and --layer that made it"
    raise ValueError(f"{path}: statistics of dimension {dim}{source}, but {spec.label} has {expected}; {fix}, or "
                     "recompute the statistics with this layer")


def fid_folders(path_a, path_b, feature=None, resize=None, *, extractor="inception-fid", force_mix: bool = False,
                options: RunOptions | None = None, **run) -> MetricResult:
    """FID (Heusel et al. 2017) between two folders of images; either side may be an .npz statistics file.

    ``feature``: the layer (inception-fid: pool3/2048 — the standard —, 768, 192, 64). ``resize``: ``"clean"``
    (default) or ``"pytorch-fid"``. ``extractor``: any embedding extractor (a Fréchet distance in its space).
    A statistics file says how it was made (extractor, layer, resize mode, weights): comparing it with a side
    made differently is a ValueError naming both values, unless ``force_mix``; the result is labelled from
    both sides. Files from pytorch-fid and clean-fid carry no provenance: they are accepted (their dimension
    must match the layer) and labelled "unknown". Everything that can be checked — files, image counts,
    dimensions, provenance — is checked before any image is decoded.
    """
    from ..metrics.frechet import frechet_distance

    spec = FeatureSpec.of(extractor, feature, resize)
    options = RunOptions.resolve(options, **run)
    paths = (path_a, path_b)
    files = {i: read_stats_npz(p) for i, p in enumerate(paths) if is_stats_file(p)}
    folders = [i for i in range(2) if i not in files]
    for i in folders:
        check_image_count(paths[i], len(folder_files(paths[i])), "FID")
    if folders:
        for i, data in files.items():
            check_stats_dimension(paths[i], data, spec)
    elif files[0]["mu"].shape != files[1]["mu"].shape:
        raise ValueError(f"{path_a} holds statistics of dimension {files[0]['mu'].shape[0]}, {path_b} of "
                         f"{files[1]['mu'].shape[0]}: they come from different layers or extractors; recompute one")
    now = run_provenance(spec) if folders else None
    sides = [Side(str(p), i in files, files[i]["provenance"] if i in files else now) for i, p in enumerate(paths)]
    check_same_features(*sides, force=force_mix)

    moments = []
    for i, path in enumerate(paths):
        if i in files:
            moments.append((files[i]["mu"], files[i]["sigma"], files[i]["n"]))
        else:
            stats = folder_stats(path, spec, options=options)
            sides[i] = Side(str(path), False, stats.provenance)  # the weights the extraction really used
            moments.append((*stats.compute(), stats.count))
    (mu_a, sigma_a, n_a), (mu_b, sigma_b, n_b) = moments
    value = frechet_distance(mu_a, sigma_a, mu_b, sigma_b)
    extractor_label, resize_label, weights, sha256 = joint_labels(*sides)
    return MetricResult("fid", value, n_a, n_b, None, (str(path_a), str(path_b)), extractor_label, resize_label,
                        weights, {"amp": True} if options.amp and folders else {}, weights_sha256=sha256)


def kid_folders(dir_a, dir_b, feature=None, resize=None, *, extractor="inception-fid", num_subsets: int = 100,
                subset_size: int = 1000, seed: int = 0, options: RunOptions | None = None, **run) -> MetricResult:
    """KID (Bińkowski et al. 2018) between two folders: mean and std of the unbiased MMD² over subsets.

    ``subset_size`` is capped at the smaller folder's N (clean-fid's choice); the size used is reported.
    Each folder needs at least two (readable) images. Other arguments as :func:`fid_folders`.
    """
    from ..metrics.kid import kid

    for path in (dir_a, dir_b):
        if is_stats_file(path):
            raise ValueError(f"{path}: KID needs the features themselves, not mean and covariance; pass the folder")
    why = "its unbiased estimate pairs each image with another of its own folder"
    for path in (dir_a, dir_b):
        check_image_count(path, len(folder_files(path)), "KID", why)
    spec = FeatureSpec.of(extractor, feature, resize)
    options = RunOptions.resolve(options, **run)
    a = extract_folder(dir_a, spec, options=options)
    b = extract_folder(dir_b, spec, options=options)
    for side in (a, b):
        check_image_count(side.folder, side.n, "KID", why, readable=True)
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
