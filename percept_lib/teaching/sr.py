"""A tiny super-resolution setting for experiments with losses: ESPCN, patch data, a training loop.

ESPCN (Shi et al., CVPR 2016) upsamples with a sub-pixel convolution: its last convolution outputs
``3·r²`` channels and ``PixelShuffle(r)`` rearranges them into an image r times larger, so each of the r²
positions of an r×r output block (its *phase*) comes from its own filter. With a few thousand parameters
it trains in seconds on a CPU, which is what a notebook comparing losses needs. The network predicts a
residual on top of the bicubic upsampling.

Phases with different filters give a pattern that repeats every r pixels: the checkerboard artefact.
``init`` chooses how the last convolution starts:

* ``"zero"`` (default): all filters 0, so the network starts as plain bicubic upsampling;
* ``"icnr"``: ICNR (Aitken et al. 2017, arXiv 1707.02937): one random filter per output channel, copied to
  its r² phases, so the residual starts as a nearest-neighbour upsampling of a convolution — random, but
  with no checkerboard (``"zero"`` is the special case whose shared filter is 0);
* ``"default"``: PyTorch's independent random filters — a checkerboard from the first step.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..data import random_crops
from ..images import validate_images

INITS = ("zero", "icnr", "default")


def icnr_(weight: torch.Tensor, scale: int, init=nn.init.kaiming_normal_) -> torch.Tensor:
    """Fill a sub-pixel convolution's ``weight`` (out = C·scale², in, k, k) in place with ICNR.

    One kernel is drawn per output channel C (with ``init``) and repeated for its scale² sub-pixel
    phases, in the channel order ``PixelShuffle`` reads (channel c·scale² + phase).
    """
    out_channels = weight.shape[0]
    if out_channels % scale ** 2:
        raise ValueError(f"weight has {out_channels} output channels, not a multiple of scale² = {scale ** 2}")
    base = torch.empty(out_channels // scale ** 2, *weight.shape[1:])
    init(base)
    with torch.no_grad():
        weight.copy_(base.repeat_interleave(scale ** 2, dim=0))
    return weight


class ESPCN(nn.Module):
    """Conv(5×5) → Tanh → Conv(3×3) → Tanh → Conv(3×3) → PixelShuffle, plus bicubic upsampling."""

    def __init__(self, scale: int = 2, features: int = 32, init: str = "zero"):
        super().__init__()
        if scale not in (2, 3, 4):
            raise ValueError(f"scale={scale}: use 2, 3 or 4")
        if init not in INITS:
            raise ValueError(f"init={init!r}: use one of {', '.join(INITS)}")
        self.scale = scale
        self.body = nn.Sequential(
            nn.Conv2d(3, features, 5, padding=2), nn.Tanh(),
            nn.Conv2d(features, features // 2, 3, padding=1), nn.Tanh(),
            nn.Conv2d(features // 2, 3 * scale ** 2, 3, padding=1),
            nn.PixelShuffle(scale),
        )
        last = self.body[-2]
        if init == "zero":  # start as plain bicubic upsampling
            nn.init.zeros_(last.weight)
        elif init == "icnr":
            icnr_(last.weight, scale)
        if init != "default":
            nn.init.zeros_(last.bias)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        base = F.interpolate(lr, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return (base + self.body(lr)).clamp(0, 1)


def checkerboard(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Per image, the RMS of the part of ``x`` that repeats every ``scale`` pixels (the checkerboard).

    The mean of each of the scale² sub-pixel phases (``x[..., i::scale, j::scale]``), minus the mean over
    all phases, per channel: a constant image or any pattern without a period-``scale`` component gives
    about 0; the pattern that independent sub-pixel filters add gives its amplitude. Apply it to a residual
    (SR − bicubic) to measure what the network added. Returns shape (N,).
    """
    if x.ndim != 4 or x.shape[-1] % scale or x.shape[-2] % scale:
        raise ValueError(f"checkerboard: expected N×C×H×W with H and W divisible by scale={scale}, "
                         f"got shape {tuple(x.shape)}; crop the image first")
    n, c, h, w = x.shape
    phases = x.reshape(n, c, h // scale, scale, w // scale, scale).mean(dim=(2, 4))  # N×C×scale×scale
    periodic = phases - phases.mean(dim=(2, 3), keepdim=True)
    return periodic.pow(2).mean(dim=(1, 2, 3)).sqrt()


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
