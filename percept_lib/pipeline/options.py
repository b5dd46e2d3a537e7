"""How a pipeline run executes — batch size, device, loader workers, cache, progress bar, precision, sharding,
the pixel-count limit.

One object instead of the same six parameters on every function: the folder and pair functions take
``options=RunOptions(...)`` and, for convenience, the same fields as keywords (``device="cuda"``), which
override it. What a run computes (extractor, layer, resize) is the :class:`~.extraction.FeatureSpec`.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

import torch

from ..images import pixel_limit as resolve_pixel_limit

DISTRIBUTED_MODES = ("auto", "off")


@dataclass(frozen=True)
class RunOptions:
    """``batch_size`` images per forward pass; ``device`` cpu / cuda / cuda:N (under torchrun: one GPU per
    rank); ``num_workers`` DataLoader processes that decode; ``cache`` read the feature cache
    (``False`` recomputes and replaces its entry); ``progress`` bars; ``amp`` float16 autocast (CUDA only);
    ``distributed`` ``"auto"`` shards under torchrun, ``"off"`` never does; ``max_pixels`` the largest image
    decoded, width × height (None: ``$PERCEPT_MAX_PIXELS`` or :data:`percept_lib.images.DEFAULT_MAX_PIXELS`;
    larger files are skipped and named); ``cache_report`` a list that each folder's cache entry is appended to
    (folder, file, status — what the CLI's ``--verbose`` and ``--json`` show)."""

    batch_size: int = 50
    device: str = "cpu"
    num_workers: int = 0
    cache: bool = True
    progress: bool = True
    amp: bool = False
    distributed: str = "auto"
    max_pixels: int | None = None
    cache_report: list | None = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size={self.batch_size!r}: use a positive integer")
        if isinstance(self.num_workers, bool) or not isinstance(self.num_workers, int) or self.num_workers < 0:
            raise ValueError(f"num_workers={self.num_workers!r}: use 0 (load in this process) or a positive integer")
        if self.distributed not in DISTRIBUTED_MODES:
            raise ValueError(f"distributed={self.distributed!r}: use 'auto' or 'off'")
        if self.amp and self.torch_device.type != "cuda":
            raise ValueError("amp=True needs a CUDA device (float16 autocast); drop --amp on the CPU")
        if self.max_pixels is not None:
            resolve_pixel_limit(self.max_pixels)  # the check and its message live with the decoder

    @classmethod
    def resolve(cls, options: "RunOptions | None" = None, **overrides) -> "RunOptions":
        """``options`` (default: the defaults) with the given fields replaced; an unknown field is an error."""
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise ValueError(f"unknown option(s) {', '.join(unknown)}; run options are {', '.join(sorted(fields))}")
        return dataclasses.replace(options or cls(), **overrides)

    @property
    def pixel_limit(self) -> int:
        """``max_pixels``, else ``$PERCEPT_MAX_PIXELS``, else the default (a bad variable is a ValueError)."""
        return resolve_pixel_limit(self.max_pixels)

    @property
    def torch_device(self) -> torch.device:
        device = torch.device(self.device)
        if device.type == "cuda":
            if not torch.cuda.is_available():
                raise ValueError(f"device={device}: no CUDA device is available here; use --device cpu")
            if device.index is None and "LOCAL_RANK" in os.environ:  # torchrun: one GPU per rank
                device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        return device
