"""The feature cache: rows checked against each file's content hash, ``--no-cache`` replacing the entry, the
path reported, a size bound with least-recently-used eviction, orphaned temporary files removed.

The Inception checkpoint is the seeded one of ``tests/conftest.py``; the 64-d tap keeps the network cheap.
Images are PPM files: a fixed-size format, so new pixels keep the size, and ``os.utime`` restores the mtime —
the case a (name, size, mtime) key cannot see.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from percept_lib.cli import main
from percept_lib.extractors.inception import InceptionFID
from percept_lib.pipeline import extract_folder
from percept_lib.pipeline.cache import ORPHAN_AGE_S, cache_limit


def write_ppm(path: Path, seed: int, size: int = 40) -> None:
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def ppm_folder(root: Path, n: int = 3, seed: int = 0) -> Path:
    for i in range(n):
        write_ppm(root / f"{i}.ppm", seed + i)
    return root


def replace_keeping_size_and_mtime(path: Path, seed: int) -> None:
    """New pixels, same byte count, same mtime, same inode: what ``cp -p`` / ``tar --mtime`` leave behind."""
    before = path.stat()
    write_ppm(path, seed)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)


@pytest.fixture()
def embedded(monkeypatch) -> list[int]:
    """The batch sizes the network was run on, call by call."""
    sizes: list[int] = []
    real_embed = InceptionFID.embed
    monkeypatch.setattr(InceptionFID, "embed", lambda self, x, *a: sizes.append(len(x)) or real_embed(self, x, *a))
    return sizes


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_file_replaced_with_the_same_size_and_mtime_is_recomputed_alone(inception, tmp_path, embedded):
    folder = ppm_folder(tmp_path / "imgs")
    first = extract_folder(folder, layer=64, progress=False)
    replace_keeping_size_and_mtime(folder / "1.ppm", seed=99)
    second = extract_folder(folder, layer=64, progress=False)
    fresh = extract_folder(folder, layer=64, progress=False, cache=False).features
    np.testing.assert_array_equal(second.features, fresh)  # not the stale row of the file replaced
    assert not np.allclose(second.features[1], first.features[1])
    np.testing.assert_array_equal(second.features[[0, 2]], first.features[[0, 2]])
    assert (first.cache_status, second.cache_status) == ("written", "updated") and not second.from_cache
    assert embedded[:2] == [3, 1]  # the second run sent only the replaced file through the network

    # Touched but unchanged (same bytes, new mtime): the content decides, nothing is recomputed.
    stat = (folder / "0.ppm").stat()
    os.utime(folder / "0.ppm", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert extract_folder(folder, layer=64, progress=False).from_cache


def test_no_cache_replaces_the_entry_so_the_next_cached_run_is_fresh(inception, tmp_path, capsys, feature_cache):
    a, b = ppm_folder(tmp_path / "a", 3, seed=0), ppm_folder(tmp_path / "b", 3, seed=10)
    fid = ("fid", a, b, "--dims", "64", "--json", "--no-progress")
    code, out, err = run_cli(capsys, *fid)
    assert code == 0, err
    stale = json.loads(out)

    for i in range(3):
        replace_keeping_size_and_mtime(b / f"{i}.ppm", seed=20 + i)
    code, out, err = run_cli(capsys, *fid, "--no-cache")
    assert code == 0, err
    fresh = json.loads(out)
    assert fresh["value"] != pytest.approx(stale["value"], rel=1e-6)
    code, out, err = run_cli(capsys, *fid)
    assert code == 0, err
    again = json.loads(out)
    assert again["value"] == fresh["value"]  # the entry --no-cache wrote, not the stale one

    statuses = [[c["status"] for c in run["cache"]] for run in (stale, fresh, again)]
    assert statuses == [["written", "written"], ["replaced", "replaced"], ["read", "read"]]
    assert all(Path(c["file"]).is_file() and Path(c["file"]).parent == feature_cache / "features"
               for c in again["cache"])


def test_verbose_prints_where_the_cache_entries_are(inception, tmp_path, capsys):
    a, b = ppm_folder(tmp_path / "a", 2, seed=0), ppm_folder(tmp_path / "b", 2, seed=5)
    code, out, err = run_cli(capsys, "fid", a, b, "--dims", "64", "--no-progress", "--verbose")
    assert code == 0, err
    lines = [line.strip() for line in out.splitlines() if line.strip().startswith("cache: ")]
    assert len(lines) == 2 and all(f"written; {folder})" in line for line, folder in zip(lines, (a, b)))
    assert all(Path(line.split()[1]).is_file() for line in lines)
    code, out, _ = run_cli(capsys, "fid", a, b, "--dims", "64", "--no-progress")
    assert "cache:" not in out  # only when asked


def test_least_recently_used_entries_go_first_under_percept_cache_max(inception, tmp_path, monkeypatch,
                                                                       feature_cache):
    folders = [ppm_folder(tmp_path / name, 2, seed=s) for name, s in (("a", 0), ("b", 5), ("c", 9))]
    entries = {}
    for folder in folders[:2]:
        entries[folder.name] = extract_folder(folder, layer=64, progress=False).cache_file
    entry_size = max(p.stat().st_size for p in entries.values())
    monkeypatch.setenv("PERCEPT_CACHE_MAX", str(int(2.5 * entry_size)))  # room for two entries, not three
    now = time.time()
    os.utime(entries["a"], (now - 200, now - 200))  # a written first, b later …
    os.utime(entries["b"], (now - 100, now - 100))
    assert extract_folder(folders[0], layer=64, progress=False).from_cache  # … but a read since: b is the LRU

    entries["c"] = extract_folder(folders[2], layer=64, progress=False).cache_file
    assert entries["a"].is_file() and entries["c"].is_file() and not entries["b"].exists()
    assert sum(p.stat().st_size for p in (feature_cache / "features").glob("*.npz")) <= 2.5 * entry_size
    assert extract_folder(folders[0], layer=64, progress=False).from_cache
    assert not extract_folder(folders[1], layer=64, progress=False).from_cache


def test_an_entry_larger_than_the_bound_is_not_kept_and_a_bad_bound_fails_early(inception, tmp_path, monkeypatch,
                                                                                 feature_cache, embedded):
    folder = ppm_folder(tmp_path / "imgs", 2)
    monkeypatch.setenv("PERCEPT_CACHE_MAX", "1K")
    with pytest.warns(UserWarning, match="PERCEPT_CACHE_MAX"):
        result = extract_folder(folder, layer=64, progress=False)
    assert result.cache_status == "not written" and result.cache_file is None
    assert not list((feature_cache / "features").glob("*"))  # no temporary file left either
    monkeypatch.setenv("PERCEPT_CACHE_MAX", "lots")
    with pytest.raises(ValueError, match=r"PERCEPT_CACHE_MAX='lots'.*2G"):
        extract_folder(folder, layer=64, progress=False)
    assert embedded == [2]  # refused before any computation
    for text, size in [("500M", 500 * 2**20), ("2G", 2 * 2**30), ("1.5 GB", int(1.5 * 2**30)), ("0", 0)]:
        monkeypatch.setenv("PERCEPT_CACHE_MAX", text)
        assert cache_limit() == size


def test_orphaned_temporary_files_are_removed_when_old(inception, tmp_path, feature_cache):
    cache = feature_cache / "features"
    cache.mkdir(parents=True)
    orphan, live = cache / "0123abcd.k1ll3d.tmp", cache / "4567ef01.wr1t1ng.tmp"
    orphan.write_bytes(b"half an entry")
    live.write_bytes(b"an entry being written now")
    old = time.time() - ORPHAN_AGE_S - 60
    os.utime(orphan, (old, old))
    extract_folder(ppm_folder(tmp_path / "imgs", 2), layer=64, progress=False)
    assert not orphan.exists() and live.exists()
