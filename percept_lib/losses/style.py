"""Style (Gram) loss and total variation — Gatys, Ecker & Bethge (CVPR 2016); Johnson et al. (ECCV 2016).

A Gram matrix keeps which feature channels fire *together*, averaged over all positions, and throws away
*where*: it is a texture statistic. Normalization used here (Johnson et al.):

    G_l = F_l F_lᵀ / (C_l · H_l · W_l),        F_l: C_l × (H_l·W_l)

so Gram matrices of images of different sizes are comparable. The style loss of a layer is the mean
squared difference of the two Gram matrices (mean over the C_l² entries), weighted and summed over layers.
Gatys et al.'s 1/(4 N_l² M_l²) constant differs from this by a per-layer factor only.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
from torch import nn

from ..extractors import get_extractor
from ..images import validate_images
from .base import check_reduction, reduce

STYLE_LAYERS_JOHNSON = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")   # on VGG16
STYLE_LAYERS_GATYS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")  # on VGG19


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """N×C×H×W features → N×C×C Gram matrices, normalized by C·H·W."""
    if features.dim() != 4:
        raise ValueError(f"features: expected N×C×H×W, got shape {tuple(features.shape)}")
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


class StyleLoss(nn.Module):
    """Σ_l w_l · mean((G_l(x) − G_l(style))²) on VGG features, per image of ``x``.

    ``forward(x, style)``: ``style`` may have another size than ``x`` (Gram matrices do not depend on it),
    and a single style image is used for every image of ``x``. Or call :meth:`set_target` once and then
    ``forward(x)``: the style's Gram matrices are computed once, not at every optimization step.
    """

    def __init__(self, layers: Sequence[str] = STYLE_LAYERS_JOHNSON, layer_weights: Sequence[float] | None = None,
                 extractor: str = "vgg16", reduction: str = "mean", weights: str | None = None):
        super().__init__()
        self.reduction = check_reduction(reduction)
        self.layers = tuple(layers)
        layer_weights = tuple(layer_weights) if layer_weights is not None else (1.0,) * len(self.layers)
        if len(layer_weights) != len(self.layers):
            raise ValueError(f"{len(layer_weights)} layer_weights for {len(self.layers)} layers")
        self.layer_weights = dict(zip(self.layers, (float(w) for w in layer_weights)))
        options = {"layers": self.layers}
        if weights is not None:
            options["weights"] = weights
        self.extractor = get_extractor(extractor, **options)
        self.pretrained = self.extractor.pretrained
        self._targets: dict[str, torch.Tensor] | None = None

    def grams(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        x = validate_images(x)
        if next(self.extractor.parameters()).device != x.device:
            self.extractor.to(x.device)
        features = self.extractor(x)
        return OrderedDict((layer, gram_matrix(features[layer])) for layer in self.layers)

    @torch.no_grad()
    def set_target(self, style: torch.Tensor) -> "StyleLoss":
        self._targets = {k: v.detach() for k, v in self.grams(style).items()}
        return self

    def per_layer(self, x: torch.Tensor, style: torch.Tensor | None = None) -> "OrderedDict[str, torch.Tensor]":
        if style is not None:
            targets = {k: v.detach() for k, v in self.grams(style).items()}
        elif self._targets is not None:
            targets = self._targets
        else:
            raise ValueError("no style: pass forward(x, style) or call set_target(style) first")
        out = OrderedDict()
        for layer, g in self.grams(x).items():
            t = targets[layer].to(g.dtype)
            if t.shape[0] not in (1, g.shape[0]):
                raise ValueError(f"{t.shape[0]} style images for {g.shape[0]} images; pass one, or one per image")
            out[layer] = self.layer_weights[layer] * ((g - t) ** 2).flatten(1).mean(1)
        return out

    def forward(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        return reduce(sum(self.per_layer(x, style).values()), self.reduction)


def total_variation(x: torch.Tensor, p: int = 2) -> torch.Tensor:
    """Anisotropic total variation per image: mean |Δ_h|^p + mean |Δ_w|^p over neighbouring pixels.

    ``p=2`` (squared differences, Johnson et al.'s and Mahendran & Vedaldi's β=2 case) is smooth; ``p=1``
    is the classic TV norm. Means, not sums, so the value does not grow with the image size.
    """
    x = validate_images(x)
    if p not in (1, 2):
        raise ValueError(f"p={p}: use 1 (absolute) or 2 (squared differences)")
    dh = (x[:, :, 1:, :] - x[:, :, :-1, :]).abs() ** p
    dw = (x[:, :, :, 1:] - x[:, :, :, :-1]).abs() ** p
    return dh.flatten(1).mean(1) + dw.flatten(1).mean(1)


class TotalVariationLoss(nn.Module):
    """:func:`total_variation` as a module with ``reduction``; ``forward(x)`` takes one batch."""

    def __init__(self, p: int = 2, reduction: str = "mean"):
        super().__init__()
        self.p, self.reduction = p, check_reduction(reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return reduce(total_variation(x, self.p), self.reduction)
