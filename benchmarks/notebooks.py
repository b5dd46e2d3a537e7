"""Wall time of each notebook in fast and full mode (papermill, random weights unless told otherwise).

    python benchmarks/notebooks.py            # fast mode only
    python benchmarks/notebooks.py --full     # fast and full mode

Targets (issue 14): each notebook ≤ 60 s in fast mode, all of them ≤ 4 minutes, on 2 idle CPU cores. Printed, never asserted.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _scratch import scratch_dir  # noqa: E402  (benchmarks/ is the script's directory)

from percept_lib.teaching.editions import execute, notebooks  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="also time the full (non-fast) versions")
    parser.add_argument("--pretrained", action="store_true", help="use the pretrained weights (must be cached)")
    args = parser.parse_args()
    os.environ["PERCEPT_WEIGHTS"] = "pretrained" if args.pretrained else "random"
    modes = [True, False] if args.full else [True]
    rows = []
    with scratch_dir() as tmp:
        for path in notebooks():
            times = [execute(path, Path(tmp) / f"{fast}_{path.name}", {"fast": fast}) for fast in modes]
            rows.append((path.name, *times))
            print(f"{path.name}: " + ", ".join(f"{'fast' if f else 'full'} {t:.1f} s" for f, t in zip(modes, times)),
                  flush=True)
    print(f"\n{os.cpu_count()} CPU cores, weights: {os.environ['PERCEPT_WEIGHTS']}")
    print("| notebook | fast (s) |" + (" full (s) |" if args.full else ""))
    print("| --- | ---: |" + (" ---: |" if args.full else ""))
    for name, *times in rows:
        print(f"| {name} | " + " | ".join(f"{t:.0f}" for t in times) + " |")
    print(f"| **total** | " + " | ".join(f"{sum(r[i + 1] for r in rows):.0f}" for i in range(len(modes))) + " |")


if __name__ == "__main__":
    main()
