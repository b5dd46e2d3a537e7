"""``python -m percept_lib prdc | is | cmmd`` end to end on tiny folders of PNGs, with seeded random weights.

References, on the features of the same files: the ``prdc`` package (precision, recall, density, coverage),
torch-fidelity's ``isc_features_to_metric`` (Inception Score, no shuffle) and a direct transcription of the
CMMD formula. The features themselves come from the folder pipeline, whose parity with pytorch-fid and
open_clip is tested elsewhere; what is tested here is what the commands add: roles, k, splits, the encoder,
strict JSON, the history rows, and sharding under torchrun.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import crop_sources, photo_crops, random_weights_mode
from percept_lib.cli import build_parser, main
from percept_lib.images import save_images
from percept_lib.pipeline import extract_folder
from percept_lib.pipeline.history import read_history

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def random_weights():
    """One random-weights session for the module: each backbone is built (and calibrated) once."""
    with random_weights_mode():
        yield


@pytest.fixture()
def folders(tmp_path) -> tuple[Path, Path]:
    """REAL: 9 crops of four photographs; GENERATED: 4 crops of one of them (a dropped mode: recall < 1) and 3
    noise images (off the real manifold: precision < 1). The sizes differ on purpose."""
    from percept_lib.data import random_crops

    real, generated = tmp_path / "real", tmp_path / "generated"
    save_images(photo_crops(9, 48, seed=10), real)
    noise = torch.rand(3, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    save_images(torch.cat([random_crops(crop_sources()[2:3], 4, 48, seed=11), noise]), generated)
    return real, generated


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def strict_json(text: str):
    def refuse(constant):
        raise AssertionError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


def features(folder, extractor="inception-fid", layer="block64") -> np.ndarray:
    return extract_folder(folder, extractor, layer, progress=False).features


@pytest.mark.parametrize("k_flag, k_pr, k_dc", [(None, 3, 5), ("4", 4, 4), ("2,4", 2, 4)])
def test_prdc_json_equals_the_prdc_package(folders, capsys, k_flag, k_pr, k_dc):
    from prdc import compute_prdc

    real, generated = folders
    extra = ["--k", k_flag] if k_flag else []
    code, out, err = run_cli(capsys, "prdc", real, generated, "--dims", "64", "--json", "--no-progress", *extra)
    assert code == 0 and "RANDOM WEIGHTS" in err  # the banner goes to stderr: stdout stays JSON
    result = strict_json(out)
    x, y = features(real), features(generated)
    at_pr, at_dc = compute_prdc(x, y, nearest_k=k_pr), compute_prdc(x, y, nearest_k=k_dc)
    expected = {"precision": at_pr["precision"], "recall": at_pr["recall"], "density": at_dc["density"],
                "coverage": at_dc["coverage"]}
    for name, value in expected.items():
        assert result[name] == pytest.approx(value, abs=1e-12), name
    assert any(0 < value < 1 for value in expected.values())  # not a degenerate all-0-or-1 case
    assert (result["n_real"], result["n_generated"]) == (9, 7)
    assert (result["k_precision_recall"], result["k_density_coverage"]) == (k_pr, k_dc)
    signatures = {r["metric"]: r["signature"] for r in result["results"]}
    assert signatures["precision"].startswith("precision|enc:inception-fid/block64|w:random|resize:clean|n:9/7|")
    assert f"|k:{k_pr}|" in signatures["recall"] and f"|k:{k_dc}|" in signatures["coverage"]


def test_swapping_real_and_generated_swaps_precision_and_recall(folders, capsys):
    real, generated = folders
    code, out, _ = run_cli(capsys, "prdc", real, generated, "--dims", "64", "--json", "--no-progress")
    forward = strict_json(out)
    code, out, _ = run_cli(capsys, "prdc", generated, real, "--dims", "64", "--json", "--no-progress")
    swapped = strict_json(out)
    assert (swapped["precision"], swapped["recall"]) == (forward["recall"], forward["precision"])
    assert forward["precision"] != pytest.approx(forward["recall"])  # else the swap would prove nothing
    code, out, _ = run_cli(capsys, "prdc", generated, real, "--dims", "64", "--no-progress")
    assert code == 0
    # The text says which folder played which role, and N of each.
    assert f"A, REAL (reference): {generated}  (N = 7)" in out and f"B, GENERATED:        {real}  (M = 9)" in out
    assert "signatures:" in out and "precision|enc:inception-fid/block64" in out


def test_prdc_bad_k_is_one_line_naming_the_folder(folders, capsys):
    real, generated = folders
    code, _, err = run_cli(capsys, "prdc", real, generated, "--dims", "64", "--k", "7", "--no-progress")
    assert code == 2
    assert err.strip().splitlines()[-1].startswith(f"error: {generated}: 7 image files; k = 7 needs at least 8")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["prdc", "a", "b", "--k", "0"])
    assert build_parser().parse_args(["prdc", "a", "b"]).k is None  # None: the papers' 3 and 5


def test_is_equals_torch_fidelity_on_the_same_logits(folders, capsys):
    from torch_fidelity.metric_isc import isc_features_to_metric

    _, generated = folders
    code, out, _ = run_cli(capsys, "is", generated, "--splits", "3", "--json", "--no-progress")
    assert code == 0
    result = strict_json(out)
    logits = features(generated, layer="logits_unbiased")
    reference = isc_features_to_metric(torch.from_numpy(logits), splits=3, shuffle=False)
    assert result["value"] == pytest.approx(reference["inception_score_mean"], rel=1e-9)
    assert result["std"] == pytest.approx(reference["inception_score_std"], rel=1e-6, abs=1e-12)
    assert result["extractor"] == "inception-fid/logits_unbiased" and result["n"] == 7
    assert result["signature"].startswith("is|enc:inception-fid/logits_unbiased|w:random|resize:clean|n:7|splits:3|")

    code, _, err = run_cli(capsys, "is", generated, "--splits", "8", "--no-progress")
    assert code == 2 and "7 image files; --splits 8 needs at least 8" in err


def cmmd_transcription(x: np.ndarray, y: np.ndarray, sigma: float = 10.0, scale: float = 1000.0) -> float:
    """The authors' distance.py, transcribed: normalise, full Gaussian kernel matrices, their means."""
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    y = y / np.linalg.norm(y, axis=1, keepdims=True)
    gamma = 1 / (2 * sigma**2)

    def mean_kernel(a, b):
        d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
        return np.exp(-gamma * d2).mean()

    return scale * (mean_kernel(x, x) + mean_kernel(y, y) - 2 * mean_kernel(x, y))


def test_cmmd_equals_the_reference_formula_on_any_encoder(folders, capsys):
    real, generated = folders
    code, out, _ = run_cli(capsys, "cmmd", real, generated, "--extractor", "dinov2-vits14", "--json", "--no-progress")
    assert code == 0
    result = strict_json(out)
    expected = cmmd_transcription(features(real, "dinov2-vits14", None), features(generated, "dinov2-vits14", None))
    assert result["value"] == pytest.approx(expected, rel=1e-9) and result["value"] > 0
    assert result["signature"].startswith("cmmd|enc:dinov2-vits14/cls|w:random|resize:-|n:9/7|est:biased|")
    # The default encoder is the paper's, without building it here.
    assert build_parser().parse_args(["cmmd", "a", "b"]).extractor == "clip-vit-l-14-336"


def test_each_metric_is_one_history_row_with_its_signature(folders, capsys, tmp_path):
    real, generated = folders
    db = tmp_path / "h.sqlite"
    code, out, _ = run_cli(capsys, "prdc", real, generated, "--dims", "64", "--json", "--no-progress",
                           "--db", db, "--checkpoint", "step-100")
    assert code == 0
    results = strict_json(out)["results"]
    rows = read_history(db)
    assert [r["metric"] for r in rows] == ["precision", "recall", "density", "coverage"]
    assert [r["signature"] for r in rows] == [r["signature"] for r in results]
    assert {r["checkpoint"] for r in rows} == {"step-100"} and rows[0]["n"] == 9 and rows[0]["n_reference"] == 7


def test_torchrun_two_processes_give_the_single_process_inception_score(folders, tmp_path):
    """Two gloo ranks on the CPU each extract every other file; the logits are gathered back in the folder's
    order, which IS's consecutive splits depend on (so the test fails if they come back in rank order)."""
    from torch_fidelity.metric_isc import isc_features_to_metric

    _, generated = folders
    env = {**os.environ, "PERCEPT_CACHE": str(tmp_path / "child-cache"), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "percept_lib", "is", str(generated), "--splits", "3", "--no-progress", "--json"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count('"signature"') == 1  # rank 0 alone reports
    sharded = strict_json(done.stdout)
    # Each rank cached the features of its own share only: the work was really split.
    shard_sizes = sorted(len(np.load(p)["names"]) for p in (tmp_path / "child-cache").rglob("*.npz"))
    assert shard_sizes == [3, 4]
    logits = features(generated, layer="logits_unbiased")
    expected = isc_features_to_metric(torch.from_numpy(logits), splits=3, shuffle=False)
    in_rank_order = np.concatenate([logits[0::2], logits[1::2]])
    assert isc_features_to_metric(torch.from_numpy(in_rank_order), splits=3, shuffle=False)[
        "inception_score_mean"] != pytest.approx(expected["inception_score_mean"], rel=1e-6)
    assert sharded["value"] == pytest.approx(expected["inception_score_mean"], rel=1e-6)
    assert sharded["n"] == 7
