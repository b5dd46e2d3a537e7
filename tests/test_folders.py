"""The folder pipeline: parity with pytorch-fid's and clean-fid's preprocessing, the feature cache, bad files,
and the sharded statistics under torchrun.

The Inception checkpoint is the seeded, photo-calibrated one that ``torch_home`` writes under the published
file name, so our code and pytorch-fid load the same file. Most tests use the 64-d tap (first block only):
what they check — resizing, caching, sharding — does not depend on the depth, and it is 20× cheaper.
"""
from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import photo_crops, png_claiming
from percept_lib.extractors.inception import InceptionFID
from percept_lib.images import save_images
from percept_lib.pipeline import extract_folder, fid_folders, folder_features, folder_stats

REPO = Path(__file__).resolve().parents[1]


def mixed_folder(root: Path, n_square: int = 3, n_wide: int = 3) -> Path:
    """PNGs of two sizes (64×64 and 48×80): they cannot share a batch until each is resized."""
    save_images(photo_crops(n_square, 64, seed=1), root, names=[f"a{i}.png" for i in range(n_square)])
    if n_wide:
        save_images(photo_crops(n_wide, 80, seed=2)[..., 16:64, :], root, names=[f"b{i}.png" for i in range(n_wide)])
    return root


def test_pytorch_fid_mode_reproduces_pytorch_fid_activations(inception, tmp_path):
    from pytorch_fid.fid_score import get_activations
    from pytorch_fid.inception import InceptionV3

    folder = mixed_folder(tmp_path / "imgs")
    files = sorted(folder.glob("*.png"))
    model = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[64]])
    # pytorch-fid stacks ToTensor outputs, so mixed sizes need batch_size=1 there; we batch 4 at a time.
    reference = get_activations(files, model, batch_size=1, dims=64, device="cpu", num_workers=0)
    ours = folder_features(folder, layer=64, resize="pytorch-fid", batch_size=4, progress=False)
    assert ours.dtype == np.float64 and ours.shape == (6, 64)
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-6 * np.abs(reference).max())


def test_clean_mode_is_clean_fid_resize_without_requantizing(inception, tmp_path):
    from cleanfid.resize import make_resizer
    from PIL import Image

    from percept_lib.extractors import feature_vectors, get_extractor

    folder = mixed_folder(tmp_path / "imgs", 2, 2)
    resizer = make_resizer("PIL", False, "bicubic", (299, 299))  # clean-fid's "clean" mode
    net = get_extractor("inception-fid", layers=["block64"], resize="clean")
    batch = []
    for path in sorted(folder.glob("*.png")):
        resized = resizer(np.array(Image.open(path).convert("RGB")))  # float32 in [0, 255], not rounded
        batch.append(torch.from_numpy(resized.transpose(2, 0, 1) / 255.0).float())
    with torch.no_grad():
        reference = feature_vectors(net.features(net.normalize(torch.stack(batch)))["block64"]).double().numpy()
    ours = folder_features(folder, layer="block64", resize="clean", progress=False)
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-6 * np.abs(reference).max())


def test_rerun_reads_the_cache_and_a_changed_file_is_recomputed(inception, tmp_path, feature_cache, monkeypatch):
    folder = mixed_folder(tmp_path / "imgs", 2, 2)
    before = sorted(p.name for p in folder.iterdir())
    built = []  # one entry per folder run through the network
    real_embed = InceptionFID.embed
    monkeypatch.setattr(InceptionFID, "embed", lambda self, *a: built.append(1) or real_embed(self, *a))

    first = extract_folder(folder, layer=64, progress=False)
    assert not first.from_cache and len(built) == 1
    second = extract_folder(folder, layer=64, progress=False)
    assert second.from_cache and len(built) == 1  # no network built, let alone run
    np.testing.assert_array_equal(second.features, first.features)
    assert list(feature_cache.rglob("*.npz")) and sorted(p.name for p in folder.iterdir()) == before

    # Another resize mode or layer is another cache entry.
    extract_folder(folder, layer=64, resize="pytorch-fid", progress=False)
    assert len(built) == 2

    # Replace one image (new content, new size, new mtime): recomputed, and the row changes.
    save_images(photo_crops(1, 64, seed=9), folder, names=["a0.png"], overwrite=True)
    third = extract_folder(folder, layer=64, progress=False)
    assert not third.from_cache and len(built) == 3
    assert not np.allclose(third.features[0], first.features[0])
    np.testing.assert_allclose(third.features[1:], first.features[1:], rtol=1e-6)

    # Touching a file (same bytes, new mtime) changes nothing: the content decides. cache=False always recomputes.
    stat = (folder / "b1.png").stat()
    os.utime(folder / "b1.png", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert extract_folder(folder, layer=64, progress=False).from_cache
    assert not extract_folder(folder, layer=64, progress=False, cache=False).from_cache
    assert len(built) == 4


def test_a_corrupt_cache_file_is_recomputed(inception, tmp_path, feature_cache):
    folder = mixed_folder(tmp_path / "imgs", 2, 0)
    first = extract_folder(folder, layer=64, progress=False)
    (cache_file,) = feature_cache.rglob("*.npz")
    cache_file.write_bytes(b"truncated")
    again = extract_folder(folder, layer=64, progress=False)
    assert not again.from_cache
    np.testing.assert_array_equal(again.features, first.features)


def test_corrupt_images_are_skipped_and_named(inception, tmp_path):
    folder = mixed_folder(tmp_path / "imgs", 2, 1)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    # One DataLoader worker: the failure must cross the process boundary as data, not as an exception.
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable image\(s\) of 4: broken\.png"):
        result = extract_folder(folder, layer=64, batch_size=2, num_workers=1, progress=False)
    assert result.names == ["a0.png", "a1.png", "b0.png"] and result.features.shape == (3, 64)
    with pytest.warns(UserWarning, match="broken.png"):  # still named when the features come from the cache
        assert extract_folder(folder, layer=64, batch_size=2, progress=False).from_cache


def test_empty_missing_and_unreadable_folders_are_errors(inception, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    with pytest.raises(ValueError, match="no image files"):
        folder_features(empty, layer=64, progress=False)
    with pytest.raises(ValueError, match="not a folder"):
        folder_features(tmp_path / "nowhere", layer=64, progress=False)
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "x.png").write_bytes(b"junk")
    with pytest.raises(ValueError, match="none of the 1 image files could be read"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        folder_features(junk, layer=64, progress=False)


@pytest.mark.parametrize("kwargs, message", [
    ({"layer": 100}, "Inception layer"),
    ({"resize": "bilinear"}, "resize"),
    ({"batch_size": 0}, "batch_size"),
    ({"extractor": "vgg16"}, "folders support"),
])
def test_bad_options_are_explained(tmp_path, kwargs, message):
    folder = tmp_path / "imgs"
    save_images(photo_crops(2, 32, seed=0), folder)
    with pytest.raises(ValueError, match=message):
        folder_features(folder, progress=False, **kwargs)


def test_folder_stats_and_fid_against_a_saved_stats_file(inception, tmp_path):
    a = mixed_folder(tmp_path / "a", 3, 2)
    b = tmp_path / "b"
    save_images(photo_crops(6, 64, seed=5), b)
    features = folder_features(a, layer=64, progress=False)
    stats = folder_stats(a, layer=64, progress=False)
    mu, sigma = stats.compute()
    assert stats.count == 5
    np.testing.assert_allclose(mu, features.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(features, rowvar=False), rtol=1e-9, atol=1e-12)

    both_folders = fid_folders(a, b, feature=64, progress=False)
    stats.save(tmp_path / "a.npz")
    with_file = fid_folders(tmp_path / "a.npz", b, feature=64, progress=False)
    assert both_folders.value > 0
    assert with_file.value == pytest.approx(both_folders.value, rel=1e-9)
    assert (with_file.n, with_file.n_reference) == (5, 6)
    with pytest.raises(ValueError, match="dimension 64.*--dims 64"):
        fid_folders(tmp_path / "a.npz", b, feature=2048, progress=False)


def test_torchrun_two_processes_give_the_single_process_statistics(inception, tmp_path):
    """Two gloo ranks on the CPU shard 7 files (4 + 3) and all-reduce: the one-process statistics."""
    folder = tmp_path / "imgs"
    save_images(photo_crops(7, 48, seed=3), folder)
    out = tmp_path / "stats.npz"
    env = {**os.environ, "PERCEPT_CACHE": str(tmp_path / "child-cache"), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "percept_lib", "stats", str(folder), "-o", str(out), "--dims", "64", "--no-progress", "--json"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert '"n": 7' in done.stdout and done.stdout.count('"output"') == 1  # rank 0 alone reports

    single = folder_stats(folder, layer=64, progress=False, distributed="off")
    mu, sigma = single.compute()
    with np.load(out) as f:
        assert int(f["n"]) == 7
        np.testing.assert_allclose(f["mu"], mu, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(f["sigma"], sigma, rtol=1e-8, atol=1e-10 * np.abs(sigma).max())
    # The ranks really did split the work: each cached the features of its own shard only.
    shard_sizes = sorted(len(np.load(p)["names"]) for p in (tmp_path / "child-cache").rglob("*.npz"))
    assert shard_sizes == [3, 4]


@pytest.mark.parametrize("resize", ["clean", "pytorch-fid"])
def test_decompression_bombs_are_skipped_and_named_and_the_rest_is_intact(inception, tmp_path, resize):
    folder = mixed_folder(tmp_path / "imgs", 2, 1)
    reference = extract_folder(folder, layer=64, resize=resize, progress=False, cache=False)
    (folder / "bomb.png").write_bytes(png_claiming(10_000, 10_000))  # 100 MP: PIL would only warn
    (folder / "zbomb.png").write_bytes(png_claiming(20_000, 10_000))  # 200 MP: PIL's own error
    with pytest.warns(UserWarning, match=r"skipped 2 unreadable image\(s\) of 5: bomb\.png .*100\.0 megapixels, over "
                                         r"the limit.*PERCEPT_MAX_PIXELS.*zbomb\.png .*decompression bomb"):
        result = extract_folder(folder, layer=64, resize=resize, batch_size=2, num_workers=1, progress=False)
    assert result.names == reference.names and [n for n, _ in result.skipped] == ["bomb.png", "zbomb.png"]
    np.testing.assert_array_equal(result.features, reference.features)


def test_the_pixel_limit_is_a_run_option_and_an_environment_variable(inception, tmp_path, monkeypatch):
    folder = mixed_folder(tmp_path / "imgs", 2, 1)  # 64×64 and 48×80 images: 4096 and 3840 pixels
    with pytest.warns(UserWarning, match=r"skipped 2 .*a0\.png .*4,096 pixels, over the limit of 4,000 pixels"):
        assert extract_folder(folder, layer=64, progress=False, max_pixels=4000).names == ["b0.png"]
    monkeypatch.setenv("PERCEPT_MAX_PIXELS", "4000")
    with pytest.warns(UserWarning, match="skipped 2"):
        assert extract_folder(folder, layer=64, progress=False, cache=False).names == ["b0.png"]
    monkeypatch.setenv("PERCEPT_MAX_PIXELS", "-3")
    with pytest.raises(ValueError, match="PERCEPT_MAX_PIXELS='-3'"):
        extract_folder(folder, layer=64, progress=False)
    with pytest.raises(ValueError, match="max_pixels=0"):
        extract_folder(folder, layer=64, progress=False, max_pixels=0)


def test_symlinked_folders_are_followed_once_and_a_loop_ends(tmp_path):
    import threading

    from percept_lib.pipeline.loading import folder_files

    root, outside = tmp_path / "root", tmp_path / "outside"
    save_images(photo_crops(1, 16, seed=0), root, names=["top.png"])
    save_images(photo_crops(1, 16, seed=1), root / "sub", names=["inner.png"])
    save_images(photo_crops(1, 16, seed=2), outside, names=["linked.png"])
    (root / "a_link").symlink_to(outside, target_is_directory=True)      # a folder elsewhere: followed
    (root / "b_second_link").symlink_to(outside, target_is_directory=True)  # the same folder again: once
    (root / "sub" / "loop").symlink_to(root, target_is_directory=True)   # back up the tree: a loop
    (root / "dangling.png").symlink_to(tmp_path / "gone.png")             # listed, so that decoding names it

    found: list = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        walker = threading.Thread(target=lambda: found.extend(folder_files(root)), daemon=True)
        walker.start()
        walker.join(timeout=30)
    assert not walker.is_alive(), "the folder walk did not end (symbolic-link loop)"
    assert [p.relative_to(root).as_posix() for p in found] == [
        "a_link/linked.png", "dangling.png", "sub/inner.png", "top.png"]
    (message,) = [str(w.message) for w in caught]
    assert "not following 2 link(s) to a folder already read" in message
    assert "b_second_link" in message and "loop" in message


@pytest.mark.parametrize("command", ["fid", "kid", "stats", "clip-score", "pairs"])
def test_folder_commands_say_how_folders_are_read(command, capsys):
    from percept_lib.cli import main

    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Folders are read recursively" in text and "symbolic links to folders included" in text
