"""Files to batches: list a folder's images, decode them in DataLoader workers, stack what can be stacked.

Two routes to a batch of network-sized images. A preprocessing that must run on the CPU per image (clean-fid's
PIL resize) runs in the workers. A tensor resize (pytorch-fid's bilinear, CLIP's bicubic + crop, DINOv2's
bicubic) works on any batch on any device: when a batch's images share one size (generated samples always
do), the workers only decode to uint8 — a quarter of float32's bytes through shared and pinned memory — and
the resize runs on the batch, on the device. Per sample the arithmetic is the same either way.

Each file is read once: the worker hashes its bytes (the feature cache's content check) and decodes the same
bytes from memory.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch

from ..images import IMAGE_EXTENSIONS, decode_image, list_images, to_unit_float
from .cache import content_digest


def folder_files(folder) -> list[Path]:
    """The image files of ``folder``, sorted by relative path; an empty folder is an error.

    Recursive: every sub-folder is read, symbolic links to folders included, each real folder once (a link
    back to a folder already read — a loop — is not followed, with a warning); see
    :func:`percept_lib.images.list_images`.
    """
    folder = Path(folder)
    if not folder.is_dir():
        kind = "a file" if folder.exists() else "missing"
        raise ValueError(f"{folder}: not a folder ({kind}); pass a folder of images")
    files = list_images(folder)
    if not files:
        raise ValueError(f"{folder}: no image files (looked for {', '.join(IMAGE_EXTENSIONS)}, recursively); "
                         "check the path")
    return files


class ImageFiles(torch.utils.data.Dataset):
    """``(index, image, "", digest)`` per file, or ``(index, None, reason, digest)`` for one that cannot be read.

    Each file is read once: its bytes are hashed (the cache's content check, :func:`.cache.content_digest`) and
    decoded from memory. With ``prepare`` the image comes out prepared (network-sized float); otherwise decoded
    only. Images over ``max_pixels`` are refused before decoding (a reason, like an unreadable file).
    """

    def __init__(self, files: Sequence[Path], prepare: Callable | None = None, max_pixels: int | None = None):
        self.files = list(files)
        self.prepare = prepare
        self.max_pixels = max_pixels

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        path = self.files[i]
        try:
            data = path.read_bytes()
        except OSError as err:
            broken = " (a broken symbolic link)" if path.is_symlink() and not path.exists() else ""
            return i, None, f"{path}: cannot be read{broken} ({err.strerror or err}); check the file", None
        digest = content_digest(data)
        try:
            image = decode_image(path, data=data, max_pixels=self.max_pixels)
        except ValueError as err:
            return i, None, str(err), digest
        return i, (self.prepare(image[None])[0] if self.prepare is not None else image), "", digest


@dataclass
class Batch:
    """What a loader hands over: the readable images stacked (or None) with their ``indices``, the unreadable
    ones as ``failed`` (index, reason), and every file's content hash by index."""

    indices: list[int]
    images: torch.Tensor | None
    failed: list[tuple[int, str]]
    digests: dict[int, str | None]

    def pin_memory(self) -> "Batch":
        """Called by a DataLoader with ``pin_memory=True``: the images go to page-locked memory."""
        images = self.images.pin_memory() if self.images is not None else None
        return Batch(self.indices, images, self.failed, self.digests)


def collate(items, prepare: Callable | None = None) -> Batch:
    """Readable images stacked, unreadable ones handed back with their reason, every file's hash.

    With ``prepare`` (decoded-only items): one size, all uint8 → the uint8 batch, prepared later on the device;
    otherwise each image is prepared here, so that they stack.
    """
    good = [(i, x) for i, x, _, _ in items if x is not None]
    failed = [(i, reason) for i, x, reason, _ in items if x is None]
    digests = {i: digest for i, _, _, digest in items}
    indices = [i for i, _ in good]
    images = [x for _, x in good]
    if not images:
        return Batch(indices, None, failed, digests)
    same = len({(tuple(x.shape), x.dtype) for x in images}) == 1 and images[0].dtype == torch.uint8
    if prepare is not None and not same:
        images = [prepare(to_unit_float(x)[None])[0] for x in images]
    return Batch(indices, torch.stack(images), failed, digests)
