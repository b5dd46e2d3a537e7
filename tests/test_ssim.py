"""SSIM equals scikit-image's Wang et al. settings (borders included); differentiable; bad input fails clearly."""
import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage.metrics import structural_similarity

from percept_lib.data import distort
from percept_lib.losses.ssim import SSIM, SSIMLoss, gaussian_filter, ssim, ssim_map

KINDS = ("blur", "noise", "jpeg", "shift", "colour", "downup")


def skimage_ssim(a: torch.Tensor, b: torch.Tensor, full: bool = False):
    """skimage on one C×H×W pair, in float64, with the settings its docs give for matching Wang et al."""
    a = a.permute(1, 2, 0).double().numpy()
    b = b.permute(1, 2, 0).double().numpy()
    return structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                 data_range=1, channel_axis=-1, full=full)


@pytest.mark.parametrize("kind", KINDS)
def test_equals_skimage_on_photos(photos_batch, kind):
    x = photos_batch
    y = torch.cat([distort(x[i:i + 1], kind, 0.3, seed=i) for i in range(len(x))])
    expected = torch.tensor([skimage_ssim(a, b) for a, b in zip(x, y)], dtype=torch.float64)
    got = ssim(x, y)
    assert got.shape == (4,) and got.dtype == torch.float32
    torch.testing.assert_close(got.double(), expected, atol=1e-4, rtol=0)
    assert float(expected.max() - expected.min()) > 1e-3  # the four pairs differ: the comparison is not vacuous


def test_full_map_equals_skimage_including_borders(photos_batch):
    # The mean crops the border; the map does not, so this checks scipy's "reflect" padding exactly.
    x = photos_batch[:1, :, :31, :40].double()
    y = distort(x, "noise", 0.5)
    _, expected = skimage_ssim(x[0], y[0], full=True)
    got = ssim_map(x, y)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-10, rtol=0)


def test_gaussian_filter_equals_scipy_even_when_the_image_is_smaller_than_the_window():
    a = np.random.default_rng(0).uniform(size=(2, 3, 4, 7))  # radius 5 > 4: the padding reflects twice
    expected = ndimage.gaussian_filter(a, sigma=(0, 0, 1.5, 1.5), truncate=3.5, mode="reflect")
    np.testing.assert_allclose(gaussian_filter(torch.from_numpy(a)).numpy(), expected, atol=1e-12, rtol=0)


def test_grayscale_equals_skimage_grayscale(photos_batch):
    x = photos_batch[:1].mean(dim=1, keepdim=True)
    y = distort(x.expand(-1, 3, -1, -1), "blur", 0.3)[:, :1]
    expected = structural_similarity(x[0, 0].double().numpy(), y[0, 0].double().numpy(), gaussian_weights=True,
                                     sigma=1.5, use_sample_covariance=False, data_range=1)
    assert float(ssim(x, y)) == pytest.approx(expected, abs=1e-4)


def test_identical_images_score_one_and_worse_images_score_lower(photos_batch):
    x = photos_batch
    torch.testing.assert_close(ssim(x, x), torch.ones(4), atol=1e-6, rtol=0)
    scores = [ssim(x, distort(x, "noise", s)) for s in (0.1, 0.3, 0.6)]
    assert bool((scores[0] > scores[1]).all() and (scores[1] > scores[2]).all())


def test_gradient_reaches_both_inputs(photos_batch):
    x = photos_batch[:2].clone().requires_grad_(True)
    y = distort(photos_batch[:2], "blur", 0.3).requires_grad_(True)
    loss = SSIMLoss()(x, y)
    loss.backward()
    assert loss.dim() == 0
    assert float(x.grad.abs().sum()) > 0 and float(y.grad.abs().sum()) > 0


def test_gradcheck_float64():
    g = torch.Generator().manual_seed(0)
    x = (0.1 + 0.8 * torch.rand(1, 3, 12, 13, generator=g, dtype=torch.float64)).requires_grad_(True)
    y = (0.1 + 0.8 * torch.rand(1, 3, 12, 13, generator=g, dtype=torch.float64)).requires_grad_(True)
    # fast_mode checks random directional derivatives: the full Jacobian would take ~1000 forward passes.
    assert torch.autograd.gradcheck(lambda a, b: ssim(a, b), (x, y), eps=1e-6, atol=1e-6, fast_mode=True)


def test_float64_in_float64_out(photos_batch):
    x, y = photos_batch[:2], distort(photos_batch[:2], "jpeg", 0.5)
    got = SSIM()(x.double(), y.double())
    assert got.dtype == torch.float64
    torch.testing.assert_close(got.float(), ssim(x, y), atol=1e-5, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_computes_statistics_in_float32(photos_batch, dtype):
    # In bfloat16 throughout, SSIM on these photos is off by ~0.03; the moments must be float32.
    x, y = photos_batch, distort(photos_batch, "noise", 0.2)
    expected = ssim(x.to(dtype).float(), y.to(dtype).float())  # the same (rounded) pixels, in float32
    got = SSIM()(x.to(dtype), y.to(dtype))
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)
    full_precision = ssim(x, y)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # would run the convolutions in bfloat16
        under_autocast = ssim(x, y)
    torch.testing.assert_close(under_autocast, full_precision, atol=1e-6, rtol=0)


def test_reductions(photos_batch):
    x, y = photos_batch, distort(photos_batch, "noise", 0.3)
    per_sample = ssim(x, y)
    assert SSIM()(x, y).shape == (4,)
    torch.testing.assert_close(SSIM(reduction="mean")(x, y), per_sample.mean())
    torch.testing.assert_close(SSIM(reduction="sum")(x, y), per_sample.sum())
    torch.testing.assert_close(SSIMLoss(reduction="none")(x, y), 1 - per_sample)
    loss = SSIMLoss()(x, y)
    assert loss.dim() == 0
    torch.testing.assert_close(loss, (1 - per_sample).mean())


def test_data_range_sets_the_constants(photos_batch):
    # C1 = (0.01 L)², C2 = (0.03 L)²: a larger L means larger constants, i.e. a score closer to 1.
    x, y = photos_batch[:1], distort(photos_batch[:1], "noise", 0.5)
    a = x[0].permute(1, 2, 0).double().numpy()
    b = y[0].permute(1, 2, 0).double().numpy()
    expected = structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                     data_range=2.0, channel_axis=-1)
    assert float(ssim(x, y, data_range=2.0)) == pytest.approx(expected, abs=1e-4)
    assert float(ssim(x, y, data_range=2.0)) > float(ssim(x, y))


@pytest.mark.parametrize("bad_y,message", [
    (torch.rand(1, 3, 16, 16) * 255, "divide by 255"),
    (torch.full((1, 3, 16, 16), float("nan")), "NaN"),
    (torch.rand(1, 3, 16, 20), "different shapes"),
    (torch.rand(3, 16, 16), "batch dimension"),
    (torch.rand(1, 4, 16, 16), "RGBA"),
])
def test_bad_inputs(bad_y, message):
    x = torch.rand(1, 3, 16, 16)
    with pytest.raises(ValueError, match=message):
        ssim(x, bad_y)
    with pytest.raises(ValueError, match=message):
        SSIMLoss()(x, bad_y)


def test_images_smaller_than_the_window():
    x = torch.rand(1, 3, 8, 30)
    with pytest.raises(ValueError, match=r"8×30 are smaller than the 11×11 SSIM window"):
        SSIM()(x, x)


@pytest.mark.parametrize("options,message", [
    ({"data_range": 0}, "data_range=0"),
    ({"sigma": -1.0}, "positive standard deviation"),
])
def test_bad_options(options, message):
    with pytest.raises(ValueError, match=message):
        SSIM(**options)
    with pytest.raises(ValueError, match=message):
        ssim(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16), **options)
