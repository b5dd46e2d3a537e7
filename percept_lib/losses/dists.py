"""DISTS — Deep Image Structure and Texture Similarity (Ding, Ma, Wang, Simoncelli; IEEE TPAMI 2020).

    D(x, y) = 1 − Σ_i Σ_j ( α_ij · l(x̃_j⁽ⁱ⁾, ỹ_j⁽ⁱ⁾) + β_ij · s(x̃_j⁽ⁱ⁾, ỹ_j⁽ⁱ⁾) )

    texture    l = (2 μx μy + c1) / (μx² + μy² + c1)
    structure  s = (2 σxy + c2)   / (σx² + σy² + c2),      c1 = c2 = 1e-6

where x̃_j⁽ⁱ⁾ is channel j of stage i, and μ, σ², σxy are means, (population) variances and the
covariance over the whole map. Stage 0 is the input image itself, in [0, 1] and *not* normalized; stages
1–5 are VGG16's relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 computed on ImageNet-normalized input, with
every max-pooling replaced by L2 pooling (a 3×3 Hann window [½, 1, ½]ᵀ[½, 1, ½] / 4, stride 2, padding 1,
applied to the squared map, then sqrt(· + 1e-12)): max pooling aliases, and DISTS is meant to be
tolerant to resampled texture. α, β ≥ 0 (1475 values each: 3 + 64 + 128 + 256 + 512 + 512 channels) are
the weights the authors learned, normalized by Σα + Σβ. The released file already sums to 1 − 2.4e-7,
so the normalization changes nothing that float32 can see.

The backbone is torchvision's VGG16 ImageNet checkpoint (artifact ``"vgg16"``, the same file
``torchvision.models.vgg16(pretrained=True)`` reads), α and β the ones shipped with DISTS_pytorch
(artifact ``"dists"``), loaded strictly. ``PERCEPT_WEIGHTS=random`` gives a seeded random VGG16 but the
real α and β, and ``pretrained = False``.

We match DISTS_pytorch 0.1 (``DISTS_pt.py``, the authors' code) to float precision. It and piq 0.8's
``piq.DISTS`` agree on the formula, the L2 pooling (same kernel, padding and 1e-12 inside the square
root), the ImageNet normalization, the un-normalized input as stage 0 and c1 = c2 = 1e-6. They differ in:

- resizing: piq bilinearly downsamples (no antialiasing) any input whose shorter side exceeds 256 px to
  a shorter side of 256, inside ``forward``. DISTS_pytorch's model uses the size it is given; only its
  demo's ``prepare_image(resize=True)`` shrinks (PIL) to 256. We, like DISTS_pytorch, never resize;
  resize first (``percept_lib.images.resize``) to compare with numbers computed at 256 px.
- weight normalization: DISTS_pytorch divides α, β by Σα + Σβ on every call; piq uses the file's values
  as they are (its own copy, ``dists_weights.pt``, downloaded from piq's releases).
- reduction: DISTS_pytorch returns ``score.squeeze()`` (a 0-d tensor for one pair) or, with
  ``batch_average=True``, the mean; piq reduces with ``reduction="mean"`` by default.
- gradients: DISTS_pytorch runs the backbone under ``torch.no_grad`` unless ``require_grad=True``; piq
  always keeps the graph.
- names: piq's code calls the mean term "structure" and the covariance term "texture", the reverse of
  the paper; both weight the mean term with α and the covariance term with β, as the paper does.
- the weight file: DISTS_pytorch reads ``weights.pt`` from ``sys.prefix`` (where its installer copies it),
  not from its package folder; piq runs VGG16 through pool5, whose output it discards.

Speed: both images share one backbone pass while it stays small enough for the CPU's caches (2^18 pixels;
the reference makes two), except when exactly one of them requires a gradient, as in a loss: then the
constant side runs without a graph. The pair is validated once, at the entry point.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from .. import weights as W
from ..extractors import get_extractor
from ..images import validate_images, validate_pair
from .base import PairwiseModule
from .perceptual import batched_features, spatial_views, validated_features

STAGES = ("input", "relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
STAGE_CHANNELS = (3, 64, 128, 256, 512, 512)
C1 = 1e-6  # texture (mean) term
C2 = 1e-6  # structure (covariance) term
WEIGHTS_ARTIFACT = "dists"
TensorPair = tuple[torch.Tensor, torch.Tensor]


def load_alpha_beta(artifact: str = WEIGHTS_ARTIFACT) -> tuple[torch.Tensor, torch.Tensor]:
    """The learned (α, β), each of shape (1475,), read strictly from DISTS_pytorch's ``weights.pt``.

    The file must hold exactly the keys ``alpha`` and ``beta``, each 1×1475×1×1, all values ≥ 0 (the
    paper constrains them so); anything else raises :class:`~percept_lib.weights.WeightsCorruptError`.
    """
    path = W.resolve(artifact)
    state = W.read_state_dict(path, artifact)
    holder = nn.Module()
    shape = (1, sum(STAGE_CHANNELS), 1, 1)
    holder.register_buffer("alpha", torch.zeros(shape))
    holder.register_buffer("beta", torch.zeros(shape))
    W.load_into(holder, state, artifact, path)
    if bool((holder.alpha < 0).any() or (holder.beta < 0).any()):
        raise W.WeightsCorruptError(f"DISTS weights {path}: alpha and beta must be non-negative")
    return holder.alpha.flatten().float(), holder.beta.flatten().float()


class DISTS(PairwiseModule):
    """DISTS distance between [0, 1] images, (N,) per pair; 0 for identical images, lower is more similar.

    A metric (wrap in ``torch.no_grad``) and a loss (gradients reach the input; backbone, α and β are
    frozen). ``reduction`` defaults to ``"none"`` as a metric; use ``"mean"`` for training. Any image size
    works (the reference has no minimum either), but stage i's map is ⌈H/2^(i−1)⌉ × ⌈W/2^(i−1)⌉: at 16 px
    or less relu5_3 is a single pixel, whose variance is 0, so its structure term is 1 whatever the images.
    """

    def __init__(self, reduction: str = "none", weights: str | None = None):
        super().__init__(reduction)
        alpha, beta = load_alpha_beta()  # first: a bad file fails before the slow backbone build
        # Built once per process and shared (get_extractor's cache): a VGG16 checkpoint is 528 MB.
        self.backbone = get_extractor("vgg16-l2pool", **({"weights": weights} if weights is not None else {}))
        # DISTS_pytorch normalizes by the sum in float32 on every call; doing it once gives the same bits.
        total = alpha.sum() + beta.sum()
        self.register_buffer("alpha", alpha / total)
        self.register_buffer("beta", beta / total)
        self.pretrained = self.backbone.pretrained

    def stage_features(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        """Stage name → feature map: the [0, 1] image itself, then the five L2-pooled VGG16 taps."""
        return self._stage_features(validate_images(x))

    def _stage_features(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        # For a pair validated at the entry point: validating again is two more passes over the batch.
        return OrderedDict([("input", x), *validated_features(self.backbone, x).items()])

    def _paired_features(self, x: torch.Tensor, y: torch.Tensor) -> OrderedDict[str, TensorPair]:
        """Stage → (features of x, features of y). A loss (one side tracked) runs the constant side without
        a graph, which halves the backward pass; see ``batched_features`` for how passes are packed."""
        fx, fy = batched_features(self.backbone, x, y)
        return OrderedDict([("input", (x, y)), *((stage, (fx[stage], fy[stage])) for stage in STAGES[1:])])

    def _similarity_terms(self, x: torch.Tensor, y: torch.Tensor) -> OrderedDict[str, TensorPair]:
        # The backbone may run in half precision (autocast), the statistics may not: a covariance is a
        # difference of nearly equal means, and 1 − Σ(...) with the sum near 1 keeps only ~3 significant
        # bits of a typical 0.02 distance in bfloat16. So they are computed in float32 at least.
        dtype = torch.promote_types(x.dtype, torch.float32)
        alphas = torch.split(self.alpha.to(dtype), STAGE_CHANNELS)
        betas = torch.split(self.beta.to(dtype), STAGE_CHANNELS)
        features = self._paired_features(x, y)
        terms = OrderedDict()
        with torch.autocast(x.device.type, enabled=False):
            for (stage, (fx, fy)), alpha, beta in zip(features.items(), alphas, betas):
                (fx, fy), axis = spatial_views(fx.to(dtype), fy.to(dtype))
                mx, my = fx.mean(axis), fy.mean(axis)
                # Variance as E[(x − μ)²] but covariance as E[xy] − μxμy: the reference's formulas, kept so
                # that the float32 rounding stays close to it.
                vx = ((fx - mx.unsqueeze(axis)) ** 2).mean(axis)
                vy = ((fy - my.unsqueeze(axis)) ** 2).mean(axis)
                cxy = (fx * fy).mean(axis) - mx * my
                texture = (2 * mx * my + C1) / (mx ** 2 + my ** 2 + C1)
                structure = (2 * cxy + C2) / (vx + vy + C2)
                terms[stage] = (texture @ alpha, structure @ beta)
        return terms

    def similarity_terms(self, x: torch.Tensor, y: torch.Tensor) -> OrderedDict[str, TensorPair]:
        """Stage → (α-weighted texture term, β-weighted structure term), each (N,); they sum to 1 − DISTS.

        Shows where the distance comes from (which stage, mean or covariance) — e.g. for a plot.
        """
        x, y = self.follow(*validate_pair(x, y))
        return self._similarity_terms(x, y)

    def compute(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        similarity = sum(texture + structure for texture, structure in self._similarity_terms(x, y).values())
        return 1 - similarity

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, pretrained={self.pretrained}"
