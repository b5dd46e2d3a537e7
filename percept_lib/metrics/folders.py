"""Moved to :mod:`percept_lib.pipeline.folders`; kept only so that notebook 06's import keeps working.

Remove once the notebook imports ``from percept_lib.pipeline import clip_score_folder, fid_folders, kid_folders``.
"""
from ..pipeline.folders import clip_score_folder, fid_folders, kid_folders  # noqa: F401
