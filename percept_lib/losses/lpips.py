"""LPIPS — Learned Perceptual Image Patch Similarity (Zhang, Isola, Efros, Shechtman, Wang; CVPR 2018).

    d(x, y) = Σ_l  mean_{h,w}  Σ_c  w_{l,c} · (x̂_{l,chw} − ŷ_{l,chw})²

where x̂_l are the backbone's features at tap l, unit-normalized along channels
(x / (sqrt(Σ_c x²) + 1e-10)), and w_l ≥ 0 are the learned "lin" weights (1×1 convolutions without bias).
Version 0.1 of the weights, shipped with the ``lpips`` package, is used; it expects the scaling layer on
[-1, 1] input — which is exactly ImageNet mean/std normalization of [0, 1] input, what our extractors do.

Both images go through the backbone in one batched pass (that is most of the speed-up over the
reference). The lin weights are loaded strictly: the reference loads them with ``strict=False``, so a
file whose keys do not match leaves its layers randomly initialised without a word.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from .. import weights as W
from ..extractors import get_extractor
from .base import PairwiseModule

# LPIPS name → (our extractor, its taps in order, the lin-weights artifact)
NETWORKS = {
    "alex": ("alexnet", ("relu1", "relu2", "relu3", "relu4", "relu5"), "lpips-alex"),
    "vgg": ("vgg16", ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3"), "lpips-vgg"),
    "squeeze": ("squeezenet", ("relu1", "fire3", "fire5", "fire6", "fire7", "fire8", "fire9"), "lpips-squeeze"),
}
EPS = 1e-10


def normalize_channels(features: torch.Tensor) -> torch.Tensor:
    """Unit-normalize each spatial position's feature vector (lpips.normalize_tensor)."""
    norm = torch.sqrt(torch.sum(features ** 2, dim=1, keepdim=True))
    return features / (norm + EPS)


def load_lin_weights(net: str) -> list[torch.Tensor]:
    """The learned non-negative channel weights of each tap, as 1×C×1×1 tensors, loaded strictly."""
    if net not in NETWORKS:
        raise ValueError(f"net={net!r}: use one of {', '.join(NETWORKS)}")
    _, taps, artifact = NETWORKS[net]
    path = W.resolve(artifact)
    state = W.read_state_dict(path, artifact)
    expected = [f"lin{k}.model.1.weight" for k in range(len(taps))]
    if sorted(state) != sorted(expected):
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        raise W.WeightsCorruptError(
            f"LPIPS weights {path} do not fit net={net!r}: missing keys {missing}, unexpected keys {unexpected}")
    weights = [state[key].float() for key in expected]
    for key, w in zip(expected, weights):
        if w.dim() != 4 or w.shape[0] != 1 or w.shape[2:] != (1, 1):
            raise W.WeightsCorruptError(f"LPIPS weights {path}: {key} has shape {tuple(w.shape)}, expected 1×C×1×1")
    return weights


class LPIPS(PairwiseModule):
    """LPIPS distance between [0, 1] images: (N,) per pair, or an N×1×H×W map with ``spatial=True``.

    A metric (``torch.no_grad`` / ``inference_mode`` around it) and a loss (gradients reach the input;
    the backbone and the lin weights are frozen). ``reduction`` defaults to ``"none"`` as a metric.
    """

    def __init__(self, net: str = "alex", spatial: bool = False, reduction: str = "none", weights: str | None = None):
        super().__init__(reduction)
        if net not in NETWORKS:
            raise ValueError(f"net={net!r}: use one of {', '.join(NETWORKS)}")
        extractor_name, self.taps, _ = NETWORKS[net]
        self.net, self.spatial = net, spatial
        options = {"layers": self.taps}
        if weights is not None:
            options["weights"] = weights
        self.extractor = get_extractor(extractor_name, **options)
        for k, w in enumerate(load_lin_weights(net)):
            self.register_buffer(f"lin{k}", w)
        self.pretrained = self.extractor.pretrained

    @property
    def lin_weights(self) -> "OrderedDict[str, torch.Tensor]":
        """Tap name → the learned channel weights (C,), for plotting."""
        return OrderedDict((tap, getattr(self, f"lin{k}").flatten().detach().cpu())
                           for k, tap in enumerate(self.taps))

    def layer_distances(self, x: torch.Tensor, y: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        """Per-tap contributions: tap → N×1×h×w map of Σ_c w_c (x̂ − ŷ)² at that tap's resolution."""
        n = x.shape[0]
        features = self.extractor(torch.cat([x, y]))  # one batched pass for both images
        out = OrderedDict()
        for k, tap in enumerate(self.taps):
            f = normalize_channels(features[tap])
            diff = (f[:n] - f[n:]) ** 2
            out[tap] = F.conv2d(diff, getattr(self, f"lin{k}").to(diff.dtype))
        return out

    def per_layer(self, x: torch.Tensor, y: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        """Tap → (N,) contribution; they sum to the LPIPS distance."""
        from ..images import validate_pair

        x, y = validate_pair(x, y)
        self._follow(x)
        return OrderedDict((tap, d.mean(dim=(1, 2, 3))) for tap, d in self.layer_distances(x, y).items())

    def compute(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        layers = self.layer_distances(x, y)
        if self.spatial:
            size = x.shape[-2:]
            return sum(F.interpolate(d, size=size, mode="bilinear", align_corners=False) for d in layers.values())
        return sum(d.mean(dim=(2, 3), keepdim=True) for d in layers.values()).flatten()

    def extra_repr(self) -> str:
        return f"net={self.net!r}, spatial={self.spatial}, reduction={self.reduction!r}, pretrained={self.pretrained}"
