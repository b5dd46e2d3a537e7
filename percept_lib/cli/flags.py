"""The flags the commands share, written once, and the one way a command reports a result.

``add_run_flags`` (how it runs: batch size, device, workers, progress, JSON, and for feature extraction the
cache, amp and ``--verbose``), ``add_feature_flags`` (what it computes: extractor, layer, resize),
``add_history_flags`` (``--db``, ``--tag``, ``--checkpoint``); ``run_options(args)`` turns them into a
:class:`~percept_lib.pipeline.options.RunOptions`.

``--json`` output is strict JSON (RFC 8259, no ``NaN`` / ``Infinity`` literals): a non-finite number is written
as the string ``"inf"``, ``"-inf"`` or ``"nan"``, which Python's ``float()`` reads back (:func:`json_text`).
"""
from __future__ import annotations

import json
import math
import os
import sys

from .. import weights as W
from ..images import DEFAULT_MAX_PIXELS

# The folder commands' --help says how a folder is read (README: "Folders are read recursively").
FOLDERS_HELP = ("Folders are read recursively: every sub-folder, symbolic links to folders included, each real "
                "folder once (a link back to a folder already read is not followed, with a warning). EXIF "
                f"orientation is applied. Images over PERCEPT_MAX_PIXELS pixels (default {DEFAULT_MAX_PIXELS:,}) "
                "are refused, named, like unreadable files.")


def add_run_flags(p, batch_size: int = 50, extraction: bool = True) -> None:
    """The run flags of a command that reads folders (its --help also says how folders are read)."""
    p.epilog = f"{p.epilog} {FOLDERS_HELP}" if p.epilog else FOLDERS_HELP
    p.add_argument("--batch-size", type=int, default=batch_size, help=f"images per forward pass (default {batch_size})")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (under torchrun: one GPU per rank)")
    p.add_argument("--workers", type=int, default=0, help="DataLoader processes that decode images (default 0)")
    if extraction:
        p.add_argument("--no-cache", action="store_true",
                       help="recompute the features even if cached, and replace the cache entry with them")
        p.add_argument("--amp", action="store_true", help="float16 autocast on CUDA (faster, ~1e-3 relative)")
        p.add_argument("--verbose", action="store_true",
                       help="also print where each folder's feature cache entry is (--json always has it, as "
                            "'cache'); the cache lives under $PERCEPT_CACHE (default ~/.cache/percept_lib), "
                            "bounded by PERCEPT_CACHE_MAX (default 5G), least recently used entries removed first")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true",
                   help='print the result as strict JSON (non-finite numbers as the strings "inf", "-inf", "nan")')


def add_feature_flags(p, default_extractor: str = "inception-fid") -> None:
    from ..extractors import embedding_extractors

    p.add_argument("--extractor", default=default_extractor, choices=embedding_extractors(),
                   help=f"the network whose features are compared (default {default_extractor})")
    p.add_argument("--layer", default=None,
                   help="its tap: inception-fid pool3 (default) / block768 / block192 / block64 / logits / "
                        "logits_unbiased (1008 classes, for the Inception Score); clip-* embedding; "
                        "dinov2-* cls (default) / patch")
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

    extraction = {}
    if hasattr(args, "no_cache"):
        if getattr(args, "cache_report", None) is None:
            args.cache_report = []  # filled by the extraction, read by report()
        extraction = {"cache": not args.no_cache, "amp": args.amp, "cache_report": args.cache_report}
    return RunOptions(batch_size=args.batch_size, device=args.device, num_workers=args.workers,
                      progress=not args.no_progress, **extraction, **fixed)


def is_main_process() -> bool:
    """Rank 0 prints and writes; the other ranks of a torchrun job only compute their shard."""
    return int(os.environ.get("RANK", "0")) == 0


def json_safe(value):
    """``value`` with every non-finite float as the string "inf", "-inf" or "nan" and numpy / torch arrays and
    scalars as Python lists and numbers, through dicts, lists and tuples: what strict JSON can hold, and what
    ``float()`` reads back."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if getattr(value, "ndim", None) is not None and hasattr(value, "tolist"):  # numpy or torch arrays, scalars
        return json_safe(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def json_text(payload) -> str:
    """Strict JSON (no NaN / Infinity literals; see :func:`json_safe`), indented: what every --json prints."""
    return json.dumps(json_safe(payload), indent=2, allow_nan=False)


def report(payload: dict, weights: str, args, lines: list[str]) -> bool:
    """Print ``lines`` (or ``payload`` as strict JSON), with the random-weights banner when it applies; rank 0
    only. Commands that extract features also report their cache entries: in the JSON as ``cache`` (a list of
    {folder, file, status}), in the text with ``--verbose``.

    Returns whether this process reported (and so should write files and history rows).
    """
    if not is_main_process():
        return False
    random = weights != "pretrained"
    cache = getattr(args, "cache_report", None)
    if args.json:
        if random:
            print(W.RANDOM_BANNER, file=sys.stderr)  # stdout stays parseable JSON
        print(json_text(payload if cache is None else {**payload, "cache": cache}))
    else:
        if random:
            print(W.RANDOM_BANNER)
        if cache and getattr(args, "verbose", False):
            lines = [*lines, *(f"  cache: {c['file']} ({c['status']}; {c['folder']})" for c in cache)]
        print("\n".join(lines))
    return True
