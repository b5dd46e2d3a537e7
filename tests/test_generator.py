"""A generator as input: its features and FID equal those of the same images written to a folder of PNGs and
run through the folder pipeline and the ``fid`` command; the per-image seed contract; bad generators.

The Inception checkpoint is the seeded one that the ``inception`` fixture writes under the published name;
the 64-d tap (first block) keeps each test cheap — what is checked (quantisation, seeding, batching, the
reference side) does not depend on the depth.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from percept_lib.cli import main
from percept_lib.images import save_images
from percept_lib.pipeline import FeatureSpec, extract_folder, fid_generator, generator_features

SIZE = 24
LATENT = 8


def from_seeds(seeds: torch.Tensor) -> torch.Tensor:
    """The seeds contract: one image per seed, uniform noise drawn from that seed (values off the 8-bit grid)."""
    return torch.stack([torch.rand(3, SIZE, SIZE, generator=torch.Generator().manual_seed(int(s))) for s in seeds])


class TinyGenerator(torch.nn.Module):
    """The latent contract: z (N×8) → N×3×24×24 in [0, 1]."""

    def __init__(self):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.net = torch.nn.Sequential(torch.nn.Linear(LATENT, 3 * SIZE * SIZE), torch.nn.Sigmoid())

    def forward(self, z):
        return self.net(z).view(-1, 3, SIZE, SIZE)


def documented_latents(seed: int, n: int) -> torch.Tensor:
    """z of image i, as the module docstring promises: randn(8) from a generator seeded with seed + i."""
    return torch.stack([torch.randn(LATENT, generator=torch.Generator().manual_seed(seed + i))
                        for i in range(n)])


@pytest.mark.parametrize("resize", ["clean", "pytorch-fid"])
def test_generator_features_equal_the_folder_of_the_same_pngs(inception, tmp_path, resize):
    """pytorch-fid's bilinear resize works on the float image: without the 8-bit quantisation the features
    would differ by far more than the tolerance (clean resizing quantises by itself)."""
    n = 7
    save_images(from_seeds(torch.arange(n)), tmp_path / "gen")  # seed 0: per-image seeds 0 … n − 1
    spec = FeatureSpec.of("inception-fid", 64, resize)
    folder = extract_folder(tmp_path / "gen", spec, progress=False)
    generated = generator_features(from_seeds, n, spec, seed=0, progress=False, batch_size=3)
    assert generated.n == n and generated.weights == "pretrained"
    np.testing.assert_allclose(generated.features, folder.features, rtol=1e-5, atol=1e-6)
    unquantised = spec.network(torch.device("cpu")).embed(
        spec.network(torch.device("cpu")).preprocess(from_seeds(torch.arange(n))), spec.layer).numpy()
    if resize == "pytorch-fid":  # the test can fail: the float path is measurably different
        assert np.abs(unquantised - folder.features).max() > 100 * np.abs(generated.features - folder.features).max()


def test_fid_generator_equals_the_fid_command_on_the_written_folder(inception, tmp_path, capsys):
    n = 6
    generator = TinyGenerator().eval()
    reference = tmp_path / "real"
    save_images(from_seeds(torch.arange(100, 108)), reference)
    with torch.no_grad():
        save_images(generator(documented_latents(0, n)), tmp_path / "gen")
    assert main(["fid", str(reference), str(tmp_path / "gen"), "--dims", "64", "--json", "--no-progress"]) == 0
    command = json.loads(capsys.readouterr().out)

    result = fid_generator(generator, reference, n, latent_shape=(LATENT,), feature=64, progress=False,
                           batch_size=4)
    assert result.value == pytest.approx(command["value"], rel=1e-6)
    assert command["value"] > 1e-3  # two different sets: equality of zeros would prove nothing
    assert (result.n, result.n_reference) == (command["n"], command["n_reference"]) == (8, n)
    # The same evaluation but for the seed: the signatures agree everywhere else.
    assert result.signature == command["signature"].replace("seed:-", "seed:0")

    # The reference as a statistics file written by the stats command gives the same number.
    stats = tmp_path / "real.npz"
    assert main(["stats", str(reference), "-o", str(stats), "--dims", "64", "--no-progress"]) == 0
    from_file = fid_generator(generator, stats, n, latent_shape=(LATENT,), feature=64, progress=False)
    assert from_file.value == pytest.approx(command["value"], rel=1e-6)


def test_each_image_has_its_own_seed_whatever_the_batch_size(inception):
    calls = []

    def recording(seeds):
        calls.append(seeds.clone())
        return from_seeds(seeds)

    spec = FeatureSpec.of("inception-fid", 64)
    small = generator_features(recording, 5, spec, seed=10, batch_size=2, progress=False)
    assert [len(c) for c in calls] == [2, 2, 1]
    assert torch.cat(calls).tolist() == [10, 11, 12, 13, 14]  # StyleGAN's --seeds convention: seed + i
    calls.clear()
    first = generator_features(recording, 3, spec, seed=10, batch_size=5, progress=False)
    assert torch.cat(calls).tolist() == [10, 11, 12]
    np.testing.assert_allclose(first.features, small.features[:3], rtol=1e-5, atol=1e-6)


def test_latent_generator_images_do_not_depend_on_the_batch_size(inception):
    generator = TinyGenerator().eval()
    spec = FeatureSpec.of("inception-fid", 64, "pytorch-fid")
    a = generator_features(generator, 5, spec, latent_shape=(LATENT,), batch_size=2, progress=False)
    b = generator_features(generator, 5, spec, latent_shape=(LATENT,), batch_size=5, progress=False)
    later = generator_features(generator, 5, spec, latent_shape=(LATENT,), seed=5, progress=False)
    np.testing.assert_allclose(a.features, b.features, rtol=1e-5, atol=1e-6)
    assert np.abs(a.features - later.features).max(axis=1).min() > 1e-3  # seeds 5 … 9: no image of 0 … 4
    assert generator.training is False  # the pipeline leaves the module's mode as the caller set it


@pytest.mark.parametrize("generator, n, match", [
    (lambda seeds: from_seeds(seeds) * 2 - 1, 3, r"\[-1, 1\]: use \(x \+ 1\) / 2"),
    (lambda seeds: from_seeds(seeds) * 255, 3, "divide by 255"),
    (lambda seeds: from_seeds(seeds)[:1], 3, "1 images for 3 seeds; return one image per seed"),
    (lambda seeds: from_seeds(seeds)[:, 0], 3, "expected 4 dimensions"),
    ("not a model", 3, "pass a callable or nn.Module"),
    (from_seeds, 0, "n=0: the number of images"),
])
def test_a_bad_generator_is_one_clear_error(inception, generator, n, match):
    with pytest.raises(ValueError, match=match):
        generator_features(generator, n, FeatureSpec.of("inception-fid", 64), progress=False)


def test_a_bad_seed_or_a_mismatched_reference_fails_before_any_image_is_generated(inception, tmp_path):
    calls = []

    def recording(seeds):
        calls.append(seeds)
        return from_seeds(seeds)

    save_images(from_seeds(torch.arange(4)), tmp_path / "real")
    stats = tmp_path / "real.npz"
    assert main(["stats", str(tmp_path / "real"), "-o", str(stats), "--dims", "64", "--resize", "pytorch-fid",
                 "--no-progress"]) == 0
    with pytest.raises(ValueError, match="resize 'pytorch-fid'.*vs 'clean'"):
        fid_generator(recording, stats, 4, feature=64, progress=False)
    with pytest.raises(ValueError, match=r"seed=-1: use an integer in \[0, 2\^32\)"):
        fid_generator(recording, stats, 4, feature=64, seed=-1, progress=False)
    with pytest.raises(ValueError, match=r"seed \+ i must stay below 2\^32"):
        fid_generator(recording, stats, 4, feature=64, seed=2**32 - 2, progress=False)
    with pytest.raises(ValueError, match="dimension 64.*has 192"):
        fid_generator(recording, stats, 4, feature=192, progress=False)
    assert calls == []


SHARDED_SCRIPT = '''
import json, sys, torch
from percept_lib.pipeline import FeatureSpec, generator_features, generator_stats

def from_seeds(seeds):
    return torch.stack([torch.rand(3, 24, 24, generator=torch.Generator().manual_seed(int(s))) for s in seeds])

spec = FeatureSpec.of("inception-fid", 64, "pytorch-fid")
features = generator_features(from_seeds, 5, spec, seed=3, batch_size=2, progress=False)
stats = generator_stats(from_seeds, 5, spec, seed=3, batch_size=2, progress=False)
mu, sigma = stats.compute()
if torch.distributed.get_rank() == 0:
    json.dump({"features": features.features.tolist(), "mu": mu.tolist(), "sigma": sigma.tolist(),
               "count": stats.count}, open(sys.argv[1], "w"))
'''


def test_torchrun_ranks_share_the_images_and_get_the_single_process_result(inception, tmp_path):
    """Two gloo ranks generate every other image (3 + 2 of 5): the gathered rows come back in image order and
    the merged statistics are the one-process ones."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from percept_lib.pipeline import generator_stats

    script = tmp_path / "sharded.py"
    script.write_text(SHARDED_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
           str(tmp_path / "out.json")]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    sharded = json.loads((tmp_path / "out.json").read_text())

    spec = FeatureSpec.of("inception-fid", 64, "pytorch-fid")
    single = generator_features(from_seeds, 5, spec, seed=3, batch_size=2, progress=False)
    np.testing.assert_allclose(sharded["features"], single.features, rtol=1e-5, atol=1e-6)
    mu, sigma = generator_stats(from_seeds, 5, spec, seed=3, batch_size=2, progress=False).compute()
    assert sharded["count"] == 5
    np.testing.assert_allclose(sharded["mu"], mu, rtol=1e-5, atol=1e-6)
    assert isinstance(sigma, np.ndarray)  # as folder_stats gives them
    np.testing.assert_allclose(sharded["sigma"], sigma, rtol=1e-4, atol=1e-6 * np.abs(sigma).max())
