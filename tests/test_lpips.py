"""LPIPS equals the lpips package (same backbone checkpoint, real v0.1 lin weights); strict loading; metric
and loss use; precision; bad input."""

import numpy as np
import pytest
import torch

from percept_lib import weights as W
from percept_lib.data import distort
from percept_lib.losses import LPIPS
from percept_lib.losses.lpips import load_lin_layers, normalize_channels
from percept_lib.losses.perceptual import normalized_difference
from conftest import random_weights_mode

BACKBONE_ARTIFACT = {"alex": "alexnet", "vgg": "vgg16", "squeeze": "squeezenet1_1"}
# lpips builds its torchvision backbones with the deprecated `pretrained=` argument; torchvision says so.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:torchvision.models._utils")


@pytest.fixture(scope="module")
def pairs():
    """Four real photos at a non-square size, each with another distortion."""
    from conftest import real_photos

    x = real_photos((64, 96))
    kinds = ("blur", "noise", "jpeg", "shift")
    return x, torch.cat([distort(x[i:i + 1], kind, 0.4, seed=i) for i, kind in enumerate(kinds)])


@pytest.fixture(scope="module")
def random_squeeze():
    """LPIPS-squeeze on a seeded random backbone (real lin weights), built once for the behaviour tests."""
    with random_weights_mode():
        module = LPIPS(net="squeeze")
    return module


@pytest.fixture()
def random_lpips(random_squeeze):
    """The shared module, its settings restored after each test."""
    yield random_squeeze
    random_squeeze.reduction, random_squeeze.spatial = "none", False


@pytest.mark.parametrize("net", ["alex", "vgg", "squeeze"])
def test_equals_the_lpips_package(torch_home, pairs, net):
    import lpips

    torch_home.make(BACKBONE_ARTIFACT[net])  # lpips.LPIPS builds torchvision's net with pretrained=True from it
    x, y = pairs
    reference = lpips.LPIPS(net=net, pretrained=True, verbose=False).eval()
    ours = LPIPS(net=net)
    assert ours.pretrained
    with torch.no_grad():
        expected = reference(x, y, normalize=True).flatten()
        got = ours(x, y)
        assert got.shape == (4,)
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
        assert float(expected.std()) > 1e-3  # four different distortions: the comparison is not vacuous
        # per-tap contributions: lpips's retPerLayer, and they add up to the distance
        _, expected_layers = reference(x, y, normalize=True, retPerLayer=True)
        for got_layer, expected_layer in zip(ours.per_layer(x, y).values(), expected_layers):
            torch.testing.assert_close(got_layer, expected_layer.flatten(), atol=1e-6, rtol=0)
        # the spatial maps, upsampled to the input size
        reference.spatial = True
        maps = LPIPS(net=net, spatial=True)(x, y)
        assert maps.shape == (4, 1, 64, 96)
        torch.testing.assert_close(maps, reference(x, y, normalize=True), atol=1e-5, rtol=0)


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_equals_the_lpips_package_on_channels_last_passes(torch_home, net):
    """4 pairs at 128 px: 2^16 pixels a side, so on a CPU the backbone runs channels-last (the small pairs
    above run NCHW), as a metric in one pass of both images and as a loss in two."""
    import lpips

    from conftest import real_photos

    torch_home.make(BACKBONE_ARTIFACT[net])
    x = real_photos((128, 128))
    y = torch.cat([distort(x[i:i + 1], kind, 0.4, seed=i) for i, kind in enumerate(("blur", "noise", "jpeg", "shift"))])
    reference, ours = lpips.LPIPS(net=net, pretrained=True, verbose=False).eval(), LPIPS(net=net)
    with torch.no_grad():
        expected = reference(x, y, normalize=True).flatten()
    torch.testing.assert_close(ours(x, y), expected, atol=1e-6, rtol=0)
    yg, yr = y.clone().requires_grad_(True), y.clone().requires_grad_(True)
    value = ours(x, yg)
    value.sum().backward()
    reference(x, yr, normalize=True).sum().backward()
    torch.testing.assert_close(value.detach(), expected, atol=1e-6, rtol=0)
    if net == "alex":  # VGG's float32 gradient is itself off by % (1 / (norm + 1e-10) at dead positions)
        torch.testing.assert_close(yg.grad, yr.grad, rtol=1e-3, atol=1e-4 * float(yr.grad.abs().max()))


def test_metric_call_keeps_its_inputs_and_values_whatever_the_passes(random_lpips, pairs, monkeypatch):
    """The metric path works in place on its own taps, the loss path out of place: same values. Packing x
    and y into one pass or two changes nothing either."""
    x, y = pairs
    x0, y0 = x.clone(), y.clone()
    one_pass = random_lpips(x, y)
    assert torch.equal(x, x0) and torch.equal(y, y0)
    torch.testing.assert_close(random_lpips(x, y.clone().requires_grad_(True)).detach(), one_pass, atol=1e-7, rtol=0)
    monkeypatch.setattr(random_lpips.extractor, "max_pass_pixels", 1)  # one pass per image batch
    torch.testing.assert_close(random_lpips(x, y), one_pass, atol=1e-6, rtol=0)


def test_lin_weights_are_the_shipped_ones_and_non_negative(random_lpips):
    import lpips

    reference = lpips.LPIPS(net="squeeze", pretrained=True, pnet_rand=True, verbose=False)
    weights = random_lpips.lin_weights
    assert list(weights) == ["relu1", "fire3", "fire5", "fire6", "fire7", "fire8", "fire9"]
    for k, (tap, w) in enumerate(weights.items()):
        assert torch.equal(w, reference.lins[k].model[1].weight.detach().flatten())
        assert w.shape == (reference.chns[k],) and float(w.min()) >= 0 and float(w.max()) > 0


def _write_lin_file(tmp_path, monkeypatch, state):
    path = tmp_path / "lin.pth"
    torch.save(state, path)
    monkeypatch.setattr(W, "resolve", lambda name, download=True: path)


def test_a_wrongly_keyed_lin_file_fails_loudly(tmp_path, monkeypatch):
    """The reference loads with strict=False: these keys would leave its lin layers random, silently."""
    good = torch.load(W.resolve("lpips-alex"), map_location="cpu", weights_only=True)
    _write_lin_file(tmp_path, monkeypatch, {k.replace("model.1.", ""): v for k, v in good.items()})
    message = r"missing keys \['lin0.model.1.weight'.*unexpected keys \['lin0.weight'"
    with pytest.raises(W.WeightsCorruptError, match=message):
        load_lin_layers("alex")


def test_a_lin_file_for_another_backbone_fails_loudly(tmp_path, monkeypatch):
    vgg = torch.load(W.resolve("lpips-vgg"), map_location="cpu", weights_only=True)
    _write_lin_file(tmp_path, monkeypatch, vgg)
    message = r"shape mismatch for lin1.model.1.weight \(1, 128, 1, 1\) vs \(1, 192, 1, 1\)"
    with pytest.raises(W.WeightsCorruptError, match=message):
        load_lin_layers("alex")


def test_negative_lin_weights_fail_loudly(tmp_path, monkeypatch):
    state = torch.load(W.resolve("lpips-alex"), map_location="cpu", weights_only=True)
    state["lin2.model.1.weight"] = -state["lin2.model.1.weight"]
    _write_lin_file(tmp_path, monkeypatch, state)
    with pytest.raises(W.WeightsCorruptError, match=r"\['lin2'\] have negative weights"):
        load_lin_layers("alex")


def test_as_a_metric(random_lpips, pairs):
    x, y = pairs
    assert float(random_lpips(x, x).abs().max()) == 0.0
    value = random_lpips(x, y)
    assert value.shape == (4,) and bool((value > 0).all())
    # Computed under inference_mode, returned as an ordinary tensor that later autograd code may use.
    assert not value.is_inference() and not value.requires_grad
    scale = torch.ones(4, requires_grad=True)
    (scale * value).sum().backward()
    torch.testing.assert_close(scale.grad, value)


def test_as_a_loss(random_lpips, pairs):
    x, y = pairs
    assert not any(p.requires_grad for p in random_lpips.parameters())
    with torch.no_grad():
        metric = random_lpips(x, y)
    yg = y.clone().requires_grad_(True)
    value = random_lpips(x, yg)
    torch.testing.assert_close(value.detach(), metric)
    value.sum().backward()
    assert yg.grad is not None and bool(torch.isfinite(yg.grad).all()) and float(yg.grad.abs().sum()) > 0
    assert all(p.grad is None for p in random_lpips.parameters())


def test_reductions_and_spatial_shapes(random_lpips, pairs):
    x, y = pairs
    per_pair = random_lpips(x, y)
    for reduction, expected in (("sum", per_pair.sum()), ("mean", per_pair.mean())):
        random_lpips.reduction = reduction
        torch.testing.assert_close(random_lpips(x, y), expected)
    random_lpips.reduction, random_lpips.spatial = "none", True
    maps = random_lpips(x, y)
    assert maps.shape == (4, 1, 64, 96)
    # bilinear upsampling keeps the map's mean near, not exactly at, the scalar distance
    torch.testing.assert_close(maps.mean(dim=(1, 2, 3)), per_pair, rtol=0.05, atol=0)


def test_precision_follows_the_input(random_lpips, pairs):
    x, y = pairs
    value32 = random_lpips(x, y)
    value64 = random_lpips(x.double(), y.double())
    assert value64.dtype == torch.float64
    torch.testing.assert_close(value64.float(), value32, rtol=1e-4, atol=1e-6)
    # A gradient call after the float64 metric call: the converted weights are not inference tensors.
    xg = x.double().requires_grad_(True)
    random_lpips(xg, y.double()).sum().backward()
    assert xg.grad.dtype == torch.float64
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value_bf16 = random_lpips(x, y)
    assert random_lpips(x, y).dtype == torch.float32
    assert value_bf16.dtype == torch.float32  # bfloat16 backbone, float32 distance
    torch.testing.assert_close(value_bf16, value32, rtol=0.15, atol=0)


def test_channel_normalization_is_lpips_normalize_tensor():
    import lpips

    f = torch.relu(torch.randn(2, 8, 5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
    f[:, 0, 0, 0] = 0.5  # a live position (unseeded, all 8 channels came out dead there once in ~128 runs)
    f[:, :, 1, 1] = 0.0  # a position where every channel is dead: 0 / (0 + eps) = 0
    torch.testing.assert_close(normalize_channels(f), lpips.normalize_tensor(f), rtol=1e-12, atol=1e-15)
    norms = torch.linalg.vector_norm(normalize_channels(f), dim=1)
    torch.testing.assert_close(norms[:, 0, 0], torch.ones(2, dtype=torch.float64))
    assert float(norms[:, 1, 1].abs().max()) == 0.0
    g = torch.randn(2, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(normalize_channels, (g,))


def test_normalized_difference_is_the_difference_of_normalized_maps():
    generator = torch.Generator().manual_seed(0)
    a, b = (torch.relu(torch.randn(3, 64, 17, 13, generator=generator)) for _ in range(2))
    a[:, :, 1, 1] = 0.0  # a dead position: 0 / (0 + eps)
    for layout in (torch.contiguous_format, torch.channels_last):
        a_, b_ = a.contiguous(memory_format=layout), b.contiguous(memory_format=layout)
        expected = normalize_channels(a_) - normalize_channels(b_)
        assert torch.equal(normalized_difference(a_, b_), expected)  # bit for bit, in either layout
        scratch = a_.clone()
        assert torch.equal(normalized_difference(scratch, b_, inplace=True), expected)
        assert torch.equal(scratch, expected)  # written into the first argument, as documented
    g = tuple(torch.randn(2, 4, 3, 3, dtype=torch.float64, generator=generator).requires_grad_(True) for _ in range(2))
    assert torch.autograd.gradcheck(normalized_difference, g)


BAD_INPUTS = [
    (lambda: torch.rand(1, 3, 16, 16) * 255, "divide by 255"),
    (lambda: torch.full((1, 3, 16, 16), float("nan")), "NaN"),
    (lambda: torch.rand(1, 3, 16, 20), "different shapes"),
    (lambda: torch.rand(3, 16, 16), "add the batch dimension"),
    (lambda: torch.rand(1, 4, 16, 16), "RGBA"),
    (lambda: torch.rand(1, 2, 16, 16), "2 channels"),
    (lambda: np.random.rand(1, 3, 16, 16), "got a ndarray.*convert it with percept_lib.images.to_tensor"),
]


@pytest.mark.parametrize("make_bad,message", BAD_INPUTS, ids=[m for _, m in BAD_INPUTS])
@pytest.mark.parametrize("with_grad", [False, True], ids=["metric", "loss"])
def test_bad_inputs(random_lpips, make_bad, message, with_grad):
    x = torch.rand(1, 3, 16, 16, requires_grad=with_grad)
    with pytest.raises(ValueError, match=message):
        random_lpips(x, make_bad())


def test_unknown_net():
    with pytest.raises(ValueError, match="net='resnet': use one of alex, vgg, squeeze"):
        LPIPS(net="resnet")
