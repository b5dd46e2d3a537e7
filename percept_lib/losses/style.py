"""Style (Gram) loss and total variation — Gatys, Ecker & Bethge (CVPR 2016); Johnson et al. (ECCV 2016).

A Gram matrix records which feature channels fire *together*, summed over all positions, and forgets
*where*: it is a texture statistic. With F_l the C_l × (H_l·W_l) matrix of a layer's features,

    G_l = F_l F_lᵀ / (C_l · H_l · W_l)                      (Johnson et al.'s normalization)

so Gram matrices of images of different sizes are comparable, and a style image need not match the size
of the image being optimized. The style loss of an image is

    L_style = Σ_l w_l · mean_{i,j} (G_l(x) − G_l(s))_{ij}²   (mean over the C_l² entries).

The papers differ by per-layer constants only: Johnson et al. use the squared Frobenius norm (C_l² times
ours), Gatys et al. 1/(4 N_l² M_l²) on unnormalized Gram matrices (C_l²/4 times ours for equal sizes), the
PyTorch neural-style tutorial this mean (its Gram divides by the batch size too). Such constants only rescale
the layer weights.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch

from ..extractors import get_extractor
from ..images import validate_images
from .base import PairwiseModule, check_reduction, reduce
from .perceptual import at_least_float32, autocast_disabled, validated_features, weights_per_layer

STYLE_LAYERS_GATYS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")  # on VGG19 (the default)
STYLE_LAYERS_JOHNSON = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")          # on VGG16


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """N×C×H×W features → N×C×C Gram matrices F Fᵀ / (C·H·W), computed in at least float32.

    (Under autocast the backbone may run in bfloat16; Gram entries are sums of H·W products, and a style
    loss compares two of them, so they are accumulated and returned in float32.)
    """
    if not isinstance(features, torch.Tensor) or features.dim() != 4:
        shape = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
        raise ValueError(f"features: expected a tensor N×C×H×W, got {shape}; for one map use f.unsqueeze(0)")
    n, c, h, w = features.shape
    flat = at_least_float32(features).reshape(n, c, h * w)
    with autocast_disabled(flat.device.type):
        return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)


class StyleLoss(PairwiseModule):
    """Gram-matrix style loss of a [0, 1] batch ``x`` against a style image, per image of ``x``.

    Args:
        layers: VGG taps; default Gatys et al.'s relu1_1 … relu5_1 on VGG19 (:meth:`johnson` gives
            relu1_2, relu2_2, relu3_3, relu4_3 on VGG16).
        layer_weights: one weight per layer (default 1.0 each).
        extractor: ``"vgg19"`` (default) or ``"vgg16"``.
        reduction: over the images of ``x``.

    Two ways to give the style: ``forward(x, style)``, or :meth:`set_target` once and then ``forward(x)``
    (the style's Gram matrices are then computed once, not at every optimization step). The style may have
    another size than ``x`` — Gram matrices do not depend on it — and is either one image, used for every
    image of ``x``, or one per image.
    """

    def __init__(self, layers: Sequence[str] = STYLE_LAYERS_GATYS, layer_weights: Sequence[float] | None = None,
                 extractor: str = "vgg19", reduction: str = "mean"):
        super().__init__(reduction)
        if extractor not in ("vgg16", "vgg19"):
            raise ValueError(f"extractor={extractor!r}: use 'vgg19' or 'vgg16'")
        self.layers = tuple(layers)
        self.layer_weights = weights_per_layer(self.layers, layer_weights)
        self.extractor = get_extractor(extractor, layers=self.layers)
        self.pretrained = self.extractor.pretrained
        self._targets: "OrderedDict[str, torch.Tensor] | None" = None

    @classmethod
    def gatys(cls, reduction: str = "mean") -> "StyleLoss":
        """Gatys et al. 2016: VGG19 relu1_1, relu2_1, relu3_1, relu4_1, relu5_1, equal weights."""
        return cls(STYLE_LAYERS_GATYS, extractor="vgg19", reduction=reduction)

    @classmethod
    def johnson(cls, reduction: str = "mean") -> "StyleLoss":
        """Johnson et al. 2016: VGG16 relu1_2, relu2_2, relu3_3, relu4_3, equal weights."""
        return cls(STYLE_LAYERS_JOHNSON, extractor="vgg16", reduction=reduction)

    def grams(self, images: torch.Tensor, name: str = "images") -> "OrderedDict[str, torch.Tensor]":
        """Layer → N×C×C Gram matrices of a [0, 1] batch (validated)."""
        (images,) = self.follow(validate_images(images, name))
        features = validated_features(self.extractor, images)
        return OrderedDict((layer, gram_matrix(features[layer])) for layer in self.layers)

    @torch.no_grad()
    def set_target(self, style: torch.Tensor) -> "StyleLoss":
        """Compute and keep the style image's Gram matrices; returns ``self`` for chaining."""
        self._targets = OrderedDict((k, g.detach()) for k, g in self.grams(style, "style").items())
        return self

    def per_layer(self, x: torch.Tensor, style: torch.Tensor | None = None) -> "OrderedDict[str, torch.Tensor]":
        """Layer → (N,) weighted contribution; the contributions add up to the per-image loss."""
        if style is not None:
            targets = self.grams(style, "style")
        elif self._targets is not None:
            targets = self._targets
        else:
            raise ValueError("no style image: call forward(x, style), or set_target(style) once first")
        grams = self.grams(x, "x")
        terms = OrderedDict()
        for layer, g in grams.items():
            target = targets[layer].to(device=g.device, dtype=g.dtype)
            if target.shape[0] not in (1, g.shape[0]):
                raise ValueError(f"{target.shape[0]} style images for {g.shape[0]} images of x; "
                                 "pass one style image, or one per image")
            terms[layer] = self.layer_weights[layer] * (g - target).square().flatten(1).mean(1)
        return terms

    def forward(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        # Not PairwiseModule.forward: x and the style are validated separately, since their sizes may differ.
        return reduce(sum(self.per_layer(x, style).values()), self.reduction)

    def extra_repr(self) -> str:
        return (f"layers={self.layers}, layer_weights={tuple(self.layer_weights.values())}, "
                f"reduction={self.reduction!r}, target_set={self._targets is not None}, pretrained={self.pretrained}")


def total_variation(x: torch.Tensor, p: int = 2) -> torch.Tensor:
    """Anisotropic total variation of each image of a [0, 1] batch, shape (N,):

        TV_p(x) = mean_{c,h,w} |x[h+1, w] − x[h, w]|^p + mean_{c,h,w} |x[h, w+1] − x[h, w]|^p

    ``p=2`` (default; squared differences, the smooth regularizer used for style transfer and feature
    inversion — Mahendran & Vedaldi's β = 2, Johnson et al.) or ``p=1`` (absolute differences, the classic
    TV norm of Rudin, Osher & Fatemi, which keeps edges). Each direction is averaged over its own
    C·(H−1)·W or C·H·(W−1) differences, so the value does not grow with the image size.
    """
    x = validate_images(x)
    if p not in (1, 2):
        raise ValueError(f"p={p!r}: use 1 (absolute differences) or 2 (squared differences)")
    if x.shape[-2] < 2 or x.shape[-1] < 2:
        raise ValueError(f"images of size {tuple(x.shape[-2:])}: total variation needs at least 2×2 pixels")
    dh = x[:, :, 1:, :] - x[:, :, :-1, :]
    dw = x[:, :, :, 1:] - x[:, :, :, :-1]
    penalty = torch.abs if p == 1 else torch.square
    return penalty(dh).flatten(1).mean(1) + penalty(dw).flatten(1).mean(1)


class TotalVariationLoss(torch.nn.Module):
    """:func:`total_variation` as a module with ``reduction``; ``forward(x)`` takes one batch."""

    def __init__(self, p: int = 2, reduction: str = "mean"):
        super().__init__()
        if p not in (1, 2):
            raise ValueError(f"p={p!r}: use 1 (absolute differences) or 2 (squared differences)")
        self.p, self.reduction = p, check_reduction(reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return reduce(total_variation(x, self.p), self.reduction)

    def extra_repr(self) -> str:
        return f"p={self.p}, reduction={self.reduction!r}"
