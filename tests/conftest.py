"""Shared fixtures.

No pretrained weights can be downloaded here, so the loading code is tested with checkpoints that the
tests write themselves: seeded random state dicts saved under the published file names in a temporary
TORCH_HOME. Our code and the reference packages (lpips, pytorch-fid, DISTS_pytorch) then load the same
file, which is what a parity test needs.
"""
from __future__ import annotations

import random
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
import warnings

import numpy as np
import pytest
import torch

from percept_lib import weights as W
from percept_lib.extractors import clear_cache


@pytest.fixture(autouse=True, scope="session")
def _offline_and_pretrained_mode():
    """Tests never reach the network, and run in pretrained mode unless a test opts into random."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PERCEPT_OFFLINE", "1")
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.delenv("PERCEPT_WEIGHTS", raising=False)
        yield


def real_photos(size=(96, 128), names=("astronaut", "chelsea", "coffee", "rocket")) -> torch.Tensor:
    from percept_lib.data import photos

    return photos(names, size)


@lru_cache(maxsize=None)
def crop_sources() -> torch.Tensor:
    return real_photos((160, 160))


def photo_crops(n: int, size: int, seed: int) -> torch.Tensor:
    """n seeded random size×size crops of four real photographs (160 px): small folders of real images."""
    from percept_lib.data import random_crops

    return random_crops(crop_sources(), n, size, seed=seed)


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width × height 1-bit pixels, all zero: a decompression bomb of a few hundred
    KB (the rows are compressed as they are made, so writing it costs no memory)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor, row = zlib.compressobj(9), b"\0" * (1 + (width + 7) // 8)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _seeded_state(builder, seed: int) -> dict:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = builder()
    return {k: v.contiguous() for k, v in model.state_dict().items()}


def _calibrated_inception_state(seed: int) -> dict:
    """Random FID-Inception weights with batch-norm statistics calibrated on real photos, so that a parity
    test on real photos compares input-dependent features (see calibrate_batchnorm)."""
    from percept_lib.extractors.inception import calibrate_batchnorm, fid_inception_v3

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = fid_inception_v3()
        x = torch.nn.functional.interpolate(real_photos((160, 160)), size=(299, 299), mode="bilinear")
        calibrate_batchnorm(net, 2 * x - 1)
    return {k: v.contiguous() for k, v in net.state_dict().items()}


def _builders():
    import torchvision

    def clip_state():
        import open_clip
        from percept_lib.extractors.clip import CLIP_MODEL, _quiet_root_logger

        with _quiet_root_logger():
            return _seeded_state(lambda: open_clip.create_model(CLIP_MODEL, pretrained=None), 5)

    def dino_state():
        import timm
        from percept_lib.extractors.dinov2 import DINOV2_MODEL

        return _seeded_state(lambda: timm.create_model(DINOV2_MODEL, pretrained=False, num_classes=0), 6)

    return {
        "vgg16": lambda: _seeded_state(lambda: torchvision.models.vgg16(weights=None), 1),
        "vgg19": lambda: _seeded_state(lambda: torchvision.models.vgg19(weights=None), 2),
        "alexnet": lambda: _seeded_state(lambda: torchvision.models.alexnet(weights=None), 3),
        "squeezenet1_1": lambda: _seeded_state(lambda: torchvision.models.squeezenet1_1(weights=None), 4),
        "inception-fid": lambda: _calibrated_inception_state(7),
        "clip-vit-b-32": clip_state,
        "dinov2-vits14": dino_state,
    }


class FakeCheckpoints:
    """Writes seeded random checkpoints under the published names, on demand, once per session."""

    def __init__(self, root: Path):
        self.root = root
        self.dir = root / "hub" / "checkpoints"
        self.dir.mkdir(parents=True, exist_ok=True)

    def make(self, *names: str) -> Path:
        builders = _builders()
        for name in names:
            artifact = W.get_artifact(name)
            path = self.dir / artifact.filename
            if path.exists():
                continue
            state = builders[name]()
            if path.suffix == ".safetensors":
                from safetensors.torch import save_file

                save_file(state, str(path))
            else:
                torch.save(state, path)
        return self.dir


@pytest.fixture(scope="session")
def fake_checkpoints(tmp_path_factory) -> FakeCheckpoints:
    return FakeCheckpoints(tmp_path_factory.mktemp("torch_home"))


@pytest.fixture()
def torch_home(fake_checkpoints, monkeypatch) -> FakeCheckpoints:
    """TORCH_HOME pointing at the session's fake checkpoints; extractor cache cleared around the test."""
    monkeypatch.setenv("TORCH_HOME", str(fake_checkpoints.root))
    clear_cache()
    yield fake_checkpoints
    clear_cache()


@pytest.fixture(scope="module")
def inception(fake_checkpoints):
    """TORCH_HOME with the seeded Inception checkpoint under pytorch-fid's file name (both packages read it),
    for the whole module, so that the extractor is built once here rather than once per test."""
    from percept_lib.extractors import clear_cache

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TORCH_HOME", str(fake_checkpoints.root))
        fake_checkpoints.make("inception-fid")
        clear_cache()
        yield fake_checkpoints
        clear_cache()


@pytest.fixture(autouse=True)
def seeded_global_rngs():
    """Every test starts from the same global RNG state, so a test that draws unseeded numbers sees the same
    ones whatever ran before it (an all-dead ReLU position once turned up after an earlier test changed)."""
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)


@pytest.fixture(autouse=True)
def feature_cache(tmp_path, monkeypatch) -> Path:
    """Every test gets its own folder-feature cache (never ~/.cache)."""
    path = tmp_path / "feature-cache"
    monkeypatch.setenv("PERCEPT_CACHE", str(path))
    return path


@pytest.fixture()
def empty_torch_home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    clear_cache()
    yield tmp_path
    clear_cache()


@contextmanager
def random_weights_mode():
    """Seeded random weights (``PERCEPT_WEIGHTS=random``, its warning silenced) for building module-scoped
    losses once; the extractor cache is cleared on entry and on exit, so no random backbone outlives it."""
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        mp.setenv("PERCEPT_WEIGHTS", "random")
        clear_cache()
        try:
            yield
        finally:
            clear_cache()


@pytest.fixture()
def random_weights(monkeypatch):
    monkeypatch.setenv("PERCEPT_WEIGHTS", "random")
    clear_cache()
    yield
    clear_cache()


@pytest.fixture(scope="session")
def photos_batch() -> torch.Tensor:
    """Four real photographs (scikit-image) at a non-square size, 96×128."""
    return real_photos()
