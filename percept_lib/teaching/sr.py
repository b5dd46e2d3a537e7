"""A tiny super-resolution setting for experiments with losses: ESPCN, patch data, a training loop.

ESPCN (Shi et al., CVPR 2016) upsamples with a sub-pixel convolution (``PixelShuffle``); with a few thousand
parameters it trains in seconds on a CPU, which is what a notebook comparing losses needs. The network
predicts a residual on top of the bicubic upsampling, so that training starts from a sensible image.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..data import random_crops
from ..images import validate_images


class ESPCN(nn.Module):
    """Conv(5×5) → Tanh → Conv(3×3) → Tanh → Conv(3×3) → PixelShuffle, plus bicubic upsampling."""

    def __init__(self, scale: int = 2, features: int = 32):
        super().__init__()
        if scale not in (2, 3, 4):
            raise ValueError(f"scale={scale}: use 2, 3 or 4")
        self.scale = scale
        self.body = nn.Sequential(
            nn.Conv2d(3, features, 5, padding=2), nn.Tanh(),
            nn.Conv2d(features, features // 2, 3, padding=1), nn.Tanh(),
            nn.Conv2d(features // 2, 3 * scale ** 2, 3, padding=1),
            nn.PixelShuffle(scale),
        )
        nn.init.zeros_(self.body[-2].weight)  # start as plain bicubic upsampling
        nn.init.zeros_(self.body[-2].bias)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        base = F.interpolate(lr, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return (base + self.body(lr)).clamp(0, 1)


def downscale(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """The degradation: area (box) downsampling by ``scale``; H and W must be divisible by it."""
    hr = validate_images(hr, "hr")
    if hr.shape[-1] % scale or hr.shape[-2] % scale:
        raise ValueError(f"image size {tuple(hr.shape[-2:])} is not divisible by scale {scale}; crop it first")
    return F.interpolate(hr, scale_factor=1 / scale, mode="area")


def make_patches(images: torch.Tensor, n: int, size: int, scale: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` random HR patches of side ``size`` (a multiple of ``scale``) and their LR versions."""
    if size % scale:
        raise ValueError(f"patch size {size} must be a multiple of scale {scale}")
    hr = random_crops(images, n, size, seed=seed)
    return hr, downscale(hr, scale)


def train_sr(
    model: nn.Module,
    loss_fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    hr: torch.Tensor,
    lr: torch.Tensor,
    steps: int,
    batch_size: int = 8,
    learning_rate: float = 1e-3,
    seed: int = 0,
) -> list[float]:
    """Adam on ``loss_fn(sr, hr, lr)`` over random mini-batches of the patches; returns the loss per step."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=learning_rate)
    history = []
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, hr.shape[0], (batch_size,), generator=g)
        opt.zero_grad()
        loss = loss_fn(model(lr[idx]), hr[idx], lr[idx])
        loss.backward()
        opt.step()
        history.append(loss.item())
    model.eval()
    return history
