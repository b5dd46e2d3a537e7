"""``fid``, ``kid``, ``stats``, ``clip-score``: distribution metrics on folders of images, from the shell.

    python -m percept_lib fid DIR_A DIR_B            # either side may be a .npz statistics file
    python -m percept_lib fid DIR_A DIR_B --extractor dinov2-vits14     # Fréchet distance in DINOv2's space
    python -m percept_lib kid DIR_A DIR_B
    python -m percept_lib stats DIR -o stats.npz     # readable by pytorch-fid and clean-fid
    python -m percept_lib clip-score --captions captions.csv DIR
    torchrun --nproc_per_node 4 -m percept_lib stats DIR -o stats.npz --device cuda   # sharded by rank

Every result states N of each side, the extractor, the resize mode and the weights (with a banner when they
are random), because an FID means nothing without them. A statistics file written by ``stats`` carries them,
and ``fid`` refuses to compare it with features made differently unless ``--force-mix``. ``--db FILE`` appends
the result to a SQLite history. Outputs (``-o``, ``--db``) are checked before the computation, and ``-o`` is
written atomically: complete or not at all, never over a file another run wrote meanwhile (without ``--force``).
"""
from __future__ import annotations

from pathlib import Path

from .. import weights as W
from .flags import (
    add_feature_flags, add_history_flags, add_run_flags, feature_spec, is_main_process, report, run_options,
)


def _command(sub, name: str, help: str, positionals, func, features: bool = True, history: bool = True):
    """A sub-command with its positional arguments and the shared flags; returns the parser for its own."""
    p = sub.add_parser(name, help=help)
    for arg, arg_help in positionals:
        p.add_argument(arg, help=arg_help)
    if features:
        add_feature_flags(p)
    add_run_flags(p)
    if history:
        add_history_flags(p)
    p.set_defaults(func=func)
    return p


def register(sub) -> None:
    p = _command(sub, "fid", "Fréchet distance (FID by default) between two folders (or .npz statistics)", [
        ("path_a", "folder of images, or .npz statistics file"),
        ("path_b", "folder of images, or .npz statistics file (pytorch-fid's and clean-fid's load)"),
    ], run_fid)
    p.add_argument("--force-mix", action="store_true",
                   help="compare a statistics file with features made differently (another extractor, layer, "
                        "resize mode or weights); refused without it")

    p = _command(sub, "kid", "Kernel Inception Distance between two folders (mean ± std over subsets)",
                 [("dir_a", None), ("dir_b", None)], run_kid)
    p.add_argument("--subsets", type=int, default=100, help="number of random subsets (default 100)")
    p.add_argument("--subset-size", type=int, default=1000,
                   help="samples per subset (default 1000; capped at the smaller folder's N)")
    p.add_argument("--seed", type=int, default=0)

    p = _command(sub, "stats", "save the feature statistics (mu, sigma) of a folder to an .npz file",
                 [("folder", None)], run_stats, history=False)
    p.add_argument("-o", "--output", required=True, help="the .npz file to write")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")

    p = _command(sub, "clip-score", "CLIPScore of a folder of images against their captions", [("folder", None)],
                 run_clip_score, features=False)
    p.add_argument("--captions", required=True, help="CSV file with columns file,caption (names relative to FOLDER)")
    p.add_argument("--convention", default="hessel", choices=["hessel", "torchmetrics"],
                   help="hessel: mean of 2.5·max(cos, 0) (the paper); torchmetrics: max(mean(100·cos), 0)")
    p.add_argument("--prefix", default=None,
                   help="prepended to every caption; Hessel et al. use \"A photo depicts\" (default: none)")


def _check_db(args) -> None:
    """A --db that cannot take the result fails now, not after the computation."""
    if args.db:
        from ..pipeline.history import check_history

        check_history(args.db)


def _report(result, args, lines: list[str]) -> None:
    # The banner is for random weights on either side; "pretrained | unknown" (a pytorch-fid file) is not random.
    banner = W.RANDOM_LABEL if W.RANDOM_LABEL in result.weights else "pretrained"
    lines = [*lines, f"  {result.provenance()}", f"  signature: {result.signature}"]
    if report(result.to_dict(), banner, args, lines) and args.db:
        result.record(args.db, tag=args.tag, checkpoint=args.checkpoint)


def _n(n) -> str:
    return "unknown (statistics file without N)" if n is None else str(n)


def run_fid(args) -> int:
    from ..pipeline.folders import fid_folders

    spec = feature_spec(args)
    _check_db(args)
    result = fid_folders(args.path_a, args.path_b, spec.layer, spec.resize or None, extractor=spec.extractor,
                         force_mix=args.force_mix, options=run_options(args))
    name = "FID" if spec.extractor == "inception-fid" else f"FD ({spec.extractor})"
    _report(result, args, [
        f"{name} {result.value:.6g}",
        f"  A: {args.path_a}  (N = {_n(result.n)})",
        f"  B: {args.path_b}  (N = {_n(result.n_reference)})",
    ])
    return 0


def run_kid(args) -> int:
    from ..pipeline.folders import kid_folders

    spec = feature_spec(args)
    _check_db(args)
    result = kid_folders(args.dir_a, args.dir_b, spec.layer, spec.resize or None, extractor=spec.extractor,
                         num_subsets=args.subsets, subset_size=args.subset_size, seed=args.seed,
                         options=run_options(args))
    _report(result, args, [
        f"KID {result.value:.6g} ± {result.std:.3g}  ({result.details['num_subsets']} subsets of "
        f"{result.details['subset_size']})",
        f"  A: {args.dir_a}  (N = {result.n})",
        f"  B: {args.dir_b}  (N = {result.n_reference})",
    ])
    return 0


def run_stats(args) -> int:
    from ..pipeline.outputs import check_output, write_atomic
    from ..pipeline.sharding import folder_stats

    output = Path(args.output)
    if output.suffix.lower() != ".npz":
        raise ValueError(f"{output}: use a file name ending in .npz (the format pytorch-fid and clean-fid read)")
    check_output(output, "-o", exists_ok=args.force)
    spec = feature_spec(args)
    stats = folder_stats(args.folder, spec, options=run_options(args))
    resize = f", resize {spec.resize}" if spec.resize else ""
    payload = {"output": str(output), "n": stats.count, "extractor": spec.label, "resize": spec.resize,
               "weights": stats.weights}
    lines = [f"wrote {output}: mu, sigma of {stats.count} images ({args.folder})",
             f"  {spec.label}{resize}; weights: {stats.weights}"]
    if is_main_process():
        write_atomic(output, stats.save, exists_ok=args.force)  # refuses, at the rename, a file written meanwhile
        report(payload, stats.weights, args, lines)
    return 0


def run_clip_score(args) -> int:
    from ..pipeline.folders import clip_score_folder

    _check_db(args)
    result = clip_score_folder(args.folder, args.captions, convention=args.convention, prefix=args.prefix,
                               options=run_options(args))
    prefix = f", prefix {args.prefix!r}" if args.prefix else ""
    _report(result, args, [
        f"CLIPScore {result.value:.6g}  ({args.convention} convention{prefix})",
        f"  {args.folder}  (N = {result.n} captioned images; captions {args.captions})",
    ])
    return 0
