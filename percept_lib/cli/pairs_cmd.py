"""``pairs DIR_TEST DIR_REFERENCE``: LPIPS / DISTS / PSNR / SSIM per image pair, CSV, summary, gallery.

Every output (``--csv``, ``--gallery``, ``--db``) is checked before the computation starts — its folder
exists and can be written, ``--csv`` and ``--gallery`` name different files, an existing file needs
``--force``, ``--db`` is a percept_lib history or absent — and written atomically after it
(:mod:`percept_lib.pipeline.outputs`). The summary is printed before the files are written, and also when
some pairs were skipped.
"""
from __future__ import annotations

from ..pipeline.pairs import EXTRA_METRICS, METRICS, NETS
from .flags import add_history_flags, add_run_flags, report, run_options

SHOWN_SKIPS = 10  # skipped pairs listed in the text output; --json lists them all


def register(sub) -> None:
    p = sub.add_parser(
        "pairs", help="score each image of DIR_TEST against its counterpart in DIR_REFERENCE",
        description="Files are paired by relative path with the extension ignored (a/x.png ↔ b/x.jpg). "
                    "A file present on one side only, or an image that cannot be read or decoded, is skipped "
                    "and named with its reason (in the output and in --json); the other pairs are scored and "
                    "summarized. --strict makes either an error.")
    p.add_argument("dir_test", help="folder of images under evaluation (restored / generated)")
    p.add_argument("dir_reference", help="folder of reference images")
    p.add_argument("--metrics", default=",".join(METRICS),
                   help=f"comma-separated subset of {','.join(METRICS + EXTRA_METRICS)} (default "
                        f"{','.join(METRICS)}; ms-ssim needs images of at least 161×161)")
    p.add_argument("--net", default="alex", choices=NETS, help="LPIPS backbone")
    p.add_argument("--strict", action="store_true",
                   help="abort instead of skipping: a file present on one side only is an error, and so is an "
                        "image that cannot be read or decoded (or is over PERCEPT_MAX_PIXELS)")
    p.add_argument("--resize-to", choices=["reference"], default=None,
                   help="resize a test image to its reference's size instead of failing")
    p.add_argument("--csv", help="write one row per pair to this CSV file (skipped pairs with their reason)")
    p.add_argument("--gallery", help="write a self-contained HTML report of the worst and best pairs (the "
                                     "difference map is LPIPS's when --metrics has lpips, else |test − reference|)")
    p.add_argument("--k", type=int, default=5, help="pairs shown at each end of the gallery")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap confidence intervals")
    p.add_argument("--force", action="store_true", help="overwrite existing --csv / --gallery files")
    add_run_flags(p, batch_size=16, extraction=False)
    add_history_flags(p)
    p.set_defaults(func=run)


def _check_outputs(args) -> None:
    """Everything that would make the outputs fail, raised before the computation."""
    from ..pipeline.history import check_history
    from ..pipeline.outputs import check_outputs

    if args.k < 1:
        raise ValueError(f"--k {args.k}: show at least one pair at each end of the gallery")
    check_outputs({"--csv": args.csv, "--gallery": args.gallery}, exists_ok=args.force)
    if args.db:
        check_history(args.db)


def _summary_lines(result, results: list[dict]) -> list[str]:
    from ..pipeline.pairs_result import cell

    lines = [f"{result.n} pairs scored, {len(result.skipped)} skipped (image unusable); "
             f"{len(result.only_in_test)} only in test, {len(result.only_in_reference)} only in reference "
             "(not paired)",
             f"{'metric':<8} {'N':>5} {'mean':>10} {'std':>10} {'median':>10}  95% CI (bootstrap)"]
    lines += [f"{metric:<8} {s['n']:>5} {cell(s['mean']):>10} {cell(s['std']):>10} {cell(s['median']):>10}  "
              f"[{cell(s['ci_low'])}, {cell(s['ci_high'])}]" for metric, s in result.summary.items()]
    lines += [f"note: {note}" for note in result.notes]
    lines += ["signatures:", *(f"  {r['signature']}" for r in results)]
    if result.skipped:
        lines.append(f"skipped {len(result.skipped)} pair(s):")
        lines += [f"  {s['path']}: {s['reason']}" for s in result.skipped[:SHOWN_SKIPS]]
        if len(result.skipped) > SHOWN_SKIPS:
            lines.append(f"  … and {len(result.skipped) - SHOWN_SKIPS} more (--json or --csv lists them all)")
    return lines


def run(args) -> int:
    from ..pipeline.pairs import evaluate_pairs

    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    _check_outputs(args)
    result = evaluate_pairs(args.dir_test, args.dir_reference, metrics=metrics, net=args.net, strict=args.strict,
                            resize_to=args.resize_to, seed=args.seed, options=run_options(args))
    payload = result.to_dict()
    payload.pop("rows")
    if not report(payload, result.weights_label, args, _summary_lines(result, payload["results"])):
        return 0
    # The overwrite refusal is repeated at the rename: a file written meanwhile by another run is kept.
    if args.csv:
        result.to_csv(args.csv, exists_ok=args.force)
    if args.gallery:
        from ..pipeline.gallery import write_gallery

        write_gallery(result, args.gallery, k=args.k, device=args.device, exists_ok=args.force)
    if args.db:
        result.record(args.db, tag=args.tag, checkpoint=args.checkpoint)
    return 0
