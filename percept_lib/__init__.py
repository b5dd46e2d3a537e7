"""percept_lib: perceptual losses and image-quality metrics, with teaching notebooks.

Data flows one way: images (:mod:`percept_lib.images`) → extractors (:mod:`percept_lib.extractors`) →
features → losses (:mod:`percept_lib.losses`) or metrics (:mod:`percept_lib.metrics`); folders and files go
through the pipeline (:mod:`percept_lib.pipeline`). Pretrained files go through :mod:`percept_lib.weights`;
``python -m percept_lib`` is the command line.
"""
__version__ = "0.1.0"

from .pipeline.pairs import evaluate_pairs  # noqa: E402  (the most common job: score two folders pair by pair)

__all__ = ["evaluate_pairs", "__version__"]
