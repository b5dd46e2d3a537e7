"""The VGG perceptual ("feature reconstruction") loss of Johnson, Alahi & Fei-Fei (ECCV 2016).

    L(x, y) = Σ_l  w_l · mean_{c,h,w} dist(φ_l(x), φ_l(y)),     dist = |·| (``"l1"``) or (·)² (``"l2"``)

φ_l are VGG feature maps on ImageNet-normalized input (normalized inside; pass [0, 1] images). The
per-image value is averaged over the batch by ``reduction="mean"``, which equals the mean over every
element of the batch — what ``F.l1_loss`` / ``F.mse_loss`` compute on the raw feature tensors.

Two presets reproduce formulations found in the wild exactly (tests rebuild them from torchvision layers):

* :meth:`PerceptualLoss.seed001` — ``vgg16(...).features[:23]`` (through **relu4_3**, often called
  "conv4_3"), mean |φ(x) − φ(y)|.
* :meth:`PerceptualLoss.seed002` — ``vgg19(...).features`` cut into ``[0:4] [4:9] [9:16] [16:23]``, i.e. taps
  **relu1_2, relu2_2, relu3_3, relu4_2** of VGG19, Σ w_i · MSE with w = (1.0, 0.75, 0.5, 0.25). The original
  code's comments call these conv1_2 / conv2_2 / conv3_3 / conv4_3 — VGG16's indices; in VGG19, whose
  block 3 has a fourth convolution (conv3_4 at index 16), the last slice ends at relu4_2. We name the true
  layers.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch

from ..extractors import get_extractor
from ..extractors.base import FeatureExtractor
from ..images import validate_pair
from .base import PairwiseModule
from .lpips import normalize_channels

DISTANCES = ("l1", "l2")


class PerceptualLoss(PairwiseModule):
    """Weighted feature distance on VGG16 / VGG19 taps (named ``relu2_2`` etc., see extractors)."""

    def __init__(
        self,
        extractor: str = "vgg16",
        layers: Sequence[str] = ("relu2_2",),
        layer_weights: Sequence[float] | None = None,
        distance: str = "l1",
        normalize_features: bool = False,
        reduction: str = "mean",
        weights: str | None = None,
    ):
        super().__init__(reduction)
        if extractor not in ("vgg16", "vgg19"):
            raise ValueError(f"extractor={extractor!r}: use 'vgg16' or 'vgg19'")
        if distance not in DISTANCES:
            raise ValueError(f"distance={distance!r}: use one of {DISTANCES}")
        layers = tuple(layers)
        if len(set(layers)) != len(layers) or not layers:
            raise ValueError(f"layers={layers}: give each layer once, at least one")
        layer_weights = tuple(float(w) for w in layer_weights) if layer_weights is not None else (1.0,) * len(layers)
        if len(layer_weights) != len(layers):
            raise ValueError(f"{len(layer_weights)} layer_weights for {len(layers)} layers; give one weight per layer")
        options = {"layers": layers}
        if weights is not None:
            options["weights"] = weights
        self.extractor: FeatureExtractor = get_extractor(extractor, **options)
        self.layers, self.layer_weights = layers, dict(zip(layers, layer_weights))
        self.distance, self.normalize_features = distance, normalize_features
        self.pretrained = self.extractor.pretrained

    @classmethod
    def seed001(cls, reduction: str = "mean", **kw) -> "PerceptualLoss":
        """VGG16 through relu4_3 ("conv4_3"), L1 on the features."""
        return cls("vgg16", layers=("relu4_3",), distance="l1", reduction=reduction, **kw)

    johnson = seed001

    @classmethod
    def seed002(cls, reduction: str = "mean", **kw) -> "PerceptualLoss":
        """VGG19 at relu1_2, relu2_2, relu3_3, relu4_2 with weights (1.0, 0.75, 0.5, 0.25), MSE."""
        return cls("vgg19", layers=("relu1_2", "relu2_2", "relu3_3", "relu4_2"),
                   layer_weights=(1.0, 0.75, 0.5, 0.25), distance="l2", reduction=reduction, **kw)

    def _layer_terms(self, x: torch.Tensor, y: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        n = x.shape[0]
        features = self.extractor(torch.cat([x, y]))
        out = OrderedDict()
        for layer in self.layers:
            f = features[layer]
            if self.normalize_features:
                f = normalize_channels(f)
            diff = f[:n] - f[n:]
            d = diff.abs() if self.distance == "l1" else diff ** 2
            out[layer] = self.layer_weights[layer] * d.flatten(1).mean(1)
        return out

    def per_layer(self, x: torch.Tensor, y: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        """Layer → (N,) weighted contribution; the contributions sum to the per-image loss."""
        x, y = validate_pair(x, y)
        self._follow(x)
        return self._layer_terms(x, y)

    def compute(self, x, y):
        return sum(self._layer_terms(x, y).values())

    def extra_repr(self) -> str:
        return (f"layers={self.layers}, weights={tuple(self.layer_weights.values())}, distance={self.distance!r}, "
                f"normalize_features={self.normalize_features}, reduction={self.reduction!r}")


class ContentLoss(PerceptualLoss):
    """Gatys et al.'s content loss: MSE of one VGG19 layer's features (default relu4_2)."""

    def __init__(self, layer: str = "relu4_2", extractor: str = "vgg19", reduction: str = "mean",
                 weights: str | None = None):
        super().__init__(extractor, layers=(layer,), distance="l2", reduction=reduction, weights=weights)
