"""DINOv2 (Oquab et al. 2023) through timm, ViT-S/14, ViT-B/14 and ViT-L/14: CLS token and patch tokens.

One class, :class:`DINOv2`; a variant (``DINOv2.variant("dinov2-vitl14")``) only names the timm model and the
weights artifact. The preprocessing is dgm-eval's (Stein et al. 2023), the one under which DINOv2 ViT-L/14
ranked generative models as people did: a square 224×224 bicubic resize (no crop), ImageNet mean/std, the
CLS token after the final norm.
"""
from __future__ import annotations

import functools
from collections import OrderedDict
from typing import Sequence

import torch
import torch.nn.functional as F

from ..images import to_unit_float, validate_images
from .base import FeatureExtractor, load_backbone_weights, seeded_init

# extractor / weights-artifact name → timm model (LVD-142M pretraining, the released DINOv2 backbones)
DINOV2_VARIANTS = {
    "dinov2-vits14": "vit_small_patch14_dinov2.lvd142m",
    "dinov2-vitb14": "vit_base_patch14_dinov2.lvd142m",
    "dinov2-vitl14": "vit_large_patch14_dinov2.lvd142m",
}
DINOV2_MODEL = DINOV2_VARIANTS["dinov2-vits14"]
PATCH = 14


def resize_square(x: torch.Tensor, size: int) -> torch.Tensor:
    """Bicubic (antialiased, differentiable) resize to size×size, clamped to [0, 1]; uint8 input is scaled first.

    The tensor counterpart of torchvision's ``Resize((size, size), BICUBIC)`` on a PIL image (dgm-eval's
    DINOv2 transform): PIL's bicubic is antialiased with a = −0.5, as ``antialias=True`` is here, and its
    8-bit output cannot overshoot, hence the clamp. PIL rounds to 8 bits after each of its two passes, so
    the two routes differ by 0.001 on average and up to ~0.03 at sharp edges (measured on photographs).
    """
    x = to_unit_float(x)
    return x if tuple(x.shape[-2:]) == (size, size) else _bicubic(x, size).clamp(0, 1)


def _bicubic(x: torch.Tensor, size: int) -> torch.Tensor:
    return F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False, antialias=True)


class DINOv2(FeatureExtractor):
    """Taps ``cls`` (N×d) and ``patch`` (N×d×h×w, the patch tokens on their grid); d = 384 / 768 / 1024.

    Input is resized (bicubic, antialiased, differentiable) to ``image_size`` — a multiple of 14;
    timm's ``dynamic_img_size`` interpolates the position embeddings for that grid. ImageNet mean/std.
    Build a variant through ``get_extractor("dinov2-vitb14")`` (or ``DINOv2.variant(name)(...)``).
    """

    name = ""
    timm_model = ""
    available_layers = ("cls", "patch")
    default_layers = ("cls", "patch")
    embedding_layer = "cls"
    preprocess_on_cpu = False  # a tensor resize: runs on the batch, on its device

    @classmethod
    @functools.cache
    def variant(cls, name: str) -> type["DINOv2"]:
        """The class of one size (``dinov2-vits14``, ``dinov2-vitb14``, ``dinov2-vitl14``): name and model only."""
        if name not in DINOV2_VARIANTS:
            raise ValueError(f"unknown DINOv2 variant {name!r}; available: {', '.join(DINOV2_VARIANTS)}")
        qualname = "DINOv2ViT" + name.rsplit("-vit", 1)[1].upper()  # dinov2-vitb14 → DINOv2ViTB14
        return type(qualname, (cls,), {"name": name, "timm_model": DINOV2_VARIANTS[name],
                                       "__module__": __name__, "__qualname__": qualname})

    def __init__(self, layers: Sequence[str] | None = None, image_size: int = 224, weights: str | None = None):
        import timm

        if not self.timm_model:
            raise TypeError(f"DINOv2 needs a variant: get_extractor(name) with name in {', '.join(DINOV2_VARIANTS)}")
        if image_size % PATCH:
            raise ValueError(f"image_size={image_size}: use a multiple of {PATCH} (e.g. 224)")
        super().__init__(layers)
        self.image_size = image_size
        with seeded_init(0):
            model = timm.create_model(self.timm_model, pretrained=False, dynamic_img_size=True, num_classes=0)
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

    def forward(self, x):
        # Resize (and clamp) the [0, 1] image first, then normalize: the order of dgm-eval's transform.
        return self.features(self.normalize(resize_square(validate_images(x), self.image_size)))

    def features(self, x):
        if tuple(x.shape[-2:]) != (self.image_size,) * 2:  # normalized input of another size: no clamp here
            x = _bicubic(x, self.image_size)
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


# Module-level names, so that the variants pickle and read as classes.
DINOv2ViTS14 = DINOv2.variant("dinov2-vits14")
DINOv2ViTB14 = DINOv2.variant("dinov2-vitb14")
DINOv2ViTL14 = DINOv2.variant("dinov2-vitl14")
