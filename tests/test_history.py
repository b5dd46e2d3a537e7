"""The SQLite results history: round trip, filters, schema upgrade, and the errors a user can run into."""
from __future__ import annotations

import math
import sqlite3
from datetime import datetime

import pytest

from percept_lib.metrics.history import COLUMNS, read_history, record


def test_round_trip_keeps_every_field_in_order(tmp_path):
    db = tmp_path / "results.sqlite"
    first = record(db, "fid", 12.5, 1000, n_reference=50000, folders="gen | real", extractor="inception-fid/pool3",
                   resize="clean", weights="pretrained", tag="run-a", checkpoint="ckpt-010.pt",
                   extra={"amp": True})
    second = record(db, "kid", 0.0123, 1000, std=0.0004, n_reference=900, tag="run-a", checkpoint="ckpt-020.pt")
    assert second > first
    rows = read_history(db)
    assert [r["metric"] for r in rows] == ["fid", "kid"]
    fid, kid = rows
    assert fid["value"] == 12.5 and fid["n"] == 1000 and fid["n_reference"] == 50000
    assert fid["folders"] == "gen | real" and fid["extractor"] == "inception-fid/pool3"
    assert fid["resize"] == "clean" and fid["weights"] == "pretrained"
    assert fid["tag"] == "run-a" and fid["checkpoint"] == "ckpt-010.pt"
    assert fid["extra"] == {"amp": True}
    assert fid["std"] is None
    assert kid["std"] == 0.0004 and kid["extra"] == {} and kid["folders"] == ""
    assert datetime.fromisoformat(fid["timestamp"]).tzinfo is not None  # UTC, explicit
    assert set(fid) == {name for name, _, _ in COLUMNS}


def test_the_pairs_command_call_works(tmp_path):
    # cli/pairs_cmd.py calls record() with these keywords; keep them working.
    db = tmp_path / "h.sqlite"
    record(db, metric="pairs/lpips-alex", value=0.25, n=12, folders="a | b", extractor="alex", resize="",
           weights="random weights (illustrative)", tag="t")
    (row,) = read_history(db)
    assert row["metric"] == "pairs/lpips-alex" and row["weights"] == "random weights (illustrative)"


def test_filters_by_metric_and_tag(tmp_path):
    db = tmp_path / "h.sqlite"
    record(db, "fid", 1.0, 10, tag="a")
    record(db, "fid", 2.0, 10, tag="b")
    record(db, "kid", 3.0, 10, tag="a")
    assert [r["value"] for r in read_history(db, metric="fid")] == [1.0, 2.0]
    assert [r["value"] for r in read_history(db, tag="a")] == [1.0, 3.0]
    assert [r["value"] for r in read_history(db, metric="fid", tag="b")] == [2.0]


def test_nan_survives_as_nan(tmp_path):
    db = tmp_path / "h.sqlite"
    record(db, "pairs/psnr", float("nan"), 0)
    assert math.isnan(read_history(db)[0]["value"])


def test_old_table_gains_new_columns(tmp_path):
    db = tmp_path / "old.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE results (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT NOT NULL, "
                     "metric TEXT NOT NULL, value REAL, n INTEGER)")
        conn.execute("INSERT INTO results (timestamp, metric, value, n) VALUES ('2024-01-01T00:00:00+00:00', 'fid', 5.0, 7)")
    record(db, "fid", 6.0, 8, checkpoint="c2")
    rows = read_history(db)
    assert [(r["value"], r["n"], r["checkpoint"]) for r in rows] == [(5.0, 7, None), (6.0, 8, "c2")]


@pytest.mark.parametrize("kwargs, message", [
    ({"metric": "fid", "value": 1.0, "n": 3, "tags": "x"}, "unknown history field"),
    ({"metric": "", "value": 1.0, "n": 3}, "name the metric"),
    ({"metric": "fid", "value": "high", "n": 3}, "not a number"),
])
def test_bad_records_are_refused(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        record(tmp_path / "h.sqlite", **kwargs)


def test_bad_paths_are_explained(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        record(tmp_path / "missing" / "h.sqlite", "fid", 1.0, 2)
    with pytest.raises(ValueError, match="no such file"):
        read_history(tmp_path / "never.sqlite")
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ValueError, match="SQLite"):
        record(junk, "fid", 1.0, 2)


def test_regressions_follow_each_metrics_direction():
    from percept_lib.metrics.history import regressions

    fid = [{"metric": "fid", "checkpoint": c, "value": v} for c, v in [("a", 10.0), ("b", 8.0), ("c", 8.2), ("d", 9.0)]]
    clip = [{"metric": "clip-score", "checkpoint": c, "value": v} for c, v in [("a", 0.7), ("b", 0.6), ("c", 0.8)]]
    assert regressions(fid, 0.05) == ["d"]          # 9.0 is 12.5 % worse than the best 8.0; 8.2 only 2.5 %
    assert regressions(fid, 0.0) == ["c", "d"]
    assert regressions(clip, 0.05) == ["b"]
    with pytest.raises(ValueError, match="threshold"):
        regressions(fid, -1)
