"""Precision, recall, density and coverage: equal to the prdc package (Naeem et al.'s code) and to
torch-fidelity's precision / recall on the same features, exactly equal across block sizes and screen
precisions, ties decided as prdc decides them, the roles of real and generated, and bad input."""
from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch
from prdc import compute_prdc
from torch_fidelity.metric_prc import prc_features_to_metric

from percept_lib.metrics import precision_recall, prdc

prdc_module = importlib.import_module("percept_lib.metrics.prdc")  # the attribute `prdc` is the function

NAMES = ("precision", "recall", "density", "coverage")


def mixture(n: int, modes, d: int = 24, seed: int = 0, spread: float = 0.6) -> np.ndarray:
    """Samples from a mixture of Gaussians whose centres are fixed by the mode numbers, ReLU'd like CNN features."""
    centres = np.random.default_rng(1234).standard_normal((16, d)) * 2.0
    rng = np.random.default_rng(seed)
    picks = rng.choice(np.asarray(modes), n)
    return np.maximum(centres[picks] + spread * rng.standard_normal((n, d)), 0.0)


@pytest.fixture(scope="module")
def sets():
    real = mixture(400, range(8), seed=1)
    fake = mixture(310, range(5), seed=2, spread=0.8)  # drops three modes, blurrier: every metric below 1
    return real, fake


def reference(real, fake, k) -> dict:
    values = compute_prdc(real_features=real, fake_features=fake, nearest_k=k)
    return {name: float(values[name]) for name in NAMES}


def brute_force(real, fake, k) -> dict:
    """The definitions written out on full float64 distance matrices from difference vectors (open balls)."""
    def sq(a, b):
        return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)

    r_real = np.sort(sq(real, real), axis=1)[:, k]
    r_fake = np.sort(sq(fake, fake), axis=1)[:, k]
    cross = sq(real, fake)
    in_real_ball = cross < r_real[:, None]
    return {
        "precision": float(in_real_ball.any(0).mean()),
        "recall": float((cross < r_fake[None, :]).any(1).mean()),
        "density": float(in_real_ball.sum()) / (k * len(fake)),
        "coverage": float(in_real_ball.any(1).mean()),
    }


def assert_same(ours, expected):
    assert list(ours) == list(expected)
    for name in expected:
        assert ours[name] == pytest.approx(expected[name], rel=1e-12, abs=0), name


@pytest.mark.parametrize("k", [1, 3, 5, 10])
def test_equals_the_prdc_package_with_unequal_set_sizes(sets, k, capsys):
    real, fake = sets
    expected = reference(real, fake, k)
    assert 0.05 < min(expected.values()) and max(expected["precision"], expected["recall"]) < 1  # not degenerate
    ours = prdc(real, fake, k=k)
    assert_same(ours, expected)
    assert (ours.n_real, ours.n_fake, ours.k) == (400, 310, k)


def test_float32_torch_input_equals_the_package_on_the_same_float32_values(sets, capsys):
    real, fake = (torch.from_numpy(s).float() for s in sets)
    assert_same(prdc(real, fake), reference(real.numpy(), fake.numpy(), 5))


@pytest.mark.parametrize("k", [3, 5])
def test_precision_recall_equals_torch_fidelity(sets, k):
    real, fake = sets
    # torch-fidelity ≥ 0.4 takes (generated, real): its features_1 is input1, the generated images.
    expected = prc_features_to_metric(
        torch.from_numpy(fake), torch.from_numpy(real), prc_neighborhood=k, prc_batch_size=128,
        save_cpu_ram=False, verbose=False,
    )
    ours = precision_recall(real, fake, k=k)
    assert list(ours) == ["precision", "recall"]
    assert ours["precision"] == pytest.approx(expected["precision"], rel=1e-6)  # torch-fidelity: float32 mean
    assert ours["recall"] == pytest.approx(expected["recall"], rel=1e-6)
    assert abs(ours["precision"] - ours["recall"]) > 0.01  # so that a swap of roles would show


def test_two_ks_share_one_search_and_give_each_ks_own_numbers(sets, monkeypatch):
    """precision_recall_k: precision and recall at their paper's k = 3 next to density and coverage at k = 5,
    each equal to the prdc package at its k, from the blocks of one single-k call (a spy counts them)."""
    real, fake = sets
    knn = importlib.import_module("percept_lib.metrics.knn")
    screened, calls = knn._screened_block, []
    monkeypatch.setattr(knn, "_screened_block", lambda *args: calls.append(1) or screened(*args))
    single = prdc(real, fake, k=5, chunk_size=128)
    blocks_single_k = len(calls)
    both = prdc(real, fake, k=5, precision_recall_k=3, chunk_size=128)
    assert len(calls) == 2 * blocks_single_k
    at3, at5 = reference(real, fake, 3), reference(real, fake, 5)
    assert (both["precision"], both["recall"]) == (at3["precision"], at3["recall"])
    assert (both["density"], both["coverage"]) == (at5["density"], at5["coverage"]) == \
        (single["density"], single["coverage"])
    assert dict(precision_recall(real, fake, k=3)) == {n: both[n] for n in ("precision", "recall")}
    assert (both.k, both.precision_recall_k) == (5, 3) and "precision/recall k=3" in repr(both)


def test_swapping_the_sets_swaps_precision_with_recall(sets):
    real, fake = sets
    forward, backward = precision_recall(real, fake), precision_recall(fake, real)
    assert forward["precision"] == backward["recall"] and forward["recall"] == backward["precision"]


@pytest.mark.parametrize("chunk_size", [3, 7, 64])
def test_blocks_of_any_size_give_exactly_the_unblocked_result(sets, chunk_size):
    real, fake = sets
    assert prdc(real, fake, k=4, chunk_size=chunk_size) == prdc(real, fake, k=4, chunk_size=10_000)


def test_float32_screen_gives_exactly_the_float64_screen_result(sets, monkeypatch):
    real, fake = sets
    screened32 = prdc(real, fake, k=5, chunk_size=100)
    monkeypatch.setattr(prdc_module, "screen_dtype", lambda device: torch.float64)
    assert prdc(real, fake, k=5, chunk_size=100) == screened32


def test_ties_and_duplicates_are_decided_like_the_package():
    # Binary features: every distance is a small integer, so ties are everywhere and exact in any arithmetic;
    # the screen cannot settle them and every one goes through the float64 decision.
    rng = np.random.default_rng(5)
    real = (rng.random((150, 12)) < 0.3).astype(np.float64)
    fake = (rng.random((120, 12)) < 0.4).astype(np.float64)
    for k in (2, 5):
        expected = brute_force(real, fake, k)
        assert_same(prdc(real, fake, k=k, chunk_size=32), expected)
        assert_same(expected, reference(real, fake, k))


def test_decisions_in_many_small_float64_batches_give_the_same_result(monkeypatch):
    rng = np.random.default_rng(5)
    real = (rng.random((150, 12)) < 0.3).astype(np.float64)  # binary: many pairs too close to call
    fake = (rng.random((120, 12)) < 0.4).astype(np.float64)
    expected = prdc(real, fake, k=3)
    monkeypatch.setattr(importlib.import_module("percept_lib.metrics.knn"), "BATCH", 24)  # two rows per batch
    assert prdc(real, fake, k=3, chunk_size=16) == expected


def test_a_sample_repeated_more_than_the_kept_candidates_gets_its_radius_from_the_full_row():
    rng = np.random.default_rng(6)
    real = rng.standard_normal((200, 8))
    real[:30] = real[0]  # 30 copies: radius 0 for k < 30, more copies than the screen keeps as candidates
    fake = np.concatenate([real[:3], rng.standard_normal((97, 8))])
    assert_same(prdc(real, fake, k=5, chunk_size=16), brute_force(real, fake, 5))


def test_same_distribution_scores_near_one_and_a_collapsed_generator_loses_recall_and_coverage():
    real, same = mixture(600, range(8), seed=3), mixture(600, range(8), seed=4)
    collapsed = mixture(600, [0], seed=4)
    good, bad = prdc(real, same), prdc(real, collapsed)
    assert min(good.values()) > 0.7
    assert bad["recall"] < 0.3 and bad["coverage"] < 0.3
    assert bad["precision"] > 0.7  # the one mode it keeps is realistic


def test_a_bad_row_in_a_later_block_is_reported_with_its_row_in_the_whole_set():
    rng = np.random.default_rng(8)
    real, fake = rng.standard_normal((40, 4)).astype(np.float32), rng.standard_normal((30, 4))
    real[[17, 33], 1] = np.inf
    with pytest.raises(ValueError, match=r"real: 2 of 40 feature vectors contain NaN or Inf \(first at row 17\)"):
        prdc(real, fake, chunk_size=8)


def test_integer_and_half_precision_features_give_the_float64_result():
    rng = np.random.default_rng(9)
    real, fake = rng.integers(0, 4, (120, 6)), rng.integers(0, 5, (90, 6))
    expected = prdc(real.astype(np.float64), fake.astype(np.float64), k=3)
    assert prdc(real, fake, k=3) == expected
    assert prdc(torch.from_numpy(real).half(), torch.from_numpy(fake).half(), k=3) == expected  # small ints: exact


def test_repr_names_both_roles(sets):
    text = repr(prdc(*sets))
    assert "real N=400" in text and "generated M=310" in text and "k=5" in text


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda r, f: prdc(r, f, k=20), r"k=20 needs at least k \+ 1 = 21 samples in each set.*fake has 20"),
        (lambda r, f: prdc(r, f, k=0), "k must be a positive integer"),
        (lambda r, f: prdc(r, f, k=2.5), "k must be a positive integer"),
        (lambda r, f: prdc(r, f, chunk_size=0), "chunk_size must be a positive integer"),
        (lambda r, f: prdc(r, f[:, :3]), "feature dimensions differ: real has d=4, fake has d=3"),
        (lambda r, f: precision_recall(r, np.where(np.arange(20)[:, None] == 2, np.nan, f)),
         r"fake: 1 of 20 feature vectors contain NaN or Inf \(first at row 2\)"),
        (lambda r, f: prdc(r[0], f), r"real: got shape \(4,\)"),
    ],
)
def test_bad_input(call, message):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=message):
        call(rng.standard_normal((30, 4)), rng.standard_normal((20, 4)))
