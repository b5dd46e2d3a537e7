"""Pairs/s of LPIPS-alex over a folder of image pairs: `percept_lib pairs` (batched) vs the lpips README loop.

    python benchmarks/pairs.py [--n 200] [--size 256] [--batch-size 16] [--repeats 3]

Both sides use the same backbone checkpoint (a seeded random AlexNet written to a temporary TORCH_HOME,
since no pretrained file can be downloaded here; timing does not depend on the values) and the real LPIPS
linear weights. The reference loop is what lpips's README shows: load each pair with
``lpips.im2tensor(lpips.load_image(path))`` (its image reading done with PIL, as OpenCV is not installed)
and call the model on it. ``--repeats`` alternates the two sides and keeps each one's best time (the machine
is shared); the load average is printed with the ratio. Printed, never asserted.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _scratch import scratch_dir  # noqa: E402  (benchmarks/ is the script's directory)


def load_rgb(path: Path):
    """lpips.load_image without OpenCV (not installed here): the same H×W×3 uint8 RGB array."""
    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"))


def make_folders(root: Path, n: int, size: int) -> tuple[Path, Path]:
    from percept_lib.data import distort, photos, random_crops
    from percept_lib.images import save_images

    base = photos(("astronaut", "chelsea", "coffee", "rocket", "cat", "immunohistochemistry"), 2 * size)
    refs = random_crops(base, n, size, seed=0)
    kinds = ["blur", "noise", "jpeg", "shift"]
    tests = torch.cat([distort(refs[i:i + 1], kinds[i % 4], 0.4, seed=i) for i in range(n)])
    save_images(refs, root / "ref", names=[f"{i:04d}.png" for i in range(n)])
    save_images(tests, root / "test", names=[f"{i:04d}.png" for i in range(n)])
    return root / "test", root / "ref"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3, help="alternating timed runs per side, best kept")
    args = parser.parse_args()

    with scratch_dir() as tmp:
        tmp = Path(tmp)
        os.environ["TORCH_HOME"] = str(tmp / "torch")
        ckpt = tmp / "torch" / "hub" / "checkpoints"
        ckpt.mkdir(parents=True)
        import torchvision

        torch.manual_seed(0)
        torch.save(torchvision.models.alexnet(weights=None).state_dict(), ckpt / "alexnet-owt-7be5be79.pth")
        test, ref = make_folders(tmp, args.n, args.size)

        import lpips

        from percept_lib.pipeline import RunOptions, evaluate_pairs

        # Reference: the per-pair loop of lpips's README.
        model = lpips.LPIPS(net="alex", verbose=False).to(args.device)
        names = sorted(p.name for p in ref.iterdir())

        @torch.no_grad()
        def reference():
            return [float(model(lpips.im2tensor(load_rgb(test / name)).to(args.device),
                                lpips.im2tensor(load_rgb(ref / name)).to(args.device))) for name in names]

        options = RunOptions(batch_size=args.batch_size, device=args.device, progress=False)

        def ours():
            return evaluate_pairs(test, ref, metrics=["lpips"], options=options)

        ours()  # warm-up: builds the backbone once, as a second run would find it
        t_ref = t_ours = float("inf")
        for _ in range(args.repeats):  # alternate, keep each side's best: the load drifts during a run
            start = time.perf_counter()
            ref_values = reference()
            t_ref = min(t_ref, time.perf_counter() - start)
            start = time.perf_counter()
            result = ours()
            t_ours = min(t_ours, time.perf_counter() - start)
        diff = max(abs(a - b) for a, b in zip(ref_values, result.column("lpips")))
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?"

    print(f"LPIPS-alex over {args.n} pairs at {args.size} px on {args.device} "
          f"(torch {torch.__version__}, {torch.get_num_threads()} threads)")
    print(f"| implementation | pairs/s | ratio |")
    print(f"| --- | ---: | ---: |")
    print(f"| lpips README loop (per pair) | {args.n / t_ref:.1f} | 1.00 |")
    print(f"| percept_lib pairs (batch {args.batch_size}) | {args.n / t_ours:.1f} | {t_ref / t_ours:.2f} |")
    print(f"largest |difference| between the two: {diff:.2e}; best of {args.repeats} alternating run(s) per "
          f"side; load average {load}")


if __name__ == "__main__":
    main()
