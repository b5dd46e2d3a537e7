"""Contrastive perceptual loss for super-resolution: a triplet margin loss in feature space.

    L = loss_weight · Σ_l w_l · max(‖φ_l(SR) − φ_l(HR)‖₂ − ‖φ_l(SR) − φ_l(LR↑)‖₂ + margin, 0)

anchor = the network's output SR, positive = the high-resolution target HR, negative = the low-resolution
input upsampled to HR's size (bicubic, ``align_corners=False``, clamped to [0, 1]). The loss pulls SR
towards HR and pushes it away from the blurry upsampled input. Distances are taken between each image's
whole flattened feature map (one triplet per image) — note that feeding 4-D feature maps straight into
``nn.TripletMarginLoss`` instead measures distances along the last axis only (one triplet per feature row).

Backbones: VGG19 feature maps, or DINOv2 ViT-S/14 patch tokens (as a map) or its CLS token.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..extractors import get_extractor
from ..images import validate_images, validate_pair
from .base import check_reduction, reduce

BACKBONES = {"vgg19": "vgg19", "dinov2": "dinov2-vits14"}
DEFAULT_LAYERS = {"vgg19": ("relu2_2", "relu3_4", "relu4_4")}


def upsample_to(lr: torch.Tensor, size) -> torch.Tensor:
    """The negative: LR upsampled to the target's size (bicubic, clamped to [0, 1])."""
    return F.interpolate(lr, size=tuple(size), mode="bicubic", align_corners=False).clamp(0, 1)


class ContrastivePerceptualLoss(nn.Module):
    """``forward(sr, target, lr)`` on [0, 1] images; ``lr`` may be smaller than ``sr`` / ``target``."""

    def __init__(self, backbone: str = "vgg19", layers: Sequence[str] | None = None,
                 layer_weights: Sequence[float] | None = None, margin: float = 1.0, loss_weight: float = 1.0,
                 dinov2_tokens: str = "patch", reduction: str = "mean", weights: str | None = None):
        super().__init__()
        if backbone not in BACKBONES:
            raise ValueError(f"backbone={backbone!r}: use one of {', '.join(BACKBONES)}")
        if margin < 0:
            raise ValueError(f"margin={margin}: use a non-negative margin")
        if backbone == "dinov2":
            if dinov2_tokens not in ("patch", "cls"):
                raise ValueError(f"dinov2_tokens={dinov2_tokens!r}: use 'patch' or 'cls'")
            layers = (dinov2_tokens,) if layers is None else tuple(layers)
        layers = tuple(layers) if layers is not None else DEFAULT_LAYERS[backbone]
        layer_weights = tuple(layer_weights) if layer_weights is not None else (1.0,) * len(layers)
        if len(layer_weights) != len(layers):
            raise ValueError(f"{len(layer_weights)} layer_weights for {len(layers)} layers")
        options = {"layers": layers}
        if weights is not None:
            options["weights"] = weights
        self.extractor = get_extractor(BACKBONES[backbone], **options)
        self.backbone, self.layers = backbone, layers
        self.layer_weights = dict(zip(layers, (float(w) for w in layer_weights)))
        self.margin, self.loss_weight = float(margin), float(loss_weight)
        self.reduction = check_reduction(reduction)
        self.pretrained = self.extractor.pretrained

    def per_layer(self, sr: torch.Tensor, target: torch.Tensor, lr: torch.Tensor) -> dict[str, torch.Tensor]:
        sr, target = validate_pair(sr, target, names=("sr", "target"))
        lr = validate_images(lr, "lr")
        if lr.shape[0] != sr.shape[0]:
            raise ValueError(f"lr has {lr.shape[0]} images, sr {sr.shape[0]}: pass one LR input per SR output")
        if next(self.extractor.parameters()).device != sr.device:
            self.extractor.to(sr.device)
        negative = upsample_to(lr, target.shape[-2:]).to(sr.dtype)
        n = sr.shape[0]
        features = self.extractor(torch.cat([sr, target, negative]))  # one pass for all three
        out = {}
        for layer in self.layers:
            f = features[layer].flatten(1)
            anchor, positive, neg = f[:n], f[n:2 * n], f[2 * n:]
            term = F.triplet_margin_loss(anchor, positive, neg, margin=self.margin, p=2, reduction="none")
            out[layer] = self.loss_weight * self.layer_weights[layer] * term
        return out

    def forward(self, sr: torch.Tensor, target: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        return reduce(sum(self.per_layer(sr, target, lr).values()), self.reduction)
