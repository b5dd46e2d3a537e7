"""A ring of Gaussians in the plane: the toy on which fidelity and diversity can be seen, and counted.

The data (Metz et al. 2017, "Unrolled GANs"; Srivastava et al. 2017, "VEEGAN") are ``modes`` Gaussians of
standard deviation ``std`` whose centres sit evenly on a circle of radius ``radius``. Because the truth is
known, a generated set can be scored without any learned metric: a sample is *high quality* when it lies
within ``within`` standard deviations (3, as VEEGAN) of the nearest centre, and a mode is *captured* when
it holds at least ``min_share`` of its fair share (n / modes) of high-quality samples. Notebook 07 sets these
counts next to precision, recall, density and coverage.

:func:`ring` is also a generator with a known latent: a mode index and a Gaussian offset. ``keep`` drops modes
(all samples go to the kept ones: a diversity failure), ``spread`` multiplies the offsets: above 1 the samples
smear between modes (a fidelity failure), and shrinking it is truncation — the latent offset pulled towards
its centre, as the truncation trick does with a GAN's latent.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch

MODES = 8
RADIUS = 2.0
STD = 0.05


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _positive(value, name: str, fix: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}; {fix}")
    return float(value)


def ring_centres(modes: int = MODES, radius: float = RADIUS) -> torch.Tensor:
    """The ``modes`` centres (modes×2, float32), the first at angle 0, counter-clockwise."""
    modes = _positive_int(modes, "modes")
    radius = _positive(radius, "radius", "the circle the modes sit on, e.g. 2.0")
    angles = 2 * math.pi * torch.arange(modes, dtype=torch.float64) / modes
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


def _check_keep(keep, modes: int) -> list[int]:
    kept = list(range(modes)) if keep is None else [int(m) for m in keep]
    if not kept:
        raise ValueError("keep is empty: a generator must keep at least one mode (keep=None keeps all)")
    outside = [m for m in kept if not 0 <= m < modes]
    if outside:
        raise ValueError(f"keep: modes {outside} do not exist; the ring has modes 0 … {modes - 1}")
    if len(set(kept)) != len(kept):
        raise ValueError(f"keep lists a mode twice ({kept}); list each kept mode once")
    return kept


def ring(n: int, *, modes: int = MODES, radius: float = RADIUS, std: float = STD,
         keep: Sequence[int] | None = None, spread: float = 1.0, seed: int = 0) -> torch.Tensor:
    """``n`` points (n×2, float32) of the ring mixture, seeded: each picks one of the ``keep`` modes (default:
    all) with equal probability and adds ``spread · std ·`` a standard Gaussian offset.

    ``spread = 1`` samples the data distribution; ``keep`` drops the other modes; ``spread`` > 1 widens every
    mode, < 1 truncates the offsets (0 puts every sample on its mode's centre).
    """
    n = _positive_int(n, "n")
    std = _positive(std, "std", "each mode's standard deviation, e.g. 0.05")
    if isinstance(spread, bool) or not isinstance(spread, (int, float)) or not math.isfinite(spread) or spread < 0:
        raise ValueError(f"spread must be a number ≥ 0 (1 = the data's own spread), got {spread!r}")
    centres = ring_centres(modes, radius)
    kept = torch.tensor(_check_keep(keep, modes))
    g = torch.Generator().manual_seed(int(seed))
    which = kept[torch.randint(0, len(kept), (n,), generator=g)]
    return centres[which] + float(spread) * std * torch.randn(n, 2, generator=g)


def ring_moments(*, modes: int = MODES, radius: float = RADIUS, std: float = STD,
                 keep: Sequence[int] | None = None, spread: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (2,) and covariance (2×2), float64, of the distribution :func:`ring` samples with these arguments:
    exact, so the Fréchet distance between two such distributions has a closed form.

    The mean of the kept centres, and their covariance (1/K) Σ c cᵀ − μ μᵀ plus (spread · std)² I from the offsets.
    """
    centres = ring_centres(modes, radius).double()[_check_keep(keep, modes)]
    std = _positive(std, "std", "each mode's standard deviation, e.g. 0.05")
    mean = centres.mean(dim=0)
    spread_part = (float(spread) * std) ** 2 * torch.eye(2, dtype=torch.float64)
    return mean, centres.T @ centres / len(centres) - torch.outer(mean, mean) + spread_part


@dataclass(frozen=True)
class ModeReport:
    """What a generated set does on the ring, counted against the known truth.

    ``counts[m]``: high-quality samples of mode m; ``high_quality``: their share of all samples (fidelity);
    ``captured``: the modes with at least ``min_share`` of their fair share n / modes (diversity).
    """

    counts: tuple[int, ...]
    high_quality: float
    captured: tuple[int, ...]

    @property
    def modes_captured(self) -> int:
        return len(self.captured)


def mode_report(points, *, modes: int = MODES, radius: float = RADIUS, std: float = STD,
                within: float = 3.0, min_share: float = 0.1) -> ModeReport:
    """Count high-quality samples per mode and the modes captured (see the module docstring)."""
    x = torch.as_tensor(points)
    if x.dim() != 2 or x.shape[1] != 2 or x.shape[0] == 0:
        raise ValueError(f"points: expected an n×2 array of points in the plane, got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("points: contains NaN or Inf; a diverged generator gives such samples — check its training")
    within = _positive(within, "within", "how many standard deviations count as on a mode, e.g. 3")
    if not 0 < min_share <= 1:
        raise ValueError(f"min_share must be in (0, 1] (a share of a mode's fair share of samples), got {min_share!r}")
    centres = ring_centres(modes, radius).double()
    std = _positive(std, "std", "each mode's standard deviation, e.g. 0.05")
    distance, nearest = torch.cdist(x.double(), centres).min(dim=1)
    good = distance < within * std
    counts = torch.bincount(nearest[good], minlength=modes)
    fair = len(x) / modes
    captured = tuple(int(m) for m in torch.nonzero(counts >= min_share * fair).flatten())
    return ModeReport(tuple(int(c) for c in counts), float(good.double().mean()), captured)
