"""The evaluation signature: one short string saying how a number was computed, in the style of sacreBLEU's.

    fid|enc:inception-fid/pool3|w:6726825d|resize:clean|n:50000/50000|seed:-|v:0.1.0

The fields, always in this order:

- the metric (``fid``, ``kid``, ``precision``, ``is``, ``cmmd``, ``pairs/lpips-alex``, …);
- ``enc``: the encoder and its layer (``-`` for a metric on pixels);
- ``w``: the weights: the first 8 hex digits of the weights file's sha256 (for pytorch-fid's Inception the
  ``6726825d`` in its file name), one per file joined by ``.`` for a model built from several (LPIPS: backbone
  then linear layers; DISTS: VGG16 then α/β), ``random`` under ``PERCEPT_WEIGHTS=random``, ``unknown`` for a
  statistics file that does not say, ``pretrained`` where no file on disk identifies them;
- ``resize``: the resize mode (``clean``, ``pytorch-fid``; ``-`` for encoders with their own fixed input);
- ``n``: N of each side, ``n/n_reference`` in the result's order (one number for a one-set metric);
- the metric's own parameters, only where it has some: ``k`` (precision, recall, density, coverage), ``splits``
  (IS), ``subsets`` (KID: count × size), ``est`` (CMMD's estimator), ``conv`` and ``prefix`` (CLIPScore, the
  prefix percent-encoded), ``amp:fp16`` for float16 features;
- ``seed``: of the random draw the number depends on (a generator's samples, KID's subsets); ``-`` for none;
- ``v``: the percept_lib version.

A field whose two sides differ (a statistics file without provenance, or ``--force-mix``) shows both values
joined by ``+``.

Two results may be ranked only when their signatures agree in every field but ``seed``: a different seed is
another draw of the same quantity (its noise is part of the difference, but nothing biases it).
:func:`differences` names each other field that differs and why it makes the numbers incomparable.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence
from urllib.parse import quote

from .. import weights as W

NONE = "-"
SEPARATOR = "|"
SIDES = "+"  # joins the two sides' values of a field where they differ
SHORT_HASH = 8
# Fields that may differ between results that are ranked (see the module docstring).
MAY_DIFFER = ("seed",)

# Per metric, the details that are part of its definition: (signature key, details key, how it is written).
_PARAMS = {
    "kid": (("subsets", lambda d: f"{d['num_subsets']}x{d['subset_size']}"),),
    "clip-score": (("conv", lambda d: d["convention"]),
                   ("prefix", lambda d: quote(d["prefix"], safe="") if d.get("prefix") else NONE)),
    "is": (("splits", lambda d: d["splits"]),),
    "cmmd": (("est", lambda d: d["estimator"]),),
    **{name: (("k", lambda d: d["k"]),) for name in ("precision", "recall", "density", "coverage")},
}

_WHY = {
    "metric": "they are different metrics",
    "enc": "features of different encoders or layers live in different spaces, so distances in one are not on "
           "the scale of another (and encoders rank models differently: Stein et al. 2023)",
    "w": "different weights give different features (random weights give illustrative numbers only)",
    "resize": "the resize filter alone moves FID by several points (Parmar et al. 2022, clean-fid); see notebook 03",
    "k": "k sets each k-NN ball's radius: a larger k gives larger balls and higher precision, recall, density "
         "and coverage",
    "splits": "IS is the mean over splits of N/splits images, and each split's estimate is biased in its size",
    "subsets": "KID's estimate and its std depend on the subsets' count and size (the size is capped at the "
               "smaller N)",
    "est": "the full-matrix (biased) and the unbiased CMMD estimators differ by a term of order 1/N",
    "conv": "the CLIPScore conventions are on different scales (2.5·max(cos, 0) vs 100·cos)",
    "prefix": "a caption prefix changes every text embedding, and so the score",
    "amp": "float16 features differ from float32 ones by ~1e-3 relative",
    "v": "the implementation may have changed between versions; recompute both with one version",
}
_N_WHY = {
    "fid": "FID is biased by ~k/N (Chong & Forsyth 2020): the same model scores worse at a smaller N, and k "
           "depends on the model; see notebook 03",
    "is": "IS is biased in N like FID (Chong & Forsyth 2020); see notebook 03",
    "kid": "KID is unbiased in N, but its subsets (their size capped at the smaller N) and its spread change "
           "with N",
    "cmmd": "the default CMMD estimator (full kernel matrices, diagonal included) is biased upward by "
            "~(1 − E k)/N",
    "knn": "k-NN radii shrink as N grows (the k-th neighbour comes closer), so precision, recall, density and "
           "coverage all move with N (Kynkäänniemi et al. 2019)",
}
_KNN = ("precision", "recall", "density", "coverage")
# Metrics between two sets: their n shows both sides, "-" for a side of unknown size (a pytorch-fid .npz).
_TWO_SETS = ("fid", "kid", "cmmd", *_KNN)


def clean(value) -> str:
    """A field value as written: ``-`` for none, never the separator (it would split the signature)."""
    text = NONE if value is None or value == "" else str(value)
    return text.replace(SEPARATOR, "/").replace(" ", "")


@dataclass(frozen=True)
class Signature:
    """A parsed signature: the metric and its ``(key, value)`` fields in order; ``str()`` writes it back."""

    metric: str
    fields: tuple[tuple[str, str], ...]

    def __str__(self) -> str:
        return SEPARATOR.join([self.metric, *(f"{key}:{value}" for key, value in self.fields)])

    def get(self, key: str) -> str | None:
        if key == "metric":
            return self.metric
        return dict(self.fields).get(key)

    @property
    def keys(self) -> tuple[str, ...]:
        return ("metric", *(key for key, _ in self.fields))

    @classmethod
    def parse(cls, text: str) -> "Signature":
        """The fields of a signature string, or a ValueError saying what is malformed."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"signature {text!r}: empty; a result's signature looks like "
                             "'fid|enc:inception-fid/pool3|w:6726825d|resize:clean|n:50000/50000|seed:-|v:0.1.0'")
        metric, *rest = text.strip().split(SEPARATOR)
        fields = []
        for part in rest:
            key, colon, value = part.partition(":")
            if not colon or not key:
                raise ValueError(f"signature {text!r}: field {part!r} is not key:value")
            fields.append((key, value))
        return cls(metric, tuple(fields))


def _sides(values: Sequence[str]) -> str:
    """One value where the sides agree, else each side's joined by ``+``."""
    return values[0] if len(set(values)) == 1 else SIDES.join(values)


def _files_code(encoder: str) -> str:
    """The short sha256 of each file the encoder loads, joined by ``.``; ``pretrained`` when one is missing."""
    from .provenance import weights_sha256

    digests = [weights_sha256(name) for name in W.model_files(encoder)]
    if not digests or not all(digests):
        return "pretrained"
    return ".".join(digest[:SHORT_HASH] for digest in digests)


def _per_side(label: str) -> list[str]:
    return [part.strip() for part in (label or "").split(" | ")]


def weights_code(extractor_label: str, weights_label: str, recorded_sha256: str = "") -> str:
    """``w``: per side of an ``"a | b"`` label, the weights files' short sha256 (see the module docstring),
    ``random``, ``unknown`` or ``pretrained`` (no registered file on disk). ``recorded_sha256``: the hash
    each side recorded (a statistics file's), used before the file on disk now."""
    from .provenance import UNKNOWN

    labels, encoders, recorded = _per_side(weights_label), _per_side(extractor_label), _per_side(recorded_sha256)
    codes = []
    for i in range(max(len(labels), len(recorded))):  # sides may agree on the label yet differ in the file
        label = labels[min(i, len(labels) - 1)]
        encoder = encoders[min(i, len(encoders) - 1)].split("/")[0]
        sha = recorded[min(i, len(recorded) - 1)]
        if label == W.RANDOM_LABEL:
            codes.append("random")
        elif label == UNKNOWN or encoder == UNKNOWN:
            codes.append(UNKNOWN)
        elif label == W.label(True):
            codes.append(sha[:SHORT_HASH] if sha else _files_code(encoder))
        else:
            codes.append(clean(label))
    return _sides(codes)


def _version() -> str:
    from .. import __version__

    return __version__


def build(metric: str, encoder: str, weights: str, resize: str, n: int | None, n_reference: int | None = None,
          params: Iterable[tuple[str, object]] = (), seed: int | None = None, version: str | None = None
          ) -> Signature:
    """A signature from its parts (``weights``: the ``w`` code, see :func:`weights_code`)."""
    two_sets = n_reference is not None or metric.split("/")[-1] in _TWO_SETS
    sizes = [clean(n)] + ([clean(n_reference)] if two_sets else [])
    fields = [("enc", clean(encoder.replace(" | ", SIDES) if encoder else "")), ("w", clean(weights)),
              ("resize", clean(resize.replace(" | ", SIDES) if resize else "")), ("n", "/".join(sizes))]
    fields += [(key, clean(value)) for key, value in params]
    fields += [("seed", clean(seed)), ("v", clean(version or _version()))]
    return Signature(clean(metric), tuple(fields))


def signature_of(result) -> Signature:
    """The signature of a :class:`~.results.MetricResult`, from its fields and the parameters in ``details``."""
    details = result.details or {}
    name = result.metric.split("/")[-1]
    params = [(key, write(details)) for key, write in _PARAMS.get(name, ()) if _has(details, write)]
    if details.get("amp"):
        params.append(("amp", "fp16"))
    weights = weights_code(result.extractor, result.weights, result.weights_sha256)
    return build(result.metric, result.extractor, weights, result.resize, result.n, result.n_reference, params,
                 details.get("seed"))


def _has(details: dict, write) -> bool:
    try:
        write(details)
    except KeyError:
        return False
    return True


@dataclass(frozen=True)
class Difference:
    """One field on which results disagree: each result's value (None: the field is absent), and why."""

    field: str
    values: tuple[str | None, ...]
    why: str
    blocking: bool

    def describe(self, labels: Sequence[str]) -> str:
        shown = "; ".join(f"{'(none)' if v is None else v} ({label})" for v, label in zip(self.values, labels))
        return f"{self.field} differs: {shown} — {self.why}"


def why(field: str, metric: str) -> str:
    """Why results that differ in ``field`` cannot be ranked (for ``metric``)."""
    if field == "n":
        name = metric.split("/")[-1]
        return _N_WHY.get("knn" if name in _KNN else name, "the estimate depends on N; compute both at one N")
    if field == "seed":
        return "another random draw (generated samples, KID subsets) of the same quantity: ranked, but the " \
               "difference includes that draw's noise"
    return _WHY.get(field, "it is part of how the number was computed")


def differences(signatures: Sequence[Signature]) -> list[Difference]:
    """Every field on which the signatures disagree, in signature order; ``blocking`` unless it may differ."""
    keys: list[str] = []
    for signature in signatures:
        keys += [key for key in signature.keys if key not in keys]
    metric = signatures[0].metric if signatures else ""
    found = []
    for key in keys:
        values = tuple(s.get(key) for s in signatures)
        if len(set(values)) > 1:
            found.append(Difference(key, values, why(key, metric), key not in MAY_DIFFER))
    return found


__all__ = ["Difference", "MAY_DIFFER", "Signature", "build", "differences", "signature_of", "weights_code", "why"]
