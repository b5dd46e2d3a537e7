"""Streaming metrics in the torchmetrics style: ``update(batch)`` as images arrive, ``compute()`` at the end.

A training loop or a sampler produces images batch by batch; holding them all to compute FID at the end is
neither possible (50 000 images) nor necessary: FID needs only the mean and covariance of the features
(:class:`~percept_lib.metrics.stats.FeatureStats`), CLIPScore only one cosine per pair. KID is the exception —
its unbiased MMD² estimate needs the features themselves — so its accumulator keeps them (2048 floats each).

Every metric is an ``nn.Module`` on one small base, :class:`StreamingMetric` (torchmetrics' ``Metric`` in
miniature): states are declared with ``add_state`` so that ``reset()``, ``merge(other)`` and ``.to(device)``
treat them alike; shards computed in different processes or on different days combine into exactly the
statistics of the union. ``higher_is_better`` is a class attribute: the one place that says which way a
metric points (:data:`HIGHER_IS_BETTER` collects it by metric name for the history and the gallery).
The backbone is never a submodule: ``.to()`` moves the metric's state and the metric asks
``get_extractor(..., device=)`` for the copy on its device, so no other user of the shared extractor moves.

Metric definitions: FID, Heusel et al. 2017; KID, Bińkowski et al. 2018; CLIPScore, Hessel et al. 2021 (see
the modules :mod:`.frechet`, :mod:`.kid`, :mod:`.clip_score`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .. import weights as W
from ..extractors.inception import inception_layer
from ..images import check_resize_mode, validate_images
from .clip_score import (
    CLIPScoreResult, check_convention, clip_score_from_cosines, cosine_similarities, embed_texts, with_prefix,
)
from .stats import FeatureStats, read_stats_npz


class StreamingMetric(nn.Module):
    """Base of the streaming metrics: declared states, ``update`` / ``compute`` / ``reset`` / ``merge``.

    Subclasses declare each state once with :meth:`add_state` (a list, extended by merge, or a
    :class:`FeatureStats`, merged exactly), name the settings that must agree for a merge in ``config``, and
    write ``update`` and ``compute``. States stay float64 whatever ``.to(dtype)`` asks: they are statistics.
    """

    higher_is_better: bool | None = None
    is_differentiable = False
    config: tuple[str, ...] = ()

    def __init__(self, device=None):
        super().__init__()
        self._state_names: list[str] = []
        # An empty buffer that follows .to(): it tells the metric (and its extractor) where to run.
        self.register_buffer("_anchor", torch.zeros(0), persistent=False)
        if device is not None:
            self.to(device)

    @property
    def device(self) -> torch.device:
        return self._anchor.device

    def add_state(self, name: str, default) -> None:
        if not isinstance(default, (list, FeatureStats)):
            raise ValueError(f"state {name}: use a list or a FeatureStats")
        self._state_names.append(name)
        setattr(self, name, default)

    def reset(self) -> None:
        for name in self._state_names:
            state = getattr(self, name)
            if isinstance(state, FeatureStats):
                state.reset()
            else:
                setattr(self, name, [])

    def merge(self, other: "StreamingMetric") -> "StreamingMetric":
        """Add the data of ``other`` (built with the same settings) to this metric, exactly. Returns self."""
        if type(other) is not type(self):
            raise ValueError(f"cannot merge a {type(other).__name__} into a {type(self).__name__}")
        differ = [f for f in self.config if getattr(self, f) != getattr(other, f)]
        if differ:
            raise ValueError("cannot merge accumulators built differently: " + ", ".join(
                f"{f} {getattr(self, f)!r} vs {getattr(other, f)!r}" for f in differ)
                + "; build both with the same settings")
        for name in self._state_names:
            mine, theirs = getattr(self, name), getattr(other, name)
            if isinstance(mine, FeatureStats):
                mine.merge(theirs)
            else:
                mine.extend(t.to(self.device) for t in theirs)
        return self

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        for name in self._state_names:
            state = getattr(self, name)
            if isinstance(state, FeatureStats):
                state.to(self.device)
            else:
                setattr(self, name, [t.to(self.device) for t in state])
        return self

    def update(self, *args, **kwargs) -> None:
        raise NotImplementedError

    def compute(self):
        raise NotImplementedError

    def forward(self, *args, **kwargs):
        self.update(*args, **kwargs)


def _check_real(real) -> bool:
    if not isinstance(real, bool):
        raise ValueError(f"real={real!r}: pass real=True for reference images, real=False for generated ones")
    return real


def _load_real_stats(real_stats):
    """(mu, sigma) from a FeatureStats, a (mu, sigma) pair or an .npz file (ours, pytorch-fid's, clean-fid's)."""
    if isinstance(real_stats, FeatureStats):
        return real_stats.compute()
    if isinstance(real_stats, (str, Path)):
        data = read_stats_npz(real_stats)
        return data["mu"], data["sigma"]
    if isinstance(real_stats, (tuple, list)) and len(real_stats) == 2:
        return tuple(real_stats)
    raise ValueError("real_stats: pass a FeatureStats, a (mu, sigma) pair or the path of an .npz file "
                     "with arrays 'mu' and 'sigma'")


class _InceptionMetric(StreamingMetric):
    """What FID and KID share: an Inception tap and resize mode, and the features of a batch."""

    config = ("layer", "resize")

    def __init__(self, feature, resize: str, device=None):
        super().__init__(device)
        self.layer = inception_layer(feature)
        self.resize = check_resize_mode(resize)

    @property
    def extractor(self):
        from ..extractors import get_extractor

        return get_extractor("inception-fid", device=self.device, layers=[self.layer], resize=self.resize)

    @torch.no_grad()
    def vectors(self, images: torch.Tensor) -> torch.Tensor:
        """N×d float64 features of a canonical batch, on the metric's device."""
        net = self.extractor
        x = net.preprocess(validate_images(images).to(self.device))
        return net.embed(x, self.layer).double()

    @property
    def weights_label(self) -> str:
        return W.label(self.extractor.pretrained)


class FID(_InceptionMetric):
    """Fréchet Inception Distance between the images passed with ``real=True`` and those with ``real=False``.

    ``feature``: ``"pool3"``/2048 (the standard), 768, 192 or 64. ``resize``: ``"clean"`` (clean-fid,
    Parmar et al. 2022) or ``"pytorch-fid"`` (bilinear). ``real_stats``: precomputed reference statistics
    (FeatureStats, (mu, sigma) or .npz path); they survive :meth:`reset`, as torchmetrics'
    ``reset_real_features=False`` does.

    >>> fid = FID(feature=64)                                    # doctest: +SKIP
    >>> fid.update(real_images, real=True); fid.update(fakes, real=False)   # doctest: +SKIP
    >>> fid.compute()                                            # doctest: +SKIP
    """

    higher_is_better = False

    def __init__(self, feature="pool3", resize: str = "clean", real_stats=None, device=None):
        super().__init__(feature, resize, device)
        self._fixed_real = _load_real_stats(real_stats) if real_stats is not None else None
        self.add_state("real", FeatureStats())
        self.add_state("fake", FeatureStats())

    def update(self, images: torch.Tensor, real: bool) -> None:
        if _check_real(real) and self._fixed_real is not None:
            raise ValueError("the real statistics were given as real_stats; update with generated images only "
                             "(real=False), or build FID() without real_stats")
        (self.real if real else self.fake).update(self.vectors(images).cpu().numpy())

    def compute(self) -> float:
        from .frechet import frechet_distance

        mu_real, sigma_real = self._fixed_real if self._fixed_real is not None else self.real.compute()
        mu_fake, sigma_fake = self.fake.compute()
        return frechet_distance(mu_real, sigma_real, mu_fake, sigma_fake)

    def merge(self, other: "FID") -> "FID":
        if isinstance(other, FID) and (self._fixed_real is None) != (other._fixed_real is None):
            raise ValueError("cannot merge an FID with fixed real_stats into one without; build both alike")
        return super().merge(other)


class KID(_InceptionMetric):
    """Kernel Inception Distance (unbiased MMD², cubic polynomial kernel) as (mean, std) over random subsets.

    Keeps the features. ``subset_size`` larger than a side is reduced to that side's size, as clean-fid does
    (torch-fidelity and torchmetrics raise instead).
    """

    higher_is_better = False
    config = ("layer", "resize", "num_subsets", "subset_size", "seed")

    def __init__(self, feature="pool3", resize: str = "clean", num_subsets: int = 100, subset_size: int = 1000,
                 seed: int = 0, device=None):
        super().__init__(feature, resize, device)
        self.num_subsets, self.subset_size, self.seed = num_subsets, subset_size, seed
        self.add_state("real", [])
        self.add_state("fake", [])

    def update(self, images: torch.Tensor, real: bool) -> None:
        (self.real if _check_real(real) else self.fake).append(self.vectors(images))

    def features(self) -> tuple[np.ndarray, np.ndarray]:
        for side, parts in (("real", self.real), ("generated", self.fake)):
            if not parts:
                raise ValueError(f"no {side} images yet; call update(images, real={side == 'real'}) first")
        return torch.cat(self.real).cpu().numpy(), torch.cat(self.fake).cpu().numpy()

    def compute(self) -> tuple[float, float]:
        from .kid import kid

        real, fake = self.features()
        return kid(real, fake, num_subsets=self.num_subsets, subset_size=self.subset_size, seed=self.seed)


class CLIPScore(StreamingMetric):
    """CLIPScore (Hessel et al. 2021) accumulated over image–caption batches; keeps one cosine per pair.

    ``convention``: ``"hessel"`` or ``"torchmetrics"`` (see :mod:`.clip_score`); ``prefix``: prepended to every
    caption (:data:`~percept_lib.metrics.clip_score.HESSEL_PREFIX` reproduces the paper). ``extractor``: a
    CLIP extractor of your own (used where it is; default: the shared one on the metric's device).
    """

    higher_is_better = True
    config = ("convention", "prefix")

    def __init__(self, convention: str = "hessel", prefix: str | None = None, extractor=None, device=None):
        super().__init__(device)
        self.convention = check_convention(convention)
        self.prefix = prefix
        self._own_extractor = [extractor] if extractor is not None else []  # a list: never a submodule
        self.add_state("cosines", [])

    @property
    def extractor(self):
        if self._own_extractor:
            return self._own_extractor[0]
        from ..extractors import get_extractor

        return get_extractor("clip-vit-b-32", device=self.device)

    @torch.no_grad()
    def update(self, images: torch.Tensor, texts: Sequence[str]) -> None:
        images = validate_images(images)
        texts = with_prefix(texts, self.prefix)
        if len(texts) != images.shape[0]:
            raise ValueError(f"{images.shape[0]} images but {len(texts)} captions; pass one caption per image")
        net = self.extractor
        device = next(net.parameters()).device
        image_embeddings = net(images.to(device))["embedding"]
        cosines = cosine_similarities(image_embeddings, embed_texts(net, texts))
        self.cosines.append(cosines.to(self.device))

    def compute(self) -> CLIPScoreResult:
        if not self.cosines:
            raise ValueError("no image–caption pairs yet; call update(images, texts) first")
        return clip_score_from_cosines(torch.cat(self.cosines).cpu(), self.convention)

    @property
    def weights_label(self) -> str:
        return W.label(getattr(self.extractor, "pretrained", True))


# Which way each metric points, by the name results and the history use (one source: the classes above and
# the pair metrics' modules). True: larger is better.
HIGHER_IS_BETTER = {
    "fid": FID.higher_is_better, "kid": KID.higher_is_better, "clip-score": CLIPScore.higher_is_better,
    "lpips-diversity": True, "lpips": False, "dists": False, "psnr": True, "ssim": True, "ms-ssim": True,
    # Generative evaluation: fidelity and diversity (Kynkäänniemi et al. 2019; Naeem et al. 2020), Inception
    # Score, CMMD (an MMD², like KID).
    "precision": True, "recall": True, "density": True, "coverage": True, "is": True, "cmmd": False,
}


def higher_is_better(metric: str) -> bool:
    """Polarity of a result's metric name, history names included (``pairs/psnr``, ``pairs/lpips-alex``)."""
    name = metric.split("/")[-1]
    if name not in HIGHER_IS_BETTER:
        name = name.split("-")[0]
    if name not in HIGHER_IS_BETTER:
        raise ValueError(f"metric {metric!r}: polarity unknown; known: {', '.join(HIGHER_IS_BETTER)}")
    return HIGHER_IS_BETTER[name]
