"""The VGG perceptual ("feature reconstruction") loss — Johnson, Alahi & Fei-Fei, ECCV 2016.

    L(x, y) = Σ_l  w_l · mean_{c,h,w} dist(φ_l(x), φ_l(y)),     dist = |a − b| ("l1") or (a − b)² ("l2")

φ_l is the VGG feature map at layer l (``relu2_2`` …, Simonyan & Zisserman's numbering), computed on
ImageNet-normalized input — pass [0, 1] images, the extractor normalizes them. The mean runs over each
image's C·H·W elements, so ``reduction="none"`` gives one value per image and ``reduction="mean"`` equals
``F.l1_loss`` / ``F.mse_loss`` on the whole batch of feature maps (what most training code writes).
``normalize_features=True`` first unit-normalizes every position's channel vector, as LPIPS does.

Presets that reproduce formulations found in the wild exactly (the tests rebuild each from torchvision
layers on the same checkpoint and compare):

* :meth:`PerceptualLoss.seed001` — ``vgg16(...).features[:23]``, i.e. through **relu4_3** (often called
  "conv4_3"), ``mean |φ(x) − φ(y)|`` over all elements.
* :meth:`PerceptualLoss.seed002` — ``vgg19(...).features`` cut into ``[0:4] [4:9] [9:16] [16:23]`` and
  ``Σ w_i · F.mse_loss`` with w = (1.0, 0.75, 0.5, 0.25). In VGG19 those slices end at **relu1_2, relu2_2,
  relu3_3 and relu4_2**. The original code's comments call them conv1_2 / conv2_2 / conv3_3 / conv4_3,
  which are VGG16's indices: VGG19's third block has a fourth convolution (conv3_4 at index 16), so the last
  slice stops one layer earlier in block 4. We follow the code and name the layers it really uses.
* :meth:`PerceptualLoss.johnson` — Johnson et al.'s feature reconstruction loss: VGG16 relu2_2, squared
  Euclidean distance divided by C·H·W.

Both seeds feed the network the tensor they are given, with no ImageNet normalization; ours normalizes
inside, so "reproduce" means: seed module on normalized input = our loss on the [0, 1] input.

This module also holds the small helpers every feature loss here (perceptual, LPIPS, style, contrastive)
shares: :func:`normalize_channels`, :func:`batched_features` and the precision rules.
"""
from __future__ import annotations

from collections import OrderedDict
from contextlib import nullcontext
from typing import Sequence

import torch
import torch.nn.functional as F

from ..extractors import get_extractor
from ..extractors.base import FeatureExtractor
from ..images import validate_pair
from .base import PairwiseModule

DISTANCES = ("l1", "l2")
VGG_EXTRACTORS = ("vgg16", "vgg19")
NORMALIZE_EPS = 1e-10  # lpips.normalize_tensor's eps, kept so LPIPS matches the reference to the last digit

FeatureMaps = "OrderedDict[str, torch.Tensor]"


# ----------------------------------------------------------------------------------------------------
# Shared by the feature losses (perceptual, LPIPS, contrastive)
# ----------------------------------------------------------------------------------------------------

def normalize_channels(features: torch.Tensor) -> torch.Tensor:
    """Unit-normalize the channel vector at every position: f / (sqrt(Σ_c f²) + 1e-10).

    LPIPS's ``normalize_tensor`` (Zhang et al. 2018): it removes each layer's overall activation scale, so
    layers and images compare on direction, not magnitude. Works on N×C×H×W (and N×C) tensors.

    The norm is ``torch.linalg.vector_norm`` rather than lpips's ``sqrt(sum(f ** 2))``: the same value, in
    one fused pass over the feature map instead of three (these maps are the largest tensors of the loss).
    """
    return features / (_channel_norm(features) + NORMALIZE_EPS)


def _channel_norm(features: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(features, dim=1, keepdim=True)


def normalized_difference(a: torch.Tensor, b: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """``normalize_channels(a) − normalize_channels(b)``, bit for bit, in fewer passes over the maps.

    ``a / n_a + (−1) · b / n_b`` is one ``addcdiv`` after one division, so ``b`` is never normalized into a
    tensor of its own. With ``inplace`` (only where no graph is recorded and ``a`` is a scratch tensor, e.g. a
    tap of this call's own backbone pass) the result is written into ``a``: no allocation either, which on a
    CPU costs about as much as a pass (fresh pages are zeroed by the kernel).
    """
    na = _channel_norm(a) + NORMALIZE_EPS
    nb = _channel_norm(b) + NORMALIZE_EPS
    if inplace:
        return a.div_(na).addcdiv_(b, nb, value=-1)
    return torch.addcdiv(a / na, b, nb, value=-1)


def spatial_views(*maps: torch.Tensor) -> tuple[list[torch.Tensor], int]:
    """N×C×H×W maps as 3-D views with H·W on one axis, and that axis: N×HW×C when every map is channels-last
    (the CPU backbone's layout on large passes), N×C×HW otherwise. Corresponding elements stay paired.

    Element-wise work and per-sample statistics on these views read memory in order, and their gradients
    come back in the maps' own layout. Reduced over dims (2, 3) of channels-last maps instead, the means and
    their backward ran strided with mixed layouts (DISTS as a loss 25 % slower, and the perceptual loss's
    ReLU backward 3×).
    """
    if all(m.is_contiguous(memory_format=torch.channels_last) for m in maps):
        return [m.permute(0, 2, 3, 1).flatten(1, 2) for m in maps], 1
    return [m.flatten(2) for m in maps], 2


def validated_features(extractor: FeatureExtractor, images: torch.Tensor) -> FeatureMaps:
    """``extractor(images)`` for images the caller has validated already.

    ``FeatureExtractor.forward`` is validate → normalize → features. The validation (NaN check, range) makes
    several passes over the batch — about a tenth of an AlexNet LPIPS call on a CPU — so it is done once, at
    the loss's entry point, and not again here.
    """
    return extractor.features(extractor.normalize(images))


def batched_features(extractor: FeatureExtractor, *images: torch.Tensor) -> list[FeatureMaps]:
    """``extractor`` applied to each batch of validated ``images`` (same H×W), in as few passes as gradients
    and the backbone's pass size allow.

    The batches that need a gradient go through the backbone apart from the others (the fixed target in
    training, or everything when used as a metric), which run under ``no_grad``: keeping the fixed side out
    of the autograd graph halves the backward pass of a loss. Within each group, consecutive batches share
    one ``torch.cat`` pass as long as it holds at most ``extractor.max_pass_pixels`` pixels (N·H·W): larger
    convolutions are faster, up to the size where the activations stop fitting the CPU's caches (measured
    per backbone, see ``FeatureExtractor.max_pass_pixels``). A batch is never split.
    """
    # Every batch in the first one's precision (the one the module followed): a float32 target next to a
    # float64 input would otherwise meet float64 weights.
    images = tuple(x.to(images[0].dtype) for x in images)
    grad_enabled = torch.is_grad_enabled()
    needs_grad = [grad_enabled and x.requires_grad for x in images]
    results: list[FeatureMaps | None] = [None] * len(images)
    for group_needs_grad in (True, False):
        members = [i for i, need in enumerate(needs_grad) if need == group_needs_grad]
        for passes in _passes(extractor, [images[i] for i in members], members):
            with nullcontext() if group_needs_grad else torch.no_grad():
                batch = torch.cat([images[i] for i in passes]) if len(passes) > 1 else images[passes[0]]
                features = validated_features(extractor, batch)
            if len(passes) == 1:  # not split: split's backward would copy the gradient into a cat of one
                results[passes[0]] = features
                continue
            sizes = [images[i].shape[0] for i in passes]
            split = {layer: f.split(sizes) for layer, f in features.items()}
            for position, i in enumerate(passes):
                results[i] = OrderedDict((layer, parts[position]) for layer, parts in split.items())
    return results


def _passes(extractor: FeatureExtractor, batches: list[torch.Tensor], indices: list[int]) -> list[list[int]]:
    """``indices`` packed, in order, into passes of at most ``extractor.max_pass_pixels`` pixels each."""
    limit = getattr(extractor, "max_pass_pixels", None)
    if batches and batches[0].device.type != "cpu":
        limit = None  # measured on CPUs only; a GPU gains from the largest pass it can hold
    passes: list[list[int]] = []
    filled = 0
    for batch, i in zip(batches, indices):
        pixels = batch.shape[0] * batch.shape[-2] * batch.shape[-1]
        if passes and (limit is None or filled + pixels <= limit):
            passes[-1].append(i)
            filled += pixels
        else:
            passes.append([i])
            filled = pixels
    return passes


def at_least_float32(t: torch.Tensor) -> torch.Tensor:
    """Distances between features are differences of nearly equal numbers: under autocast the backbone may
    run in bfloat16/float16, but the loss itself is computed in float32 (autocast's own rule for losses)."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def autocast_disabled(device_type: str):
    """A context in which autocast is off on ``device_type`` (a no-op context when it is off already), for
    the small float32 computations that follow a half-precision backbone (Gram matrices, LPIPS's lin)."""
    if torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type, enabled=False)
    return nullcontext()


# ----------------------------------------------------------------------------------------------------
# The loss
# ----------------------------------------------------------------------------------------------------

class PerceptualLoss(PairwiseModule):
    """Weighted distance between VGG16 / VGG19 feature maps of two [0, 1] image batches.

    Args:
        extractor: ``"vgg16"`` or ``"vgg19"`` (torchvision ImageNet weights through ``percept_lib.weights``).
        layers: tap names, e.g. ``("relu2_2",)``; see ``get_extractor(extractor).available_layers``.
        layer_weights: one weight per layer (default 1.0 each).
        distance: ``"l1"`` (mean absolute difference) or ``"l2"`` (mean squared difference).
        normalize_features: unit-normalize channel vectors first (:func:`normalize_channels`).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` over the batch; ``"none"`` gives shape (N,).

    The backbone is frozen; gradients reach the input. :meth:`per_layer` gives each layer's contribution.
    """

    def __init__(
        self,
        extractor: str = "vgg16",
        layers: Sequence[str] = ("relu2_2",),
        layer_weights: Sequence[float] | None = None,
        distance: str = "l1",
        normalize_features: bool = False,
        reduction: str = "mean",
    ):
        super().__init__(reduction)
        if extractor not in VGG_EXTRACTORS:
            raise ValueError(f"extractor={extractor!r}: use one of {VGG_EXTRACTORS}")
        if distance not in DISTANCES:
            raise ValueError(f"distance={distance!r}: use one of {DISTANCES}")
        self.layers = tuple(layers)
        self.layer_weights = weights_per_layer(self.layers, layer_weights)
        self.extractor = get_extractor(extractor, layers=self.layers)
        self.distance, self.normalize_features = distance, bool(normalize_features)
        self.pretrained = self.extractor.pretrained

    # Presets ------------------------------------------------------------------------------------------

    @classmethod
    def seed001(cls, reduction: str = "mean") -> "PerceptualLoss":
        """``vgg16(...).features[:23]`` (through relu4_3, "conv4_3"), mean |φ(x) − φ(y)|."""
        return cls("vgg16", layers=("relu4_3",), distance="l1", reduction=reduction)

    @classmethod
    def seed002(cls, reduction: str = "mean") -> "PerceptualLoss":
        """VGG19 relu1_2, relu2_2, relu3_3, relu4_2 (the code's slices, not its comments), weights
        (1.0, 0.75, 0.5, 0.25), mean squared difference."""
        return cls("vgg19", layers=("relu1_2", "relu2_2", "relu3_3", "relu4_2"),
                   layer_weights=(1.0, 0.75, 0.5, 0.25), distance="l2", reduction=reduction)

    @classmethod
    def johnson(cls, reduction: str = "mean") -> "PerceptualLoss":
        """Johnson et al. 2016, feature reconstruction loss: ‖φ(x) − φ(y)‖²₂ / (C·H·W) on VGG16 relu2_2."""
        return cls("vgg16", layers=("relu2_2",), distance="l2", reduction=reduction)

    # Computation --------------------------------------------------------------------------------------

    def _layer_terms(self, x: torch.Tensor, y: torch.Tensor) -> FeatureMaps:
        fx, fy = batched_features(self.extractor, x, y)
        terms = OrderedDict()
        for layer in self.layers:
            a, b = at_least_float32(fx[layer]), at_least_float32(fy[layer])
            if self.normalize_features:
                a, b = normalize_channels(a), normalize_channels(b)
            # One fused kernel each way (difference and abs / square) instead of two, in memory order.
            (a, b), _ = spatial_views(a, b)
            d = F.l1_loss(a, b, reduction="none") if self.distance == "l1" else F.mse_loss(a, b, reduction="none")
            terms[layer] = self.layer_weights[layer] * d.mean(dim=(1, 2))
        return terms

    def per_layer(self, x: torch.Tensor, y: torch.Tensor) -> FeatureMaps:
        """Layer → (N,) weighted contribution; the contributions add up to the per-image loss."""
        x, y = self.follow(*validate_pair(x, y))
        return self._layer_terms(x, y)

    def compute(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return sum(self._layer_terms(x, y).values())

    def extra_repr(self) -> str:
        return (f"layers={self.layers}, layer_weights={tuple(self.layer_weights.values())}, "
                f"distance={self.distance!r}, normalize_features={self.normalize_features}, "
                f"reduction={self.reduction!r}, pretrained={self.pretrained}")


class ContentLoss(PerceptualLoss):
    """Gatys, Ecker & Bethge (CVPR 2016) content loss: mean squared difference of one VGG layer.

    Default VGG19 relu4_2 (their "conv4_2", read after its ReLU). Gatys et al. write ½ Σ (F − P)²; this is
    the mean instead of half the sum, a constant factor 2 / (C·H·W) — it only rescales the content weight.
    """

    def __init__(self, layer: str = "relu4_2", extractor: str = "vgg19", reduction: str = "mean"):
        super().__init__(extractor, layers=(layer,), distance="l2", reduction=reduction)


def weights_per_layer(layers: tuple[str, ...], layer_weights: Sequence[float] | None) -> "OrderedDict[str, float]":
    """Check a layer list and its weights; return them as an ordered layer → weight mapping."""
    if not layers or len(set(layers)) != len(layers):
        raise ValueError(f"layers={layers}: give at least one layer, each layer once")
    if layer_weights is None:
        return OrderedDict((layer, 1.0) for layer in layers)
    layer_weights = tuple(float(w) for w in layer_weights)
    if len(layer_weights) != len(layers):
        raise ValueError(f"{len(layer_weights)} layer_weights for {len(layers)} layers {layers}: "
                         "give one weight per layer")
    return OrderedDict(zip(layers, layer_weights))
