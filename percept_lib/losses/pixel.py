"""Pixel losses (MSE, L1) and PSNR: the baselines every perceptual measure is compared against.

All three are per image — the mean over its C·H·W values — so a batch gives N values before ``reduction``;
``MSELoss(reduction="mean")`` equals ``torch.nn.functional.mse_loss`` on equal-size batches.
"""
from __future__ import annotations

import math

import torch

from ..images import validate_pair
from .base import PairwiseModule


def _per_image_mean(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).mean(1)


class MSELoss(PairwiseModule):
    """Mean squared error per image, mean over C·H·W; then ``reduction`` over the batch."""

    def compute(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return _per_image_mean((x - y).square())


class L1Loss(PairwiseModule):
    """Mean absolute error per image, mean over C·H·W; then ``reduction`` over the batch."""

    def compute(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return _per_image_mean((x - y).abs())


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio per image in dB: 10 · log10(data_range² / MSE), shape (N,).

    The images are [0, 1] tensors (shared validation); ``data_range`` is the peak used in the formula and
    stays 1.0 for them — it exists to reproduce conventions that quote PSNR against another peak. The MSE is
    taken over all C·H·W values of an image (skimage's ``peak_signal_noise_ratio`` convention), in at least
    float32. Identical images have MSE 0 and PSNR +inf: returned as such, not clipped to an arbitrary cap,
    so that a summary can count them instead of averaging a made-up number into the mean.
    """
    x, y = validate_pair(x, y)
    try:
        peak = float(data_range)
    except (TypeError, ValueError):
        peak = float("nan")
    if not (math.isfinite(peak) and peak > 0):
        raise ValueError(f"data_range={data_range!r}: use the peak value of the images, 1.0 for [0, 1] images")
    if x.dtype in (torch.float16, torch.bfloat16):
        x, y = x.float(), y.float()
    mse = _per_image_mean((x - y).square())
    return 10 * torch.log10(peak ** 2 / mse)
