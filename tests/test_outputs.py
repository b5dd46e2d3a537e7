"""Output files: checked before the computation, written through a temporary file and moved into place, the
overwrite refusal decided at the move (two concurrent writers: one file, one clear refusal, nothing corrupt)."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from percept_lib.metrics import FeatureStats
from percept_lib.metrics.stats import read_stats_npz
from percept_lib.pipeline.outputs import check_output, check_outputs, write_atomic


def test_check_output_explains_each_problem(tmp_path):
    with pytest.raises(ValueError, match=r"-o .*missing.*the folder .*missing does not exist; create it first"):
        check_output(tmp_path / "missing" / "s.npz", "-o")
    with pytest.raises(ValueError, match="--csv .* is a folder; pass a file name"):
        check_output(tmp_path, "--csv")
    existing = tmp_path / "s.npz"
    existing.write_bytes(b"old")
    with pytest.raises(ValueError, match="exists; pass --force to overwrite it"):
        check_output(existing, "-o")
    assert check_output(existing, "-o", exists_ok=True) == existing
    assert check_output(str(tmp_path / "new.npz")) == tmp_path / "new.npz"
    assert existing.read_bytes() == b"old"  # checking writes nothing


def test_check_outputs_refuses_two_flags_naming_one_file(tmp_path):
    same = tmp_path / "report"
    with pytest.raises(ValueError, match="--csv and --gallery both name .*report"):
        check_outputs({"--csv": same, "--gallery": tmp_path / "." / "report"})
    checked = check_outputs({"--csv": tmp_path / "a.csv", "--gallery": None, "-o": str(tmp_path / "b.npz")})
    assert checked == {"--csv": tmp_path / "a.csv", "-o": tmp_path / "b.npz"}


def test_write_atomic_refuses_an_existing_file_at_the_move_and_replaces_it_when_allowed(tmp_path):
    out = tmp_path / "out.bin"
    out.write_bytes(b"the first run's file")
    with pytest.raises(ValueError, match="exists .*nothing was overwritten.*--force"):
        write_atomic(out, lambda f: f.write(b"second"))
    assert out.read_bytes() == b"the first run's file"
    write_atomic(out, lambda f: f.write(b"second"), exists_ok=True)
    assert out.read_bytes() == b"second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]  # no temporary file left behind


def test_a_failing_writer_leaves_no_file_and_no_temporary(tmp_path):
    out = tmp_path / "half.npz"

    def write(f):
        f.write(b"PK\x03\x04 half an archive")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError, match="killed mid-write"):
        write_atomic(out, write)
    assert list(tmp_path.iterdir()) == []
    out.write_bytes(b"kept")
    with pytest.raises(RuntimeError):
        write_atomic(out, write, exists_ok=True)
    assert out.read_bytes() == b"kept" and sorted(p.name for p in tmp_path.iterdir()) == ["half.npz"]


def test_text_mode_is_utf8_without_newline_translation(tmp_path):
    import csv

    out = tmp_path / "pairs.csv"
    write_atomic(out, lambda f: csv.writer(f).writerows([["key", "caption"], ["a", "un café, s'il vous plaît"]]),
                 text=True)
    assert out.read_bytes() == "key,caption\r\na,\"un café, s'il vous plaît\"\r\n".encode("utf-8")


def test_a_missing_folder_at_write_time_is_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match="cannot write in .*gone"):
        write_atomic(tmp_path / "gone" / "s.npz", lambda f: f.write(b"x"))


@pytest.mark.parametrize("round_", range(5))
def test_two_concurrent_writers_leave_one_valid_file_and_one_clear_refusal(tmp_path, round_):
    out = tmp_path / "stats.npz"
    check_output(out, "-o")  # both runs pass the early check: the file does not exist yet
    rng = np.random.default_rng(round_)
    stats = [FeatureStats().update(rng.standard_normal((40, 16)) + k) for k in (0, 1)]
    both_written = threading.Barrier(2)
    outcomes: list = [None, None]

    def run(k: int) -> None:
        def write(f):
            stats[k].save(f)
            both_written.wait(timeout=30)  # both complete files exist before either is moved into place

        try:
            write_atomic(out, write)
            outcomes[k] = "wrote"
        except ValueError as err:
            outcomes[k] = str(err)

    threads = [threading.Thread(target=run, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert outcomes.count("wrote") == 1, outcomes
    winner = outcomes.index("wrote")
    refusal = outcomes[1 - winner]
    assert str(out) in refusal and "nothing was overwritten" in refusal and "--force" in refusal
    assert read_stats_npz(out)["n"] == 40  # a complete, valid statistics file …
    mu, sigma = stats[winner].compute()
    with np.load(out) as saved:  # … and the winner's, bit for bit
        np.testing.assert_array_equal(saved["mu"], mu)
        np.testing.assert_array_equal(saved["sigma"], sigma)
    assert [p.name for p in tmp_path.iterdir()] == ["stats.npz"]
