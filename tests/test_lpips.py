"""LPIPS equals the lpips package (same backbone checkpoint, real v0.1 lin weights); strict loading."""
import pytest
import torch

from percept_lib import weights as W
from percept_lib.data import distort
from percept_lib.losses import LPIPS
from percept_lib.losses.lpips import load_lin_weights

ARTIFACT = {"alex": "alexnet", "vgg": "vgg16", "squeeze": "squeezenet1_1"}


@pytest.fixture(scope="module")
def pairs():
    from conftest import real_photos

    x = real_photos((64, 96))
    y = torch.cat([distort(x[i:i + 1], kind, 0.4, seed=i) for i, kind in enumerate(["blur", "noise", "jpeg", "shift"])])
    return x, y


@pytest.mark.parametrize("net", ["alex", "vgg", "squeeze"])
def test_equals_reference_package(torch_home, pairs, net):
    import lpips

    torch_home.make(ARTIFACT[net])
    x, y = pairs
    ref = lpips.LPIPS(net=net, pretrained=True, verbose=False).eval()
    ours = LPIPS(net=net)
    assert ours.pretrained
    with torch.no_grad():
        expected = ref(x, y, normalize=True).flatten()
        got = ours(x, y)
        assert got.shape == (4,)
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
        assert float(expected.std()) > 1e-3  # the four pairs differ: the comparison is not vacuous
        ref.spatial = True
        spatial = LPIPS(net=net, spatial=True)
        torch.testing.assert_close(spatial(x, y), ref(x, y, normalize=True), atol=1e-5, rtol=0)
        per_layer = ours.per_layer(x, y)
        torch.testing.assert_close(sum(per_layer.values()), expected, atol=1e-5, rtol=0)


def test_lin_weights_are_the_real_ones_and_non_negative():
    import lpips

    ref = lpips.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False)
    for k, w in enumerate(load_lin_weights("alex")):
        assert torch.equal(w, ref.lins[k].model[1].weight.detach())
        assert float(w.min()) >= 0


def test_wrongly_keyed_lin_file_fails_loudly(tmp_path, monkeypatch):
    good = torch.load(W.resolve("lpips-alex"), map_location="cpu", weights_only=True)
    bad = {k.replace("model.1.", ""): v for k, v in good.items()}  # lin0.weight … — the reference would load nothing
    path = tmp_path / "alex.pth"
    torch.save(bad, path)
    monkeypatch.setattr(W, "resolve", lambda name, download=True: path)
    with pytest.raises(W.WeightsCorruptError, match=r"missing keys \['lin0.model.1.weight'"):
        load_lin_weights("alex")


def test_metric_and_loss(random_weights):
    lp = LPIPS(net="squeeze", reduction="mean")
    x = torch.rand(2, 3, 32, 32)
    y = torch.rand(2, 3, 32, 32, requires_grad=True)
    loss = lp(x, y)
    loss.backward()
    assert loss.dim() == 0 and y.grad is not None and y.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in lp.parameters())
    with torch.no_grad():
        assert float(LPIPS(net="squeeze")(x, x).abs().max()) == 0.0
    assert LPIPS(net="squeeze", reduction="sum")(x, y).dim() == 0


@pytest.mark.parametrize("bad_y,message", [
    (torch.rand(1, 3, 16, 16) * 255, "divide by 255"),
    (torch.full((1, 3, 16, 16), float("nan")), "NaN"),
    (torch.rand(1, 3, 16, 20), "different shapes"),
    (torch.rand(3, 16, 16), "batch dimension"),
    (torch.rand(1, 4, 16, 16), "RGBA"),
])
def test_bad_inputs(random_weights, bad_y, message):
    with pytest.raises(ValueError, match=message):
        LPIPS(net="alex")(torch.rand(1, 3, 16, 16), bad_y)


def test_unknown_net():
    with pytest.raises(ValueError, match="use one of alex, vgg, squeeze"):
        LPIPS(net="resnet")
