"""Resize modes (Parmar et al. 2022: the resize mode moves FID): ``clean`` (PIL bicubic, antialiased, on the
8-bit image, as clean-fid) and ``pytorch-fid`` (bilinear on the tensor, as pytorch-fid's ``resize_input``)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

RESIZE_MODES = ("clean", "pytorch-fid")


def check_resize_mode(mode: str) -> str:
    """The one check of a resize mode; returns it."""
    if mode not in RESIZE_MODES:
        raise ValueError(f"resize mode {mode!r}: use 'clean' (clean-fid, PIL bicubic) or 'pytorch-fid' (bilinear)")
    return mode


def resize(x: torch.Tensor, size, mode: str = "clean") -> torch.Tensor:
    """Resize a canonical batch to ``size`` (int or (H, W)).

    ``"clean"``: clean-fid's resize — quantize to uint8, then PIL bicubic with antialiasing, computed per
    channel in float ('F' mode, as clean-fid does) and clipped to [0, 255]; runs on the CPU, no gradient.
    ``"pytorch-fid"``: ``F.interpolate(mode="bilinear", align_corners=False)`` on the tensor, as
    pytorch-fid's ``resize_input``; differentiable, stays on the input's device.
    """
    check_resize_mode(mode)
    h, w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if mode == "pytorch-fid":
        return x if tuple(x.shape[-2:]) == (h, w) else F.interpolate(x, size=(h, w), mode="bilinear",
                                                                      align_corners=False)
    return _clean_resize(x, (h, w))


def _clean_resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    h, w = size
    u8 = _quantize(x)
    out = np.empty((u8.shape[0], u8.shape[1], h, w), dtype=np.float32)
    for n in range(u8.shape[0]):
        for c in range(u8.shape[1]):
            channel = Image.fromarray(u8[n, c].astype(np.float32), mode="F")
            out[n, c] = np.asarray(channel.resize((w, h), resample=Image.BICUBIC), dtype=np.float32)
    out = np.clip(out, 0, 255) / 255.0
    return torch.from_numpy(out).to(device=x.device, dtype=x.dtype)


def _quantize(x: torch.Tensor) -> np.ndarray:
    """[0, 1] → uint8 as clean-fid does: clip, × 255, round half to even. One float temporary, then in place:
    a large image's peak memory is what bounds the pixel limit. On the CPU in numpy, whose single-threaded
    passes cost microseconds where torch's wake its thread pool (13 ms per operation on a loaded 2-core machine)."""
    if x.device.type != "cpu":
        return x.detach().float().clamp(0, 1).mul_(255).round_().to(torch.uint8).cpu().numpy()
    q = np.clip(x.detach().float().numpy(), 0, 1)  # a new array: x itself is never written
    q *= 255
    return np.rint(q, out=q).astype(np.uint8)
