"""One shape for every result: the value with what it needs to be read correctly, ``to_dict()`` and ``record()``.

An FID means nothing without N of each side, the extractor and layer, the resize mode and the weights;
a :class:`MetricResult` carries them, prints them (:meth:`provenance`) and appends them to the SQLite history.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class MetricResult:
    """One metric value: N of each side, extractor/layer, resize, weights, and metric-specific ``details``."""

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

    @property
    def higher_is_better(self) -> bool:
        from ..metrics.accumulators import higher_is_better

        return higher_is_better(self.metric)

    def to_dict(self) -> dict:
        return {"metric": self.metric, "value": self.value, "std": self.std, "n": self.n,
                "n_reference": self.n_reference, "sources": list(self.sources), "extractor": self.extractor,
                "resize": self.resize, "weights": self.weights, **self.details}

    def provenance(self) -> str:
        resize = f", resize {self.resize}" if self.resize else ""
        return f"{self.extractor}{resize}; weights: {self.weights}"

    def record(self, db, tag: str = "", checkpoint: str = "") -> int:
        """Append this result to the SQLite results history ``db`` (see :mod:`percept_lib.pipeline.history`)."""
        from .history import record

        return record(db, self.metric, self.value, self.n, std=self.std, n_reference=self.n_reference,
                      folders=" | ".join(self.sources), extractor=self.extractor, resize=self.resize,
                      weights=self.weights, tag=tag, checkpoint=checkpoint,
                      extra={k: v for k, v in self.details.items() if k != "per_sample"})
