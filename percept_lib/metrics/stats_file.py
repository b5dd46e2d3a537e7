"""The ``.npz`` statistics file: what it holds, how it is written, and the one reader, which trusts nothing in it.

Format: pytorch-fid's keys ``mu`` (d) and ``sigma`` (d×d, with N−1), and ours also write ``n`` (a 0-d
integer), ``features`` (N×d, only when kept) and provenance strings (:data:`PROVENANCE_KEYS`, 0-d unicode
arrays). pytorch-fid and clean-fid read ``mu`` and ``sigma`` only, so they read our files; theirs have no ``n``
and no provenance, and are accepted as they are ("unknown").

A statistics file is input from anywhere — a colleague, a paper's release, a damaged download — and it goes
into linear algebra that turns nonsense into a plausible number. So the reader checks every array (kind of
file, dtype, shape, the count, symmetry of the whole of Σ) and says in one line which file is wrong and what to
do. Nothing is unpickled: a pickle can run code, so a file that holds one is refused, not loaded.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .features import validate_stats

# How the features were made: the extractor, its layer, the resize mode ('' where none applies), the weights
# label ('pretrained' / 'random weights (illustrative)'), the sha256 of the weights file ('' for random
# weights) and the version of percept_lib that wrote the file. N is the array ``n``.
PROVENANCE_KEYS = ("extractor", "layer", "resize", "weights", "weights_sha256", "percept_lib_version")

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a .npz is a zip archive (the second: an empty one)
_NPY_MAGIC = b"\x93NUMPY"
_WRITE_ONE = ("write one with `python -m percept_lib stats DIR -o FILE.npz` or "
              "np.savez(FILE, mu=features.mean(axis=0), sigma=np.cov(features, rowvar=False))")


def write_stats_npz(file, mu: np.ndarray, sigma: np.ndarray, n: int | None = None,
                    features: np.ndarray | None = None, provenance: dict | None = None) -> None:
    """Write statistics to ``file`` (a path or a binary file object) in the format above."""
    from .. import __version__

    provenance = {**(provenance or {}), "percept_lib_version": __version__}
    unknown = sorted(set(provenance) - set(PROVENANCE_KEYS))
    if unknown:
        raise ValueError(f"provenance keys {unknown} are not stored; use {', '.join(PROVENANCE_KEYS)}")
    arrays = {"mu": np.asarray(mu), "sigma": np.asarray(sigma)}
    if n is not None:
        arrays["n"] = np.int64(n)
    if features is not None:
        arrays["features"] = np.asarray(features)
    arrays.update({key: np.array(str(value)) for key, value in provenance.items()})
    np.savez(file, **arrays)


def read_stats_npz(path) -> dict:
    """The one reader of ``.npz`` statistics files (ours, pytorch-fid's, clean-fid's), every array checked.

    Returns ``{"mu", "sigma"}`` as float64 arrays, ``"n"`` (None when the file has no sample count, as
    pytorch-fid's), ``"features"`` (None unless kept) and ``"provenance"`` (a dict of the strings above, None
    for a file without them). A bad file raises a one-line ValueError that names it and says how to fix it.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such statistics file")
    _check_kind(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in ("mu", "sigma") if k not in f.files]
            if missing:
                raise ValueError(f"{path}: no array {missing[0]!r} (found {f.files}); a statistics file holds "
                                 f"'mu' and 'sigma': {_WRITE_ONE}")
            arrays = {key: _numbers(f, key, path) for key in ("mu", "sigma", "n", "features") if key in f.files}
            provenance = _provenance(f, path)
    except ValueError:
        raise
    except Exception as err:  # zip and zlib errors: a truncated or damaged archive
        raise ValueError(f"{path}: not a readable .npz statistics file ({type(err).__name__}: {err}); it may be "
                         "truncated: copy or write it again") from None
    n = _count(arrays["n"], path) if "n" in arrays else None
    try:
        mu, sigma = validate_stats(arrays["mu"], arrays["sigma"], str(path), exhaustive=True)
    except ValueError as err:
        raise ValueError(f"{err}; the file is damaged or not statistics of features: {_WRITE_ONE}") from None
    features = arrays.get("features")
    if features is not None and (features.ndim != 2 or features.shape[1] != mu.shape[0]
                                 or (n is not None and features.shape[0] != n)):
        raise ValueError(f"{path}: features have shape {'×'.join(map(str, features.shape))}, expected "
                         f"{n if n is not None else 'N'}×{mu.shape[0]} (n × the length of mu); write the file again")
    return {"mu": mu, "sigma": sigma, "n": n,
            "features": None if features is None else features.astype(np.float64), "provenance": provenance}


def _check_kind(path: Path) -> None:
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as err:
        raise ValueError(f"{path}: cannot read it ({err.strerror}); check its permissions") from None
    if head.startswith(_ZIP_MAGIC):
        return
    if head.startswith(_NPY_MAGIC):
        what = "a single .npy array, not a .npz archive of mu and sigma"
    elif head[:1] == b"\x80":
        what = "a Python pickle; statistics files are never unpickled (a pickle can run code)"
    else:
        what = f"not a .npz archive (it starts with {head!r}; text?)"
    raise ValueError(f"{path}: {what}; {_WRITE_ONE}")


def _numbers(f, key: str, path: Path) -> np.ndarray:
    try:
        array = f[key]
    except ValueError:  # numpy: object arrays need allow_pickle, which stays off
        raise ValueError(f"{path}: array {key!r} holds pickled Python objects, which are never loaded (a pickle "
                         f"can run code); store plain numbers: {_WRITE_ONE}") from None
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise ValueError(f"{path}: array {key!r} has dtype {array.dtype}, expected real numbers; {_WRITE_ONE}")
    return array


def _count(n: np.ndarray, path: Path) -> int:
    if n.shape != ():
        raise ValueError(f"{path}: n has shape {'×'.join(map(str, n.shape)) or '()'}, expected one number (the "
                         "count of images); store it as n=len(features)")
    value = float(n)
    if not value.is_integer() or value < 2:
        raise ValueError(f"{path}: n = {n.item()!r}; the count of images behind mu and sigma must be a whole "
                         "number ≥ 2 (a covariance needs two samples): recompute the statistics or drop n")
    return int(value)


def _provenance(f, path: Path) -> dict | None:
    found = {}
    for key in PROVENANCE_KEYS:
        if key not in f.files:
            continue
        try:
            value = f[key]
        except ValueError:
            value = None
        if value is None or value.shape != () or value.dtype.kind != "U":
            raise ValueError(f"{path}: {key!r} is not a text value; provenance entries are strings "
                             f"({', '.join(PROVENANCE_KEYS)}): write the file again")
        found[key] = str(value)
    return found if "extractor" in found else None
