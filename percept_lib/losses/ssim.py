"""SSIM — structural similarity (Wang, Bovik, Sheikh, Simoncelli; IEEE TIP 2004), differentiable, on any device.

    SSIM(x, y) = (2 μx μy + C1)(2 σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2)),
    C1 = (K1 L)², C2 = (K2 L)², K1 = 0.01, K2 = 0.03, L = data range (1 for [0, 1] images)

with local means, variances and covariance taken under a Gaussian window (σ = 1.5, 11 taps), as
population statistics (÷ N, not N − 1). The map is computed per channel; the per-image score is the mean
of the map over channels and positions, after cropping (window − 1) / 2 = 5 pixels from every border.

This is exactly scikit-image's ``structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=1, channel_axis=-1)`` — the settings its documentation gives for
matching Wang et al.: scipy's ``gaussian_filter`` with ``truncate=3.5`` (radius int(3.5 σ + 0.5) = 5) and
``mode="reflect"``, i.e. half-sample symmetric padding (d c b a | a b c d | d c b a, what numpy calls
"symmetric" and torch's ``F.pad`` does not offer: its "reflect" is scipy's "mirror"). Because the crop
equals the filter radius, the mean score never sees the padded values; the padding matters for the
border of :func:`ssim_map`, which equals skimage's ``full=True`` map everywhere.

Peers differ here (read in the source of torchmetrics 1.9 and piq 0.8, and measured):
torchmetrics averages the whole map, border included, after padding with torch's "reflect" (scipy's
"mirror"), and by default estimates ``data_range`` from the data (max − min) — 0.011 lower than skimage on
a noisy 96×128 photo; piq filters "valid" (which equals the crop) but first average-pools the images by
round(min(H, W) / 256), so from 384 px on it scores a smaller image.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..images import validate_pair
from .base import PairwiseModule

SIGMA = 1.5
TRUNCATE = 3.5  # scipy's truncation, in standard deviations; skimage's choice to get 11 taps at σ = 1.5
K1 = 0.01
K2 = 0.03


def window_radius(sigma: float = SIGMA) -> int:
    """scipy.ndimage's Gaussian radius: int(truncate · σ + 0.5)."""
    return int(TRUNCATE * sigma + 0.5)


def gaussian_window(sigma: float = SIGMA, *, dtype=torch.float32, device=None) -> torch.Tensor:
    """The 1-D normalized Gaussian scipy.ndimage.gaussian_filter uses (2r + 1 taps, r = window_radius)."""
    r = window_radius(sigma)
    t = torch.arange(-r, r + 1, dtype=torch.float64)
    w = torch.exp(-0.5 * (t / sigma) ** 2)
    return (w / w.sum()).to(dtype=dtype, device=device)


def _symmetric_indices(n: int, r: int, device) -> torch.Tensor:
    """Indices that pad a length-n axis by r on each side the way scipy's mode="reflect" does.

    Works for any r, even r ≥ n (the pattern repeats with period 2n).
    """
    i = torch.arange(-r, n + r, device=device) % (2 * n)
    return torch.where(i < n, i, 2 * n - 1 - i)


def gaussian_filter(x: torch.Tensor, sigma: float = SIGMA) -> torch.Tensor:
    """Per-channel separable Gaussian blur of an N×C×H×W tensor = scipy's gaussian_filter(mode="reflect")."""
    n, c, h, w = x.shape
    window = gaussian_window(sigma, dtype=x.dtype, device=x.device)
    r = (window.numel() - 1) // 2
    planes = x.reshape(n * c, 1, h, w)
    planes = planes.index_select(3, _symmetric_indices(w, r, x.device))
    planes = F.conv2d(planes, window.view(1, 1, 1, -1))
    planes = planes.index_select(2, _symmetric_indices(h, r, x.device))
    planes = F.conv2d(planes, window.view(1, 1, -1, 1))
    return planes.reshape(n, c, h, w)


def _check_constants(data_range: float, sigma: float) -> None:
    if not data_range > 0:
        raise ValueError(f"data_range={data_range}: use the span of the values, 1.0 for [0, 1] images")
    if not sigma > 0:
        raise ValueError(f"sigma={sigma}: use a positive standard deviation (1.5 in Wang et al.)")


def _check_size(x: torch.Tensor, sigma: float) -> int:
    """The window size; raises if the images are smaller than the window (skimage refuses them too)."""
    size = 2 * window_radius(sigma) + 1
    h, w = x.shape[-2:]
    if min(h, w) < size:
        raise ValueError(
            f"images of {h}×{w} are smaller than the {size}×{size} SSIM window (σ = {sigma}); "
            f"use images at least {size}×{size} (upsample them) or a smaller sigma"
        )
    return size


def ssim_terms(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0,
               sigma: float = SIGMA) -> tuple[torch.Tensor, torch.Tensor]:
    """The two factors of the SSIM map, per channel and position: luminance (2 μx μy + C1) / (μx² + μy² + C1)
    and contrast-structure (2 σxy + C2) / (σx² + σy² + C2); SSIM is their product. No validation here.

    MS-SSIM (:mod:`percept_lib.losses.ms_ssim`) weighs them separately across scales.
    """
    # Variances are differences of nearly equal moments (E[x²] − μ²), compared with C2 = 9e-4: in half
    # precision they drown in rounding (bfloat16 is off by 0.03 in SSIM on photos). So the statistics are
    # computed in float32 at least, with autocast off; half-precision inputs give a float32 result.
    dtype = torch.promote_types(x.dtype, torch.float32)
    with torch.autocast(x.device.type, enabled=False):
        x, y = x.to(dtype), y.to(dtype)
        # One filtering pass over all five planes: μx, μy, E[x²], E[y²], E[xy].
        moments = gaussian_filter(torch.cat([x, y, x * x, y * y, x * y]), sigma)
        mx, my, exx, eyy, exy = moments.split(x.shape[0])
        vx, vy, cxy = exx - mx * mx, eyy - my * my, exy - mx * my
        c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
        return (2 * mx * my + c1) / (mx * mx + my * my + c1), (2 * cxy + c2) / (vx + vy + c2)


def _ssim_map(x: torch.Tensor, y: torch.Tensor, data_range: float, sigma: float) -> torch.Tensor:
    luminance, contrast_structure = ssim_terms(x, y, data_range, sigma)
    return luminance * contrast_structure


def crop_border(maps: torch.Tensor, sigma: float = SIGMA) -> torch.Tensor:
    """The positions whose whole window lies inside the image: a filter-radius strip cut from every edge.

    skimage ignores that strip in its mean, so the padding never reaches the score.
    """
    r = window_radius(sigma)
    h, w = maps.shape[-2:]
    return maps[..., r:h - r, r:w - r]


def _ssim(x: torch.Tensor, y: torch.Tensor, data_range: float, sigma: float) -> torch.Tensor:
    _check_constants(data_range, sigma)
    _check_size(x, sigma)
    return crop_border(_ssim_map(x, y, data_range, sigma), sigma).mean(dim=(1, 2, 3))


def ssim_map(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, sigma: float = SIGMA) -> torch.Tensor:
    """The full N×3×H×W SSIM map (skimage's ``full=True`` output, borders included, per channel)."""
    x, y = validate_pair(x, y)
    _check_constants(data_range, sigma)
    _check_size(x, sigma)
    return _ssim_map(x, y, data_range, sigma)


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, sigma: float = SIGMA) -> torch.Tensor:
    """Mean SSIM of each pair of [0, 1] images, shape (N,); 1 for identical images, higher is more similar.

    ``data_range`` only sets the constants C1 = (0.01 · data_range)² and C2 = (0.03 · data_range)²;
    inputs must be in [0, 1] regardless, so keep the default 1.0 unless you know why not.
    Images must be at least as large as the window (11×11 at σ = 1.5). Differentiable in both inputs.
    """
    x, y = validate_pair(x, y)
    return _ssim(x, y, data_range, sigma)


class SSIM(PairwiseModule):
    """SSIM as a paired metric: higher is more similar, 1 for identical images; ``reduction="none"`` → (N,)."""

    def __init__(self, reduction: str = "none", data_range: float = 1.0, sigma: float = SIGMA):
        super().__init__(reduction)
        _check_constants(data_range, sigma)
        self.data_range, self.sigma = float(data_range), float(sigma)

    def compute(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return _ssim(x, y, self.data_range, self.sigma)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, data_range={self.data_range}, sigma={self.sigma}"


class SSIMLoss(SSIM):
    """1 − SSIM as a loss: 0 for identical images, lower is better; ``reduction="mean"`` by default."""

    def __init__(self, reduction: str = "mean", data_range: float = 1.0, sigma: float = SIGMA):
        super().__init__(reduction, data_range, sigma)

    def compute(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return 1 - super().compute(x, y)
