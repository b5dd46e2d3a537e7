"""CLIPScore: the formula on hand-made embeddings, the two conventions, torchmetrics parity, the accumulator.

The model itself (open_clip ViT-B/32 on real files) is compared with open_clip's own pipeline in
tests/test_cli_metrics.py; here a stub stands in for it, so the formula is checked without weights.
"""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from percept_lib.metrics.accumulators import CLIPScore
from percept_lib.metrics.clip_score import (
    HESSEL_PREFIX, clip_score, clip_score_from_cosines, clip_score_from_embeddings, with_prefix,
)


def pairs_with_cosines(cosines, d=4, seed=0):
    """Image/text embeddings (random norms, random directions) whose row-wise cosines are exactly ``cosines``."""
    g = torch.Generator().manual_seed(seed)
    img, txt = [], []
    for c in cosines:
        q, _ = torch.linalg.qr(torch.randn(d, 2, generator=g, dtype=torch.float64))
        u, v = q[:, 0], q[:, 1]
        img.append(u * (0.5 + torch.rand((), generator=g, dtype=torch.float64) * 3))
        txt.append((c * u + math.sqrt(1 - c * c) * v) * (0.5 + torch.rand((), generator=g, dtype=torch.float64)))
    return torch.stack(img), torch.stack(txt)


def test_hessel_formula_on_known_cosines():
    img, txt = pairs_with_cosines([0.30, 0.25, 0.35])
    score, per_sample = clip_score_from_embeddings(img, txt, "hessel")
    assert per_sample.tolist() == pytest.approx([0.75, 0.625, 0.875], abs=1e-12)  # 2.5 · cos
    assert score == pytest.approx(0.75, abs=1e-12)


def test_conventions_differ_by_forty_when_every_cosine_is_positive():
    img, txt = pairs_with_cosines([0.31, 0.12, 0.27, 0.05], seed=1)
    hessel = clip_score_from_embeddings(img, txt, "hessel")
    tm = clip_score_from_embeddings(img, txt, "torchmetrics")
    assert tm.score == pytest.approx(40 * hessel.score, rel=1e-12)
    torch.testing.assert_close(tm.per_sample, 40 * hessel.per_sample)


def test_conventions_clip_at_different_places():
    # cos = 0.5, -0.5, 0.2: Hessel clips each pair (0.5, 0, 0.2), torchmetrics clips the mean of (0.5, -0.5, 0.2).
    img, txt = pairs_with_cosines([0.5, -0.5, 0.2], seed=2)
    assert clip_score_from_embeddings(img, txt, "hessel").score == pytest.approx(2.5 * 0.7 / 3, abs=1e-12)
    tm = clip_score_from_embeddings(img, txt, "torchmetrics")
    assert tm.score == pytest.approx(100 * 0.2 / 3, abs=1e-10)
    assert tm.per_sample[1] == pytest.approx(-50.0, abs=1e-10)  # per pair unclipped
    # A negative mean: torchmetrics reports 0, Hessel still credits the one positive pair.
    img, txt = pairs_with_cosines([0.1, -0.4], seed=3)
    assert clip_score_from_embeddings(img, txt, "torchmetrics").score == 0.0
    assert clip_score_from_embeddings(img, txt, "hessel").score == pytest.approx(2.5 * 0.1 / 2, abs=1e-12)


class _FakeProcessor:
    """torchmetrics' processor interface; the 'pixels' of an image are its embedding."""

    def __init__(self, captions):
        self.index = {c: i for i, c in enumerate(captions)}

    def __call__(self, images=None, text=None, **_):
        if images is not None:
            return {"pixel_values": torch.stack(images)}
        ids = torch.tensor([[self.index[t]] for t in text])
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


class _FakeModel:
    config = SimpleNamespace()

    def __init__(self, text_embeddings):
        self.text_embeddings = text_embeddings

    def to(self, device):
        return self

    def get_image_features(self, pixel_values):
        return pixel_values.flatten(1)

    def get_text_features(self, input_ids, attention_mask):
        return self.text_embeddings[input_ids[:, 0]]


@pytest.mark.parametrize("cosines", [[0.3, 0.2, 0.25], [0.4, -0.6, 0.1], [-0.2, -0.1, 0.05]])
def test_torchmetrics_convention_equals_torchmetrics(cosines):
    from torchmetrics.functional.multimodal.clip_score import clip_score as tm_clip_score

    img, txt = pairs_with_cosines(cosines, d=6, seed=4)
    img, txt = img.float(), txt.float()
    captions = [f"caption {i}" for i in range(len(cosines))]
    reference = tm_clip_score(img[:, :, None, None], captions,
                              model_name_or_path=lambda: (_FakeModel(txt), _FakeProcessor(captions)))
    ours = clip_score_from_embeddings(img, txt, "torchmetrics").score
    assert ours == pytest.approx(float(reference), abs=1e-4)


def test_embedding_scale_and_numpy_input_do_not_matter():
    img, txt = pairs_with_cosines([0.2, 0.4], seed=5)
    a = clip_score_from_embeddings(img, txt).score
    b = clip_score_from_embeddings((7.0 * img).numpy(), (0.01 * txt).numpy()).score
    assert a == pytest.approx(b, rel=1e-12)


@pytest.mark.parametrize("img, txt, message", [
    (torch.ones(3, 4), torch.ones(2, 4), "one caption per image"),
    (torch.ones(3), torch.ones(3), "N×d"),
    (torch.tensor([[1.0, 0.0], [0.0, 0.0]]), torch.ones(2, 2), "all zeros"),
    (torch.tensor([[1.0, float("nan")]]), torch.ones(1, 2), "NaN"),
])
def test_bad_embeddings_are_explained(img, txt, message):
    with pytest.raises(ValueError, match=message):
        clip_score_from_embeddings(img, txt)


def test_unknown_convention_and_empty_input():
    with pytest.raises(ValueError, match="hessel"):
        clip_score_from_cosines([0.1], "openai")
    with pytest.raises(ValueError, match="at least one"):
        clip_score_from_cosines([], "hessel")


def test_prefix_is_joined_like_hessel_et_al():
    assert with_prefix(["a cat on a mat"], HESSEL_PREFIX) == ["A photo depicts a cat on a mat"]
    assert with_prefix(["x"], "A photo depicts ") == ["A photo depicts x"]
    assert with_prefix(["x"], None) == ["x"]
    with pytest.raises(ValueError, match="non-empty caption"):
        with_prefix(["ok", "  "], None)


class _StubCLIP(nn.Module):
    """Image embedding = mean colour; text embedding looked up by caption; records what it was asked."""

    def __init__(self, table: dict[str, list[float]]):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1), requires_grad=False)  # gives the stub a device
        self.table = table
        self.seen_texts: list[str] = []

    def forward(self, x):
        return {"embedding": x.mean(dim=(2, 3))}

    def encode_text(self, texts):
        self.seen_texts += list(texts)
        return torch.tensor([self.table[t] for t in texts])


def _coloured(colours):
    return torch.tensor(colours, dtype=torch.float32)[:, :, None, None].expand(-1, -1, 8, 8).contiguous()


def test_clip_score_on_images_uses_prefix_and_the_model_embeddings():
    images = _coloured([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    texts = ["red", "green", "blue"]
    table = {f"{HESSEL_PREFIX} red": [1.0, 1.0, 0.0], f"{HESSEL_PREFIX} green": [0.0, 1.0, 0.0],
             f"{HESSEL_PREFIX} blue": [-1.0, 0.0, 0.0]}
    stub = _StubCLIP(table)
    score, per_sample = clip_score(images, texts, extractor=stub, prefix=HESSEL_PREFIX, batch_size=2)
    assert stub.seen_texts == [f"{HESSEL_PREFIX} {t}" for t in texts]
    # cosines: 1/sqrt(2), 1, 0 (orthogonal) → 2.5 · those
    assert per_sample.tolist() == pytest.approx([2.5 / math.sqrt(2), 2.5, 0.0], abs=1e-6)
    assert score == pytest.approx((2.5 / math.sqrt(2) + 2.5) / 3, abs=1e-6)
    with pytest.raises(ValueError, match="one caption per image"):
        clip_score(images, texts[:2], extractor=stub)
    with pytest.raises(ValueError, match="divide by 255"):
        clip_score(images * 255, texts, extractor=stub)


def test_accumulator_streams_merges_and_resets():
    colours = [[1.0, 0.2, 0.0], [0.1, 1.0, 0.3], [0.0, 0.4, 1.0], [0.5, 0.5, 0.5]]
    texts = ["a", "b", "c", "d"]
    table = {"a": [1.0, 0.0, 0.0], "b": [0.0, 0.0, 1.0], "c": [-1.0, 0.0, 0.0], "d": [0.3, 0.3, 0.3]}
    images = _coloured(colours)
    for convention in ("hessel", "torchmetrics"):
        whole = clip_score(images, texts, convention=convention, extractor=_StubCLIP(table))
        first = CLIPScore(convention, extractor=_StubCLIP(table))
        first.update(images[:1], texts[:1])
        first.update(images[1:3], texts[1:3])
        second = CLIPScore(convention, extractor=_StubCLIP(table))
        second.update(images[3:], texts[3:])
        merged = first.merge(second).compute()
        assert merged.score == pytest.approx(whole.score, abs=1e-12)
        torch.testing.assert_close(merged.per_sample, whole.per_sample)
    first.reset()
    with pytest.raises(ValueError, match="update"):
        first.compute()
    with pytest.raises(ValueError, match="convention"):
        CLIPScore("hessel").merge(CLIPScore("torchmetrics"))


def test_accumulator_reports_the_torchmetrics_clip_after_the_mean():
    images = _coloured([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    table = {"x": [1.0, 0.0, 0.0], "y": [0.0, -1.0, 0.0]}  # cosines +1 and −1 → mean 0
    acc = CLIPScore("torchmetrics", extractor=_StubCLIP(table))
    acc.update(images, ["x", "y"])
    result = acc.compute()
    assert result.score == pytest.approx(0.0, abs=1e-9)
    assert np.allclose(result.per_sample.numpy(), [100.0, -100.0])


@pytest.fixture(scope="module")
def clip_tokenizer():
    """The tokenizer the CLIP extractor uses (open_clip's, for the same config); it needs no weights."""
    import open_clip
    from percept_lib.extractors.clip import CLIP_MODEL

    return open_clip.get_tokenizer(CLIP_MODEL)


def _caption_of(tokenizer, n_tokens: int) -> str:
    """A caption of exactly ``n_tokens`` text tokens (start- and end-of-text not counted)."""
    words = " ".join(["cat"] * n_tokens)
    assert len(tokenizer.encode(words)) == n_tokens
    return words


def test_truncation_keeps_the_end_of_text_token_and_the_count_agrees(clip_tokenizer):
    from percept_lib.metrics.clip_score import overlong_captions

    fits, cut = _caption_of(clip_tokenizer, 75), _caption_of(clip_tokenizer, 76)  # 75 + 2 = 77: the context
    tokens = clip_tokenizer([fits, cut, "a cat"])
    eot = clip_tokenizer.eot_token_id
    assert tokens.shape[1] == 77 and tokens[0, -1] == eot and tokens[1, -1] == eot
    # CLIP reads the text embedding at the highest token id, the end-of-text token: still there when cut.
    assert tokens.argmax(dim=1).tolist() == [76, 76, 3]
    assert tokens[1, 1:76].tolist() == clip_tokenizer.encode(cut)[:75]  # the 76th word is the one lost
    assert overlong_captions([fits, cut, "a cat"], clip_tokenizer) == [(1, 78)]


def test_overlong_captions_are_counted_in_a_warning(clip_tokenizer):
    from percept_lib.metrics.clip_score import embed_texts

    long = "a photograph of " + "a small grey cat sitting next to a large brown dog on a red mat, " * 8
    texts = ["red", long, "green", long + " again"]
    table = {t: [1.0, 0.0, 0.0] for t in texts}
    stub = _StubCLIP(table)
    stub.tokenizer = clip_tokenizer
    with pytest.warns(UserWarning, match=r"2 of 4 caption\(s\) are longer than CLIP's 77 tokens .*"
                                         r"end-of-text token is kept"):
        embed_texts(stub, texts)
    stub.seen_texts.clear()
    images = _coloured([[1.0, 0.0, 0.0]] * 4)
    with pytest.warns(UserWarning, match=r"2 of 4 caption"):  # and through clip_score
        clip_score(images, texts, extractor=stub, prefix=None)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        embed_texts(stub, ["red", "green"])  # short captions: no warning
