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


def test_mosaic_is_a_colourful_seeded_texture():
    m = data.texture("mosaic", size=48, seed=2)
    assert m.shape == (1, 3, 48, 48) and m.dtype == torch.float32
    assert 0 <= float(m.min()) and float(m.max()) <= 1
    assert torch.equal(m, data.mosaic(48, seed=2)) and torch.equal(m, data.texture("mosaic", size=48, seed=2))
    assert not torch.equal(m, data.texture("mosaic", size=48, seed=3))
    # Colourful: pixels differ between channels (a grey image has r = g = b), and many distinct colours.
    assert float((m.max(1).values - m.min(1).values).mean()) > 0.3
    assert len(torch.unique((m[0].flatten(1).T * 8).floor(), dim=0)) >= 12
    # Dark grout between the tiles: some pixels are near black.
    assert float((m.max(1).values < 0.15).float().mean()) > 0.02


def test_mosaic_tiles_seamlessly_and_rejects_bad_sizes():
    m = data.mosaic(64, seed=0, cell=16)
    # Wrapping around: the step from the last column to the first is no larger than a typical step inside.
    inside = (m[..., 1:] - m[..., :-1]).abs().mean(1)           # per pixel pair, over channels
    across = (m[..., :1] - m[..., -1:]).abs().mean(1)
    assert float(across.mean()) <= 3 * float(inside.mean())
    with pytest.raises(ValueError, match="integer ≥ 8"):
        data.mosaic(4)
    with pytest.raises(ValueError, match="between 2 and size"):
        data.mosaic(32, cell=64)
    with pytest.raises(ValueError, match="mosaic"):
        data.texture("marble")


def test_the_captions_file_is_the_packaged_table_written_out():
    """data/captions.csv (for the command line) and data.CAPTIONS (what an installed package has) agree, and
    every caption belongs to a photograph percept_lib can load."""
    from pathlib import Path

    from percept_lib import data

    written = (Path(__file__).resolve().parents[1] / "data" / "captions.csv").read_text(encoding="utf-8")
    assert written == data.captions_csv()
    assert set(data.captions()) <= set(data.PHOTOS + data.TEXTURES)
