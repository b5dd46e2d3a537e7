"""Folder in, numbers out: features of every image in a folder, cached, sharded, and the metrics built on them.

The pipeline: list the images (sorted, recursive) → a DataLoader decodes each file and brings it to the
network's input size image by image in its workers (so images of different sizes stack into one batch; a
batch of one size may be resized as a whole on the device instead, see below) → the network runs batch by
batch → N×d float64 features. Around it:

* a cache: features are stored per folder under ``$PERCEPT_CACHE/features`` (default
  ``~/.cache/percept_lib/features``, never inside the image folder), keyed by the folder, each file's relative
  name, size and mtime, the extractor, layer, resize mode, precision and the weights file. A rerun reads them
  back; a changed, added or removed file recomputes; ``cache=False`` forces it;
* unreadable images are skipped and named, with their count, in a warning; an empty folder is an error;
* scale-out: under ``torchrun`` :func:`folder_stats` gives each rank every world_size-th file and merges the
  statistics with ``FeatureStats.all_reduce()``, which is exact (sums, not averages of averages).

The resize modes matter (Parmar et al., "On Aliased Resizing and Surprising Subtleties in GAN Evaluation",
CVPR 2022): ``"clean"`` is clean-fid's PIL bicubic with antialiasing on the 8-bit image, ``"pytorch-fid"``
is pytorch-fid's bilinear ``F.interpolate`` and reproduces its numbers.
"""
from __future__ import annotations

import atexit
import functools
import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .. import weights as W
from ..images import IMAGE_EXTENSIONS, RESIZE_MODES, list_images, load_image, resize as resize_images
from .accumulators import INCEPTION_LAYERS, inception_layer, read_stats_npz, weights_label

# Bump when a change to the pipeline changes the features, so that old cache files are not read back.
CACHE_VERSION = 1
FOLDER_EXTRACTORS = ("inception-fid", "clip-vit-b-32")
CLIP_EMBEDDING_DIM = 512  # ViT-B/32's joint embedding


# ----------------------------------------------------------------------------------------------------
# Decoding and per-image preparation (run in the DataLoader workers: module-level, so they pickle)
# ----------------------------------------------------------------------------------------------------
#
# Two routes to a batch of network-sized images. "clean" resizing is PIL on the 8-bit image: it must run on
# the CPU, per image, in the worker. The tensor resizes ("pytorch-fid" bilinear, CLIP's bicubic + crop) work
# on any batch on any device: when a batch's images share one size (generated samples always do), the
# workers only decode to uint8 — a quarter of float32's bytes through shared and pinned memory — and the
# resize runs on the batch, on the device. Per sample the arithmetic is the same either way: interpolation
# treats each image independently, and uint8 / 255 in float32 is the same number on every device.

def _prepare_inception(image: torch.Tensor, mode: str) -> torch.Tensor:
    from ..extractors.inception import INCEPTION_SIZE

    return resize_images(image, INCEPTION_SIZE, mode)


def _prepare_clip(image: torch.Tensor) -> torch.Tensor:
    from ..extractors.clip import clip_resize

    return clip_resize(image)


_EIGHT_BIT_MODES = ("1", "L", "P", "RGB", "RGBA", "LA", "CMYK", "YCbCr", "RGBX", "La", "RGBa", "PA")


def _decode_uint8(path: Path) -> torch.Tensor:
    """3×H×W uint8 for an 8-bit image (the common case); else load_image's float32 [0, 1] (16-bit keeps its bits)."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            if img.mode in _EIGHT_BIT_MODES:
                img = img.convert("RGB")  # as load_image: alpha dropped, palette expanded
                return torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1).contiguous()
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except Exception as err:
        raise ValueError(f"{path}: not a readable image ({err}); remove or replace the file") from None
    return load_image(path)[0]


def _to_unit_float(image: torch.Tensor) -> torch.Tensor:
    return image.float().div_(255) if image.dtype == torch.uint8 else image


class _ImageFiles(torch.utils.data.Dataset):
    """``(index, image, "")`` per file, or ``(index, None, reason)`` for a file that cannot be read.

    ``prepare_here``: the image comes out network-sized (float); otherwise decoded only (see above).
    """

    def __init__(self, files: Sequence[Path], prepare, prepare_here: bool):
        self.files = list(files)
        self.prepare = prepare
        self.prepare_here = prepare_here

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        try:
            if self.prepare_here:
                return i, self.prepare(load_image(self.files[i]))[0], ""
            return i, _decode_uint8(self.files[i]), ""
        except ValueError as err:
            return i, None, str(err)


def _collate(items, prepare=None):
    """(indices, batch, failures): readable images stacked, unreadable ones handed back with their reason.

    With ``prepare`` (decoded-only items): one size, all uint8 → the uint8 batch, resized later on the device;
    mixed sizes → each image prepared here, so that they stack.
    """
    good = [(i, x) for i, x, _ in items if x is not None]
    failed = [(i, reason) for i, x, reason in items if x is None]
    indices = [i for i, _ in good]
    images = [x for _, x in good]
    if not images:
        return indices, None, failed
    same = len({(tuple(x.shape), x.dtype) for x in images}) == 1 and images[0].dtype == torch.uint8
    if prepare is not None and not same:
        images = [prepare(_to_unit_float(x)[None])[0] for x in images]
    return indices, torch.stack(images), failed


# ----------------------------------------------------------------------------------------------------
# Extractor choice
# ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Spec:
    """Which network, which tap, which preparation: everything that determines the features."""

    extractor: str
    layer: str
    resize: str          # "" where the network has its own fixed preprocessing (CLIP)
    amp: bool

    @property
    def label(self) -> str:
        return f"{self.extractor}/{self.layer}"


def _spec(extractor: str, layer, resize: str, amp: bool) -> _Spec:
    if extractor == "inception-fid":
        if resize not in RESIZE_MODES:
            raise ValueError(f"resize={resize!r}: use one of {RESIZE_MODES}")
        return _Spec(extractor, inception_layer("pool3" if layer is None else layer), resize, bool(amp))
    if extractor == "clip-vit-b-32":
        if layer not in ("embedding", None):
            raise ValueError(f"layer={layer!r}: clip-vit-b-32 has one tap, 'embedding'")
        return _Spec(extractor, "embedding", "", bool(amp))
    raise ValueError(f"extractor={extractor!r}: folders support {', '.join(FOLDER_EXTRACTORS)}")


def _prepare_fn(spec: _Spec):
    if spec.extractor == "inception-fid":
        return functools.partial(_prepare_inception, mode=spec.resize)
    return _prepare_clip


def _network(spec: _Spec, device: torch.device):
    """The shared extractor on ``device`` and a function batch → N×d float32 features."""
    from ..extractors import feature_vectors, get_extractor

    if spec.extractor == "inception-fid":
        net = get_extractor("inception-fid", layers=[spec.layer], resize=spec.resize).to(device)

        def run(batch):
            # The batch is already 299×299 (see _compute). The extractor's forward would resize again, and in
            # "clean" mode that first re-quantizes to 8 bits; clean-fid feeds the float output of its resize
            # to the network as it is, so we go straight to the normalized network.
            return feature_vectors(net.features(net.normalize(batch))[spec.layer])
    else:
        net = get_extractor(spec.extractor).to(device)

        def run(batch):
            return net(batch)[spec.layer].flatten(1)
    if device.type == "cuda":
        net.to(memory_format=torch.channels_last)  # faster convolutions on tensor cores; same numbers
    return net, run


# ----------------------------------------------------------------------------------------------------
# Cache
# ----------------------------------------------------------------------------------------------------

def cache_dir() -> Path:
    """``$PERCEPT_CACHE/features``, else ``$XDG_CACHE_HOME/percept_lib/features`` (default ``~/.cache``)."""
    root = os.environ.get("PERCEPT_CACHE")
    if root:
        return Path(root).expanduser() / "features"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()
    return base / "percept_lib" / "features"


def _weights_identity(spec: _Spec) -> list:
    """The weights as the features see them: random (seeded, reproducible) or the file's path, size and mtime."""
    if W.weights_mode() == "random":
        return ["random"]
    path = W.cached_path(spec.extractor)  # the weights artifact has the extractor's name
    if path is None:
        return ["missing"]
    st = path.stat()
    return [str(path.resolve()), st.st_size, st.st_mtime_ns]


def _cache_key(root: Path, files: Sequence[Path], spec: _Spec) -> str:
    entries = []
    for path in files:
        st = path.stat()
        entries.append([path.relative_to(root).as_posix(), st.st_size, st.st_mtime_ns])
    key = {
        "version": CACHE_VERSION, "folder": str(root.resolve()), "files": entries,
        "extractor": spec.extractor, "layer": spec.layer, "resize": spec.resize, "amp": spec.amp,
        "weights": _weights_identity(spec),
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]


def _read_cache(path: Path):
    """(features float64, names, skipped [(name, reason)]) or None when absent or unreadable."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            features = f["features"].astype(np.float64)
            names = [str(n) for n in f["names"]]
            skipped = list(zip((str(n) for n in f["skipped_names"]), (str(r) for r in f["skipped_reasons"])))
    except Exception:  # a truncated or foreign file: recompute (and overwrite it)
        return None
    if features.ndim != 2 or len(features) != len(names):
        return None
    return features, names, skipped


def _write_cache(path: Path, features: np.ndarray, names: list[str], skipped: list[tuple[str, str]]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            # float32 is what the network produced: storing it loses nothing.
            np.savez(f, features=features.astype(np.float32), names=np.array(names, dtype=str),
                     skipped_names=np.array([n for n, _ in skipped], dtype=str),
                     skipped_reasons=np.array([r for _, r in skipped], dtype=str))
        os.replace(tmp, path)  # atomic: a concurrent reader sees the old file or the new one, never half
    except OSError as err:
        warnings.warn(f"could not write the feature cache {path} ({err}); set PERCEPT_CACHE to a writable "
                      "folder to keep features between runs", stacklevel=3)


# ----------------------------------------------------------------------------------------------------
# Features of a folder
# ----------------------------------------------------------------------------------------------------

@dataclass
class FolderFeatures:
    """Features of a folder's readable images, row i for ``names[i]`` (relative POSIX paths)."""

    features: np.ndarray
    names: list[str]
    skipped: list[tuple[str, str]]
    folder: Path
    extractor: str
    layer: str
    resize: str
    weights: str
    from_cache: bool = False

    @property
    def n(self) -> int:
        return len(self.names)


def _device(device) -> torch.device:
    device = torch.device(device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={device}: no CUDA device is available here; use --device cpu")
        if device.index is None and "LOCAL_RANK" in os.environ:  # torchrun: one GPU per rank
            device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return device


def _check_options(batch_size: int, num_workers: int) -> None:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r}: use a positive integer")
    if not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"num_workers={num_workers!r}: use 0 (load in this process) or a positive integer")


def folder_files(folder) -> list[Path]:
    """The image files of ``folder`` (sorted, recursive); an empty folder is an error."""
    folder = Path(folder)
    if not folder.is_dir():
        kind = "a file" if folder.exists() else "missing"
        raise ValueError(f"{folder}: not a folder ({kind}); pass a folder of images")
    files = list_images(folder)
    if not files:
        raise ValueError(f"{folder}: no image files (looked for {', '.join(IMAGE_EXTENSIONS)}, recursively); "
                         "check the path")
    return files


def extract_folder(
    folder,
    extractor: str = "inception-fid",
    layer=None,
    resize: str = "clean",
    batch_size: int = 50,
    device="cpu",
    num_workers: int = 0,
    cache: bool = True,
    progress: bool = True,
    files: Sequence[Path] | None = None,
    amp: bool = False,
    require_images: bool = True,
) -> FolderFeatures:
    """Features of the images of ``folder`` (or of ``files`` in it) with names, skips and provenance.

    See :func:`folder_features` for the arguments; ``amp=True`` runs the network in float16 autocast on CUDA
    (faster, features differ from float32 by ~1e-3 relative, cached separately). ``require_images=False``
    accepts an empty result (a rank's shard may hold no readable file; the merged statistics are checked).
    """
    from tqdm.auto import tqdm

    _check_options(batch_size, num_workers)
    spec = _spec(extractor, layer, resize, amp)
    device = _device(device)
    if spec.amp and device.type != "cuda":
        raise ValueError("amp=True needs a CUDA device (float16 autocast); drop --amp on the CPU")
    root = Path(folder)
    files = folder_files(root) if files is None else [Path(f) for f in files]
    label = weights_label()
    cache_path = cache_dir() / f"{_cache_key(root, files, spec)}.npz" if cache else None
    cached = _read_cache(cache_path) if cache_path is not None else None
    if cached is not None:
        features, names, skipped = cached
        from_cache = True
    else:
        features, names, skipped = _compute(root, files, spec, batch_size, device, num_workers, progress, tqdm)
        from_cache = False
    if skipped:
        listed = ", ".join(f"{n} ({r})" for n, r in skipped[:3]) + (" …" if len(skipped) > 3 else "")
        warnings.warn(f"{root}: skipped {len(skipped)} unreadable image(s) of {len(files)}: {listed}", stacklevel=2)
    if not names and require_images:
        raise ValueError(f"{root}: none of the {len(files)} image files could be read; check the files")
    if cache_path is not None and not from_cache and files:
        _write_cache(cache_path, features, names, skipped)
    return FolderFeatures(features, names, skipped, root, spec.extractor, spec.layer, spec.resize, label, from_cache)


def _compute(root, files, spec, batch_size, device, num_workers, progress, tqdm):
    names = [Path(f).relative_to(root).as_posix() for f in files]
    if not files:  # an empty shard (more ranks than files)
        return np.zeros((0, 0)), [], []
    net, run = _network(spec, device)
    prepare = _prepare_fn(spec)
    prepare_in_worker = spec.resize == "clean"  # PIL: CPU only, per image
    loader = torch.utils.data.DataLoader(
        _ImageFiles(files, prepare, prepare_in_worker), batch_size=batch_size, shuffle=False,
        num_workers=num_workers, collate_fn=functools.partial(_collate, prepare=None if prepare_in_worker else prepare),
        pin_memory=device.type == "cuda")
    rows: dict[int, np.ndarray] = {}
    skipped: list[tuple[int, str]] = []
    with tqdm(total=len(files), desc=f"{root.name} [{spec.label}]", unit="img", disable=not progress) as bar, \
            torch.inference_mode():
        for indices, images, failed in loader:
            skipped += failed
            if images is not None:
                images = images.to(device, non_blocking=True)
                if images.dtype == torch.uint8:  # one-size batch, decoded only: resize it here, on the device
                    images = prepare(_to_unit_float(images))
                if device.type == "cuda":
                    images = images.contiguous(memory_format=torch.channels_last)
                # Autocast around the network only: the resize stays in float32 whatever the precision.
                with torch.autocast("cuda", dtype=torch.float16, enabled=spec.amp):
                    out = run(images).float().cpu().numpy()
                rows.update(zip(indices, out))
            bar.update(len(indices) + len(failed))
    order = sorted(rows)
    features = np.stack([rows[i] for i in order]).astype(np.float64) if order else np.zeros((0, 0))
    return features, [names[i] for i in order], [(names[i], reason) for i, reason in sorted(skipped)]


def folder_features(
    folder,
    extractor: str = "inception-fid",
    layer=None,
    resize: str = "clean",
    batch_size: int = 50,
    device="cpu",
    num_workers: int = 0,
    cache: bool = True,
    progress: bool = True,
) -> np.ndarray:
    """N×d float64 features of every readable image in ``folder`` (sorted by relative path, recursive).

    ``extractor``: ``"inception-fid"`` (``layer`` pool3/2048 — the default —, block768/768, block192/192,
    block64/64; ``resize`` ``"clean"`` or ``"pytorch-fid"``) or ``"clip-vit-b-32"`` (layer ``"embedding"``, the
    default; ``resize`` does not apply: CLIP's own bicubic resize and centre crop).
    ``num_workers``: DataLoader processes that decode and resize. ``cache=False`` recomputes and does not
    read the cache (it still refreshes it). Unreadable files are skipped with a warning that names them.
    """
    return extract_folder(folder, extractor, layer, resize, batch_size, device, num_workers, cache, progress).features


# ----------------------------------------------------------------------------------------------------
# Statistics, sharded under torchrun
# ----------------------------------------------------------------------------------------------------

def _process_group(device: torch.device, distributed: str):
    """(rank, world_size) when this process is one of several (torchrun), else None.

    ``distributed="auto"`` joins the process group that exists, or starts one when torchrun's environment
    says there are several processes (gloo on the CPU, nccl on CUDA); ``"off"`` never shards.
    """
    if distributed not in ("auto", "off"):
        raise ValueError(f"distributed={distributed!r}: use 'auto' or 'off'")
    if distributed == "off" or not torch.distributed.is_available():
        return None
    dist = torch.distributed
    if not dist.is_initialized():
        if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            return None
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        atexit.register(_end_process_group)
    world = dist.get_world_size()
    return (dist.get_rank(), world) if world > 1 else None


def _end_process_group() -> None:
    """End the process group that :func:`_process_group` started, every rank together.

    Left to interpreter shutdown, the group's C++ threads are destroyed while still joinable and a rank can
    abort at exit ("terminate called without an active exception": about 1 two-process run in 30 here).
    Destroying it without the barrier, while the other rank may still be talking, made that 1 in 4.
    """
    dist = torch.distributed
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def _feature_dim(result: FolderFeatures) -> int:
    if result.extractor == "inception-fid":
        return {name: d for d, name in INCEPTION_LAYERS.items()}[result.layer]
    return CLIP_EMBEDDING_DIM


def folder_stats(
    folder,
    extractor: str = "inception-fid",
    layer=None,
    resize: str = "clean",
    batch_size: int = 50,
    device="cpu",
    num_workers: int = 0,
    cache: bool = True,
    progress: bool = True,
    distributed: str = "auto",
    amp: bool = False,
):
    """Mean and covariance (``FeatureStats``) of the features of ``folder``; arguments as :func:`folder_features`.

    Under ``torchrun`` (or any initialized process group) rank r takes files r, r + W, r + 2W, … and the
    statistics are merged with ``FeatureStats.all_reduce()``: every rank returns the statistics of the whole
    folder, equal to a single process's up to summation order.
    """
    from .stats import FeatureStats

    device = _device(device)
    files = folder_files(folder)
    group = _process_group(device, distributed)
    if group is not None:
        rank, world = group
        files = files[rank::world]
        progress = progress and rank == 0
    result = extract_folder(folder, extractor, layer, resize, batch_size, device, num_workers, cache, progress,
                            files=files, amp=amp, require_images=group is None)
    # The dimension is given up front: a rank whose shard is empty must still join the all-reduce with it.
    stats = FeatureStats(dim=_feature_dim(result))
    if result.n:
        stats.update(result.features)
    if group is not None:
        stats.all_reduce()
        if stats.count == 0:
            raise ValueError(f"{folder}: none of the image files could be read; check the files")
    return stats


# ----------------------------------------------------------------------------------------------------
# Metrics on folders
# ----------------------------------------------------------------------------------------------------

@dataclass
class MetricResult:
    """One metric value with what it needs to be read correctly: N of each side, extractor, resize, weights."""

    metric: str
    value: float
    n: int | None
    n_reference: int | None = None
    std: float | None = None
    sources: tuple[str, ...] = ()
    extractor: str = ""
    resize: str = ""
    weights: str = "pretrained"
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"metric": self.metric, "value": self.value, "std": self.std, "n": self.n,
                "n_reference": self.n_reference, "sources": list(self.sources), "extractor": self.extractor,
                "resize": self.resize, "weights": self.weights, **self.details}

    def record(self, db, tag: str = "", checkpoint: str = "") -> int:
        """Append this result to the SQLite results history ``db`` (see :mod:`.history`)."""
        from .history import record

        return record(db, self.metric, self.value, self.n, std=self.std, n_reference=self.n_reference,
                      folders=" | ".join(self.sources), extractor=self.extractor, resize=self.resize,
                      weights=self.weights, tag=tag, checkpoint=checkpoint,
                      extra={k: v for k, v in self.details.items() if k != "per_sample"})


def is_stats_file(path) -> bool:
    return Path(path).suffix.lower() == ".npz"


def _side_stats(path, layer, resize, options) -> tuple[np.ndarray, np.ndarray, int | None]:
    """(mu, sigma, N) of a folder, or of an .npz statistics file (N unknown for pytorch-fid's files)."""
    if is_stats_file(path):
        mu, sigma = read_stats_npz(path)
        expected = {name: d for d, name in INCEPTION_LAYERS.items()}[layer]
        if mu.shape != (expected,):
            raise ValueError(f"{path}: statistics of dimension {mu.shape[-1] if mu.ndim else 0}, but the layer "
                             f"{layer} has {expected}; pass --dims {mu.shape[-1] if mu.ndim else '?'} or "
                             "recompute the statistics with this layer")
        with np.load(path, allow_pickle=False) as f:
            n = int(f["n"]) if "n" in f.files else None
        return mu, sigma, n
    stats = folder_stats(path, "inception-fid", layer, resize, **options)
    mu, sigma = stats.compute()
    return mu, sigma, stats.count


def fid_folders(
    path_a,
    path_b,
    feature="pool3",
    resize: str = "clean",
    batch_size: int = 50,
    device="cpu",
    num_workers: int = 0,
    cache: bool = True,
    progress: bool = True,
    amp: bool = False,
) -> MetricResult:
    """FID (Heusel et al. 2017) between two folders of images; either side may be an .npz statistics file.

    ``feature``: pool3/2048 (the standard), 768, 192, 64. ``resize``: ``"clean"`` or ``"pytorch-fid"``.
    Statistics files from pytorch-fid and clean-fid load as they are; they must come from the same layer (and
    should come from the same resize mode and weights — a file cannot tell, so that is on you).
    """
    from .frechet import frechet_distance

    layer = inception_layer(feature)
    if resize not in RESIZE_MODES:
        raise ValueError(f"resize={resize!r}: use one of {RESIZE_MODES}")
    options = dict(batch_size=batch_size, device=device, num_workers=num_workers, cache=cache,
                   progress=progress, amp=amp)
    mu_a, sigma_a, n_a = _side_stats(path_a, layer, resize, options)
    mu_b, sigma_b, n_b = _side_stats(path_b, layer, resize, options)
    value = frechet_distance(mu_a, sigma_a, mu_b, sigma_b)
    return MetricResult("fid", value, n_a, n_b, None, (str(path_a), str(path_b)), f"inception-fid/{layer}",
                        resize, weights_label(), {"amp": amp} if amp else {})


def kid_folders(
    dir_a,
    dir_b,
    feature="pool3",
    resize: str = "clean",
    num_subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
    batch_size: int = 50,
    device="cpu",
    num_workers: int = 0,
    cache: bool = True,
    progress: bool = True,
) -> MetricResult:
    """KID (Bińkowski et al. 2018) between two folders: mean and std of the unbiased MMD² over subsets.

    ``subset_size`` is capped at the smaller folder's N (clean-fid's choice); the size used is reported.
    """
    from .kid import kid

    for path in (dir_a, dir_b):
        if is_stats_file(path):
            raise ValueError(f"{path}: KID needs the features themselves, not mean and covariance; pass the folder")
    layer = inception_layer(feature)
    a = extract_folder(dir_a, "inception-fid", layer, resize, batch_size, device, num_workers, cache, progress)
    b = extract_folder(dir_b, "inception-fid", layer, resize, batch_size, device, num_workers, cache, progress)
    size = min(subset_size, a.n, b.n)
    mean, std = kid(a.features, b.features, num_subsets=num_subsets, subset_size=size, seed=seed)
    return MetricResult("kid", float(mean), a.n, b.n, float(std), (str(dir_a), str(dir_b)),
                        f"inception-fid/{layer}", resize, weights_label(),
                        {"num_subsets": num_subsets, "subset_size": size, "seed": seed})


def read_captions(captions_csv, folder) -> dict[str, str]:
    """``{relative file name: caption}`` from a CSV with columns ``file,caption`` (names relative to ``folder``)."""
    import csv

    path = Path(captions_csv)
    if not path.is_file():
        raise ValueError(f"{path}: no such captions file; pass a CSV with columns file,caption")
    with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: spreadsheets often write a BOM
        reader = csv.DictReader(f)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        if "file" not in columns or "caption" not in columns:
            raise ValueError(f"{path}: columns {columns}; the captions CSV needs a header with 'file' and 'caption'")
        reader.fieldnames = columns
        captions: dict[str, str] = {}
        for line, row in enumerate(reader, start=2):
            name = Path((row.get("file") or "").strip()).as_posix()
            caption = (row.get("caption") or "").strip()
            if not name or name == ".":
                raise ValueError(f"{path}, line {line}: empty file name")
            if not caption:
                raise ValueError(f"{path}, line {line}: empty caption for {name}")
            if Path(name).is_absolute():
                try:
                    name = Path(name).relative_to(Path(folder).resolve()).as_posix()
                except ValueError:
                    raise ValueError(f"{path}, line {line}: {name} is not inside {folder}; use names relative "
                                     "to the folder") from None
            if name in captions:
                raise ValueError(f"{path}, line {line}: {name} has a second caption; give each image one")
            captions[name] = caption
    if not captions:
        raise ValueError(f"{path}: no captions; add rows file,caption")
    return captions


def clip_score_folder(
    folder,
    captions_csv,
    convention: str = "hessel",
    prefix: str | None = None,
    batch_size: int = 50,
    device="cpu",
    num_workers: int = 0,
    cache: bool = True,
    progress: bool = True,
) -> MetricResult:
    """CLIPScore (Hessel et al. 2021) of the images of ``folder`` against their captions (CSV ``file,caption``).

    Every captioned file must exist; images without a caption are left out with a warning. ``convention`` and
    ``prefix`` as in :func:`~percept_lib.metrics.clip_score.clip_score`. Per-file values are in
    ``result.details["per_sample"]``.
    """
    from ..extractors import get_extractor
    from .clip_score import _check_convention, clip_score_from_embeddings, embed_texts, with_prefix

    _check_convention(convention)
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
    images = extract_folder(root, "clip-vit-b-32", "embedding", "", batch_size, device, num_workers, cache,
                            progress, files=[available[n] for n in names])
    net = get_extractor("clip-vit-b-32").to(_device(device))
    with torch.no_grad():
        texts = embed_texts(net, with_prefix([captions[n] for n in images.names], prefix), batch_size)
    result = clip_score_from_embeddings(torch.from_numpy(images.features), texts.cpu(), convention)
    per_sample = dict(zip(images.names, result.per_sample.tolist()))
    return MetricResult("clip-score", result.score, images.n, None, None, (str(root), str(captions_csv)),
                        "clip-vit-b-32/embedding", "", images.weights,
                        {"convention": convention, "prefix": prefix or "", "per_sample": per_sample})
