"""The feature cache: features of a folder stored once, read back until a file, the network or its input changes.

Files live under ``$PERCEPT_CACHE/features`` (default ``~/.cache/percept_lib/features``, never inside the image
folder), one ``.npz`` per key: the folder, each file's relative name, size and mtime, the extractor, layer,
resize mode, precision and the weights file. Writes are atomic (a concurrent reader sees the old file or the
new one); an unreadable cache file is recomputed and overwritten.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import weights as W

# Bump when a change to the pipeline changes the features, so that old cache files are not read back.
CACHE_VERSION = 2


def cache_dir() -> Path:
    """``$PERCEPT_CACHE/features``, else ``$XDG_CACHE_HOME/percept_lib/features`` (default ``~/.cache``)."""
    root = os.environ.get("PERCEPT_CACHE")
    if root:
        return Path(root).expanduser() / "features"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()
    return base / "percept_lib" / "features"


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
    """The cache file for these files of ``root`` under ``signature`` (extractor, layer, resize, amp)."""
    entries = []
    for path in files:
        st = path.stat()
        entries.append([path.relative_to(root).as_posix(), st.st_size, st.st_mtime_ns])
    key = {"version": CACHE_VERSION, "folder": str(root.resolve()), "files": entries, **signature,
           "weights": _weights_identity(signature["extractor"])}
    return cache_dir() / f"{hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]}.npz"


def read_cache(path: Path):
    """(features float64, names, skipped [(name, reason)], weights label) or None when absent or unreadable."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            features = f["features"].astype(np.float64)
            names = [str(n) for n in f["names"]]
            skipped = list(zip((str(n) for n in f["skipped_names"]), (str(r) for r in f["skipped_reasons"])))
            label = str(f["weights"])
    except Exception:  # a truncated or foreign file: recompute (and overwrite it)
        return None
    if features.ndim != 2 or len(features) != len(names):
        return None
    return features, names, skipped, label


def write_cache(path: Path, features: np.ndarray, names: list[str], skipped: list[tuple[str, str]],
                label: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            # float32 is what the network produced: storing it loses nothing.
            np.savez(f, features=features.astype(np.float32), names=np.array(names, dtype=str),
                     skipped_names=np.array([n for n, _ in skipped], dtype=str),
                     skipped_reasons=np.array([r for _, r in skipped], dtype=str), weights=np.array(label))
        os.replace(tmp, path)  # atomic: a concurrent reader sees the old file or the new one, never half
    except OSError as err:
        warnings.warn(f"could not write the feature cache {path} ({err}); set PERCEPT_CACHE to a writable "
                      "folder to keep features between runs", stacklevel=3)
