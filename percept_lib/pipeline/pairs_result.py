"""What a paired evaluation returns: per-pair rows, the skipped pairs with their reasons, the per-metric summary.

The summary of a column is its mean, standard deviation, median and a seeded bootstrap interval, with N.
Identical images have PSNR +inf (MSE 0): a mean with an infinite term is infinite and says nothing about the
other pairs, so the infinite values are counted and kept out of the statistics, and a ``note`` says so. When
every value is infinite the mean, median and interval are infinite and the standard deviation is undefined
(``None``), never NaN. Text formatting (:func:`cell`) and the CSV (:meth:`PairsResult.to_csv`, written
atomically through :mod:`.outputs`) share these rules.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .outputs import write_atomic
from .results import MetricResult

if TYPE_CHECKING:
    from .pairs import Pair


def summarize(values, n_boot: int = 1000, seed: int = 0, confidence: float = 0.95) -> dict:
    """Mean, standard deviation (N − 1), median and a percentile bootstrap CI of the mean, with N.

    Infinite values (PSNR of identical images) are kept out of the statistics and counted (``n_infinite``);
    ``n`` is the number of finite values. With no finite value, the statistics are those of the infinite
    values (``inf`` for PSNR) and ``std`` is ``None``.
    """
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    n = len(finite)
    result = {"n": int(n), "n_infinite": int(np.isinf(values).sum())}
    if n == 0:
        with np.errstate(invalid="ignore"):
            mean = float(values.mean()) if len(values) else math.nan  # +inf for identical images
        return {**result, "mean": mean, "std": None, "median": mean, "ci_low": mean, "ci_high": mean}
    rng = np.random.default_rng(seed)
    if n > 1:
        means = finite[rng.integers(0, n, size=(n_boot, n))].mean(axis=1)
        low, high = np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])
    else:
        low = high = float(finite[0])
    return {**result, "mean": float(finite.mean()), "std": float(finite.std(ddof=1)) if n > 1 else 0.0,
            "median": float(np.median(finite)), "ci_low": float(low), "ci_high": float(high),
            "confidence": confidence}


def infinite_note(metric: str, summary: dict) -> str | None:
    """The sentence a reader needs when a column holds infinite values (``None`` when it holds none)."""
    k, n = summary["n_infinite"], summary["n"]
    if not k:
        return None
    what = "pairs are identical (PSNR = inf)" if metric == "psnr" else "values are infinite"
    if n == 0:
        return f"{metric}: all {k} {what}; the standard deviation is undefined"
    return (f"{metric}: {k} of {k + n} {what}; mean, std, median and CI are over the {n} finite value(s), "
            "the infinite ones are counted apart")


def cell(value, digits: int = 4) -> str:
    """A summary number as text: ``inf`` stays ``inf``, an undefined one (``None``, NaN) is a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}"


LEARNED_METRICS = ("lpips", "dists")  # the pair metrics computed by a network, with weights to name


@dataclass
class PairsResult:
    """Per-pair rows (``path`` plus one column per metric), the per-metric summary, and the pairs left out.

    ``rows`` and ``pairs`` hold the scored pairs, in the same order. ``skipped`` holds the pairs whose
    image could not be read or decoded, each ``{"path": key, "file": the file, "reason": why}``.
    """

    rows: list[dict]
    summary: dict[str, dict]
    metrics: tuple[str, ...]
    only_in_test: list[str] = field(default_factory=list)
    only_in_reference: list[str] = field(default_factory=list)
    weights_label: str = "pretrained"
    pairs: list["Pair"] = field(default_factory=list, repr=False)
    net: str = "alex"
    folders: tuple[str, ...] = ()
    resize_to: str = ""
    skipped: list[dict] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.rows)

    @property
    def notes(self) -> list[str]:
        return [s["note"] for s in self.summary.values() if s.get("note")]

    def column(self, metric: str) -> np.ndarray:
        return np.array([row[metric] for row in self.rows], dtype=np.float64)

    def to_csv(self, path, exists_ok: bool = True) -> Path:
        """One row per pair: ``path``, each metric (``inf`` as such), and ``skipped`` — empty for a scored pair,
        the reason for a skipped one (whose metric cells are empty). Written atomically (:mod:`.outputs`);
        ``exists_ok=False`` refuses to replace an existing file."""
        def write(f):
            writer = csv.writer(f)
            writer.writerow(["path", *self.metrics, "skipped"])
            for row in self.rows:
                writer.writerow([row["path"], *(repr(float(row[m])) for m in self.metrics), ""])
            for skip in self.skipped:
                writer.writerow([skip["path"], *([""] * len(self.metrics)), skip["reason"]])

        return write_atomic(path, write, exists_ok=exists_ok, text=True)

    def to_dict(self) -> dict:
        return {
            "n": self.n, "n_skipped": len(self.skipped), "metrics": list(self.metrics), "summary": self.summary,
            "notes": self.notes, "skipped": self.skipped, "only_in_test": self.only_in_test,
            "only_in_reference": self.only_in_reference, "weights": self.weights_label, "rows": self.rows,
            # one result per metric, each with its evaluation signature: what `compare` reads
            "results": [r.to_dict() for r in self.results(self.folders, self.resize_to)],
        }

    def results(self, sources: tuple[str, ...] = (), resize: str = "") -> list[MetricResult]:
        """One :class:`MetricResult` per metric: the mean over the pairs, its std and bootstrap interval."""
        out = []
        for metric, s in self.summary.items():
            name = f"pairs/lpips-{self.net}" if metric == "lpips" else f"pairs/{metric}"
            extractor = f"lpips-{self.net}" if metric == "lpips" else metric  # the name of its weights artifact
            details = {k: s[k] for k in ("median", "ci_low", "ci_high", "n_infinite") if k in s}
            details["n_skipped"] = len(self.skipped)
            weights = self.weights_label if metric in LEARNED_METRICS else "none"  # pixel metrics have none
            out.append(MetricResult(name, s["mean"], s["n"], None, s["std"], sources, extractor, resize,
                                    weights, details))
        return out

    def record(self, db, tag: str = "", checkpoint: str = "") -> list[int]:
        """Append one row per metric to the SQLite results history ``db``."""
        return [r.record(db, tag=tag, checkpoint=checkpoint) for r in self.results(self.folders, self.resize_to)]


__all__ = ["PairsResult", "summarize", "infinite_note", "cell"]
