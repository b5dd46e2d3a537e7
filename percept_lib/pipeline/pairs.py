"""Paired evaluation of two folders: each image under test against its reference, per pair and summarized.

The classic restoration / super-resolution table (PSNR, SSIM, LPIPS, DISTS) without a hand-written loop:
files are paired by relative path with the extension ignored (``a/x.png`` ↔ ``b/x.jpg``), images of the
same size are batched, each backbone is built once, and the summary gives mean, standard deviation,
median and a seeded bootstrap 95 % confidence interval with N stated.

The same policy as ``fid`` / ``kid`` / ``clip-score`` for files that cannot be used: a file present on one
side only, or an image that cannot be read or decoded (or is over the pixel-count limit), is skipped and
named with its reason, and the other pairs are scored and summarized; ``strict=True`` makes either an error.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .. import weights as W
from ..images import list_images
from .options import RunOptions
from .pair_batches import PairImages, batches, group_by_size
from .pairs_result import PairsResult, infinite_note, summarize

METRICS = ("lpips", "dists", "psnr", "ssim")
# Computed only when named: MS-SSIM's five scales need images of at least 161×161 pixels.
EXTRA_METRICS = ("ms-ssim",)
NETS = ("alex", "vgg", "squeeze")


@dataclass
class Pair:
    key: str          # relative path without extension, POSIX separators
    test: Path        # image under evaluation (folder A)
    reference: Path   # its reference (folder B)


# ----------------------------------------------------------------------------------------------------
# Pairing
# ----------------------------------------------------------------------------------------------------

def _keyed(folder: Path) -> dict[str, Path]:
    files = list_images(folder)
    keyed: dict[str, Path] = {}
    for path in files:
        key = path.relative_to(folder).with_suffix("").as_posix()
        if key in keyed:
            raise ValueError(f"{folder}: {keyed[key].name} and {path.name} have the same name apart from the "
                             "extension, so the pairing is ambiguous; rename or remove one")
        keyed[key] = path
    return keyed


def pair_folders(dir_test, dir_reference, strict: bool = False) -> tuple[list[Pair], list[str], list[str]]:
    """Match files by relative path without extension. Returns (pairs, only_in_test, only_in_reference).

    Files present on one side only are reported by count and first names in a warning, then skipped;
    ``strict=True`` makes them an error. No common file at all is always an error.
    """
    dir_test, dir_reference = Path(dir_test), Path(dir_reference)
    for d in (dir_test, dir_reference):
        if not d.is_dir():
            raise ValueError(f"{d}: not a folder")
    a, b = _keyed(dir_test), _keyed(dir_reference)
    common = sorted(set(a) & set(b))
    only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    if not common:
        raise ValueError(f"no file of {dir_test} ({len(a)} images) has a counterpart in {dir_reference} "
                         f"({len(b)} images); files are paired by relative path without extension, "
                         f"e.g. {next(iter(a), 'x')} ↔ {next(iter(b), 'x')}")
    if only_a or only_b:
        def few(keys):
            return ", ".join(keys[:3]) + (" …" if len(keys) > 3 else "")

        message = (f"{len(only_a)} file(s) only in {dir_test}" + (f" ({few(only_a)})" if only_a else "") +
                   f", {len(only_b)} only in {dir_reference}" + (f" ({few(only_b)})" if only_b else ""))
        if strict:
            raise ValueError(message + "; every file needs a counterpart (strict)")
        warnings.warn(message + "; skipped", stacklevel=2)
    return [Pair(k, a[k], b[k]) for k in common], only_a, only_b


# ----------------------------------------------------------------------------------------------------
# Metrics and summary
# ----------------------------------------------------------------------------------------------------

class PairMetrics:
    """The metric modules, each built once; ``__call__(a, b)`` → {metric: per-pair values (N,)}."""

    def __init__(self, metrics: Sequence[str], net: str = "alex", device="cpu"):
        unknown = [m for m in metrics if m not in METRICS + EXTRA_METRICS]
        if unknown or not metrics:
            raise ValueError(f"unknown metric(s) {unknown}; choose from {', '.join(METRICS + EXTRA_METRICS)}")
        if net not in NETS:
            raise ValueError(f"net={net!r}: use one of {NETS}")
        self.metrics, self.net, self.device = tuple(metrics), net, device
        self.modules: dict[str, torch.nn.Module] = {}
        if "lpips" in metrics:
            from ..losses.lpips import LPIPS

            self.modules["lpips"] = LPIPS(net=net, reduction="none").to(device)
        if "dists" in metrics:
            from ..losses.dists import DISTS

            self.modules["dists"] = DISTS(reduction="none").to(device)

    @property
    def weights_label(self) -> str:
        """From the modules that ran: random if any of them has random weights."""
        return W.label(all(getattr(m, "pretrained", True) for m in self.modules.values()))

    @torch.inference_mode()
    def __call__(self, a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
        from ..losses.ms_ssim import ms_ssim
        from ..losses.pixel import psnr
        from ..losses.ssim import ssim

        a, b = a.to(self.device), b.to(self.device)
        out = {}
        for name in self.metrics:
            if name in self.modules:
                out[name] = self.modules[name](a, b)
            elif name == "psnr":
                out[name] = psnr(a, b)
            elif name == "ssim":
                out[name] = ssim(a, b)
            elif name == "ms-ssim":
                out[name] = ms_ssim(a, b)
        return {k: v.detach().double().cpu().reshape(-1) for k, v in out.items()}


def _few(items: Sequence[str], k: int = 3) -> str:
    return "; ".join(items[:k]) + (" …" if len(items) > k else "")


def evaluate_pairs(
    dir_test,
    dir_reference,
    metrics: Sequence[str] = METRICS,
    net: str = "alex",
    strict: bool = False,
    resize_to: str | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    *,
    options: RunOptions | None = None,
    **run,
) -> PairsResult:
    """Score each image of ``dir_test`` against its counterpart in ``dir_reference``.

    ``metrics`` ⊆ {lpips, dists, psnr, ssim, ms-ssim} (ms-ssim only when named: images of at least 161×161);
    ``net`` is LPIPS's backbone; ``resize_to="reference"`` resizes a test image to its reference's size
    (clean bicubic) instead of raising. Run options (``batch_size`` — default 16 here —, ``device``,
    ``num_workers``, ``progress``) as :class:`RunOptions` or keywords.

    A pair whose image cannot be read or decoded is skipped, with a warning naming the file and the reason,
    and listed in ``result.skipped``; ``strict=True`` raises instead (and refuses files present on one side
    only). PSNR of identical images is ``inf``; the summary counts such values apart (``n_infinite``, ``note``).
    """
    from tqdm.auto import tqdm

    if resize_to not in (None, "reference"):
        raise ValueError(f"resize_to={resize_to!r}: use None or 'reference'")
    options = RunOptions.resolve(options or RunOptions(batch_size=16), **run)
    metrics = tuple(metrics)
    pairs, only_a, only_b = pair_folders(dir_test, dir_reference, strict=strict)
    scorer = PairMetrics(metrics, net=net, device=options.torch_device)
    groups, failed = group_by_size(pairs, resize_to == "reference", options.pixel_limit)
    reasons = dict(failed)

    def give_up_if_strict(reason: str) -> None:
        if strict:
            raise ValueError(f"{reason} (strict: an unreadable image stops the run; without --strict the pair "
                             "is skipped and named)")

    for _, reason in failed:
        give_up_if_strict(reason)  # before any computation
    values = {m: np.full(len(pairs), np.nan) for m in metrics}
    dataset = PairImages(pairs, resize_to == "reference", options.pixel_limit)
    with tqdm(total=len(pairs), desc="pairs", unit="pair", disable=not options.progress) as bar:
        bar.update(len(failed))
        for idx, a, b, batch_failed in batches(dataset, groups, options.batch_size, options.num_workers):
            for i, reason in batch_failed:
                give_up_if_strict(reason)
                reasons[i] = reason
            if idx:
                for m, v in scorer(a, b).items():
                    values[m][idx] = v.numpy()
            bar.update(len(idx) + len(batch_failed))
    scored = [i for i in range(len(pairs)) if i not in reasons]
    skipped = [{"path": pairs[i].key, "file": _named_file(pairs[i], reasons[i]), "reason": reasons[i]}
               for i in sorted(reasons)]
    if not scored:
        raise ValueError(f"none of the {len(pairs)} pairs could be read: {_few([s['reason'] for s in skipped])}")
    if skipped:
        warnings.warn(f"skipped {len(skipped)} of {len(pairs)} pair(s) whose image cannot be used: "
                      f"{_few([s['reason'] for s in skipped])}", stacklevel=2)
    rows = [{"path": pairs[i].key, **{m: float(values[m][i]) for m in metrics}} for i in scored]
    summary = {}
    for m in metrics:
        summary[m] = summarize(values[m][scored], n_boot=n_boot, seed=seed)
        note = infinite_note(m, summary[m])
        if note:
            summary[m]["note"] = note
    return PairsResult(rows, summary, metrics, only_a, only_b, scorer.weights_label, [pairs[i] for i in scored],
                       net, (str(dir_test), str(dir_reference)), resize_to or "", skipped)


def _named_file(pair: Pair, reason: str) -> str:
    """The file a reason is about (the decoder names it first), else the test image."""
    return str(pair.reference if reason.startswith(str(pair.reference)) else pair.test)


__all__ = ["METRICS", "EXTRA_METRICS", "NETS", "Pair", "PairsResult", "PairMetrics", "evaluate_pairs",
           "pair_folders", "summarize"]
