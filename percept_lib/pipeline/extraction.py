"""Features of a folder: every readable image through any embedding extractor, cached, batch by batch.

The extractor owns its input (``preprocess``, ``embed``; see :mod:`percept_lib.extractors`), so this module
knows no network by name: ``FeatureSpec("inception-fid", "pool3", "clean")``, ``FeatureSpec("clip-vit-b-32")``
and ``FeatureSpec("dinov2-vits14", "cls")`` run the same loop. Unreadable images, and images over the
pixel-count limit (``PERCEPT_MAX_PIXELS``, see :func:`percept_lib.images.decode_image`), are skipped and named,
with their count, in a warning; an empty folder is an error.

The resize modes matter (Parmar et al., "On Aliased Resizing and Surprising Subtleties in GAN Evaluation",
CVPR 2022): ``"clean"`` is clean-fid's PIL bicubic with antialiasing on the 8-bit image, ``"pytorch-fid"``
is pytorch-fid's bilinear ``F.interpolate`` and reproduces its numbers. Both decode with the library's one
decoder, which applies EXIF orientation; pytorch-fid and clean-fid ignore it. So on images that carry an
orientation tag other than 1 (camera photographs; generated samples and PNGs carry none) our features are
those of the upright image and theirs of the stored one; everywhere else the numbers are theirs.
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
from .cache import CacheEntry, cache_limit, cache_path, file_digest, read_cache, write_cache
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
    """Features of a folder's readable images, row i for ``names[i]`` (relative POSIX paths).

    ``from_cache``: every row came from the cache; ``cache_file``: the cache entry read or written (None when
    nothing was cached); ``cache_status``: "read", "updated" (changed files recomputed), "written", "replaced"
    (``cache=False``), or "not written".
    """

    features: np.ndarray
    names: list[str]
    skipped: list[tuple[str, str]]
    folder: Path
    spec: FeatureSpec
    weights: str
    from_cache: bool = False
    cache_file: Path | None = None
    cache_status: str = ""

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

    Cached rows are reused only for files whose bytes hash as they did (:mod:`.cache`); the others are
    recomputed and the entry updated. ``cache=False`` recomputes every row and replaces the entry.
    Images over the pixel-count limit (``max_pixels``) are skipped and named like unreadable ones.
    """
    spec = FeatureSpec.of(extractor, layer, resize)
    options = RunOptions.resolve(options, **run)
    max_pixels = options.pixel_limit  # a bad PERCEPT_MAX_PIXELS or PERCEPT_CACHE_MAX fails before any work
    limit = cache_limit()
    root = Path(folder)
    files = folder_files(root) if files is None else [Path(f) for f in files]
    names = [f.relative_to(root).as_posix() for f in files]
    # The pixel limit decides which files are skipped, so an entry holds for one limit.
    signature = {"extractor": spec.extractor, "layer": spec.layer, "resize": spec.resize, "amp": options.amp,
                 "max_pixels": max_pixels}
    path = cache_path(root, files, signature)
    known = read_cache(path) if options.cache and files else None
    rows, reasons, digests, label, recomputed = _rows(root, files, known, spec, options, max_pixels)

    status = "read"
    if recomputed and files:
        status = ("written" if known is None else "updated") if options.cache else "replaced"
        if not write_cache(path, CacheEntry(names, [d or "" for d in digests], rows, reasons, label), limit):
            status = "not written"
    if options.cache_report is not None and files:
        options.cache_report.append({"folder": str(root), "file": str(path), "status": status})

    readable = [i for i in range(len(files)) if not reasons[i]]
    skipped = [(names[i], reasons[i]) for i in range(len(files)) if reasons[i]]
    if skipped:
        listed = ", ".join(f"{n} ({r})" for n, r in skipped[:3]) + (" …" if len(skipped) > 3 else "")
        warnings.warn(f"{root}: skipped {len(skipped)} unreadable image(s) of {len(files)}: {listed}", stacklevel=2)
    if not readable and require_images:
        raise ValueError(f"{root}: none of the {len(files)} image files could be read; check the files")
    return FolderFeatures(rows[readable], [names[i] for i in readable], skipped, root, spec, label,
                          bool(files) and not recomputed, path if status != "not written" and files else None,
                          status)


def folder_features(folder, extractor="inception-fid", layer=None, resize=None, *,
                    options: RunOptions | None = None, **run) -> np.ndarray:
    """N×d float64 features of every readable image in ``folder`` (sorted by relative path, recursive).

    Arguments as :func:`extract_folder`; ``cache=False`` recomputes without reading the cache and replaces
    its entry, so the next cached run returns the fresh features. Unreadable files are skipped with a
    warning that names them.
    """
    return extract_folder(folder, extractor, layer, resize, options=options, **run).features


def _rows(root: Path, files: list[Path], known: CacheEntry | None, spec: FeatureSpec, options: RunOptions,
          max_pixels: int):
    """(rows, reasons, digests, weights label, how many recomputed): the cached rows of the files whose content
    hashes as it did, the others through the network."""
    names = [f.relative_to(root).as_posix() for f in files]
    digests: list[str | None] = [None] * len(files)
    reused: dict[int, int] = {}
    if known is not None:
        digests = _digests(files, root, options)
        reused = known.reusable(names, digests)
    todo = [i for i in range(len(files)) if i not in reused]
    computed = _compute(root, [files[i] for i in todo], spec, options, max_pixels) if todo or not files else None
    dim = computed.features.shape[1] if computed is not None else known.features.shape[1]
    rows, reasons = np.zeros((len(files), dim)), [""] * len(files)
    for i, row in reused.items():
        rows[i], reasons[i] = known.features[row], known.reasons[row]
    if computed is not None:
        for k, i in enumerate(todo):
            rows[i], reasons[i], digests[i] = computed.features[k], computed.reasons[k], computed.digests[k]
    label = computed.weights if computed is not None else known.weights
    return rows, reasons, digests, label, len(todo)


def _digests(files: Sequence[Path], root: Path, options: RunOptions) -> list[str | None]:
    """The content hash of every file: the check that the cached rows still describe the files. Reading and
    hashing release the GIL, so ``num_workers`` threads share the work."""
    from concurrent.futures import ThreadPoolExecutor

    from tqdm.auto import tqdm

    with ThreadPoolExecutor(max(1, options.num_workers)) as pool:
        return list(tqdm(pool.map(file_digest, files), total=len(files), desc=f"{root.name} [checking the cache]",
                         unit="img", disable=not options.progress, leave=False))


@dataclass
class _Computed:
    """Per file of a computation, in its order: feature row (zeros where unreadable), reason, content hash."""

    features: np.ndarray
    reasons: list[str]
    digests: list[str | None]
    weights: str


def _compute(root: Path, files: list[Path], spec: FeatureSpec, options: RunOptions, max_pixels: int) -> _Computed:
    from tqdm.auto import tqdm

    device = options.torch_device
    net = spec.network(device)
    label = W.label(net.pretrained)
    dim = net.feature_dim(spec.layer)
    features = np.zeros((len(files), dim))
    reasons, digests = [""] * len(files), [None] * len(files)
    if not files:  # an empty shard (more ranks than files): no rows, but the right width
        return _Computed(features, reasons, digests, label)
    prepare = net.preprocess
    in_worker = net.preprocess_on_cpu
    loader = torch.utils.data.DataLoader(
        ImageFiles(files, prepare if in_worker else None, max_pixels), batch_size=options.batch_size,
        shuffle=False, num_workers=options.num_workers,
        collate_fn=functools.partial(collate, prepare=None if in_worker else prepare),
        pin_memory=device.type == "cuda")
    with tqdm(total=len(files), desc=f"{root.name} [{spec.label}]", unit="img", disable=not options.progress) as bar, \
            torch.inference_mode():
        for batch in loader:
            for i, reason in batch.failed:
                reasons[i] = reason
            for i, digest in batch.digests.items():
                digests[i] = digest
            if batch.images is not None:
                images = batch.images.to(device, non_blocking=True)
                if images.dtype == torch.uint8:  # one-size batch, decoded only: prepare it here, on the device
                    images = prepare(images)
                if device.type == "cuda":
                    images = images.contiguous(memory_format=torch.channels_last)
                # Autocast around the network only: the resize stays in float32 whatever the precision.
                with torch.autocast("cuda", dtype=torch.float16, enabled=options.amp):
                    features[batch.indices] = net.embed(images, spec.layer).float().cpu().numpy()
            bar.update(len(batch.indices) + len(batch.failed))
    return _Computed(features, reasons, digests, label)
