"""``history DB``: the rows of a SQLite results history and the regression alerts computed from them.

    python -m percept_lib history results.sqlite                       # every row, then the alerts
    python -m percept_lib history results.sqlite --metric kid --tag nightly
    python -m percept_lib history results.sqlite --json                # rows and every comparison, as JSON
    python -m percept_lib history results.sqlite --fail-on-regression  # exit status 1 on an alert (CI)

Each checkpoint is compared with the previous comparable row (same metric, tag, extractor, resize mode,
weights and N): it regresses when it is worse by more than its recorded uncertainty allows (``--z`` combined
standard errors; KID's std, a bootstrap interval), or by more than ``--threshold`` (relative) where none was
recorded. See :func:`percept_lib.metrics.regressions.compare_checkpoints`.
"""
from __future__ import annotations

from ..metrics.regressions import Z_DEFAULT, compare_checkpoints, uncertainty
from ..pipeline.history import read_history
from .flags import json_text


def register(sub) -> None:
    p = sub.add_parser("history", help="list a SQLite results history and its regression alerts",
                       description="List the rows of a results history (--db of fid, kid, clip-score, pairs) and "
                                   "flag checkpoints worse than the previous one by more than their uncertainty.")
    p.add_argument("db", help="the SQLite file written with --db")
    p.add_argument("--metric", help="only this metric (e.g. fid, kid, clip-score, pairs/lpips-alex)")
    p.add_argument("--tag", help="only rows with this tag")
    p.add_argument("--threshold", type=float, default=0.05,
                   help="relative worsening that counts as a regression where no uncertainty was recorded "
                        "(default 0.05 = 5 %%)")
    p.add_argument("--z", type=float, default=Z_DEFAULT,
                   help=f"standard errors of the difference a worsening must exceed (default {Z_DEFAULT:g})")
    p.add_argument("--fail-on-regression", action="store_true", help="exit with status 1 if any alert is raised")
    p.add_argument("--json", action="store_true", help="print rows and comparisons as JSON")
    p.set_defaults(func=run)


def _uncertainty_text(row: dict) -> str:
    sigma, basis = uncertainty(row)
    if basis == "std":
        return f"± {row['std']:.3g} (std)"
    if basis == "interval":
        return f"[{row['extra']['ci_low']:.4g}, {row['extra']['ci_high']:.4g}] (95 %)"
    return ""


def run(args) -> int:
    rows = read_history(args.db, metric=args.metric, tag=args.tag)
    comparisons = compare_checkpoints(rows, threshold=args.threshold, z=args.z)
    alerts = [c for c in comparisons if c.flagged]
    if args.json:
        print(json_text({
            "db": str(args.db), "threshold": args.threshold, "z": args.z, "rows": rows,
            "comparisons": [c.to_dict() for c in comparisons],
            "alerts": [c.to_dict() for c in alerts],
        }))
    else:
        if not rows:
            print(f"{args.db}: no rows" + (" match the filters" if args.metric or args.tag else ""))
        else:
            print(f"{len(rows)} row(s) in {args.db}")
            print(f"{'id':>4}  {'checkpoint':<14} {'metric':<18} {'value':>12}  {'uncertainty':<28} "
                  f"{'N':>6}  {'tag':<10} weights")
            for row in rows:
                n = "" if row.get("n") is None else str(row["n"])
                print(f"{row['id']:>4}  {row.get('checkpoint') or '':<14} {row['metric']:<18} {row['value']:>12.6g}  "
                      f"{_uncertainty_text(row):<28} {n:>6}  {row.get('tag') or '':<10} {row.get('weights') or ''}")
            print()
            if alerts:
                print(f"{len(alerts)} regression alert(s) of {len(comparisons)} comparison(s):")
                for alert in alerts:
                    print(f"  ✗ {alert.describe()}")
            else:
                print(f"no regression: {len(comparisons)} comparison(s), none worse than its uncertainty "
                      f"(z = {args.z:g}) or the {args.threshold:g} relative threshold allows")
    return 1 if alerts and args.fail_on_regression else 0
