"""Image conversion and the one validation helper: every bad input gets a ValueError with the fix."""
import numpy as np
import pytest
import torch
from PIL import Image

from conftest import png_claiming
from percept_lib.images import (
    load_folder, load_image, resize, save_images, to_tensor, validate_images, validate_pair,
)


@pytest.mark.parametrize("bad,message", [
    (torch.rand(3, 8, 8), "add the batch dimension"),
    (torch.rand(8, 8), "4 dimensions"),
    (torch.rand(1, 4, 8, 8), "RGBA"),
    (torch.rand(1, 8, 8, 3), "channels-last"),
    (torch.rand(1, 2, 8, 8), "2 channels"),
    ((torch.rand(1, 3, 8, 8) * 255).to(torch.uint8), r"x.float\(\) / 255"),
    (torch.rand(1, 3, 8, 8) * 255, "divide by 255"),
    (torch.rand(1, 3, 8, 8) * 2 - 1, r"\(x \+ 1\) / 2"),
    (torch.full((1, 3, 8, 8), float("nan")), "NaN"),
    (torch.tensor([[[[float("inf")]]]]).expand(1, 3, 2, 2), "Inf"),
    (np.zeros((8, 8, 3)), "to_tensor"),
])
def test_bad_input_names_the_problem_and_the_fix(bad, message):
    with pytest.raises(ValueError, match=message):
        validate_images(bad)


def test_grayscale_is_expanded_to_rgb_explicitly():
    x = torch.rand(2, 1, 5, 6)
    out = validate_images(x)
    assert out.shape == (2, 3, 5, 6)
    assert torch.equal(out[:, 0], out[:, 2]) and torch.equal(out[:, 1], x[:, 0])


def test_validation_keeps_gradient_and_device():
    x = torch.rand(1, 3, 4, 4, requires_grad=True)
    validate_images(x).sum().backward()
    assert x.grad is not None


def test_pair_shape_mismatch_is_reported():
    with pytest.raises(ValueError, match=r"different shapes.*resize"):
        validate_pair(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))
    with pytest.raises(ValueError, match="same number of images"):
        validate_pair(torch.rand(2, 3, 8, 8), torch.rand(1, 3, 8, 8))


@pytest.mark.parametrize("arr,expected_max", [
    (np.full((4, 5), 255, np.uint8), 1.0),
    (np.full((4, 5, 3), 65535, np.uint16), 1.0),
    (np.full((4, 5, 4), 128, np.uint8), 128 / 255),
    (np.full((4, 5, 3), 0.5, np.float64), 0.5),
])
def test_numpy_converters(arr, expected_max):
    x = to_tensor(arr)
    assert x.shape == (1, 3, 4, 5) and x.dtype == torch.float32
    assert float(x.max()) == pytest.approx(expected_max)


def test_float_array_out_of_range_is_refused():
    with pytest.raises(ValueError, match="divide by 255"):
        to_tensor(np.full((4, 4, 3), 200.0))


@pytest.mark.parametrize("mode", ["RGBA", "L", "P", "CMYK", "I;16", "LA"])
def test_pil_modes_become_rgb(tmp_path, mode):
    rgb = Image.fromarray((np.random.default_rng(0).uniform(size=(6, 7, 3)) * 255).astype(np.uint8))
    if mode == "I;16":
        img = Image.fromarray((np.arange(42, dtype=np.uint16).reshape(6, 7) * 1500))
        assert img.mode.startswith("I;16")
    else:
        img = rgb.convert(mode)
    path = tmp_path / "img.png" if mode != "CMYK" else tmp_path / "img.jpg"
    img.save(path)
    x = load_image(path)
    assert x.shape == (1, 3, 6, 7) and 0 <= float(x.min()) and float(x.max()) <= 1
    if mode == "I;16":
        # 16-bit precision is kept: 1500/65535 steps, not 8-bit ones.
        np.testing.assert_allclose(float(x[0, 0, 0, 1]), 1500 / 65535, rtol=1e-6)


def test_folder_loading_is_sorted_filtered_and_reports_corrupt_files(tmp_path):
    for name, value in [("b.png", 10), ("a.png", 20), ("sub/c.jpg", 30)]:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        Image.fromarray(np.full((4, 4, 3), value, np.uint8)).save(tmp_path / name, quality=100)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG garbage")
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable image\(s\): .*broken.png"):
        x = load_folder(tmp_path, on_error="skip")
    assert x.shape == (3, 3, 4, 4)
    assert [round(float(v) * 255) for v in x[:, 0, 0, 0]] == [20, 10, 30]  # a, b, sub/c
    with pytest.raises(ValueError, match="broken.png"):
        load_folder(tmp_path, on_error="raise")


def test_empty_folder_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match="no image files"):
        load_folder(tmp_path)
    with pytest.raises(ValueError, match="no such file"):
        load_image(tmp_path / "missing.png")


def test_resize_modes_match_their_references():
    import torch.nn.functional as F

    x = torch.rand(1, 3, 40, 50)
    torch.testing.assert_close(resize(x, (30, 20), "pytorch-fid"),
                               F.interpolate(x, size=(30, 20), mode="bilinear", align_corners=False))
    u8 = (x * 255).round() / 255
    clean = resize(x, (30, 20), "clean")
    assert clean.shape == (1, 3, 30, 20)
    pil = np.asarray(Image.fromarray((u8[0, 0].numpy() * 255).astype(np.float32), mode="F").resize((20, 30), Image.BICUBIC))
    np.testing.assert_allclose(clean[0, 0].numpy(), np.clip(pil, 0, 255) / 255, atol=1e-6)
    with pytest.raises(ValueError, match="resize mode"):
        resize(x, 10, "nearest")


def test_save_images_never_overwrites_without_asking(tmp_path):
    x = torch.rand(2, 3, 4, 4)
    paths = save_images(x, tmp_path)
    before = paths[0].read_bytes()
    with pytest.raises(ValueError, match="overwrite=True"):
        save_images(torch.zeros(2, 3, 4, 4), tmp_path)
    assert paths[0].read_bytes() == before
    save_images(torch.zeros(2, 3, 4, 4), tmp_path, overwrite=True)
    assert float(load_image(paths[0]).max()) == 0.0


def _sideways(upright: np.ndarray, orientation: int) -> Image.Image:
    """The pixels a camera stores for an upright scene under EXIF ``orientation`` (6: rotated 90° clockwise
    when shown, so stored 90° counter-clockwise; 3: upside down), with the tag that says so."""
    stored = {6: np.rot90(upright, 1), 3: np.rot90(upright, 2), 8: np.rot90(upright, -1)}[orientation]
    img = Image.fromarray(np.ascontiguousarray(stored))
    exif = Image.Exif()
    exif[0x0112] = orientation
    img.info["exif_for_test"] = exif
    return img


@pytest.mark.parametrize("orientation", [6, 3, 8])
def test_exif_orientation_is_applied_when_decoding(tmp_path, orientation):
    upright = np.zeros((4, 6, 3), np.uint8)  # 4 rows, 6 columns, a marker at the top-left corner
    upright[0, 0] = (255, 0, 0)
    upright[3, 5] = (0, 0, 255)
    img = _sideways(upright, orientation)
    path = tmp_path / "camera.png"
    img.save(path, exif=img.info["exif_for_test"])
    x = load_image(path)
    assert x.shape == (1, 3, 4, 6)
    np.testing.assert_array_equal((x[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8), upright)


def test_a_sideways_camera_jpeg_scores_as_its_upright_reference(tmp_path):
    from percept_lib.data import photo

    upright = photo("astronaut", size=64)
    Image.fromarray((upright[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(
        tmp_path / "reference.png")
    img = _sideways((upright[0, :, :, 8:56].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8), 6)
    img.save(tmp_path / "camera.jpg", exif=img.info["exif_for_test"], quality=95)
    x = load_image(tmp_path / "camera.jpg")
    assert x.shape == (1, 3, 64, 48)  # upright: as tall as the reference, not as wide
    assert float((x - upright[..., 8:56]).abs().mean()) < 0.03  # JPEG rounding, not a rotated image


def test_images_over_the_pixel_limit_are_refused_from_their_header(tmp_path, monkeypatch):
    from percept_lib.images import DEFAULT_MAX_PIXELS, decode_image, pixel_limit

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_claiming(10_000, 10_000))  # 100 megapixels in a ~30 KB file
    assert bomb.stat().st_size < 500_000
    with pytest.raises(ValueError, match=r"bomb\.png: 10000×10000 is 100\.0 megapixels, over the limit of 89\.5 "
                                         r"megapixels \(PERCEPT_MAX_PIXELS\).*raise PERCEPT_MAX_PIXELS"):
        load_image(bomb)
    huge = tmp_path / "huge.png"  # over twice PIL's own limit: PIL refuses in open(), before we see the size
    huge.write_bytes(png_claiming(20_000, 10_000))
    with pytest.raises(ValueError, match=r"huge\.png: a possible decompression bomb.*PERCEPT_MAX_PIXELS"):
        load_image(huge)

    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(small)
    assert decode_image(small, max_pixels=1200).shape == (3, 30, 40)
    with pytest.raises(ValueError, match=r"40×30 is 1,200 pixels, over the limit of 1,199 pixels \(PERCEPT_MAX_PIXELS\)"):
        decode_image(small, max_pixels=1199)
    monkeypatch.setenv("PERCEPT_MAX_PIXELS", "0.001M")
    assert pixel_limit() == 1000
    with pytest.raises(ValueError, match="over the limit"):
        load_image(small)
    monkeypatch.setenv("PERCEPT_MAX_PIXELS", "many")
    with pytest.raises(ValueError, match=r"PERCEPT_MAX_PIXELS='many'.*100M"):
        load_image(small)
    monkeypatch.delenv("PERCEPT_MAX_PIXELS")
    assert pixel_limit() == DEFAULT_MAX_PIXELS


def test_image_size_reads_the_upright_size_from_the_header(tmp_path):
    """A sideways camera JPEG (orientation 6) reports the size decode_image returns, and a file over the
    pixel limit is refused from its header, with the decoder's message."""
    from percept_lib.images import decode_image, image_size

    img = Image.fromarray(np.zeros((20, 30, 3), dtype=np.uint8))
    exif = img.getexif()
    exif[0x0112] = 6
    img.save(tmp_path / "sideways.jpg", exif=exif)
    assert image_size(tmp_path / "sideways.jpg") == tuple(decode_image(tmp_path / "sideways.jpg").shape[-2:]) == (30, 20)
    with pytest.raises(ValueError, match="sideways.jpg"):
        image_size(tmp_path / "sideways.jpg", max_pixels=100)
