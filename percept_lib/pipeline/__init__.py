"""The pipeline layer: folders of images → features (cached, sharded) → the metrics of :mod:`percept_lib.metrics`.

Everything that touches files lives here, one idea per module; the math it calls takes features only.

- :mod:`.options` — :class:`RunOptions`: batch size, device, workers, cache, progress, amp, sharding
- :mod:`.loading` — list a folder, decode (one decoder: :func:`percept_lib.images.decode_image`), batch
- :mod:`.cache` — the feature cache under ``$PERCEPT_CACHE``
- :mod:`.extraction` — :class:`FeatureSpec` and :func:`extract_folder` for any embedding extractor
- :mod:`.sharding` — :func:`folder_stats`, sharded under torchrun, and the process group's lifetime
- :mod:`.results` — :class:`MetricResult`: one shape, ``to_dict()`` / ``record()``
- :mod:`.captions` — the ``file,caption`` CSV
- :mod:`.folders` — :func:`fid_folders`, :func:`kid_folders`, :func:`clip_score_folder`
- :mod:`.pairs`, :mod:`.gallery` — paired evaluation of two folders and its HTML report
"""
from .extraction import FeatureSpec, FolderFeatures, extract_folder, folder_features
from .folders import clip_score_folder, fid_folders, kid_folders
from .options import RunOptions
from .pairs import PairsResult, evaluate_pairs
from .results import MetricResult
from .sharding import folder_stats

__all__ = [
    "FeatureSpec", "FolderFeatures", "MetricResult", "PairsResult", "RunOptions", "clip_score_folder",
    "evaluate_pairs", "extract_folder", "fid_folders", "folder_features", "folder_stats", "kid_folders",
]
