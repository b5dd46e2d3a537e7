"""LPIPS — Learned Perceptual Image Patch Similarity (Zhang, Isola, Efros, Shechtman & Wang, CVPR 2018).

    d(x, y) = Σ_l  mean_{h,w}  Σ_c  w_{l,c} · (x̂_{l,c,h,w} − ŷ_{l,c,h,w})²

x̂_l are the backbone's features at tap l, unit-normalized along channels (x / (sqrt(Σ_c x²) + 1e-10),
:func:`normalize_channels`); w_l ≥ 0 are the learned "lin" weights, 1×1 convolutions without bias.

Input: [0, 1] images. LPIPS v0.1 feeds its backbone ``(2u − 1 − shift) / scale`` with shift = (−.030, −.088,
−.188) and scale = (.458, .448, .450); on u that is exactly ImageNet mean/std normalization, which our
extractors apply — so ``LPIPS()(x, y)`` equals ``lpips.LPIPS()(x, y, normalize=True)``.

Weights: version 0.1 of the lin layers, shipped inside the ``lpips`` package (artifacts ``lpips-alex``,
``lpips-vgg``, ``lpips-squeeze``), keys ``lin{k}.model.1.weight`` (index 0 of each lin block is a Dropout).
They are loaded strictly, every key and shape checked: the reference loads them with ``strict=False``, so a
file whose keys do not match leaves random lin weights behind without a word. Ours raises.

Speed (measured on a CPU, see ``benchmarks/losses.py``): both images share one backbone pass while it stays
small enough for the CPU's caches (``batched_features``), the backbone runs channels-last where that is
faster (with channels-last copies of its frozen weights, made once) and with in-place ReLUs, the unit
normalization and the difference take two passes over each tap
(:func:`~percept_lib.losses.perceptual.normalized_difference`), and a call that needs no gradient runs
under ``torch.inference_mode``, overwriting its own taps instead of allocating new maps.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from .. import weights as W
from ..extractors import get_extractor
from ..images import validate_pair
from .base import PairwiseModule, reduce
from .perceptual import (at_least_float32, autocast_disabled, batched_features, normalize_channels,
                         normalized_difference)

# LPIPS name → (our extractor, its taps in forward order, the lin-weights artifact).
# The taps are lpips's slices: alex [0:2] [2:5] [5:8] [8:10] [10:12]; vgg16 relu1_2 … relu5_3;
# squeezenet1_1 [0:2] [2:5] [5:8] [8:10] [10] [11] [12].
NETWORKS = {
    "alex": ("alexnet", ("relu1", "relu2", "relu3", "relu4", "relu5"), "lpips-alex"),
    "vgg": ("vgg16", ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3"), "lpips-vgg"),
    "squeeze": ("squeezenet", ("relu1", "fire3", "fire5", "fire6", "fire7", "fire8", "fire9"), "lpips-squeeze"),
}
CHANNELS = {
    "alex": (64, 192, 384, 256, 256),
    "vgg": (64, 128, 256, 512, 512),
    "squeeze": (64, 128, 256, 384, 384, 512, 512),
}

__all__ = ["LPIPS", "LinLayers", "load_lin_layers", "normalize_channels", "NETWORKS"]


class LinLayer(nn.Module):
    """One tap's learned channel weights, laid out as lpips's ``NetLinLayer`` so the file's keys fit:
    ``model.0`` is lpips's Dropout (inactive at evaluation; an Identity here), ``model.1`` the 1×1 conv."""

    def __init__(self, channels: int):
        super().__init__()
        self.model = nn.Sequential(nn.Identity(), nn.Conv2d(channels, 1, kernel_size=1, bias=False))

    @property
    def weight(self) -> torch.Tensor:
        return self.model[1].weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The 1×1 convolution written as the channel-weighted sum it is: one output channel leaves oneDNN
        # nothing to block, and on the channels-last taps of the CPU passes the sum runs along memory.
        return (x * self.weight.to(x.dtype).view(1, -1, 1, 1)).sum(dim=1, keepdim=True)


class LinLayers(nn.Module):
    """``lin0`` … ``lin{K-1}``: state-dict keys ``lin{k}.model.1.weight``, exactly those of the v0.1 files."""

    def __init__(self, channels: tuple[int, ...]):
        super().__init__()
        for k, c in enumerate(channels):
            self.add_module(f"lin{k}", LinLayer(c))

    def __getitem__(self, k: int) -> LinLayer:
        return getattr(self, f"lin{k}")

    def __len__(self) -> int:
        return len(self._modules)


def load_lin_layers(net: str) -> LinLayers:
    """The v0.1 lin layers of ``net``, loaded strictly (every key, every shape) and checked to be ≥ 0."""
    if net not in NETWORKS:
        raise ValueError(f"net={net!r}: use one of {', '.join(NETWORKS)}")
    artifact = NETWORKS[net][2]
    lins = LinLayers(CHANNELS[net])
    path = W.resolve(artifact)
    # The files hold cuda:0 tensors; read_state_dict maps them to the CPU.
    W.load_into(lins, W.read_state_dict(path, artifact), artifact, path)
    negative = [f"lin{k}" for k in range(len(lins)) if bool((lins[k].weight < 0).any())]
    if negative:
        raise W.WeightsCorruptError(
            f"weights file for '{artifact}' {path}: {negative} have negative weights; LPIPS v0.1 lin weights "
            "are non-negative — the file is not the one shipped with the lpips package")
    return lins.requires_grad_(False).eval()


class LPIPS(PairwiseModule):
    """LPIPS distance of [0, 1] image pairs: shape (N,), or N×1×H×W maps with ``spatial=True``.

    Args:
        net: ``"alex"`` (the authors' recommendation as a metric), ``"vgg"`` (closer to a "perceptual
            loss" when optimizing) or ``"squeeze"``.
        spatial: return the distance map, each tap's map upsampled to the input size (bilinear,
            ``align_corners=False``, as lpips's ``upsample``) and summed. The mean of this map is close to,
            not equal to, the scalar distance (bilinear upsampling does not preserve the mean exactly).
        reduction: ``"none"`` (default: one value or map per pair, as a metric), ``"mean"`` or ``"sum"``
            over everything returned.

    A metric and a loss: without a gradient to compute it runs under ``torch.inference_mode`` and returns
    an ordinary tensor; with one, gradients reach the inputs. Backbone and lin weights are frozen.
    :attr:`lin_weights` and :meth:`per_layer` open up the learned weights and each tap's contribution.
    """

    def __init__(self, net: str = "alex", spatial: bool = False, reduction: str = "none"):
        super().__init__(reduction)
        if net not in NETWORKS:
            raise ValueError(f"net={net!r}: use one of {', '.join(NETWORKS)}")
        extractor_name, self.taps, _ = NETWORKS[net]
        self.net, self.spatial = net, bool(spatial)
        self.extractor = get_extractor(extractor_name, layers=self.taps)
        self.lins = load_lin_layers(net)
        self.pretrained = self.extractor.pretrained

    @property
    def lin_weights(self) -> "OrderedDict[str, torch.Tensor]":
        """Tap name → the learned non-negative channel weights w_l, shape (C_l,), on the CPU."""
        return OrderedDict((tap, self.lins[k].weight.detach().flatten().float().cpu())
                           for k, tap in enumerate(self.taps))

    def _tap_maps(self, x: torch.Tensor, y: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        """Tap → N×1×h×w map Σ_c w_c (x̂ − ŷ)² at that tap's own resolution (inputs already validated)."""
        fx, fy = batched_features(self.extractor, x, y)
        # Without a graph the tap tensors are scratch space of this call: overwritten, they save an
        # allocation and a copy per step. With one, autograd needs them as they are.
        scratch = not torch.is_grad_enabled()
        maps = OrderedDict()
        with autocast_disabled(x.device.type):  # the backbone may run in half precision, the distance does not
            for k, tap in enumerate(self.taps):
                d = normalized_difference(at_least_float32(fx[tap]), at_least_float32(fy[tap]), inplace=scratch)
                maps[tap] = self.lins[k](d.square_() if scratch else d.square())
        return maps

    def per_layer(self, x: torch.Tensor, y: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        """Tap → (N,) contribution (the spatial mean of its map); the contributions add up to the distance."""
        x, y = self.follow(*validate_pair(x, y))
        return OrderedDict((tap, d.mean(dim=(1, 2, 3))) for tap, d in self._tap_maps(x, y).items())

    def compute(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        maps = self._tap_maps(x, y).values()
        if self.spatial:
            size = x.shape[-2:]
            return sum(F.interpolate(d, size=size, mode="bilinear", align_corners=False) for d in maps)
        return sum(d.mean(dim=(1, 2, 3)) for d in maps)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # PairwiseModule.forward's steps, with a metric call (no gradient wanted) run in inference mode.
        # Weights are moved to the input's device / dtype *outside* inference mode: converted inside it they
        # would become inference tensors, unusable by any later call that needs a gradient.
        x, y = self.follow(*validate_pair(x, y))
        if torch.is_grad_enabled() and (x.requires_grad or y.requires_grad):
            return reduce(self.compute(x, y), self.reduction)
        with torch.inference_mode():
            value = reduce(self.compute(x, y), self.reduction)
        return value.clone()  # an ordinary tensor: usable in later autograd code (e.g. as a loss weight)

    def extra_repr(self) -> str:
        return f"net={self.net!r}, spatial={self.spatial}, reduction={self.reduction!r}, pretrained={self.pretrained}"
