"""The pipeline layer: folders of images → features (cached, sharded) → the metrics of :mod:`percept_lib.metrics`.

Everything that touches files lives here, one idea per module; the math it calls takes features only.

- :mod:`.options` — :class:`RunOptions`: batch size, device, workers, cache, progress, amp, sharding
- :mod:`.loading` — list a folder, decode (one decoder: :func:`percept_lib.images.decode_image`), batch
- :mod:`.cache` — the feature cache under ``$PERCEPT_CACHE`` (keyed by each file's content hash, LRU-bounded)
- :mod:`.extraction` — :class:`FeatureSpec` and :func:`extract_folder` for any embedding extractor
- :mod:`.sharding` — :func:`folder_stats`, sharded under torchrun, and the process group's lifetime
- :mod:`.results` — :class:`MetricResult`: one shape, ``to_dict()`` / ``record()``
- :mod:`.provenance` — what a statistics file says about how it was made, and when two may be compared
- :mod:`.outputs` — every output checked before the computation and written atomically
- :mod:`.history` — the SQLite results history (its own table only; the regression rule is
  :mod:`percept_lib.metrics.regressions`)
- :mod:`.captions` — the ``file,caption`` CSV
- :mod:`.folders` — :func:`fid_folders`, :func:`kid_folders`, :func:`clip_score_folder`
- :mod:`.generative` — :func:`prdc_folders` (REAL folder first, GENERATED second), :func:`inception_score_folder`,
  :func:`cmmd_folders`
- :mod:`.generator` — a generator as input (one image per seed, nothing written to disk):
  :func:`generator_features`, :func:`generator_stats`, :func:`fid_generator`
- :mod:`.signature` — the evaluation signature every :class:`MetricResult` carries, and when two agree
- :mod:`.pairs`, :mod:`.gallery` — paired evaluation of two folders and its HTML report (:mod:`.pair_batches`:
  pairs of files → batches, unusable images skipped and named; :mod:`.pairs_result`: per-pair rows and summary)
"""
import importlib

# Where each public name lives; imported on first use, so that ``import percept_lib`` (which exports
# ``evaluate_pairs``) does not pull in every backbone.
_EXPORTS = {
    "FeatureSpec": "extraction", "FolderFeatures": "extraction", "extract_folder": "extraction",
    "folder_features": "extraction", "clip_score_folder": "folders", "fid_folders": "folders",
    "kid_folders": "folders", "RunOptions": "options", "PairsResult": "pairs", "evaluate_pairs": "pairs",
    "MetricResult": "results", "folder_stats": "sharding", "check_history": "history",
    "prdc_folders": "generative", "inception_score_folder": "generative", "cmmd_folders": "generative",
    "GeneratorFeatures": "generator", "generator_features": "generator", "generator_stats": "generator",
    "fid_generator": "generator", "Signature": "signature",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)


def __dir__():
    return __all__
