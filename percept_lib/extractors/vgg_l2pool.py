"""VGG16 with every max-pooling replaced by L2 pooling — the backbone of DISTS (Ding et al., TPAMI 2020).

Max pooling aliases; L2 pooling (Hénaff & Simoncelli 2016) low-pass filters before subsampling, which is
what makes DISTS tolerant to resampled textures and small shifts.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from .base import load_backbone_weights, seeded_init
from .torchvision_nets import _SlicedExtractor, vgg_layer_names

TAPS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")


class L2Pool2d(nn.Module):
    """L2 pooling (Hénaff & Simoncelli 2016), DISTS's replacement for max pooling.

    ``sqrt(hann ∗ x² + 1e-12)`` per channel, with the normalized 3×3 Hann window, stride 2, padding 1 —
    DISTS_pytorch's ``L2pooling(filter_size=5)``, whose 5-tap Hann window loses its zero ends.
    """

    EPS = 1e-12
    kernel_size, stride, padding = 3, 2, 1  # what forward passes to conv2d; read by smallest_input()

    def __init__(self, channels: int):
        super().__init__()
        window = torch.hann_window(5, periodic=False, dtype=torch.float64)[1:-1]  # [0.5, 1, 0.5]
        kernel = window[:, None] * window[None, :]
        kernel = (kernel / kernel.sum()).float()
        self.register_buffer("kernel", kernel.expand(channels, 1, 3, 3).contiguous(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.conv2d(x * x, self.kernel.to(x.dtype), stride=self.stride, padding=self.padding, groups=x.shape[1])
        # In place on the convolution's fresh output (its backward does not read it; sqrt's reads its
        # result): two allocations fewer, and the same bits as sqrt(out + eps).
        return out.add_(self.EPS).sqrt_()

    def extra_repr(self) -> str:
        return f"channels={self.kernel.shape[0]}, kernel=hann 3×3, stride=2"


class L2PooledVGG16(_SlicedExtractor):
    """VGG16 ``features`` through relu5_3 with each max-pooling replaced by :class:`L2Pool2d`.

    Taps relu1_2 … relu5_3; ImageNet mean/std normalization of [0, 1] input, as every VGG here.
    """

    name = "vgg16-l2pool"
    available_layers = TAPS
    default_layers = TAPS

    def __init__(self, layers: Sequence[str] | None = None, weights: str | None = None):
        super().__init__(layers)
        with seeded_init(0):
            net = torchvision.models.vgg16(weights=None)
        pretrained = load_backbone_weights(net, "vgg16", weights, "DISTS backbone (VGG16)")
        names = vgg_layer_names(net.features)
        for index, module in enumerate(net.features):
            if isinstance(module, nn.MaxPool2d):
                channels = net.features[index - 2].out_channels  # the conv before the ReLU before the pool
                net.features[index] = L2Pool2d(channels)
        self._build(net, names, {name: i for i, name in enumerate(names)})
        self._finish(pretrained)
