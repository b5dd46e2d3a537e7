"""``weights status | fetch | verify``: see and fill the pretrained-weights cache (offline-safe)."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

from .. import weights as W
from .flags import json_text


def register(sub) -> None:
    p = sub.add_parser("weights", help="pretrained weights: status, fetch, verify")
    wsub = p.add_subparsers(dest="weights_command", required=True)

    s = wsub.add_parser("status", help="table of every artifact: cached or missing, size, path")
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    s.set_defaults(func=status)

    f = wsub.add_parser("fetch", help="download artifacts into the cache (or --dir, for a classroom share)")
    f.add_argument("names", nargs="*", help=f"artifacts to fetch ({', '.join(W.ARTIFACTS)})")
    f.add_argument("--all", action="store_true", help="fetch every downloadable artifact")
    f.add_argument("--dir", help="put the files here instead of $TORCH_HOME/hub/checkpoints")
    f.set_defaults(func=fetch)

    v = wsub.add_parser("verify", help="check the hashes of cached files")
    v.add_argument("names", nargs="*")
    v.set_defaults(func=verify)


def status(args) -> int:
    rows = W.status_table()
    if args.json:
        print(json_text(rows))
        return 0
    print(f"weights mode: {W.weights_mode()}    cache: {W.checkpoint_dir()}")
    width = max(len(name) for name in W.ARTIFACTS)
    print(f"{'artifact':<{width}} {'status':<8} {'size MB':>8}  path")
    for r in rows:
        size = f"{r['size_mb']:.1f}" if r["size_mb"] is not None else "-"
        print(f"{r['artifact']:<{width}} {r['status']:<8} {size:>8}  {r['path']}")
    missing = [r for r in rows if r["status"] == "missing"]
    if missing:
        print(f"\n{len(missing)} missing. Fetch on a machine with internet: python -m percept_lib weights fetch --all"
              "\n(then copy the files to the paths above), or run with PERCEPT_WEIGHTS=random for illustrative numbers.")
    return 0


def fetch(args) -> int:
    names = [n for n, a in W.ARTIFACTS.items() if a.fetchable] if args.all else args.names
    if not names:
        raise ValueError("name artifacts to fetch, or pass --all")
    failed = 0
    for name in names:
        artifact = W.get_artifact(name)
        if not artifact.fetchable:
            print(f"{name}: ships with the {artifact.package} package, nothing to fetch")
            continue
        target_dir = Path(args.dir) if args.dir else W.checkpoint_dir()
        existing = W.cached_path(name)
        if existing is not None and (target_dir / artifact.filename).is_file():
            print(f"{name}: already cached at {existing}")
            continue
        try:
            if existing is not None:  # in the Hugging Face cache: copy, no download
                target_dir.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(existing, target_dir / artifact.filename)
                path = target_dir / artifact.filename
            else:
                path = W.download_artifact(name, target_dir)
            print(f"{name}: {path}")
        except Exception as err:
            failed += 1
            print(f"{name}: download failed ({type(err).__name__}: {err}); source {artifact.download_url}",
                  file=sys.stderr)
    return 1 if failed else 0


def verify(args) -> int:
    names = args.names or list(W.ARTIFACTS)
    bad = 0
    for name in names:
        state, detail = W.verify(name)
        bad += state == "mismatch"
        print(f"{name:<{max(len(n) for n in W.ARTIFACTS)}} {state:<10} {detail}")
    return 1 if bad else 0
