"""A results history: one SQLite table, one row per metric value, appended by every command that asks.

FID, KID, CLIP-score and the paired metrics only mean something next to the numbers they are compared with
(same N, same extractor, same resize mode, same weights — Chong & Forsyth 2020; Parmar et al. 2022). So each
row keeps that context with the value, and notebook 06's dashboard reads the table back to plot a metric per
checkpoint. The standard library's ``sqlite3`` is enough: one file, safe to append to from several processes,
readable by any SQL tool.

The schema lives in :data:`COLUMNS` and nowhere else: :func:`record` writes it, :func:`read_history` reads it,
and a table written by an older version gains the missing columns on the next write.
"""
from __future__ import annotations

import json
import math
import sqlite3
from contextlib import closing
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


# Metrics for which a larger value is better; for every other metric (FID, KID, LPIPS, DISTS …) lower is.
HIGHER_IS_BETTER = frozenset({"clip-score", "lpips-diversity", "pairs/psnr", "pairs/ssim"})


def regressions(rows: list[dict], threshold: float = 0.05) -> list[str]:
    """Checkpoints at which a metric got worse than its best value so far by more than ``threshold``.

    ``rows``: one metric's history in checkpoint order (dicts with ``metric``, ``checkpoint``, ``value``, as
    :func:`read_history` returns them). ``threshold`` is relative: 0.05 flags a 5 % worsening.
    """
    if threshold < 0:
        raise ValueError(f"threshold={threshold}: use a non-negative relative change, e.g. 0.05 for 5 %")
    flagged, best = [], None
    for row in rows:
        sign = 1.0 if row["metric"] in HIGHER_IS_BETTER else -1.0
        value = sign * float(row["value"])  # larger is better from here on, for every metric
        if best is not None and value < best - threshold * abs(best):
            flagged.append(row["checkpoint"])
        best = value if best is None else max(best, value)
    return flagged
