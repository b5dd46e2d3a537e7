"""Contrastive perceptual loss for super-resolution: a triplet margin loss in a network's feature space.

    L = loss_weight · Σ_l w_l · max(‖φ_l(SR) − φ_l(HR)‖₂ − ‖φ_l(SR) − φ_l(LR↑)‖₂ + margin, 0)

anchor = the network's output SR, positive = the high-resolution target HR, negative = the low-resolution
input LR upsampled to HR's size (bicubic, ``align_corners=False``, then clamped to [0, 1] because bicubic
overshoots). The loss pulls SR towards HR in feature space and pushes it away from the blurry upsampled
input; once SR is farther from LR↑ than from HR by ``margin``, a layer stops contributing.

With ``relative_margin=True`` the margin is a fraction m of each image's d(HR, LR↑) at that layer: a
triplet is active while p = (d(SR, LR↑) − d(SR, HR)) / d(HR, LR↑) < m, where p runs from −1 (SR = LR↑,
where a residual network starts) to +1 (SR = HR) by the triangle inequality. So m ≥ 1 never switches a
triplet off, m = 0 switches it off once SR is as close to HR as to LR↑, and a negative m (down to, not
including, −1) once SR has left LR↑ by (1 + m)/2 of the way to HR.

Each distance is ``torch.nn.functional.triplet_margin_loss``'s (p = 2, eps = 1e-6) between an image's whole
flattened feature map, one triplet per image. (Handing 4-D feature maps straight to
``nn.TripletMarginLoss`` would measure distances along the last axis, i.e. one triplet per feature-map
row, and average those — a different loss.)

Backbones: ``"vgg19"`` feature maps (default taps relu2_2, relu3_4, relu4_4), or ``"dinov2"`` — DINOv2
ViT-S/14 (Oquab et al. 2023; timm ``vit_small_patch14_dinov2.lvd142m``) patch tokens on their grid
(``dinov2_tokens="patch"``) or its CLS token (``"cls"``); its input is resized to ``dinov2_size``.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from ..extractors import get_extractor
from ..images import validate_images, validate_pair
from .base import PairwiseModule, reduce
from .perceptual import at_least_float32, batched_features, weights_per_layer

BACKBONES = ("vgg19", "dinov2")
VGG19_DEFAULT_LAYERS = ("relu2_2", "relu3_4", "relu4_4")
DINOV2_TOKENS = ("patch", "cls")
EPS = 1e-6  # F.pairwise_distance's (and so TripletMarginLoss's) eps: it measures ‖a − b + eps‖


def upsample_to(lr: torch.Tensor, size) -> torch.Tensor:
    """The negative: LR resized to ``size`` (bicubic, ``align_corners=False``), clamped to [0, 1]."""
    return F.interpolate(lr, size=tuple(size), mode="bicubic", align_corners=False).clamp(0, 1)


class ContrastivePerceptualLoss(PairwiseModule):
    """``forward(sr, target, lr)`` on [0, 1] batches; ``lr`` may be smaller than ``sr`` and ``target``.

    Args:
        backbone: ``"vgg19"`` or ``"dinov2"``.
        layers: VGG19 taps (default relu2_2, relu3_4, relu4_4); for DINOv2 leave None and use
            ``dinov2_tokens``.
        layer_weights: one weight per layer (default 1.0 each).
        margin: the triplet margin: in feature-distance units of each layer (≥ 0), or, with
            ``relative_margin=True``, a fraction of each image's ‖φ(HR) − φ(LR↑)‖ at that layer (> −1;
            see above).
        relative_margin: measure ``margin`` relative to the positive–negative distance (see above);
            False (default) is the plain triplet margin loss.
        loss_weight: overall multiplier (the λ of a combined training objective).
        dinov2_tokens: ``"patch"`` (N×384×h×w map) or ``"cls"`` (N×384).
        dinov2_size: DINOv2's input side, a multiple of 14 (default 224, its training resolution).
        reduction: over the batch; ``"none"`` gives shape (N,).
    """

    def __init__(self, backbone: str = "vgg19", layers: Sequence[str] | None = None,
                 layer_weights: Sequence[float] | None = None, margin: float = 1.0, loss_weight: float = 1.0,
                 dinov2_tokens: str = "patch", dinov2_size: int = 224, reduction: str = "mean",
                 relative_margin: bool = False):
        super().__init__(reduction)
        if backbone not in BACKBONES:
            raise ValueError(f"backbone={backbone!r}: use one of {', '.join(BACKBONES)}")
        if not isinstance(relative_margin, bool):
            raise ValueError(f"relative_margin={relative_margin!r}: use True (margin as a fraction of "
                             "d(HR, LR↑)) or False (absolute feature distance)")
        if relative_margin and not margin > -1:
            raise ValueError(f"margin={margin}: a relative margin ≤ −1 switches every triplet off for any output "
                             "(p = (d(SR, LR↑) − d(SR, HR)) / d(HR, LR↑) ≥ −1), so the loss is 0; use a margin "
                             "above −1")
        if not relative_margin and not margin >= 0:
            raise ValueError(f"margin={margin}: use a non-negative margin (or relative_margin=True, where a "
                             "margin between −1 and 0 is a fraction of d(HR, LR↑))")
        if backbone == "dinov2":
            if dinov2_tokens not in DINOV2_TOKENS:
                raise ValueError(f"dinov2_tokens={dinov2_tokens!r}: use one of {DINOV2_TOKENS}")
            if layers is not None:
                raise ValueError("layers are VGG19 taps; for backbone='dinov2' choose dinov2_tokens='patch' or 'cls'")
            if dinov2_size % 14 or dinov2_size < 14:
                raise ValueError(f"dinov2_size={dinov2_size}: use a multiple of the patch size 14, e.g. 224")
            self.layers = (dinov2_tokens,)
            # Both token kinds come out of one forward pass: asking for both shares one cached extractor.
            extractor, options = "dinov2-vits14", {"layers": DINOV2_TOKENS, "image_size": dinov2_size}
        else:
            self.layers = tuple(layers) if layers is not None else VGG19_DEFAULT_LAYERS
            extractor, options = "vgg19", {"layers": self.layers}
        self.layer_weights = weights_per_layer(self.layers, layer_weights)  # checked before building a backbone
        self.extractor = get_extractor(extractor, **options)
        self.backbone = backbone
        self.margin, self.loss_weight = float(margin), float(loss_weight)
        self.relative_margin = relative_margin
        self.pretrained = self.extractor.pretrained

    def _features(self, sr: torch.Tensor, target: torch.Tensor, lr: torch.Tensor) -> list:
        """[(layer, (anchor, positive, negative))]: each image's flattened feature map, per layer."""
        sr, target = validate_pair(sr, target, names=("sr", "target"))
        lr = validate_images(lr, "lr")
        if lr.shape[0] != sr.shape[0]:
            raise ValueError(f"lr has {lr.shape[0]} images and sr {sr.shape[0]}: pass one LR input per SR output")
        if lr.device != sr.device:
            raise ValueError(f"lr is on {lr.device} and sr on {sr.device}; move both to one device")
        sr, target, lr = self.follow(sr, target, lr)
        negative = upsample_to(lr.to(sr.dtype), target.shape[-2:])
        f_sr, f_hr, f_lr = batched_features(self.extractor, sr, target, negative)
        return [(layer, tuple(at_least_float32(f[layer]).flatten(1) for f in (f_sr, f_hr, f_lr)))
                for layer in self.layers]

    def distances(self, sr: torch.Tensor, target: torch.Tensor, lr: torch.Tensor) -> dict[str, dict[str, torch.Tensor]]:
        """Layer → ``{"positive": d(SR, HR), "negative": d(SR, LR↑), "reference": d(HR, LR↑)}``, each (N,).

        The distances the triplet compares (``F.pairwise_distance``, p = 2, eps = 1e-6): a triplet is active
        where ``positive − negative + margin`` (× ``reference`` with ``relative_margin``) is above 0.
        """
        return {layer: {"positive": F.pairwise_distance(a, p, eps=EPS), "negative": F.pairwise_distance(a, n, eps=EPS),
                        "reference": F.pairwise_distance(p, n, eps=EPS)}
                for layer, (a, p, n) in self._features(sr, target, lr)}

    def per_layer(self, sr: torch.Tensor, target: torch.Tensor, lr: torch.Tensor) -> dict[str, torch.Tensor]:
        """Layer → (N,) weighted triplet term (× ``loss_weight``); they add up to the per-image loss."""
        terms = {}
        for layer, (anchor, positive, neg) in self._features(sr, target, lr):
            if self.relative_margin:
                scale = F.pairwise_distance(positive, neg, eps=EPS).detach()
                triplet = torch.clamp_min(self.margin * scale + F.pairwise_distance(anchor, positive, eps=EPS)
                                          - F.pairwise_distance(anchor, neg, eps=EPS), 0)
            else:
                triplet = F.triplet_margin_loss(anchor, positive, neg, margin=self.margin, p=2, eps=EPS,
                                                reduction="none")
            terms[layer] = self.loss_weight * self.layer_weights[layer] * triplet
        return terms

    def forward(self, sr: torch.Tensor, target: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        # Not PairwiseModule.forward: three inputs, and lr has its own size.
        return reduce(sum(self.per_layer(sr, target, lr).values()), self.reduction)

    def extra_repr(self) -> str:
        return (f"backbone={self.backbone!r}, layers={self.layers}, "
                f"layer_weights={tuple(self.layer_weights.values())}, margin={self.margin}, "
                f"relative_margin={self.relative_margin}, loss_weight={self.loss_weight}, "
                f"reduction={self.reduction!r}, pretrained={self.pretrained}")
