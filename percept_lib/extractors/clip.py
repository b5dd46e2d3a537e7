"""CLIP ViT-B/32 with OpenAI's weights, through open_clip.

OpenAI trained CLIP with QuickGELU (x·σ(1.702x)); open_clip's plain ``ViT-B-32`` config uses nn.GELU.
Loading OpenAI's weights into the GELU model runs without complaint and gives subtly wrong embeddings,
so the model is built from ``ViT-B-32-quickgelu`` and the file loaded strictly.
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from contextlib import contextmanager
from typing import Sequence

import torch
import torch.nn.functional as F

from .. import weights as W
from .base import FeatureExtractor, seeded_init

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
CLIP_MODEL = "ViT-B-32-quickgelu"
CLIP_SIZE = 224


def clip_resize(x: torch.Tensor, size: int = CLIP_SIZE) -> torch.Tensor:
    """CLIP's preprocessing on a tensor: bicubic (antialiased) resize of the shorter side, centre crop.

    open_clip does the same with PIL on 8-bit images; the tensor route differs from it by resampling
    rounding only, and keeps the gradient. Bicubic interpolation overshoots at sharp edges; like PIL's
    8-bit output, the result is clamped to [0, 1].
    """
    h, w = x.shape[-2:]
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    if (nh, nw) != (h, w):
        x = F.interpolate(x, size=(nh, nw), mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)
    top, left = (nh - size) // 2, (nw - size) // 2
    return x[..., top: top + size, left: left + size]


@contextmanager
def _quiet_root_logger():
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


class CLIPViTB32(FeatureExtractor):
    """Image embeddings (tap ``embedding``, 512-d, not normalized) and :meth:`encode_text` for captions."""

    name = "clip-vit-b-32"
    available_layers = ("embedding",)
    default_layers = ("embedding",)

    def __init__(self, layers: Sequence[str] | None = None, weights: str | None = None):
        import open_clip

        super().__init__(layers, mean=OPENAI_CLIP_MEAN, std=OPENAI_CLIP_STD)
        with seeded_init(0), _quiet_root_logger():
            # open_clip logs "initialized randomly" here; the weights are loaded below, strictly.
            model = open_clip.create_model(CLIP_MODEL, pretrained=None)
        if W.use_random(weights):
            W.warn_random(self.name)
            pretrained = False
        else:
            path = W.resolve(self.name)
            W.load_into(model, W.read_state_dict(path, self.name), self.name, path)
            pretrained = True
        self.model = model
        self.tokenizer = open_clip.get_tokenizer(CLIP_MODEL)
        self._finish(pretrained)

    def forward(self, x):
        from ..images import validate_images

        # Resize (and clamp) the [0, 1] image first, then normalize, as open_clip's preprocessing does.
        return self.features(self.normalize(clip_resize(validate_images(x))))

    def features(self, x):
        return OrderedDict(embedding=self.model.encode_image(x))

    @torch.no_grad()
    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        if not texts or not all(isinstance(t, str) for t in texts):
            raise ValueError("texts: expected a non-empty list of strings")
        device = next(self.model.parameters()).device
        return self.model.encode_text(self.tokenizer(texts).to(device))
