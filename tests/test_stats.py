"""FeatureStats: streaming and sharded statistics equal one pass (np.mean / np.cov), stay accurate for features
with a large mean, round-trip through .npz, and pytorch-fid reads the file."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from pytorch_fid import fid_score

from percept_lib.metrics import FeatureStats, fid_from_features, frechet_distance
from percept_lib.metrics.stats import read_stats_npz

# pytorch-fid and clean-fid pass sqrtm the `disp` argument that SciPy deprecates; not our concern here.
pytestmark = pytest.mark.filterwarnings("ignore:The `disp` argument is deprecated:DeprecationWarning")


def features(n=300, d=24, seed=0, offset=0.0):
    rng = np.random.default_rng(seed)
    return offset + np.maximum(rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) / np.sqrt(d), 0)


def test_streaming_updates_equal_numpy_mean_and_cov():
    x = features()
    stats = FeatureStats()
    for batch in np.array_split(x, [1, 2, 50, 50, 177]):  # includes batches of one row and an empty one
        stats.update(batch)
    mu, sigma = stats.compute()
    assert isinstance(mu, np.ndarray) and mu.dtype == np.float64
    assert stats.count == len(x) == len(stats)
    np.testing.assert_allclose(mu, x.mean(axis=0), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(sigma, np.cov(x, rowvar=False), rtol=1e-11, atol=1e-13)


def test_merge_of_shards_equals_one_pass_in_any_order():
    x = features(n=401, seed=1)
    one_pass = FeatureStats().update(x)
    shards = [FeatureStats().update(part) for part in np.array_split(x, [7, 130, 131, 300])]
    left = FeatureStats()
    for shard in shards:
        left.merge(shard)
    right = FeatureStats()
    for shard in reversed(shards):
        right.merge(shard)
    mu, sigma = one_pass.compute()
    for merged in (left, right):
        m, s = merged.compute()
        assert merged.count == one_pass.count
        np.testing.assert_allclose(m, mu, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(s, sigma, rtol=1e-11, atol=1e-13)


def test_large_mean_keeps_precision_where_the_textbook_formula_loses_it():
    # Features with mean 1e6 and spread ~1: (Σxxᵀ − Nμμᵀ)/(N−1) cancels ~12 of float64's 16 digits.
    x = features(n=2000, d=8, seed=2, offset=1e6)
    reference = np.cov(x, rowvar=False)  # np.cov centres first: accurate
    stats = FeatureStats()
    for batch in np.array_split(x, 40):
        stats.update(batch)
    _, sigma = stats.compute()
    error = np.abs(sigma - reference).max() / np.abs(reference).max()

    s, ss = x.sum(axis=0), x.T @ x
    naive = (ss - np.outer(s, s) / len(x)) / (len(x) - 1)
    naive_error = np.abs(naive - reference).max() / np.abs(reference).max()
    assert error < 1e-9
    assert naive_error > 1e3 * error  # the test would catch the textbook accumulator


def test_torch_batches_give_torch_results_on_their_device():
    x = torch.from_numpy(features(seed=3)).float()
    stats = FeatureStats(dim=24)
    for batch in x.split(64):
        stats.update(batch)
    mu, sigma = stats.compute()
    assert isinstance(sigma, torch.Tensor) and sigma.dtype == torch.float64 and sigma.device == x.device
    np.testing.assert_allclose(sigma.numpy(), np.cov(x.double().numpy(), rowvar=False), rtol=1e-11, atol=1e-13)


def test_memory_does_not_grow_with_n_unless_features_are_kept():
    stats = FeatureStats()
    for seed in range(5):
        stats.update(features(n=200, seed=seed))
    assert stats.m2.shape == (24, 24) and stats.mean.shape == (24,)
    with pytest.raises(ValueError, match="keep_features=True"):
        stats.features
    kept = FeatureStats(keep_features=True)
    x = features(n=50, seed=9)
    kept.update(x[:20]).update(x[20:])
    np.testing.assert_array_equal(kept.features, x)


def test_npz_round_trip(tmp_path):
    x = features(seed=4)
    stats = FeatureStats(keep_features=True).update(x)
    path = stats.save(tmp_path / "stats")  # .npz appended, as numpy does
    assert path.name == "stats.npz"
    with np.load(path) as data:
        assert {"mu", "sigma", "n", "features"} <= set(data.files)
        assert int(data["n"]) == len(x)
    loaded = FeatureStats.load(path)
    for a, b in zip(loaded.compute(), stats.compute()):
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-15)
    np.testing.assert_array_equal(loaded.features, x)
    more = features(n=40, seed=5)
    loaded.update(more)  # a loaded file with n keeps accumulating
    np.testing.assert_allclose(loaded.compute()[1], np.cov(np.vstack([x, more]), rowvar=False), rtol=1e-11, atol=1e-13)


PROVENANCE = {"extractor": "inception-fid", "layer": "pool3", "resize": "pytorch-fid", "weights": "pretrained",
              "weights_sha256": "ab" * 32}


def test_pytorch_fid_reads_our_files(tmp_path, monkeypatch):
    x, y = features(seed=6), features(seed=7, offset=0.2)
    with_provenance = FeatureStats().update(x)
    with_provenance.provenance = dict(PROVENANCE)  # the extra string arrays must not bother pytorch-fid
    path_x = with_provenance.save(tmp_path / "x.npz")
    path_y = FeatureStats().update(y).save(tmp_path / "y.npz")

    m, s = fid_score.compute_statistics_of_path(str(path_x), None, 50, 24, "cpu")
    np.testing.assert_allclose(m, x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(s, np.cov(x, rowvar=False), rtol=1e-11, atol=1e-13)

    # calculate_fid_given_paths builds an InceptionV3 before looking at the paths; for .npz paths the network
    # is never run, so a stand-in avoids downloading weights without changing what is computed.
    class NoInception(torch.nn.Module):
        BLOCK_INDEX_BY_DIM = {24: 3}

        def __init__(self, *args, **kwargs):
            super().__init__()

    monkeypatch.setattr(fid_score, "InceptionV3", NoInception)
    value = fid_score.calculate_fid_given_paths([str(path_x), str(path_y)], 50, "cpu", 24)
    assert value == pytest.approx(fid_from_features(x, y), rel=1e-9)


def test_load_a_file_without_count(tmp_path):
    x = features(seed=8)
    np.savez(tmp_path / "ref.npz", mu=x.mean(axis=0), sigma=np.cov(x, rowvar=False))  # as pytorch-fid writes
    stats = FeatureStats.load(tmp_path / "ref.npz")
    mu, sigma = stats.compute()
    np.testing.assert_array_equal(sigma, np.cov(x, rowvar=False))
    assert frechet_distance(mu, sigma, x.mean(axis=0), np.cov(x, rowvar=False)) < 1e-12
    with pytest.raises(ValueError, match="without a sample count"):
        stats.update(x)


def test_all_reduce_without_process_group_is_a_no_op():
    x = features(seed=9)
    stats = FeatureStats().update(x)
    before = stats.compute()
    stats.all_reduce()
    for a, b in zip(stats.compute(), before):
        np.testing.assert_array_equal(a, b)


def test_bad_input():
    stats = FeatureStats(dim=24)
    with pytest.raises(ValueError, match="does not match this accumulator's d=24"):
        stats.update(np.ones((3, 5)))
    with pytest.raises(ValueError, match=r"got shape \(2, 3, 4\); pass N×d feature vectors"):
        stats.update(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match="NaN or Inf"):
        stats.update(np.full((3, 24), np.inf))
    stats.update(np.ones((1, 24)))
    with pytest.raises(ValueError, match="at least 2 feature vectors"):
        stats.compute()
    with pytest.raises(ValueError, match="dim must be a positive integer"):
        FeatureStats(dim=0)


def test_provenance_round_trips_as_plain_string_arrays(tmp_path):
    import percept_lib

    stats = FeatureStats().update(features(seed=10))
    stats.provenance = dict(PROVENANCE)
    path = stats.save(tmp_path / "s.npz")
    with np.load(path, allow_pickle=False) as f:  # readable without pickle, as pytorch-fid and clean-fid open it
        stored = {k: str(f[k]) for k in f.files if f[k].dtype.kind == "U"}
    assert stored == {**PROVENANCE, "percept_lib_version": percept_lib.__version__}
    loaded = FeatureStats.load(path)
    assert loaded.provenance == {**PROVENANCE, "percept_lib_version": percept_lib.__version__}
    assert read_stats_npz(path)["provenance"]["resize"] == "pytorch-fid"
    plain = tmp_path / "plain.npz"
    np.savez(plain, mu=np.zeros(3), sigma=np.eye(3))  # as pytorch-fid writes: no provenance
    assert read_stats_npz(plain)["provenance"] is None
    stats.provenance = {"made_by": "me"}
    with pytest.raises(ValueError, match="provenance keys \\['made_by'\\] are not stored"):
        stats.save(tmp_path / "t.npz")


def _asymmetric_outside_sampled_rows(d: int = 300) -> np.ndarray:
    # The cheap symmetry check reads 256 evenly spaced rows and columns; a file is checked everywhere, so the
    # damage goes where the cheap check does not look.
    sampled = set(np.unique(np.linspace(0, d - 1, 256).astype(np.int64)).tolist())
    i, j = [k for k in range(d) if k not in sampled][:2]
    sigma = np.eye(d)
    sigma[i, j] = 0.5
    return sigma


def _npy_bytes(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _bad_files():
    mu, sigma = np.zeros(8), np.eye(8)
    return [
        ("n_vector", lambda p: np.savez(p, mu=mu, sigma=sigma, n=np.array([3, 4])),
         "n has shape 2, expected one number"),
        ("n_negative", lambda p: np.savez(p, mu=mu, sigma=sigma, n=-5), "n = -5; .* whole number ≥ 2"),
        ("n_one", lambda p: np.savez(p, mu=mu, sigma=sigma, n=1), "n = 1; .* whole number ≥ 2"),
        ("n_fraction", lambda p: np.savez(p, mu=mu, sigma=sigma, n=7.5), "n = 7.5"),
        ("n_text", lambda p: np.savez(p, mu=mu, sigma=sigma, n="many"),
         "array 'n' has dtype <U4, expected real numbers"),
        ("pickled_array", lambda p: np.savez(p, mu=np.array([object()] * 8, dtype=object), sigma=sigma),
         "array 'mu' holds pickled Python objects, which are never loaded"),
        ("text_file", lambda p: p.write_text("mu,sigma\n0.1,0.2\n"), "not a .npz archive .*text"),
        ("pickle_file", lambda p: p.write_bytes(__import__("pickle").dumps({"mu": mu, "sigma": sigma})),
         "a Python pickle; statistics files are never unpickled"),
        ("npy_file", lambda p: p.write_bytes(_npy_bytes(mu)), "a single .npy array"),
        ("mu_matrix", lambda p: np.savez(p, mu=np.zeros((2, 8)), sigma=sigma),
         "mu has shape 2×8; expected a vector of 8"),
        ("sigma_asymmetric", lambda p: np.savez(p, mu=np.zeros(300), sigma=_asymmetric_outside_sampled_rows()),
         "sigma: not symmetric"),
        ("sigma_shape", lambda p: np.savez(p, mu=mu, sigma=np.eye(7)), "sigma: got shape \\(7, 7\\), expected a 8×8"),
        ("features_shape", lambda p: np.savez(p, mu=mu, sigma=sigma, n=5, features=np.zeros((4, 8))),
         "features have shape 4×8, expected 5×8"),
        ("truncated", lambda p: (np.savez(p, mu=mu, sigma=sigma), p.write_bytes(p.read_bytes()[:100])),
         "not a readable .npz statistics file .*truncated"),
    ]


@pytest.mark.parametrize("name, write, message", _bad_files(), ids=[case[0] for case in _bad_files()])
def test_untrusted_statistics_files_get_one_line_naming_the_file(tmp_path, name, write, message):
    path = tmp_path / f"{name}.npz"
    write(path)
    for read in (read_stats_npz, FeatureStats.load):
        with pytest.raises(ValueError, match=message) as err:
            read(path)
        text = str(err.value)
        assert text.startswith(str(path)) and "\n" not in text
        assert "allow_pickle" not in text  # never an invitation to unpickle
