"""The FID Inception network: TensorFlow's 2015-12-05 Inception v3 graph as ported by pytorch-fid.

The architecture is pytorch-fid's, module for module (torchvision's Inception v3 with the FID patches:
average pools that ignore padding, a max pool in the last block, 1008 classes), so the same checkpoint
``pt_inception-2015-12-05-6726825d.pth`` loads strictly and the features are the ones every FID paper
reports. Taps: ``block64`` and ``block192`` (after the first and second max pool), ``block768`` (the
input of the auxiliary classifier), ``pool3`` (2048-d, the final average pool: *the* FID feature) and the
1008 class logits for the Inception Score: ``logits`` (the fc layer on pool3, bias included, as the
network's own classifier) and ``logits_unbiased`` (pool3 times the fc weights, no bias: what the original
Inception Score code read from the TF graph, ``softmax/logits/MatMul``, and torch-fidelity's IS default).
"""
from __future__ import annotations

import functools
from collections import OrderedDict
from typing import Sequence

import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.models import inception as tv_inception

from ..images import check_resize_mode, resize, to_unit_float, validate_images
from .base import FeatureExtractor, load_backbone_weights, seeded_init

INCEPTION_SIZE = 299
# The feature taps by dimension (pytorch-fid and torchmetrics name them so), then the class logits.
BLOCK_LAYERS = {"block64": 64, "block192": 192, "block768": 768, "pool3": 2048}
LOGIT_LAYERS = {"logits": 1008, "logits_unbiased": 1008}
INCEPTION_LAYERS = {**BLOCK_LAYERS, **LOGIT_LAYERS}


def inception_layer(feature) -> str:
    """The FID-Inception tap for ``feature``: a layer name (``"pool3"``, ``"logits"``) or a block's dimension
    (2048, 768, 192, 64)."""
    if isinstance(feature, str) and feature in INCEPTION_LAYERS:
        return feature
    by_dim = {d: name for name, d in BLOCK_LAYERS.items()}
    try:
        return by_dim[int(feature)]
    except (TypeError, ValueError, KeyError):
        choices = ", ".join(f"{d} ({name})" for name, d in BLOCK_LAYERS.items())
        raise ValueError(f"feature={feature!r}: use an Inception layer name ({', '.join(INCEPTION_LAYERS)}) "
                         f"or a block's dimension: {choices}") from None


def prepare_inception(images: torch.Tensor, mode: str) -> torch.Tensor:
    """Decoded images (uint8, or float in [0, 1]) → 299×299 float in [0, 1], resized with ``mode``.

    Module-level so that DataLoader workers can pickle it (see ``InceptionFID.preprocess``).
    """
    return resize(to_unit_float(images), INCEPTION_SIZE, mode)


class FIDInceptionA(tv_inception.InceptionA):
    def forward(self, x):
        branch1x1 = self.branch1x1(x)
        branch5x5 = self.branch5x5_2(self.branch5x5_1(x))
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        # TensorFlow's average pool does not count the zero padding.
        branch_pool = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False))
        return torch.cat([branch1x1, branch5x5, branch3x3dbl, branch_pool], 1)


class FIDInceptionC(tv_inception.InceptionC):
    def forward(self, x):
        branch1x1 = self.branch1x1(x)
        branch7x7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        branch7x7dbl = x
        for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3,
                      self.branch7x7dbl_4, self.branch7x7dbl_5):
            branch7x7dbl = layer(branch7x7dbl)
        branch_pool = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False))
        return torch.cat([branch1x1, branch7x7, branch7x7dbl, branch_pool], 1)


class FIDInceptionE(tv_inception.InceptionE):
    """Mixed_7b pools by average (without padding); Mixed_7c by max — a quirk of the TF graph, kept."""

    def __init__(self, in_channels: int, pool: str):
        super().__init__(in_channels)
        self.pool = pool

    def forward(self, x):
        branch1x1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        branch3x3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        branch3x3dbl = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        if self.pool == "max":
            pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        else:
            pooled = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)
        return torch.cat([branch1x1, branch3x3, branch3x3dbl, self.branch_pool(pooled)], 1)


def fid_inception_v3() -> nn.Module:
    """torchvision's Inception v3 skeleton patched into the FID graph (random weights)."""
    net = torchvision.models.inception_v3(weights=None, aux_logits=False, num_classes=1008, init_weights=False)
    net.Mixed_5b = FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = FIDInceptionE(1280, pool="avg")
    net.Mixed_7c = FIDInceptionE(2048, pool="max")
    return net


def calibrate_batchnorm(net: nn.Module, images: torch.Tensor) -> nn.Module:
    """Set every batch-norm layer's running statistics to those of ``images`` (N×3×299×299 in [-1, 1]).

    A randomly initialised 94-layer network with default statistics (mean 0, variance 1) loses its signal
    layer after layer: its pool3 features barely depend on the input, and every FID is ~0. With calibrated
    statistics the activations keep their scale and random-weight features become input-dependent —
    still meaningless as a metric, but a working illustration (and a real test of parity).
    """
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batch
    was_training = net.training
    net.train()
    with torch.no_grad():
        net(images)
    net.train(was_training)
    return net


def calibration_images(n: int = 8) -> torch.Tensor:
    """A fixed batch of scikit-image photographs at 299×299 in [-1, 1] (deterministic)."""
    from ..data import PHOTOS, photos

    return 2 * photos(PHOTOS[:n], INCEPTION_SIZE) - 1


class InceptionFID(FeatureExtractor):
    """FID Inception taps. Input: canonical [0, 1] batch of any size; resized to 299×299 here.

    ``resize="clean"`` (default; clean-fid's PIL bicubic on uint8, CPU, not differentiable) or
    ``"pytorch-fid"`` (bilinear ``F.interpolate``, as pytorch-fid's ``resize_input``; differentiable).
    Normalization: 2x − 1, as the TF graph expects [-1, 1]. With random weights (``PERCEPT_WEIGHTS=random``)
    the batch-norm statistics are calibrated on fixed photographs (:func:`calibrate_batchnorm`).
    """

    name = "inception-fid"
    available_layers = tuple(INCEPTION_LAYERS)
    default_layers = ("pool3",)
    embedding_layer = "pool3"
    resizes = True  # takes resize= (clean / pytorch-fid)

    def __init__(self, layers: Sequence[str] | None = None, resize: str = "clean", weights: str | None = None):
        check_resize_mode(resize)
        super().__init__(layers, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
        self.resize_mode = resize
        with seeded_init(0):
            net = fid_inception_v3()
        pretrained = load_backbone_weights(net, "inception-fid", weights, "inception-fid")
        if not pretrained:
            calibrate_batchnorm(net, calibration_images())
        blocks = [
            nn.Sequential(net.Conv2d_1a_3x3, net.Conv2d_2a_3x3, net.Conv2d_2b_3x3, nn.MaxPool2d(3, 2)),
            nn.Sequential(net.Conv2d_3b_1x1, net.Conv2d_4a_3x3, nn.MaxPool2d(3, 2)),
            nn.Sequential(net.Mixed_5b, net.Mixed_5c, net.Mixed_5d, net.Mixed_6a,
                          net.Mixed_6b, net.Mixed_6c, net.Mixed_6d, net.Mixed_6e),
            nn.Sequential(net.Mixed_7a, net.Mixed_7b, net.Mixed_7c, nn.AdaptiveAvgPool2d((1, 1))),
        ]
        last = max(self.available_layers.index(layer) for layer in self.layers)
        self.blocks = nn.ModuleList(blocks[: last + 1])
        # The classifier, only where a logits tap asks for it (dropout before it is the identity in eval).
        self.fc = net.fc if any(layer in LOGIT_LAYERS for layer in self.layers) else None
        self._finish(pretrained)

    # The input protocol of the folder pipeline (shared with CLIP and DINOv2): ``preprocess``
    # brings decoded images to the network's input, ``embed`` turns that input into one vector per image.
    @classmethod
    def layer_name(cls, layer) -> str:
        return cls.embedding_layer if layer is None else inception_layer(layer)

    @property
    def preprocess(self):
        return functools.partial(prepare_inception, mode=self.resize_mode)

    @property
    def preprocess_on_cpu(self) -> bool:
        """Clean resizing is PIL on the 8-bit image: per image, on the CPU (the loader's workers)."""
        return self.resize_mode == "clean"

    @staticmethod
    def feature_dim(layer: str) -> int:
        return INCEPTION_LAYERS[inception_layer(layer)]

    def embed(self, x: torch.Tensor, layer: str) -> torch.Tensor:
        """Preprocessed batch → N×d: the tap, spatially averaged for the 64/192/768 blocks."""
        return feature_vectors(self.features(self.normalize(x))[layer])

    def forward(self, x: torch.Tensor):
        return self.features(self.normalize(prepare_inception(validate_images(x), self.resize_mode)))

    def features(self, x):
        out = OrderedDict()
        for name, block in zip(self.available_layers, self.blocks):
            x = block(x)
            if name in self.layers:
                out[name] = x
        if self.fc is not None:
            pooled = x.flatten(1)
            if "logits" in self.layers:
                out["logits"] = self.fc(pooled)
            if "logits_unbiased" in self.layers:
                out["logits_unbiased"] = F.linear(pooled, self.fc.weight)
        return out


def feature_vectors(feature_map: torch.Tensor) -> torch.Tensor:
    """N×C×H×W → N×C by spatial average (pytorch-fid's treatment of the 64/192/768 blocks)."""
    if feature_map.dim() == 4:
        feature_map = F.adaptive_avg_pool2d(feature_map, (1, 1))
    return feature_map.flatten(1)
