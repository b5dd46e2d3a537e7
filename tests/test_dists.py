"""DISTS equals DISTS_pytorch (same VGG16 checkpoint, the real alpha/beta); strict loading; bad input fails clearly.

No pretrained VGG16 can be downloaded here: both sides load the same seeded random checkpoint that
``conftest`` writes under torchvision's file name. alpha and beta are the authors' real ones.
"""
import copy
import shutil
import warnings

import pytest
import torch
import torch.nn.functional as F

from percept_lib import weights as W
from percept_lib.data import distort, match_mse
from percept_lib.extractors import clear_cache
from percept_lib.losses.dists import DISTS, load_alpha_beta

KINDS = ("blur", "noise", "jpeg", "shift", "colour", "downup")


def reference_dists():
    import DISTS_pytorch

    with warnings.catch_warnings():  # torchvision's "pretrained is deprecated", inside DISTS_pytorch
        warnings.simplefilter("ignore", UserWarning)
        return DISTS_pytorch.DISTS().eval()


@pytest.fixture(scope="module")
def models(fake_checkpoints):
    """(ours, DISTS_pytorch's), both reading the same VGG16 file; built once, they are slow to build."""
    fake_checkpoints.make("vgg16")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TORCH_HOME", str(fake_checkpoints.root))
        clear_cache()
        ours, ref = DISTS(), reference_dists()
    clear_cache()
    return ours, ref


@pytest.fixture(scope="module")
def photo_pairs():
    """Six pairs: a real photo at an odd, non-square size (odd sizes exercise the L2 pooling's padding)
    and a distorted version of it, one distortion kind per pair."""
    from conftest import real_photos

    photos = real_photos((67, 93))
    x = photos[[i % len(photos) for i in range(len(KINDS))]]
    y = torch.cat([distort(x[i:i + 1], kind, 0.4, seed=i) for i, kind in enumerate(KINDS)])
    return x, y


def test_equals_reference_package(models, photo_pairs):
    ours, ref = models
    x, y = photo_pairs
    assert ours.pretrained
    with torch.no_grad():
        expected = ref(x, y)
        got = ours(x, y)
    assert got.shape == (len(KINDS),)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    assert float(expected.max() - expected.min()) > 1e-3  # the pairs differ by 100× the tolerance: not vacuous


@pytest.mark.parametrize("tracked", ["y", "both"])  # one side: two passes; both: one batched pass
def test_gradient_equals_reference(models, photo_pairs, tracked):
    ours, ref = models
    x, y = photo_pairs
    inputs = {}
    for side in ("ours", "ref"):
        inputs[side] = (x[:2].clone().requires_grad_(tracked == "both"), y[:2].clone().requires_grad_(True))
    ours(*inputs["ours"]).sum().backward()
    ref(*inputs["ref"], require_grad=True).sum().backward()
    for mine, theirs in zip(inputs["ours"], inputs["ref"]):
        if theirs.grad is None:
            assert mine.grad is None
            continue
        assert float(theirs.grad.abs().max()) > 0
        torch.testing.assert_close(mine.grad, theirs.grad, rtol=1e-3, atol=1e-4 * float(theirs.grad.abs().max()))
    assert not any(p.requires_grad for p in ours.parameters())


def test_equals_reference_on_channels_last_passes_and_mixed_layouts(models, monkeypatch):
    """4 pairs at 128 px: 2^16 pixels a side, so the CPU backbone runs channels-last and the statistics read
    its maps in memory order; an input given channels-last next to one that is not must still be paired
    element by element."""
    from conftest import real_photos

    ours, ref = models
    x = real_photos((128, 128))
    y = torch.cat([distort(x[i:i + 1], kind, 0.4, seed=i) for i, kind in enumerate(KINDS[:4])])
    with torch.no_grad():
        expected = ref(x, y)
        torch.testing.assert_close(ours(x, y), expected, atol=1e-6, rtol=0)
        torch.testing.assert_close(ours(x.contiguous(memory_format=torch.channels_last), y), expected, atol=1e-6, rtol=0)
    # The gradient in float64 on small images, channels-last forced: in float32 two layouts' rounding may
    # resolve a near-tie of the L2 pooling's square root or a ReLU differently.
    monkeypatch.setattr(ours.backbone, "channels_last_from_pixels", 0)
    x, y = x[:2, :, :40, :40].double(), y[:2, :, :40, :40].double()
    ours64, ref64 = copy.deepcopy(ours), copy.deepcopy(ref).double()
    yg, yr = y.clone().requires_grad_(True), y.clone().requires_grad_(True)
    ours64(x, yg).sum().backward()
    ref64(x, yr, require_grad=True).sum().backward()
    # (1e-6, not 1e-12: our α, β were normalized once in float32, the reference's in float64 here)
    torch.testing.assert_close(yg.grad, yr.grad, rtol=1e-6, atol=1e-6 * float(yr.grad.abs().max()))


def test_image_with_itself_is_zero(models, photo_pairs):
    ours, _ = models
    x, _ = photo_pairs
    with torch.no_grad():
        torch.testing.assert_close(ours(x, x), torch.zeros(len(x)), atol=1e-6, rtol=0)


def test_statistics_stay_in_float32_under_autocast(models, photo_pairs):
    # The backbone may run in bfloat16; the means and covariances may not: computed in bfloat16, the
    # distances of these pairs (0.002 – 0.03) were off by 2e-3.
    ours, _ = models
    x, y = photo_pairs
    with torch.no_grad():
        full_precision = ours(x, y)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = ours(x, y)
    assert mixed.dtype == torch.float32
    torch.testing.assert_close(mixed, full_precision, atol=2e-4, rtol=0)


def test_alpha_beta_are_the_authors(models):
    _, ref = models
    alpha, beta = load_alpha_beta()
    assert alpha.shape == beta.shape == (1475,)
    assert torch.equal(alpha, ref.alpha.detach().flatten()) and torch.equal(beta, ref.beta.detach().flatten())
    assert float(alpha.min()) >= 0 and float(beta.min()) >= 0


def test_a_small_shift_scores_lower_than_a_blur_of_equal_mse(models):
    """The paper's claim (DISTS tolerates small geometric changes that MSE punishes) for the *trained*
    network. Here the backbone is the seeded random test checkpoint; the claim holds for it on all four
    photos with a wide margin, so it is asserted — as a regression check of this code with this
    checkpoint, not as evidence for the paper."""
    from conftest import real_photos

    ours, _ = models
    x = real_photos((96, 128))
    shifted = torch.cat([match_mse(x[i:i + 1], "shift", 2e-3, seed=i)[0] for i in range(len(x))])
    blurred = torch.cat([match_mse(x[i:i + 1], "blur", 2e-3, seed=i)[0] for i in range(len(x))])
    with torch.no_grad():
        d_shift, d_blur = ours(x, shifted), ours(x, blurred)
    print("DISTS at MSE 2e-3: shift", d_shift.tolist(), "blur", d_blur.tolist())
    assert bool((d_shift < 0.8 * d_blur).all())


def test_piq_agrees_except_that_it_resizes_above_256(models, fake_checkpoints, tmp_path, monkeypatch):
    """Checks the docstring's account of piq.DISTS: same formula at ≤ 256 px (given the same alpha/beta,
    which piq would download as dists_weights.pt), and a bilinear resize to 256 px above that."""
    import piq

    ours, _ = models
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "vgg16-397923af.pth").symlink_to(fake_checkpoints.dir / "vgg16-397923af.pth")
    shutil.copy(W.resolve("dists"), checkpoints / "dists_weights.pt")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        theirs = piq.DISTS(reduction="none")
    from conftest import real_photos

    small = real_photos((67, 93), names=("chelsea", "coffee"))
    large = real_photos((264, 280), names=("astronaut",))
    with torch.no_grad():
        y = distort(small, "blur", 0.4)
        torch.testing.assert_close(theirs(small, y), ours(small, y), atol=1e-5, rtol=0)
        y = distort(large, "noise", 0.4)
        resized = [F.interpolate(t, scale_factor=256 / 264, recompute_scale_factor=False, mode="bilinear")
                   for t in (large, y)]
        piq_large = theirs(large, y)
        torch.testing.assert_close(piq_large, ours(*resized), atol=1e-5, rtol=0)
        assert abs(float(piq_large) - float(ours(large, y))) > 1e-4  # so the resize is what made them agree


def test_wrongly_keyed_file_fails_loudly(tmp_path, monkeypatch):
    good = torch.load(W.resolve("dists"), map_location="cpu", weights_only=True)
    path = tmp_path / "weights.pt"
    torch.save({"alpha": good["alpha"], "weights": good["beta"]}, path)
    monkeypatch.setattr(W, "resolve", lambda name, download=True: path)
    with pytest.raises(W.WeightsCorruptError, match=r"missing keys \['beta'\]; unexpected keys \['weights'\]"):
        DISTS()


@pytest.mark.parametrize("change,message", [
    (lambda s: {"alpha": s["alpha"].flatten(), "beta": s["beta"]}, r"shape mismatch for alpha \(1475,\)"),
    (lambda s: {"alpha": -s["alpha"], "beta": s["beta"]}, "must be non-negative"),
])
def test_malformed_alpha_beta_fail_loudly(tmp_path, monkeypatch, change, message):
    good = torch.load(W.resolve("dists"), map_location="cpu", weights_only=True)
    path = tmp_path / "weights.pt"
    torch.save(change(good), path)
    monkeypatch.setattr(W, "resolve", lambda name, download=True: path)
    with pytest.raises(W.WeightsCorruptError, match=message):
        load_alpha_beta()


def test_missing_backbone_is_an_error_not_random_weights(empty_torch_home):
    with pytest.raises(W.WeightsUnavailableError, match=r"'vgg16'.*PERCEPT_WEIGHTS=random"):
        DISTS()


def test_random_mode_keeps_the_real_alpha_beta_and_works_as_a_loss(empty_torch_home, random_weights, models):
    ours, _ = models
    with pytest.warns(UserWarning, match="RANDOM weights"):
        loss_fn = DISTS(reduction="mean")  # no VGG16 file in this TORCH_HOME: random mode needs none
    assert not loss_fn.pretrained and "pretrained=False" in repr(loss_fn)
    assert torch.equal(loss_fn.alpha, ours.alpha) and torch.equal(loss_fn.beta, ours.beta)
    x = torch.rand(2, 3, 32, 32)
    y = torch.rand(2, 3, 32, 32, requires_grad=True)
    loss = loss_fn(x, y)
    loss.backward()
    assert loss.dim() == 0 and float(y.grad.abs().sum()) > 0
    assert not any(p.requires_grad for p in loss_fn.parameters())


@pytest.mark.parametrize("bad_y,message", [
    (torch.rand(1, 3, 32, 32) * 255, "divide by 255"),
    (torch.full((1, 3, 32, 32), float("nan")), "NaN"),
    (torch.rand(1, 3, 32, 36), "different shapes"),
    (torch.rand(3, 32, 32), "batch dimension"),
    (torch.rand(1, 4, 32, 32), "RGBA"),
])
def test_bad_inputs(models, bad_y, message):
    ours, _ = models
    with pytest.raises(ValueError, match=message):
        ours(torch.rand(1, 3, 32, 32), bad_y)
