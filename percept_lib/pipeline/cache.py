"""The feature cache: features of a folder stored once, each row read back while its file's bytes are the same.

Files live under ``$PERCEPT_CACHE/features`` (default ``~/.cache/percept_lib/features``, never inside the image
folder), one ``.npz`` entry per folder, list of file names, extractor, layer, resize mode, precision, pixel limit
and weights file. An entry holds, per file, a content hash of its bytes (BLAKE2b-128), its feature row or the
reason it could not be read. A row is reused only when the file hashes the same now, so a file replaced by another of the same
size and modification time (``cp -p``, ``rsync -a``, ``tar --mtime``, fixed-size BMP / PPM / TIFF samples) is
recomputed. Every file is hashed on every run: a (size, mtime, inode) memo would skip exactly those files. The
loader hashes the bytes it decodes, so a cold run reads each file once.

Writes are atomic (a temporary file renamed into place: a concurrent reader sees the old entry or the new one);
an unreadable entry is recomputed and replaced. The cache is bounded by ``$PERCEPT_CACHE_MAX`` (bytes, with a
K / M / G / T suffix in powers of 1024; default 5G; 0 keeps nothing): after each write the entries read least
recently are removed (a read touches its entry's modification time). Temporary files left by killed writes are
removed once they are older than :data:`ORPHAN_AGE_S`.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import weights as W

# Bump when a change to the pipeline changes the features or the entry's layout, so old entries are not read.
# 3: content hashes per file; EXIF orientation applied by the decoder.
CACHE_VERSION = 3
DEFAULT_MAX_BYTES = 5 * 2**30
# A live write renames its temporary file within seconds; one this old belongs to a process that was killed.
ORPHAN_AGE_S = 15 * 60
_SUFFIXES = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def cache_dir() -> Path:
    """``$PERCEPT_CACHE/features``, else ``$XDG_CACHE_HOME/percept_lib/features`` (default ``~/.cache``)."""
    root = os.environ.get("PERCEPT_CACHE")
    if root:
        return Path(root).expanduser() / "features"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()
    return base / "percept_lib" / "features"


def cache_limit() -> int:
    """The cache's size bound in bytes, from ``$PERCEPT_CACHE_MAX`` ("500M", "2G", "0"; default 5G)."""
    text = os.environ.get("PERCEPT_CACHE_MAX", "").strip()
    if not text:
        return DEFAULT_MAX_BYTES
    number, unit = text.rstrip("bB").rstrip(), ""
    if number and number[-1].upper() in _SUFFIXES:
        number, unit = number[:-1].strip(), number[-1].upper()
    try:
        size = float(number) * _SUFFIXES[unit]
    except ValueError:
        size = -1.0
    if not 0 <= size < float("inf"):
        raise ValueError(f"PERCEPT_CACHE_MAX={text!r}: use a size in bytes such as 500M, 2G or 0 (keep nothing)")
    return int(size)


def content_digest(data: bytes) -> str:
    """The hash that identifies a file's content in the cache (BLAKE2b, 128 bits, hex)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def file_digest(path: Path) -> str | None:
    """:func:`content_digest` of a file's bytes, or None when it cannot be read (the decoder will name it)."""
    try:
        return content_digest(Path(path).read_bytes())
    except OSError:
        return None


def _weights_identity(extractor: str) -> list:
    """The weights as the features see them: random (seeded, reproducible) or the file's path, size and mtime."""
    if W.weights_mode() == "random":
        return ["random"]
    path = W.cached_path(extractor)  # the weights artifact has the extractor's name
    if path is None:
        return ["missing"]
    st = path.stat()
    return [str(path.resolve()), st.st_size, st.st_mtime_ns]


def cache_path(root: Path, files: Sequence[Path], signature: dict) -> Path:
    """The entry for these files of ``root`` under ``signature`` (extractor, layer, resize, amp, pixel limit).

    The key names the files, not their content: the content is checked row by row (:meth:`CacheEntry.reusable`).
    """
    key = {"version": CACHE_VERSION, "folder": str(Path(root).resolve()),
           "files": [Path(f).relative_to(root).as_posix() for f in files], **signature,
           "weights": _weights_identity(signature["extractor"])}
    return cache_dir() / f"{hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]}.npz"


@dataclass
class CacheEntry:
    """Per file, in the folder's order: its name, content hash, feature row (zeros where unreadable) and the
    reason it could not be read ("" for a readable file); ``weights`` labels the weights that made the rows."""

    names: list[str]
    digests: list[str]
    features: np.ndarray
    reasons: list[str]
    weights: str

    def reusable(self, names: Sequence[str], digests: Sequence[str | None]) -> dict[int, int]:
        """{position in ``names``: row of this entry} for each file whose content hashes as it did."""
        rows = {(name, digest): row for row, (name, digest) in enumerate(zip(self.names, self.digests))}
        found = {i: rows.get((name, digest)) for i, (name, digest) in enumerate(zip(names, digests))}
        return {i: row for i, row in found.items() if row is not None and digests[i] is not None}


def read_cache(path: Path) -> CacheEntry | None:
    """The entry at ``path``, touched as just used; None when absent or unreadable (it is then recomputed)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            entry = CacheEntry([str(n) for n in f["names"]], [str(d) for d in f["digests"]],
                               f["features"].astype(np.float64), [str(r) for r in f["reasons"]], str(f["weights"]))
    except Exception:  # absent, truncated, foreign or an older layout: recompute (and replace it)
        return None
    if entry.features.ndim != 2 or not len(entry.names) == len(entry.digests) == len(entry.reasons) == len(
            entry.features):
        return None
    try:
        os.utime(path)  # least recently used = oldest modification time
    except OSError:
        pass  # a read-only cache still serves reads
    return entry


def write_cache(path: Path, entry: CacheEntry, limit: int | None = None) -> bool:
    """Store ``entry`` at ``path`` atomically, then keep the cache under ``limit`` bytes (default
    :func:`cache_limit`), removing the entries read least recently and orphaned temporary files.

    Returns whether the entry was kept: it is not when it alone exceeds the bound, or the folder is not writable
    (both warned about).
    """
    limit = cache_limit() if limit is None else limit
    if limit == 0:
        return False
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{path.stem}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            # float32 is what the network produced: storing it loses nothing.
            np.savez(f, names=np.array(entry.names, dtype=str), digests=np.array(entry.digests, dtype=str),
                     features=entry.features.astype(np.float32), reasons=np.array(entry.reasons, dtype=str),
                     weights=np.array(entry.weights))
        size = os.path.getsize(tmp)
        if size > limit:
            os.unlink(tmp)
            warnings.warn(f"features of {len(entry.names)} files take {size / 2**20:.1f} MiB, more than the whole "
                          f"cache may hold (PERCEPT_CACHE_MAX = {limit / 2**20:.1f} MiB); not cached: raise "
                          "PERCEPT_CACHE_MAX to keep them", stacklevel=3)
            return False
        os.replace(tmp, path)  # atomic: a concurrent reader sees the old file or the new one, never half
    except OSError as err:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        warnings.warn(f"could not write the feature cache {path} ({err}); set PERCEPT_CACHE to a writable "
                      "folder to keep features between runs", stacklevel=3)
        return False
    _evict(path.parent, keep=path, limit=limit)
    return True


def _evict(directory: Path, keep: Path, limit: int) -> None:
    """Remove the least recently used entries until the cache fits ``limit``; orphaned temporaries too."""
    entries, now = [], time.time()
    for item in os.scandir(directory):
        try:
            st = item.stat()
        except OSError:
            continue  # removed by a concurrent run
        if item.name.endswith(".tmp"):
            if now - st.st_mtime > ORPHAN_AGE_S:
                _remove(item.path)
        elif item.name.endswith(".npz"):
            entries.append((st.st_mtime, item.path, st.st_size))
    total = sum(size for _, _, size in entries)
    for _, victim, size in sorted(entries):  # oldest first
        if total <= limit:
            break
        if victim != str(keep):
            _remove(victim)
            total -= size


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass  # a concurrent run removed it first, or the folder is read-only: the next write tries again
