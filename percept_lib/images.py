"""Images in, one canonical form out: float32 tensor N×3×H×W, RGB, values in [0, 1].

Every public entry point of percept_lib passes its images through :func:`validate_images` (or
:func:`validate_pair` for two), so that bad input fails here with a message that names the problem and
the fix, instead of producing a silent wrong number further down.
"""
from __future__ import annotations

import io
import math
import os
import warnings
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
RESIZE_MODES = ("clean", "pytorch-fid")

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


# ----------------------------------------------------------------------------------------------------
# Converters
# ----------------------------------------------------------------------------------------------------

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


def to_tensor(image) -> torch.Tensor:
    """Convert a PIL image, numpy array, tensor, file path or folder path to the canonical form.

    A list of same-size images is stacked into one batch. Folders go through :func:`load_folder`.
    """
    if isinstance(image, torch.Tensor):
        x = image
        if x.dim() == 3:
            x = x.unsqueeze(0)
        if x.dtype == torch.uint8:
            x = x.float() / 255.0
        return validate_images(x, "tensor").contiguous()
    if isinstance(image, Image.Image):
        return array_to_tensor(pil_to_array(image))
    if isinstance(image, np.ndarray):
        return array_to_tensor(image)
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        if path.is_dir():
            return load_folder(path)
        return load_image(path)
    if isinstance(image, (list, tuple)):
        if not image:
            raise ValueError("empty list of images")
        parts = [to_tensor(im) for im in image]
        sizes = {tuple(p.shape[-2:]) for p in parts}
        if len(sizes) > 1:
            raise ValueError(f"images of different sizes {sorted(sizes)} cannot share a batch; resize them first")
        return torch.cat(parts)
    raise ValueError(f"cannot convert {type(image).__name__} to an image tensor")


_FLOAT_MODES = ("I;16", "I;16B", "I;16L", "I", "F")  # decoded to float32: more than 8 bits per sample

# PIL's own decompression-bomb warning threshold (Image.MAX_IMAGE_PIXELS as shipped, ≈ 89.5 megapixels): every
# camera up to 61 MP fits under it. Measured peaks above a process's baseline: decoding 14 bytes per pixel,
# decoding + the clean resize 31, so at the limit one decoding process needs about 1.3 GB (2.7 GB with the clean
# resize) — where the bound sits is what PERCEPT_MAX_PIXELS moves.
DEFAULT_MAX_PIXELS = 89_478_485
_ORIENTATION = 0x0112  # the EXIF tag; 1 (or none) means the pixels are stored upright


def pixel_limit(value: int | None = None) -> int:
    """The largest image (width × height) that is decoded: ``value``, else ``$PERCEPT_MAX_PIXELS``, else
    :data:`DEFAULT_MAX_PIXELS`. The variable takes an integer or megapixels (``PERCEPT_MAX_PIXELS=200M``)."""
    if value is not None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"max_pixels={value!r}: use a positive number of pixels (width × height)")
        return value
    text = os.environ.get("PERCEPT_MAX_PIXELS", "").strip()
    if not text:
        return DEFAULT_MAX_PIXELS
    try:
        pixels = float(text[:-1]) * 1e6 if text[-1] in "mM" else float(text)
    except ValueError:
        pixels = 0.0
    if not 1 <= pixels < float("inf"):
        raise ValueError(f"PERCEPT_MAX_PIXELS={text!r}: use a number of pixels (e.g. 100000000) or megapixels "
                         "(e.g. 100M)")
    return int(pixels)


class _OverPixelLimit(ValueError):
    """An image larger than the pixel-count limit (worded for the user, passed on as it is)."""


def _check_pixel_count(path: Path, size: tuple[int, int], limit: int) -> None:
    width, height = size
    if width * height > limit:
        raise _OverPixelLimit(f"{path}: {width}×{height} is {_pixels(width * height)}, over the limit of "
                              f"{_pixels(limit)} (PERCEPT_MAX_PIXELS); if the file is trusted raise "
                              "PERCEPT_MAX_PIXELS (e.g. PERCEPT_MAX_PIXELS=200M), else remove it")


def _pixels(count: int) -> str:
    return f"{count / 1e6:.1f} megapixels" if count >= 100_000 else f"{count:,} pixels"


def decode_image(path, *, data: bytes | None = None, max_pixels: int | None = None) -> torch.Tensor:
    """One image file → 3×H×W: uint8 for 8-bit images (the common case), float32 in [0, 1] otherwise.

    The one decoder of the library, so every command and function sees the same pixels:

    - **EXIF orientation is applied** (``ImageOps.exif_transpose``): a camera JPEG stored sideways with
      orientation 6 comes out upright, as every viewer shows it. pytorch-fid and clean-fid ignore the tag, so on
      such files (camera photographs, rarely generated samples) our FID differs from theirs; files without the
      tag — PNGs, generated samples, every parity test — decode to exactly their pixels.
    - **Pixel-count limit**: an image over ``max_pixels`` (default :func:`pixel_limit`:
      ``$PERCEPT_MAX_PIXELS`` or 89.5 megapixels) is refused from its header, before any pixel is decoded, so a
      decompression bomb (a small file claiming a huge size) costs no memory; PIL's own bomb error is reported
      the same way. Above PIL's hard limit (2 × ``PIL.Image.MAX_IMAGE_PIXELS``) raise that one too.
    - Alpha dropped and palettes expanded (``convert("RGB")``, as clean-fid and pytorch-fid do); 16-bit images
      keep their precision. Keeping 8-bit images as uint8 lets a loader move a quarter of float32's bytes and
      resize on the device.

    ``data``: the file's bytes, already read (a loader that hashes them decodes the same bytes: one read).
    An unreadable file, or one over the limit, raises ValueError naming it and the fix.
    """
    path = Path(path)
    limit = pixel_limit(max_pixels)
    try:
        with warnings.catch_warnings():
            # Our limit decides (below); PIL's warning would only repeat it, or fire under a raised limit.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path if data is None else io.BytesIO(data))
        with img:
            _check_pixel_count(path, img.size, limit)  # from the header: nothing decoded yet
            if img.getexif().get(_ORIENTATION, 1) not in (1, None):
                ImageOps.exif_transpose(img, in_place=True)  # loads the pixels
            img.load()
            if img.mode in _FLOAT_MODES:
                return _channels_first(pil_to_array(img))
            rgb = np.array(img.convert("RGB"), dtype=np.uint8)
    except FileNotFoundError:
        broken = " (a broken symbolic link)" if path.is_symlink() else ""
        raise ValueError(f"{path}: no such file{broken}") from None
    except _OverPixelLimit:
        raise
    except Image.DecompressionBombError as err:  # PIL refuses above twice its own limit, before we see the size
        raise ValueError(f"{path}: a possible decompression bomb, over the limit of {_pixels(limit)} "
                         f"(PERCEPT_MAX_PIXELS) or PIL's ({err}); if the file is trusted raise PERCEPT_MAX_PIXELS "
                         "and PIL.Image.MAX_IMAGE_PIXELS, else remove it") from None
    except Exception as err:  # PIL raises many types for a broken file; all mean "cannot be read"
        raise ValueError(f"{path}: not a readable image ({err}); remove or replace the file") from None
    return _channels_first(rgb)


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


def load_image(path, max_pixels: int | None = None) -> torch.Tensor:
    """One image file → 1×3×H×W float32 in [0, 1], decoded by :func:`decode_image` (EXIF orientation applied,
    ``max_pixels`` as there). An unreadable file raises ValueError naming it."""
    return to_unit_float(decode_image(path, max_pixels=max_pixels))[None]


def list_images(folder, extensions: Sequence[str] = IMAGE_EXTENSIONS, recursive: bool = True) -> list[Path]:
    """Image files under ``folder``, sorted by relative path, filtered by extension (case-insensitive).

    ``recursive`` (the default) reads every sub-folder, symbolic links to folders included, and each real folder
    once: the folder tree itself first, then the links, so a link back to a folder already read (a loop, or a
    second link to the same folder) is not followed, with a warning naming it; an unreadable sub-folder is
    named in a warning too. A broken link with an image extension is listed, so that the decoder names it.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder")
    exts = {e.lower() for e in extensions}
    files: list[Path] = []
    seen: set[tuple[int, int]] = set()
    tree, links = [folder], []  # real sub-folders first: a link never hides the folder it points to
    not_followed, unreadable = [], []
    while tree or links:
        directory = tree.pop() if tree else links.pop(0)
        try:
            st = directory.stat()
        except OSError as err:
            unreadable.append(f"{directory} ({err.strerror or err})")
            continue
        if (st.st_dev, st.st_ino) in seen:
            not_followed.append(directory)
            continue
        seen.add((st.st_dev, st.st_ino))
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as err:
            unreadable.append(f"{directory} ({err.strerror or err})")
            continue
        for entry in entries:
            if _is_folder(entry):
                if recursive:
                    (links if entry.is_symlink() else tree).append(Path(entry.path))
            elif os.path.splitext(entry.name)[1].lower() in exts and (entry.is_file() or _is_broken_link(entry)):
                files.append(Path(entry.path))
    if not_followed:
        warnings.warn(f"{folder}: not following {len(not_followed)} link(s) to a folder already read (a loop or a "
                      f"second link): {', '.join(str(p) for p in not_followed[:3])}"
                      f"{' …' if len(not_followed) > 3 else ''}", stacklevel=2)
    if unreadable:
        warnings.warn(f"{folder}: {len(unreadable)} sub-folder(s) could not be read and are left out: "
                      f"{', '.join(unreadable[:3])}{' …' if len(unreadable) > 3 else ''}", stacklevel=2)
    return sorted(files, key=lambda p: p.relative_to(folder).as_posix())


def _is_broken_link(entry: os.DirEntry) -> bool:
    return entry.is_symlink() and not os.path.exists(entry.path)


def _is_folder(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()  # follows a symbolic link
    except OSError:
        return False


def iter_folder(folder, on_error: str = "skip", extensions: Sequence[str] = IMAGE_EXTENSIONS):
    """Yield ``(path, 1×3×H×W tensor)`` for each readable image; see :func:`load_folder` for on_error."""
    if on_error not in ("skip", "raise"):
        raise ValueError(f"on_error={on_error!r}: use 'skip' or 'raise'")
    files = list_images(folder, extensions)
    if not files:
        raise ValueError(f"{folder}: no image files ({', '.join(extensions)})")
    skipped = []
    for path in files:
        try:
            img = load_image(path)
        except ValueError:
            if on_error == "raise":
                raise
            skipped.append(path)
            continue
        yield path, img
    if skipped:
        names = ", ".join(str(p) for p in skipped[:5]) + (" …" if len(skipped) > 5 else "")
        warnings.warn(f"{folder}: skipped {len(skipped)} unreadable image(s): {names}", stacklevel=2)


def load_folder(
    folder,
    size: int | tuple[int, int] | None = None,
    resize_mode: str = "clean",
    on_error: str = "skip",
    extensions: Sequence[str] = IMAGE_EXTENSIONS,
) -> torch.Tensor:
    """Load every image of a folder (sorted, recursive) into one batch.

    Images of different sizes need ``size`` (they are resized with ``resize_mode``). A corrupt or
    unreadable file is skipped with a warning that names and counts it (``on_error="skip"``) or raises
    ``ValueError`` naming it (``on_error="raise"``); it is never dropped silently.
    """
    images = [img for _, img in iter_folder(folder, on_error=on_error, extensions=extensions)]
    if not images:
        raise ValueError(f"{folder}: no readable images")
    if size is not None:
        images = [resize(img, size, resize_mode) for img in images]
    sizes = {tuple(img.shape[-2:]) for img in images}
    if len(sizes) > 1:
        raise ValueError(f"{folder}: images of different sizes {sorted(sizes)[:4]}; pass size=(H, W) to resize")
    return torch.cat(images)


# ----------------------------------------------------------------------------------------------------
# Resizing (Parmar et al. 2022: the resize mode moves FID)
# ----------------------------------------------------------------------------------------------------

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


def to_pil(x: torch.Tensor) -> list[Image.Image]:
    """Canonical batch → list of 8-bit RGB PIL images (for saving and display)."""
    x = validate_images(x)
    u8 = (x.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return [Image.fromarray(a) for a in u8]


def save_images(x: torch.Tensor, folder, names: Iterable[str] | None = None, overwrite: bool = False) -> list[Path]:
    """Save a batch as PNG files into ``folder``; refuses to overwrite existing files unless asked."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pils = to_pil(x)
    names = list(names) if names is not None else [f"{i:05d}.png" for i in range(len(pils))]
    if len(names) != len(pils):
        raise ValueError(f"{len(names)} names for {len(pils)} images")
    paths = [folder / n for n in names]
    existing = [p for p in paths if p.exists()]
    if existing and not overwrite:
        raise ValueError(f"{existing[0]} exists ({len(existing)} file(s) would be overwritten); pass overwrite=True")
    for img, p in zip(pils, paths):
        img.save(p)
    return paths
