"""Gram matrix, style loss and total variation against hand-computed values; gradcheck; style targets of
another size; precision; bad input."""

import pytest
import torch

from percept_lib.losses import StyleLoss, TotalVariationLoss, gram_matrix, total_variation
from conftest import random_weights_mode

LAYERS, WEIGHTS = ("relu1_1", "relu2_1"), (1.0, 0.5)


@pytest.fixture(scope="module")
def random_style():
    """A two-layer VGG19 style loss on seeded random weights, built once."""
    with random_weights_mode():
        loss = StyleLoss(layers=LAYERS, layer_weights=WEIGHTS, reduction="none")
    return loss


@pytest.fixture()
def style_loss(random_style):
    random_style._targets = None
    yield random_style
    random_style._targets, random_style.reduction = None, "none"


def test_gram_matrix_by_hand():
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # N=1, C=2, H=1, W=2
    # F Fᵀ = [[1·1 + 2·2, 1·3 + 2·4], [3·1 + 4·2, 3·3 + 4·4]] = [[5, 11], [11, 25]], divided by C·H·W = 4
    torch.testing.assert_close(gram_matrix(f), torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / 4)
    two = torch.cat([f, 2 * f])
    torch.testing.assert_close(gram_matrix(two)[1], 4 * gram_matrix(f)[0])  # per image, quadratic


def test_gram_matrix_ignores_where_features_are():
    f = torch.rand(2, 4, 5, 6)
    shuffled = f.flatten(2)[:, :, torch.randperm(30)].reshape(2, 4, 5, 6)
    torch.testing.assert_close(gram_matrix(shuffled), gram_matrix(f))
    # and, normalized by H·W, it does not grow with the size of a repeated texture
    tiled = f.repeat(1, 1, 2, 3)
    torch.testing.assert_close(gram_matrix(tiled), gram_matrix(f))


def test_gram_matrix_is_float32_under_autocast():
    f = torch.rand(1, 8, 6, 6).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        g = gram_matrix(f)
    assert g.dtype == torch.float32
    torch.testing.assert_close(g, gram_matrix(f.float()))


def test_total_variation_by_hand():
    x = torch.zeros(1, 1, 2, 3)
    x[0, 0, 0] = torch.tensor([0.0, 0.5, 1.0])
    # vertical differences (1×3): [0, -0.5, -1]; horizontal (2×2): [0.5, 0.5], [0, 0]
    torch.testing.assert_close(total_variation(x, p=2), torch.tensor([(0.25 + 1) / 3 + 0.5 / 4]))
    torch.testing.assert_close(total_variation(x, p=1), torch.tensor([1.5 / 3 + 1.0 / 4]))
    assert float(total_variation(torch.full((1, 3, 4, 4), 0.7))) == 0.0
    batch = torch.rand(3, 3, 5, 4)
    per_image = TotalVariationLoss(reduction="none")(batch)
    assert per_image.shape == (3,)
    torch.testing.assert_close(TotalVariationLoss()(batch), per_image.mean())
    torch.testing.assert_close(TotalVariationLoss(p=1, reduction="sum")(batch), total_variation(batch, p=1).sum())


def test_gradcheck_pure_functions():
    f = torch.rand(2, 3, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(gram_matrix, (f,))
    x = (torch.rand(1, 3, 4, 5, dtype=torch.float64) * 0.8 + 0.1).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: total_variation(t, p=2), (x,))
    assert torch.autograd.gradcheck(lambda t: total_variation(t, p=1), (x,))  # no ties in random data


def test_style_loss_by_hand(style_loss):
    x, style = torch.rand(2, 3, 32, 32), torch.rand(1, 3, 48, 40)  # the style has its own size
    with torch.no_grad():
        fx, fs = style_loss.extractor(x), style_loss.extractor(style)
        expected = {layer: w * ((gram_matrix(fx[layer]) - gram_matrix(fs[layer])) ** 2).mean(dim=(1, 2))
                    for layer, w in zip(LAYERS, WEIGHTS)}
        parts = style_loss.per_layer(x, style)
        value = style_loss(x, style)
    for layer in LAYERS:
        torch.testing.assert_close(parts[layer], expected[layer])
    torch.testing.assert_close(value, expected["relu1_1"] + expected["relu2_1"])
    assert bool((value > 0).all())


def test_precomputed_target_equals_passing_the_style(style_loss):
    x, style = torch.rand(2, 3, 32, 32), torch.rand(1, 3, 40, 48)
    with torch.no_grad():
        direct = style_loss(x, style)
        assert style_loss.set_target(style) is style_loss
        torch.testing.assert_close(style_loss(x), direct)
        assert float(style_loss(style).abs().max()) == 0.0  # the style image against its own Grams
    # One style image per image of x.
    styles = torch.rand(2, 3, 24, 24)
    with torch.no_grad():
        paired = style_loss(x, styles)
        one_by_one = torch.cat([style_loss(x[i:i + 1], styles[i:i + 1]) for i in range(2)])
    torch.testing.assert_close(paired, one_by_one)


def test_style_loss_gradients_reductions_and_precision(style_loss):
    assert not any(p.requires_grad for p in style_loss.parameters())
    style_loss.set_target(torch.rand(1, 3, 24, 24))
    x = torch.rand(2, 3, 16, 16, requires_grad=True)
    value = style_loss(x)
    assert value.shape == (2,)
    value.sum().backward()
    assert float(x.grad.abs().sum()) > 0
    with torch.no_grad():
        style_loss.reduction = "sum"
        torch.testing.assert_close(style_loss(x), value.detach().sum())
        style_loss.reduction = "mean"
        assert style_loss(x).shape == ()
        assert style_loss(x.double()).dtype == torch.float64
        with torch.autocast("cpu", dtype=torch.bfloat16):
            value_bf16 = style_loss(x)
        assert value_bf16.dtype == torch.float32 and bool(torch.isfinite(value_bf16))
        assert style_loss(x).dtype == torch.float32


def test_style_loss_errors(style_loss):
    x = torch.rand(3, 3, 16, 16)
    with pytest.raises(ValueError, match=r"no style image: call forward\(x, style\), or set_target"):
        style_loss(x)
    with pytest.raises(ValueError, match="2 style images for 3 images of x; pass one style image, or one per"):
        style_loss(x, torch.rand(2, 3, 16, 16))
    with pytest.raises(ValueError, match="style: values up to .*divide by 255"):
        style_loss(x, torch.rand(1, 3, 16, 16) * 255)
    with pytest.raises(ValueError, match="x: .*NaN"):
        style_loss(torch.full((1, 3, 16, 16), float("nan")), torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError, match="style: expected 4 dimensions.*add the batch dimension"):
        style_loss.set_target(torch.rand(3, 16, 16))
    with pytest.raises(ValueError, match="x: 4 channels.*RGBA"):
        style_loss(torch.rand(1, 4, 16, 16), torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError, match="extractor='alexnet': use 'vgg19' or 'vgg16'"):
        StyleLoss(extractor="alexnet")
    with pytest.raises(ValueError, match="2 layer_weights for 1 layers"):
        StyleLoss(layers=("relu1_1",), layer_weights=(1.0, 2.0))


def test_pure_function_errors():
    with pytest.raises(ValueError, match=r"features: expected a tensor N×C×H×W, got \(4, 5, 6\)"):
        gram_matrix(torch.rand(4, 5, 6))
    with pytest.raises(ValueError, match="p=3: use 1 .* or 2"):
        total_variation(torch.rand(1, 3, 4, 4), p=3)
    with pytest.raises(ValueError, match="p=0: use 1"):
        TotalVariationLoss(p=0)
    with pytest.raises(ValueError, match="at least 2×2 pixels"):
        total_variation(torch.rand(1, 3, 1, 8))
    with pytest.raises(ValueError, match="divide by 255"):
        TotalVariationLoss()(torch.rand(1, 3, 4, 4) * 255)
