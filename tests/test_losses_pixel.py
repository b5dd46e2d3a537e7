"""Pixel losses and PSNR: hand-computed values, skimage's PSNR, reductions, precision, bad input."""
import math

import numpy as np
import pytest
import torch

from percept_lib.losses import L1Loss, MSELoss, psnr


@pytest.fixture()
def hand_pair():
    """Image 0 differs by 0.1 everywhere; image 1 by 1.0 in one of its 12 values."""
    x = torch.zeros(2, 3, 2, 2)
    y = torch.zeros(2, 3, 2, 2)
    y[0] += 0.1
    y[1, 0, 0, 0] = 1.0
    return x, y


def test_mse_and_l1_by_hand_with_each_reduction(hand_pair):
    x, y = hand_pair
    mse = torch.tensor([0.01, 1 / 12])
    l1 = torch.tensor([0.1, 1 / 12])
    torch.testing.assert_close(MSELoss(reduction="none")(x, y), mse)
    torch.testing.assert_close(L1Loss(reduction="none")(x, y), l1)
    torch.testing.assert_close(MSELoss(reduction="sum")(x, y), mse.sum())
    torch.testing.assert_close(L1Loss()(x, y), l1.mean())
    # reduction="mean" over equal-size images is torch's own mean over every element
    torch.testing.assert_close(MSELoss()(x, y), torch.nn.functional.mse_loss(x, y))


def test_psnr_by_hand_and_infinite_for_identical_images(hand_pair):
    x, y = hand_pair
    torch.testing.assert_close(psnr(x, y), torch.tensor([20.0, 10 * math.log10(12)]))
    # the peak enters as data_range²: doubling it adds 20·log10(2) dB
    torch.testing.assert_close(psnr(x, y, data_range=2.0), psnr(x, y) + 20 * math.log10(2))
    same = psnr(x, x)
    assert same.shape == (2,) and bool(torch.isinf(same).all()) and bool((same > 0).all())


def test_psnr_matches_skimage():
    from skimage.metrics import peak_signal_noise_ratio

    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 9, 7, dtype=torch.float64, generator=g)
    y = (x + 0.05 * torch.randn(x.shape, dtype=torch.float64, generator=g)).clamp(0, 1)
    expected = [peak_signal_noise_ratio(a.numpy(), b.numpy(), data_range=1.0) for a, b in zip(x, y)]
    torch.testing.assert_close(psnr(x, y), torch.tensor(expected, dtype=torch.float64), rtol=1e-12, atol=0)


def test_gradient_reaches_the_input_and_precision_follows_it():
    x = torch.rand(2, 3, 5, 5, requires_grad=True)
    y = torch.rand(2, 3, 5, 5)
    MSELoss()(x, y).backward()
    torch.testing.assert_close(x.grad, 2 * (x - y).detach() / x.numel())
    assert MSELoss(reduction="none")(x.double(), y.double()).dtype == torch.float64
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.isfinite(L1Loss()(x, y))
    assert psnr(x.bfloat16(), y.bfloat16()).dtype == torch.float32  # PSNR is a metric: at least float32


BAD_INPUTS = [
    (lambda: torch.rand(1, 3, 8, 8) * 255, "divide by 255"),
    (lambda: torch.full((1, 3, 8, 8), float("nan")), "NaN"),
    (lambda: torch.rand(1, 3, 8, 9), "different shapes"),
    (lambda: torch.rand(3, 8, 8), "add the batch dimension"),
    (lambda: torch.rand(1, 4, 8, 8), "RGBA"),
    (lambda: torch.rand(1, 8, 8, 3), "channels-last"),
    (lambda: (torch.rand(1, 3, 8, 8) * 255).to(torch.uint8), "not floating point"),
    (lambda: torch.rand(1, 3, 8, 8) * 2 - 1, r"\[-1, 1\]: use \(x \+ 1\) / 2"),
    (lambda: np.random.rand(1, 3, 8, 8), "got a ndarray.*convert it with percept_lib.images.to_tensor"),
]


@pytest.mark.parametrize("metric", [MSELoss(), L1Loss(), psnr], ids=["MSELoss", "L1Loss", "psnr"])
@pytest.mark.parametrize("make_bad,message", BAD_INPUTS, ids=[m for _, m in BAD_INPUTS])
def test_bad_input_is_named_with_its_fix(metric, make_bad, message):
    with pytest.raises(ValueError, match=message):
        metric(torch.rand(1, 3, 8, 8), make_bad())


@pytest.mark.parametrize("data_range", [0, -1.0, float("inf"), "one"])
def test_bad_data_range(data_range):
    with pytest.raises(ValueError, match="data_range"):
        psnr(torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4), data_range=data_range)


def test_bad_reduction():
    with pytest.raises(ValueError, match=r"reduction='avg': use one of \('mean', 'sum', 'none'\)"):
        MSELoss(reduction="avg")
