"""One shape for every result: the value with what it needs to be read correctly, ``to_dict()`` and ``record()``.

An FID means nothing without N of each side, the extractor and layer, the resize mode and the weights;
a :class:`MetricResult` carries them, prints them (:meth:`provenance`) and appends them to the SQLite history,
and sums them up in its evaluation ``signature`` (:mod:`.signature`), e.g.
``fid|enc:inception-fid/pool3|w:6726825d|resize:clean|n:50000/50000|seed:-|v:0.1.0``.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class MetricResult:
    """One metric value: N of each side, extractor/layer, resize, weights, and metric-specific ``details``.

    ``signature`` (:mod:`.signature`) is filled in from the other fields when not given: the weights files'
    hashes are ``weights_sha256`` where the sides recorded theirs (statistics files), else looked up now, in
    the process that computed the value; ``details["seed"]`` is its seed.
    """

    metric: str
    value: float
    n: int | None
    n_reference: int | None = None
    std: float | None = None
    sources: tuple[str, ...] = ()
    extractor: str = ""
    resize: str = ""
    weights: str = "pretrained"
    details: dict = field(default_factory=dict)
    weights_sha256: str = ""  # per side, as ``weights``; empty where no side recorded one
    signature: str = ""

    def __post_init__(self):
        if not self.signature:
            from .signature import signature_of

            self.signature = str(signature_of(self))

    @property
    def higher_is_better(self) -> bool:
        from ..metrics.accumulators import higher_is_better

        return higher_is_better(self.metric)

    def to_dict(self) -> dict:
        return {"metric": self.metric, "value": self.value, "std": self.std, "n": self.n,
                "n_reference": self.n_reference, "sources": list(self.sources), "extractor": self.extractor,
                "resize": self.resize, "weights": self.weights, **self.details, "signature": self.signature}

    def provenance(self) -> str:
        resize = f", resize {self.resize}" if self.resize else ""
        return f"{self.extractor}{resize}; weights: {self.weights}"

    def record(self, db, tag: str = "", checkpoint: str = "") -> int:
        """Append this result to the SQLite results history ``db`` (see :mod:`percept_lib.pipeline.history`)."""
        from .history import record

        return record(db, self.metric, self.value, self.n, std=self.std, n_reference=self.n_reference,
                      folders=" | ".join(self.sources), extractor=self.extractor, resize=self.resize,
                      weights=self.weights, signature=self.signature, tag=tag, checkpoint=checkpoint,
                      extra={k: v for k, v in self.details.items() if k != "per_sample"})
