"""DINOv2 ViT-S/14 (Oquab et al. 2023) through timm: CLS token and patch tokens as a feature map."""
from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
import torch.nn.functional as F

from .. import weights as W
from .base import FeatureExtractor, seeded_init

DINOV2_MODEL = "vit_small_patch14_dinov2.lvd142m"
PATCH = 14


class DINOv2ViTS14(FeatureExtractor):
    """Taps ``cls`` (N×384) and ``patch`` (N×384×h×w, the patch tokens on their grid).

    Input is resized (bicubic, antialiased, differentiable) to ``image_size`` — a multiple of 14;
    timm's ``dynamic_img_size`` interpolates the position embeddings for that grid. ImageNet mean/std.
    """

    name = "dinov2-vits14"
    available_layers = ("cls", "patch")
    default_layers = ("cls", "patch")

    def __init__(self, layers: Sequence[str] | None = None, image_size: int = 224, weights: str | None = None):
        import timm

        if image_size % PATCH:
            raise ValueError(f"image_size={image_size}: use a multiple of {PATCH} (e.g. 224)")
        super().__init__(layers)
        self.image_size = image_size
        with seeded_init(0):
            model = timm.create_model(DINOV2_MODEL, pretrained=False, dynamic_img_size=True, num_classes=0)
        if W.use_random(weights):
            W.warn_random(self.name)
            pretrained = False
        else:
            path = W.resolve(self.name)
            W.load_into(model, W.read_state_dict(path, self.name), self.name, path)
            pretrained = True
        self.model = model
        self._finish(pretrained)

    def features(self, x):
        if tuple(x.shape[-2:]) != (self.image_size, self.image_size):
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bicubic",
                              align_corners=False, antialias=True)
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
