"""Files to batches: list a folder's images, decode them in DataLoader workers, stack what can be stacked.

Two routes to a batch of network-sized images. A preprocessing that must run on the CPU per image (clean-fid's
PIL resize) runs in the workers. A tensor resize (pytorch-fid's bilinear, CLIP's bicubic + crop, DINOv2's
bicubic) works on any batch on any device: when a batch's images share one size (generated samples always
do), the workers only decode to uint8 — a quarter of float32's bytes through shared and pinned memory — and
the resize runs on the batch, on the device. Per sample the arithmetic is the same either way.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import torch

from ..images import IMAGE_EXTENSIONS, decode_image, list_images, to_unit_float


def folder_files(folder) -> list[Path]:
    """The image files of ``folder`` (sorted, recursive); an empty folder is an error."""
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
    """``(index, image, "")`` per file, or ``(index, None, reason)`` for a file that cannot be read.

    With ``prepare`` the image comes out prepared (network-sized float); otherwise decoded only.
    """

    def __init__(self, files: Sequence[Path], prepare: Callable | None = None):
        self.files = list(files)
        self.prepare = prepare

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        try:
            image = decode_image(self.files[i])
        except ValueError as err:
            return i, None, str(err)
        return i, (self.prepare(image[None])[0] if self.prepare is not None else image), ""


def collate(items, prepare: Callable | None = None):
    """(indices, batch, failures): readable images stacked, unreadable ones handed back with their reason.

    With ``prepare`` (decoded-only items): one size, all uint8 → the uint8 batch, prepared later on the device;
    otherwise each image is prepared here, so that they stack.
    """
    good = [(i, x) for i, x, _ in items if x is not None]
    failed = [(i, reason) for i, x, reason in items if x is None]
    indices = [i for i, _ in good]
    images = [x for _, x in good]
    if not images:
        return indices, None, failed
    same = len({(tuple(x.shape), x.dtype) for x in images}) == 1 and images[0].dtype == torch.uint8
    if prepare is not None and not same:
        images = [prepare(to_unit_float(x)[None])[0] for x in images]
    return indices, torch.stack(images), failed
