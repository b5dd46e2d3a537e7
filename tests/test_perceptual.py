"""The VGG perceptual loss reproduces both seed formulations, built here from torchvision layers."""
import pytest
import torch
import torch.nn.functional as F
import torchvision

from percept_lib.data import distort
from percept_lib.losses import ContentLoss, PerceptualLoss

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


class Seed001(torch.nn.Module):
    """vgg16(...).features[:23], frozen, mean |φ(x) − φ(y)| (fed whatever tensor it is given)."""

    def __init__(self):
        super().__init__()
        self.vgg = torchvision.models.vgg16(weights="IMAGENET1K_V1").features[:23].eval()
        for p in self.vgg.parameters():
            p.requires_grad = False

    def forward(self, x, y):
        return torch.mean(torch.abs(self.vgg(x) - self.vgg(y)))


class Seed002(torch.nn.Module):
    """vgg19(...).features cut into [0:4] [4:9] [9:16] [16:23], Σ w_i · MSE, w = (1, .75, .5, .25)."""

    def __init__(self):
        super().__init__()
        features = torchvision.models.vgg19(weights="IMAGENET1K_V1").features.eval()
        self.slices = torch.nn.ModuleList([features[0:4], features[4:9], features[9:16], features[16:23]])
        self.weights = [1.0, 0.75, 0.5, 0.25]

    def forward(self, x, y):
        loss = 0
        for w, s in zip(self.weights, self.slices):
            x, y = s(x), s(y)
            loss = loss + w * F.mse_loss(x, y)
        return loss


@pytest.fixture(scope="module")
def pair():
    from conftest import real_photos

    x = real_photos((64, 80))
    return x, distort(x, "blur", 0.5)


def test_seed001_reproduced(torch_home, pair):
    torch_home.make("vgg16")
    x, y = pair
    with torch.no_grad():
        expected = Seed001()((x - MEAN) / STD, (y - MEAN) / STD)
        got = PerceptualLoss.seed001()(x, y)
    assert float(expected) > 0
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-7)


def test_seed002_reproduced(torch_home, pair):
    torch_home.make("vgg19")
    x, y = pair
    with torch.no_grad():
        expected = Seed002()((x - MEAN) / STD, (y - MEAN) / STD)
        got = PerceptualLoss.seed002()(x, y)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-7)
    assert PerceptualLoss.seed002().layers == ("relu1_2", "relu2_2", "relu3_3", "relu4_2")


def test_per_layer_sums_to_the_loss_and_reduction_shapes(random_weights):
    loss = PerceptualLoss("vgg16", layers=("relu1_2", "relu3_3"), layer_weights=(2.0, 0.5), distance="l2",
                          reduction="none")
    x, y = torch.rand(3, 3, 32, 32), torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        per_image = loss(x, y)
        parts = loss.per_layer(x, y)
    assert per_image.shape == (3,)
    torch.testing.assert_close(sum(parts.values()), per_image)
    loss.reduction = "sum"
    torch.testing.assert_close(loss(x, y).detach(), per_image.sum())


def test_gradient_reaches_input_and_weights_stay_frozen(random_weights):
    loss = PerceptualLoss("vgg16", layers=("relu2_2",), normalize_features=True)
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    loss(x, torch.rand(1, 3, 32, 32)).backward()
    assert x.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in loss.parameters())


def test_follows_float64_and_autocast(random_weights):
    loss = PerceptualLoss("vgg16", layers=("relu1_2",))
    x, y = torch.rand(1, 3, 16, 16, dtype=torch.float64), torch.rand(1, 3, 16, 16, dtype=torch.float64)
    assert loss(x, y).dtype == torch.float64
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = loss(x.float(), y.float())
    assert torch.isfinite(value)
    assert loss(x.float(), y.float()).dtype == torch.float32


def test_content_loss_is_mse_of_one_layer(torch_home, pair):
    torch_home.make("vgg19")
    x, y = pair
    features = torchvision.models.vgg19(weights="IMAGENET1K_V1").features[:23].eval()
    with torch.no_grad():
        expected = F.mse_loss(features((x - MEAN) / STD), features((y - MEAN) / STD))
        torch.testing.assert_close(ContentLoss()(x, y), expected, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("kwargs,message", [
    ({"extractor": "resnet"}, "vgg16"),
    ({"distance": "cosine"}, "distance"),
    ({"layers": ("relu1_2",), "layer_weights": (1.0, 2.0)}, "one weight per layer"),
    ({"reduction": "avg"}, "reduction"),
])
def test_bad_configuration(random_weights, kwargs, message):
    with pytest.raises(ValueError, match=message):
        PerceptualLoss(**kwargs)


def test_bad_inputs(random_weights):
    loss = PerceptualLoss("vgg16", layers=("relu1_2",))
    with pytest.raises(ValueError, match="divide by 255"):
        loss(torch.rand(1, 3, 16, 16) * 255, torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError, match="different shapes"):
        loss(torch.rand(1, 3, 16, 16), torch.rand(2, 3, 16, 16))
