"""VGG16, VGG19, AlexNet and SqueezeNet 1.1 from torchvision, tapped by the literature's layer names.

The weights are torchvision's published ImageNet checkpoints, so a tap here equals the output of the
same torchvision layer (tests check this). Input normalization: ImageNet mean/std on [0, 1] input — which
is exactly LPIPS's scaling layer applied to 2x − 1 (shift = 2·mean − 1, scale = 2·std).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from .base import FeatureExtractor, load_backbone_weights, seeded_init


def vgg_layer_names(features: nn.Sequential) -> list[str]:
    """conv1_1, relu1_1, conv1_2, relu1_2, pool1, conv2_1 … for any VGG ``features`` stack."""
    names, block, index = [], 1, 1
    for module in features:
        if isinstance(module, nn.Conv2d):
            names.append(f"conv{block}_{index}")
        elif isinstance(module, nn.ReLU):
            names.append(f"relu{block}_{index}")
            index += 1
        elif isinstance(module, nn.MaxPool2d):
            names.append(f"pool{block}")
            block, index = block + 1, 1
        else:
            raise TypeError(f"unexpected module {module}")
    return names


class _DerivedCache(dict):
    """Data derived from a module's own state: a copy of the module starts without it and derives its own."""

    def __deepcopy__(self, memo):
        return type(self)()


class _SlicedExtractor(FeatureExtractor):
    """A torchvision ``features`` stack run up to the deepest requested tap, one named output per tap."""

    # On a CPU, oneDNN's convolutions work natively on NHWC; on NCHW every layer's activations are reordered
    # on the way in and out, which costs once they outgrow the caches. Measured on a 2-core EPYC (one
    # thread, CPU time): at 2^18 pixels (N·H·W) or more a pass is 1.1–1.4× faster channels-last (VGG16,
    # AlexNet, forward and forward + backward); at 2^16 it breaks even (forward + backward 0.97–1.06); at
    # 2^15 NCHW is faster (VGG16 forward + backward 0.90–0.94, AlexNet at 32 px 0.5). SqueezeNet, whose Fire
    # blocks concatenate along channels, is 1.4–2.4× faster channels-last at every size.
    channels_last_from_pixels = 2 ** 16
    # Passes that pack several batches (LPIPS's x and y) stop at this size: beyond it two passes were faster
    # than one (VGG16 4 % and SqueezeNet 12 % at 8 × 256²); below it one pass was (AlexNet 64 px: 1.3×).
    max_pass_pixels = 2 ** 18

    def _build(self, net: nn.Module, names: Sequence[str], ends: dict[str, int]) -> None:
        # ends: tap name -> index in net.features after which the tap is read
        self._ends = {name: ends[name] for name in self.layers}
        last = max(self._ends.values())
        features = net.features[: last + 1]
        tapped = set(self._ends.values())
        for index, module in enumerate(features):
            for relu in (m for m in module.modules() if isinstance(m, nn.ReLU)):
                # In place saves a copy and a fresh allocation of every activation (13 of them cost 69 ms of a
                # VGG16 LPIPS call at 64 px); its backward reads only its output, so gradients are unaffected.
                # The one ReLU that must not be in place is one whose input is a tap (a conv tap such as
                # conv3_3): it would overwrite the tapped values. ReLUs inside a block (SqueezeNet's Fire) act
                # on the block's own convolutions, never on a tap.
                relu.inplace = not (relu is module and index - 1 in tapped)
        self.body = features
        self._channels_last_weights = _DerivedCache()
        self._index_to_names: dict[int, list[str]] = {}
        for name, end in self._ends.items():
            self._index_to_names.setdefault(end, []).append(name)

    def smallest_input(self) -> int:
        """The smallest image side (pixels) whose every tap is at least 1×1 (cached).

        Found by following a side length through each layer's output-size formula; a 16-px image through
        AlexNet's stride-4 convolution and three poolings, for one, has nothing left by relu5.
        """
        if "_smallest" not in self.__dict__:
            self._smallest = next(n for n in range(1, 4097) if self._side_survives(n))
        return self._smallest

    def _side_survives(self, n: int) -> bool:
        deepest = max(self._ends.values())
        for index, module in enumerate(self.body):
            if hasattr(module, "stride"):  # convolutions and poolings; Fire blocks and ReLUs keep the size
                k, s, p, d = (module.kernel_size, module.stride, module.padding, getattr(module, "dilation", 1))
                k, s, p, d = (v[0] if isinstance(v, tuple) else v for v in (k, s, p, d))
                ceil = getattr(module, "ceil_mode", False)
                if not ceil and n + 2 * p < d * (k - 1) + 1:
                    return False
                # torch's pooling_output_shape: floor division, and with ceil_mode the last window must
                # start inside the input.
                out = (n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil else 0)) // s + 1
                if ceil and (out - 1) * s >= n + p:
                    out -= 1
                n = out
            if n < 1:
                return False
            if index == deepest:
                return True
        return True

    def features(self, x):
        side = min(x.shape[-2:])
        if side < self.smallest_input():
            raise ValueError(f"images of {x.shape[-2]}×{x.shape[-1]} px are too small for {self.name} up to "
                             f"{self.layers[-1]}: it needs at least {self.smallest_input()}×{self.smallest_input()}; "
                             "upsample them (e.g. torch.nn.functional.interpolate) or compare larger crops")
        pixels = x.shape[0] * x.shape[-2] * x.shape[-1]
        channels_last = x.device.type == "cpu" and pixels >= self.channels_last_from_pixels
        if channels_last:
            # The taps come out channels-last: the same values with other strides. Elsewhere the input's
            # own layout is kept (on a GPU the caller chooses it, with the model's).
            x = x.contiguous(memory_format=torch.channels_last)
        out = OrderedDict()
        for i, module in enumerate(self.body):
            if channels_last and type(module) is nn.Conv2d and module.padding_mode == "zeros" \
                    and not module.weight.requires_grad:
                x = self._conv_channels_last(module, x)
            else:
                x = module(x)
            for name in self._index_to_names.get(i, ()):
                out[name] = x
        return OrderedDict((name, out[name]) for name in self.layers)

    def _conv_channels_last(self, conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
        """``conv(x)`` with a channels-last copy of its (frozen) weight, made once per weight version: given
        the module's own NCHW weight, torch converts it on every call (0.9 ms of a 21 ms AlexNet LPIPS call at
        64 px). The copy holds the storage it came from, so an equal data pointer means the same storage."""
        weight = conv.weight
        cached = self._channels_last_weights.get(conv)
        if cached is None or cached[0].data_ptr() != weight.data_ptr() or cached[1] != weight._version:
            with torch.inference_mode(False):  # made in a metric call, it must still serve a loss's backward
                channels_last = weight.detach().contiguous(memory_format=torch.channels_last)
            cached = (weight.detach(), weight._version, channels_last)
            self._channels_last_weights[conv] = cached
        return F.conv2d(x, cached[2], conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups)

    def _apply(self, fn, recurse=True):
        self.__dict__.get("_channels_last_weights", {}).clear()  # moved or cast: copies would pin the old weights
        return super()._apply(fn, recurse)


def _make_net(constructor, artifact: str, weights: str | None, what: str):
    with seeded_init(0):
        net = constructor(weights=None)
    pretrained = load_backbone_weights(net, artifact, weights, what)
    return net, pretrained


class VGG(_SlicedExtractor):
    """VGG16 / VGG19 taps ``conv{b}_{i}``, ``relu{b}_{i}``, ``pool{b}`` (Simonyan & Zisserman's numbering)."""

    def __init__(self, depth: int = 16, layers: Sequence[str] | None = None, weights: str | None = None):
        if depth not in (16, 19):
            raise ValueError(f"VGG depth {depth}: use 16 or 19")
        constructor = torchvision.models.vgg16 if depth == 16 else torchvision.models.vgg19
        with seeded_init(0):
            net = constructor(weights=None)
        names = vgg_layer_names(net.features)
        self.name = f"vgg{depth}"
        self.available_layers = tuple(names)
        self.default_layers = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3") if depth == 16 else \
            ("relu1_2", "relu2_2", "relu3_4", "relu4_4", "relu5_4")
        super().__init__(layers)
        pretrained = load_backbone_weights(net, self.name, weights, self.name)
        self._build(net, names, {name: i for i, name in enumerate(names)})
        self._finish(pretrained)


# LPIPS's slices (lpips/pretrained_networks.py): AlexNet [0:2] [2:5] [5:8] [8:10] [10:12].
ALEXNET_TAPS = {"relu1": 1, "relu2": 4, "relu3": 7, "relu4": 9, "relu5": 11}
# SqueezeNet 1.1: [0:2] [2:5] [5:8] [8:10] [10] [11] [12] — relu1, then the outputs of fire3 … fire9.
SQUEEZENET_TAPS = {"relu1": 1, "fire3": 4, "fire5": 7, "fire6": 9, "fire7": 10, "fire8": 11, "fire9": 12}


class _TorchvisionTaps(_SlicedExtractor):
    """A torchvision ``features`` stack read at the fixed indices of ``taps`` (LPIPS's slices)."""

    taps: dict[str, int] = {}
    constructor = None  # the torchvision builder
    artifact = ""       # its weights artifact in percept_lib.weights

    def __init__(self, layers: Sequence[str] | None = None, weights: str | None = None):
        super().__init__(layers)
        net, pretrained = _make_net(type(self).constructor, self.artifact, weights, self.name)
        self._build(net, self.available_layers, self.taps)
        self._finish(pretrained)


class AlexNet(_TorchvisionTaps):
    name = "alexnet"
    taps, artifact = ALEXNET_TAPS, "alexnet"
    constructor = torchvision.models.alexnet
    available_layers = default_layers = tuple(ALEXNET_TAPS)


class SqueezeNet(_TorchvisionTaps):
    name = "squeezenet"
    channels_last_from_pixels = 0
    taps, artifact = SQUEEZENET_TAPS, "squeezenet1_1"
    constructor = torchvision.models.squeezenet1_1
    available_layers = default_layers = tuple(SQUEEZENET_TAPS)
