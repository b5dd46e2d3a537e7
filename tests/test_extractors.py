"""Extractors: the real loading path with written checkpoints, parity with the reference layers."""
import copy

import pytest
import torch
import torchvision

from percept_lib.extractors import get_extractor, vgg_layer_names
from percept_lib.images import resize


@pytest.mark.parametrize("depth", [16, 19])
def test_vgg_taps_equal_torchvision_layers(torch_home, photos_batch, depth):
    name = f"vgg{depth}"
    torch_home.make(name)
    ours = get_extractor(name, layers=("conv1_1", "relu1_2", "relu2_2", "conv3_1", "relu4_2", "pool4"))
    assert ours.pretrained
    ref = getattr(torchvision.models, name)(weights="IMAGENET1K_V1").features.eval()  # reads the same file
    x = photos_batch
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    names = vgg_layer_names(ref)
    with torch.no_grad():
        got = ours(x)
        h = (x - mean) / std
        expected = {}
        for module, layer in zip(ref, names):
            h = module(h.clone())
            expected[layer] = h
    assert list(got) == ["conv1_1", "relu1_2", "relu2_2", "conv3_1", "relu4_2", "pool4"]
    for layer, value in got.items():
        torch.testing.assert_close(value, expected[layer], rtol=1e-5, atol=1e-5)


def test_vgg19_layer_names_follow_the_literature():
    names = vgg_layer_names(torchvision.models.vgg19(weights=None).features)
    # Seed 002's slices [0:4] [4:9] [9:16] [16:23] end at these layers in VGG19.
    assert [names[i] for i in (3, 8, 15, 22)] == ["relu1_2", "relu2_2", "relu3_3", "relu4_2"]
    assert names[16] == "conv3_4" and names[-1] == "pool5"


@pytest.mark.parametrize("name,artifact,slices", [
    ("alexnet", "alexnet", [(0, 2), (2, 5), (5, 8), (8, 10), (10, 12)]),
    ("squeezenet", "squeezenet1_1", [(0, 2), (2, 5), (5, 8), (8, 10), (10, 11), (11, 12), (12, 13)]),
])
def test_lpips_backbone_taps_equal_torchvision_slices(torch_home, photos_batch, name, artifact, slices):
    torch_home.make(artifact)
    ours = get_extractor(name)
    ctor = torchvision.models.alexnet if name == "alexnet" else torchvision.models.squeezenet1_1
    ref = ctor(weights="IMAGENET1K_V1").features.eval()
    x = photos_batch
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        got = list(ours(x).values())
        h = (x - mean) / std
        for (a, b), value in zip(slices, got):
            h = ref[a:b](h)
            torch.testing.assert_close(value, h, rtol=1e-5, atol=1e-5)
    assert len(got) == len(slices)


def test_inception_pool3_equals_pytorch_fid(torch_home, photos_batch):
    from pytorch_fid.inception import InceptionV3

    torch_home.make("inception-fid")
    ours = get_extractor("inception-fid", layers=("block64", "block192", "block768", "pool3"), resize="pytorch-fid")
    ref = InceptionV3([0, 1, 2, 3]).eval()  # loads pt_inception-2015-12-05-6726825d.pth from TORCH_HOME
    x = photos_batch
    with torch.no_grad():
        got = ours(x)
        expected = ref(x)
    for value, exp in zip(got.values(), expected):
        rel = (value - exp).norm() / exp.norm()
        assert rel < 1e-4, rel
    pool3 = got["pool3"].flatten(1)
    assert pool3.shape == (4, 2048)
    # Calibrated random weights give input-dependent features; otherwise this parity would be vacuous.
    assert (pool3[0] - pool3[1]).norm() > 0.05 * pool3[0].norm()


def test_inception_logits_are_pytorch_fids_classifier_on_pool3(torch_home, photos_batch):
    from pytorch_fid.inception import fid_inception_v3

    torch_home.make("inception-fid")
    ours = get_extractor("inception-fid", layers=("pool3", "logits", "logits_unbiased"), resize="pytorch-fid")
    ref = fid_inception_v3().eval()  # pytorch-fid's whole network, its 1008-class fc included, from the same file
    x = photos_batch
    with torch.no_grad():
        got = ours(x)
        # The network's own forward (pools, dropout — the identity in eval —, fc) on pytorch-fid's input.
        expected = ref(2 * torch.nn.functional.interpolate(x, size=(299, 299), mode="bilinear",
                                                           align_corners=False) - 1)
        pool3 = got["pool3"].flatten(1)
        fc_on_pool3, weight_only = ref.fc(pool3), pool3 @ ref.fc.weight.T
    assert got["logits"].shape == got["logits_unbiased"].shape == (4, 1008)
    assert float((got["logits"] - expected).norm() / expected.norm()) < 1e-4
    torch.testing.assert_close(got["logits"], fc_on_pool3, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got["logits_unbiased"], weight_only, rtol=1e-5, atol=1e-5)
    assert float(ref.fc.bias.abs().max()) > 1e-3  # the two taps differ: the comparison tells them apart


def test_folder_features_take_the_logits_tap(torch_home, photos_batch, tmp_path):
    from percept_lib.images import load_image, save_images
    from percept_lib.pipeline import FeatureSpec, folder_features

    torch_home.make("inception-fid")
    save_images(photos_batch, tmp_path / "imgs")
    assert FeatureSpec.of("inception-fid", "logits").layer == "logits"
    got = folder_features(tmp_path / "imgs", "inception-fid", "logits", "pytorch-fid", progress=False)
    ext = get_extractor("inception-fid", layers=["logits"], resize="pytorch-fid")
    with torch.no_grad():
        direct = torch.cat([ext(load_image(p))["logits"] for p in sorted((tmp_path / "imgs").iterdir())])
    assert got.shape == (4, 1008)
    torch.testing.assert_close(torch.from_numpy(got), direct.double(), rtol=1e-4, atol=1e-4)


def test_inception_clean_resize_matches_clean_fid_resizer(photos_batch):
    from cleanfid.resize import build_resizer
    import numpy as np

    x = photos_batch[:1]
    u8 = (x[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    expected = build_resizer("clean")(u8) / 255.0
    ours = resize(x, 299, "clean")[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(ours, expected, atol=1e-6)


def test_gradients_reach_the_input_and_not_the_weights(random_weights):
    ext = get_extractor("vgg16", layers=("relu2_2",))
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    ext(x)["relu2_2"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(not p.requires_grad for p in ext.parameters())
    assert not ext.training


def test_extractor_is_built_once_per_options(random_weights):
    a = get_extractor("alexnet")
    assert get_extractor("alexnet") is a
    assert get_extractor("alexnet", layers=("relu1",)) is not a


def test_random_mode_is_labelled_and_warns(monkeypatch):
    from percept_lib.extractors import clear_cache

    monkeypatch.setenv("PERCEPT_WEIGHTS", "random")
    clear_cache()
    with pytest.warns(UserWarning, match="RANDOM weights"):
        ext = get_extractor("squeezenet")
    assert ext.pretrained is False and "random" in ext.weights_label
    clear_cache()


def test_unknown_layer_names_the_available_ones(random_weights):
    with pytest.raises(ValueError, match="available: .*relu1_2"):
        get_extractor("vgg16", layers=("relu9_9",))
    with pytest.raises(ValueError, match="unknown extractor"):
        get_extractor("resnet50")


def test_dinov2_and_clip_load_written_checkpoints(torch_home):
    torch_home.make("dinov2-vits14", "clip-vit-b-32")
    dino = get_extractor("dinov2-vits14")
    clip = get_extractor("clip-vit-b-32")
    assert dino.pretrained and clip.pretrained
    x = torch.rand(2, 3, 70, 90)
    out = dino(x)
    assert out["cls"].shape == (2, 384) and out["patch"].shape == (2, 384, 16, 16)
    emb = clip(x)["embedding"]
    assert emb.shape == (2, 512)
    assert clip.encode_text(["a cat", "a rocket"]).shape == (2, 512)


def test_clip_is_built_with_quickgelu(random_weights):
    clip = get_extractor("clip-vit-b-32")
    acts = {type(m).__name__ for m in clip.model.modules()}
    assert "QuickGELU" in acts and "GELU" not in acts


def test_random_inception_features_depend_on_the_input(random_weights, photos_batch):
    # Uncalibrated random Inception features are nearly constant (every FID ≈ 0); calibrated ones are not.
    ext = get_extractor("inception-fid", resize="pytorch-fid")
    with torch.no_grad():
        f = ext(photos_batch)["pool3"].flatten(1)
    assert float((f[0] - f[1]).norm() / f[0].norm()) > 0.05


def test_clip_resize_stays_in_range():
    from percept_lib.extractors.clip import clip_resize

    x = torch.zeros(1, 3, 100, 150)
    x[..., ::2, :] = 1.0  # sharp edges make bicubic overshoot
    y = clip_resize(x)
    assert y.shape == (1, 3, 224, 224) and float(y.min()) >= 0 and float(y.max()) <= 1


def _reference_taps(extractor, x):
    """The extractor's taps recomputed the plain way: a copy of its layers with every ReLU out of place, on
    NCHW input, each tap read right after its layer."""
    body = copy.deepcopy(extractor.body)
    for module in body.modules():
        if isinstance(module, torch.nn.ReLU):
            module.inplace = False
    h, taps = extractor.normalize(x).contiguous(), {}
    for index, module in enumerate(body):
        h = module(h)
        taps.update({name: h for name, end in extractor._ends.items() if end == index})
    return [taps[name] for name in extractor.layers]


@pytest.mark.parametrize("name,layers", [
    ("vgg16", ("conv1_2", "relu1_2", "conv3_3", "relu3_3")),  # conv taps: the ReLU after each must copy
    ("alexnet", None),
    ("squeezenet", None),
])
@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "channels_last"])
def test_in_place_relus_and_channels_last_keep_taps_and_gradients(random_weights, monkeypatch, name, layers,
                                                                    channels_last):
    # A float64 copy: in float32, a max-pooling near-tie may resolve differently in two layouts' rounding and
    # route a gradient elsewhere (in either layout, at a few hundred of 10^5 pixels), hiding a real error.
    extractor = copy.deepcopy(get_extractor(name, **({"layers": layers} if layers else {}))).double()
    monkeypatch.setattr(extractor, "channels_last_from_pixels", 0 if channels_last else 2 ** 40)
    x = torch.rand(2, 3, 48, 48, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    got_x, ref_x = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    got, expected = list(extractor(got_x).values()), _reference_taps(extractor, ref_x)
    assert all(t.is_contiguous(memory_format=torch.channels_last) == channels_last for t in got)
    for value, reference in zip(got, expected):
        torch.testing.assert_close(value, reference, rtol=1e-10, atol=1e-10)
    # Gradients through every tap at once, so that an overwritten activation would show up in the backward.
    probes = [torch.randn(t.shape, dtype=t.dtype, generator=torch.Generator().manual_seed(k))
              for k, t in enumerate(expected)]
    sum((t * p).sum() for t, p in zip(got, probes)).backward()
    sum((t * p).sum() for t, p in zip(expected, probes)).backward()
    torch.testing.assert_close(got_x.grad, ref_x.grad, rtol=1e-9, atol=1e-10 * float(ref_x.grad.abs().max()))


def test_channels_last_weight_copies_follow_the_weights(random_weights, monkeypatch):
    """Channels-last CPU passes convolve with a channels-last copy of each weight, made once: it must follow
    weights overwritten in place (load_state_dict) or replaced (assign=True) and a cast, and a copy of the
    module (shared_copy's deepcopy) starts without it. A stale copy would be a silently wrong number."""
    extractor = copy.deepcopy(get_extractor("alexnet", layers=("relu2",)))
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))

    def both_layouts():
        monkeypatch.setattr(extractor, "channels_last_from_pixels", 0)
        fast = extractor(x.to(extractor.mean.dtype))["relu2"]
        monkeypatch.setattr(extractor, "channels_last_from_pixels", 2 ** 40)
        return fast, extractor(x.to(extractor.mean.dtype))["relu2"]

    def assert_same(fast, reference):  # float32 in two layouts: equal up to rounding of sums of ~1e3 terms
        torch.testing.assert_close(fast, reference, rtol=0, atol=1e-5 * float(reference.abs().max()))

    first, reference = both_layouts()
    assert_same(first, reference)
    assert len(extractor._channels_last_weights) == 2  # conv1, conv2

    halved = {k: v * 0.5 if k.endswith("weight") else v for k, v in extractor.state_dict().items()}
    extractor.load_state_dict(halved)
    fast, reference = both_layouts()
    assert_same(fast, reference)
    assert not torch.allclose(fast, first, rtol=1e-3)

    extractor.load_state_dict({k: v * 3.0 for k, v in halved.items()}, assign=True)
    fast, reference = both_layouts()
    assert_same(fast, reference)

    extractor.double()
    assert len(extractor._channels_last_weights) == 0  # no float32 copies pinned after the cast
    fast, reference = both_layouts()
    assert fast.dtype == torch.float64
    torch.testing.assert_close(fast, reference, rtol=1e-12, atol=1e-12)
    assert len(copy.deepcopy(extractor)._channels_last_weights) == 0


def test_large_cpu_passes_run_channels_last(random_weights):
    vgg, squeeze = get_extractor("vgg16", layers=("relu1_2",)), get_extractor("squeezenet")
    channels_last = torch.channels_last
    assert vgg(torch.rand(16, 3, 64, 64))["relu1_2"].is_contiguous(memory_format=channels_last)  # 2^16 pixels
    assert vgg(torch.rand(1, 3, 64, 64))["relu1_2"].is_contiguous()
    assert squeeze(torch.rand(1, 3, 32, 32))["fire3"].is_contiguous(memory_format=channels_last)


def test_only_a_relu_that_reads_a_tap_runs_out_of_place(random_weights):
    extractor = get_extractor("vgg16", layers=("conv1_2", "relu2_2", "conv3_3", "relu4_1"))
    names = vgg_layer_names(extractor.body)
    copying = {names[i] for i, m in enumerate(extractor.body) if isinstance(m, torch.nn.ReLU) and not m.inplace}
    assert copying == {"relu1_2", "relu3_3"}  # the ReLUs after conv1_2 and conv3_3; relu2_2 is a tap itself
