"""Sample photos, textures and seeded distortions."""
import pytest
import torch

from percept_lib import data


def test_photos_are_real_and_canonical():
    x = data.photo("astronaut", size=(64, 80))
    assert x.shape == (1, 3, 64, 80) and x.dtype == torch.float32
    assert 0 <= float(x.min()) and float(x.max()) <= 1
    assert float(x.std()) > 0.1  # a photograph, not a flat image
    assert data.photos(("chelsea", "coffee"), 32).shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match="choose from"):
        data.photo("mona_lisa")


@pytest.mark.parametrize("kind", list(data.DISTORTIONS))
def test_distortions_are_seeded_bounded_and_grow_with_strength(kind):
    x = data.photo("chelsea", size=48)
    a = data.distort(x, kind, 0.5, seed=3)
    b = data.distort(x, kind, 0.5, seed=3)
    assert torch.equal(a, b)
    assert a.shape == x.shape and 0 <= float(a.min()) and float(a.max()) <= 1
    weak = float(((data.distort(x, kind, 0.1, seed=3) - x) ** 2).mean())
    strong = float(((data.distort(x, kind, 0.9, seed=3) - x) ** 2).mean())
    assert strong > weak


def test_distort_rejects_bad_arguments():
    x = data.photo("chelsea", size=16)
    with pytest.raises(ValueError, match="choose from"):
        data.distort(x, "swirl", 0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        data.distort(x, "blur", 2.0)


def test_match_mse_hits_the_target():
    x = data.photo("astronaut", size=64)
    for kind in ("blur", "noise", "shift"):
        y, strength = data.match_mse(x, kind, 0.004)
        assert float(((y - x) ** 2).mean()) == pytest.approx(0.004, rel=0.03)
        assert 0 < strength < 1


@pytest.mark.parametrize("kind", ["stripes", "checker", "dots", "waves", "noise"])
def test_textures(kind):
    t = data.texture(kind, size=32, seed=1)
    assert t.shape == (1, 3, 32, 32) and float(t.std()) > 0.01
    assert torch.equal(t, data.texture(kind, size=32, seed=1))


def test_random_crops_are_seeded():
    x = data.photos(("astronaut", "rocket"), 64)
    c = data.random_crops(x, 5, 16, seed=0)
    assert c.shape == (5, 3, 16, 16) and torch.equal(c, data.random_crops(x, 5, 16, seed=0))
    with pytest.raises(ValueError, match="larger than the image"):
        data.random_crops(x, 1, 100)
