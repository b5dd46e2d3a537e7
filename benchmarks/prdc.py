"""Time and memory of precision / recall / density / coverage: percept_lib against the prdc package and
torch-fidelity in the same run, then percept_lib alone at a size the references cannot hold.

    python benchmarks/prdc.py [--n 10000] [--large 50000] [--d 768] [--k 5] [--repeats 3] [--quick]

Then the two ks of ``python -m percept_lib prdc`` (3 and 5) in one call against two, and --large.

Rows (float32 features, as extractors give them; k = 5; N real against N generated):

- prdc package    ``compute_prdc(real, fake, nearest_k=k)``: all four metrics from three full N×N distance
                  matrices (scikit-learn ``pairwise_distances``).
- torch-fidelity  ``prc_features_to_metric(fake, real, prc_neighborhood=k)`` (generated first, ≥ 0.4):
                  precision and recall only, from full N×N ``torch.cdist`` matrices (its default,
                  ``save_cpu_ram=False``).
- percept_lib     ``prdc(real, fake, k=k)``: all four, in blocks (float32 screen, float64 decisions).

Time: the three run interleaved in this process (benchmarks/_timing.py: every row once per round, the
fastest of ``--repeats`` rounds kept, the load average printed). Memory: each row runs once more in a fresh
subprocess: it calls the row once on 200 samples (libraries map their code and start their thread pools on
first use), builds the features, resets the kernel's peak-RSS mark (/proc/self/clear_refs) and reports the
peak resident memory above what it held before the call, i.e. the memory the computation needs beyond the
features (including any float64 copy it makes of them). The subprocesses run with MALLOC_ARENA_MAX=1, so that
the figure is the data held rather than glibc's per-thread arenas (which made ours vary by 80 MB between
identical runs; the references' large arrays are mapped directly and barely change).

Targets (issue 17): percept_lib ≥ 3× faster than the fastest reference and ≤ 1/10 of its peak memory; at
--large (50 000 against 50 000) within 2 GB beyond the features. Printed, never asserted.
"""
from __future__ import annotations

import argparse
import contextlib
import ctypes
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from _timing import compare, load_line  # noqa: E402

# This script is named like the prdc package: drop its folder from the path so that `import prdc` finds the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

ROWS = ("prdc package", "torch-fidelity", "percept_lib")
REFERENCES = ROWS[:2]
NAMES = ("precision", "recall", "density", "coverage")


def features(n: int, d: int, seed: int, offset: float = 0.0) -> np.ndarray:
    """N×d float32 embeddings with a power-law spectrum from one shared "encoder"; ``offset`` shifts the latent
    mean (0.1: every metric between 0.6 and 0.9 at N = 2000)."""
    g = torch.Generator().manual_seed(4321)
    latent_dim = 256
    mixing = torch.randn(latent_dim, d, generator=g) / np.sqrt(latent_dim)
    scales = torch.arange(1, latent_dim + 1, dtype=torch.float32) ** -0.5 * 3.0
    g = torch.Generator().manual_seed(seed)
    latent = torch.randn(n, latent_dim, generator=g) * scales + offset
    return (latent @ mixing + 0.3 * torch.randn(n, d, generator=g)).numpy()


def pair(n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    return features(n, d, seed=1), features(n, d, seed=2, offset=0.1)


def call(name: str, real: np.ndarray, fake: np.ndarray, k: int):
    """A zero-argument call of one row on these features, returning {metric: value}."""
    if name == "prdc package":
        from prdc import compute_prdc

        def run():
            with contextlib.redirect_stdout(io.StringIO()):  # it prints the set sizes
                return {key: float(v) for key, v in compute_prdc(real, fake, nearest_k=k).items()}
        return run
    if name == "torch-fidelity":
        from torch_fidelity.metric_prc import prc_features_to_metric

        real_t, fake_t = torch.from_numpy(real), torch.from_numpy(fake)
        return lambda: {key: float(prc_features_to_metric(fake_t, real_t, prc_neighborhood=k, verbose=False)[key])
                        for key in NAMES[:2]}
    from percept_lib.metrics import prdc

    return lambda: dict(prdc(real, fake, k=k))


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def child(name: str, n: int, d: int, k: int) -> None:
    """Run one row once on fresh features, after a warm-up call on 200 samples; print seconds, peak MB beyond
    the features and the values (JSON)."""
    small = pair(200, d)
    call(name, *small, k)()  # libraries map code pages and start thread pools on first use: not this call's memory
    del small
    real, fake = pair(n, d)
    fn = call(name, real, fake, k)
    with contextlib.suppress(OSError, AttributeError):
        # hand the heap freed so far back to the system, or the call would reuse it unseen
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    before = _status_kb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM (the peak) to the current RSS
    start = time.perf_counter()
    values = fn()
    seconds = time.perf_counter() - start
    peak = _status_kb("VmHWM")
    print(json.dumps({"seconds": seconds, "peak_mb": (peak - before) / 1024, "values": values}))


def in_subprocess(name: str, n: int, d: int, k: int) -> dict:
    command = [sys.executable, __file__, "--child", name, "--n", str(n), "--d", str(d), "--k", str(k)]
    # One malloc arena: with glibc's default of one per thread, a block freed by a pool thread can stay mapped,
    # and the same run measured 115 MB or 194 MB depending on thread timing (MALLOC_ARENA_MAX=1: 126–132 MB).
    env = {**os.environ, "MALLOC_ARENA_MAX": "1"}
    out = subprocess.run(command, capture_output=True, text=True, env=env)
    if out.returncode:
        return {"error": (out.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def two_ks(real: np.ndarray, fake: np.ndarray, repeats: int) -> None:
    """The folder command's papers' ks (precision and recall at 3, density and coverage at 5): one call with
    ``precision_recall_k=3`` against the two calls it replaces, interleaved."""
    from percept_lib.metrics import precision_recall, prdc

    x, y = torch.from_numpy(real), torch.from_numpy(fake)
    seconds = compare({
        "two calls": lambda: (prdc(x, y, k=5), precision_recall(x, y, k=3)),
        "one call": lambda: prdc(x, y, k=5, precision_recall_k=3),
    }, torch.device("cpu"), repeats=repeats)
    print(f"\nprecision/recall at k = 3 with density/coverage at k = 5: prdc + precision_recall "
          f"{seconds['two calls']:.2f} s, prdc(precision_recall_k=3) {seconds['one call']:.2f} s "
          f"({seconds['two calls'] / seconds['one call']:.2f}× faster, one search per set)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=50_000, help="percept_lib alone at this N (0: skip)")
    parser.add_argument("--d", type=int, default=768)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="N = 2000, large 5000, 2 repeats (a smoke run)")
    parser.add_argument("--child", choices=ROWS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.n, args.d, args.k)
    if args.quick:
        args.n, args.large, args.repeats = 2000, 5000, 2

    print(f"precision / recall / density / coverage: N = {args.n} real vs {args.n} generated, d = {args.d}, "
          f"k = {args.k}, float32 features, {torch.get_num_threads()} torch threads")
    print(load_line("before"))
    real, fake = pair(args.n, args.d)
    seconds = compare({name: call(name, real, fake, args.k) for name in ROWS}, torch.device("cpu"),
                      repeats=args.repeats)
    memory = {name: in_subprocess(name, args.n, args.d, args.k) for name in ROWS}

    ours = memory["percept_lib"].get("values", {})
    print(f"\n{'row':<16}{'time [s]':>10}{'peak MB':>10}{'ours faster':>13}  values (max |difference| from ours)")
    for name in ROWS:
        row = memory[name]
        if "error" in row:
            print(f"{name:<16}{seconds[name]:>10.2f}{'—':>10}{'':>13}  memory run failed: {row['error']}")
            continue
        values = row["values"]
        diff = max(abs(values[key] - ours[key]) for key in values) if ours else float("nan")
        shown = ", ".join(f"{key} {values[key]:.4f}" for key in values)
        print(f"{name:<16}{seconds[name]:>10.2f}{row['peak_mb']:>10.0f}{seconds[name] / seconds['percept_lib']:>12.2f}×"
              f"  {shown} ({diff:.1e})")

    measured = [r for r in REFERENCES if "error" not in memory[r]]
    if measured and "error" not in memory["percept_lib"]:
        fastest = min(measured, key=lambda r: seconds[r])
        speed = seconds[fastest] / seconds["percept_lib"]
        memory_share = memory["percept_lib"]["peak_mb"] / memory[fastest]["peak_mb"]
        print(f"\nfastest reference: {fastest}")
        print(f"[{verdict(speed >= 3)}] ≥ 3× faster than the fastest reference: {speed:.2f}×")
        print(f"[{verdict(memory_share <= 0.1)}] ≤ 1/10 of its peak memory: {memory_share:.3f} "
              f"({memory['percept_lib']['peak_mb']:.0f} MB vs {memory[fastest]['peak_mb']:.0f} MB)")

    two_ks(real, fake, args.repeats)
    if args.large:
        print(f"\npercept_lib alone, N = {args.large} real vs {args.large} generated (one run, fresh process):")
        row = in_subprocess("percept_lib", args.large, args.d, args.k)
        if "error" in row:
            print(f"failed: {row['error']}")
        else:
            shown = ", ".join(f"{key} {value:.4f}" for key, value in row["values"].items())
            print(f"time {row['seconds']:.1f} s, peak {row['peak_mb']:.0f} MB beyond the features; {shown}")
            print(f"[{verdict(row['peak_mb'] <= 2048)}] within 2 GB beyond the features: {row['peak_mb']:.0f} MB")
    print(load_line("after"))


if __name__ == "__main__":
    main()
