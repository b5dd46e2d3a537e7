"""The small super-resolution setting of notebook 05: ESPCN's starts (zero, ICNR, default), the
checkerboard measure, the degradation and the training loop; bad input."""
import pytest
import torch
import torch.nn.functional as F

from percept_lib.losses.contrastive import upsample_to
from percept_lib.teaching.sr import ESPCN, checkerboard, downscale, icnr_, make_patches, train_sr


@pytest.fixture(scope="module")
def patches():
    from conftest import real_photos

    return make_patches(real_photos((64, 64)), 32, 16, 2, seed=0)


def phases(x, r):
    """x[..., i::r, j::r] for every phase (i, j)."""
    return [x[..., i::r, j::r] for i in range(r) for j in range(r)]


@pytest.mark.parametrize("scale", [2, 3])
def test_zero_start_is_bicubic_and_the_triplet_negative(scale):
    lr = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        out = ESPCN(scale)(lr)
    assert torch.equal(out, upsample_to(lr, (8 * scale, 8 * scale)))


@pytest.mark.parametrize("scale", [2, 4])
def test_icnr_start_has_equal_phases_and_the_default_start_does_not(scale):
    lr = torch.rand(2, 3, 8, 8)
    torch.manual_seed(0)
    icnr, default = ESPCN(scale, init="icnr"), ESPCN(scale, init="default")
    with torch.no_grad():
        r_icnr, r_default = icnr.body(lr), default.body(lr)
    first = phases(r_icnr, scale)[0]
    assert first.abs().max() > 1e-3  # random, not zero
    for other in phases(r_icnr, scale)[1:]:
        torch.testing.assert_close(other, first, rtol=0, atol=1e-6)
    assert float(checkerboard(r_icnr, scale).max()) < 1e-6
    assert float(checkerboard(r_default, scale).min()) > 1e-3


def test_icnr_fills_each_channels_phases_with_one_kernel():
    w = torch.empty(12, 5, 3, 3)
    icnr_(w, 2)
    for c in range(3):
        for k in range(1, 4):
            assert torch.equal(w[4 * c + k], w[4 * c])
    assert not torch.equal(w[0], w[4])


def test_checkerboard_measures_the_period_r_part():
    a = 0.1
    tile = torch.tensor([[a, -a], [-a, a]])
    pattern = tile.repeat(8, 8).expand(1, 3, 16, 16)
    assert float(checkerboard(pattern, 2)) == pytest.approx(a, rel=1e-6)
    smooth = torch.linspace(0, 1, 16).view(1, 1, 1, 16).expand(1, 3, 16, 16)
    # A ramp along x: the two x-phases differ by one step (1/15), so the period-2 part is half of it.
    assert float(checkerboard(smooth, 2)) == pytest.approx(0.5 / 15, rel=1e-5)
    assert float(checkerboard(torch.full((2, 3, 8, 8), 0.7), 2).abs().max()) < 1e-7
    both = checkerboard(torch.stack([pattern[0], 2 * pattern[0]]), 2)
    torch.testing.assert_close(both, torch.tensor([a, 2 * a]))


def test_train_sr_lowers_the_l1_loss_and_is_reproducible(patches):
    hr, lr = patches

    def l1(sr, target, _lr):
        return F.l1_loss(sr, target)

    def run():
        torch.manual_seed(0)
        model = ESPCN(2)
        history = train_sr(model, l1, hr, lr, steps=60, batch_size=8, seed=0)
        return model, history

    model, history = run()
    with torch.no_grad():
        before = F.l1_loss(upsample_to(lr, hr.shape[-2:]), hr)
        after = F.l1_loss(model(lr), hr)
    assert len(history) == 60
    assert float(after) < float(before)
    assert run()[1] == history


def test_bad_input():
    with pytest.raises(ValueError, match="scale=5: use 2, 3 or 4"):
        ESPCN(5)
    with pytest.raises(ValueError, match="init='xavier': use one of zero, icnr, default"):
        ESPCN(2, init="xavier")
    with pytest.raises(ValueError, match="not a multiple of scale² = 4"):
        icnr_(torch.empty(6, 3, 3, 3), 2)
    with pytest.raises(ValueError, match="divisible by scale=2.*crop the image first"):
        checkerboard(torch.rand(1, 3, 7, 8), 2)
    with pytest.raises(ValueError, match="not divisible by scale 2; crop it first"):
        downscale(torch.rand(1, 3, 7, 8), 2)
    with pytest.raises(ValueError, match="patch size 15 must be a multiple of scale 2"):
        make_patches(torch.rand(1, 3, 32, 32), 4, 15, 2)
