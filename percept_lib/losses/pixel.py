"""Pixel losses (MSE, L1) and PSNR — the baselines every perceptual measure is compared against."""
from __future__ import annotations

import torch

from ..images import validate_pair
from .base import PairwiseModule


class MSELoss(PairwiseModule):
    """Mean squared error per image (mean over C·H·W), then ``reduction`` over the batch."""

    def compute(self, x, y):
        return ((x - y) ** 2).flatten(1).mean(1)


class L1Loss(PairwiseModule):
    """Mean absolute error per image (mean over C·H·W), then ``reduction`` over the batch."""

    def compute(self, x, y):
        return (x - y).abs().flatten(1).mean(1)


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio per image, in dB: 10·log10(data_range² / MSE), shape (N,).

    Identical images have MSE 0 and PSNR +inf (returned as such, not clipped: a summary should count
    them rather than average an arbitrary cap into the mean).
    """
    x, y = validate_pair(x, y)
    if data_range <= 0:
        raise ValueError(f"data_range={data_range}: use the images' value range, 1.0 for [0, 1] images")
    mse = ((x - y) ** 2).flatten(1).mean(1)
    return 10 * torch.log10(data_range ** 2 / mse)
