"""The one base class for every module that compares two images (losses and paired metrics), and the one
device and precision policy of every module that holds a shared backbone.

A subclass of :class:`PairwiseModule` writes only ``compute``: the per-sample value (shape (N,)) or a
per-sample map. The base validates both inputs, follows the input's device and precision, and applies
``reduction``.

Shared backbones. ``get_extractor`` hands the same cached VGG to every loss that asks for it (a VGG16 is
528 MB). A module that moved or cast such a backbone would move or cast it for every other loss as well, so
:class:`SharesBackbones` holds each feature extractor by reference, outside its module tree:
``.to(device)``, ``.double()`` or ``.half()`` on a loss apply to the loss's own weights (LPIPS's lin layers,
DISTS's α and β) and *swap* each backbone for the registry's copy on that device and in that precision
(:func:`percept_lib.extractors.shared_copy`) — the shared module itself never changes.

The policy, written once (:meth:`SharesBackbones.follow`): a module moves to its input's device; it computes
in float64 for float64 input (gradcheck) and in float32 otherwise. Half-precision input outside autocast is
computed in float32 (the input is cast up, the weights never down: the distance between two nearly equal
feature maps keeps ~3 digits in half precision); under ``torch.autocast`` the backbone runs in half
precision as autocast decides, and the distances are taken in float32.
"""
from __future__ import annotations

import torch
from torch import nn

from ..extractors import shared_copy
from ..extractors.base import FeatureExtractor
from ..images import validate_pair

REDUCTIONS = ("mean", "sum", "none")
HALF = (torch.float16, torch.bfloat16)


def check_reduction(reduction: str) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction={reduction!r}: use one of {REDUCTIONS}")
    return reduction


def reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    """Reduce per-sample values (first axis = batch) as ``reduction`` says."""
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    return values


class SharesBackbones(nn.Module):
    """A module whose feature extractors are shared with other modules and never changed by this one.

    Any :class:`~percept_lib.extractors.base.FeatureExtractor` assigned as an attribute is held by reference,
    not registered as a submodule: it is not in ``state_dict()`` or ``parameters()`` (it is frozen and not
    this module's to save), and ``_apply`` — what ``.to``, ``.cuda``, ``.double``, ``.half`` call — replaces
    it by its shared copy on the new device / in the new dtype instead of converting it in place.
    """

    def __setattr__(self, name: str, value) -> None:
        if isinstance(value, FeatureExtractor):
            self._modules.pop(name, None)
            names = self.__dict__.setdefault("_backbone_names", [])
            if name not in names:
                names.append(name)
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def _backbones(self) -> list[str]:
        return self.__dict__.get("_backbone_names", [])

    def _apply(self, fn, recurse: bool = True):
        super()._apply(fn, recurse)
        for name in self._backbones():
            backbone = self.__dict__[name]
            state = backbone.mean  # every extractor has this buffer: it shows the device and dtype
            probe = fn(torch.empty(0, device=state.device, dtype=state.dtype))
            object.__setattr__(self, name, shared_copy(backbone, probe.device, probe.dtype))
        return self

    def _state(self) -> torch.Tensor | None:
        """A tensor that shows where this module computes: its own first weight, else a backbone's buffer."""
        own = next(self.parameters(), None)
        if own is None:
            own = next(self.buffers(), None)
        if own is None and self._backbones():
            own = self.__dict__[self._backbones()[0]].mean
        return own

    def follow(self, *images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Apply the policy (module docstring) for these inputs; returns them in the precision to compute in."""
        x = images[0]
        if x.dtype in HALF and not torch.is_autocast_enabled(x.device.type):
            images = tuple(t.float() for t in images)
        wanted = torch.float64 if x.dtype == torch.float64 else torch.float32
        state = self._state()
        if state is not None and (state.device != x.device or state.dtype != wanted):
            self.to(device=x.device, dtype=wanted)
        return images


class PairwiseModule(SharesBackbones):
    """``forward(x, y)`` on canonical [0, 1] batches → per-sample values reduced by ``reduction``.

    Subclasses implement ``compute(x, y)`` returning a tensor whose first axis is the batch. Inputs are
    validated (shapes, range, NaN, dims) with messages that name the fix; the module follows the input's
    device and precision (:meth:`SharesBackbones.follow`), so a loss can be dropped into any training loop.
    """

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = check_reduction(reduction)

    def compute(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x, y = self.follow(*validate_pair(x, y))
        # Distances come back in float32 at least (autocast's rule for losses): a half-precision distance
        # keeps ~3 significant digits of a typical 0.02.
        return reduce(self.compute(x, y), self.reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"
