"""``python -m percept_lib history DB``: rows, alerts with the uncertainty they used, filters, JSON, exit codes."""
from __future__ import annotations

import json

import pytest

from percept_lib.cli import main
from percept_lib.pipeline.history import record


@pytest.fixture()
def db(tmp_path):
    path = tmp_path / "results.sqlite"
    # KID: step_2000 is better by construction but measured 492 higher on a spread of 2289 / 611 (not a
    # regression); step_3000 is worse by far more than its spread (a regression).
    for ckpt, value, std in [("step_1000", -962.8, 2289.3), ("step_2000", -470.9, 611.5), ("step_3000", 2500.0, 400.0)]:
        record(path, "kid", value, 30, std=std, n_reference=30, tag="nb06", checkpoint=ckpt)
    # LPIPS diversity has no uncertainty: the relative threshold decides (0.50 → 0.40 is 20 % worse).
    for ckpt, value in [("step_1000", 0.50), ("step_2000", 0.49), ("step_3000", 0.40)]:
        record(path, "lpips-diversity", value, 30, tag="nb06", checkpoint=ckpt)
    record(path, "fid", 12.0, 30, tag="other", checkpoint="x", extra={"ci_low": 11.0, "ci_high": 13.0})
    return path


def test_lists_rows_and_alerts_with_their_basis(db, capsys):
    assert main(["history", str(db)]) == 0
    out = capsys.readouterr().out
    assert "7 row(s)" in out
    assert "± 2.29e+03 (std)" in out and "[11, 13] (95 %)" in out
    assert "2 regression alert(s) of 4 comparison(s)" in out
    alerts = [line for line in out.splitlines() if line.strip().startswith("✗")]
    assert len(alerts) == 2
    assert "kid at step_3000" in alerts[0] and "from the recorded std" in alerts[0]
    assert "lpips-diversity at step_3000" in alerts[1] and "relative threshold" in alerts[1]
    assert not any("step_2000" in line.split(" vs ")[0] for line in alerts)


def test_filters_and_threshold(db, capsys):
    assert main(["history", str(db), "--metric", "lpips-diversity", "--threshold", "0.25"]) == 0
    out = capsys.readouterr().out
    assert "3 row(s)" in out and "kid" not in out
    assert "no regression: 2 comparison(s)" in out           # 20 % worse is within a 25 % threshold
    assert main(["history", str(db), "--tag", "other"]) == 0
    assert "1 row(s)" in capsys.readouterr().out
    assert main(["history", str(db), "--metric", "psnr"]) == 0
    assert "no rows match the filters" in capsys.readouterr().out


def test_json_and_exit_status(db, capsys):
    assert main(["history", str(db), "--json", "--z", "0.2"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["z"] == 0.2 and len(payload["rows"]) == 7 and len(payload["comparisons"]) == 4
    flagged = {(a["metric"], a["checkpoint"], a["basis"]) for a in payload["alerts"]}
    # with z = 0.2 the KID noise no longer covers step_2000
    assert ("kid", "step_2000", "std") in flagged and ("kid", "step_3000", "std") in flagged
    for alert in payload["alerts"]:
        assert {"previous", "value", "difference", "allowed"} <= set(alert)
    assert main(["history", str(db), "--fail-on-regression"]) == 1
    capsys.readouterr()
    assert main(["history", str(db), "--metric", "kid", "--tag", "nb06", "--z", "10", "--fail-on-regression"]) == 0


def test_bad_input_is_one_clear_line(tmp_path, capsys):
    assert main(["history", str(tmp_path / "missing.sqlite")]) == 2
    assert "no such file" in capsys.readouterr().err
    db = tmp_path / "h.sqlite"
    record(db, "fid", 1.0, 3)
    assert main(["history", str(db), "--threshold", "-0.1"]) == 2
    assert "threshold" in capsys.readouterr().err


def test_a_database_of_another_application_is_refused_in_one_line(tmp_path, capsys):
    import sqlite3
    from contextlib import closing

    db = tmp_path / "app.sqlite"
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("CREATE TABLE results (name TEXT, score REAL)")
        conn.execute("INSERT INTO results VALUES ('alice', 3.5)")
        conn.commit()
    assert main(["history", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "percept_lib did not create (results)" in err


def test_history_json_is_strict_with_an_infinite_psnr(tmp_path, capsys):
    """An infinite PSNR (identical images) in the history prints as strict JSON, as every --json does."""
    import json

    from percept_lib.cli import main
    from percept_lib.pipeline.history import record

    db = tmp_path / "h.sqlite"
    record(db, "pairs/psnr", float("inf"), 4, checkpoint="a")
    assert main(["history", str(db), "--json"]) == 0
    out = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"non-strict JSON: {c}"))
    assert out["rows"][0]["value"] == "inf"
