"""The regression rule of a results history: is a checkpoint worse than the previous comparable one by more
than the uncertainty recorded with both values allows?

Pure math on rows — dicts with ``metric``, ``checkpoint``, ``value`` and the context columns, as
:func:`percept_lib.pipeline.history.read_history` returns them, or built by hand — so it lives here, next to
the metrics, and the SQLite file that stores the rows lives in the pipeline layer.

A regression alert (:func:`regressions`) weighs each change against the uncertainty recorded with it — KID's
spread over subsets, a bootstrap interval — so that a noisy estimate does not raise a false alarm; only where
none was recorded does it fall back to a relative threshold. ``python -m percept_lib history DB`` lists the
rows and the alerts.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

Z_DEFAULT = 2.0
_Z95 = 1.959963984540054  # a two-sided 95 % interval of a normal estimate spans ±1.96 σ
BASES = ("std", "interval", "relative threshold")


@dataclass(frozen=True)
class Alert:
    """One checkpoint compared with the previous comparable one: how much worse it is, and how much is allowed.

    ``difference`` is how much worse ``value`` is than ``previous`` in the metric's own units (negative: it
    improved); ``allowed`` is the worsening the ``basis`` tolerates: ``z·sqrt(σ_previous² + σ_value²)`` for
    ``"std"`` (the recorded ``std`` column, KID's spread over subsets) and ``"interval"`` (σ = width / 3.92 of
    a recorded 95 % interval ``extra = {"ci_low", "ci_high"}``: FID's bootstrap, the pairs' bootstrap), and
    ``threshold·|previous|`` for ``"relative threshold"`` (no uncertainty recorded for one of the two rows).
    ``flagged``: ``difference > allowed``.
    """

    checkpoint: str
    metric: str
    previous_checkpoint: str
    previous: float
    value: float
    difference: float
    allowed: float
    basis: str
    flagged: bool
    tag: str = ""
    higher_is_better: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        """One sentence: the comparison, its outcome, and the uncertainty it used."""
        how = {"std": "z·√(σ₁² + σ₂²) from the recorded std",
               "interval": "z·√(σ₁² + σ₂²) from the recorded 95 % intervals",
               "std and interval": "z·√(σ₁² + σ₂²) from a recorded std and a recorded 95 % interval",
               "relative threshold": "the relative threshold (no uncertainty recorded)"}[self.basis]
        direction = "higher" if self.higher_is_better else "lower"
        if self.difference > 0:
            change = f"worse by {self.difference:.4g}"
        else:
            change = f"better by {-self.difference:.4g}"
        verdict = "REGRESSION" if self.flagged else "not a regression"
        return (f"{self.metric} at {self.checkpoint}: {self.value:.4g} vs {self.previous:.4g} at "
                f"{self.previous_checkpoint} ({direction} is better): {change}, allowed {self.allowed:.4g} by "
                f"{how} → {verdict}")

    def __str__(self) -> str:
        return self.describe()


def uncertainty(row: dict) -> tuple[float | None, str | None]:
    """The standard error a row recorded, and where it came from: ``(σ, "std" | "interval")`` or ``(None, None)``.

    ``std`` column first (KID's spread over subsets); otherwise a 95 % interval in ``extra`` (``ci_low``,
    ``ci_high``: FID's bootstrap, the pairs' bootstrap), read as ±1.96 σ.
    """
    std = row.get("std")
    if std is not None and math.isfinite(float(std)):
        if std < 0:
            raise ValueError(f"{row.get('metric')} at {row.get('checkpoint')}: std={std} is negative; "
                             "record the spread as a non-negative number")
        return float(std), "std"
    extra = row.get("extra") or {}
    low, high = extra.get("ci_low"), extra.get("ci_high")
    if low is not None and high is not None:
        low, high = float(low), float(high)
        if math.isfinite(low) and math.isfinite(high):
            if high < low:
                raise ValueError(f"{row.get('metric')} at {row.get('checkpoint')}: ci_low={low} > ci_high={high}; "
                                 "record the interval as extra={'ci_low': lower, 'ci_high': upper}")
            return (high - low) / (2 * _Z95), "interval"
    return None, None


def _series_key(row: dict) -> tuple:
    # Only like is compared with like: a FID at another N, extractor, resize mode or weights is another
    # quantity (notebook 03), and two tags are two experiments.
    return tuple(row.get(k) for k in ("metric", "tag", "extractor", "resize", "weights", "n", "n_reference"))


def compare_checkpoints(rows: list[dict], threshold: float = 0.05, z: float = Z_DEFAULT) -> list[Alert]:
    """Compare each row with the previous comparable row: one :class:`Alert` per comparison, flagged or not.

    ``rows``: results in checkpoint order (as :func:`~percept_lib.pipeline.history.read_history` returns
    them; several metrics may be mixed). Rows are compared within a series of the same metric, tag,
    extractor, resize mode, weights and N (different N bias FID differently, so those values are not
    compared); rows whose value is NaN are skipped.

    The rule: a checkpoint regresses when it is worse than the previous one by more than the uncertainty of
    the difference allows, ``z·sqrt(σ_previous² + σ_new²)`` (``z = 2``: about a 2 % chance of flagging two
    measurements of the same model as a regression, for normal estimates). Both rows need an uncertainty
    (``std`` column, or a 95 % interval in ``extra``); otherwise it falls back to the plain relative
    ``threshold`` (0.05: worse by more than 5 % of the previous value). Why the previous checkpoint and not the
    best so far: the best of several noisy values is optimistically biased (it was picked for being lucky),
    so comparing against it raises false alarms; and why a combined σ rather than "the intervals do not
    overlap": that test needs a gap of z·(σ₁ + σ₂), up to 1.4 × more than the difference's own uncertainty,
    and misses real regressions. KID's std over subsets is the spread of one subset's estimate, wider than the
    uncertainty of their mean, so for KID the rule errs on the side of not flagging.

    Which way is better comes from :func:`percept_lib.metrics.accumulators.higher_is_better`.
    """
    from .accumulators import higher_is_better

    if not (isinstance(threshold, (int, float)) and math.isfinite(threshold) and threshold >= 0):
        raise ValueError(f"threshold={threshold!r}: use a non-negative relative change, e.g. 0.05 for 5 %")
    if not (isinstance(z, (int, float)) and math.isfinite(z) and z > 0):
        raise ValueError(f"z={z!r}: use a positive number of standard errors, e.g. 2")
    last: dict[tuple, dict] = {}
    out = []
    for row in rows:
        for name in ("metric", "checkpoint", "value"):
            if name not in row:
                raise ValueError(f"history row {row!r} has no {name!r}; pass rows as read_history() returns them")
        value = float(row["value"])
        if math.isnan(value):
            continue
        key = _series_key(row)
        before = last.get(key)
        last[key] = row
        if before is None:
            continue
        higher = higher_is_better(row["metric"])
        previous = float(before["value"])
        difference = (previous - value) if higher else (value - previous)
        (s_prev, b_prev), (s_new, b_new) = uncertainty(before), uncertainty(row)
        if s_prev is not None and s_new is not None:
            allowed = z * math.hypot(s_prev, s_new)
            basis = b_new if b_prev == b_new else "std and interval"
        else:
            allowed = threshold * abs(previous)
            basis = "relative threshold"
        out.append(Alert(checkpoint=str(row["checkpoint"]), metric=row["metric"],
                         previous_checkpoint=str(before["checkpoint"]), previous=previous, value=value,
                         difference=difference, allowed=allowed, basis=basis, flagged=difference > allowed,
                         tag=row.get("tag") or "", higher_is_better=higher))
    return out


def regressions(rows: list[dict], threshold: float = 0.05, z: float = Z_DEFAULT) -> list[Alert]:
    """The flagged comparisons of :func:`compare_checkpoints`: checkpoints worse than the previous one by more
    than the recorded uncertainty allows (or, without one, by more than ``threshold``, relative)."""
    return [alert for alert in compare_checkpoints(rows, threshold, z) if alert.flagged]
