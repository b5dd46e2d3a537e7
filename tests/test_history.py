"""The SQLite results history: round trip, filters, schema upgrade, whose file it writes to, and the errors a
user can run into; then the regression rule (percept_lib.metrics.regressions) on rows like the history's."""
from __future__ import annotations

import hashlib
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import threading
from contextlib import closing
from datetime import datetime
from pathlib import Path

import pytest

from percept_lib.pipeline.history import COLUMNS, check_history, read_history, record


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
    with closing(sqlite3.connect(db)) as conn:  # upgraded in place: the old table is now ours, with the marker
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "results" not in tables and {"percept_results", "percept_meta"} <= tables


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


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _database(path: Path, script: str) -> Path:
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript(script)
        conn.commit()
    return path


OLD_HISTORY = ("CREATE TABLE results (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT NOT NULL, "
               "metric TEXT NOT NULL, value REAL, n INTEGER);"
               "INSERT INTO results (timestamp, metric, value, n) VALUES ('2024-01-01T00:00:00+00:00', 'fid', 5.0, 7);")


def test_a_new_history_is_its_own_table_with_a_marker(tmp_path):
    db = tmp_path / "h.sqlite"
    record(db, "fid", 1.0, 2)
    with closing(sqlite3.connect(db)) as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        meta = dict(conn.execute("SELECT key, value FROM percept_meta"))
    assert {"percept_results", "percept_meta"} <= tables and "results" not in tables
    assert meta == {"schema": "percept_lib results history", "version": "2"}


@pytest.mark.parametrize("script, message", [
    # someone else's table called "results" (the case that used to gain 13 columns and a row)
    ("CREATE TABLE results (name TEXT, score REAL); INSERT INTO results VALUES ('alice', 3.5);",
     r"tables that percept_lib did not create \(results\)"),
    # our table's name without our marker
    ("CREATE TABLE percept_results (id INTEGER PRIMARY KEY, note TEXT); "
     "INSERT INTO percept_results VALUES (1, 'x');",
     "a table percept_results that percept_lib did not create"),
    # a marker table that is not ours
    ("CREATE TABLE percept_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL); "
     "INSERT INTO percept_meta VALUES ('schema', 'another tool');",
     "a table percept_meta that percept_lib did not write"),
    # an old percept_lib history inside another application's database
    (OLD_HISTORY + "CREATE TABLE users (name TEXT);", r"did not create \(results, users\)"),
])
def test_other_databases_are_refused_and_left_byte_identical(tmp_path, script, message):
    db = _database(tmp_path / "app.sqlite", script)
    before = _digest(db)
    for call in (lambda: record(db, "fid", 1.0, 10, tag="t"), lambda: check_history(db), lambda: read_history(db)):
        with pytest.raises(ValueError, match=message) as err:
            call()
        assert str(db) in str(err.value) and "new file name for --db" in str(err.value)
    assert _digest(db) == before


def test_a_file_that_is_not_sqlite_is_refused_and_left_byte_identical(tmp_path):
    notes = tmp_path / "notes.sqlite"
    notes.write_bytes(b"my notes, not a database\n" * 100)
    before = _digest(notes)
    for call in (lambda: record(notes, "fid", 1.0, 2), lambda: check_history(notes), lambda: read_history(notes)):
        with pytest.raises(ValueError, match="is not a SQLite file .* pass a new file name"):
            call()
    assert _digest(notes) == before


def test_a_history_from_a_newer_version_is_refused_unchanged(tmp_path):
    db = tmp_path / "h.sqlite"
    record(db, "fid", 1.0, 2)
    _database(db, "UPDATE percept_meta SET value = '99' WHERE key = 'version';")
    before = _digest(db)
    with pytest.raises(ValueError, match="newer percept_lib"):
        record(db, "fid", 2.0, 2)
    assert _digest(db) == before


def test_an_empty_file_is_a_new_history(tmp_path):
    db = tmp_path / "touched.sqlite"
    db.touch()
    check_history(db)
    record(db, "kid", 0.5, 3)
    assert [r["value"] for r in read_history(db)] == [0.5]


def test_reading_an_old_history_never_writes_to_it(tmp_path):
    db = _database(tmp_path / "old.sqlite", OLD_HISTORY)
    before = _digest(db)
    (row,) = read_history(db)
    assert (row["metric"], row["value"], row["n"], row["checkpoint"], row["extra"]) == ("fid", 5.0, 7, None, {})
    assert set(row) == {name for name, _, _ in COLUMNS}
    assert read_history(db, tag="anything") == []  # the old table has no tag column: no row has that tag
    assert _digest(db) == before


def test_a_failed_insert_rolls_back_the_upgrade_with_it(tmp_path):
    # An old table whose n is NOT NULL: the upgrade (rename, new columns, marker) succeeds, then the insert of a
    # row without n fails. One transaction: the file must come back byte for byte.
    db = _database(tmp_path / "old.sqlite", OLD_HISTORY.replace("n INTEGER)", "n INTEGER NOT NULL)"))
    before = _digest(db)
    with pytest.raises(ValueError, match="NOT NULL constraint failed"):
        record(db, "fid", 6.0)
    assert _digest(db) == before
    record(db, "fid", 6.0, 8)
    assert [(r["value"], r["n"]) for r in read_history(db)] == [(5.0, 7), (6.0, 8)]


def test_concurrent_writers_to_a_new_file_lose_no_row(tmp_path):
    db = tmp_path / "h.sqlite"
    start = threading.Barrier(4)

    def writer(k):
        start.wait(timeout=30)
        for i in range(10):
            record(db, "fid", float(i), 10, tag=f"w{k}")

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    rows = read_history(db)
    assert len(rows) == 40 and len({r["id"] for r in rows}) == 40
    for k in range(4):
        assert sorted(r["value"] for r in rows if r["tag"] == f"w{k}") == [float(i) for i in range(10)]


_WRITE_IN = textwrap.dedent("""
    import sys
    from percept_lib.pipeline.history import check_history, record
    for name in ("new.sqlite", "existing.sqlite"):
        for call in (check_history, lambda db: record(db, "fid", 1.0, 2)):
            try:
                call(sys.argv[1] + "/" + name)
                print("no error")
            except ValueError as err:
                print(err)
""")


def test_a_read_only_folder_gets_a_message_about_permissions(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    record(folder / "existing.sqlite", "fid", 1.0, 2)
    command = [sys.executable, "-c", _WRITE_IN, str(folder)]
    if os.geteuid() == 0:  # root writes anywhere; a user namespace takes that privilege away
        if shutil.which("unshare") is None:
            pytest.skip("running as root without `unshare`: cannot make a folder read-only for this process")
        command = ["unshare", "--user", *command]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    folder.chmod(0o555)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    finally:
        folder.chmod(0o755)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 4, done.stdout
    for line in lines:
        assert "no permission to write" in line and "SQLite file" not in line, line
    assert all(f"in the folder {folder}" in line for line in lines)
    assert len(read_history(folder / "existing.sqlite")) == 1


def _series(metric, points, **fields):
    """Rows of one metric in checkpoint order: points are (checkpoint, value) or (checkpoint, value, std)."""
    rows = []
    for point in points:
        row = {"metric": metric, "checkpoint": point[0], "value": point[1], **fields}
        if len(point) > 2:
            row["std"] = point[2]
        rows.append(row)
    return rows


def test_without_uncertainty_the_relative_threshold_follows_each_metrics_direction():
    from percept_lib.metrics.regressions import regressions

    fid = _series("fid", [("a", 10.0), ("b", 8.0), ("c", 8.2), ("d", 9.0)])
    clip = _series("clip-score", [("a", 0.7), ("b", 0.6), ("c", 0.8)])
    # d: 9.0 is 9.8 % worse than c's 8.2; c is only 2.5 % worse than b's 8.0
    assert [a.checkpoint for a in regressions(fid, 0.05)] == ["d"]
    assert [a.checkpoint for a in regressions(fid, 0.0)] == ["c", "d"]
    assert [a.checkpoint for a in regressions(clip, 0.05)] == ["b"]   # higher is better: 0.6 after 0.7
    (alert,) = regressions(fid, 0.05)
    assert alert.basis == "relative threshold"
    assert (alert.previous_checkpoint, alert.previous, alert.value) == ("c", 8.2, 9.0)
    assert alert.difference == pytest.approx(0.8) and alert.allowed == pytest.approx(0.41)
    assert "relative threshold" in alert.describe() and "REGRESSION" in alert.describe()


def test_a_better_checkpoint_with_a_noisy_metric_is_not_flagged_and_a_real_regression_is():
    from percept_lib.metrics.regressions import compare_checkpoints, regressions

    # The history that raised the false alarm: step_2000 is the better model by construction, but its KID
    # (lower is better) came out 492 higher, on estimates whose spread over subsets is 2289 and 611.
    kid = _series("kid", [("step_1000", -962.8, 2289.3), ("step_2000", -470.9, 611.5),
                          ("step_3000", 2500.0, 400.0)])
    comparisons = compare_checkpoints(kid)
    first = comparisons[0]
    assert first.checkpoint == "step_2000" and not first.flagged and first.basis == "std"
    assert first.difference == pytest.approx(491.9)
    assert first.allowed == pytest.approx(2 * (2289.3 ** 2 + 611.5 ** 2) ** 0.5)   # z·sqrt(σ₁² + σ₂²), z = 2
    # step_3000 is worse by 2970.9 against an allowed 2·sqrt(611.5² + 400²) = 1461.5: a real regression.
    (alert,) = regressions(kid)
    assert alert.checkpoint == "step_3000" and alert.basis == "std" and alert.metric == "kid"
    assert alert.difference == pytest.approx(2970.9) and alert.allowed == pytest.approx(1461.5, abs=0.1)
    assert "from the recorded std" in alert.describe()
    # The old rule (5 % relative) flagged step_2000 here; with z = 0.2 the same noise no longer protects it.
    assert [a.checkpoint for a in regressions(kid, z=0.2)] == ["step_2000", "step_3000"]


def test_intervals_in_extra_are_read_as_95_percent_intervals():
    from percept_lib.metrics.regressions import regressions, uncertainty

    row = {"metric": "fid", "checkpoint": "a", "value": 10.0, "extra": {"ci_low": 8.04, "ci_high": 11.96}}
    assert uncertainty(row) == (pytest.approx(1.0, rel=1e-3), "interval")       # 3.92 wide = ±1.96 σ
    later = {"metric": "fid", "checkpoint": "b", "value": 12.0, "extra": {"ci_low": 10.04, "ci_high": 13.96}}
    assert regressions([row, later]) == []                                        # 2.0 < 2·sqrt(2) = 2.83
    worse = dict(later, value=13.0)
    (alert,) = regressions([row, worse])
    assert alert.basis == "interval" and alert.allowed == pytest.approx(2 * 2 ** 0.5, rel=1e-3)
    # higher-is-better pairs metric with intervals (as the pairs command records them)
    psnr = [{"metric": "pairs/psnr", "checkpoint": c, "value": v, "extra": {"ci_low": v - 0.2, "ci_high": v + 0.2}}
            for c, v in [("a", 30.0), ("b", 29.9), ("c", 29.0)]]
    assert [a.checkpoint for a in regressions(psnr)] == ["c"]


def test_relative_threshold_only_where_a_row_has_no_uncertainty():
    from percept_lib.metrics.regressions import compare_checkpoints

    rows = _series("kid", [("a", 1.0, 0.5), ("b", 1.2), ("c", 1.3, 0.5), ("d", 1.4, 0.5)])
    bases = {c.checkpoint: (c.basis, c.flagged) for c in compare_checkpoints(rows, threshold=0.05)}
    # b has no std: a→b and b→c fall back to 5 %; c→d has both std values and is within 2·sqrt(0.5)
    assert bases == {"b": ("relative threshold", True), "c": ("relative threshold", True), "d": ("std", False)}
    # a NaN std counts as none recorded
    nan_std = _series("kid", [("a", 1.0, float("nan")), ("b", 1.2, 0.5)])
    assert compare_checkpoints(nan_std)[0].basis == "relative threshold"


def test_only_comparable_rows_are_compared():
    from percept_lib.metrics.regressions import compare_checkpoints

    rows = (_series("fid", [("a", 10.0)], n=1000) + _series("fid", [("b", 30.0)], n=100)
            + _series("fid", [("c", 10.2)], n=1000) + _series("fid", [("d", 50.0)], n=1000, tag="other")
            + [{"metric": "fid", "checkpoint": "e", "value": float("nan"), "n": 1000}])
    comparisons = compare_checkpoints(rows)
    # b is at another N (FID's bias differs), d belongs to another tag, e has no value: only a→c is compared
    assert [(c.previous_checkpoint, c.checkpoint) for c in comparisons] == [("a", "c")]


def test_history_rows_from_the_database_work_end_to_end(tmp_path):
    from percept_lib.metrics.regressions import regressions

    db = tmp_path / "h.sqlite"
    for ckpt, value, std in [("s1", 0.050, 0.004), ("s2", 0.052, 0.004), ("s3", 0.080, 0.004)]:
        record(db, "kid", value, 500, std=std, n_reference=500, tag="t", checkpoint=ckpt)
    record(db, "fid", 20.0, 500, checkpoint="s1", tag="t", extra={"ci_low": 19.0, "ci_high": 21.5})
    record(db, "fid", 19.0, 500, checkpoint="s2", tag="t", extra={"ci_low": 18.0, "ci_high": 20.5})
    alerts = regressions(read_history(db))
    assert [(a.metric, a.checkpoint, a.basis) for a in alerts] == [("kid", "s3", "std")]
    assert set(alerts[0].to_dict()) >= {"checkpoint", "metric", "previous", "value", "difference", "allowed", "basis"}


@pytest.mark.parametrize("kwargs, message", [
    ({"threshold": -1}, "threshold"),
    ({"threshold": float("nan")}, "threshold"),
    ({"z": 0}, "z="),
])
def test_bad_rule_parameters_are_refused(kwargs, message):
    from percept_lib.metrics.regressions import regressions

    with pytest.raises(ValueError, match=message):
        regressions(_series("fid", [("a", 1.0), ("b", 2.0)]), **kwargs)


def test_bad_rows_are_explained():
    from percept_lib.metrics.regressions import regressions

    with pytest.raises(ValueError, match="no 'value'"):
        regressions([{"metric": "fid", "checkpoint": "a"}])
    with pytest.raises(ValueError, match="polarity unknown"):
        regressions(_series("made-up-metric", [("a", 1.0), ("b", 2.0)]))
    with pytest.raises(ValueError, match="negative"):
        regressions(_series("kid", [("a", 1.0, -0.1), ("b", 2.0, 0.1)]))
    with pytest.raises(ValueError, match="ci_low"):
        regressions([{"metric": "fid", "checkpoint": "a", "value": 1.0, "extra": {"ci_low": 2.0, "ci_high": 1.0}},
                     {"metric": "fid", "checkpoint": "b", "value": 1.0}])
