"""Where statistics came from, and the rule that keeps an FID from comparing features made differently.

An FID compares two Gaussians fitted to features, and it means something only when both sides' features
come from the same network, layer, resize mode and weights (Parmar et al. 2022: the resize alone moves FID
by several points). A folder's features are computed now, so its provenance is this run's
(:func:`run_provenance`); a statistics file carries its own (the strings of
:data:`~percept_lib.metrics.stats_file.PROVENANCE_KEYS`, written by :meth:`FeatureStats.save`), or none at
all (pytorch-fid's and clean-fid's files: "unknown", accepted — they cannot be checked, and the labels say so).
:func:`check_same_features` refuses two sides that differ, naming both values and the flag that fixes it,
unless the caller forces the comparison; :func:`joint_labels` labels a result from both sides.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from .. import weights as W

UNKNOWN = "unknown"
# What must agree, in the order a message lists it, with the flag that sets it for a folder.
_COMPARED = (("extractor", "--extractor"), ("layer", "--layer"), ("resize", "--resize"), ("weights", None),
             ("weights_sha256", None))


@functools.lru_cache(maxsize=8)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    return W.sha256(Path(path))  # keyed on size and mtime too: a replaced file is hashed again


def weights_sha256(artifact: str) -> str:
    """sha256 of the cached weights file of ``artifact`` (an extractor's weights artifact has its name), or ''
    when there is none on disk (the run itself then fails, naming the file)."""
    try:
        path = W.cached_path(artifact)
    except ValueError:  # not a registered artifact: no file to identify
        return ""
    if path is None:
        return ""
    st = path.stat()
    return _sha256(str(path.resolve()), st.st_size, st.st_mtime_ns)


def run_provenance(spec, weights_label: str | None = None) -> dict[str, str]:
    """The provenance of features computed with ``spec`` (a FeatureSpec) in this process.

    ``weights_label``: the label the extraction reported; default: what the weights mode will give
    (``PERCEPT_WEIGHTS=random`` or pretrained), known without building the network.
    """
    label = weights_label or W.label(not W.use_random())
    pretrained = label == W.label(True)
    return {"extractor": spec.extractor, "layer": spec.layer, "resize": spec.resize or "", "weights": label,
            "weights_sha256": weights_sha256(spec.extractor) if pretrained else ""}


@dataclass(frozen=True)
class Side:
    """One side of a comparison: its path, whether it is a statistics file, and its provenance (None: unknown)."""

    source: str
    is_file: bool
    provenance: dict | None

    def get(self, key: str) -> str:
        return UNKNOWN if self.provenance is None else self.provenance.get(key, "")


def _shown(key: str, value: str) -> str:
    if key == "weights_sha256":
        return f"sha256 {value[:12]}…" if value else "none"
    return repr(value) if value else "none"


def check_same_features(a: Side, b: Side, force: bool = False) -> None:
    """Raise a ValueError if ``a`` and ``b`` were made with different extractors, layers, resize modes or
    weights (a side without provenance cannot be checked and passes); ``force`` lets the comparison through.

    The message names both values of each difference and, when one side is a folder (computed now), the flags
    that compute it the way the statistics file was.
    """
    if force or a.provenance is None or b.provenance is None:
        return
    folder, stats_file = None, None  # a folder is computed now: it can be computed the file's way
    if a.is_file != b.is_file:
        folder, stats_file = (b, a) if a.is_file else (a, b)
    differences, fixes = [], []
    for key, flag in _COMPARED:
        va, vb = a.get(key), b.get(key)
        if va == vb or (key == "weights_sha256" and not (va and vb)):  # no file hash for random weights
            continue
        differences.append(f"{key.replace('_', ' ')} {_shown(key, va)} ({a.source}) vs {_shown(key, vb)} ({b.source})")
        if folder is None:
            continue
        wanted = stats_file.get(key)
        if flag:
            fixes.append(f"{flag} {wanted}" if wanted else f"no {flag}")
        elif key == "weights":
            fixes.append("PERCEPT_WEIGHTS=random" if wanted != W.label(True) else "PERCEPT_WEIGHTS unset")
        else:
            fixes.append("the weights file the statistics were made with")
    if not differences:
        return
    how = (f"compute {folder.source} the same way ({', '.join(fixes)})" if folder is not None
           else "recompute one side so that both match")
    raise ValueError(f"the two sides' features were made differently: {'; '.join(differences)}; a Fréchet distance "
                     f"across them mixes two feature spaces: {how}, or pass --force-mix to compare them anyway")


def joint_labels(a: Side, b: Side) -> tuple[str, str, str, str]:
    """(extractor/layer, resize, weights, weights sha256) labels of a comparison: a value where both sides
    agree, else ``"A-value | B-value"`` in the order of the sides ("unknown" for a side without provenance).

    The sha256 is what each side recorded: a statistics file's is that of the file it was made with, which
    need not be the one on this machine (``--force-mix``, or statistics made elsewhere)."""

    def label(side: Side, key: str) -> str:
        if side.provenance is None:
            return UNKNOWN
        if key == "extractor":
            return f"{side.get('extractor')}/{side.get('layer')}"
        return side.get(key)

    def joint(key: str) -> str:
        la, lb = label(a, key), label(b, key)
        return la if la == lb else f"{la} | {lb}"

    return joint("extractor"), joint("resize"), joint("weights"), joint("weights_sha256")


__all__ = ["Side", "UNKNOWN", "check_same_features", "joint_labels", "run_provenance", "weights_sha256"]
