"""Feature extractors: ``get_extractor(name, **options)`` → frozen module, ``extractor(x)`` → named maps.

Each backbone is built once per process for a given (name, options, weights mode, cache location) and
reused: building VGG16 and reading its 528 MB checkpoint takes seconds, a lookup takes nothing.
``get_extractor(name, device=...)`` gives the copy that lives on that device, so a caller never has to move
(and thereby move for everyone else) the shared CPU module.

Embedding extractors (``inception-fid``, ``clip-vit-b-32``, ``dinov2-vits14``) also own their input, which is
what the folder pipeline runs: ``preprocess`` (decoded uint8 or [0, 1] images → the network's input size,
picklable for DataLoader workers), ``preprocess_on_cpu`` (True when it must run per image on the CPU),
``layer_name(layer)`` (the canonical tap, ``None`` → ``embedding_layer``), ``feature_dim(layer)`` and
``embed(x, layer)`` (preprocessed batch → N×d).
"""
from __future__ import annotations

import copy
import os
from typing import Callable

import torch

from .. import weights as W
from .base import IMAGENET_MEAN, IMAGENET_STD, FeatureExtractor
from .clip import CLIPViTB32
from .dinov2 import DINOv2ViTS14
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
    "clip-vit-b-32": CLIPViTB32,
    "dinov2-vits14": DINOv2ViTS14,
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


def get_extractor(name: str, device=None, **options) -> FeatureExtractor:
    """The shared, frozen, eval-mode extractor ``name`` built with ``options`` (e.g. ``layers=``).

    ``device``: the copy on that device (built once from the CPU one; default: the CPU module).
    ``weights="random"`` or ``PERCEPT_WEIGHTS=random`` gives seeded random weights (with a warning);
    otherwise the pretrained file must be available (see ``python -m percept_lib weights status``).
    """
    build = extractor_class(name)
    mode = W.weights_mode(options.get("weights"))
    key = (name, _freeze(options), mode, str(W.checkpoint_dir()), os.environ.get("HF_HOME", ""))
    if key not in _CACHE:
        _CACHE[key] = build(**options)
    if device is None or torch.device(device) == torch.device("cpu"):
        return _CACHE[key]
    on_device = (*key, str(torch.device(device)))
    if on_device not in _CACHE:
        _CACHE[on_device] = copy.deepcopy(_CACHE[key]).to(device)
    return _CACHE[on_device]


def clear_cache() -> None:
    _CACHE.clear()


__all__ = [
    "EXTRACTORS", "FeatureExtractor", "get_extractor", "clear_cache", "embedding_extractors", "extractor_class", "VGG", "AlexNet", "SqueezeNet",
    "InceptionFID", "L2PooledVGG16", "CLIPViTB32", "DINOv2ViTS14", "feature_vectors", "vgg_layer_names",
    "IMAGENET_MEAN", "IMAGENET_STD",
]
