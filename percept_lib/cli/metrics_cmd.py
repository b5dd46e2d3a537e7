"""``fid``, ``kid``, ``stats``, ``clip-score``: distribution metrics on folders of images, from the shell.

    python -m percept_lib fid DIR_A DIR_B            # either side may be a .npz statistics file
    python -m percept_lib kid DIR_A DIR_B
    python -m percept_lib stats DIR -o stats.npz     # readable by pytorch-fid and clean-fid
    python -m percept_lib clip-score --captions captions.csv DIR
    torchrun --nproc_per_node 4 -m percept_lib stats DIR -o stats.npz --device cuda   # sharded by rank

Every result states N of each side, the extractor, the resize mode and the weights (with a banner when they
are random), because an FID means nothing without them. ``--db FILE`` appends it to a SQLite history.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

RANDOM_BANNER = ("⚠ RANDOM WEIGHTS (PERCEPT_WEIGHTS=random): these numbers are illustrative only and not "
                 "comparable with any published value")


def _common(p, dims: bool = True) -> None:
    p.add_argument("--batch-size", type=int, default=50, help="images per forward pass (default 50)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (under torchrun: one GPU per rank)")
    p.add_argument("--workers", type=int, default=0, help="DataLoader processes that decode images (default 0)")
    if dims:
        p.add_argument("--dims", type=int, default=2048, choices=[2048, 768, 192, 64],
                       help="Inception features: 2048 = pool3 (the standard), 768, 192, 64")
        p.add_argument("--resize", default="clean", choices=["clean", "pytorch-fid"],
                       help="clean = PIL bicubic, antialiased (clean-fid, default); pytorch-fid = bilinear")
        p.add_argument("--amp", action="store_true", help="float16 autocast on CUDA (faster, ~1e-3 relative)")
    p.add_argument("--no-cache", action="store_true", help="recompute the features even if cached")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def _history(p) -> None:
    p.add_argument("--db", help="append the result to this SQLite results history")
    p.add_argument("--tag", default="", help="label for the --db row (e.g. an experiment name)")
    p.add_argument("--checkpoint", default="", help="model checkpoint that produced the images, for the --db row")


def register(sub) -> None:
    p = sub.add_parser("fid", help="Fréchet Inception Distance between two folders (or .npz statistics)")
    p.add_argument("path_a", help="folder of images, or .npz statistics file")
    p.add_argument("path_b", help="folder of images, or .npz statistics file (pytorch-fid's and clean-fid's load)")
    _common(p)
    _history(p)
    p.set_defaults(func=run_fid)

    p = sub.add_parser("kid", help="Kernel Inception Distance between two folders (mean ± std over subsets)")
    p.add_argument("dir_a")
    p.add_argument("dir_b")
    p.add_argument("--subsets", type=int, default=100, help="number of random subsets (default 100)")
    p.add_argument("--subset-size", type=int, default=1000,
                   help="samples per subset (default 1000; capped at the smaller folder's N)")
    p.add_argument("--seed", type=int, default=0)
    _common(p)
    _history(p)
    p.set_defaults(func=run_kid)

    p = sub.add_parser("stats", help="save the FID statistics (mu, sigma) of a folder to an .npz file")
    p.add_argument("folder")
    p.add_argument("-o", "--output", required=True, help="the .npz file to write")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    _common(p)
    p.set_defaults(func=run_stats)

    p = sub.add_parser("clip-score", help="CLIPScore of a folder of images against their captions")
    p.add_argument("folder")
    p.add_argument("--captions", required=True, help="CSV file with columns file,caption (names relative to FOLDER)")
    p.add_argument("--convention", default="hessel", choices=["hessel", "torchmetrics"],
                   help="hessel: mean of 2.5·max(cos, 0) (the paper); torchmetrics: max(mean(100·cos), 0)")
    p.add_argument("--prefix", default=None,
                   help="prepended to every caption; Hessel et al. use \"A photo depicts\" (default: none)")
    _common(p, dims=False)
    _history(p)
    p.set_defaults(func=run_clip_score)


def _is_main_process() -> bool:
    """Rank 0 prints and writes; the other ranks of a torchrun job only compute their shard."""
    return int(os.environ.get("RANK", "0")) == 0


def _options(args) -> dict:
    return dict(batch_size=args.batch_size, device=args.device, num_workers=args.workers,
                cache=not args.no_cache, progress=not args.no_progress)


def _report(result, args, lines: list[str]) -> None:
    if not _is_main_process():
        return
    random = result.weights != "pretrained"
    if args.json:
        if random:
            print(RANDOM_BANNER, file=sys.stderr)  # stdout stays parseable JSON
        print(json.dumps(result.to_dict(), indent=2))
    else:
        if random:
            print(RANDOM_BANNER)
        print("\n".join(lines))
    if getattr(args, "db", None):
        result.record(args.db, tag=args.tag, checkpoint=args.checkpoint)


def _n(n) -> str:
    return "unknown (statistics file without N)" if n is None else str(n)


def _provenance(result) -> str:
    resize = f", resize {result.resize}" if result.resize else ""
    return f"  {result.extractor}{resize}; weights: {result.weights}"


def run_fid(args) -> int:
    from ..metrics.folders import fid_folders

    result = fid_folders(args.path_a, args.path_b, feature=args.dims, resize=args.resize, amp=args.amp,
                         **_options(args))
    _report(result, args, [
        f"FID {result.value:.6g}",
        f"  A: {args.path_a}  (N = {_n(result.n)})",
        f"  B: {args.path_b}  (N = {_n(result.n_reference)})",
        _provenance(result),
    ])
    return 0


def run_kid(args) -> int:
    from ..metrics.folders import kid_folders

    result = kid_folders(args.dir_a, args.dir_b, feature=args.dims, resize=args.resize, num_subsets=args.subsets,
                         subset_size=args.subset_size, seed=args.seed, **_options(args))
    _report(result, args, [
        f"KID {result.value:.6g} ± {result.std:.3g}  ({result.details['num_subsets']} subsets of "
        f"{result.details['subset_size']})",
        f"  A: {args.dir_a}  (N = {result.n})",
        f"  B: {args.dir_b}  (N = {result.n_reference})",
        _provenance(result),
    ])
    return 0


def run_stats(args) -> int:
    from ..metrics.accumulators import inception_layer, weights_label
    from ..metrics.folders import folder_stats

    output = Path(args.output)
    if output.suffix.lower() != ".npz":
        raise ValueError(f"{output}: use a file name ending in .npz (the format pytorch-fid and clean-fid read)")
    if output.exists() and not args.force:
        raise ValueError(f"{output} exists; pass --force to overwrite it")
    if not output.parent.is_dir():
        raise ValueError(f"{output}: the folder {output.parent} does not exist; create it first")
    layer = inception_layer(args.dims)
    stats = folder_stats(args.folder, "inception-fid", layer, args.resize, amp=args.amp, **_options(args))
    if not _is_main_process():
        return 0
    stats.save(output)
    label = weights_label()
    payload = {"output": str(output), "n": stats.count, "extractor": f"inception-fid/{layer}", "resize": args.resize,
               "weights": label}
    if args.json:
        if label != "pretrained":
            print(RANDOM_BANNER, file=sys.stderr)
        print(json.dumps(payload, indent=2))
    else:
        if label != "pretrained":
            print(RANDOM_BANNER)
        print(f"wrote {output}: mu, sigma of {stats.count} images ({args.folder})")
        print(f"  inception-fid/{layer}, resize {args.resize}; weights: {label}")
    return 0


def run_clip_score(args) -> int:
    from ..metrics.folders import clip_score_folder

    result = clip_score_folder(args.folder, args.captions, convention=args.convention, prefix=args.prefix,
                               **_options(args))
    prefix = f", prefix {args.prefix!r}" if args.prefix else ""
    _report(result, args, [
        f"CLIPScore {result.value:.6g}  ({args.convention} convention{prefix})",
        f"  {args.folder}  (N = {result.n} captioned images; captions {args.captions})",
        _provenance(result),
    ])
    return 0
