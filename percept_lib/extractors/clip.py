"""CLIP with OpenAI's weights, through open_clip: ViT-B/32 (CLIPScore) and ViT-L/14 at 336 px (CMMD).

One class, :class:`CLIP`; a variant (``CLIP.variant("clip-vit-l-14-336")``) only names the open_clip config and
the weights artifact. OpenAI trained CLIP with QuickGELU (x·σ(1.702x)); open_clip's plain ``ViT-B-32`` and
``ViT-L-14-336`` configs use nn.GELU (its pretrained table marks the ``openai`` tags ``quick_gelu=True``).
Loading OpenAI's weights into a GELU model runs without complaint and gives subtly wrong embeddings, so the
models are built from the ``-quickgelu`` configs and the file loaded strictly. Each variant preprocesses at
its own resolution (224 or 336 px): shorter side resized (bicubic), centre crop, OpenAI's mean/std.
"""
from __future__ import annotations

import functools
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
# extractor / weights-artifact name → open_clip config (QuickGELU, as OpenAI trained them)
CLIP_VARIANTS = {
    "clip-vit-b-32": "ViT-B-32-quickgelu",
    "clip-vit-l-14-336": "ViT-L-14-336-quickgelu",
}
CLIP_MODEL = CLIP_VARIANTS["clip-vit-b-32"]
CLIP_SIZE = 224


def clip_resize(x: torch.Tensor, size: int = CLIP_SIZE) -> torch.Tensor:
    """CLIP's preprocessing on a tensor (uint8, or float in [0, 1]): bicubic (antialiased) resize of the shorter
    side to ``size``, centre crop to size×size.

    open_clip does the same with torchvision on PIL images (``Resize(size)``, ``CenterCrop(size)``); the sizes
    and offsets here are torchvision's (long side truncated, crop offset rounded), so the tensor route differs
    from it by PIL's 8-bit rounding after each of its two passes only (0.001 on average, up to ~0.03 at sharp
    edges, measured on photographs), and keeps the gradient. Bicubic interpolation overshoots at sharp
    edges; like PIL's 8-bit output, the result is clamped to [0, 1].
    """
    x = to_unit_float(x)
    h, w = x.shape[-2:]
    short, long = min(h, w), max(h, w)
    new_long = int(size * long / short)
    nh, nw = (size, new_long) if h <= w else (new_long, size)
    if (nh, nw) != (h, w):
        x = F.interpolate(x, size=(nh, nw), mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)
    top, left = int(round((nh - size) / 2.0)), int(round((nw - size) / 2.0))
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


class CLIP(FeatureExtractor):
    """Image embeddings (tap ``embedding``, not normalized: 512-d for ViT-B/32, 768-d for ViT-L/14) and
    :meth:`encode_text` for captions. Build a variant through ``get_extractor("clip-vit-l-14-336")`` (or
    ``CLIP.variant(name)(...)``).
    """

    name = ""
    open_clip_model = ""
    available_layers = ("embedding",)
    default_layers = ("embedding",)
    embedding_layer = "embedding"
    preprocess_on_cpu = False  # a tensor resize: runs on the batch, on its device

    @classmethod
    @functools.cache
    def variant(cls, name: str) -> type["CLIP"]:
        """The class of one model (``clip-vit-b-32``, ``clip-vit-l-14-336``): name and open_clip config only."""
        if name not in CLIP_VARIANTS:
            raise ValueError(f"unknown CLIP variant {name!r}; available: {', '.join(CLIP_VARIANTS)}")
        qualname = "CLIP" + name.removeprefix("clip-").replace("-", "").upper().replace("VIT", "ViT")
        return type(qualname, (cls,), {"name": name, "open_clip_model": CLIP_VARIANTS[name],
                                       "__module__": __name__, "__qualname__": qualname})

    def __init__(self, layers: Sequence[str] | None = None, weights: str | None = None):
        import open_clip

        if not self.open_clip_model:
            raise TypeError(f"CLIP needs a variant: get_extractor(name) with name in {', '.join(CLIP_VARIANTS)}")
        super().__init__(layers, mean=OPENAI_CLIP_MEAN, std=OPENAI_CLIP_STD)
        with seeded_init(0), _quiet_root_logger():
            # open_clip logs "initialized randomly" here; the weights are loaded below, strictly.
            model = open_clip.create_model(self.open_clip_model, pretrained=None)
        pretrained = load_backbone_weights(model, self.name, weights, self.name)
        self.model = model
        self.image_size = int(open_clip.get_model_config(self.open_clip_model)["vision_cfg"]["image_size"])
        self.tokenizer = open_clip.get_tokenizer(self.open_clip_model)
        self._finish(pretrained)

    # The folder pipeline's input protocol (see InceptionFID): preprocess, then embed.
    @property
    def preprocess(self):
        return functools.partial(clip_resize, size=self.image_size)

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
        return self.features(self.normalize(clip_resize(validate_images(x), self.image_size)))

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


# Module-level names, so that the variants pickle and read as classes.
CLIPViTB32 = CLIP.variant("clip-vit-b-32")
CLIPViTL14336 = CLIP.variant("clip-vit-l-14-336")
