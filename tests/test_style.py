"""Gram matrix, style, content and total variation against hand-computed values; gradcheck."""
import pytest
import torch

from percept_lib.losses import StyleLoss, TotalVariationLoss, gram_matrix, total_variation


def test_gram_matrix_by_hand():
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # N=1, C=2, H=1, W=2
    # F Fᵀ = [[1+4, 3+8], [3+8, 9+16]] = [[5, 11], [11, 25]], divided by C·H·W = 4
    expected = torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / 4
    torch.testing.assert_close(gram_matrix(f), expected)


def test_gram_does_not_depend_on_position():
    f = torch.rand(1, 4, 5, 6)
    shuffled = f.flatten(2)[:, :, torch.randperm(30)].reshape(1, 4, 5, 6)
    torch.testing.assert_close(gram_matrix(f), gram_matrix(shuffled))


def test_total_variation_by_hand():
    x = torch.zeros(1, 1, 2, 3)
    x[0, 0, 0] = torch.tensor([0.0, 1.0, 0.0])
    # vertical differences: [0, -1, 0] → mean |·|² = 1/3; horizontal: [1, -1], [0, 0] → mean = 2/4
    torch.testing.assert_close(total_variation(x, p=2), torch.tensor([1 / 3 + 1 / 2]))
    torch.testing.assert_close(total_variation(x, p=1), torch.tensor([1 / 3 + 1 / 2]))
    y = x * 0.5
    torch.testing.assert_close(total_variation(y, p=2), torch.tensor([(1 / 3 + 1 / 2) / 4]))
    assert TotalVariationLoss(reduction="none")(torch.rand(3, 3, 4, 4)).shape == (3,)


def test_gradcheck_pure_functions():
    f = torch.rand(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(gram_matrix, (f,))
    x = (torch.rand(1, 3, 4, 4, dtype=torch.float64) * 0.8 + 0.1).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: total_variation(t, p=2), (x,))


def test_style_loss_by_hand_and_size_independent_target(random_weights):
    loss = StyleLoss(layers=("relu1_2", "relu2_2"), layer_weights=(1.0, 0.5), reduction="none")
    x, style = torch.rand(2, 3, 32, 32), torch.rand(1, 3, 48, 40)
    with torch.no_grad():
        fx, fs = loss.extractor(x), loss.extractor(style)
        expected = sum(w * ((gram_matrix(fx[l]) - gram_matrix(fs[l])) ** 2).flatten(1).mean(1)
                       for l, w in (("relu1_2", 1.0), ("relu2_2", 0.5)))
        torch.testing.assert_close(loss(x, style), expected)
        loss.set_target(style)
        torch.testing.assert_close(loss(x), expected)
    assert float(StyleLoss(layers=("relu1_2",))(style, style)) == pytest.approx(0.0, abs=1e-12)


def test_style_loss_gradient_and_errors(random_weights):
    loss = StyleLoss(layers=("relu1_2",))
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    with pytest.raises(ValueError, match="set_target"):
        loss(x)
    loss(x, torch.rand(1, 3, 16, 16)).backward()
    assert x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="divide by 255"):
        loss(x * 255, torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError, match="one per image"):
        loss(torch.rand(3, 3, 16, 16), torch.rand(2, 3, 16, 16))
