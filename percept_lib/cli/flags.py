"""The flags the commands share, written once, and the one way a command reports a result.

``add_run_flags`` (how it runs: batch size, device, workers, progress, JSON, and for feature extraction the
cache and amp), ``add_feature_flags`` (what it computes: extractor, layer, resize), ``add_history_flags``
(``--db``, ``--tag``, ``--checkpoint``); ``run_options(args)`` turns them into a
:class:`~percept_lib.pipeline.options.RunOptions`.
"""
from __future__ import annotations

import json
import os
import sys

from .. import weights as W


def add_run_flags(p, batch_size: int = 50, extraction: bool = True) -> None:
    p.add_argument("--batch-size", type=int, default=batch_size, help=f"images per forward pass (default {batch_size})")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (under torchrun: one GPU per rank)")
    p.add_argument("--workers", type=int, default=0, help="DataLoader processes that decode images (default 0)")
    if extraction:
        p.add_argument("--no-cache", action="store_true", help="recompute the features even if cached")
        p.add_argument("--amp", action="store_true", help="float16 autocast on CUDA (faster, ~1e-3 relative)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def add_feature_flags(p) -> None:
    from ..extractors import embedding_extractors

    p.add_argument("--extractor", default="inception-fid", choices=embedding_extractors(),
                   help="the network whose features are compared (default inception-fid)")
    p.add_argument("--layer", default=None,
                   help="its tap: inception-fid pool3 (default) / block768 / block192 / block64; "
                        "clip-vit-b-32 embedding; dinov2-vits14 cls (default) / patch")
    p.add_argument("--dims", type=int, default=None, choices=[2048, 768, 192, 64],
                   help="inception-fid's tap by dimension, as pytorch-fid: 2048 = pool3 (the standard), 768, 192, 64")
    p.add_argument("--resize", default=None, choices=["clean", "pytorch-fid"],
                   help="inception-fid only: clean = PIL bicubic, antialiased (clean-fid, default); "
                        "pytorch-fid = bilinear")


def add_history_flags(p) -> None:
    p.add_argument("--db", help="append the result to this SQLite results history")
    p.add_argument("--tag", default="", help="label for the --db rows (e.g. an experiment name)")
    p.add_argument("--checkpoint", default="", help="model checkpoint that produced the images, for the --db rows")


def feature_spec(args):
    from ..pipeline.extraction import FeatureSpec

    if args.dims is not None and args.layer is not None:
        raise ValueError("--dims and --layer name the same thing; pass one of them")
    if args.dims is not None and args.extractor != "inception-fid":
        raise ValueError(f"--dims selects an Inception tap; for {args.extractor} use --layer")
    return FeatureSpec.of(args.extractor, args.layer if args.dims is None else args.dims, args.resize)


def run_options(args, **fixed):
    from ..pipeline.options import RunOptions

    extraction = {"cache": not args.no_cache, "amp": args.amp} if hasattr(args, "no_cache") else {}
    return RunOptions(batch_size=args.batch_size, device=args.device, num_workers=args.workers,
                      progress=not args.no_progress, **extraction, **fixed)


def is_main_process() -> bool:
    """Rank 0 prints and writes; the other ranks of a torchrun job only compute their shard."""
    return int(os.environ.get("RANK", "0")) == 0


def report(payload: dict, weights: str, args, lines: list[str]) -> bool:
    """Print ``lines`` (or ``payload`` as JSON), with the random-weights banner when it applies; rank 0 only.

    Returns whether this process reported (and so should write files and history rows).
    """
    if not is_main_process():
        return False
    random = weights != "pretrained"
    if args.json:
        if random:
            print(W.RANDOM_BANNER, file=sys.stderr)  # stdout stays parseable JSON
        print(json.dumps(payload, indent=2))
    else:
        if random:
            print(W.RANDOM_BANNER)
        print("\n".join(lines))
    return True
