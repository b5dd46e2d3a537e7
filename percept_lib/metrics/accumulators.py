"""Streaming metrics in the torchmetrics style: ``update(batch)`` as images arrive, ``compute()`` at the end.

A training loop or a sampler produces images batch by batch; holding them all to compute FID at the end is
neither possible (50 000 images) nor necessary: FID needs only the mean and covariance of the features
(:class:`~percept_lib.metrics.stats.FeatureStats`), CLIPScore only one cosine per pair. KID is the exception —
its unbiased MMD² estimate needs the features themselves — so its accumulator keeps them (2048 floats each).

Every accumulator also has ``reset()`` and ``merge(other)``: shards computed in different processes or on
different days combine into exactly the statistics of the union.

Metric definitions: FID, Heusel et al. 2017; KID, Bińkowski et al. 2018; CLIPScore, Hessel et al. 2021 (see
the modules :mod:`.frechet`, :mod:`.kid`, :mod:`.clip_score`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .. import weights as W
from .clip_score import CLIPScoreResult, clip_score_from_cosines, cosine_similarities, embed_texts, with_prefix

# pytorch-fid's and torchmetrics' names for the Inception taps are their dimensions.
INCEPTION_LAYERS = {64: "block64", 192: "block192", 768: "block768", 2048: "pool3"}


def inception_layer(feature) -> str:
    """The FID-Inception tap for ``feature``: a layer name (``"pool3"``) or its dimension (2048, 768, 192, 64)."""
    if isinstance(feature, str) and feature in INCEPTION_LAYERS.values():
        return feature
    try:
        return INCEPTION_LAYERS[int(feature)]
    except (TypeError, ValueError, KeyError):
        choices = ", ".join(f"{d} ({name})" for d, name in INCEPTION_LAYERS.items())
        raise ValueError(f"feature={feature!r}: use an Inception layer name or dimension: {choices}") from None


def _check_resize(resize: str) -> str:
    from ..images import RESIZE_MODES

    if resize not in RESIZE_MODES:
        raise ValueError(f"resize={resize!r}: use 'clean' (clean-fid, PIL bicubic) or 'pytorch-fid' (bilinear)")
    return resize


def weights_label() -> str:
    """What results report about the weights: ``"pretrained"`` or ``"random weights (illustrative)"``."""
    return "pretrained" if W.weights_mode() == "pretrained" else "random weights (illustrative)"


def inception_extractor(layer: str, resize: str, device=None):
    """The shared FID-Inception extractor for one tap and resize mode, moved to ``device`` if given."""
    from ..extractors import get_extractor

    extractor = get_extractor("inception-fid", layers=[layer], resize=resize)
    return extractor.to(device) if device is not None else extractor


@torch.no_grad()
def inception_vectors(extractor, layer: str, images: torch.Tensor) -> np.ndarray:
    """N×d float64 features of a canonical batch: the tap, spatially averaged for the 64/192/768 blocks."""
    from ..extractors import feature_vectors

    device = next(extractor.parameters()).device
    return feature_vectors(extractor(images.to(device))[layer]).double().cpu().numpy()


def _same_config(a, b, fields: Sequence[str]) -> None:
    if type(a) is not type(b):
        raise ValueError(f"cannot merge a {type(b).__name__} into a {type(a).__name__}")
    differ = [f for f in fields if getattr(a, f) != getattr(b, f)]
    if differ:
        raise ValueError("cannot merge accumulators built differently: " + ", ".join(
            f"{f} {getattr(a, f)!r} vs {getattr(b, f)!r}" for f in differ) + "; build both with the same settings")


def _check_real(real) -> bool:
    if not isinstance(real, bool):
        raise ValueError(f"real={real!r}: pass real=True for reference images, real=False for generated ones")
    return real


def _load_real_stats(real_stats):
    """(mu, sigma) from a FeatureStats, a (mu, sigma) pair or an .npz file (ours, pytorch-fid's, clean-fid's)."""
    from .stats import FeatureStats

    if isinstance(real_stats, FeatureStats):
        return real_stats.compute()
    if isinstance(real_stats, (str, Path)):
        return read_stats_npz(real_stats)
    if isinstance(real_stats, (tuple, list)) and len(real_stats) == 2:
        return tuple(real_stats)
    raise ValueError("real_stats: pass a FeatureStats, a (mu, sigma) pair or the path of an .npz file "
                     "with arrays 'mu' and 'sigma'")


def read_stats_npz(path) -> tuple[np.ndarray, np.ndarray]:
    """``mu`` and ``sigma`` of an .npz statistics file (written by us, pytorch-fid or clean-fid)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such statistics file")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in ("mu", "sigma") if k not in f.files]
            if missing:
                raise ValueError(f"{path}: no array {missing[0]!r} (found {f.files}); a statistics file holds "
                                 "'mu' and 'sigma' (python -m percept_lib stats DIR -o FILE.npz writes one)")
            return np.asarray(f["mu"], dtype=np.float64), np.asarray(f["sigma"], dtype=np.float64)
    except ValueError:
        raise
    except Exception as err:  # zip/pickle errors: a truncated or foreign file
        raise ValueError(f"{path}: not a readable .npz statistics file ({type(err).__name__}: {err})") from None


class FID:
    """Fréchet Inception Distance between the images passed with ``real=True`` and those with ``real=False``.

    ``feature``: ``"pool3"``/2048 (the standard), 768, 192 or 64. ``resize``: ``"clean"`` (clean-fid,
    Parmar et al. 2022) or ``"pytorch-fid"`` (bilinear). ``real_stats``: precomputed reference statistics
    (FeatureStats, (mu, sigma) or .npz path); they survive :meth:`reset`, as torchmetrics'
    ``reset_real_features=False`` does.
    """

    def __init__(self, feature="pool3", resize: str = "clean", real_stats=None, device=None):
        from .stats import FeatureStats

        self.layer = inception_layer(feature)
        self.resize = _check_resize(resize)
        self.device = device
        self._fixed_real = _load_real_stats(real_stats) if real_stats is not None else None
        self.real = FeatureStats()
        self.fake = FeatureStats()
        self._extractor = None

    @property
    def extractor(self):
        if self._extractor is None:
            self._extractor = inception_extractor(self.layer, self.resize, self.device)
        return self._extractor

    def update(self, images: torch.Tensor, real: bool) -> None:
        if _check_real(real) and self._fixed_real is not None:
            raise ValueError("the real statistics were given as real_stats; update with generated images only "
                             "(real=False), or build FID() without real_stats")
        (self.real if real else self.fake).update(inception_vectors(self.extractor, self.layer, images))

    def compute(self) -> float:
        from .frechet import frechet_distance

        mu_real, sigma_real = self._fixed_real if self._fixed_real is not None else self.real.compute()
        mu_fake, sigma_fake = self.fake.compute()
        return frechet_distance(mu_real, sigma_real, mu_fake, sigma_fake)

    def reset(self) -> None:
        self.real.reset()
        self.fake.reset()

    def merge(self, other: "FID") -> "FID":
        _same_config(self, other, ("layer", "resize"))
        if (self._fixed_real is None) != (other._fixed_real is None):
            raise ValueError("cannot merge an FID with fixed real_stats into one without; build both alike")
        self.real.merge(other.real)
        self.fake.merge(other.fake)
        return self

    @property
    def weights_label(self) -> str:
        return weights_label()


class KID:
    """Kernel Inception Distance (unbiased MMD², cubic polynomial kernel) as (mean, std) over random subsets.

    Keeps the features. ``subset_size`` larger than a side is reduced to that side's size, as clean-fid does
    (torch-fidelity and torchmetrics raise instead).
    """

    def __init__(self, feature="pool3", resize: str = "clean", num_subsets: int = 100, subset_size: int = 1000,
                 seed: int = 0, device=None):
        self.layer = inception_layer(feature)
        self.resize = _check_resize(resize)
        self.device = device
        self.num_subsets, self.subset_size, self.seed = num_subsets, subset_size, seed
        self.real: list[np.ndarray] = []
        self.fake: list[np.ndarray] = []
        self._extractor = None

    @property
    def extractor(self):
        if self._extractor is None:
            self._extractor = inception_extractor(self.layer, self.resize, self.device)
        return self._extractor

    def update(self, images: torch.Tensor, real: bool) -> None:
        (self.real if _check_real(real) else self.fake).append(inception_vectors(self.extractor, self.layer, images))

    def features(self) -> tuple[np.ndarray, np.ndarray]:
        for side, parts in (("real", self.real), ("generated", self.fake)):
            if not parts:
                raise ValueError(f"no {side} images yet; call update(images, real={side == 'real'}) first")
        return np.concatenate(self.real), np.concatenate(self.fake)

    def compute(self) -> tuple[float, float]:
        from .kid import kid

        real, fake = self.features()
        return kid(real, fake, num_subsets=self.num_subsets, subset_size=self.subset_size, seed=self.seed)

    def reset(self) -> None:
        self.real, self.fake = [], []

    def merge(self, other: "KID") -> "KID":
        _same_config(self, other, ("layer", "resize", "num_subsets", "subset_size", "seed"))
        self.real += other.real
        self.fake += other.fake
        return self

    @property
    def weights_label(self) -> str:
        return weights_label()


class CLIPScore:
    """CLIPScore (Hessel et al. 2021) accumulated over image–caption batches; keeps one cosine per pair.

    ``convention``: ``"hessel"`` or ``"torchmetrics"`` (see :mod:`.clip_score`); ``prefix``: prepended to every
    caption (:data:`~percept_lib.metrics.clip_score.HESSEL_PREFIX` reproduces the paper).
    """

    def __init__(self, convention: str = "hessel", prefix: str | None = None, extractor=None, device=None):
        from .clip_score import _check_convention

        self.convention = _check_convention(convention)
        self.prefix = prefix
        self.device = device
        self._extractor = extractor
        self.cosines: list[torch.Tensor] = []

    @property
    def extractor(self):
        if self._extractor is None:
            from .clip_score import default_clip_extractor

            self._extractor = default_clip_extractor()
            if self.device is not None:
                self._extractor.to(self.device)
        return self._extractor

    @torch.no_grad()
    def update(self, images: torch.Tensor, texts: Sequence[str]) -> None:
        from ..images import validate_images

        images = validate_images(images)
        texts = with_prefix(texts, self.prefix)
        if len(texts) != images.shape[0]:
            raise ValueError(f"{images.shape[0]} images but {len(texts)} captions; pass one caption per image")
        device = next(self.extractor.parameters()).device
        image_embeddings = self.extractor(images.to(device))["embedding"]
        self.cosines.append(cosine_similarities(image_embeddings, embed_texts(self.extractor, texts)).cpu())

    def compute(self) -> CLIPScoreResult:
        if not self.cosines:
            raise ValueError("no image–caption pairs yet; call update(images, texts) first")
        return clip_score_from_cosines(torch.cat(self.cosines), self.convention)

    def reset(self) -> None:
        self.cosines = []

    def merge(self, other: "CLIPScore") -> "CLIPScore":
        _same_config(self, other, ("convention", "prefix"))
        self.cosines += other.cosines
        return self

    @property
    def weights_label(self) -> str:
        return weights_label()
