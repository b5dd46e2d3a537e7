"""The one base class for every module that compares two images (losses and paired metrics).

It does what every such module must do the same way — validate both inputs, follow the input's device
and dtype, keep its backbone frozen, apply ``reduction`` — so that a subclass writes only ``compute``:
the per-sample value (shape (N,)) or a per-sample map.
"""
from __future__ import annotations

import torch
from torch import nn

from ..images import validate_pair

REDUCTIONS = ("mean", "sum", "none")


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


class PairwiseModule(nn.Module):
    """``forward(x, y)`` on canonical [0, 1] batches → per-sample values reduced by ``reduction``.

    Subclasses implement ``compute(x, y)`` returning a tensor whose first axis is the batch. Inputs are
    validated (shapes, range, NaN, dims) with messages that name the fix. The module moves itself to the
    input's device on first use, and computes in the input's floating dtype (float64 for gradcheck, half
    precision under autocast), so a loss can be dropped into any training loop.
    """

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = check_reduction(reduction)

    def compute(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _follow(self, x: torch.Tensor) -> None:
        """Move to the input's device; compute in float64 for float64 input, else in float32.

        Half-precision input is computed in float32 (or by autocast, where the caller enabled it): the
        module itself is never cast to half, so its small weight buffers keep their precision.
        """
        p = next(self.parameters(), None)
        if p is None:
            p = next(self.buffers(), None)
        if p is None:
            return
        if p.device != x.device:
            self.to(x.device)
        wanted = torch.float64 if x.dtype == torch.float64 else torch.float32
        if p.dtype != wanted:
            self.to(wanted)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x, y = validate_pair(x, y)
        self._follow(x)
        if x.dtype in (torch.float16, torch.bfloat16) and not torch.is_autocast_enabled(x.device.type):
            x, y = x.float(), y.float()
        # Distances come back in float32 at least (autocast's rule for losses): a half-precision distance
        # keeps ~3 significant digits of a typical 0.02.
        return reduce(self.compute(x, y), self.reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"
