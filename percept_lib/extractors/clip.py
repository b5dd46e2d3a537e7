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

from ..images import to_unit_float, validate_images
from .base import FeatureExtractor, load_backbone_weights, seeded_init

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
CLIP_MODEL = "ViT-B-32-quickgelu"
CLIP_SIZE = 224


def clip_resize(x: torch.Tensor, size: int = CLIP_SIZE) -> torch.Tensor:
    """CLIP's preprocessing on a tensor (uint8, or float in [0, 1]): bicubic (antialiased) resize of the shorter
    side, centre crop.

    open_clip does the same with PIL on 8-bit images; the tensor route differs from it by resampling
    rounding only, and keeps the gradient. Bicubic interpolation overshoots at sharp edges; like PIL's
    8-bit output, the result is clamped to [0, 1].
    """
    x = to_unit_float(x)
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
    embedding_layer = "embedding"
    preprocess_on_cpu = False  # a tensor resize: runs on the batch, on its device

    def __init__(self, layers: Sequence[str] | None = None, weights: str | None = None):
        import open_clip

        super().__init__(layers, mean=OPENAI_CLIP_MEAN, std=OPENAI_CLIP_STD)
        with seeded_init(0), _quiet_root_logger():
            # open_clip logs "initialized randomly" here; the weights are loaded below, strictly.
            model = open_clip.create_model(CLIP_MODEL, pretrained=None)
        pretrained = load_backbone_weights(model, self.name, weights, self.name)
        self.model = model
        self.tokenizer = open_clip.get_tokenizer(CLIP_MODEL)
        self._finish(pretrained)

    # The folder pipeline's input protocol (see InceptionFID): preprocess, then embed.
    preprocess = staticmethod(clip_resize)

    @classmethod
    def layer_name(cls, layer) -> str:
        if layer not in (None, "embedding"):
            raise ValueError(f"layer={layer!r}: {cls.name} has one tap, 'embedding'")
        return "embedding"

    def feature_dim(self, layer: str = "embedding") -> int:
        return self.model.visual.output_dim

    def embed(self, x: torch.Tensor, layer: str = "embedding") -> torch.Tensor:
        return self.features(self.normalize(x))["embedding"]

    def forward(self, x):
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
