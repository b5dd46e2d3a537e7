"""The encoders of the generative-evaluation issue: DINOv2 ViT-B/14 and ViT-L/14 (timm) and CLIP ViT-L/14 at 336 px
(open_clip, OpenAI's weights).

Each loads a seeded random checkpoint written where the reference package itself looks for the published file
(the Hugging Face cache: repository and file name), strictly; a file of the wrong architecture is refused with
the artifact named; and its features equal those of the reference package's own model, which loads the same
file by its own route (``timm.create_model(..., pretrained=True)``, ``open_clip.create_model(..., "openai")``).
The preprocessing is checked separately against the reference transform on PIL images: dgm-eval's for DINOv2
(224×224 bicubic, ImageNet mean/std), open_clip's for CLIP (shorter side to 336 bicubic, centre crop, OpenAI
mean/std). ViT-L is large (0.3–0.4 G parameters): one image per forward.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from percept_lib import weights as W
from percept_lib.extractors import clear_cache, embedding_extractors, get_extractor

REVISION = "0" * 40  # the commit a Hugging Face cache snapshot is filed under; any 40 hex digits


def _seeded(build, seed: int) -> dict:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build()
    return {k: v.contiguous() for k, v in model.state_dict().items()}


def dinov2_state(timm_model: str, seed: int) -> dict:
    """A random timm DINOv2 whose layer-scale factors are raised from timm's 1e-5 initialisation, so that every
    block, and the input, reach the CLS token (otherwise a parity test would compare near-constants)."""
    import timm

    state = _seeded(lambda: timm.create_model(timm_model, pretrained=False, num_classes=0), seed)
    g = torch.Generator().manual_seed(seed)
    for key in state:
        if key.endswith(("ls1.gamma", "ls2.gamma")):
            state[key] = 0.1 + 0.3 * torch.rand(state[key].shape, generator=g)
    return state


def clip_state(open_clip_model: str, seed: int) -> dict:
    import open_clip

    from percept_lib.extractors.clip import _quiet_root_logger

    with _quiet_root_logger():
        return _seeded(lambda: open_clip.create_model(open_clip_model, pretrained=None), seed)


def write_to_hf_cache(hub, artifact: W.Artifact, state: dict) -> None:
    """File ``state`` as huggingface_hub's cache holds a download: refs/main → snapshots/<commit>/<file>."""
    from safetensors.torch import save_file

    repo = hub / ("models--" + artifact.hf_repo.replace("/", "--"))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(REVISION)
    path = repo / "snapshots" / REVISION / artifact.hf_filename
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path))


@pytest.fixture()
def hf_cache(tmp_path, monkeypatch):
    """An empty TORCH_HOME and an empty Hugging Face cache (offline) for the test to fill; huggingface_hub reads
    its cache location when first imported, so the module's constants are patched as well as the environment."""
    import huggingface_hub.constants as hf_constants

    hub = tmp_path / "hf" / "hub"
    hub.mkdir(parents=True)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(hub))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    clear_cache()
    yield hub
    clear_cache()
    for path in hub.rglob("*.safetensors"):  # gigabytes: not left behind in pytest's kept temporary folders
        path.unlink()


def photo_pair(size=(150, 200)):
    """Two 8-bit photographs (uint8 N×3×H×W) and the same as PIL images: what a folder hands both routes."""
    from percept_lib.data import photos

    u8 = (photos(("astronaut", "coffee"), size) * 255).round().to(torch.uint8)
    return u8, [Image.fromarray(img.permute(1, 2, 0).numpy()) for img in u8]


def assert_close_to_pil(ours: torch.Tensor, pil_route: torch.Tensor) -> None:
    """Our tensor resize against the reference's PIL resize, both in [0, 1]. PIL rounds to 8 bits after each of its
    two passes: 0.001 apart on average, up to ~0.03 at sharp edges. Another kernel is further off (measured on
    these photographs: no antialiasing 0.003–0.008 on average, bilinear 0.005; 0.07–0.3 at the edges)."""
    assert ours.shape == pil_route.shape
    difference = (ours - pil_route).abs()
    assert float(difference.mean()) < 0.002 and float(difference.max()) < 0.05


def test_every_encoder_is_a_folder_extractor_with_a_published_file():
    names = embedding_extractors()
    for name in ("dinov2-vits14", "dinov2-vitb14", "dinov2-vitl14", "clip-vit-b-32", "clip-vit-l-14-336"):
        assert name in names
        artifact = W.get_artifact(name)
        assert artifact.source == "hf" and artifact.fetchable
    assert W.get_artifact("dinov2-vitl14").hf_repo == "timm/vit_large_patch14_dinov2.lvd142m"
    assert W.get_artifact("clip-vit-l-14-336").hf_repo == "timm/vit_large_patch14_clip_336.openai"


def test_the_variants_are_one_class_each_family():
    from percept_lib.extractors import CLIP, EXTRACTORS, DINOv2

    assert all(issubclass(EXTRACTORS[n], DINOv2) for n in ("dinov2-vits14", "dinov2-vitb14", "dinov2-vitl14"))
    assert all(issubclass(EXTRACTORS[n], CLIP) for n in ("clip-vit-b-32", "clip-vit-l-14-336"))
    assert DINOv2.variant("dinov2-vitb14") is EXTRACTORS["dinov2-vitb14"]
    with pytest.raises(ValueError, match="available: dinov2-vits14"):
        DINOv2.variant("dinov2-vitg14")


def test_clip_l_336_is_built_with_quickgelu():
    import open_clip

    from percept_lib.extractors import EXTRACTORS

    config = open_clip.get_model_config(EXTRACTORS["clip-vit-l-14-336"].open_clip_model)
    # OpenAI's weights need QuickGELU; the plain config would build nn.GELU and embed subtly wrongly.
    assert config["quick_gelu"] is True and not open_clip.get_model_config("ViT-L-14-336").get("quick_gelu")
    assert config["vision_cfg"]["image_size"] == 336 and config["embed_dim"] == 768


@pytest.mark.parametrize("name, timm_model, dim", [
    ("dinov2-vitb14", "vit_base_patch14_dinov2.lvd142m", 768),
    ("dinov2-vitl14", "vit_large_patch14_dinov2.lvd142m", 1024),
])
def test_dinov2_equals_timm_loading_the_same_file(hf_cache, name, timm_model, dim):
    import timm
    from torchvision import transforms as T

    write_to_hf_cache(hf_cache, W.get_artifact(name), dinov2_state(timm_model, seed=11))
    ours = get_extractor(name, layers=["cls"])
    assert ours.pretrained and W.cached_path(name).is_relative_to(hf_cache)
    # timm finds the file itself, by the repository and name it publishes the weights under.
    reference = timm.create_model(timm_model, pretrained=True, num_classes=0, dynamic_img_size=True).eval()
    u8, pil = photo_pair()
    images = u8 if name == "dinov2-vitb14" else u8[:1]  # ViT-L: one image per forward
    # dgm-eval's DINOv2 transform: Resize((224, 224), bicubic) on the PIL image, ToTensor, ImageNet mean/std.
    normalize = T.Normalize(timm.data.IMAGENET_DEFAULT_MEAN, timm.data.IMAGENET_DEFAULT_STD)
    dgm_eval_resize = T.Compose([T.Resize((224, 224), interpolation=T.InterpolationMode.BICUBIC), T.ToTensor()])
    with torch.no_grad():
        x = ours.preprocess(images)
        got = ours.embed(x, "cls")
        expected = reference(normalize(x))  # timm's own head: the CLS token after the final norm
    assert got.shape == (len(images), ours.feature_dim()) == (len(images), dim)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))
    torch.testing.assert_close(ours.normalize(x), normalize(x))
    assert_close_to_pil(x, torch.stack([dgm_eval_resize(img) for img in pil[:len(images)]]))
    if len(images) > 1:  # the features depend on the input: the parity above is not between constants
        assert float((got[0] - got[1]).norm()) > 0.05 * float(got[0].norm())


def test_clip_l_336_equals_open_clip_loading_the_same_file(hf_cache):
    import open_clip

    write_to_hf_cache(hf_cache, W.get_artifact("clip-vit-l-14-336"), clip_state("ViT-L-14-336-quickgelu", seed=12))
    ours = get_extractor("clip-vit-l-14-336")
    assert ours.pretrained
    # open_clip resolves the 'openai' tag to the same repository and file, and returns its own preprocessing.
    reference, _, preprocess = open_clip.create_model_and_transforms("ViT-L-14-336-quickgelu", pretrained="openai")
    reference.eval()
    u8, pil = photo_pair()
    with torch.no_grad():
        x = ours.preprocess(u8[:1])
        got = ours.embed(x)
        expected = reference.encode_image(preprocess.transforms[-1](x))  # its Normalize on the same pixels
    assert got.shape == (1, ours.feature_dim()) == (1, 768) and ours.image_size == 336
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))
    # The preprocessing: shorter side to 336, centre crop, OpenAI mean/std — open_clip's PIL route (the 150×200
    # photo is upsampled, the 520×400 one downsampled).
    normalize = preprocess.transforms[-1]
    mean, std = torch.tensor(normalize.mean).view(3, 1, 1), torch.tensor(normalize.std).view(3, 1, 1)
    torch.testing.assert_close(ours.normalize(x), normalize(x))
    for image in (u8[:1], photo_pair((520, 400))[0][:1]):
        pil_image = Image.fromarray(image[0].permute(1, 2, 0).numpy())
        assert_close_to_pil(ours.preprocess(image), (preprocess(pil_image) * std + mean)[None])


@pytest.mark.parametrize("name, wrong", [
    ("dinov2-vitb14", lambda: dinov2_state("vit_small_patch14_dinov2.lvd142m", seed=1)),
    ("dinov2-vitl14", lambda: dinov2_state("vit_base_patch14_dinov2.lvd142m", seed=1)),
    ("clip-vit-l-14-336", lambda: clip_state("ViT-B-32-quickgelu", seed=1)),
])
def test_a_file_of_another_model_is_refused_with_the_artifact_named(empty_torch_home, name, wrong):
    from safetensors.torch import save_file

    path = W.expected_path(name)
    path.parent.mkdir(parents=True)
    save_file(wrong(), str(path))
    with pytest.raises(W.WeightsCorruptError, match=rf"'{name}' .*{path.name} does not fit the model"):
        get_extractor(name)


def test_missing_file_offline_names_the_fetch_command(hf_cache):
    with pytest.raises(W.WeightsUnavailableError, match=r"weights fetch dinov2-vitl14.*PERCEPT_WEIGHTS=random"):
        get_extractor("dinov2-vitl14")


def test_dgm_eval_preprocessing_is_square_224_without_a_crop():
    from percept_lib.extractors.dinov2 import resize_square

    wide = torch.zeros(1, 3, 100, 300)
    wide[..., :150] = 1.0  # left half white: a crop would lose the proportions, a square resize keeps them
    y = resize_square(wide, 224)
    assert y.shape == (1, 3, 224, 224)
    np.testing.assert_allclose(float(y[..., :100].mean()), 1.0, atol=1e-3)
    np.testing.assert_allclose(float(y[..., 124:].mean()), 0.0, atol=1e-3)
