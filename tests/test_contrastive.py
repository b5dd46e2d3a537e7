"""Contrastive perceptual loss: the triplet's zero, positive and decreasing cases on both backbones;
weights; reductions; precision; bad input."""
import warnings

import pytest
import torch

from percept_lib.losses import ContrastivePerceptualLoss
from percept_lib.losses.contrastive import upsample_to
from conftest import random_weights_mode

# DINOv2 at 56 px (a 4×4 patch grid) instead of 224: the same code path, 16× less work for the tests.
DINO_SIZE = 56


@pytest.fixture(scope="module")
def sr_setting():
    """HR: two real photos, 56×56; LR: 4× smaller (area); LR↑: bicubic back to 56×56."""
    from conftest import real_photos

    hr = real_photos((56, 56))[:2]
    lr = torch.nn.functional.interpolate(hr, scale_factor=0.25, mode="area")
    return hr, lr, upsample_to(lr, hr.shape[-2:])


@pytest.fixture(scope="module")
def random_losses():
    """Losses on seeded random backbones, built once (the two DINOv2 token kinds share one backbone)."""
    with random_weights_mode():
        # A random ViT's CLS token hardly depends on the input (timm initializes layer scale at 1e-5),
        # so its margin is on that scale.
        losses = {
            "vgg19": ContrastivePerceptualLoss("vgg19", layers=("relu1_2", "relu2_2"), margin=0.5,
                                               reduction="none"),
            "dinov2-patch": ContrastivePerceptualLoss("dinov2", dinov2_tokens="patch", dinov2_size=DINO_SIZE,
                                                      margin=0.5, reduction="none"),
            "dinov2-cls": ContrastivePerceptualLoss("dinov2", dinov2_tokens="cls", dinov2_size=DINO_SIZE,
                                                    margin=1e-5, reduction="none"),
        }
    return losses


@pytest.fixture()
def vgg_loss(random_losses):
    loss = random_losses["vgg19"]
    yield loss
    loss.reduction, loss.loss_weight = "none", 1.0


EPS = 1e-6  # torch's pairwise_distance (and so TripletMarginLoss) measures ‖a − b + eps‖


def feature_distance(loss, layer, a, b):
    """‖φ(a) − φ(b) + eps‖ per image (the loss's own backbone), and ‖eps‖: the distance of equal maps."""
    with torch.no_grad():
        fa, fb = loss.extractor(a)[layer].flatten(1), loss.extractor(b)[layer].flatten(1)
    return (fa - fb + EPS).norm(dim=1), EPS * fa.shape[1] ** 0.5


@pytest.mark.parametrize("name", ["vgg19", "dinov2-patch", "dinov2-cls"])
def test_zero_positive_and_decreasing(random_losses, sr_setting, name):
    loss = random_losses[name]
    hr, lr, lr_up = sr_setting
    margin = loss.margin
    assert loss.extractor.pretrained is False
    with torch.no_grad():
        # SR = HR: d(a, p) = ‖eps‖ ≈ 0 and d(a, n) = d(HR, LR↑) > margin + ‖eps‖ (checked): max(·, 0) = 0.
        for layer in loss.layers:
            d_hr_lr, d_equal = feature_distance(loss, layer, hr, lr_up)
            assert bool((d_hr_lr > margin + d_equal).all())
        assert float(loss(hr, hr, lr).abs().max()) == 0.0
        # SR = LR↑: d(a, n) = ‖eps‖ ≈ 0, so each layer gives d(LR↑, HR) − ‖eps‖ + margin > margin.
        expected = 0
        for layer in loss.layers:
            d_lr_hr, d_equal = feature_distance(loss, layer, lr_up, hr)
            expected = expected + d_lr_hr - d_equal + margin
        torch.testing.assert_close(loss(lr_up, hr, lr), expected, rtol=1e-4, atol=0)
        assert bool((expected > margin * len(loss.layers)).all())
    # A few optimizer steps on SR, starting at LR↑, lower the loss.
    sr = lr_up.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([sr], lr=0.02)
    values = []
    for _ in range(3):
        optimizer.zero_grad()
        value = loss(sr.clamp(0, 1), hr, lr).mean()
        value.backward()
        optimizer.step()
        values.append(value.item())
    assert values[-1] < values[0]
    assert not any(p.requires_grad for p in loss.parameters())


def test_lr_of_another_size_or_the_same_size(vgg_loss, sr_setting):
    """LR is upsampled to the target's size; an already-upsampled LR gives the same value."""
    hr, lr, lr_up = sr_setting
    sr = (0.5 * hr + 0.5 * lr_up)
    with torch.no_grad():
        torch.testing.assert_close(vgg_loss(sr, hr, lr), vgg_loss(sr, hr, lr_up))


def test_layer_weights_loss_weight_and_reductions(random_losses, vgg_loss, sr_setting):
    hr, lr, lr_up = sr_setting
    sr = 0.5 * hr + 0.5 * lr_up
    with torch.no_grad():
        parts = vgg_loss.per_layer(sr, hr, lr)
        per_image = vgg_loss(sr, hr, lr)
        assert per_image.shape == (2,)
        torch.testing.assert_close(per_image, parts["relu1_2"] + parts["relu2_2"])
        vgg_loss.layer_weights["relu2_2"] = 2.0
        vgg_loss.loss_weight = 3.0
        torch.testing.assert_close(vgg_loss(sr, hr, lr), 3 * (parts["relu1_2"] + 2 * parts["relu2_2"]))
        vgg_loss.layer_weights["relu2_2"] = 1.0
        vgg_loss.reduction = "sum"
        torch.testing.assert_close(vgg_loss(sr, hr, lr), 3 * per_image.sum())
        vgg_loss.reduction = "mean"
        torch.testing.assert_close(vgg_loss(sr, hr, lr), 3 * per_image.mean())


def test_precision_follows_the_input(vgg_loss, sr_setting):
    hr, lr, lr_up = sr_setting
    sr = 0.5 * hr + 0.5 * lr_up
    with torch.no_grad():
        value32 = vgg_loss(sr, hr, lr)
        value64 = vgg_loss(sr.double(), hr.double(), lr.double())
        assert value64.dtype == torch.float64
        torch.testing.assert_close(value64.float(), value32, rtol=1e-4, atol=0)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            value_bf16 = vgg_loss(sr, hr, lr)
        assert value_bf16.dtype == torch.float32 and bool(torch.isfinite(value_bf16).all())
        assert vgg_loss(sr, hr, lr).dtype == torch.float32


def test_bad_inputs(vgg_loss, sr_setting):
    hr, lr, _ = sr_setting
    with pytest.raises(ValueError, match="sr and target have different shapes"):
        vgg_loss(hr[:, :, :40], hr, lr)
    with pytest.raises(ValueError, match="lr: values up to .*divide by 255"):
        vgg_loss(hr, hr, lr * 255)
    with pytest.raises(ValueError, match="lr: .*NaN"):
        vgg_loss(hr, hr, torch.full_like(lr, float("nan")))
    with pytest.raises(ValueError, match="target: expected 4 dimensions.*add the batch dimension"):
        vgg_loss(hr, hr[0], lr)
    with pytest.raises(ValueError, match="sr: 4 channels.*RGBA"):
        vgg_loss(torch.rand(2, 4, 56, 56), hr, lr)
    with pytest.raises(ValueError, match="lr has 1 images and sr 2: pass one LR input per SR output"):
        vgg_loss(hr, hr, lr[:1])


@pytest.mark.parametrize("kwargs,message", [
    ({"backbone": "resnet"}, "backbone='resnet': use one of vgg19, dinov2"),
    ({"margin": -1.0}, "margin=-1.0: use a non-negative margin"),
    ({"margin": -0.5}, r"margin=-0.5: use a non-negative margin \(or relative_margin=True"),
    ({"margin": -1.0, "relative_margin": True}, "margin=-1.0: a relative margin ≤ −1 switches every triplet off"),
    ({"margin": float("nan"), "relative_margin": True}, "margin=nan: a relative margin"),
    ({"backbone": "dinov2", "dinov2_tokens": "mean"}, r"dinov2_tokens='mean': use one of \('patch', 'cls'\)"),
    ({"backbone": "dinov2", "layers": ("relu2_2",)}, "choose dinov2_tokens"),
    ({"backbone": "dinov2", "dinov2_size": 100}, "dinov2_size=100: use a multiple of the patch size 14"),
    ({"layers": ("relu2_2",), "layer_weights": (1.0, 2.0)}, "give one weight per layer"),
    ({"reduction": "batchmean"}, "reduction='batchmean'"),
])
def test_bad_configuration(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ContrastivePerceptualLoss(**kwargs)


# ----------------------------------------------------------------------------------------------------
# The relative margin: margin × d(HR, LR↑) per image and layer
# ----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def relative_pair(random_losses):
    """The VGG19 loss of `random_losses` and a relative-margin twin on the same (cached) backbone."""
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        mp.setenv("PERCEPT_WEIGHTS", "random")
        base = random_losses["vgg19"]
        twin = ContrastivePerceptualLoss("vgg19", layers=base.layers, margin=0.5, relative_margin=True,
                                         reduction="none")
        twin.extractor = base.extractor  # the very same random backbone
    return base, twin


def by_hand(loss, sr, hr, lr_up, margin, relative):
    """Σ_layers max(‖φ(SR) − φ(HR) + eps‖ − ‖φ(SR) − φ(LR↑) + eps‖ + margin (× ‖φ(HR) − φ(LR↑) + eps‖), 0)."""
    total = 0
    for layer in loss.layers:
        d_pos, _ = feature_distance(loss, layer, sr, hr)
        d_neg, _ = feature_distance(loss, layer, sr, lr_up)
        d_ref, _ = feature_distance(loss, layer, hr, lr_up)
        total = total + (d_pos - d_neg + margin * (d_ref if relative else 1.0)).clamp(min=0)
    return total


def test_relative_margin_off_is_the_plain_triplet_and_on_scales_by_d_hr_lr(relative_pair, sr_setting):
    base, twin = relative_pair
    hr, lr, lr_up = sr_setting
    sr = 0.7 * lr_up + 0.3 * hr
    with torch.no_grad():
        torch.testing.assert_close(base(sr, hr, lr), by_hand(base, sr, hr, lr_up, base.margin, False),
                                   rtol=1e-5, atol=1e-5)
        for margin in (-0.5, 0.0, 0.5, 1.5):
            twin.margin = margin
            torch.testing.assert_close(twin(sr, hr, lr), by_hand(twin, sr, hr, lr_up, margin, True),
                                       rtol=1e-5, atol=1e-5)
    twin.margin = 0.5


def test_relative_margin_at_the_start_the_target_and_above_one(relative_pair, sr_setting):
    _, twin = relative_pair
    hr, lr, lr_up = sr_setting
    with torch.no_grad():
        d_ref = {layer: feature_distance(twin, layer, hr, lr_up)[0] for layer in twin.layers}
        # SR = LR↑ (the network's start): d(SR, LR↑) ≈ 0, d(SR, HR) = d(HR, LR↑): each layer gives (1 + m)·D.
        twin.margin = 0.5
        torch.testing.assert_close(twin(lr_up, hr, lr), 1.5 * sum(d_ref.values()), rtol=1e-4, atol=0)
        # SR = HR: d(SR, HR) ≈ 0 and d(SR, LR↑) = D, so m < 1 gives 0 and m ≥ 1 gives (m − 1)·D > 0.
        assert float(twin(hr, hr, lr).abs().max()) == 0.0
        twin.margin = 1.5
        torch.testing.assert_close(twin(hr, hr, lr), 0.5 * sum(d_ref.values()), rtol=1e-4, atol=0)
        # m ≥ 1 keeps every triplet active for any output (triangle inequality).
        for sr in (hr, lr_up, torch.rand_like(hr), (hr + 0.2 * torch.randn_like(hr)).clamp(0, 1)):
            for term in twin.per_layer(sr, hr, lr).values():
                assert bool((term > 0).all())
    twin.margin = 0.5


def test_a_negative_relative_margin_switches_a_triplet_off_once_p_passes_it(relative_pair, sr_setting, monkeypatch):
    """Active while p = (d(SR, LR↑) − d(SR, HR)) / d(HR, LR↑) < m: for m = −0.5, on at the start (p = −1),
    off at HR (p = 1), and along the pixel path from LR↑ to HR off exactly where the measured p passes m."""
    base, _ = relative_pair
    hr, lr, lr_up = sr_setting
    monkeypatch.setenv("PERCEPT_WEIGHTS", "random")
    loss = ContrastivePerceptualLoss("vgg19", layers=base.layers, margin=-0.5, relative_margin=True,
                                     reduction="none")
    loss.extractor = base.extractor
    with torch.no_grad():
        d_ref = {layer: feature_distance(loss, layer, hr, lr_up)[0] for layer in loss.layers}
        torch.testing.assert_close(loss(lr_up, hr, lr), 0.5 * sum(d_ref.values()), rtol=1e-4, atol=0)
        assert float(loss(hr, hr, lr).abs().max()) == 0.0
        switched = []
        for t in (0.05, 0.2, 0.4, 0.6):
            sr = (1 - t) * lr_up + t * hr
            terms, d = loss.per_layer(sr, hr, lr), loss.distances(sr, hr, lr)
            for layer, term in terms.items():
                p = (d[layer]["negative"] - d[layer]["positive"]) / d[layer]["reference"]
                assert torch.equal(term > 0, p < -0.5), (t, layer, p)
                switched.append(bool((p >= -0.5).any()))
    assert any(switched) and not all(switched)  # the path crosses the margin: both sides were tested


def test_the_margin_does_not_change_the_gradient_while_every_triplet_is_active(relative_pair, sr_setting):
    _, twin = relative_pair
    hr, lr, lr_up = sr_setting
    grads = []
    for margin in (0.25, 1.5):
        twin.margin = margin
        sr = (0.9 * lr_up + 0.1 * hr).requires_grad_(True)
        terms = twin.per_layer(sr, hr, lr)
        assert all(bool((t > 0).all()) for t in terms.values())
        sum(terms.values()).sum().backward()
        grads.append(sr.grad)
    twin.margin = 0.5
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-6, atol=1e-9)
    assert float(grads[0].abs().max()) > 0


def test_distances_are_the_ones_the_triplet_compares(relative_pair, sr_setting):
    _, twin = relative_pair
    hr, lr, lr_up = sr_setting
    sr = 0.5 * hr + 0.5 * lr_up
    with torch.no_grad():
        d = twin.distances(sr, hr, lr)
        assert list(d) == list(twin.layers)
        for layer, v in d.items():
            assert set(v) == {"positive", "negative", "reference"}
            torch.testing.assert_close(v["positive"], feature_distance(twin, layer, sr, hr)[0])
            torch.testing.assert_close(v["negative"], feature_distance(twin, layer, sr, lr_up)[0])
            torch.testing.assert_close(v["reference"], feature_distance(twin, layer, hr, lr_up)[0])
            # sr halfway (in pixels): by the triangle inequality p = (d_neg − d_pos) / d_ref lies in [−1, 1].
            p = (v["negative"] - v["positive"]) / v["reference"]
            assert bool((p.abs() <= 1 + 1e-5).all())


def test_relative_margin_must_be_a_bool():
    with pytest.raises(ValueError, match="relative_margin='yes': use True .* or False"):
        ContrastivePerceptualLoss(relative_margin="yes")
