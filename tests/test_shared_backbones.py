"""One device and precision policy (percept_lib.losses.base): losses share cached backbones, and no loss can
change another's. Moving or casting one loss swaps its reference to the registry's copy on that device / in
that precision; the shared module, and every other loss holding it, stay as they were."""
from __future__ import annotations

import pytest
import torch

from conftest import random_weights_mode
from percept_lib.extractors import get_extractor, shared_copy
from percept_lib.losses import LPIPS, PerceptualLoss


@pytest.fixture(scope="module")
def two_losses():
    with random_weights_mode():
        a = PerceptualLoss("vgg16", layers=("relu2_2",), reduction="none")
        b = PerceptualLoss("vgg16", layers=("relu2_2",), reduction="none")
        original = get_extractor("vgg16", layers=("relu2_2",))
        yield a, b, original


@pytest.fixture(scope="module")
def pair():
    g = torch.Generator().manual_seed(0)
    return torch.rand(2, 3, 32, 32, generator=g), torch.rand(2, 3, 32, 32, generator=g)


def backbone_state(module):
    p = next(module.parameters())
    return p.device, p.dtype, p.data_ptr()


def test_losses_built_alike_share_one_backbone(two_losses):
    a, b, original = two_losses
    assert a.extractor is b.extractor is original
    # Held by reference: not this loss's state to save, move or cast.
    assert not any(k.startswith("extractor") for k in a.state_dict())


def test_casting_one_loss_leaves_the_other_unchanged(two_losses, pair):
    a, b, original = two_losses
    x, y = pair
    before_state, before_value = backbone_state(original), b(x, y)
    a.double()
    assert next(a.extractor.parameters()).dtype == torch.float64
    assert a(x.double(), y.double()).dtype == torch.float64
    assert backbone_state(original) == before_state and b.extractor is original
    torch.testing.assert_close(b(x, y), before_value, rtol=0, atol=0)
    a.float()
    assert a.extractor is original  # back to the shared float32 module, not a copy of the float64 one


def test_float64_input_is_followed_without_casting_the_shared_module(two_losses, pair):
    a, b, original = two_losses
    x, y = pair
    before = backbone_state(original)
    value64 = a(x.double(), y.double())
    assert value64.dtype == torch.float64 and a.extractor is not original
    assert backbone_state(original) == before
    value32 = b(x, y)
    assert value32.dtype == torch.float32 and b.extractor is original
    torch.testing.assert_close(value64.float(), value32, rtol=1e-5, atol=1e-7)
    a(x, y)
    assert a.extractor is original


def test_half_input_is_computed_in_float32_and_casts_nothing(two_losses, pair):
    a, b, original = two_losses
    x, y = pair
    before = backbone_state(original)
    terms = a.per_layer(x.half(), y.half())
    assert all(t.dtype == torch.float32 for t in terms.values())
    assert backbone_state(original) == before and a.extractor is original and b.extractor is original


def test_moving_one_loss_leaves_the_other_on_its_device(two_losses):
    _, b, original = two_losses
    with random_weights_mode():
        moved = PerceptualLoss("vgg16", layers=("relu2_2",), reduction="none")
    moved.extractor = original  # assigned, a shared extractor is held by reference too
    assert "extractor" not in dict(moved.named_children())
    moved.to("meta")  # a device without a GPU: the move is real, the values are not needed
    assert moved.extractor.mean.device.type == "meta"
    assert original.mean.device.type == "cpu" and b.extractor is original


def test_lpips_moves_its_own_lin_weights_and_swaps_the_backbone(pair):
    x, y = pair
    with random_weights_mode():
        a, b = LPIPS(net="squeeze"), LPIPS(net="squeeze")
        assert a.extractor is b.extractor
        before = b(x, y)
        a.double()
        assert a.lins[0].weight.dtype == torch.float64  # its own state: cast
        assert b.lins[0].weight.dtype == torch.float32
        assert next(b.extractor.parameters()).dtype == torch.float32
        torch.testing.assert_close(b(x, y), before, rtol=0, atol=0)
        torch.testing.assert_close(a(x.double(), y.double()).float(), before, rtol=1e-5, atol=1e-7)


def test_a_copy_is_made_once_from_the_original(two_losses):
    _, _, original = two_losses
    c64 = shared_copy(original, dtype=torch.float64)
    assert shared_copy(original, dtype=torch.float64) is c64
    assert shared_copy(c64, dtype=torch.float32) is original
