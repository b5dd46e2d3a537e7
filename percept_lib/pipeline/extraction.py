"""Features of a folder: every readable image through any embedding extractor, cached, batch by batch.

The extractor owns its input (``preprocess``, ``embed``; see :mod:`percept_lib.extractors`), so this module
knows no network by name: ``FeatureSpec("inception-fid", "pool3", "clean")``, ``FeatureSpec("clip-vit-b-32")``
and ``FeatureSpec("dinov2-vits14", "cls")`` run the same loop. Unreadable images are skipped and named, with
their count, in a warning; an empty folder is an error.

The resize modes matter (Parmar et al., "On Aliased Resizing and Surprising Subtleties in GAN Evaluation",
CVPR 2022): ``"clean"`` is clean-fid's PIL bicubic with antialiasing on the 8-bit image, ``"pytorch-fid"``
is pytorch-fid's bilinear ``F.interpolate`` and reproduces its numbers.
"""
from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .. import weights as W
from ..extractors import embedding_extractors, extractor_class, get_extractor
from ..images import check_resize_mode
from .cache import cache_path, read_cache, write_cache
from .loading import ImageFiles, collate, folder_files
from .options import RunOptions


@dataclass(frozen=True)
class FeatureSpec:
    """Which network, which tap, which resize: everything, with the weights, that determines the features."""

    extractor: str = "inception-fid"
    layer: str | None = None
    resize: str | None = None  # only for extractors that take one (inception-fid); None: its default

    @classmethod
    def of(cls, extractor="inception-fid", layer=None, resize=None) -> "FeatureSpec":
        """The canonical spec (layer and resize filled in), or a ValueError naming what is wrong."""
        if isinstance(extractor, FeatureSpec):
            return cls.of(extractor.extractor, extractor.layer, extractor.resize)
        if extractor not in embedding_extractors():
            raise ValueError(f"extractor={extractor!r}: folders support {', '.join(embedding_extractors())}")
        build = extractor_class(extractor)
        if getattr(build, "resizes", False):
            resize = check_resize_mode("clean" if resize is None else resize)
        elif resize not in (None, ""):
            raise ValueError(f"resize={resize!r}: {extractor} has its own fixed preprocessing; the resize mode "
                             "applies to inception-fid only (drop --resize)")
        return cls(extractor, build.layer_name(layer), resize or "")

    @property
    def label(self) -> str:
        return f"{self.extractor}/{self.layer}"

    def network(self, device: torch.device):
        """The shared extractor's copy on ``device``."""
        options = {"resize": self.resize} if self.resize else {}
        net = get_extractor(self.extractor, device=device, layers=[self.layer], **options)
        if device.type == "cuda":
            net.to(memory_format=torch.channels_last)  # faster convolutions on tensor cores; same numbers
        return net


@dataclass
class FolderFeatures:
    """Features of a folder's readable images, row i for ``names[i]`` (relative POSIX paths)."""

    features: np.ndarray
    names: list[str]
    skipped: list[tuple[str, str]]
    folder: Path
    spec: FeatureSpec
    weights: str
    from_cache: bool = False

    @property
    def n(self) -> int:
        return len(self.names)

    @property
    def extractor(self) -> str:
        return self.spec.extractor

    @property
    def layer(self) -> str:
        return self.spec.layer

    @property
    def resize(self) -> str:
        return self.spec.resize


def extract_folder(folder, extractor="inception-fid", layer=None, resize=None, *, options: RunOptions | None = None,
                   files: Sequence[Path] | None = None, require_images: bool = True, **run) -> FolderFeatures:
    """Features of the images of ``folder`` (or of ``files`` in it) with names, skips and provenance.

    ``extractor``: a name from :func:`~percept_lib.extractors.embedding_extractors` or a :class:`FeatureSpec`;
    ``layer``: its tap (inception-fid: pool3/2048 — the default —, block768/768, block192/192, block64/64;
    clip-vit-b-32: embedding; dinov2-vits14: cls — the default — or patch, averaged); ``resize`` (inception-fid
    only): ``"clean"`` (default) or ``"pytorch-fid"``. Run options as :class:`RunOptions` or keywords.
    ``amp=True`` features differ from float32 by ~1e-3 relative and are cached separately.
    ``require_images=False`` accepts an empty result (a rank's shard may hold no readable file).
    """
    spec = FeatureSpec.of(extractor, layer, resize)
    options = RunOptions.resolve(options, **run)
    root = Path(folder)
    files = folder_files(root) if files is None else [Path(f) for f in files]
    signature = {"extractor": spec.extractor, "layer": spec.layer, "resize": spec.resize, "amp": options.amp}
    path = cache_path(root, files, signature) if options.cache else None
    cached = read_cache(path) if path is not None else None
    if cached is not None:
        features, names, skipped, label = cached
    else:
        features, names, skipped, label = _compute(root, files, spec, options)
    if skipped:
        listed = ", ".join(f"{n} ({r})" for n, r in skipped[:3]) + (" …" if len(skipped) > 3 else "")
        warnings.warn(f"{root}: skipped {len(skipped)} unreadable image(s) of {len(files)}: {listed}", stacklevel=2)
    if not names and require_images:
        raise ValueError(f"{root}: none of the {len(files)} image files could be read; check the files")
    if path is not None and cached is None and files:
        write_cache(path, features, names, skipped, label)
    return FolderFeatures(features, names, skipped, root, spec, label, cached is not None)


def folder_features(folder, extractor="inception-fid", layer=None, resize=None, *,
                    options: RunOptions | None = None, **run) -> np.ndarray:
    """N×d float64 features of every readable image in ``folder`` (sorted by relative path, recursive).

    Arguments as :func:`extract_folder`; ``cache=False`` recomputes and does not read the cache (it still
    refreshes it). Unreadable files are skipped with a warning that names them.
    """
    return extract_folder(folder, extractor, layer, resize, options=options, **run).features


def _compute(root: Path, files: list[Path], spec: FeatureSpec, options: RunOptions):
    from tqdm.auto import tqdm

    names = [f.relative_to(root).as_posix() for f in files]
    device = options.torch_device
    net = spec.network(device)
    label = W.label(net.pretrained)
    if not files:  # an empty shard (more ranks than files): no rows, but the right width
        return np.zeros((0, net.feature_dim(spec.layer))), [], [], label
    prepare = net.preprocess
    in_worker = net.preprocess_on_cpu
    loader = torch.utils.data.DataLoader(
        ImageFiles(files, prepare if in_worker else None), batch_size=options.batch_size, shuffle=False,
        num_workers=options.num_workers, collate_fn=functools.partial(collate, prepare=None if in_worker else prepare),
        pin_memory=device.type == "cuda")
    rows: dict[int, np.ndarray] = {}
    skipped: list[tuple[int, str]] = []
    with tqdm(total=len(files), desc=f"{root.name} [{spec.label}]", unit="img", disable=not options.progress) as bar, \
            torch.inference_mode():
        for indices, images, failed in loader:
            skipped += failed
            if images is not None:
                images = images.to(device, non_blocking=True)
                if images.dtype == torch.uint8:  # one-size batch, decoded only: prepare it here, on the device
                    images = prepare(images)
                if device.type == "cuda":
                    images = images.contiguous(memory_format=torch.channels_last)
                # Autocast around the network only: the resize stays in float32 whatever the precision.
                with torch.autocast("cuda", dtype=torch.float16, enabled=options.amp):
                    out = net.embed(images, spec.layer).float().cpu().numpy()
                rows.update(zip(indices, out))
            bar.update(len(indices) + len(failed))
    order = sorted(rows)
    features = (np.stack([rows[i] for i in order]).astype(np.float64) if order
                else np.zeros((0, net.feature_dim(spec.layer))))
    return features, [names[i] for i in order], [(names[i], reason) for i, reason in sorted(skipped)], label
