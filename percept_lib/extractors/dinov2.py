"""DINOv2 ViT-S/14 (Oquab et al. 2023) through timm: CLS token and patch tokens as a feature map."""
from __future__ import annotations

import functools
from collections import OrderedDict
from typing import Sequence

import torch
import torch.nn.functional as F

from ..images import to_unit_float
from .base import FeatureExtractor, load_backbone_weights, seeded_init

DINOV2_MODEL = "vit_small_patch14_dinov2.lvd142m"
PATCH = 14


def resize_square(x: torch.Tensor, size: int) -> torch.Tensor:
    """Bicubic (antialiased, differentiable) resize to size×size; uint8 input is scaled to [0, 1] first."""
    x = to_unit_float(x)
    if tuple(x.shape[-2:]) == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False, antialias=True)


class DINOv2ViTS14(FeatureExtractor):
    """Taps ``cls`` (N×384) and ``patch`` (N×384×h×w, the patch tokens on their grid).

    Input is resized (bicubic, antialiased, differentiable) to ``image_size`` — a multiple of 14;
    timm's ``dynamic_img_size`` interpolates the position embeddings for that grid. ImageNet mean/std.
    """

    name = "dinov2-vits14"
    available_layers = ("cls", "patch")
    default_layers = ("cls", "patch")
    embedding_layer = "cls"
    preprocess_on_cpu = False  # a tensor resize: runs on the batch, on its device

    def __init__(self, layers: Sequence[str] | None = None, image_size: int = 224, weights: str | None = None):
        import timm

        if image_size % PATCH:
            raise ValueError(f"image_size={image_size}: use a multiple of {PATCH} (e.g. 224)")
        super().__init__(layers)
        self.image_size = image_size
        with seeded_init(0):
            model = timm.create_model(DINOV2_MODEL, pretrained=False, dynamic_img_size=True, num_classes=0)
        pretrained = load_backbone_weights(model, self.name, weights, self.name)
        self.model = model
        self._finish(pretrained)

    # The folder pipeline's input protocol (see InceptionFID): preprocess, then embed.
    @classmethod
    def layer_name(cls, layer) -> str:
        layer = cls.embedding_layer if layer is None else layer
        if layer not in cls.available_layers:
            raise ValueError(f"layer={layer!r}: {cls.name} has the taps {', '.join(cls.available_layers)}")
        return layer

    @property
    def preprocess(self):
        return functools.partial(resize_square, size=self.image_size)

    def feature_dim(self, layer: str = "cls") -> int:
        return self.model.embed_dim

    def embed(self, x: torch.Tensor, layer: str = "cls") -> torch.Tensor:
        """``cls``: the CLS token; ``patch``: the patch tokens averaged over the grid."""
        out = self.features(self.normalize(x))[layer]
        return out.mean(dim=(2, 3)) if out.dim() == 4 else out

    def features(self, x):
        x = resize_square(x, self.image_size)
        tokens = self.model.forward_features(x)
        prefix = self.model.num_prefix_tokens
        out = OrderedDict()
        if "cls" in self.layers:
            out["cls"] = tokens[:, 0]
        if "patch" in self.layers:
            grid = self.image_size // PATCH
            patches = tokens[:, prefix:]
            out["patch"] = patches.transpose(1, 2).reshape(x.shape[0], -1, grid, grid)
        return out
