"""Paired evaluation of two folders: each image under test against its reference, per pair and summarized.

The classic restoration / super-resolution table (PSNR, SSIM, LPIPS, DISTS) without a hand-written loop:
files are paired by relative path with the extension ignored (``a/x.png`` ↔ ``b/x.jpg``), images of the
same size are batched, each backbone is built once, and the summary gives mean, standard deviation,
median and a seeded bootstrap 95 % confidence interval with N stated.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from .. import weights as W
from ..images import list_images, load_image, resize as resize_images
from .options import RunOptions
from .results import MetricResult

METRICS = ("lpips", "dists", "psnr", "ssim")
# Computed only when named: MS-SSIM's five scales need images of at least 161×161 pixels.
EXTRA_METRICS = ("ms-ssim",)
NETS = ("alex", "vgg", "squeeze")


@dataclass
class Pair:
    key: str          # relative path without extension, POSIX separators
    test: Path        # image under evaluation (folder A)
    reference: Path   # its reference (folder B)


@dataclass
class PairsResult:
    """Per-pair rows (``key`` plus one column per metric) and the per-metric summary."""

    rows: list[dict]
    summary: dict[str, dict]
    metrics: tuple[str, ...]
    only_in_test: list[str] = field(default_factory=list)
    only_in_reference: list[str] = field(default_factory=list)
    weights_label: str = "pretrained"
    pairs: list[Pair] = field(default_factory=list, repr=False)
    net: str = "alex"
    folders: tuple[str, ...] = ()
    resize_to: str = ""

    @property
    def n(self) -> int:
        return len(self.rows)

    def column(self, metric: str) -> np.ndarray:
        return np.array([row[metric] for row in self.rows], dtype=np.float64)

    def to_csv(self, path) -> Path:
        import csv

        path = Path(path)
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["path", *self.metrics])
            for row in self.rows:
                writer.writerow([row["path"], *(repr(float(row[m])) for m in self.metrics)])
        return path

    def to_dict(self) -> dict:
        return {
            "n": self.n, "metrics": list(self.metrics), "summary": self.summary,
            "only_in_test": self.only_in_test, "only_in_reference": self.only_in_reference,
            "weights": self.weights_label, "rows": self.rows,
        }

    def results(self, sources: tuple[str, ...] = (), resize: str = "") -> list[MetricResult]:
        """One :class:`MetricResult` per metric: the mean over the pairs, its std and bootstrap interval."""
        out = []
        for metric, s in self.summary.items():
            name = f"pairs/lpips-{self.net}" if metric == "lpips" else f"pairs/{metric}"
            extractor = self.net if metric == "lpips" else metric
            details = {k: s[k] for k in ("median", "ci_low", "ci_high", "n_infinite") if k in s}
            out.append(MetricResult(name, s["mean"], s["n"], None, s["std"], sources, extractor, resize,
                                    self.weights_label, details))
        return out

    def record(self, db, tag: str = "", checkpoint: str = "") -> list[int]:
        """Append one row per metric to the SQLite results history ``db``."""
        return [r.record(db, tag=tag, checkpoint=checkpoint) for r in self.results(self.folders, self.resize_to)]


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
# Loading, batched by size
# ----------------------------------------------------------------------------------------------------

def _size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as img:
            w, h = img.size
    except Exception as err:
        raise ValueError(f"{path}: not a readable image ({err}); remove or replace the file") from None
    return h, w


class _PairDataset(torch.utils.data.Dataset):
    def __init__(self, pairs: Sequence[Pair], resize_to_reference: bool):
        self.pairs = pairs
        self.resize_to_reference = resize_to_reference

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, i):
        pair = self.pairs[i]
        a, b = load_image(pair.test), load_image(pair.reference)
        if a.shape != b.shape:
            if not self.resize_to_reference:
                raise ValueError(f"pair {pair.key}: {pair.test.name} is {a.shape[2]}×{a.shape[3]} but "
                                 f"{pair.reference.name} is {b.shape[2]}×{b.shape[3]}; "
                                 "pass resize_to='reference' (--resize-to reference) to resize the test image")
            a = resize_images(a, tuple(b.shape[-2:]), "clean")
        return i, a[0], b[0]


def _batches_by_size(pairs: Sequence[Pair], batch_size: int, workers: int, resize_to_reference: bool):
    """Yield (indices, A, B) batches; pairs are grouped by the reference's size so each batch stacks."""
    groups: dict[tuple[int, int], list[int]] = {}
    for i, pair in enumerate(pairs):
        size = _size(pair.reference)
        if not resize_to_reference:
            test_size = _size(pair.test)
            if test_size != size:
                raise ValueError(f"pair {pair.key}: {pair.test.name} is {test_size[0]}×{test_size[1]} but "
                                 f"{pair.reference.name} is {size[0]}×{size[1]}; pass resize_to='reference' "
                                 "(--resize-to reference) to resize the test image")
        groups.setdefault(size, []).append(i)
    dataset = _PairDataset(pairs, resize_to_reference)
    for indices in groups.values():
        loader = torch.utils.data.DataLoader(
            torch.utils.data.Subset(dataset, indices), batch_size=batch_size, shuffle=False, num_workers=workers)
        for idx, a, b in loader:
            yield idx.tolist(), a, b


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


def summarize(values, n_boot: int = 1000, seed: int = 0, confidence: float = 0.95) -> dict:
    """Mean, standard deviation (N − 1), median and a percentile bootstrap CI of the mean, with N.

    Infinite values (PSNR of identical images) are kept out of the statistics and counted.
    """
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    n = len(finite)
    result = {"n": int(n), "n_infinite": int(len(values) - n)}
    if n == 0:
        return {**result, "mean": math.nan, "std": math.nan, "median": math.nan, "ci_low": math.nan, "ci_high": math.nan}
    rng = np.random.default_rng(seed)
    if n > 1:
        means = finite[rng.integers(0, n, size=(n_boot, n))].mean(axis=1)
        low, high = np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])
    else:
        low = high = float(finite[0])
    return {**result, "mean": float(finite.mean()), "std": float(finite.std(ddof=1)) if n > 1 else 0.0,
            "median": float(np.median(finite)), "ci_low": float(low), "ci_high": float(high),
            "confidence": confidence}


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
    """
    from tqdm.auto import tqdm

    if resize_to not in (None, "reference"):
        raise ValueError(f"resize_to={resize_to!r}: use None or 'reference'")
    options = RunOptions.resolve(options or RunOptions(batch_size=16), **run)
    metrics = tuple(metrics)
    pairs, only_a, only_b = pair_folders(dir_test, dir_reference, strict=strict)
    scorer = PairMetrics(metrics, net=net, device=options.torch_device)
    values = {m: np.full(len(pairs), np.nan) for m in metrics}
    with tqdm(total=len(pairs), desc="pairs", unit="pair", disable=not options.progress) as bar:
        for idx, a, b in _batches_by_size(pairs, options.batch_size, options.num_workers, resize_to == "reference"):
            for m, v in scorer(a, b).items():
                values[m][idx] = v.numpy()
            bar.update(len(idx))
    rows = [{"path": p.key, **{m: float(values[m][i]) for m in metrics}} for i, p in enumerate(pairs)]
    summary = {m: summarize(values[m], n_boot=n_boot, seed=seed) for m in metrics}
    return PairsResult(rows, summary, metrics, only_a, only_b, scorer.weights_label, pairs, net,
                       (str(dir_test), str(dir_reference)), resize_to or "")
