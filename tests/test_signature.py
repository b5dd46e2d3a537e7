"""The evaluation signature: what it says, that ``compare`` ranks only results whose signatures agree and
otherwise names the fields that differ, and that it round-trips through the SQLite history.

The Inception checkpoint is the seeded one the ``inception`` fixture writes under pytorch-fid's file name, so
the signature's weights field can be checked against the file's own sha256. The 64-d tap keeps it cheap.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
import torch

import percept_lib
from percept_lib import weights as W
from percept_lib.cli import main
from percept_lib.images import save_images
from percept_lib.pipeline.history import read_history, record
from percept_lib.pipeline.signature import Signature


def images(n: int, seed: int, size: int = 40) -> torch.Tensor:
    from percept_lib.data import photos, random_crops

    return random_crops(photos(("astronaut", "chelsea", "coffee", "rocket"), 120), n, size, seed=seed)


@pytest.fixture()
def sets(tmp_path) -> dict[str, Path]:
    """real (8), two models' samples of 7 each, and a third model's of 5."""
    folders = {"real": (8, 1), "model_a": (7, 2), "model_b": (7, 3), "small": (5, 4)}
    for name, (n, seed) in folders.items():
        x = images(n, seed)
        if name == "model_b":
            x = torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
        save_images(x, tmp_path / name)
    return {name: tmp_path / name for name in folders}


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def json_result(capsys, path: Path, *argv) -> dict:
    code, out, _ = run_cli(capsys, *argv, "--json", "--no-progress")
    assert code == 0
    path.write_text(out)
    return json.loads(out)


def checkpoint_sha(fake_checkpoints) -> str:
    data = (fake_checkpoints.dir / W.get_artifact("inception-fid").filename).read_bytes()
    return hashlib.sha256(data).hexdigest()[:8]


def test_a_result_names_metric_encoder_weights_resize_n_seed_and_version(inception, sets, capsys):
    code, out, _ = run_cli(capsys, "fid", sets["real"], sets["model_a"], "--dims", "64", "--no-progress")
    assert code == 0
    expected = (f"fid|enc:inception-fid/block64|w:{checkpoint_sha(inception)}|resize:clean|n:8/7|seed:-|"
                f"v:{percept_lib.__version__}")
    assert f"  signature: {expected}" in out.splitlines()
    code, out, _ = run_cli(capsys, "kid", sets["real"], sets["model_a"], "--dims", "64", "--subsets", "5",
                           "--resize", "pytorch-fid", "--json", "--no-progress")
    assert json.loads(out)["signature"] == (f"kid|enc:inception-fid/block64|w:{checkpoint_sha(inception)}|"
                                            f"resize:pytorch-fid|n:8/7|subsets:5x7|seed:0|v:{percept_lib.__version__}")


def test_a_statistics_file_without_provenance_shows_both_sides(inception, sets, tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "pytorch_fid.npz", mu=rng.standard_normal(64), sigma=np.eye(64))  # as pytorch-fid writes
    code, out, _ = run_cli(capsys, "fid", tmp_path / "pytorch_fid.npz", sets["model_a"], "--dims", "64", "--json",
                           "--no-progress")
    assert code == 0
    signature = Signature.parse(json.loads(out)["signature"])
    assert signature.get("enc") == "unknown+inception-fid/block64"
    assert signature.get("w") == f"unknown+{checkpoint_sha(inception)}"
    assert signature.get("n") == "-/7"  # the file does not say its N


def test_a_statistics_file_signs_the_weights_it_was_made_with(inception, sets, tmp_path, capsys):
    """Statistics made elsewhere, with another Inception file: ``w`` is the hash the file recorded, not the
    hash of the file on this machine — forced against a folder it shows both."""
    code, _, _ = run_cli(capsys, "stats", sets["real"], "-o", tmp_path / "here.npz", "--dims", "64",
                         "--no-progress")
    assert code == 0
    with np.load(tmp_path / "here.npz") as f:
        stored = {key: f[key] for key in f.files}
    elsewhere = "ab" * 32  # the sha256 of an Inception file this machine does not have
    for name in ("a.npz", "b.npz"):
        np.savez(tmp_path / name, **{**stored, "weights_sha256": np.array(elsewhere)})

    code, out, _ = run_cli(capsys, "fid", tmp_path / "a.npz", tmp_path / "b.npz", "--json", "--no-progress")
    assert code == 0 and Signature.parse(json.loads(out)["signature"]).get("w") == elsewhere[:8]

    code, _, err = run_cli(capsys, "fid", tmp_path / "a.npz", sets["model_a"], "--dims", "64", "--no-progress")
    assert code == 2 and "weights sha256" in err
    code, out, _ = run_cli(capsys, "fid", tmp_path / "a.npz", sets["model_a"], "--dims", "64", "--force-mix",
                           "--json", "--no-progress")
    assert code == 0
    assert Signature.parse(json.loads(out)["signature"]).get("w") == f"{elsewhere[:8]}+{checkpoint_sha(inception)}"


def test_signatures_parse_and_write_back():
    text = "precision|enc:dinov2-vitl14/cls|w:random|resize:-|n:100/90|k:3|seed:-|v:0.1.0"
    signature = Signature.parse(text)
    assert str(signature) == text
    assert (signature.metric, signature.get("k"), signature.get("missing")) == ("precision", "3", None)
    with pytest.raises(ValueError, match="field 'n' is not key:value"):
        Signature.parse("fid|enc:x|n")
    with pytest.raises(ValueError, match="empty"):
        Signature.parse("")


def test_compare_refuses_different_signatures_and_names_each_field(inception, sets, tmp_path, capsys):
    a = json_result(capsys, tmp_path / "a.json", "fid", sets["real"], sets["model_a"], "--dims", "64")
    b = json_result(capsys, tmp_path / "b.json", "fid", sets["real"], sets["small"], "--dims", "64",
                    "--resize", "pytorch-fid")
    code, out, _ = run_cli(capsys, "compare", tmp_path / "a.json", tmp_path / "b.json")
    assert code == 1
    assert "NOT comparable — 2 field(s) of the signatures differ" in out
    assert f"resize differs: clean ({tmp_path / 'a.json'}); pytorch-fid ({tmp_path / 'b.json'})" in out
    assert "Parmar et al. 2022" in out
    assert "n differs: 8/7" in out and "8/5" in out and "FID is biased by ~k/N" in out and "notebook 03" in out
    assert str(a["value"]) not in out and str(b["value"]) not in out  # no ranking is printed

    code, out, _ = run_cli(capsys, "compare", tmp_path / "a.json", tmp_path / "b.json", "--json")
    report = json.loads(out)
    assert code == 1 and report["comparable"] is False
    assert [d["field"] for d in report["groups"][0]["differences"]] == ["resize", "n"]
    assert "ranking" not in report["groups"][0]


def test_compare_ranks_agreeing_results_by_the_metrics_polarity(inception, sets, tmp_path, capsys):
    a = json_result(capsys, tmp_path / "a.json", "fid", sets["real"], sets["model_a"], "--dims", "64")
    b = json_result(capsys, tmp_path / "b.json", "fid", sets["real"], sets["model_b"], "--dims", "64")
    assert a["value"] != pytest.approx(b["value"])
    code, out, _ = run_cli(capsys, "compare", tmp_path / "b.json", tmp_path / "a.json", "--json")
    assert code == 0
    group = json.loads(out)["groups"][0]
    best_first = sorted([(a["value"], "a.json"), (b["value"], "b.json")])  # FID: lower is better
    assert [Path(r["result"]).name for r in group["ranking"]] == [name for _, name in best_first]
    assert group["comparable"] and group["higher_is_better"] is False and group["differences"] == []

    # prdc files hold four results: compared metric by metric, higher is better.
    pa = json_result(capsys, tmp_path / "pa.json", "prdc", sets["real"], sets["model_a"], "--dims", "64", "--k", "2")
    db = tmp_path / "h.sqlite"
    pb = json_result(capsys, tmp_path / "pb.json", "prdc", sets["real"], sets["model_b"], "--dims", "64", "--k", "2",
                     "--db", db)
    code, out, _ = run_cli(capsys, "compare", tmp_path / "pa.json", tmp_path / "pb.json", "--metric", "coverage",
                           "--json")
    group = json.loads(out)["groups"][0]
    assert code == 0 and group["metric"] == "coverage" and group["higher_is_better"] is True
    assert [r["value"] for r in group["ranking"]] == sorted([pa["coverage"], pb["coverage"]], reverse=True)
    code, out, _ = run_cli(capsys, "compare", tmp_path / "pa.json", tmp_path / "pb.json")
    assert code == 0 and out.count("signatures agree") == 4
    # A file's four results against one history row (model_b's precision): that metric is ranked, the others
    # are listed as having nothing to compare with.
    code, out, _ = run_cli(capsys, "compare", tmp_path / "pa.json", "1", "--db", db)
    assert code == 0 and out.count("signatures agree") == 1 and "recall: one result only" in out


def test_a_different_seed_is_ranked_with_a_note(inception, sets, tmp_path, capsys):
    for seed in (0, 1):
        json_result(capsys, tmp_path / f"kid{seed}.json", "kid", sets["real"], sets["model_a"], "--dims", "64",
                    "--subsets", "4", "--subset-size", "5", "--seed", str(seed))
    code, out, _ = run_cli(capsys, "compare", tmp_path / "kid0.json", tmp_path / "kid1.json")
    assert code == 0 and "signatures agree: ranked, lower is better" in out
    assert "note: seed differs: 0" in out and "another random draw" in out


def test_the_signature_round_trips_through_the_history(inception, sets, tmp_path, capsys):
    db = tmp_path / "h.sqlite"
    a = json_result(capsys, tmp_path / "a.json", "fid", sets["real"], sets["model_a"], "--dims", "64", "--db", db,
                    "--checkpoint", "step-1")
    b = json_result(capsys, tmp_path / "b.json", "fid", sets["real"], sets["model_b"], "--dims", "64", "--db", db,
                    "--checkpoint", "step-2")
    rows = read_history(db)
    assert [r["signature"] for r in rows] == [a["signature"], b["signature"]]
    code, out, _ = run_cli(capsys, "compare", "--db", db, "2", "1", tmp_path / "a.json")
    assert code == 0 and "(step-1)" in out and "(step-2)" in out

    record(db, "fid", 3.0, 8, n_reference=7)  # a row without a signature, as an earlier version wrote
    code, _, err = run_cli(capsys, "compare", "--db", db, "1", "3")
    assert code == 2 and "row 3 of" in err and "has no evaluation signature" in err
    code, _, err = run_cli(capsys, "compare", "--db", db, "1", "9")
    assert code == 2 and "no row 9" in err
    code, _, err = run_cli(capsys, "compare", "1", "2")
    assert code == 2 and "needs --db" in err


def test_an_older_history_gains_the_signature_column_on_the_next_write(tmp_path):
    db = tmp_path / "old.sqlite"
    columns = ("id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT NOT NULL, metric TEXT NOT NULL, value REAL, "
               "std REAL, n INTEGER, n_reference INTEGER, folders TEXT, extractor TEXT, resize TEXT, weights TEXT, "
               "tag TEXT, checkpoint TEXT, extra TEXT")
    with closing(sqlite3.connect(db)) as conn:
        conn.executescript(
            f"CREATE TABLE percept_results ({columns});"
            "CREATE TABLE percept_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            "INSERT INTO percept_meta VALUES ('schema', 'percept_lib results history'), ('version', '2');"
            "INSERT INTO percept_results (timestamp, metric, value, n) VALUES ('2024-01-01T00:00:00+00:00', 'fid', "
            "5.0, 7);")
        conn.commit()
    assert read_history(db)[0]["signature"] is None  # reading never writes
    record(db, "fid", 4.0, 7, signature="fid|enc:x|n:7")
    old, new = read_history(db)
    assert old["signature"] is None and new["signature"] == "fid|enc:x|n:7"
