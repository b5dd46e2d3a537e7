"""Image files: the one decoder (EXIF orientation applied, a pixel-count limit checked from the header), the
folder walk, loading and saving."""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
from PIL import Image, ImageOps

from .canonical import _channels_first, array_to_tensor, pil_to_array, to_pil, to_unit_float, validate_images
from .resize import resize

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


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


_TRANSPOSED = {5, 6, 7, 8}  # EXIF orientations whose upright image swaps width and height


def image_size(path, max_pixels: int | None = None) -> tuple[int, int]:
    """(height, width) of the image as :func:`decode_image` returns it (EXIF orientation applied), read from
    the header without decoding the pixels. A file that cannot be read, or is over the pixel limit, raises
    the decoder's ``ValueError`` (naming the file and the fix)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the limit below decides
            with Image.open(path) as img:
                width, height = img.size
                if img.getexif().get(_ORIENTATION, 1) in _TRANSPOSED:
                    width, height = height, width
        if width * height <= pixel_limit(max_pixels):
            return height, width
    except Exception:  # PIL raises many types for a broken file: the decoder words them
        pass
    return tuple(decode_image(path, max_pixels=max_pixels).shape[-2:])


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
