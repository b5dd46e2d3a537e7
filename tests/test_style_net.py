"""Style transfer objective (normalised terms), the small Johnson transformation network and its training
helper; on seeded random VGG19 weights (no pretrained file is needed for what is tested here)."""

import pytest
import torch

from percept_lib import data
from percept_lib.losses import ContentLoss, StyleLoss, total_variation
from percept_lib.teaching.style_net import StyleTransferLoss, TransformNet, train_transform_net
from conftest import random_weights_mode

SIZE = 32
pytestmark = pytest.mark.filterwarnings("ignore:.*RANDOM weights")


@pytest.fixture(scope="module")
def random_vgg():
    """Random-weight mode for the whole module; the extractor cache is cleared before and after."""
    with random_weights_mode():
        yield


@pytest.fixture(scope="module")
def images():
    content = data.photo("astronaut", size=(SIZE, SIZE))
    style = data.texture("mosaic", size=SIZE, seed=0)
    return content, style


def test_references_are_non_zero_for_the_default_start(random_vgg, images):
    """The optimisation starts from the content image, where the content loss is 0: its reference must not
    be (the old start-value normalisation divided by 0 and fell back to the raw term)."""
    content, style = images
    loss = StyleTransferLoss(style, content_weight=1.0, style_weight=3.0, tv_weight=0.1)
    refs = loss.calibrate(content)
    assert all(v > 0 for v in refs.values()), refs
    with torch.no_grad():
        raw_at_start = loss.raw_terms(content, content)
        at_start = loss.terms(content, content)
        at_style = loss.terms(style, content)
    assert float(raw_at_start["content"]) == 0  # the start value that cannot serve as a reference
    # At the content image: (0, 1, 1); at the style image the content term is 1 and the style term 0.
    assert float(at_start["content"]) == 0
    assert float(at_start["style"]) == pytest.approx(1, rel=1e-4)
    assert float(at_start["tv"]) == pytest.approx(1, rel=1e-4)
    assert float(at_style["content"]) == pytest.approx(1, rel=1e-4)
    assert float(at_style["style"]) == pytest.approx(0, abs=1e-6)
    with torch.no_grad():
        assert float(loss(content, content)) == pytest.approx(3.0 * 1 + 0.1 * 1, rel=1e-4)


def test_references_are_the_library_losses_at_the_other_endpoint(random_vgg, images):
    """r_c = ContentLoss(style, content), r_s = StyleLoss(content), r_tv = TV(content), computed independently
    with the library's own losses; and the one-pass raw terms equal those losses on another image."""
    content, style = images
    loss = StyleTransferLoss(style, tv_weight=0.1)
    refs = loss.calibrate(content)
    with torch.no_grad():
        assert refs["content"] == pytest.approx(float(ContentLoss("relu4_2", "vgg19")(style, content)), rel=1e-5)
        assert refs["style"] == pytest.approx(float(StyleLoss.gatys()(content, style)), rel=1e-5)
        assert refs["tv"] == pytest.approx(float(total_variation(content)), rel=1e-6)
        other = data.distort(content, "noise", 0.5, seed=1)
        raw = loss.raw_terms(other, content)
        assert float(raw["content"]) == pytest.approx(float(ContentLoss("relu4_2", "vgg19")(other, content)), rel=1e-5)
        assert float(raw["style"]) == pytest.approx(float(StyleLoss.gatys()(other, style)), rel=1e-5)


def _optimise(loss, content, steps=8):
    x = content.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=0.05)
    for _ in range(steps):
        opt.zero_grad()
        loss(x, content).backward()
        opt.step()
        with torch.no_grad():
            x.clamp_(0, 1)
    return x.detach()


def test_the_content_weight_is_not_inert(random_vgg, images):
    """A large content weight keeps the result closer to the content than a small one (same style weight)."""
    content, style = images
    results = {}
    for cw in (0.01, 100.0):
        loss = StyleTransferLoss(style, content_weight=cw, style_weight=1.0, tv_weight=0.0)
        loss.calibrate(content)
        x = _optimise(loss, content)
        with torch.no_grad():
            results[cw] = {k: float(v) for k, v in loss.raw_terms(x, content).items()}
    assert results[100.0]["content"] < 0.5 * results[0.01]["content"], results
    assert results[100.0]["style"] > results[0.01]["style"], results


def test_calibration_refuses_a_zero_reference(random_vgg, images):
    content, _ = images
    same = StyleTransferLoss(content.clone())
    with pytest.raises(ValueError, match="content reference is 0.*choose another style image"):
        same.calibrate(content)
    flat = torch.full((1, 3, SIZE, SIZE), 0.5)
    loss = StyleTransferLoss(images[1], tv_weight=0.1)
    with pytest.raises(ValueError, match="tv reference.*flat"):
        loss.calibrate(flat)
    assert StyleTransferLoss(images[1], tv_weight=0.0).calibrate(flat)["tv"] == 1.0  # TV off: no reference needed


def test_bad_input_says_what_to_do(random_vgg, images):
    content, style = images
    with pytest.raises(ValueError, match="finite number ≥ 0"):
        StyleTransferLoss(style, style_weight=-1.0)
    with pytest.raises(ValueError, match="expected a number"):
        StyleTransferLoss(style, content_weight="heavy")
    with pytest.raises(ValueError, match="pass one style image"):
        StyleTransferLoss(torch.cat([style, style]))
    with pytest.raises(ValueError, match="style_layers is empty"):
        StyleTransferLoss(style, style_layers=())
    loss = StyleTransferLoss(style)
    with pytest.raises(ValueError, match="call loss.calibrate"):
        loss(content, content)
    loss.calibrate(content)
    with pytest.raises(ValueError, match="one content image per image of x"):
        loss(torch.cat([content, content]), content)
    with pytest.raises(ValueError, match="divide by 255"):
        loss(content * 255, content)


def test_transform_net_shapes_start_and_gradients():
    torch.manual_seed(0)
    net = TransformNet(width=4, n_residual=1)
    x = data.photos(("chelsea", "coffee"), SIZE).requires_grad_(True)
    y = net(x)
    change = float((y - x).detach().abs().mean())
    assert y.shape == x.shape and float(y.detach().min()) > 0 and float(y.detach().max()) < 1
    # It starts close to the identity (a small correction of its input), not at a grey image,
    assert change < 0.05
    assert change > 0  # but not exactly at the identity: the MSE-trained copy has something to learn
    y.square().mean().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert sum(float(p.grad.abs().sum()) > 0 for p in net.parameters()) == len(list(net.parameters()))


def test_transform_net_rejects_bad_input():
    with pytest.raises(ValueError, match="positive integer"):
        TransformNet(width=0)
    with pytest.raises(ValueError, match="integer ≥ 0"):
        TransformNet(n_residual=-1)
    net = TransformNet(width=4, n_residual=0)
    with pytest.raises(ValueError, match="multiples of 4"):
        net(torch.rand(1, 3, 30, 32))
    with pytest.raises(ValueError, match="channels-last"):
        net(torch.rand(1, 32, 32, 3))
    with pytest.raises(ValueError, match="steps"):
        train_transform_net(net, lambda y, x: (y - x).square().mean(), torch.rand(2, 3, 8, 8), steps=0)


def test_the_style_network_trains_in_fast_mode_settings(random_vgg, images):
    """The notebook's fast-mode setting (small crops, a few dozen steps, batch 2): the style objective on all
    the training crops falls, and the trained network moves a held-out image's Gram matrices toward the
    style's while the MSE-trained copy does not."""
    _, style = images
    crops = data.random_crops(data.photos(("chelsea", "coffee", "rocket", "cat"), 64), 8, SIZE, seed=0)
    loss = StyleTransferLoss(style, content_weight=1.0, style_weight=10.0, tv_weight=0.1)
    loss.calibrate(crops)
    torch.manual_seed(0)
    net = TransformNet(width=8, n_residual=2)
    mse_net = TransformNet(width=8, n_residual=2)
    mse_net.load_state_dict(net.state_dict())
    with torch.no_grad():
        before = float(loss(net(crops), crops))
    history = train_transform_net(net, loss, crops, steps=30, batch_size=2, seed=0)
    train_transform_net(mse_net, lambda y, x: (y - x).square().mean(), crops, steps=30, batch_size=2, seed=0)
    with torch.no_grad():
        after = float(loss(net(crops), crops))
        held_out = data.photo("astronaut", size=(SIZE, SIZE))
        style_gram = float(loss.terms(net(held_out), held_out)["style"])
        mse_gram = float(loss.terms(mse_net(held_out), held_out)["style"])
    assert len(history) == 30 and all(torch.isfinite(torch.tensor(history)))
    assert after < 0.9 * before, (before, after)
    assert style_gram < mse_gram, (style_gram, mse_gram)
