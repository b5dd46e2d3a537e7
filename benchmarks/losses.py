"""Speed of the losses against their references, measured in one run on one machine. Printed, never asserted.

    python benchmarks/losses.py                                        # CPU, torch's default threads
    python benchmarks/losses.py --threads 1                            # one thread: steadier on a loaded machine
    python benchmarks/losses.py --device cuda --channels-last --autocast

1. LPIPS pairs/s, alex and vgg (``--nets alex,vgg,squeeze`` for all), at 64 and 256 px:
   ``percept_lib.losses.LPIPS`` (plain call) vs ``lpips.LPIPS`` (called as its README does, under
   ``torch.no_grad``, ``normalize=True``). Targets: ratio ≥ 1.05 on a CPU, ≥ 1.5 on a GPU at 256 px.
2. Perceptual loss forward + backward per batch (gradient to the first image, as in training):
   ``PerceptualLoss.seed001()`` / ``.seed002()`` vs the seed modules rebuilt from torchvision layers.
   Target: ratio ≥ 1.0.

Timing (``_timing.py``): the contenders' calls interleave, each figure is the fastest of ``--repeats`` calls,
and the load average is printed before and after each table, with the CPU time other processes took and a
warning where it exceeds 0.5 CPUs (such figures are not for the README). Both sides load the same backbone checkpoints: seeded random torchvision weights written
under the published file names into a temporary TORCH_HOME (no pretrained file can be downloaded here; timing
does not depend on the values), plus lpips's real lin weights. The largest difference between the two sides'
values is printed as a check. ``--channels-last`` (model and inputs) and ``--autocast`` apply to both sides
alike; on a CPU ours picks its own layout per pass (``percept_lib.extractors.torchvision_nets``).
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _scratch import scratch_dir  # noqa: E402  (benchmarks/ is the script's directory)
from _timing import compare, load_line, set_threads  # noqa: E402  (benchmarks/ is the script's directory)

CHECKPOINTS = {  # torchvision's published file names, which torchvision, lpips and percept_lib all read
    "alexnet": "alexnet-owt-7be5be79.pth",
    "vgg16": "vgg16-397923af.pth",
    "vgg19": "vgg19-dcbb9e9d.pth",
}
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def write_checkpoints(directory: Path) -> None:
    import torchvision

    directory.mkdir(parents=True, exist_ok=True)
    for seed, (arch, filename) in enumerate(CHECKPOINTS.items()):
        torch.manual_seed(seed)
        torch.save(getattr(torchvision.models, arch)(weights=None).state_dict(), directory / filename)


def seed_modules(device):
    """The two seed formulations, exactly as written there (no input normalization inside)."""
    import torchvision

    vgg16 = torchvision.models.vgg16(weights="IMAGENET1K_V1").features[:23].eval().requires_grad_(False)
    vgg19 = torchvision.models.vgg19(weights="IMAGENET1K_V1").features.eval().requires_grad_(False)
    slices = [vgg19[0:4], vgg19[4:9], vgg19[9:16], vgg19[16:23]]
    vgg16.to(device), vgg19.to(device)

    def seed001(x, y):
        return torch.mean(torch.abs(vgg16(x) - vgg16(y)))

    def seed002(x, y):
        loss = 0
        for w, s in zip((1.0, 0.75, 0.5, 0.25), slices):
            x, y = s(x), s(y)
            loss = loss + w * F.mse_loss(x, y)
        return loss

    return (vgg16, vgg19), seed001, seed002


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    parser.add_argument("--channels-last", action="store_true", help="both sides: channels-last weights and inputs")
    parser.add_argument("--autocast", action="store_true",
                        help="both sides under torch.autocast (bfloat16 on CPU, float16 on CUDA)")
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per side and row; the fastest is kept")
    parser.add_argument("--min-time", type=float, default=0.0, help="at least this many seconds of rounds per row")
    parser.add_argument("--nets", default="alex,vgg", help="LPIPS backbones to time (alex, vgg, squeeze)")
    parser.add_argument("--sizes", default="64,256", help="LPIPS image sizes to time")
    parser.add_argument("--no-perceptual", action="store_true", help="skip the perceptual-loss table")
    parser.add_argument("--perceptual-size", type=int, default=128)
    args = parser.parse_args()
    set_threads(args.threads)
    device = torch.device(args.device)
    sizes = [int(s) for s in args.sizes.split(",")]
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    amp_dtype = torch.bfloat16 if device.type == "cpu" else torch.float16

    def amp():
        return torch.autocast(device.type, dtype=amp_dtype) if args.autocast else nullcontext()

    def prepare(t):
        return t.to(device).contiguous(memory_format=memory_format)

    def timed(reference, ours):
        times = compare({"reference": reference, "ours": ours}, device, args.repeats, args.min_time)
        return times["reference"], times["ours"]

    warnings.filterwarnings("ignore", category=UserWarning)
    with scratch_dir() as tmp:
        os.environ["TORCH_HOME"] = tmp
        os.environ.pop("PERCEPT_WEIGHTS", None)
        write_checkpoints(Path(tmp) / "hub" / "checkpoints")

        import lpips

        from percept_lib.data import distort, photos
        from percept_lib.losses import LPIPS, PerceptualLoss

        print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
              f"channels_last={args.channels_last}, autocast={args.autocast}, fastest of {args.repeats} calls")
        print(f"\nLPIPS, pairs per second\n{load_line('before')}")
        print("| net | size | batch | lpips package | percept_lib | ratio | max abs diff |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for net in args.nets.split(","):
            reference = lpips.LPIPS(net=net, verbose=False).eval().to(device).to(memory_format=memory_format)
            ours = LPIPS(net=net).to(device).to(memory_format=memory_format)
            for size in sizes:
                batch = 32 if size <= 64 else 4
                names = ("astronaut", "chelsea", "coffee", "rocket")
                x = photos(names, size).repeat(batch // 4, 1, 1, 1)
                y = distort(x, "blur", 0.3)
                x, y = prepare(x), prepare(y)

                def run_reference():
                    with torch.no_grad(), amp():
                        return reference(x, y, normalize=True).flatten()

                def run_ours():
                    with amp():
                        return ours(x, y)

                diff = float((run_reference().float() - run_ours().float()).abs().max())
                t_ref, t_ours = timed(run_reference, run_ours)
                print(f"| {net} | {size} | {batch} | {batch / t_ref:.1f} | {batch / t_ours:.1f} | "
                      f"{t_ref / t_ours:.2f} | {diff:.1e} |", flush=True)
        print(load_line("after"))
        if args.no_perceptual:
            return

        print(f"\nPerceptual loss, forward + backward, ms per batch of 4 at {args.perceptual_size} px\n"
              f"{load_line('before')}")
        print("| formulation | seed module | percept_lib | ratio | abs diff of value |")
        print("| --- | ---: | ---: | ---: | ---: |")
        (vgg16, vgg19), seed001, seed002 = seed_modules(device)
        vgg16.to(memory_format=memory_format), vgg19.to(memory_format=memory_format)
        mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1)
        std = torch.tensor(STD, device=device).view(1, 3, 1, 1)
        target = prepare(photos(("astronaut", "chelsea", "coffee", "rocket"), args.perceptual_size))
        start = prepare(distort(target, "downup", 0.3))
        for name, seed_fn, ours in (("seed001 (VGG16 relu4_3, L1)", seed001, PerceptualLoss.seed001()),
                                    ("seed002 (VGG19 4 taps, MSE)", seed002, PerceptualLoss.seed002())):
            ours.to(device).to(memory_format=memory_format)

            def step_reference():
                x = start.clone().requires_grad_(True)
                with amp():  # the seed module needs normalized input; ours normalizes inside
                    loss = seed_fn((x - mean) / std, (target - mean) / std)
                loss.backward()
                return loss.detach()

            def step_ours():
                x = start.clone().requires_grad_(True)
                with amp():
                    loss = ours(x, target)
                loss.backward()
                return loss.detach()

            diff = float((step_reference().float() - step_ours().float()).abs())
            t_ref, t_ours = timed(step_reference, step_ours)
            print(f"| {name} | {1e3 * t_ref:.1f} | {1e3 * t_ours:.1f} | {t_ref / t_ours:.2f} | {diff:.1e} |",
                  flush=True)
        print(load_line("after"))


if __name__ == "__main__":
    main()
