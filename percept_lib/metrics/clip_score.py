"""CLIPScore: how well a caption describes an image, read off CLIP's joint embedding space.

Hessel, Holtzman, Forbes, Le Bras, Choi, "CLIPScore: A Reference-free Evaluation Metric for Image Captioning",
EMNLP 2021. Per image–caption pair

    CLIP-S(c, v) = w · max(cos(E_image, E_text), 0),   w = 2.5,

averaged over the pairs. Their captions get the prompt prefix "A photo depicts" (:data:`HESSEL_PREFIX`).

torchmetrics' ``CLIPScore`` reports a different number under the same name, twice over (read in
``torchmetrics/functional/multimodal/clip_score.py``): the scale is 100, not 2.5, and the clip at 0 applies to
the *mean* over the pairs, ``max(mean(100 · cos), 0)``, not to each pair. Where every cosine is positive the
two differ by the factor 40 exactly; where some are negative they differ in more than scale. Papers rarely
say which one they report — so the convention is an argument here, never a guess.

The formula on embeddings (:func:`clip_score_from_embeddings`) is kept apart from the model
(:func:`clip_score`), so that it can be checked on hand-made vectors.
"""
from __future__ import annotations

import warnings
from typing import NamedTuple, Sequence

import numpy as np
import torch

HESSEL_PREFIX = "A photo depicts"
HESSEL_WEIGHT = 2.5          # w of Hessel et al.: stretches the typical cosines (~0.2–0.4) toward [0, 1]
TORCHMETRICS_SCALE = 100.0   # torchmetrics' factor
CONVENTIONS = ("hessel", "torchmetrics")


class CLIPScoreResult(NamedTuple):
    """``score``: the reported number; ``per_sample``: float64 (N,) in the same units.

    Per sample: Hessel's ``2.5 · max(cos, 0)``; torchmetrics' ``100 · cos`` unclipped (it clips the mean only,
    so its ``score`` is ``max(per_sample.mean(), 0)``).
    """

    score: float
    per_sample: torch.Tensor


def check_convention(convention: str) -> str:
    if convention not in CONVENTIONS:
        raise ValueError(f"convention={convention!r}: use 'hessel' (Hessel et al. 2021: 2.5·max(cos, 0) per "
                         "sample) or 'torchmetrics' (max(mean(100·cos), 0))")
    return convention


def _as_embeddings(e, name: str) -> torch.Tensor:
    if isinstance(e, np.ndarray):
        e = torch.from_numpy(e)
    if not isinstance(e, torch.Tensor):
        raise ValueError(f"{name}: expected an N×d torch tensor or numpy array, got {type(e).__name__}")
    if e.dim() != 2 or e.shape[0] == 0 or e.shape[1] == 0:
        raise ValueError(f"{name}: expected N×d embeddings (one row per sample), got shape {tuple(e.shape)}")
    e = e.detach().to(torch.float64)
    if not bool(torch.isfinite(e).all()):
        raise ValueError(f"{name}: contains NaN or Inf; check the model that produced the embeddings")
    zero = (e.norm(dim=1) == 0).nonzero().flatten()
    if len(zero):
        raise ValueError(f"{name}: row {int(zero[0])} is all zeros, its cosine with anything is undefined; "
                         "drop that sample")
    return e


def cosine_similarities(image_embeddings, text_embeddings) -> torch.Tensor:
    """cos(E_image_i, E_text_i) for each row i, float64 (N,), on the embeddings' device."""
    img = _as_embeddings(image_embeddings, "image_embeddings")
    txt = _as_embeddings(text_embeddings, "text_embeddings")
    if img.shape != txt.shape:
        raise ValueError(f"image embeddings {tuple(img.shape)} and text embeddings {tuple(txt.shape)} differ in "
                         "shape; pass one caption per image, embedded by the same CLIP model")
    txt = txt.to(img.device)
    img = img / img.norm(dim=1, keepdim=True)
    txt = txt / txt.norm(dim=1, keepdim=True)
    return (img * txt).sum(dim=1)


def clip_score_from_cosines(cosines, convention: str = "hessel") -> CLIPScoreResult:
    """Score from per-pair cosines (what an accumulator keeps) under ``convention``."""
    check_convention(convention)
    cos = torch.as_tensor(cosines, dtype=torch.float64).detach().flatten()
    if cos.numel() == 0:
        raise ValueError("no image–caption pairs to score; pass at least one")
    if convention == "hessel":
        per_sample = HESSEL_WEIGHT * cos.clamp(min=0)   # clip each pair, then average
        return CLIPScoreResult(float(per_sample.mean()), per_sample)
    per_sample = TORCHMETRICS_SCALE * cos               # average, then clip the mean
    return CLIPScoreResult(max(float(per_sample.mean()), 0.0), per_sample)


def clip_score_from_embeddings(image_embeddings, text_embeddings, convention: str = "hessel") -> CLIPScoreResult:
    """CLIPScore of paired N×d image and text embeddings (row i of each belong together).

    The embeddings need not be normalized. ``convention``: ``"hessel"`` or ``"torchmetrics"`` (module docstring).
    """
    check_convention(convention)
    return clip_score_from_cosines(cosine_similarities(image_embeddings, text_embeddings), convention)


def with_prefix(texts: Sequence[str], prefix: str | None) -> list[str]:
    """Prepend ``prefix`` and one space to each caption, as Hessel et al.'s code does ("A photo depicts …")."""
    if isinstance(texts, str):
        texts = [texts]
    texts = list(texts)
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
    if bad:
        raise ValueError(f"texts: caption {bad[0]} is {texts[bad[0]]!r}; every image needs a non-empty caption string")
    if not prefix:
        return texts
    return [f"{prefix.rstrip()} {t}" for t in texts]


def default_clip_extractor():
    """CLIP ViT-B/32 with OpenAI's weights (open_clip, QuickGELU), shared and frozen."""
    from ..extractors import get_extractor

    return get_extractor("clip-vit-b-32")


def overlong_captions(texts: Sequence[str], tokenizer) -> list[tuple[int, int]]:
    """``(index, tokens)`` of each caption longer than the tokenizer's context (77 tokens for CLIP), counting
    the start- and end-of-text tokens it adds.

    open_clip's tokenizer cuts such a caption to its context length and puts the end-of-text token back in
    the last place, so the text encoder (which reads its embedding at that token) still works; but the words
    past the cut are never seen, so the score is that of a shorter caption.
    """
    context = getattr(tokenizer, "context_length", None)
    encode = getattr(tokenizer, "encode", None)
    if not context or encode is None:
        return []
    counts = ((i, len(encode(text)) + 2) for i, text in enumerate(texts))  # + start- and end-of-text
    return [(i, n) for i, n in counts if n > context]


def warn_overlong(texts: Sequence[str], tokenizer) -> int:
    """Warn, with their number, about the captions CLIP will truncate; returns that number."""
    overlong = overlong_captions(texts, tokenizer)
    if overlong:
        i, n = max(overlong, key=lambda item: item[1])
        context = tokenizer.context_length
        warnings.warn(f"{len(overlong)} of {len(texts)} caption(s) are longer than CLIP's {context} tokens and "
                      f"are cut to their first {context - 2} (the end-of-text token is kept); CLIP never sees the "
                      f"rest, so they are scored as shorter captions. The longest ({n} tokens): "
                      f"{texts[i][:60]!r}{'…' if len(texts[i]) > 60 else ''}; shorten them to keep every word",
                      stacklevel=3)
    return len(overlong)


@torch.no_grad()
def embed_texts(extractor, texts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
    """Text embeddings, in batches. Captions over CLIP's 77 tokens are truncated by the tokenizer (end-of-text
    token kept) and counted in a warning (:func:`warn_overlong`)."""
    tokenizer = getattr(extractor, "tokenizer", None)
    if tokenizer is not None:
        warn_overlong(texts, tokenizer)
    parts = [extractor.encode_text(list(texts[i: i + batch_size])) for i in range(0, len(texts), batch_size)]
    return torch.cat(parts)


@torch.no_grad()
def embed_images(extractor, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """Image embeddings (tap ``embedding``) of a canonical batch, in batches, on the extractor's device."""
    device = next(extractor.parameters()).device
    parts = [extractor(images[i: i + batch_size].to(device))["embedding"]
             for i in range(0, images.shape[0], batch_size)]
    return torch.cat(parts)


def clip_score(
    images: torch.Tensor,
    texts: Sequence[str],
    convention: str = "hessel",
    extractor=None,
    prefix: str | None = None,
    batch_size: int = 64,
) -> CLIPScoreResult:
    """CLIPScore of N images (canonical N×3×H×W in [0, 1]) against their N captions.

    ``prefix``: prepended to each caption; pass :data:`HESSEL_PREFIX` to reproduce Hessel et al. (their code
    adds it), leave ``None`` for torchmetrics' behaviour. ``extractor``: a CLIP extractor with the tap
    ``embedding`` and ``encode_text`` (default: ``get_extractor("clip-vit-b-32")``).
    """
    from ..images import validate_images

    check_convention(convention)
    images = validate_images(images)
    texts = with_prefix(texts, prefix)
    if len(texts) != images.shape[0]:
        raise ValueError(f"{images.shape[0]} images but {len(texts)} captions; pass one caption per image")
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size}: use a positive number")
    extractor = extractor if extractor is not None else default_clip_extractor()
    return clip_score_from_embeddings(embed_images(extractor, images, batch_size),
                                      embed_texts(extractor, texts), convention)
