"""``pairs DIR_TEST DIR_REFERENCE``: LPIPS / DISTS / PSNR / SSIM per image pair, CSV, summary, gallery."""
from __future__ import annotations

from pathlib import Path

from ..pipeline.pairs import METRICS, NETS
from .flags import add_history_flags, add_run_flags, report, run_options


def register(sub) -> None:
    p = sub.add_parser(
        "pairs", help="score each image of DIR_TEST against its counterpart in DIR_REFERENCE",
        description="Files are paired by relative path with the extension ignored (a/x.png ↔ b/x.jpg).")
    p.add_argument("dir_test", help="folder of images under evaluation (restored / generated)")
    p.add_argument("dir_reference", help="folder of reference images")
    p.add_argument("--metrics", default=",".join(METRICS), help=f"comma-separated subset of {','.join(METRICS)}")
    p.add_argument("--net", default="alex", choices=NETS, help="LPIPS backbone")
    p.add_argument("--strict", action="store_true", help="files present on one side only are an error")
    p.add_argument("--resize-to", choices=["reference"], default=None,
                   help="resize a test image to its reference's size instead of failing")
    p.add_argument("--csv", help="write one row per pair to this CSV file")
    p.add_argument("--gallery", help="write a self-contained HTML report of the worst and best pairs")
    p.add_argument("--k", type=int, default=5, help="pairs shown at each end of the gallery")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap confidence intervals")
    p.add_argument("--force", action="store_true", help="overwrite existing --csv / --gallery files")
    add_run_flags(p, batch_size=16, extraction=False)
    add_history_flags(p)
    p.set_defaults(func=run)


def _refuse_overwrite(path: str | None, force: bool) -> None:
    if path and Path(path).exists() and not force:
        raise ValueError(f"{path} exists; pass --force to overwrite it")


def run(args) -> int:
    from ..pipeline.pairs import evaluate_pairs

    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    _refuse_overwrite(args.csv, args.force)
    _refuse_overwrite(args.gallery, args.force)
    result = evaluate_pairs(args.dir_test, args.dir_reference, metrics=metrics, net=args.net, strict=args.strict,
                            resize_to=args.resize_to, seed=args.seed, options=run_options(args))
    if args.csv:
        result.to_csv(args.csv)
    if args.gallery:
        from ..pipeline.gallery import write_gallery

        write_gallery(result, args.gallery, k=args.k, device=args.device)
    payload = result.to_dict()
    payload.pop("rows")
    lines = [f"{result.n} pairs ({len(result.only_in_test)} only in test, "
             f"{len(result.only_in_reference)} only in reference, skipped)",
             f"{'metric':<8} {'N':>5} {'mean':>10} {'std':>10} {'median':>10}  95% CI (bootstrap)"]
    lines += [f"{metric:<8} {s['n']:>5} {s['mean']:>10.4f} {s['std']:>10.4f} {s['median']:>10.4f}  "
              f"[{s['ci_low']:.4f}, {s['ci_high']:.4f}]" for metric, s in result.summary.items()]
    if report(payload, result.weights_label, args, lines) and args.db:
        result.record(args.db, tag=args.tag, checkpoint=args.checkpoint)
    return 0
