"""Pairs/s of our DISTS vs DISTS_pytorch's, as a metric (no grad) and as a loss (forward + backward).

    python benchmarks/dists.py [--sizes 64 256] [--batch-size 4] [--repeats 7] [--threads N]
    python benchmarks/dists.py --device cuda --channels-last --autocast

Both sides load the same VGG16 checkpoint (a seeded random one written to a temporary TORCH_HOME, since
no pretrained file can be downloaded here; timing does not depend on the values) and the real alpha/beta.
Timing (``_timing.py``): the two sides' calls interleave, each figure is the fastest of ``--repeats`` calls,
and the load average is printed before and after, with the CPU time other processes took and a warning
where it exceeds 0.5 CPUs (such figures are not for the README).
Targets: ratio ≥ 1.0 on a CPU, ≥ 1.5 on a GPU at 256 px. Printed, never asserted.
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from contextlib import nullcontext
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _scratch import scratch_dir  # noqa: E402  (benchmarks/ is the script's directory)
from _timing import compare, load_line, set_threads  # noqa: E402  (benchmarks/ is the script's directory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per side and row; the fastest is kept")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU threads (0: torch's default); on a shared, loaded machine 1 gives steadier numbers")
    parser.add_argument("--channels-last", action="store_true", help="both sides: channels-last weights and inputs")
    parser.add_argument("--autocast", action="store_true",
                        help="both sides under torch.autocast (bfloat16 on CPU, float16 on CUDA)")
    args = parser.parse_args()
    set_threads(args.threads)
    device = torch.device(args.device)
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    amp_dtype = torch.bfloat16 if device.type == "cpu" else torch.float16

    def amp():
        return torch.autocast(device.type, dtype=amp_dtype) if args.autocast else nullcontext()

    with scratch_dir() as tmp:
        os.environ["TORCH_HOME"] = tmp
        os.environ.pop("PERCEPT_WEIGHTS", None)
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
            ref = DISTS_pytorch.DISTS().eval().to(device).to(memory_format=memory_format)
        ours = DISTS().to(device).to(memory_format=memory_format)

    names = ("astronaut", "chelsea", "coffee", "rocket", "cat", "immunohistochemistry")
    print(f"DISTS, {args.batch_size} pairs per call, fastest of {args.repeats} on {device} (torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, channels_last={args.channels_last}, autocast={args.autocast})")
    print(load_line("before"))
    print("| size | mode | percept_lib pairs/s | DISTS_pytorch pairs/s | ratio | max abs diff |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    for size in args.sizes:
        x = photos(names, size)[: args.batch_size]
        x = x.repeat((args.batch_size + len(x) - 1) // len(x), 1, 1, 1)[: args.batch_size]
        y = distort(x, "blur", 0.3)
        x, y = (t.to(device).contiguous(memory_format=memory_format) for t in (x, y))

        def ours_metric():
            with torch.no_grad(), amp():
                return ours(x, y)

        def ref_metric():
            with amp():
                return ref(x, y)  # DISTS_pytorch runs under no_grad unless require_grad=True

        def ours_loss():
            yg = y.clone().requires_grad_(True)
            with amp():
                value = ours(x, yg).sum()
            value.backward()

        def ref_loss():
            yg = y.clone().requires_grad_(True)
            with amp():
                value = ref(x, yg, require_grad=True).sum()
            value.backward()

        # the reference's alpha, beta require grad: its value is detached for the comparison
        diff = float((ours_metric().float() - ref_metric().detach().float()).abs().max())
        for mode, mine, theirs in (("metric", ours_metric, ref_metric), ("loss", ours_loss, ref_loss)):
            times = compare({"ours": mine, "reference": theirs}, device, args.repeats)
            ours_rate, ref_rate = args.batch_size / times["ours"], args.batch_size / times["reference"]
            print(f"| {size} | {mode} | {ours_rate:.2f} | {ref_rate:.2f} | {ours_rate / ref_rate:.2f} | {diff:.1e} |",
                  flush=True)
    print(load_line("after"))


if __name__ == "__main__":
    main()
