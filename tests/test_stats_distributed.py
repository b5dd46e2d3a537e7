"""FeatureStats.all_reduce across real torch.distributed processes (gloo on the CPU): every rank ends with the
statistics of one process over all the data — including a rank that saw no data at all."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from percept_lib.metrics import FeatureStats

WORLD = 3
SPLITS = [0, 37, 120, 120]  # rank 0: rows 0–36, rank 1: 37–119, rank 2: nothing


def all_features() -> np.ndarray:
    rng = np.random.default_rng(0)
    return 50.0 + np.maximum(rng.standard_normal((120, 16)), 0)  # an offset mean, to exercise the centring


def _worker(rank: int, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{out_dir}/rendezvous", rank=rank, world_size=WORLD)
    try:
        shard = all_features()[SPLITS[rank]:SPLITS[rank + 1]]
        stats = FeatureStats(keep_features=True)
        for batch in np.array_split(shard, 3):  # torch batches, as an extractor would produce them
            if len(batch):
                stats.update(torch.from_numpy(batch).float())
        stats.all_reduce()
        try:
            stats.all_reduce()
            second_call = "no error"
        except RuntimeError as err:
            second_call = str(err)
        mu, sigma = stats.compute() if stats.count >= 2 else (None, None)
        np.savez(
            Path(out_dir) / f"rank{rank}.npz",
            mu=np.asarray(mu), sigma=np.asarray(sigma), n=stats.count, features=np.asarray(stats.features),
            second_call=second_call,
        )
    finally:
        dist.destroy_process_group()


def test_gloo_all_reduce_equals_one_process(tmp_path):
    context = mp.start_processes(_worker, args=(str(tmp_path),), nprocs=WORLD, join=False, start_method="spawn")
    deadline = time.monotonic() + 120
    while not context.join(timeout=5):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail("distributed workers did not finish in 120 s")

    x = all_features().astype(np.float32).astype(np.float64)  # the workers fed float32 batches
    single = FeatureStats().update(x)
    mu, sigma = single.compute()
    for rank in range(WORLD):
        with np.load(tmp_path / f"rank{rank}.npz") as result:
            assert int(result["n"]) == len(x)
            np.testing.assert_allclose(result["mu"], mu, rtol=1e-13)
            np.testing.assert_allclose(result["sigma"], sigma, rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(result["sigma"], np.cov(x, rowvar=False), rtol=1e-10, atol=1e-12)
            np.testing.assert_array_equal(result["features"], x)  # gathered in rank order
            assert "already called" in str(result["second_call"])
