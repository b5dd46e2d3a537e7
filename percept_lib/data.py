"""Sample photographs (bundled with scikit-image), procedural textures, and seeded distortions.

Everything here returns canonical batches (float32 1×3×H×W in [0, 1]) and is reproducible from a seed.
"""
from __future__ import annotations

import io
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .images import array_to_tensor, validate_images

# Colour photographs that ship inside scikit-image (no download): name -> loader attribute.
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "cat", "immunohistochemistry", "hubble_deep_field", "retina",
          "colorwheel")
# Grayscale texture photographs that ship inside scikit-image (usable as style images).
TEXTURES = ("brick", "gravel", "grass")


# One English caption per photograph, written for this project; ``data/captions.csv`` is this table written out
# (:func:`captions_csv`) for the command line, e.g. ``clip-score --captions data/captions.csv``. Kept in the
# package, not read from the repository, so that an installed percept_lib (``pip install .``) has it.
CAPTIONS = {
    "astronaut": "an astronaut in a white spacesuit in front of an American flag",
    "chelsea": "a tabby cat with green eyes looking to the side",
    "coffee": "a cup of coffee on a saucer with a spoon",
    "rocket": "a rocket standing on its launch pad under a blue sky",
    "hubble_deep_field": "a dark sky full of distant galaxies",
    "immunohistochemistry": "a microscope image of stained tissue cells",
    "retina": "a photograph of the retina at the back of a human eye",
    "colorwheel": "a circular wheel of rainbow colours",
    "brick": "a grey brick wall",
    "gravel": "a close-up of grey gravel stones",
}


def captions() -> dict[str, str]:
    """The project's captions of the photographs: photo name → caption (:data:`CAPTIONS`)."""
    return dict(CAPTIONS)


def captions_csv() -> str:
    """:data:`CAPTIONS` as the ``file,caption`` CSV the ``clip-score`` command reads (files as ``NAME.png``)."""
    import csv

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["file", "caption"])
    writer.writerows([f"{name}.png", caption] for name, caption in CAPTIONS.items())
    return out.getvalue()


def photo(name: str = "astronaut", size: int | tuple[int, int] | None = None) -> torch.Tensor:
    """A scikit-image photograph as a canonical batch; ``size`` (int = shorter side, or (H, W)) resizes
    with antialiased bicubic after a centre crop to the target aspect ratio."""
    import skimage.data

    if name not in PHOTOS + TEXTURES:
        raise ValueError(f"unknown photo {name!r}; choose from {', '.join(PHOTOS + TEXTURES)}")
    x = array_to_tensor(getattr(skimage.data, name)())
    return fit(x, size) if size is not None else x


def photos(names=PHOTOS[:4], size: int | tuple[int, int] = 128) -> torch.Tensor:
    """Several photographs at one size (an int means square), centre-cropped and stacked into one batch."""
    if isinstance(size, int):
        size = (size, size)
    return torch.cat([photo(n, size) for n in names])


def fit(x: torch.Tensor, size) -> torch.Tensor:
    """Centre-crop to the aspect ratio of ``size`` and resize (bicubic, antialiased), values clamped."""
    x = validate_images(x)
    h, w = x.shape[-2:]
    if isinstance(size, int):
        scale = size / min(h, w)
        th, tw = max(1, round(h * scale)), max(1, round(w * scale))
    else:
        th, tw = size
    target_ratio = tw / th
    if w / h > target_ratio:
        cw = round(h * target_ratio)
        x = x[..., :, (w - cw) // 2: (w - cw) // 2 + cw]
    else:
        ch = round(w / target_ratio)
        x = x[..., (h - ch) // 2: (h - ch) // 2 + ch, :]
    x = F.interpolate(x, size=(th, tw), mode="bicubic", align_corners=False, antialias=True)
    return x.clamp(0, 1)


def random_crops(x: torch.Tensor, n: int, size: int, seed: int = 0) -> torch.Tensor:
    """``n`` random square crops of side ``size`` from the images of ``x`` (seeded)."""
    x = validate_images(x)
    h, w = x.shape[-2:]
    if size > min(h, w):
        raise ValueError(f"crop size {size} is larger than the image ({h}×{w})")
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, x.shape[0], (n,), generator=g)
    top = torch.randint(0, h - size + 1, (n,), generator=g)
    left = torch.randint(0, w - size + 1, (n,), generator=g)
    return torch.stack([x[i, :, t: t + size, l: l + size] for i, t, l in zip(idx.tolist(), top.tolist(), left.tolist())])


# ----------------------------------------------------------------------------------------------------
# Procedural textures (style images that need no file)
# ----------------------------------------------------------------------------------------------------

# The procedural textures: two-colour patterns, and one many-coloured (``mosaic``) for style transfer.
TEXTURE_KINDS = ("stripes", "checker", "dots", "waves", "noise", "mosaic")


def texture(kind: str = "stripes", size: int = 128, seed: int = 0) -> torch.Tensor:
    """A procedural colour texture: ``stripes``, ``checker``, ``dots``, ``waves`` or ``noise`` (two colours
    of a seeded palette), or ``mosaic`` (many saturated colours, see :func:`mosaic`)."""
    if kind == "mosaic":
        return mosaic(size, seed=seed)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    palette = rng.uniform(0.1, 0.9, size=(2, 3)).astype(np.float32)
    if kind == "stripes":
        angle = rng.uniform(0, np.pi)
        t = 0.5 + 0.5 * np.sin(2 * np.pi * 8 * (np.cos(angle) * xx + np.sin(angle) * yy))
    elif kind == "checker":
        t = ((np.floor(xx * 8) + np.floor(yy * 8)) % 2).astype(np.float32)
    elif kind == "dots":
        t = (np.sin(2 * np.pi * 10 * xx) * np.sin(2 * np.pi * 10 * yy) > 0.5).astype(np.float32)
    elif kind == "waves":
        t = 0.5 + 0.5 * np.sin(2 * np.pi * (6 * xx + 2 * np.sin(2 * np.pi * 3 * yy)))
    elif kind == "noise":
        small = rng.uniform(size=(size // 8 + 1, size // 8 + 1)).astype(np.float32)
        t = np.asarray(Image.fromarray(small, mode="F").resize((size, size), Image.BICUBIC))
        t = (t - t.min()) / (np.ptp(t) + 1e-8)
    else:
        raise ValueError(f"unknown texture {kind!r}; use one of {', '.join(TEXTURE_KINDS)}")
    img = palette[0][None, None] * (1 - t[..., None]) + palette[1][None, None] * t[..., None]
    return array_to_tensor(np.clip(img, 0, 1).astype(np.float32))


def mosaic(size: int = 128, seed: int = 0, cell: float = 16.0) -> torch.Tensor:
    """A colourful stained-glass texture: Voronoi tiles of seeded saturated colours, shaded towards their
    edges, separated by dark grout; a style image with strong colours, edges and a repeated motif.

    Tiles are about ``cell`` pixels across at any ``size`` (one jittered seed point per cell of a grid), and
    the pattern wraps around at the borders (it tiles seamlessly).
    """
    import colorsys

    from scipy.spatial import cKDTree

    if int(size) != size or size < 8:
        raise ValueError(f"size={size!r}: use an integer ≥ 8 (pixels per side)")
    if not 2 <= float(cell) <= size:
        raise ValueError(f"cell={cell!r}: the tile size in pixels must be between 2 and size={size}")
    size = int(size)
    rng = np.random.default_rng(seed)
    g = max(2, int(round(size / float(cell))))
    step = size / g
    gy, gx = np.mgrid[0:g, 0:g].astype(np.float64)
    points = np.stack([(gy + rng.uniform(0.15, 0.85, (g, g))) * step,
                       (gx + rng.uniform(0.15, 0.85, (g, g))) * step], -1).reshape(-1, 2)
    n = len(points)
    offsets = np.array([(dy, dx) for dy in (-size, 0, size) for dx in (-size, 0, size)], dtype=np.float64)
    wrapped = (points[None] + offsets[:, None]).reshape(-1, 2)  # periodic copies: the texture tiles
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    pixels = np.stack([yy.ravel(), xx.ravel()], -1)
    pair, nearest = cKDTree(wrapped).query(pixels, k=2)  # distances to the two nearest seeds, sorted
    pair, owner = pair.reshape(size, size, 2), nearest[:, 0].reshape(size, size) % n
    colours = np.array([colorsys.hsv_to_rgb(h, s, v) for h, s, v in
                        zip(rng.uniform(0, 1, n), rng.uniform(0.6, 1.0, n), rng.uniform(0.75, 1.0, n))])
    img = colours[owner] * (1 - 0.25 * np.clip(pair[..., 0] / step, 0, 1))[..., None]
    inside = np.clip((pair[..., 1] - pair[..., 0]) / 1.5, 0, 1)[..., None]  # 0 on a tile border
    img = img * inside + 0.08 * (1 - inside)
    return array_to_tensor(np.clip(img, 0, 1).astype(np.float32))


# ----------------------------------------------------------------------------------------------------
# Seeded distortions with a strength parameter (strength 0 = identity, 1 = strong)
# ----------------------------------------------------------------------------------------------------

def _gaussian_kernel(sigma: float, device, dtype) -> torch.Tensor:
    radius = max(1, int(np.ceil(3 * sigma)))
    t = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def blur(x: torch.Tensor, strength: float, seed: int = 0) -> torch.Tensor:
    """Gaussian blur, σ = 4·strength pixels (reflect padding)."""
    sigma = 4.0 * float(strength)
    if sigma <= 1e-3:
        return x.clone()
    k = _gaussian_kernel(sigma, x.device, x.dtype)
    r = (k.numel() - 1) // 2
    c = x.shape[1]
    y = F.pad(x, (r, r, 0, 0), mode="reflect" if r < x.shape[-1] else "replicate")
    y = F.conv2d(y, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    y = F.pad(y, (0, 0, r, r), mode="reflect" if r < x.shape[-2] else "replicate")
    return F.conv2d(y, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def noise(x: torch.Tensor, strength: float, seed: int = 0) -> torch.Tensor:
    """Additive Gaussian noise, σ = 0.2·strength, clamped to [0, 1]."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    n = torch.randn(x.shape, generator=g).to(device=x.device, dtype=x.dtype)
    return (x + 0.2 * float(strength) * n).clamp(0, 1)


def jpeg(x: torch.Tensor, strength: float, seed: int = 0) -> torch.Tensor:
    """JPEG round trip at quality 95 − 90·strength (PIL, 4:2:0)."""
    quality = int(round(95 - 90 * float(np.clip(strength, 0, 1))))
    out = []
    for img in x.detach().clamp(0, 1):
        u8 = (img.permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(u8).save(buf, format="JPEG", quality=max(1, quality))
        buf.seek(0)
        out.append(torch.from_numpy(np.asarray(Image.open(buf).convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1))
    return torch.stack(out).to(device=x.device, dtype=x.dtype)


def shift(x: torch.Tensor, strength: float, seed: int = 0) -> torch.Tensor:
    """Translate by up to 8·strength pixels in a seeded direction (sub-pixel, bilinear, border replicated)."""
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, 2 * np.pi)
    dx, dy = 8 * float(strength) * np.cos(angle), 8 * float(strength) * np.sin(angle)
    n, _, h, w = x.shape
    theta = torch.tensor([[1, 0, -2 * dx / w], [0, 1, -2 * dy / h]], dtype=x.dtype, device=x.device)
    grid = F.affine_grid(theta.expand(n, 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def colour_shift(x: torch.Tensor, strength: float, seed: int = 0) -> torch.Tensor:
    """A seeded per-channel gain and offset (a colour cast), up to ±0.25·strength."""
    rng = np.random.default_rng(seed)
    gain = torch.tensor(1 + 0.25 * float(strength) * rng.uniform(-1, 1, 3), dtype=x.dtype, device=x.device)
    offset = torch.tensor(0.25 * float(strength) * rng.uniform(-1, 1, 3), dtype=x.dtype, device=x.device)
    return (x * gain.view(1, 3, 1, 1) + offset.view(1, 3, 1, 1)).clamp(0, 1)


def downup(x: torch.Tensor, strength: float, seed: int = 0) -> torch.Tensor:
    """Down-sample by 1 + 7·strength (area) and up-sample back (bicubic): lost detail, the SR setting."""
    factor = 1 + 7 * float(strength)
    if factor < 1.01:
        return x.clone()
    h, w = x.shape[-2:]
    small = F.interpolate(x, size=(max(1, round(h / factor)), max(1, round(w / factor))), mode="area")
    return F.interpolate(small, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)


DISTORTIONS: dict[str, Callable[[torch.Tensor, float, int], torch.Tensor]] = {
    "blur": blur, "noise": noise, "jpeg": jpeg, "shift": shift, "colour": colour_shift, "downup": downup,
}


def distort(x: torch.Tensor, kind: str, strength: float, seed: int = 0) -> torch.Tensor:
    """Apply distortion ``kind`` (one of :data:`DISTORTIONS`) at ``strength`` in [0, 1], seeded."""
    x = validate_images(x)
    if kind not in DISTORTIONS:
        raise ValueError(f"unknown distortion {kind!r}; choose from {', '.join(DISTORTIONS)}")
    if not 0 <= float(strength) <= 1:
        raise ValueError(f"strength={strength}: use a value in [0, 1]")
    return DISTORTIONS[kind](x, strength, seed)


def match_mse(x: torch.Tensor, kind: str, target_mse: float, seed: int = 0, tol: float = 0.02) -> tuple[torch.Tensor, float]:
    """Find the strength at which distortion ``kind`` has mean squared error ``target_mse`` (bisection).

    Returns (distorted image, strength). Raises ValueError if even strength 1 stays below the target.
    """
    x = validate_images(x)

    def mse(s):
        return float(((distort(x, kind, s, seed) - x) ** 2).mean())

    if mse(1.0) < target_mse:
        raise ValueError(f"{kind}: even strength 1 gives MSE {mse(1.0):.3g} < target {target_mse:.3g}; lower the target")
    lo, hi = 0.0, 1.0
    for _ in range(40):
        mid = (lo + hi) / 2
        m = mse(mid)
        if abs(m - target_mse) <= tol * target_mse:
            break
        lo, hi = (mid, hi) if m < target_mse else (lo, mid)
    return distort(x, kind, mid, seed), mid
