"""What every feature extractor shares: frozen weights, the backbone's own input normalization, named taps."""
from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
from torch import nn

from .. import weights as W
from ..images import validate_images

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class FeatureExtractor(nn.Module):
    """Frozen backbone: ``extractor(x)`` on a canonical [0, 1] batch → ``OrderedDict{layer_name: tensor}``.

    Subclasses set ``available_layers`` (in forward order), implement :meth:`features` on normalized
    input, and call :meth:`_finish` at the end of ``__init__``. The weights never require grad; the
    gradient flows to the input, so an extractor serves losses as well as metrics.
    """

    available_layers: tuple[str, ...] = ()
    default_layers: tuple[str, ...] = ()
    name: str = ""
    # The most pixels (N·H·W) a pass over several batches should hold on a CPU, or None for no limit: see
    # percept_lib.losses.perceptual.batched_features, which packs batches into passes.
    max_pass_pixels: int | None = None

    def __init__(self, layers: Sequence[str] | None = None, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        super().__init__()
        layers = tuple(layers) if layers is not None else self.default_layers
        unknown = [layer for layer in layers if layer not in self.available_layers]
        if unknown or not layers:
            raise ValueError(
                f"{self.name}: unknown layer(s) {unknown}; available: {', '.join(self.available_layers)}"
            )
        # Keep forward order whatever order the user asked in, so one pass serves all taps.
        self.layers = tuple(layer for layer in self.available_layers if layer in layers)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.pretrained = False

    def _finish(self, pretrained: bool) -> None:
        self.pretrained = pretrained
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True):
        # A frozen feature extractor stays in eval mode (batch-norm statistics, dropout) even when the
        # loss module that holds it is put in training mode.
        return super().train(False)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def features(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        x = validate_images(x)
        return self.features(self.normalize(x))

    @property
    def weights_label(self) -> str:
        return "pretrained" if self.pretrained else "random weights (illustrative)"

    def extra_repr(self) -> str:
        return f"layers={self.layers}, pretrained={self.pretrained}"


def load_backbone_weights(module: nn.Module, artifact: str, weights: str | None, what: str) -> bool:
    """Load the artifact into ``module`` strictly, or leave it seeded-random when random mode is chosen.

    Returns whether pretrained weights were loaded.
    """
    if W.use_random(weights):
        W.warn_random(what)
        return False
    path = W.resolve(artifact)
    W.load_into(module, W.read_state_dict(path, artifact), artifact, path)
    return True


class _Seeded:
    def __init__(self, seed: int):
        self.seed = seed
        self._ctx = None

    def __enter__(self):
        self._ctx = torch.random.fork_rng(devices=[])
        self._ctx.__enter__()
        torch.manual_seed(self.seed)

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def seeded_init(seed: int = 0) -> _Seeded:
    """Build random-weight models reproducibly without disturbing the caller's random state."""
    return _Seeded(seed)
