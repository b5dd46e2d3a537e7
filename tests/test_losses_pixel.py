"""Pixel losses and PSNR."""
import math

import pytest
import torch

from percept_lib.losses import L1Loss, MSELoss, psnr


def test_mse_l1_psnr_by_hand():
    x = torch.zeros(2, 3, 2, 2)
    y = torch.zeros(2, 3, 2, 2)
    y[0] += 0.1
    y[1, 0, 0, 0] = 1.0
    torch.testing.assert_close(MSELoss(reduction="none")(x, y), torch.tensor([0.01, 1 / 12]))
    torch.testing.assert_close(L1Loss(reduction="none")(x, y), torch.tensor([0.1, 1 / 12]))
    torch.testing.assert_close(MSELoss()(x, y), torch.tensor((0.01 + 1 / 12) / 2))
    torch.testing.assert_close(psnr(x, y), torch.tensor([20.0, 10 * math.log10(12)]))
    assert math.isinf(float(psnr(x, x)[0]))


def test_psnr_matches_skimage():
    from skimage.metrics import peak_signal_noise_ratio

    x, y = torch.rand(1, 3, 8, 8, dtype=torch.float64), torch.rand(1, 3, 8, 8, dtype=torch.float64)
    expected = peak_signal_noise_ratio(x[0].numpy(), y[0].numpy(), data_range=1.0)
    assert float(psnr(x, y)) == pytest.approx(expected, rel=1e-12)


def test_gradient_and_bad_input():
    x = torch.rand(1, 3, 4, 4, requires_grad=True)
    MSELoss()(x, torch.rand(1, 3, 4, 4)).backward()
    assert x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="divide by 255"):
        psnr(torch.rand(1, 3, 4, 4) * 255, torch.rand(1, 3, 4, 4))
    with pytest.raises(ValueError, match="data_range"):
        psnr(torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4), data_range=0)
