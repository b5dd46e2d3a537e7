"""MS-SSIM — multi-scale structural similarity (Wang, Simoncelli, Bovik; Asilomar 2003), differentiable.

    MS-SSIM(x, y) = [l_M]^β_M · Π_{j=1..M} [cs_j]^β_j,   β = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), M = 5

Scale 1 is the image; each next scale is the previous one averaged over 2×2 blocks. cs_j is the mean
contrast-structure term (2 σxy + C2) / (σx² + σy² + C2) at scale j, l_M the mean luminance term at the
coarsest scale (so the last factor is that scale's mean SSIM). The statistics are SSIM's
(:mod:`percept_lib.losses.ssim`: Gaussian window σ = 1.5, 11 taps, K1 = 0.01, K2 = 0.03) and, as there, a
mean covers only positions whose whole window lies inside the image — the authors' MATLAB code filters
'valid' — so the coarsest scale must still hold one window: sides of at least (11 − 1)·2⁴ + 1 = 161 pixels.

Colour images are scored per channel and the channel scores averaged; each term is clipped at 0 before its
fractional power (a negative cs has no real power), as pytorch-msssim, piq and torchmetrics do. A side of
odd length is extended by repeating its last row or column before the 2×2 average, as the MATLAB code
(symmetric padding) and TensorFlow's ``ssim_multiscale`` do.

Equal to pytorch-msssim (within 7e-7: it builds its window in float32) and piq whenever every pooled side
is even (e.g. multiples of 16); on odd sides pytorch-msssim averages zero padding in (2e-2 apart on 171×205
photos) and piq repeats the first row instead of the last. torchmetrics'
``multiscale_structural_similarity_index_measure`` differs by design: it averages the coarsest scale's SSIM
over the whole map, its border computed on mirror-padded images, pools channels before the product and
drops an odd last row — up to 6e-3 apart on distorted 256-px photos.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from ..images import validate_pair
from .base import PairwiseModule
from .ssim import SIGMA, _check_constants, crop_border, ssim_terms, window_radius

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def minimum_size(scales: int = len(MS_SSIM_WEIGHTS), sigma: float = SIGMA) -> int:
    """The smallest side whose coarsest scale still holds one SSIM window: (window − 1)·2^(scales − 1) + 1."""
    return 2 * window_radius(sigma) * 2 ** (scales - 1) + 1


def downsample(x: torch.Tensor) -> torch.Tensor:
    """Average 2×2 blocks; an odd side first repeats its last row / column (MATLAB's symmetric padding)."""
    h, w = x.shape[-2:]
    if h % 2 or w % 2:
        x = F.pad(x, (0, w % 2, 0, h % 2), mode="replicate")
    return F.avg_pool2d(x, 2)


def _check_weights(weights: Sequence[float]) -> tuple[float, ...]:
    weights = tuple(float(w) for w in weights)
    if not weights or not all(w > 0 for w in weights):
        raise ValueError(f"weights={weights}: use one positive exponent per scale, e.g. {MS_SSIM_WEIGHTS}")
    return weights


def _check_size(x: torch.Tensor, scales: int, sigma: float) -> None:
    h, w = x.shape[-2:]
    side = minimum_size(scales, sigma)
    if min(h, w) < side:
        window = 2 * window_radius(sigma) + 1
        raise ValueError(
            f"images of {h}×{w} are too small for MS-SSIM's {scales} scales: the coarsest scale "
            f"(1/{2 ** (scales - 1)}) must still hold the {window}×{window} window; use images of at least "
            f"{side}×{side} (upsample them), fewer scales (weights=...) or SSIM (percept_lib.losses.ssim)"
        )


def _ms_ssim(x: torch.Tensor, y: torch.Tensor, data_range: float, sigma: float,
             weights: tuple[float, ...]) -> torch.Tensor:
    _check_constants(data_range, sigma)
    _check_size(x, len(weights), sigma)
    # Pool in float32 at least too: the coarse scales' statistics come from these averages.
    dtype = torch.promote_types(x.dtype, torch.float32)
    x, y = x.to(dtype), y.to(dtype)
    factors = []
    for scale in range(len(weights)):
        if scale:
            x, y = downsample(x), downsample(y)
        luminance, contrast_structure = ssim_terms(x, y, data_range, sigma)
        if scale == len(weights) - 1:
            contrast_structure = luminance * contrast_structure  # the last factor is l_M · cs_M: SSIM there
        factors.append(crop_border(contrast_structure, sigma).mean(dim=(2, 3)))  # N×C
    exponents = torch.tensor(weights, dtype=factors[0].dtype, device=factors[0].device).view(-1, 1, 1)
    per_channel = (torch.stack(factors).clamp_min(0) ** exponents).prod(dim=0)
    return per_channel.mean(dim=1)


def ms_ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, sigma: float = SIGMA,
            weights: Sequence[float] = MS_SSIM_WEIGHTS) -> torch.Tensor:
    """MS-SSIM of each pair of [0, 1] images, shape (N,); 1 for identical images, higher is more similar.

    Images need sides of at least 161 pixels for the standard 5 scales (``minimum_size()``); ``weights``
    sets one exponent per scale (fewer scales fit smaller images, but the score is then no longer the
    standard MS-SSIM). ``data_range`` only sets the constants, as in :func:`~percept_lib.losses.ssim.ssim`.
    Differentiable in both inputs.
    """
    x, y = validate_pair(x, y)
    return _ms_ssim(x, y, data_range, sigma, _check_weights(weights))


class MSSSIM(PairwiseModule):
    """MS-SSIM as a paired metric: higher is more similar, 1 for identical images; ``reduction="none"`` → (N,)."""

    def __init__(self, reduction: str = "none", data_range: float = 1.0, sigma: float = SIGMA,
                 weights: Sequence[float] = MS_SSIM_WEIGHTS):
        super().__init__(reduction)
        _check_constants(data_range, sigma)
        self.data_range, self.sigma, self.weights = float(data_range), float(sigma), _check_weights(weights)

    def compute(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return _ms_ssim(x, y, self.data_range, self.sigma, self.weights)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, data_range={self.data_range}, sigma={self.sigma}"


class MSSSIMLoss(MSSSIM):
    """1 − MS-SSIM as a loss: 0 for identical images, lower is better; ``reduction="mean"`` by default."""

    def __init__(self, reduction: str = "mean", data_range: float = 1.0, sigma: float = SIGMA,
                 weights: Sequence[float] = MS_SSIM_WEIGHTS):
        super().__init__(reduction, data_range, sigma, weights)

    def compute(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return 1 - super().compute(x, y)
