"""A results history: one SQLite file, one row per metric value, appended by every command that asks (``--db``).

FID, KID, CLIP-score and the paired metrics only mean something next to the numbers they are compared with
(same N, same extractor, same resize mode, same weights — Chong & Forsyth 2020; Parmar et al. 2022). So each
row keeps that context with the value, and notebook 06's dashboard reads the rows back to plot a metric per
checkpoint. The standard library's ``sqlite3`` is enough: one file, safe to append to from several processes,
readable by any SQL tool. The rule that flags regressions in the rows is pure math on them:
:mod:`percept_lib.metrics.regressions`.

Whose file it is. The history writes only to what it created: the table ``percept_results`` and a marker,
the table ``percept_meta`` (schema name and version). It writes to a file only when the file is new (absent or
empty), carries the marker, or is the history of an earlier percept_lib (its only table ``results``, with our
columns and no marker). Anything else — not a SQLite file, another application's database, a
``percept_results`` table without the marker — is refused with a ValueError and left byte for byte as it was.
Each write is one transaction (``BEGIN IMMEDIATE`` … ``COMMIT``): the ownership check, a schema upgrade
(missing columns, the marker, an earlier version's ``results`` table renamed) and the insert are committed
together or not at all, and a concurrent writer waits rather than interleaves. Reading never writes.

The schema lives in :data:`COLUMNS` and nowhere else.
"""
from __future__ import annotations

import json
import math
import os
import sqlite3
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path

TABLE = "percept_results"
META_TABLE = "percept_meta"
SCHEMA_NAME = "percept_lib results history"
SCHEMA_VERSION = 2  # version 1: percept_lib 0.1's table "results", without a marker
LEGACY_TABLE = "results"
_SQLITE_MAGIC = b"SQLite format 3\x00"
_TIMEOUT_S = 30  # several runs (ranks, parallel jobs) may append at the same moment

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
    # Added after version 2 without a version bump: a nullable column that the upgrade below adds to older
    # files, that earlier code reads past (it selects the columns it knows) and leaves NULL when it writes.
    ("signature", "TEXT", "the evaluation signature (pipeline.signature), '' where none was given"),
)
_NAMES = tuple(name for name, _, _ in COLUMNS)
_FILLED_HERE = ("id", "timestamp")
CONTEXT_FIELDS = tuple(name for name in _NAMES if name not in _FILLED_HERE + ("metric", "value", "n"))
_TEXT_FIELDS = ("folders", "extractor", "resize", "weights", "tag", "checkpoint", "signature")
_ANY_VERSION = ("id", "timestamp", "metric", "value")  # what every version's table has


# ----------------------------------------------------------------------------------------------------
# The file: where it is, whether we may write there, whether it is ours
# ----------------------------------------------------------------------------------------------------

def _checked_path(db, write: bool) -> Path:
    path = Path(db)
    if path.is_dir():
        raise ValueError(f"results history {path} is a folder; pass a file name such as results.sqlite")
    if write:
        folder = path.parent
        if not folder.is_dir():
            raise ValueError(f"results history {path}: the folder {folder} does not exist; create it first")
        if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
            raise _permission_error(path, folder_writable=os.access(folder, os.W_OK))
    if path.exists():
        _check_header(path)
    return path


def _permission_error(path: Path, folder_writable: bool = False) -> ValueError:
    where = f"the file {path}" if folder_writable else f"in the folder {path.parent}"
    return ValueError(f"results history {path}: no permission to write {where} (SQLite also writes a journal "
                      "file next to the database); pass a --db path in a folder you can write to")


def _check_header(path: Path) -> None:
    try:
        with open(path, "rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
    except OSError as err:
        raise ValueError(f"results history {path}: cannot read it ({err.strerror}); check its permissions") from None
    if head and head != _SQLITE_MAGIC:  # an empty file is an empty database
        raise ValueError(f"results history {path} is not a SQLite file (it starts with {head!r}); it was left "
                         "unchanged: pass a new file name for --db, e.g. results.sqlite")


def _foreign(path: Path, what: str) -> ValueError:
    return ValueError(f"results history {path}: a SQLite database with {what}; percept_lib writes only to a "
                      "history of its own, so the file was left unchanged: pass a new file name for --db, "
                      "e.g. results.sqlite")


def _tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    return {name for (name,) in rows}


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')]


def _layout(conn: sqlite3.Connection, path: Path) -> str:
    """What the database holds: ``"new"`` (no table), ``"current"``, ``"older"`` (ours, needing an upgrade),
    ``"legacy"`` (percept_lib 0.1's ``results`` table); a ValueError for anyone else's database."""
    tables = _tables(conn)
    if META_TABLE in tables:
        if _columns(conn, META_TABLE) != ["key", "value"]:
            raise _foreign(path, f"a table {META_TABLE} that percept_lib did not create")
        meta = dict(conn.execute(f"SELECT key, value FROM {META_TABLE}"))
        if meta.get("schema") != SCHEMA_NAME or not str(meta.get("version", "")).isdigit():
            raise _foreign(path, f"a table {META_TABLE} that percept_lib did not write")
        version = int(meta["version"])
        if version > SCHEMA_VERSION:
            raise ValueError(f"results history {path} was written by a newer percept_lib (schema {version}, this "
                             f"one knows {SCHEMA_VERSION}); upgrade percept_lib, or pass another --db file")
        if version == SCHEMA_VERSION and TABLE in tables and set(_NAMES) <= set(_columns(conn, TABLE)):
            return "current"
        return "older"
    if TABLE in tables:
        raise _foreign(path, f"a table {TABLE} that percept_lib did not create (no {META_TABLE} marker)")
    if not tables:
        return "new"
    if tables == {LEGACY_TABLE}:
        columns = set(_columns(conn, LEGACY_TABLE))
        if set(_ANY_VERSION) <= columns <= set(_NAMES):
            return "legacy"
    listed = ", ".join(sorted(tables)[:5]) + (" …" if len(tables) > 5 else "")
    raise _foreign(path, f"tables that percept_lib did not create ({listed})")


def _upgrade(conn: sqlite3.Connection, layout: str) -> None:
    """Bring the database to the current schema; runs inside the caller's transaction."""
    if layout == "legacy":
        conn.execute(f"ALTER TABLE {LEGACY_TABLE} RENAME TO {TABLE}")
    spec = ", ".join(f"{name} {sqltype}" for name, sqltype, _ in COLUMNS)
    conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} ({spec})")
    present = set(_columns(conn, TABLE))
    for name, sqltype, _ in COLUMNS:
        if name not in present:  # SQLite adds a NOT NULL column only with a default; old rows get NULL
            conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN {name} {sqltype.replace(' NOT NULL', '')}")
    conn.execute(f"CREATE TABLE IF NOT EXISTS {META_TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.executemany(f"INSERT OR REPLACE INTO {META_TABLE} (key, value) VALUES (?, ?)",
                     [("schema", SCHEMA_NAME), ("version", str(SCHEMA_VERSION))])


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, timeout=_TIMEOUT_S)


def _database_error(path: Path, err: sqlite3.DatabaseError) -> ValueError:
    text = str(err)
    if "readonly" in text or "unable to open" in text:
        return _permission_error(path, folder_writable=os.access(path.parent, os.W_OK))
    if "locked" in text:
        return ValueError(f"results history {path}: locked by another process for more than {_TIMEOUT_S} s; "
                          "retry when it has finished, or pass another --db file")
    return ValueError(f"results history {path}: {text}; the file was left unchanged: pass a new file name for "
                      "--db, e.g. results.sqlite")


def check_history(db) -> Path:
    """Raise now the ValueError that :func:`record` would raise because of the file ``db``; change nothing.

    The commands call it before a long computation, so that a ``--db`` that is not SQLite, belongs to another
    application, or lies in a folder that does not exist or cannot be written fails in a second, not after
    the work. Returns ``db`` as a Path.
    """
    path = _checked_path(db, write=True)
    if path.is_file() and path.stat().st_size:
        try:
            with closing(_read_only(path)) as conn:
                _layout(conn, path)
        except sqlite3.DatabaseError as err:
            raise _database_error(path, err) from None
    return path


# ----------------------------------------------------------------------------------------------------
# Rows in and out
# ----------------------------------------------------------------------------------------------------

def _number(value, what: str, allow_none: bool = False):
    if value is None and allow_none:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what}={value!r} is not a number") from None
    return None if math.isnan(number) else number  # SQLite has no NaN; NULL reads back as NaN


def _row(metric: str, value, n, context: dict) -> dict:
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
    return row


def record(db, metric: str, value, n: int | None = None, **context) -> int:
    """Append one result to the history ``db`` (created if needed) and return its row id.

    ``context``: any of ``std``, ``n_reference``, ``folders``, ``extractor``, ``resize``, ``weights``, ``tag``,
    ``checkpoint``, ``signature`` (columns), and ``extra`` (a dict, stored as JSON). An unknown keyword is an
    error rather than a silently lost value. A file that is not a percept_lib history is refused and left unchanged (see
    the module's docstring).
    """
    row = _row(metric, value, n, context)
    path = _checked_path(db, write=True)
    names = list(row)
    insert = f"INSERT INTO {TABLE} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
    try:
        with closing(sqlite3.connect(str(path), timeout=_TIMEOUT_S, isolation_level=None)) as conn:
            # One transaction from the ownership check to the insert: the check cannot be raced, and an
            # upgrade whose insert fails is rolled back with it.
            conn.execute("BEGIN IMMEDIATE")
            try:
                layout = _layout(conn, path)
                if layout != "current":
                    _upgrade(conn, layout)
                row_id = conn.execute(insert, [row[k] for k in names]).lastrowid
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return int(row_id)
    except sqlite3.DatabaseError as err:
        raise _database_error(path, err) from None


def read_history(db, metric: str | None = None, tag: str | None = None) -> list[dict]:
    """Every row of ``db`` in the order written, as dicts keyed by :data:`COLUMNS` (``extra`` decoded).

    ``metric`` / ``tag`` keep only the rows with that value. A missing file is an error (nothing was recorded
    there yet: check the path). Histories of percept_lib 0.1 (table ``results``) are read as they are, their
    missing columns as None; the file is upgraded by the next :func:`record`, never by reading.
    """
    path = Path(db)
    if not path.is_file():
        raise ValueError(f"results history {path}: no such file; record a result first (--db {path})")
    _check_header(path)
    try:
        with closing(_read_only(path)) as conn:
            layout = _layout(conn, path)
            table = LEGACY_TABLE if layout == "legacy" else TABLE
            if layout == "new" or table not in _tables(conn):
                return []
            present = [name for name in _columns(conn, table) if name in _NAMES]
            where, params = [], []
            for name, wanted in (("metric", metric), ("tag", tag)):
                if wanted is None:
                    continue
                if name not in present:  # an old table without that column: no row has the value
                    return []
                where.append(f"{name} = ?")
                params.append(wanted)
            query = (f"SELECT {', '.join(present)} FROM {table}" + (f" WHERE {' AND '.join(where)}" if where else "")
                     + " ORDER BY id")
            found = conn.execute(query, params).fetchall()
    except sqlite3.DatabaseError as err:
        raise _database_error(path, err) from None
    rows = []
    for values in found:
        row = dict.fromkeys(_NAMES)
        row.update(zip(present, values))
        if row["value"] is None:
            row["value"] = math.nan
        row["extra"] = json.loads(row["extra"]) if row["extra"] else {}
        rows.append(row)
    return rows


__all__ = ["COLUMNS", "CONTEXT_FIELDS", "check_history", "read_history", "record"]
