"""The VGG perceptual loss: both seed formulations reproduced from torchvision layers, Johnson's loss and
the general configuration by hand, per-layer breakdown, reductions, precision, gradients, bad input."""
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
import torchvision

from percept_lib.data import distort
from percept_lib.losses import ContentLoss, PerceptualLoss
from percept_lib.losses.perceptual import batched_features
from conftest import random_weights_mode

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def imagenet(x):
    return (x - MEAN) / STD


class Seed001(torch.nn.Module):
    """Seed 001, as written: vgg16(weights).features[:23], frozen, mean |φ(x) − φ(y)|, no normalization."""

    def __init__(self):
        super().__init__()
        self.vgg = torchvision.models.vgg16(weights="IMAGENET1K_V1").features[:23].eval()
        for p in self.vgg.parameters():
            p.requires_grad = False

    def forward(self, x, y):
        return torch.mean(torch.abs(self.vgg(x) - self.vgg(y)))


class Seed002(torch.nn.Module):
    """Seed 002, as written: vgg19(weights).features cut into [0:4] [4:9] [9:16] [16:23], applied in
    sequence, Σ w_i · F.mse_loss with w = (1.0, 0.75, 0.5, 0.25)."""

    def __init__(self):
        super().__init__()
        features = torchvision.models.vgg19(weights="IMAGENET1K_V1").features.eval()
        self.slices = torch.nn.ModuleList([features[0:4], features[4:9], features[9:16], features[16:23]])
        self.weights = [1.0, 0.75, 0.5, 0.25]
        self.requires_grad_(False)

    def forward(self, x, y):
        loss = 0
        for w, s in zip(self.weights, self.slices):
            x, y = s(x), s(y)
            loss = loss + w * F.mse_loss(x, y)
        return loss


@pytest.fixture(scope="module")
def pair():
    from conftest import real_photos

    x = real_photos((48, 64))[:3]
    return x, torch.cat([distort(x[i:i + 1], kind, 0.5, seed=i) for i, kind in enumerate(("blur", "jpeg", "noise"))])


@pytest.fixture(scope="module")
def random_losses():
    """Losses on seeded random VGG16 weights, built once for the tests that need some weights, any weights.

    "l2" and "l1_normalized" ask for the same taps, so they share one cached backbone.
    """
    with random_weights_mode():
        taps, weights = ("relu1_2", "relu2_2"), (2.0, 0.5)
        losses = {
            "l2": PerceptualLoss("vgg16", taps, weights, distance="l2", reduction="none"),
            "l1_normalized": PerceptualLoss("vgg16", taps, weights, distance="l1", normalize_features=True,
                                            reduction="none"),
            "johnson": PerceptualLoss.johnson(reduction="none"),
        }
    return losses


@pytest.fixture()
def random_loss(random_losses):
    loss = random_losses["l2"]
    yield loss
    loss.reduction = "none"


def test_seed001_reproduced(torch_home, pair):
    torch_home.make("vgg16")
    x, y = pair
    with torch.no_grad():
        expected = Seed001()(imagenet(x), imagenet(y))
        got = PerceptualLoss.seed001()(x, y)
        per_image = PerceptualLoss.seed001(reduction="none")(x, y)
    assert float(expected) > 0
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=0)
    assert per_image.shape == (3,) and float(per_image.std()) > 0
    torch.testing.assert_close(per_image.mean(), expected, rtol=1e-5, atol=0)


def test_seed002_reproduced_term_by_term(torch_home, pair):
    torch_home.make("vgg19")
    x, y = pair
    seed = Seed002()
    loss = PerceptualLoss.seed002()
    with torch.no_grad():
        torch.testing.assert_close(loss(x, y), seed(imagenet(x), imagenet(y)), rtol=1e-5, atol=0)
        # Term by term: our taps are the seed's slices, which VGG19 calls relu1_2, relu2_2, relu3_3 and
        # relu4_2 (seed 002's comments say conv1_2 … conv4_3, VGG16's names for those indices).
        fx, fy = imagenet(x), imagenet(y)
        seed_terms = []
        for w, s in zip(seed.weights, seed.slices):
            fx, fy = s(fx), s(fy)
            seed_terms.append(w * F.mse_loss(fx, fy))
        parts = loss.per_layer(x, y)
        assert list(parts) == ["relu1_2", "relu2_2", "relu3_3", "relu4_2"]
        for term, expected in zip(parts.values(), seed_terms):
            torch.testing.assert_close(term.mean(), expected, rtol=1e-5, atol=0)
        # Content loss (VGG19 relu4_2): the output of seed 002's last slice, features[:23], unweighted.
        torch.testing.assert_close(ContentLoss()(x, y), F.mse_loss(fx, fy), rtol=1e-5, atol=0)


def test_seed002_reproduced_on_channels_last_passes(torch_home, monkeypatch):
    """The CPU backbone runs channels-last, with in-place ReLUs, on passes of 2^16 pixels or more: the value
    of 4 images at 128 px, and a training step's gradient, equal the seed module's on the same VGG19 file."""
    from conftest import real_photos

    torch_home.make("vgg19")
    target = real_photos((128, 128))
    start = distort(target, "downup", 0.3)
    loss, seed = PerceptualLoss.seed002(), Seed002()
    with torch.no_grad():
        torch.testing.assert_close(loss(start, target), seed(imagenet(start), imagenet(target)), rtol=1e-5, atol=0)
    # The gradient in float64 on small images, channels-last forced: in float32 a max-pooling near-tie may
    # resolve differently in two layouts' rounding and move a gradient to the neighbouring pixel.
    monkeypatch.setattr(loss.extractor, "channels_last_from_pixels", 0)
    target, start = target[:2, :, :48, :48].double(), start[:2, :, :48, :48].double()
    ours_x, seed_x = start.clone().requires_grad_(True), start.clone().requires_grad_(True)
    value, expected = loss(ours_x, target), seed.double()(imagenet(seed_x), imagenet(target))
    value.backward()
    expected.backward()
    torch.testing.assert_close(value, expected, rtol=1e-10, atol=0)
    torch.testing.assert_close(ours_x.grad, seed_x.grad, rtol=1e-8, atol=1e-10 * float(seed_x.grad.abs().max()))


class _PassRecorder:
    """A stand-in backbone that records the batch size of every pass it is given."""

    def __init__(self, max_pass_pixels):
        self.max_pass_pixels, self.passes = max_pass_pixels, []

    def normalize(self, x):
        return x

    def features(self, x):
        self.passes.append(x.shape[0])
        return OrderedDict(double=2 * x)


def test_batches_share_passes_up_to_the_backbone_limit_and_never_split():
    a, b, c = (torch.rand(n, 3, 16, 16) for n in (1, 1, 2))  # 256, 256 and 512 pixels
    for limit, expected in ((512, [2, 2]), (None, [4]), (1, [1, 1, 2]), (768, [2, 2])):
        backbone = _PassRecorder(limit)
        features = batched_features(backbone, a, b, c)
        assert backbone.passes == expected
        for f, x in zip(features, (a, b, c)):
            assert torch.equal(f["double"], 2 * x)  # each batch gets its own features back, in order
    backbone = _PassRecorder(None)
    batched_features(backbone, a, b.clone().requires_grad_(True), c)
    assert backbone.passes == [1, 3]  # the batch that needs a gradient apart from the others


def test_general_configuration_by_hand(random_loss, pair):
    """Σ_l w_l · mean (φ_l(x) − φ_l(y))², per image, and each layer's term separately."""
    x, y = pair
    with torch.no_grad():
        fx, fy = random_loss.extractor(x), random_loss.extractor(y)
        expected = {layer: w * ((fx[layer] - fy[layer]) ** 2).flatten(1).mean(1)
                    for layer, w in (("relu1_2", 2.0), ("relu2_2", 0.5))}
        parts = random_loss.per_layer(x, y)
        total = random_loss(x, y)
    assert list(parts) == ["relu1_2", "relu2_2"]
    for layer in parts:
        torch.testing.assert_close(parts[layer], expected[layer])
    torch.testing.assert_close(total, expected["relu1_2"] + expected["relu2_2"])


def test_l1_and_normalized_features_by_hand(random_losses, pair):
    """distance="l1" on LPIPS-normalized channels, checked with lpips's own normalize_tensor."""
    import lpips

    x, y = pair
    loss = random_losses["l1_normalized"]
    with torch.no_grad():
        fx, fy = loss.extractor(x), loss.extractor(y)
        expected = sum(w * (lpips.normalize_tensor(fx[layer]) - lpips.normalize_tensor(fy[layer])).abs()
                       .flatten(1).mean(1) for layer, w in (("relu1_2", 2.0), ("relu2_2", 0.5)))
        torch.testing.assert_close(loss(x, y), expected, rtol=1e-5, atol=1e-7)


def test_johnson_is_the_feature_reconstruction_loss(random_losses, pair):
    """Johnson et al. 2016: ‖φ(x) − φ(y)‖²₂ / (C·H·W) at VGG16 relu2_2, per image."""
    x, y = pair
    loss = random_losses["johnson"]
    with torch.no_grad():
        fx, fy = loss.extractor(x)["relu2_2"], loss.extractor(y)["relu2_2"]
        c, h, w = fx.shape[1:]
        expected = torch.stack([torch.linalg.vector_norm(a - b) ** 2 / (c * h * w) for a, b in zip(fx, fy)])
        torch.testing.assert_close(loss(x, y), expected, rtol=1e-5, atol=0)
    assert loss.extractor.name == "vgg16" and loss.layers == ("relu2_2",)


def test_reductions(random_loss, pair):
    x, y = pair
    with torch.no_grad():
        per_image = random_loss(x, y)
        assert per_image.shape == (3,)
        for reduction, expected in (("sum", per_image.sum()), ("mean", per_image.mean())):
            random_loss.reduction = reduction
            value = random_loss(x, y)
            assert value.shape == ()
            torch.testing.assert_close(value, expected)


def test_gradients_reach_the_inputs_and_weights_stay_frozen(random_loss, pair):
    x, y = pair
    assert not any(p.requires_grad for p in random_loss.parameters())
    with torch.no_grad():
        reference = random_loss(x, y)
    # Only x needs a gradient (training against a fixed target): y goes through without a graph.
    xg = x.clone().requires_grad_(True)
    value = random_loss(xg, y)
    torch.testing.assert_close(value.detach(), reference)
    value.sum().backward()
    assert xg.grad is not None and float(xg.grad.abs().sum()) > 0
    # Both need one: both receive it.
    xg, yg = x.clone().requires_grad_(True), y.clone().requires_grad_(True)
    random_loss(xg, yg).sum().backward()
    assert float(xg.grad.abs().sum()) > 0 and float(yg.grad.abs().sum()) > 0
    assert all(p.grad is None for p in random_loss.parameters())


def test_follows_float64_and_runs_under_autocast(random_loss, pair):
    x, y = pair
    with torch.no_grad():
        value32 = random_loss(x, y)
        value64 = random_loss(x.double(), y.double())
        assert value64.dtype == torch.float64
        torch.testing.assert_close(value64.float(), value32, rtol=1e-4, atol=0)
        torch.testing.assert_close(random_loss(x.double(), y), value64)  # the target follows the input
        with torch.autocast("cpu", dtype=torch.bfloat16):
            value_bf16 = random_loss(x, y)
        assert random_loss(x, y).dtype == torch.float32  # back to float32 weights after float64
    # The backbone ran in bfloat16; the distances are float32 and close to the float32 loss.
    assert value_bf16.dtype == torch.float32
    torch.testing.assert_close(value_bf16, value32, rtol=0.1, atol=0)


@pytest.mark.parametrize("kwargs,message", [
    ({"extractor": "resnet50"}, r"extractor='resnet50': use one of \('vgg16', 'vgg19'\)"),
    ({"distance": "cosine"}, r"distance='cosine': use one of \('l1', 'l2'\)"),
    ({"layers": ("relu1_2",), "layer_weights": (1.0, 2.0)}, "give one weight per layer"),
    ({"layers": ("relu1_2", "relu1_2")}, "each layer once"),
    ({"layers": ()}, "at least one layer"),
    ({"reduction": "avg"}, "reduction='avg'"),
])
def test_bad_configuration(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PerceptualLoss(**kwargs)


def test_unknown_layer_lists_the_available_ones(random_weights):
    with pytest.raises(ValueError, match=r"unknown layer\(s\) \['conv4_3_typo'\]; available: conv1_1, relu1_1"):
        PerceptualLoss("vgg16", layers=("conv4_3_typo",))


BAD_INPUTS = [
    (lambda: torch.rand(1, 3, 16, 16) * 255, "divide by 255"),
    (lambda: torch.full((1, 3, 16, 16), float("nan")), "NaN"),
    (lambda: torch.rand(1, 3, 16, 20), "different shapes"),
    (lambda: torch.rand(2, 3, 16, 16), "same number of images"),
    (lambda: torch.rand(3, 16, 16), "add the batch dimension"),
    (lambda: torch.rand(1, 4, 16, 16), "RGBA"),
]


@pytest.mark.parametrize("make_bad,message", BAD_INPUTS, ids=[m for _, m in BAD_INPUTS])
def test_bad_inputs(random_loss, make_bad, message):
    with pytest.raises(ValueError, match=message):
        random_loss(torch.rand(1, 3, 16, 16), make_bad())
    with pytest.raises(ValueError, match=message):
        random_loss.per_layer(torch.rand(1, 3, 16, 16), make_bad())
