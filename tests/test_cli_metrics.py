"""``python -m percept_lib fid | kid | stats | clip-score`` end to end on tiny folders of PNGs.

References, on the same files and the same checkpoint (seeded weights written under the published names):
pytorch-fid (``calculate_fid_given_paths``, ``calculate_activation_statistics``, ``compute_statistics_of_path``),
torchmetrics' ``poly_mmd`` (KID) and open_clip's own preprocessing and encoders (CLIPScore).

Where FID itself is compared, it is on the 64-d tap: pytorch-fid's ``scipy.linalg.sqrtm`` of a 2048×2048
product takes about a minute on two cores. At 2048-d the statistics (μ, Σ) are compared instead — FID is a
fixed function of them.
"""
from __future__ import annotations

import csv
import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import photo_crops
from percept_lib.cli import main
from percept_lib.images import save_images
from percept_lib.pipeline.history import read_history


@pytest.fixture()
def two_folders(tmp_path) -> tuple[Path, Path]:
    """A: 8 crops, B: 7 other crops (different N on purpose: the output must keep them apart)."""
    a, b = tmp_path / "a", tmp_path / "b"
    save_images(photo_crops(8, 64, seed=10), a)
    save_images(photo_crops(7, 64, seed=11), b)
    return a, b


@lru_cache(maxsize=None)
def pytorch_fid_model(dims: int):
    from pytorch_fid.inception import InceptionV3

    return InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[dims]]).eval()


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_fid_json_equals_pytorch_fid(inception, two_folders, capsys):
    from pytorch_fid.fid_score import calculate_fid_given_paths

    a, b = two_folders
    code, out, _ = run_cli(capsys, "fid", a, b, "--resize", "pytorch-fid", "--dims", "64", "--json", "--no-progress")
    assert code == 0
    result = json.loads(out)
    assert (result["n"], result["n_reference"]) == (8, 7)
    assert result["weights"] == "pretrained" and result["extractor"] == "inception-fid/block64"
    assert result["resize"] == "pytorch-fid"
    reference = calculate_fid_given_paths([str(a), str(b)], batch_size=50, device="cpu", dims=64, num_workers=0)
    assert result["value"] == pytest.approx(reference, rel=1e-4)
    assert result["value"] > 1e-3  # two different sets: a test that 0 == 0 would prove nothing


def test_stats_at_2048_match_pytorch_fid_and_pytorch_fid_reads_the_file(inception, tmp_path, capsys):
    from pytorch_fid.fid_score import calculate_activation_statistics, compute_statistics_of_path

    folder = tmp_path / "imgs"
    save_images(photo_crops(3, 64, seed=12), folder, names=["s0.png", "s1.png", "s2.png"])
    save_images(photo_crops(2, 80, seed=13)[..., 8:72, :], folder, names=["w0.png", "w1.png"])  # 64×80: mixed sizes
    out_file = tmp_path / "stats.npz"
    code, out, _ = run_cli(capsys, "stats", folder, "-o", out_file, "--resize", "pytorch-fid", "--no-progress")
    assert code == 0 and "5 images" in out and "weights: pretrained" in out

    model = pytorch_fid_model(2048)
    files = sorted(folder.glob("*.png"))
    # batch_size=1: pytorch-fid cannot stack images of different sizes.
    mu_ref, sigma_ref = calculate_activation_statistics(files, model, batch_size=1, dims=2048, device="cpu",
                                                        num_workers=0)
    mu, sigma = compute_statistics_of_path(str(out_file), model, 1, 2048, "cpu", 0)  # pytorch-fid reads our file
    np.testing.assert_allclose(mu, mu_ref, rtol=1e-4, atol=1e-5 * np.abs(mu_ref).max())
    np.testing.assert_allclose(sigma, sigma_ref, rtol=1e-4, atol=1e-5 * np.abs(sigma_ref).max())

    code, _, err = run_cli(capsys, "stats", folder, "-o", out_file, "--resize", "pytorch-fid", "--no-progress")
    assert code == 2 and "exists; pass --force" in err
    code, _, _ = run_cli(capsys, "stats", folder, "-o", out_file, "--resize", "pytorch-fid", "--no-progress",
                         "--force")
    assert code == 0


def test_fid_against_a_pytorch_fid_stats_file_says_n_is_unknown(inception, two_folders, tmp_path, capsys):
    a, b = two_folders
    code, out, _ = run_cli(capsys, "fid", a, b, "--dims", "64", "--json", "--no-progress")
    both = json.loads(out)
    # A file as pytorch-fid writes it: mu and sigma, no N.
    from percept_lib.pipeline import folder_stats

    mu, sigma = folder_stats(b, layer=64, progress=False).compute()
    np.savez(tmp_path / "b.npz", mu=mu, sigma=sigma)
    code, out, _ = run_cli(capsys, "fid", a, tmp_path / "b.npz", "--dims", "64", "--no-progress")
    assert code == 0
    assert "A: " in out and "(N = 8)" in out and "N = unknown" in out
    # accepted, and what cannot be known about the file is labelled so (no random-weights banner either)
    assert "inception-fid/block64 | unknown, resize clean | unknown; weights: pretrained | unknown" in out
    assert "RANDOM" not in out
    value = float(out.split("FID ")[1].split()[0])
    assert value == pytest.approx(both["value"], rel=1e-5)


def test_kid_json_equals_torchmetrics_mmd_on_pytorch_fid_features(inception, tmp_path, capsys):
    from pytorch_fid.fid_score import get_activations
    from torchmetrics.image.kid import poly_mmd

    a, b = tmp_path / "a", tmp_path / "b"
    save_images(photo_crops(6, 64, seed=20), a)
    save_images(photo_crops(6, 64, seed=21), b)
    # One subset of all 6 + 6 samples: the subset draw cannot matter, so the reference needs no shared RNG.
    code, out, _ = run_cli(capsys, "kid", a, b, "--dims", "64", "--resize", "pytorch-fid", "--subsets", "1",
                           "--json", "--no-progress")
    assert code == 0
    result = json.loads(out)
    assert (result["n"], result["n_reference"], result["subset_size"]) == (6, 6, 6)
    model = pytorch_fid_model(64)
    fa, fb = (torch.from_numpy(get_activations(sorted(d.glob("*.png")), model, 50, 64, "cpu", 0)) for d in (a, b))
    assert result["value"] == pytest.approx(float(poly_mmd(fa, fb)), rel=1e-4, abs=1e-7)
    assert result["std"] == 0.0


def test_db_appends_one_row_per_run(inception, two_folders, tmp_path, capsys):
    a, b = two_folders
    db = tmp_path / "results.sqlite"
    for checkpoint in ("ckpt-1", "ckpt-2"):
        code, out, _ = run_cli(capsys, "fid", a, b, "--dims", "64", "--json", "--no-progress", "--db", db,
                               "--tag", "exp", "--checkpoint", checkpoint)
        assert code == 0
    value = json.loads(out)["value"]
    rows = read_history(db)
    assert [r["checkpoint"] for r in rows] == ["ckpt-1", "ckpt-2"]
    row = rows[-1]
    assert row["metric"] == "fid" and row["value"] == pytest.approx(value, rel=1e-12)
    assert (row["n"], row["n_reference"]) == (8, 7) and row["tag"] == "exp"
    assert row["extractor"] == "inception-fid/block64" and row["resize"] == "clean" and row["weights"] == "pretrained"
    assert row["folders"] == f"{a} | {b}"


def test_random_weights_carry_a_banner_and_json_stays_parseable(random_weights, two_folders, capsys):
    a, b = two_folders
    code, out, _ = run_cli(capsys, "fid", a, b, "--dims", "64", "--no-progress")
    assert code == 0
    assert out.startswith("⚠ RANDOM WEIGHTS") and "weights: random weights (illustrative)" in out
    assert "(N = 8)" in out and "(N = 7)" in out
    code, out, err = run_cli(capsys, "fid", a, b, "--dims", "64", "--no-progress", "--json")
    assert json.loads(out)["weights"] == "random weights (illustrative)" and "RANDOM WEIGHTS" in err


def test_bad_input_gives_one_clear_line(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_cli(capsys, "fid", empty, empty, "--no-progress")
    assert code == 2 and "no image files" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "stats", empty, "-o", tmp_path / "s.txt")
    assert code == 2 and ".npz" in err
    code, _, err = run_cli(capsys, "clip-score", empty, "--captions", tmp_path / "none.csv")
    assert code == 2 and "no image files" in err
    save_images(photo_crops(2, 32, seed=0), tmp_path / "imgs")
    code, _, err = run_cli(capsys, "kid", tmp_path / "imgs", tmp_path / "x.npz")
    assert code == 2 and "KID needs the features" in err
    if not torch.cuda.is_available():
        code, _, err = run_cli(capsys, "fid", tmp_path / "imgs", tmp_path / "imgs", "--device", "cuda")
        assert code == 2 and "no CUDA device" in err


def _write_captions(path: Path, rows) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "caption"])
        writer.writerows(rows)
    return path


def test_clip_score_equals_open_clip_on_the_same_files(torch_home, tmp_path, capsys):
    import open_clip
    from PIL import Image

    checkpoints = torch_home.make("clip-vit-b-32")
    folder = tmp_path / "imgs"
    save_images(photo_crops(3, 80, seed=30)[..., 8:72, :], folder, names=["x.png", "y.png", "z.png"])  # 64×80
    captions = {"x.png": "an astronaut, smiling", "y.png": "a cat", "z.png": "a cup of coffee"}
    csv_path = _write_captions(tmp_path / "captions.csv", captions.items())
    code, out, _ = run_cli(capsys, "clip-score", folder, "--captions", csv_path, "--convention", "torchmetrics",
                           "--prefix", "A photo depicts", "--json", "--no-progress")
    assert code == 0
    result = json.loads(out)
    assert result["n"] == 3 and result["convention"] == "torchmetrics" and result["weights"] == "pretrained"

    # open_clip's own route: it loads the file itself (QuickGELU model), PIL resize + centre crop, its tokenizer.
    path = checkpoints / "open_clip_vit_b_32_openai.safetensors"
    model, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32-quickgelu", pretrained=str(path))
    tokenizer = open_clip.get_tokenizer("ViT-B-32-quickgelu")
    names = sorted(captions)
    with torch.no_grad():
        img = model.encode_image(torch.stack([preprocess(Image.open(folder / n)) for n in names]))
        txt = model.encode_text(tokenizer([f"A photo depicts {captions[n]}" for n in names]))
    cos = torch.nn.functional.cosine_similarity(img.double(), txt.double())
    expected = (100 * cos).tolist()
    # Tolerance: open_clip resizes the 8-bit image with PIL, we resize the tensor (resampling rounding only:
    # ~1e-4 in cosine). The seeded weights give cosines of a few hundredths, so 100·cos is a few units.
    assert [result["per_sample"][n] for n in names] == pytest.approx(expected, abs=0.03)
    with torch.no_grad():  # the prefix matters at this tolerance: without it the numbers differ
        bare = model.encode_text(tokenizer([captions[n] for n in names]))
    assert (100 * torch.nn.functional.cosine_similarity(img.double(), bare.double()) - 100 * cos).abs().max() > 0.1
    assert result["value"] == pytest.approx(max(float(np.mean(expected)), 0.0), abs=0.03)


def test_clip_score_csv_problems_are_named(tmp_path, capsys):
    folder = tmp_path / "imgs"
    save_images(photo_crops(2, 32, seed=0), folder, names=["a.png", "b.png"])
    cases = [
        (_write_captions(tmp_path / "c1.csv", [("a.png", "x"), ("missing.png", "y")]), "missing.png"),
        (_write_captions(tmp_path / "c2.csv", [("a.png", "x"), ("a.png", "again")]), "second caption"),
        (_write_captions(tmp_path / "c3.csv", [("a.png", " ")]), "empty caption"),
    ]
    bad_header = tmp_path / "c4.csv"
    bad_header.write_text("image,text\na.png,x\n")
    cases.append((bad_header, "needs a header with 'file' and 'caption'"))
    for path, message in cases:
        code, _, err = run_cli(capsys, "clip-score", folder, "--captions", path)
        assert code == 2 and message in err, err


# ----------------------------------------------------------------------------------------------------
# Outputs checked before the computation, written atomically
# ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["fid", "kid", "clip-score"])
def test_a_db_that_is_not_sqlite_fails_before_any_image_is_read(tmp_path, capsys, monkeypatch, command):
    import percept_lib.pipeline.folders as folders

    calls = []
    for name in ("fid_folders", "kid_folders", "clip_score_folder"):
        monkeypatch.setattr(folders, name, lambda *a, _name=name, **k: calls.append(_name))
    images = tmp_path / "imgs"
    save_images(photo_crops(2, 32, seed=0), images, names=["a.png", "b.png"])
    captions = _write_captions(tmp_path / "captions.csv", [("a.png", "x"), ("b.png", "y")])
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes, not a database\n")
    argv = {"fid": ["fid", images, images], "kid": ["kid", images, images],
            "clip-score": ["clip-score", images, "--captions", captions]}[command]
    code, _, err = run_cli(capsys, *argv, "--db", notes, "--no-progress")
    assert code == 2 and f"{notes} is not a SQLite file" in err
    assert calls == []  # refused before the computation
    assert notes.read_text() == "my notes, not a database\n"


def test_stats_refuses_at_the_write_a_file_another_run_wrote_meanwhile(tmp_path, capsys, monkeypatch):
    import percept_lib.pipeline.sharding as sharding
    from percept_lib.metrics import FeatureStats

    out = tmp_path / "stats.npz"

    def slow_folder_stats(*args, **kwargs):
        out.write_bytes(b"the other run's statistics")  # it finished while this one was computing
        stats = FeatureStats().update(np.random.default_rng(0).standard_normal((5, 8)))
        stats.weights = "pretrained"
        return stats

    monkeypatch.setattr(sharding, "folder_stats", slow_folder_stats)
    save_images(photo_crops(2, 32, seed=0), tmp_path / "imgs")
    code, _, err = run_cli(capsys, "stats", tmp_path / "imgs", "-o", out, "--no-progress")
    assert code == 2 and f"{out} exists" in err and "nothing was overwritten" in err
    assert out.read_bytes() == b"the other run's statistics"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["imgs", "stats.npz"]  # no temporary file left


# ----------------------------------------------------------------------------------------------------
# Too few images
# ----------------------------------------------------------------------------------------------------

def test_too_few_images_name_the_folder_and_the_minimum_before_any_network(tmp_path, capsys, empty_torch_home):
    # No weights are available here: the error must come from counting the files, before any network is built.
    one, three = tmp_path / "one", tmp_path / "three"
    save_images(photo_crops(1, 32, seed=1), one)
    save_images(photo_crops(3, 32, seed=2), three)
    cases = [(["fid", one, three], "FID"), (["fid", three, one], "FID"), (["kid", one, three], "KID"),
             (["kid", three, one], "KID"),
             (["stats", one, "-o", tmp_path / "s.npz"], "a mean and covariance (FID, stats)")]
    for argv, metric in cases:
        code, _, err = run_cli(capsys, *argv, "--no-progress")
        assert code == 2, err
        assert f"{one}: 1 image file; {metric} needs at least 2 images per folder" in err
        assert "subset_size" not in err and "update()" not in err


def test_kid_counts_readable_images_and_does_not_blame_the_subset_size(inception, tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    save_images(photo_crops(1, 48, seed=3), a, names=["good.png"])
    (a / "broken.png").write_bytes(b"not a png")
    save_images(photo_crops(3, 48, seed=4), b)
    code, _, err = run_cli(capsys, "kid", a, b, "--dims", "64", "--no-progress")
    assert code == 2 and f"{a}: 1 readable image; KID needs at least 2 images per folder" in err
    assert "subset_size" not in err


# ----------------------------------------------------------------------------------------------------
# Statistics files carry their provenance
# ----------------------------------------------------------------------------------------------------

def test_stats_files_carry_provenance_and_fid_refuses_to_mix_resize_modes(inception, two_folders, tmp_path, capsys):
    import hashlib

    import percept_lib

    a, b = two_folders
    a_npz = tmp_path / "a.npz"
    code, _, _ = run_cli(capsys, "stats", a, "-o", a_npz, "--dims", "64", "--resize", "pytorch-fid", "--no-progress")
    assert code == 0
    checkpoint = next(inception.dir.glob("pt_inception-*.pth"))
    with np.load(a_npz) as f:  # plain numpy without pickle, as pytorch-fid and clean-fid open it
        stored = {k: str(f[k]) for k in ("extractor", "layer", "resize", "weights", "weights_sha256",
                                         "percept_lib_version")}
        assert int(f["n"]) == 8
    assert stored == {"extractor": "inception-fid", "layer": "block64", "resize": "pytorch-fid",
                      "weights": "pretrained", "weights_sha256": hashlib.sha256(checkpoint.read_bytes()).hexdigest(),
                      "percept_lib_version": percept_lib.__version__}

    # B is computed with clean resizing (the default): refused, both values named, and the flag that fixes it
    code, _, err = run_cli(capsys, "fid", a_npz, b, "--dims", "64", "--no-progress")
    assert code == 2
    assert f"resize 'pytorch-fid' ({a_npz}) vs 'clean' ({b})" in err and "--resize pytorch-fid" in err
    assert "--force-mix" in err

    code, out, _ = run_cli(capsys, "fid", a_npz, b, "--dims", "64", "--resize", "pytorch-fid", "--json",
                           "--no-progress")
    same = json.loads(out)
    code, out, _ = run_cli(capsys, "fid", a, b, "--dims", "64", "--resize", "pytorch-fid", "--json", "--no-progress")
    folders_only = json.loads(out)
    assert same["value"] == pytest.approx(folders_only["value"], rel=1e-9)
    assert (same["extractor"], same["resize"], same["weights"]) == ("inception-fid/block64", "pytorch-fid",
                                                                     "pretrained")

    code, out, _ = run_cli(capsys, "fid", a_npz, b, "--dims", "64", "--force-mix", "--json", "--no-progress")
    assert code == 0 and json.loads(out)["resize"] == "pytorch-fid | clean"


def test_random_weight_statistics_are_labelled_random_whatever_the_environment(inception, two_folders, tmp_path,
                                                                                capsys, monkeypatch):
    from percept_lib.extractors import clear_cache

    a, b = two_folders
    monkeypatch.setenv("PERCEPT_WEIGHTS", "random")
    clear_cache()
    for folder in (a, b):
        code, _, _ = run_cli(capsys, "stats", folder, "-o", tmp_path / f"{folder.name}.npz", "--dims", "64",
                             "--no-progress")
        assert code == 0
    monkeypatch.delenv("PERCEPT_WEIGHTS")
    clear_cache()
    # Two files compared without the variable and without --dims: the labels come from the files.
    code, out, _ = run_cli(capsys, "fid", tmp_path / "a.npz", tmp_path / "b.npz", "--no-progress")
    assert code == 0 and out.startswith("⚠ RANDOM WEIGHTS")
    assert "inception-fid/block64, resize clean; weights: random weights (illustrative)" in out
    # A random-weight file against a folder computed with the pretrained weights: refused.
    code, _, err = run_cli(capsys, "fid", tmp_path / "a.npz", b, "--dims", "64", "--no-progress")
    assert code == 2 and "weights 'random weights (illustrative)'" in err and "'pretrained'" in err
    assert "PERCEPT_WEIGHTS=random" in err
