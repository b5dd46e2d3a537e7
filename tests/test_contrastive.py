"""Contrastive perceptual loss: the triplet's zero, positive and decreasing cases, both backbones."""
import pytest
import torch

from percept_lib.data import downup
from percept_lib.losses import ContrastivePerceptualLoss
from percept_lib.losses.contrastive import upsample_to


@pytest.fixture(scope="module")
def sr_setting():
    from conftest import real_photos

    hr = real_photos((56, 56))[:2]
    lr = torch.nn.functional.interpolate(hr, scale_factor=0.25, mode="area")
    return hr, lr


# A random ViT's CLS token barely depends on the input (layer scale starts at 1e-5), so its margin is small.
@pytest.mark.parametrize("backbone,kwargs,margin", [("vgg19", {}, 0.5), ("dinov2", {"dinov2_tokens": "patch"}, 0.5),
                                                    ("dinov2", {"dinov2_tokens": "cls"}, 1e-5)])
def test_zero_positive_and_decreasing(random_weights, sr_setting, backbone, kwargs, margin):
    hr, lr = sr_setting
    loss = ContrastivePerceptualLoss(backbone=backbone, margin=margin, reduction="none", **kwargs)
    negative = upsample_to(lr, hr.shape[-2:])
    with torch.no_grad():
        parts = loss.per_layer(hr, hr, lr)
        # SR = HR: d(a, p) = 0 and d(a, n) = ‖φ(HR) − φ(LR↑)‖ > margin here, so the triplet term is 0.
        for layer, value in parts.items():
            f = loss.extractor(torch.cat([hr, negative]))[layer].flatten(1)
            assert bool(((f[:2] - f[2:]).norm(dim=1) > margin).all())
        assert float(loss(hr, hr, lr).abs().max()) == 0.0
        # SR = LR↑: d(a, n) = 0, so the loss is d(SR, HR) + margin > margin.
        assert bool((loss(negative, hr, lr) > margin).all())
    sr = negative.clone().requires_grad_(True)
    opt = torch.optim.Adam([sr], lr=0.02)
    values = []
    for _ in range(5):
        opt.zero_grad()
        value = ContrastivePerceptualLoss(backbone=backbone, margin=margin, **kwargs)(sr.clamp(0, 1), hr, lr)
        value.backward()
        opt.step()
        values.append(value.item())
    assert values[-1] < values[0]


def test_loss_weight_and_layer_weights_scale(random_weights, sr_setting):
    hr, lr = sr_setting
    sr = downup(hr, 0.3)
    base = ContrastivePerceptualLoss(layers=("relu2_2",))(sr, hr, lr)
    scaled = ContrastivePerceptualLoss(layers=("relu2_2",), layer_weights=(2.0,), loss_weight=3.0)(sr, hr, lr)
    torch.testing.assert_close(scaled, 6 * base)


def test_bad_inputs(random_weights, sr_setting):
    hr, lr = sr_setting
    loss = ContrastivePerceptualLoss(layers=("relu1_2",))
    with pytest.raises(ValueError, match="sr and target have different shapes"):
        loss(hr[:, :, :40], hr, lr)
    with pytest.raises(ValueError, match="lr: values up to"):
        loss(hr, hr, lr * 255)
    with pytest.raises(ValueError, match="one LR input per SR"):
        loss(hr, hr, lr[:1])
    with pytest.raises(ValueError, match="backbone"):
        ContrastivePerceptualLoss(backbone="resnet")
