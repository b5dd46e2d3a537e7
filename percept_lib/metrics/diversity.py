"""Sample diversity as the mean pairwise LPIPS distance between generated images.

The measure of diversity used since BicycleGAN (Zhu et al., "Toward Multimodal Image-to-Image Translation",
NeurIPS 2017) and MUNIT/DRIT: the average LPIPS distance (Zhang et al., CVPR 2018) over all pairs i < j of a set
of samples. 0 means every sample is the same image (mode collapse); larger means more varied.

LPIPS without its spatial map is a squared Euclidean distance in disguise:

    d(x, y) = Σ_l mean_{h,w} Σ_c w_{l,c} (x̂_l − ŷ_l)²  =  ‖v(x) − v(y)‖²,
    v(x) = concat_l  sqrt(w_l) ⊙ x̂_l / sqrt(H_l W_l)   (flattened),

with x̂_l the channel-normalized features and w_l ≥ 0 the learned lin weights. So all N(N−1)/2 distances need
one backbone pass per image (not per pair) and one Gram matrix, computed here in float64.
"""
from __future__ import annotations

import math

import torch


def _weighted_embeddings(lpips_module, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    """v(x) for every image: N×D float32 on the CPU (see the module docstring)."""
    from ..losses.lpips import normalize_channels

    device = next(lpips_module.extractor.parameters()).device
    # sqrt(w) is real: the LPIPS loader refuses lin weights with a negative entry (v0.1's are all ≥ 0).
    scales = {tap: w.sqrt().view(1, -1, 1, 1).to(device) for tap, w in lpips_module.lin_weights.items()}
    rows = []
    with torch.no_grad():
        for start in range(0, images.shape[0], batch_size):
            features = lpips_module.extractor(images[start: start + batch_size].to(device))
            parts = []
            for tap, scale in scales.items():
                f = normalize_channels(features[tap].float())
                h, w = f.shape[-2:]
                parts.append((f * scale / math.sqrt(h * w)).flatten(1))
            rows.append(torch.cat(parts, dim=1).cpu())
    return torch.cat(rows)


def pairwise_lpips(images: torch.Tensor, net: str = "alex", batch_size: int = 32, block: int = 256) -> torch.Tensor:
    """N×N matrix of LPIPS distances between all images of a canonical batch (float64, zero diagonal).

    Equal to ``LPIPS(net)(images[i], images[j])`` for every pair up to float32 rounding of the features, at the
    cost of N backbone passes. Memory: the N×D embedding (D = Σ_l C_l H_l W_l, ~1.6 × 10⁵ floats per image for
    AlexNet at 128 px). Runs on the device of ``images``.
    """
    from ..images import validate_images
    from ..losses.lpips import LPIPS

    images = validate_images(images)
    n = images.shape[0]
    if n < 2:
        raise ValueError(f"got {n} image(s); diversity compares pairs, pass at least 2")
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size}: use a positive number")
    module = LPIPS(net=net, reduction="none").to(images.device)
    v = _weighted_embeddings(module, images, batch_size)
    squared = (v.double() ** 2).sum(dim=1)
    gram = torch.empty(n, n, dtype=torch.float64)
    for start in range(0, n, block):  # float64 Gram in row blocks: a float64 copy of all of v could be large
        gram[start: start + block] = v[start: start + block].double() @ v.double().T
    distances = (squared[:, None] + squared[None, :] - 2 * gram).clamp(min=0)
    distances.fill_diagonal_(0.0)
    return distances


def lpips_diversity(images: torch.Tensor, net: str = "alex", batch_size: int = 32) -> float:
    """Mean LPIPS distance over all pairs i < j of the images (Zhu et al. 2017's diversity score).

    ``net``: LPIPS backbone, ``"alex"`` (the usual choice for diversity), ``"vgg"`` or ``"squeeze"``.
    """
    distances = pairwise_lpips(images, net=net, batch_size=batch_size)
    i, j = torch.triu_indices(distances.shape[0], distances.shape[0], offset=1)
    return float(distances[i, j].mean())
