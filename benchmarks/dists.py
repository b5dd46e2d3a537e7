"""Pairs/s of our DISTS vs DISTS_pytorch's, as a metric (no grad) and as a loss (forward + backward).

    python benchmarks/dists.py [--sizes 64 256] [--batch-size 4] [--repeats 5] [--device cpu] [--threads N]

Both sides load the same VGG16 checkpoint (a seeded random one written to a temporary TORCH_HOME, since
no pretrained file can be downloaded here; timing does not depend on the values) and the real alpha/beta.
Each repetition times ours and the reference back to back on the same batch, so that both see the same
machine load; the table shows medians. Printed, never asserted.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def timed(fn, device: str) -> float:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU threads (0: torch's default); on a shared, loaded machine 1 gives steadier numbers")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TORCH_HOME"] = tmp
        checkpoints = Path(tmp) / "hub" / "checkpoints"
        checkpoints.mkdir(parents=True)
        import torchvision

        torch.manual_seed(0)
        torch.save(torchvision.models.vgg16(weights=None).state_dict(), checkpoints / "vgg16-397923af.pth")

        import DISTS_pytorch

        from percept_lib.data import distort, photos
        from percept_lib.losses.dists import DISTS

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torchvision's "pretrained is deprecated"
            ref = DISTS_pytorch.DISTS().eval().to(args.device)
        ours = DISTS().to(args.device)

    names = ("astronaut", "chelsea", "coffee", "rocket", "cat", "immunohistochemistry")
    print(f"DISTS, {args.batch_size} pairs per call, median of {args.repeats} on {args.device} "
          f"(torch {torch.__version__}, {torch.get_num_threads()} threads)")
    print(f"{'size':>5} {'mode':>7} {'ours pairs/s':>13} {'DISTS_pytorch':>14} {'ratio':>6} {'max |diff|':>11}")
    for size in args.sizes:
        x = photos(names, size)[: args.batch_size].to(args.device)
        x = x.repeat((args.batch_size + len(x) - 1) // len(x), 1, 1, 1)[: args.batch_size]
        y = distort(x, "blur", 0.3)

        def ours_metric():
            with torch.no_grad():
                return ours(x, y)

        def ref_metric():
            return ref(x, y)  # DISTS_pytorch runs under no_grad unless require_grad=True

        def ours_loss():
            yg = y.clone().requires_grad_(True)
            ours(x, yg).sum().backward()

        def ref_loss():
            yg = y.clone().requires_grad_(True)
            ref(x, yg, require_grad=True).sum().backward()

        diff = float((ours_metric() - ref_metric().detach()).abs().max())  # the reference's alpha, beta require grad
        for mode, mine, theirs in (("metric", ours_metric, ref_metric), ("loss", ours_loss, ref_loss)):
            mine(), theirs()  # warm-up (allocator, oneDNN primitive caches)
            t_ours, t_ref = [], []
            for _ in range(args.repeats):
                t_ours.append(timed(mine, args.device))
                t_ref.append(timed(theirs, args.device))
            ours_rate = args.batch_size / statistics.median(t_ours)
            ref_rate = args.batch_size / statistics.median(t_ref)
            print(f"{size:>5} {mode:>7} {ours_rate:>13.2f} {ref_rate:>14.2f} "
                  f"{ours_rate / ref_rate:>5.2f}× {diff:>11.1e}")


if __name__ == "__main__":
    main()
