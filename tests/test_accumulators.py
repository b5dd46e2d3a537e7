"""Streaming FID / KID accumulators against pytorch-fid and torchmetrics; merge, reset, fixed real statistics;
and the LPIPS diversity score against the ``lpips`` package pair by pair.

CLIPScore's accumulator is tested with the formula in tests/test_clip_score.py.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
import torch

from percept_lib.extractors.inception import inception_layer
from percept_lib.metrics.accumulators import FID, KID
from percept_lib.metrics.diversity import lpips_diversity, pairwise_lpips
from percept_lib.metrics.stats import FeatureStats


@lru_cache(maxsize=None)
def images() -> torch.Tensor:
    """10 crops of 48 px: 5 'real', 5 'generated' (crops of other photos)."""
    from percept_lib.data import photos, random_crops

    real = random_crops(photos(("astronaut", "chelsea"), 128), 5, 48, seed=0)
    fake = random_crops(photos(("coffee", "rocket"), 128), 5, 48, seed=1)
    return torch.cat([real, fake])


@lru_cache(maxsize=None)
def pytorch_fid_model(dims: int):
    from pytorch_fid.inception import InceptionV3

    return InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[dims]]).eval()


@lru_cache(maxsize=None)
def pytorch_fid_activations(dims: int) -> np.ndarray:
    """pytorch-fid's features of images() (its model resizes bilinearly, as our "pytorch-fid" mode)."""
    model = pytorch_fid_model(dims)
    with torch.no_grad():
        out = model(images())[0]
    return torch.nn.functional.adaptive_avg_pool2d(out, 1).flatten(1).double().numpy()


def test_fid_streams_shards_merge_and_equal_pytorch_fid(inception):
    from pytorch_fid.fid_score import calculate_frechet_distance

    x = images()
    first, second = FID(feature=64, resize="pytorch-fid"), FID(feature=64, resize="pytorch-fid")
    first.update(x[:2], real=True)
    first.update(x[5:6], real=False)
    second.update(x[2:5], real=True)
    second.update(x[6:8], real=False)
    second.update(x[8:], real=False)
    fid = first.merge(second)
    act = pytorch_fid_activations(64)
    reference = calculate_frechet_distance(act[:5].mean(0), np.cov(act[:5], rowvar=False),
                                           act[5:].mean(0), np.cov(act[5:], rowvar=False))
    assert fid.compute() == pytest.approx(reference, rel=1e-4)
    assert fid.weights_label == "pretrained"
    with pytest.raises(ValueError, match="resize"):
        FID(feature=64).merge(FID(feature=64, resize="pytorch-fid"))


def test_fixed_real_stats_survive_reset_and_refuse_real_updates(inception, tmp_path):
    x = images()
    computed = FID(feature=64)
    computed.update(x[:5], real=True)
    computed.update(x[5:], real=False)
    computed.real.save(tmp_path / "real.npz")
    fake_stats = computed.fake

    for real_stats in (tmp_path / "real.npz", computed.real, computed.real.compute()):
        fixed = FID(feature=64, real_stats=real_stats)
        fixed.fake = FeatureStats().merge(fake_stats)  # same generated features, without another forward pass
        assert fixed.compute() == pytest.approx(computed.compute(), rel=1e-9)
        fixed.reset()
        with pytest.raises(ValueError, match="at least 2"):
            fixed.compute()
        with pytest.raises(ValueError, match="real_stats"):
            fixed.update(x[:2], real=True)
    fixed.update(x[5:], real=False)  # the real side is still there after reset
    assert fixed.compute() == pytest.approx(computed.compute(), rel=1e-9)


def test_accumulator_input_errors(inception, tmp_path):
    fid = FID(feature=64)
    with pytest.raises(ValueError, match="real=True"):
        fid.update(images()[:2], real="yes")
    with pytest.raises(ValueError, match="divide by 255"):
        fid.update(images()[:2] * 255, real=True)
    with pytest.raises(ValueError, match="Inception layer"):
        FID(feature=1000)
    with pytest.raises(ValueError, match="no such statistics file"):
        FID(real_stats=tmp_path / "nope.npz")
    np.savez(tmp_path / "other.npz", mean=np.zeros(3))
    with pytest.raises(ValueError, match="'mu'"):
        FID(real_stats=tmp_path / "other.npz")
    with pytest.raises(ValueError, match="no real images"):
        KID(feature=64).compute()


@pytest.mark.parametrize("feature, layer", [(2048, "pool3"), ("768", "block768"), ("block192", "block192"), (64, "block64")])
def test_feature_names_follow_pytorch_fid_dims(feature, layer):
    assert inception_layer(feature) == layer


def test_kid_equals_torchmetrics_mmd_and_merges(inception):
    from torchmetrics.image.kid import poly_mmd

    x = images()
    kid = KID(feature=64, resize="pytorch-fid", num_subsets=1)  # one subset of all 5 + 5: the draw cannot matter
    kid.update(x[:2], real=True)
    kid.update(x[2:5], real=True)
    kid.update(x[5:], real=False)
    act = torch.from_numpy(pytorch_fid_activations(64))
    mean, std = kid.compute()
    assert mean == pytest.approx(float(poly_mmd(act[:5], act[5:])), rel=1e-4, abs=1e-7)
    assert std == 0.0

    merged = KID(feature=64, resize="pytorch-fid", num_subsets=1)
    other = KID(feature=64, resize="pytorch-fid", num_subsets=1)
    merged.real, merged.fake = kid.real[:1], kid.fake  # shard 1: the first real batch
    other.real = kid.real[1:]                           # shard 2: the second
    assert merged.merge(other).compute()[0] == pytest.approx(mean, rel=1e-12)
    kid.reset()
    with pytest.raises(ValueError, match="no real images"):
        kid.compute()


# ----------------------------------------------------------------------------------------------------
# Diversity: mean pairwise LPIPS
# ----------------------------------------------------------------------------------------------------

@pytest.fixture()
def lpips_reference(torch_home):
    import lpips

    torch_home.make("alexnet")
    return lpips.LPIPS(net="alex", pretrained=True, verbose=False).eval()


def test_pairwise_lpips_equals_the_lpips_package_pair_by_pair(lpips_reference):
    x = images()[3:7]  # two 'real', two 'generated'
    matrix = pairwise_lpips(x, net="alex", batch_size=3)
    assert matrix.shape == (4, 4) and matrix.dtype == torch.float64
    torch.testing.assert_close(matrix, matrix.T, rtol=0, atol=0)
    assert bool((matrix.diagonal() == 0).all())
    pairs = []
    with torch.no_grad():
        for i in range(4):
            for j in range(i + 1, 4):
                expected = float(lpips_reference(2 * x[i:i + 1] - 1, 2 * x[j:j + 1] - 1))
                assert float(matrix[i, j]) == pytest.approx(expected, rel=1e-4, abs=1e-6)
                pairs.append(float(matrix[i, j]))
    assert lpips_diversity(x, net="alex") == pytest.approx(np.mean(pairs), rel=1e-6)  # another batch size
    assert min(pairs) > 0


def test_diversity_of_copies_is_zero_and_one_image_is_an_error(torch_home):
    torch_home.make("alexnet")
    x = images()[:1].repeat(3, 1, 1, 1)
    assert lpips_diversity(x) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="at least 2"):
        lpips_diversity(images()[:1])
    with pytest.raises(ValueError, match="net="):
        lpips_diversity(images()[:2], net="resnet")
