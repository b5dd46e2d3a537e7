"""Pairs of files to batches: probe sizes from the headers, decode in DataLoader workers, stack what stacks.

A pair whose test or reference image cannot be read, decoded, or exceeds the pixel-count limit does not stop
the run: it comes back as ``(index, reason)``, the reason naming the file (the messages of
:func:`percept_lib.images.decode_image`), and the caller decides whether to skip it or abort (``strict``).
A size mismatch without ``--resize-to reference`` is a choice the user must make, so it is an error — found
from the headers, before the computation starts.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Sequence

import torch

from ..images import decode_image, image_size as upright_size, resize as resize_images, to_unit_float

if TYPE_CHECKING:
    from .pairs import Pair

def image_size(path, max_pixels: int | None = None) -> tuple[int, int] | str:
    """(height, width) of the upright image from its header (:func:`percept_lib.images.image_size`), or, for a
    file that cannot be read or is over the pixel limit, the reason as a sentence naming it."""
    try:
        return upright_size(path, max_pixels)
    except ValueError as err:
        return str(err)


def _mismatch(pair: "Pair", test: tuple[int, int], reference: tuple[int, int]) -> ValueError:
    return ValueError(f"pair {pair.key}: {pair.test.name} is {test[0]}×{test[1]} but {pair.reference.name} is "
                      f"{reference[0]}×{reference[1]}; pass resize_to='reference' (--resize-to reference) to "
                      "resize the test image")


def group_by_size(pairs: Sequence["Pair"], resize_to_reference: bool, max_pixels: int | None = None):
    """({reference size: [pair indices]}, [(index, reason)] of the pairs that cannot be read), from headers.

    Without ``resize_to_reference`` a readable pair of two sizes raises (the fix is a flag, not a skip).
    """
    groups: dict[tuple[int, int], list[int]] = {}
    failed: list[tuple[int, str]] = []
    for i, pair in enumerate(pairs):
        reference = image_size(pair.reference, max_pixels)
        test = image_size(pair.test, max_pixels)
        reason = next((s for s in (test, reference) if isinstance(s, str)), None)
        if reason is not None:
            failed.append((i, reason))
            continue
        if not resize_to_reference and test != reference:
            raise _mismatch(pair, test, reference)
        groups.setdefault(reference, []).append(i)
    return groups, failed


class PairImages(torch.utils.data.Dataset):
    """``(index, test, reference, "")`` per pair (3×H×W float in [0, 1], the test resized to the reference's
    size if asked), or ``(index, None, None, reason)`` for a pair that cannot be decoded."""

    def __init__(self, pairs: Sequence["Pair"], resize_to_reference: bool, max_pixels: int | None = None):
        self.pairs = pairs
        self.resize_to_reference = resize_to_reference
        self.max_pixels = max_pixels

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, i):
        pair = self.pairs[i]
        try:
            a, b = (to_unit_float(decode_image(p, max_pixels=self.max_pixels))[None] for p in (pair.test, pair.reference))
        except ValueError as err:  # the decoder's message names the file and the fix
            return i, None, None, str(err)
        if a.shape != b.shape:
            if not self.resize_to_reference:  # the headers agreed, the pixels do not: a file changed meanwhile
                return i, None, None, str(_mismatch(pair, tuple(a.shape[-2:]), tuple(b.shape[-2:])))
            a = resize_images(a, tuple(b.shape[-2:]), "clean")
        return i, a[0], b[0], ""


def batches(dataset: PairImages, groups: dict, batch_size: int, workers: int) -> Iterator:
    """Yield ``(indices, A, B, failed)`` per loader batch of each size group; ``A``/``B`` are None when no
    pair of the batch could be decoded, ``failed`` lists ``(index, reason)``."""
    for indices in groups.values():
        loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, indices), batch_size=batch_size,
                                             shuffle=False, num_workers=workers, collate_fn=list)
        for items in loader:
            good = [(i, a, b) for i, a, b, _ in items if a is not None]
            failed = [(i, reason) for i, a, _, reason in items if a is None]
            if not good:
                yield [], None, None, failed
                continue
            yield ([i for i, _, _ in good], torch.stack([a for _, a, _ in good]),
                   torch.stack([b for _, _, b in good]), failed)


__all__ = ["image_size", "group_by_size", "PairImages", "batches"]
