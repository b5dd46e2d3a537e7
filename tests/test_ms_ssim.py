"""MS-SSIM equals piq (pytorch-msssim's definition) and a transcription of the authors' MATLAB code; differentiable;
images too small for five scales are refused with the minimum size named."""
import numpy as np
import pytest
import torch
from scipy.signal import correlate2d

from percept_lib.data import distort, photos
from percept_lib.losses import MSSSIM, MSSSIMLoss, ms_ssim
from percept_lib.losses.ms_ssim import MS_SSIM_WEIGHTS, minimum_size

KINDS = ("blur", "noise", "jpeg", "shift", "colour", "downup")


@pytest.fixture(scope="module")
def pairs():
    """Six photographs at 192×256 (every scale's sides even) and a distortion of each, at several strengths."""
    x = photos(("astronaut", "chelsea", "coffee", "rocket", "astronaut", "coffee"), (192, 256))
    y = torch.cat([distort(x[i:i + 1], kind, 0.2 + 0.1 * i, seed=i) for i, kind in enumerate(KINDS)])
    return x, y


def matlab_msssim(a: np.ndarray, b: np.ndarray) -> float:
    """Wang's msssim.m on one grayscale pair in [0, 1], transcribed: ssim_index with filter2(window, ., 'valid'),
    then imfilter(ones(2)/4, 'symmetric', 'same') and every second sample between scales."""
    t = np.arange(-5, 6)
    g = np.exp(-t ** 2 / (2 * 1.5 ** 2))
    window = np.outer(g, g) / np.outer(g, g).sum()  # fspecial('gaussian', 11, 1.5)
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    mcs, mssim = [], []
    for level in range(5):
        mu1, mu2 = correlate2d(a, window, "valid"), correlate2d(b, window, "valid")
        s11 = correlate2d(a * a, window, "valid") - mu1 ** 2
        s22 = correlate2d(b * b, window, "valid") - mu2 ** 2
        s12 = correlate2d(a * b, window, "valid") - mu1 * mu2
        cs = (2 * s12 + c2) / (s11 + s22 + c2)
        mcs.append(cs.mean())
        mssim.append(((2 * mu1 * mu2 + c1) / (mu1 ** 2 + mu2 ** 2 + c1) * cs).mean())
        pa, pb = np.pad(a, ((0, 1), (0, 1)), mode="symmetric"), np.pad(b, ((0, 1), (0, 1)), mode="symmetric")
        a = ((pa[:-1, :-1] + pa[1:, :-1] + pa[:-1, 1:] + pa[1:, 1:]) / 4)[::2, ::2]
        b = ((pb[:-1, :-1] + pb[1:, :-1] + pb[:-1, 1:] + pb[1:, 1:]) / 4)[::2, ::2]
    w = np.array(MS_SSIM_WEIGHTS)
    return float(np.prod(np.array(mcs[:-1]) ** w[:-1]) * mssim[-1] ** w[-1])


def test_equals_piq_on_photos(pairs):
    from piq import multi_scale_ssim

    x, y = pairs
    expected = multi_scale_ssim(x.double(), y.double(), data_range=1.0, reduction="none")
    got = ms_ssim(x, y)
    assert got.shape == (6,) and got.dtype == torch.float32
    torch.testing.assert_close(got.double(), expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(ms_ssim(x.double(), y.double()), expected, atol=1e-12, rtol=0)
    assert float(expected.max() - expected.min()) > 0.05  # six different scores: the comparison is not vacuous


@pytest.mark.parametrize("size", [(192, 256), (171, 205)], ids=["even", "odd"])
def test_equals_the_authors_matlab_code_on_grayscale(size):
    # Odd sides too: the MATLAB code repeats the last row before averaging (piq the first, pytorch-msssim
    # averages zeros in), so here only the authors' definition is the reference.
    x = photos(("astronaut",), size).mean(dim=1, keepdim=True).double()
    y = distort(x.expand(-1, 3, -1, -1), "noise", 0.4, seed=1)[:, :1]
    expected = matlab_msssim(x[0, 0].numpy(), y[0, 0].numpy())
    assert float(ms_ssim(x, y)) == pytest.approx(expected, abs=1e-12)
    assert float(ms_ssim(x.float(), y.float())) == pytest.approx(expected, abs=1e-5)


def test_identical_images_score_one_and_stronger_distortion_scores_lower(pairs):
    x = pairs[0][:2]
    torch.testing.assert_close(ms_ssim(x, x), torch.ones(2), atol=1e-6, rtol=0)
    scores = [ms_ssim(x, distort(x, "blur", s, seed=0)) for s in (0.1, 0.4, 0.8)]
    assert bool((scores[0] > scores[1]).all() and (scores[1] > scores[2]).all())


def test_gradient_reaches_both_inputs(pairs):
    x = pairs[0][:2].clone().requires_grad_(True)
    y = pairs[1][:2].clone().requires_grad_(True)
    loss = MSSSIMLoss()(x, y)
    loss.backward()
    assert loss.dim() == 0 and 0 < float(loss.detach()) < 1
    assert float(x.grad.abs().sum()) > 0 and float(y.grad.abs().sum()) > 0
    assert torch.isfinite(x.grad).all()


def test_gradcheck_float64():
    g = torch.Generator().manual_seed(0)
    x = (0.2 + 0.6 * torch.rand(1, 1, 161, 163, generator=g, dtype=torch.float64)).requires_grad_(True)
    y = (x.detach() + 0.1 * torch.rand(1, 1, 161, 163, generator=g, dtype=torch.float64)).clamp(0, 1)
    # fast_mode checks random directional derivatives: the full Jacobian would take 26 000 forward passes.
    assert torch.autograd.gradcheck(lambda a: ms_ssim(a, y.requires_grad_(False)), (x,), eps=1e-6, atol=1e-6,
                                    fast_mode=True)


def test_too_small_images_name_the_minimum_size():
    assert minimum_size() == 161  # (11 − 1)·2⁴ + 1: the 1/16 scale still holds one 11×11 window
    x = torch.rand(1, 3, 160, 300)
    with pytest.raises(ValueError, match=r"160×300 are too small for MS-SSIM's 5 scales.*at least 161×161"):
        ms_ssim(x, x)
    with pytest.raises(ValueError, match="at least 161×161"):
        MSSSIM()(x, x)
    assert ms_ssim(torch.rand(1, 3, 161, 161), torch.rand(1, 3, 161, 161)).shape == (1,)


def test_fewer_scales_fit_smaller_images_and_bad_weights_are_refused():
    x, y = torch.rand(2, 3, 41, 50), torch.rand(2, 3, 41, 50)
    assert ms_ssim(x, y, weights=(0.3, 0.3, 0.4)).shape == (2,)  # three scales: (11 − 1)·2² + 1 = 41
    with pytest.raises(ValueError, match="one positive exponent per scale"):
        ms_ssim(x, y, weights=())
    with pytest.raises(ValueError, match="one positive exponent per scale"):
        MSSSIM(weights=(0.5, -0.5))


def test_module_reductions_and_dtypes(pairs):
    x, y = pairs
    values = MSSSIM()(x, y)
    torch.testing.assert_close(values, ms_ssim(x, y))
    torch.testing.assert_close(MSSSIM(reduction="mean")(x, y), values.mean())
    torch.testing.assert_close(MSSSIMLoss(reduction="sum")(x, y), (1 - values).sum())
    assert MSSSIM()(x.double(), y.double()).dtype == torch.float64
    assert MSSSIM()(x.half(), y.half()).dtype == torch.float32


def test_bad_input_is_refused_clearly():
    with pytest.raises(ValueError, match="divide by 255"):
        ms_ssim(torch.full((1, 3, 170, 170), 200.0), torch.rand(1, 3, 170, 170))
    with pytest.raises(ValueError, match="data_range"):
        MSSSIM(data_range=0)
