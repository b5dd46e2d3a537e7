"""The pretrained-weights layer: cache paths, offline errors, corrupt files, strict loading, the CLI."""
import json

import pytest
import torch

from percept_lib import weights as W
from percept_lib.cli import main as cli
from percept_lib.extractors import get_extractor


def test_torchvision_files_resolve_under_published_names(empty_torch_home):
    assert W.expected_path("vgg16") == empty_torch_home / "hub" / "checkpoints" / "vgg16-397923af.pth"
    assert W.expected_path("inception-fid").name == "pt_inception-2015-12-05-6726825d.pth"
    # The name we cache under is the one torchvision itself would use for its own download.
    import torchvision

    assert torchvision.models.VGG19_Weights.IMAGENET1K_V1.url.endswith(W.get_artifact("vgg19").filename)
    assert torchvision.models.AlexNet_Weights.IMAGENET1K_V1.url.endswith(W.get_artifact("alexnet").filename)


def test_pytorch_fid_uses_the_same_file():
    from pytorch_fid.inception import FID_WEIGHTS_URL

    assert W.get_artifact("inception-fid").download_url == FID_WEIGHTS_URL


def test_missing_file_offline_names_artifact_path_and_fetch_command(empty_torch_home):
    with pytest.raises(W.WeightsUnavailableError) as err:
        get_extractor("vgg16")
    message = str(err.value)
    assert "'vgg16'" in message
    assert str(empty_torch_home / "hub" / "checkpoints" / "vgg16-397923af.pth") in message
    assert "python -m percept_lib weights fetch vgg16" in message
    assert "PERCEPT_WEIGHTS=random" in message


def test_corrupt_file_is_reported_not_used(empty_torch_home):
    path = W.expected_path("alexnet")
    path.parent.mkdir(parents=True)
    torch.save(torch.nn.Conv2d(1, 1, 1).state_dict(), path)
    path.write_bytes(path.read_bytes()[:40])  # truncated
    with pytest.raises(W.WeightsCorruptError, match=r"alexnet-owt-7be5be79.pth.*truncated or corrupt"):
        get_extractor("alexnet")


def test_file_with_wrong_keys_fails_loudly(empty_torch_home):
    path = W.expected_path("squeezenet1_1")
    path.parent.mkdir(parents=True)
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, path)
    with pytest.raises(W.WeightsCorruptError, match="missing keys"):
        get_extractor("squeezenet")


def test_pickled_code_is_refused(empty_torch_home):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = W.expected_path("alexnet")
    path.parent.mkdir(parents=True)
    torch.save({"x": Evil()}, path)
    with pytest.raises(W.WeightsCorruptError, match="cannot be read"):
        W.read_state_dict(W.resolve("alexnet"), "alexnet")


def test_random_weights_only_when_asked(empty_torch_home, monkeypatch):
    with pytest.raises(W.WeightsUnavailableError):
        get_extractor("alexnet")
    with pytest.warns(UserWarning, match="RANDOM"):
        ext = get_extractor("alexnet", weights="random")
    assert ext.pretrained is False
    monkeypatch.setenv("PERCEPT_WEIGHTS", "banana")
    with pytest.raises(ValueError, match="PERCEPT_WEIGHTS"):
        W.weights_mode()


def test_random_weights_are_seeded(random_weights):
    from percept_lib.extractors import AlexNet

    a, b = AlexNet(), AlexNet()
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_package_artifacts_are_found():
    path = W.resolve("lpips-vgg")
    assert path.is_file() and path.parts[-3:] == ("weights", "v0.1", "vgg.pth")
    assert W.resolve("dists").name == "weights.pt"


@pytest.mark.parametrize("model", ["lpips-alex", "lpips-vgg", "lpips-squeeze", "dists"])
def test_model_files_are_the_files_the_model_loads(model, torch_home, monkeypatch):
    """The signature hashes ``model_files``: it must name exactly what building the model reads."""
    from percept_lib.losses.dists import DISTS
    from percept_lib.losses.lpips import LPIPS

    torch_home.make(*(name for name in W.model_files(model) if W.get_artifact(name).source != "package"))
    read, resolve = [], W.resolve
    monkeypatch.setattr(W, "resolve", lambda name, *a, **k: read.append(name) or resolve(name, *a, **k))
    LPIPS(net=model.removeprefix("lpips-")) if model.startswith("lpips-") else DISTS()
    assert sorted(set(read)) == sorted(W.model_files(model))


def test_verify_detects_hash_mismatch(empty_torch_home):
    path = W.expected_path("vgg16")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not the real file")
    state, detail = W.verify("vgg16")
    assert state == "mismatch" and "397923af" in detail
    assert cli(["weights", "verify", "vgg16"]) == 1


def test_hugging_face_cache_is_reused(empty_torch_home, monkeypatch):
    import huggingface_hub

    fake = empty_torch_home / "hf_file.safetensors"
    fake.write_bytes(b"x")
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache",
                        lambda repo, filename: str(fake) if repo == "timm/vit_small_patch14_dinov2.lvd142m" else None)
    assert W.cached_path("dinov2-vits14") == fake
    assert W.cached_path("clip-vit-b-32") is None


def test_status_cli_is_offline_safe_and_lists_every_artifact(empty_torch_home, capsys):
    assert cli(["weights", "status", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["artifact"] for r in rows} == set(W.ARTIFACTS)
    by_name = {r["artifact"]: r for r in rows}
    assert by_name["vgg16"]["status"] == "missing" and "weights fetch vgg16" in by_name["vgg16"]["fetch"]
    assert by_name["lpips-alex"]["status"] == "cached"
    assert cli(["weights", "status"]) == 0
    assert "missing" in capsys.readouterr().out


def test_fetch_offline_fails_cleanly(empty_torch_home, capsys, monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    assert cli(["weights", "fetch", "alexnet", "--dir", str(empty_torch_home / "share")]) == 1
    assert "download failed" in capsys.readouterr().err
    assert not (empty_torch_home / "share" / "alexnet-owt-7be5be79.pth").exists()


@pytest.fixture()
def downloads(monkeypatch) -> list:
    """torch.hub's download replaced by one that records (url, destination, hash prefix) and writes b"ok"."""
    calls = []

    def fake_download(url, dst, hash_prefix=None, progress=True):
        calls.append((url, dst, hash_prefix))
        open(dst, "wb").write(b"ok")

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    return calls


def test_fetch_downloads_with_the_published_hash(empty_torch_home, downloads):
    calls = downloads
    assert cli(["weights", "fetch", "inception-fid", "--dir", str(empty_torch_home / "share")]) == 0
    url, dst, prefix = calls[0]
    assert url.endswith("pt_inception-2015-12-05-6726825d.pth") and prefix == "6726825d"
    assert dst.endswith("share/pt_inception-2015-12-05-6726825d.pth")


@pytest.mark.parametrize("name", ["dinov2-vits14", "dinov2-vitb14", "dinov2-vitl14"])
def test_dinov2_files_are_where_timm_publishes_them(name):
    import timm

    from percept_lib.extractors.dinov2 import DINOV2_VARIANTS

    cfg = timm.models.get_pretrained_cfg(DINOV2_VARIANTS[name])
    artifact = W.get_artifact(name)
    assert artifact.hf_repo == cfg.hf_hub_id.rstrip("/") and artifact.hf_filename == "model.safetensors"


@pytest.mark.parametrize("name, architecture", [("clip-vit-b-32", "ViT-B-32"), ("clip-vit-l-14-336", "ViT-L-14-336")])
def test_clip_files_are_where_open_clip_publishes_openais_weights(name, architecture):
    import open_clip

    from percept_lib.extractors.clip import CLIP_VARIANTS

    cfg = open_clip.get_pretrained_cfg(architecture, "openai")
    assert W.get_artifact(name).hf_repo == cfg["hf_hub"].rstrip("/")
    assert cfg["quick_gelu"] and CLIP_VARIANTS[name] == f"{architecture}-quickgelu"  # OpenAI trained with QuickGELU


def test_fetch_of_an_encoder_downloads_its_hugging_face_file_with_the_published_hash(empty_torch_home, downloads):
    calls = downloads
    share = empty_torch_home / "share"
    assert cli(["weights", "fetch", "dinov2-vitb14", "clip-vit-l-14-336", "--dir", str(share)]) == 0
    (url_b, dst_b, hash_b), (url_l, dst_l, hash_l) = calls
    assert url_b == "https://huggingface.co/timm/vit_base_patch14_dinov2.lvd142m/resolve/main/model.safetensors"
    assert dst_b == str(share / "vit_base_patch14_dinov2.lvd142m.safetensors") and len(hash_b) == 64
    assert url_l.endswith("timm/vit_large_patch14_clip_336.openai/resolve/main/open_clip_model.safetensors")
    assert hash_l is None  # no published hash known here: fetched unchecked (`weights verify` says "unchecked")
