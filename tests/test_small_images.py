"""Images too small for a backbone's deepest tap: a ValueError naming the smallest size, never torch's
"Output size is too small" from inside a pooling layer. The smallest size is computed from the layers'
output-size formulas; these tests check it against torch itself, one pixel either side."""
from __future__ import annotations

import pytest
import torch

from conftest import random_weights_mode
from percept_lib.extractors import get_extractor
from percept_lib.losses import LPIPS

NAMES = ("alexnet", "vgg16", "vgg19", "squeezenet", "vgg16-l2pool")


@pytest.fixture(scope="module")
def extractors():
    with random_weights_mode():
        yield {name: get_extractor(name) for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_the_smallest_size_is_the_one_torch_accepts(extractors, name):
    extractor = extractors[name]
    n = extractor.smallest_input()
    body = extractor.body  # torch's own layers, without our size check
    with torch.no_grad():
        body(torch.rand(1, 3, n, n))  # runs
        if n > 1:
            with pytest.raises(RuntimeError):
                body(torch.rand(1, 3, n - 1, n - 1))


@pytest.mark.parametrize("name", ["alexnet", "vgg16", "squeezenet"])
def test_too_small_images_get_a_clear_error(extractors, name):
    extractor = extractors[name]
    n = extractor.smallest_input()
    with pytest.raises(ValueError, match=rf"at least {n}×{n}.*upsample"):
        extractor(torch.rand(2, 3, n - 1, 3 * n))


def test_lpips_on_16_px_images_names_the_minimum():
    with random_weights_mode():
        lpips_alex = LPIPS(net="alex")
        x = torch.rand(2, 3, 16, 16)
        with pytest.raises(ValueError, match=r"16×16 px are too small for alexnet.*at least 31×31"):
            lpips_alex(x, x.flip(-1))
        assert lpips_alex(torch.rand(1, 3, 31, 31), torch.rand(1, 3, 31, 31)).shape == (1,)
