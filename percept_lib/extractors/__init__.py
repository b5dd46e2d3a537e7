"""Feature extractors: ``get_extractor(name, **options)`` → frozen module, ``extractor(x)`` → named maps.

Each backbone is built once per process for a given (name, options, weights mode, cache location) and
reused: building VGG16 and reading its 528 MB checkpoint takes seconds, a lookup takes nothing.
``get_extractor(name, device=...)`` gives the copy that lives on that device, so a caller never has to move
(and thereby move for everyone else) the shared CPU module.

Embedding extractors (``inception-fid``; ``clip-vit-b-32``, ``clip-vit-l-14-336``; ``dinov2-vits14``,
``dinov2-vitb14``, ``dinov2-vitl14``) also own their input, which is what the folder pipeline runs:
``preprocess`` (decoded uint8 or [0, 1] images → the network's input size, picklable for DataLoader
workers), ``preprocess_on_cpu`` (True when it must run per image on the CPU), ``layer_name(layer)`` (the
canonical tap, ``None`` → ``embedding_layer``), ``feature_dim(layer)`` and ``embed(x, layer)`` (preprocessed
batch → N×d).
"""
from __future__ import annotations

import copy
import os
from typing import Callable

import torch

from .. import weights as W
from .base import IMAGENET_MEAN, IMAGENET_STD, FeatureExtractor
from .clip import CLIP, CLIP_VARIANTS, CLIPViTB32, CLIPViTL14336
from .dinov2 import DINOV2_VARIANTS, DINOv2, DINOv2ViTB14, DINOv2ViTL14, DINOv2ViTS14
from .inception import InceptionFID, feature_vectors
from .torchvision_nets import VGG, AlexNet, SqueezeNet, vgg_layer_names
from .vgg_l2pool import L2PooledVGG16

EXTRACTORS: dict[str, Callable[..., FeatureExtractor]] = {
    "vgg16": lambda **kw: VGG(16, **kw),
    "vgg19": lambda **kw: VGG(19, **kw),
    "vgg16-l2pool": L2PooledVGG16,
    "alexnet": AlexNet,
    "squeezenet": SqueezeNet,
    "inception-fid": InceptionFID,
    **{name: CLIP.variant(name) for name in CLIP_VARIANTS},
    **{name: DINOv2.variant(name) for name in DINOV2_VARIANTS},
}

_CACHE: dict[tuple, FeatureExtractor] = {}


def embedding_extractors() -> tuple[str, ...]:
    """The extractors that own their input (see above): usable on folders of images."""
    return tuple(name for name, build in EXTRACTORS.items() if hasattr(build, "embed"))


def extractor_class(name: str):
    if name not in EXTRACTORS:
        raise ValueError(f"unknown extractor {name!r}; available: {', '.join(EXTRACTORS)}")
    return EXTRACTORS[name]


def _freeze(value):
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value


def get_extractor(name: str, device=None, dtype: torch.dtype | None = None, **options) -> FeatureExtractor:
    """The shared, frozen, eval-mode extractor ``name`` built with ``options`` (e.g. ``layers=``).

    ``device`` / ``dtype``: the shared copy on that device, in that precision (:func:`shared_copy`; default:
    the float32 CPU module). ``weights="random"`` or ``PERCEPT_WEIGHTS=random`` gives seeded random weights
    (with a warning); otherwise the pretrained file must be available (``python -m percept_lib weights status``).
    """
    build = extractor_class(name)
    mode = W.weights_mode(options.get("weights"))
    key = (name, _freeze(options), mode, str(W.checkpoint_dir()), os.environ.get("HF_HOME", ""))
    if key not in _CACHE:
        _CACHE[key] = build(**options)
    return shared_copy(_CACHE[key], device, dtype)


def shared_copy(extractor: FeatureExtractor, device=None, dtype: torch.dtype | None = None) -> FeatureExtractor:
    """The copy of a shared ``extractor`` on ``device`` in ``dtype`` (either default: the extractor's own).

    Made once from the CPU float32 original (never from another copy: a float16 copy cast back would have lost
    digits) and kept with it, so every module asking for VGG16 on ``cuda`` in float64 gets the same one.
    This is how a loss changes device or precision without changing a module that other losses share.
    """
    original = extractor.__dict__.get("_shared_original", extractor)
    state = original.mean  # every extractor has this buffer; it shows the original's device and dtype
    device = state.device if device is None else torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    dtype = state.dtype if dtype is None else dtype
    if (device, dtype) == (state.device, state.dtype):
        return original
    copies = original.__dict__.setdefault("_shared_copies", {})
    if (device, dtype) not in copies:
        duplicate = copy.deepcopy(original, memo={id(copies): {}})  # the copy does not carry the others
        duplicate.to(device=device, dtype=dtype)
        object.__setattr__(duplicate, "_shared_original", original)  # a reference, not a submodule
        copies[(device, dtype)] = duplicate
    return copies[(device, dtype)]


def clear_cache() -> None:
    _CACHE.clear()


__all__ = [
    "EXTRACTORS", "FeatureExtractor", "get_extractor", "shared_copy", "clear_cache", "embedding_extractors", "extractor_class", "VGG", "AlexNet", "SqueezeNet",
    "InceptionFID", "L2PooledVGG16", "CLIP", "CLIPViTB32", "CLIPViTL14336", "DINOv2", "DINOv2ViTS14",
    "DINOv2ViTB14", "DINOv2ViTL14", "feature_vectors", "vgg_layer_names",
    "IMAGENET_MEAN", "IMAGENET_STD",
]
