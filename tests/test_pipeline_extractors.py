"""The folder pipeline with any embedding extractor (CLIP, DINOv2), its cache key, and the streaming metrics as
nn.Modules that never move the shared extractor.

CLIP and DINOv2 load seeded checkpoints written under their published names (``torch_home``); mixed image sizes
check that each extractor's own preprocessing makes the batch.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from percept_lib.cli import main
from percept_lib.extractors import get_extractor
from percept_lib.images import load_image, save_images
from percept_lib.pipeline import FeatureSpec, RunOptions, extract_folder, folder_features


def crops(n: int, size: int, seed: int) -> torch.Tensor:
    from percept_lib.data import photos, random_crops

    return random_crops(photos(("astronaut", "chelsea", "coffee", "rocket"), 96), n, size, seed=seed)


@pytest.fixture()
def folders(tmp_path) -> tuple[Path, Path]:
    a, b = tmp_path / "a", tmp_path / "b"
    save_images(crops(3, 48, seed=1), a)
    save_images(crops(2, 64, seed=2)[..., 8:56, :], a, names=["wide0.png", "wide1.png"])  # 48×64: mixed sizes
    save_images(crops(4, 48, seed=3), b)
    return a, b


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("name, layer, dim", [("clip-vit-b-32", "embedding", 512), ("dinov2-vits14", "cls", 384)])
def test_fid_and_kid_on_folders_with_another_extractor_cached(torch_home, folders, feature_cache, capsys,
                                                              name, layer, dim):
    torch_home.make(name)
    a, b = folders
    code, out, err = run_cli(capsys, "fid", a, b, "--extractor", name, "--json", "--no-progress")
    assert code == 0, err
    result = json.loads(out)
    assert result["extractor"] == f"{name}/{layer}" and result["resize"] == ""
    assert (result["n"], result["n_reference"]) == (5, 4) and result["value"] > 0
    assert len(list(feature_cache.rglob("*.npz"))) == 2
    again = extract_folder(a, name, options=RunOptions(progress=False))
    assert again.from_cache and again.features.shape == (5, dim) and again.weights == "pretrained"
    code, out, _ = run_cli(capsys, "fid", a, b, "--extractor", name, "--json", "--no-progress")
    assert json.loads(out)["value"] == result["value"] and len(list(feature_cache.rglob("*.npz"))) == 2

    code, out, _ = run_cli(capsys, "kid", a, b, "--extractor", name, "--subsets", "3", "--json", "--no-progress")
    assert code == 0 and json.loads(out)["extractor"] == f"{name}/{layer}"


def test_folder_features_are_the_extractors_own_embeddings(torch_home, folders):
    """Same-size images: the folder route equals the extractor applied to the loaded batch."""
    torch_home.make("clip-vit-b-32", "dinov2-vits14")
    _, b = folders
    batch = torch.cat([load_image(p) for p in sorted(b.glob("*.png"))])
    with torch.no_grad():
        clip = get_extractor("clip-vit-b-32")(batch)["embedding"].double().numpy()
        dino = get_extractor("dinov2-vits14", layers=["cls"])(batch)["cls"].double().numpy()
    ours_clip = folder_features(b, "clip-vit-b-32", progress=False)
    ours_dino = folder_features(b, "dinov2-vits14", "cls", progress=False)
    np.testing.assert_allclose(ours_clip, clip, rtol=1e-5, atol=1e-5 * np.abs(clip).max())
    # DINOv2's forward normalizes before it resizes, the folder route after: the same up to rounding.
    np.testing.assert_allclose(ours_dino, dino, rtol=1e-4, atol=1e-4 * np.abs(dino).max())


def test_the_cache_key_carries_extractor_and_layer(torch_home, folders, feature_cache):
    torch_home.make("dinov2-vits14")
    a, _ = folders
    cls = extract_folder(a, "dinov2-vits14", "cls", progress=False)
    patch = extract_folder(a, "dinov2-vits14", "patch", progress=False)
    assert not patch.from_cache and not np.allclose(cls.features, patch.features)
    assert extract_folder(a, "dinov2-vits14", "patch", progress=False).from_cache
    assert len(list(feature_cache.rglob("*.npz"))) == 2


def test_stats_file_of_another_extractor_and_bad_combinations(torch_home, folders, tmp_path, capsys):
    torch_home.make("dinov2-vits14")
    a, b = folders
    out_file = tmp_path / "b.npz"
    code, out, err = run_cli(capsys, "stats", b, "-o", out_file, "--extractor", "dinov2-vits14", "--json",
                             "--no-progress")
    assert code == 0, err
    with np.load(out_file) as f:
        assert f["mu"].shape == (384,) and int(f["n"]) == 4
    code, out, _ = run_cli(capsys, "fid", a, out_file, "--extractor", "dinov2-vits14", "--json", "--no-progress")
    with_file = json.loads(out)["value"]
    code, out, _ = run_cli(capsys, "fid", a, b, "--extractor", "dinov2-vits14", "--json", "--no-progress")
    assert with_file == pytest.approx(json.loads(out)["value"], rel=1e-9)

    for argv, message in [
        (("--extractor", "clip-vit-b-32", "--resize", "pytorch-fid"), "inception-fid only"),
        (("--extractor", "clip-vit-b-32", "--dims", "64"), "use --layer"),
        (("--extractor", "dinov2-vits14", "--layer", "pool3"), "taps cls, patch"),
        (("--layer", "block64", "--dims", "64"), "pass one of them"),
    ]:
        code, _, err = run_cli(capsys, "fid", a, b, "--no-progress", *argv)
        assert code == 2 and message in err, err
    with pytest.raises(ValueError, match="folders support"):
        FeatureSpec.of("vgg16")
    with pytest.raises(ValueError, match="unknown option"):
        RunOptions.resolve(None, workers=2)


def test_streaming_metrics_are_modules_whose_moves_stay_their_own(inception):
    from percept_lib.metrics.accumulators import FID, KID, CLIPScore, StreamingMetric, higher_is_better

    x = crops(4, 48, seed=4)
    fid, kid = FID(feature=64), KID(feature=64)
    for metric in (fid, kid):
        assert isinstance(metric, (torch.nn.Module, StreamingMetric))
        metric.update(x[:2], real=True)
        metric.update(x[2:], real=False)
    value = fid.compute()
    shared = get_extractor("inception-fid", layers=["block64"], resize="clean")
    before = {k: v.clone() for k, v in shared.state_dict().items()}

    moved_fid, moved_kid = copy.deepcopy(fid).to("meta").half(), copy.deepcopy(kid).to("meta")
    assert moved_fid.device.type == "meta" and moved_fid.real.mean.device.type == "meta"
    assert moved_fid.real.mean.dtype == torch.float64  # statistics stay float64 whatever .half() asks
    assert all(t.device.type == "meta" for t in moved_kid.real + moved_kid.fake)
    # The shared extractor is not a submodule: unmoved, uncast, unchanged.
    assert not list(fid.children()) and not list(fid.parameters())
    assert all(p.device.type == "cpu" and p.dtype == torch.float32 for p in shared.parameters())
    assert all(torch.equal(before[k], v) for k, v in shared.state_dict().items())

    assert fid.half().compute() == pytest.approx(value, rel=1e-12)
    fid.reset()
    assert fid.real.count == 0
    assert (FID.higher_is_better, KID.higher_is_better, CLIPScore.higher_is_better) == (False, False, True)
    assert not higher_is_better("pairs/lpips-alex") and higher_is_better("pairs/psnr")
    assert higher_is_better("clip-score") and not higher_is_better("fid")


def strict_json(text: str):
    """json.loads that refuses NaN / Infinity / -Infinity, as a JavaScript or Go parser does."""
    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_json_output_is_strict_json(tmp_path, capsys):
    from argparse import Namespace

    from percept_lib.cli.flags import report

    # End to end: the PSNR of identical images is not a finite number.
    images = crops(2, 32, seed=1)
    save_images(images, tmp_path / "test")
    save_images(images, tmp_path / "reference")
    code, out, err = run_cli(capsys, "pairs", tmp_path / "test", tmp_path / "reference", "--metrics", "psnr",
                             "--json", "--no-progress")
    assert code == 0, err
    assert strict_json(out)["n"] == 2

    payload = {"value": float("inf"), "std": float("nan"), "n": np.int64(3),
               "rows": [np.float32(-np.inf), np.float64(0.5), (1, float("nan"))], "nested": {"x": float("-inf")}}
    assert report(payload, "pretrained", Namespace(json=True), [])
    parsed = strict_json(capsys.readouterr().out)
    assert parsed == {"value": "inf", "std": "nan", "n": 3, "rows": ["-inf", 0.5, [1, "nan"]],
                      "nested": {"x": "-inf"}}
    assert float(parsed["value"]) == float("inf") and float(parsed["rows"][0]) == float("-inf")
