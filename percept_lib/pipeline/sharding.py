"""Statistics of a folder, sharded under ``torchrun``: each rank extracts every world_size-th file, and the
statistics are merged with ``FeatureStats.all_reduce()``, which is exact (sums, not averages of averages).

This module owns the process group's lifetime: it joins the group that exists, or starts one when torchrun's
environment says there are several processes, and ends the one it started, every rank together, at exit.
"""
from __future__ import annotations

import atexit
import os

import torch

from ..metrics.stats import FeatureStats
from .extraction import extract_folder
from .loading import folder_files
from .options import RunOptions
from .provenance import run_provenance

# Statistics of fewer images do not exist: a covariance divides by N − 1, an unbiased KID leaves one out.
MIN_IMAGES = 2


def check_image_count(folder, n: int, what: str, why: str = "a covariance divides by N − 1",
                      readable: bool = False) -> None:
    """A one-line ValueError naming ``folder`` when its ``n`` images are fewer than ``what`` needs."""
    if n < MIN_IMAGES:
        found = f"{n} {'readable image' if readable else 'image file'}{'' if n == 1 else 's'}"
        raise ValueError(f"{folder}: {found}; {what} needs at least {MIN_IMAGES} images per folder ({why}): "
                         f"add images to {folder}")


def process_group(device: torch.device, distributed: str):
    """(rank, world_size) when this process is one of several (torchrun), else None.

    ``distributed="auto"`` joins the process group that exists, or starts one (gloo on the CPU, nccl on CUDA);
    ``"off"`` never shards.
    """
    if distributed == "off" or not torch.distributed.is_available():
        return None
    dist = torch.distributed
    if not dist.is_initialized():
        if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            return None
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        atexit.register(_end_process_group)
    world = dist.get_world_size()
    return (dist.get_rank(), world) if world > 1 else None


def _end_process_group() -> None:
    """End the process group that :func:`process_group` started, every rank together.

    Left to interpreter shutdown, the group's C++ threads are destroyed while still joinable and a rank can
    abort at exit ("terminate called without an active exception": about 1 two-process run in 30 here).
    Destroying it without the barrier, while the other rank may still be talking, made that 1 in 4.
    """
    dist = torch.distributed
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def folder_stats(folder, extractor="inception-fid", layer=None, resize=None, *, options: RunOptions | None = None,
                 **run) -> FeatureStats:
    """Mean and covariance (``FeatureStats``) of the features of ``folder``; arguments as
    :func:`~.extraction.extract_folder`. ``.weights`` on the result names the weights that produced them, and
    ``.provenance`` says how the features were made (saved with the statistics). A folder with fewer than two
    (readable) images is an error naming it.

    Under ``torchrun`` (or any initialized process group) rank r takes files r, r + W, r + 2W, … and every rank
    returns the statistics of the whole folder, equal to a single process's up to summation order.
    """
    options = RunOptions.resolve(options, **run)
    files = folder_files(folder)
    check_image_count(folder, len(files), "a mean and covariance (FID, stats)")
    group = process_group(options.torch_device, options.distributed)
    if group is not None:
        rank, world = group
        files = files[rank::world]
        options = RunOptions.resolve(options, progress=options.progress and rank == 0)
    result = extract_folder(folder, extractor, layer, resize, options=options, files=files,
                            require_images=group is None)
    # The dimension is given up front: a rank whose shard is empty must still join the all-reduce with it.
    stats = FeatureStats(dim=result.features.shape[1])
    if result.n:
        stats.update(result.features)
    if group is not None:
        stats.all_reduce()
        if stats.count == 0:
            raise ValueError(f"{folder}: none of the image files could be read; check the files")
    check_image_count(folder, stats.count, "a mean and covariance (FID, stats)", readable=True)
    stats.weights = result.weights
    stats.spec = result.spec
    stats.provenance = run_provenance(result.spec, result.weights)
    return stats
