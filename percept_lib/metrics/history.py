"""A results history: one SQLite table, one row per metric value, appended by every command that asks.

FID, KID, CLIP-score and the paired metrics only mean something next to the numbers they are compared with
(same N, same extractor, same resize mode, same weights — Chong & Forsyth 2020; Parmar et al. 2022). So each
row keeps that context with the value, and notebook 06's dashboard reads the table back to plot a metric per
checkpoint. The standard library's ``sqlite3`` is enough: one file, safe to append to from several processes,
readable by any SQL tool.

A regression alert (:func:`regressions`) weighs each change against the uncertainty recorded with it — KID's
spread over subsets, a bootstrap interval — so that a noisy estimate does not raise a false alarm; only where
none was recorded does it fall back to a relative threshold. ``python -m percept_lib history DB`` lists the
rows and the alerts.

The schema lives in :data:`COLUMNS` and nowhere else: :func:`record` writes it, :func:`read_history` reads it,
and a table written by an older version gains the missing columns on the next write.
"""
from __future__ import annotations

import json
import math
import sqlite3
from contextlib import closing
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

TABLE = "results"

# (column, SQLite type, meaning). ``id`` and ``timestamp`` are filled here; the rest come from the caller.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("id", "INTEGER PRIMARY KEY AUTOINCREMENT", "row number, in order of writing"),
    ("timestamp", "TEXT NOT NULL", "UTC time of the run, ISO 8601"),
    ("metric", "TEXT NOT NULL", "what was measured: fid, kid, clip-score, pairs/lpips-alex, …"),
    ("value", "REAL", "the number (NULL stands for NaN)"),
    ("std", "REAL", "its spread where the metric has one (KID over subsets), else NULL"),
    ("n", "INTEGER", "number of samples of the set under evaluation"),
    ("n_reference", "INTEGER", "number of samples of the reference set (FID/KID), else NULL"),
    ("folders", "TEXT", "the inputs: folder(s) or statistics file(s)"),
    ("extractor", "TEXT", "backbone and layer, e.g. 'inception-fid/pool3'"),
    ("resize", "TEXT", "resize mode ('clean' or 'pytorch-fid'), '' where none applies"),
    ("weights", "TEXT", "'pretrained' or 'random weights (illustrative)'"),
    ("tag", "TEXT", "free-form label, e.g. an experiment name"),
    ("checkpoint", "TEXT", "free-form: the model checkpoint that produced the images (dashboard x-axis)"),
    ("extra", "TEXT", "JSON object of any further context"),
)
_FILLED_HERE = ("id", "timestamp")
CONTEXT_FIELDS = tuple(name for name, _, _ in COLUMNS if name not in _FILLED_HERE + ("metric", "value", "n"))
_TEXT_FIELDS = ("folders", "extractor", "resize", "weights", "tag", "checkpoint")


def _connect(db) -> sqlite3.Connection:
    path = Path(db)
    if path.is_dir():
        raise ValueError(f"results history {path} is a folder; pass a file name such as results.sqlite")
    if not path.parent.is_dir():
        raise ValueError(f"results history {path}: the folder {path.parent} does not exist; create it first")
    # A generous timeout: several runs (ranks, parallel jobs) may append at the same moment.
    return sqlite3.connect(str(path), timeout=30)


def _ensure_schema(conn: sqlite3.Connection) -> None:
    spec = ", ".join(f"{name} {sqltype}" for name, sqltype, _ in COLUMNS)
    conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} ({spec})")
    present = {row[1] for row in conn.execute(f"PRAGMA table_info({TABLE})")}
    for name, sqltype, _ in COLUMNS:
        if name not in present:  # a table written by an older version: add what it lacks
            conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN {name} {sqltype.replace(' NOT NULL', '')}")


def _database_error(db, err: sqlite3.DatabaseError) -> ValueError:
    return ValueError(f"results history {db}: {err}; is it a SQLite file written by percept_lib? "
                      "Pass another --db file name")


def _number(value, what: str, allow_none: bool = False):
    if value is None and allow_none:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what}={value!r} is not a number") from None
    return None if math.isnan(number) else number  # SQLite has no NaN; NULL reads back as NaN


def record(db, metric: str, value, n: int | None = None, **context) -> int:
    """Append one result to the history ``db`` (created if needed) and return its row id.

    ``context``: any of ``std``, ``n_reference``, ``folders``, ``extractor``, ``resize``, ``weights``, ``tag``,
    ``checkpoint`` (columns), and ``extra`` (a dict, stored as JSON). An unknown keyword is an error rather
    than a silently lost value.
    """
    if not isinstance(metric, str) or not metric:
        raise ValueError(f"metric={metric!r}: name the metric, e.g. 'fid'")
    unknown = sorted(set(context) - set(CONTEXT_FIELDS))
    if unknown:
        raise ValueError(f"unknown history field(s) {unknown}; use {', '.join(CONTEXT_FIELDS)} "
                         "(put anything else in extra={...})")
    row = {
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "metric": metric,
        "value": _number(value, "value"),
        "n": None if n is None else int(n),
        "std": _number(context.get("std"), "std", allow_none=True),
        "n_reference": None if context.get("n_reference") is None else int(context["n_reference"]),
        "extra": json.dumps(context.get("extra") or {}, sort_keys=True, default=str),
    }
    for name in _TEXT_FIELDS:
        value_ = context.get(name)
        row[name] = "" if value_ is None else str(value_)
    names = list(row)
    try:
        with closing(_connect(db)) as conn, conn:
            _ensure_schema(conn)
            cursor = conn.execute(
                f"INSERT INTO {TABLE} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                [row[k] for k in names])
            return int(cursor.lastrowid)
    except sqlite3.DatabaseError as err:
        raise _database_error(db, err) from None


def read_history(db, metric: str | None = None, tag: str | None = None) -> list[dict]:
    """Every row of ``db`` in the order written, as dicts keyed by the column names (``extra`` decoded).

    ``metric`` / ``tag`` keep only the rows with that value. A missing file is an error (nothing was recorded
    there yet: check the path).
    """
    path = Path(db)
    if not path.is_file():
        raise ValueError(f"results history {path}: no such file; record a result first (--db {path})")
    where, params = [], []
    for name, wanted in (("metric", metric), ("tag", tag)):
        if wanted is not None:
            where.append(f"{name} = ?")
            params.append(wanted)
    query = f"SELECT * FROM {TABLE}" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY id"
    try:
        with closing(_connect(path)) as conn:
            conn.row_factory = sqlite3.Row
            _ensure_schema(conn)
            rows = [dict(r) for r in conn.execute(query, params)]
    except sqlite3.DatabaseError as err:
        raise _database_error(db, err) from None
    for row in rows:
        if row.get("value") is None:
            row["value"] = math.nan
        row["extra"] = json.loads(row["extra"]) if row.get("extra") else {}
    return rows


# ----------------------------------------------------------------------------------------------------
# The regression rule
# ----------------------------------------------------------------------------------------------------

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

    ``rows``: results in checkpoint order (as :func:`read_history` returns them; several metrics may be
    mixed). Rows are compared within a series of the same metric, tag, extractor, resize mode, weights and N
    (different N bias FID differently, so those values are not compared); rows whose value is NaN are skipped.

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
