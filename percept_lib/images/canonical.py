"""The canonical form — float32 N×3×H×W, RGB, values in [0, 1] — its one validation, and the converters to it."""
from __future__ import annotations

import math
import os

import numpy as np
import torch
from PIL import Image

# Optimizers and resampling overshoot [0, 1] by rounding error; a real range mistake (0-255, [-1, 1]) is
# orders of magnitude larger than this.
RANGE_TOLERANCE = 1e-4


def validate_images(x, name: str = "images") -> torch.Tensor:
    """Check a batch of images and return it in canonical form.

    Accepts a floating tensor N×C×H×W with C = 1 or 3 and values in [0, 1]. A single-channel batch is
    expanded to RGB by repeating the channel (grayscale is allowed, explicitly, never guessed). The
    tensor is returned as it is otherwise (same device, same dtype, gradients intact).
    Raises ``ValueError`` naming the problem and the fix.
    """
    if isinstance(x, (np.ndarray, Image.Image, str, os.PathLike)):
        raise ValueError(
            f"{name}: got a {type(x).__name__}, expected a torch.Tensor N×3×H×W in [0, 1]; "
            "convert it with percept_lib.images.to_tensor(...)"
        )
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor N×3×H×W in [0, 1], got {type(x).__name__}")
    if x.dim() != 4:
        hint = {
            3: "a single image C×H×W? add the batch dimension with x.unsqueeze(0)",
            2: "a single grayscale image H×W? use x[None, None]",
        }.get(x.dim(), "expected N×3×H×W")
        raise ValueError(f"{name}: expected 4 dimensions N×C×H×W, got {x.dim()} (shape {tuple(x.shape)}); {hint}")
    if not x.is_floating_point():
        fix = "x.float() / 255" if x.dtype == torch.uint8 else "x.float() scaled to [0, 1]"
        raise ValueError(f"{name}: dtype {x.dtype} is not floating point; convert with {fix}")
    channels = x.shape[1]
    if channels not in (1, 3):
        hint = (
            "it looks channels-last (N×H×W×C): use x.permute(0, 3, 1, 2)"
            if x.shape[-1] in (1, 3, 4)
            else "expected RGB (3) or grayscale (1)"
        )
        if channels == 4:
            hint = "RGBA: drop or composite the alpha channel, e.g. x[:, :3]"
        raise ValueError(f"{name}: {channels} channels (shape {tuple(x.shape)}); {hint}")
    if x.shape[0] == 0 or x.shape[2] == 0 or x.shape[3] == 0:
        raise ValueError(f"{name}: empty batch or image (shape {tuple(x.shape)})")
    with torch.no_grad():
        # One pass over the batch: the extremes propagate NaN and show ±Inf, so the count of bad values (more
        # passes) is taken only when there are some. Validation runs at every loss call; it has to be cheap.
        lo, hi = (float(v) for v in torch.aminmax(x.detach()))
        if not (math.isfinite(lo) and math.isfinite(hi)):
            bad = int((~torch.isfinite(x)).sum())
            raise ValueError(f"{name}: {bad} NaN or Inf values; check the step that produced these images")
    if hi > 1 + RANGE_TOLERANCE:
        if hi <= 255 + RANGE_TOLERANCE and lo >= -RANGE_TOLERANCE:
            fix = "values look like 0–255: divide by 255"
        elif hi <= 65535 + RANGE_TOLERANCE and lo >= -RANGE_TOLERANCE:
            fix = "values look like 16-bit (0–65535): divide by 65535"
        else:
            fix = "rescale them to [0, 1]"
        raise ValueError(f"{name}: values up to {hi:.4g}, expected [0, 1]; {fix}")
    if lo < -RANGE_TOLERANCE:
        if lo >= -1 - RANGE_TOLERANCE:
            fix = "values look like [-1, 1]: use (x + 1) / 2"
        else:
            fix = "rescale them to [0, 1]"
        raise ValueError(f"{name}: values down to {lo:.4g}, expected [0, 1]; {fix}")
    if channels == 1:
        x = x.expand(-1, 3, -1, -1)
    return x


def validate_pair(x, y, names: tuple[str, str] = ("x", "y")) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate two batches that are compared image by image: same N, same H×W."""
    x = validate_images(x, names[0])
    y = validate_images(y, names[1])
    if x.shape != y.shape:
        fix = (
            "resize one to the other's size (percept_lib.images.resize)"
            if x.shape[0] == y.shape[0]
            else "pass the same number of images on both sides"
        )
        raise ValueError(
            f"{names[0]} and {names[1]} have different shapes {tuple(x.shape)} and {tuple(y.shape)}; {fix}"
        )
    if x.device != y.device:
        raise ValueError(f"{names[0]} is on {x.device} and {names[1]} on {y.device}; move both to one device")
    return x, y


def pil_to_array(img: Image.Image) -> np.ndarray:
    """Any PIL mode (RGBA, LA, L, P, CMYK, I;16, I, F …) to an RGB float32 array H×W×3 in [0, 1].

    Alpha is dropped (composited on black would also be defensible; dropping matches clean-fid and
    pytorch-fid, which both call ``.convert("RGB")``). 16-bit images keep their precision.
    """
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img).astype(np.float32)
        scale = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        if img.mode == "F" and arr.max() <= 1.0:
            scale = 1.0
        arr = np.clip(arr / scale, 0.0, 1.0)
        return np.repeat(arr[:, :, None], 3, axis=2)
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img, dtype=np.uint8).astype(np.float32) / 255.0


def array_to_tensor(arr: np.ndarray) -> torch.Tensor:
    """numpy H×W, H×W×C (C in 1, 3, 4) or N×H×W×C; uint8, uint16 or float in [0, 1] → canonical tensor."""
    arr = np.asarray(arr)
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255.0
    elif arr.dtype == np.uint16:
        arr = arr.astype(np.float32) / 65535.0
    elif arr.dtype == bool:
        arr = arr.astype(np.float32)
    elif np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float32)
    else:
        raise ValueError(
            f"array dtype {arr.dtype} is not supported; pass uint8, uint16 or float in [0, 1]"
        )
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4:
        raise ValueError(f"array of shape {arr.shape}: expected H×W, H×W×C or N×H×W×C")
    if arr.shape[-1] == 4:
        arr = arr[..., :3]
    if arr.shape[-1] not in (1, 3):
        raise ValueError(f"array of shape {arr.shape}: the last axis must be channels (1, 3 or 4)")
    t = torch.from_numpy(np.ascontiguousarray(arr)).permute(0, 3, 1, 2).contiguous()
    return validate_images(t, "array").contiguous()


def _channels_first(hwc: np.ndarray) -> torch.Tensor:
    # numpy's single-threaded copy: torch's permute().contiguous() wakes its thread pool for every image,
    # 10× slower for a 128-px PNG on a loaded 2-core machine (14.6 vs 1.2 ms per image, decoding included).
    return torch.from_numpy(np.ascontiguousarray(hwc.transpose(2, 0, 1)))


def to_unit_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 (0–255) → float32 in [0, 1]; a floating tensor is returned as it is."""
    if x.dtype != torch.uint8:
        return x
    if x.device.type == "cpu":
        # The same float32 division in numpy: torch's wakes its thread pool, 24 ms for one 128-px image on a
        # loaded 2-core machine against 0.02 ms (and 44 vs 16 ms for 50 images at 256 px).
        return torch.from_numpy(x.numpy().astype(np.float32) / np.float32(255))
    return x.float().div_(255)


def to_pil(x: torch.Tensor) -> list[Image.Image]:
    """Canonical batch → list of 8-bit RGB PIL images (for saving and display)."""
    x = validate_images(x)
    u8 = (x.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return [Image.fromarray(a) for a in u8]
