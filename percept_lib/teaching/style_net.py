"""Style transfer two ways: optimise one image (Gatys et al. 2016) or train a network (Johnson et al. 2016).

Both minimise the same objective, :class:`StyleTransferLoss`:

    L(x) = w_c · D_c(x, content) / r_c  +  w_s · D_s(x, style) / r_s  +  w_tv · TV(x) / r_tv

with D_c the content loss (mean squared difference of VGG19 ``relu4_2`` features, :class:`ContentLoss`),
D_s the Gram style loss (:class:`StyleLoss`) and TV the total variation (:func:`total_variation`). The raw
terms live on scales that differ by orders of magnitude and change with the network's weights, so each is
divided by a fixed, non-zero reference measured once (:meth:`StyleTransferLoss.calibrate`):

* r_c = D_c(style, content): the content loss of the *style* image — how far the style image is from the
  content in content features;
* r_s = D_s(content, style): the style loss of the *content* image — how far the content is from the style;
* r_tv = TV(content): the content image's own total variation.

At the content image the normalised terms are (0, 1, 1); at the style image the first is 1 and the second 0.
The weights are therefore relative and symmetric: with w_c = w_s = 1, reaching the style image costs as much
content as staying at the content image costs style. (Dividing by the value at the *starting* image instead
would divide the content term by 0 whenever the optimisation starts from the content image.) The references
do not depend on the starting image, so a weight means the same whether the optimisation starts from the
content, from noise, or trains a network.

:class:`TransformNet` is Johnson et al.'s feed-forward transformation network made small enough to train in
seconds on a CPU: a 9×9 convolution, two stride-2 convolutions, residual blocks, two nearest-neighbour
upsamplings each followed by a 3×3 convolution (resize-convolution rather than a transposed convolution,
which avoids checkerboard artefacts: Odena et al. 2016), instance normalisation (Ulyanov et al. 2016) and a
sigmoid output in [0, 1]. :func:`train_transform_net` trains it on a batch of content crops.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..extractors import get_extractor
from ..images import validate_images
from ..losses import gram_matrix, total_variation
from ..losses.base import SharesBackbones
from ..losses.style import STYLE_LAYERS_GATYS

TERMS = ("content", "style", "tv")
EPS = 1e-3  # the transform network works on logit(x) with x clamped to [EPS, 1 − EPS]


def _check_weight(name: str, value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r}: expected a number ≥ 0") from None
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"{name}={value!r}: a weight must be a finite number ≥ 0 (0 switches the term off)")
    return value


class StyleTransferLoss(SharesBackbones):
    """Content + Gram style + total variation, each divided by a fixed non-zero reference (module docstring).

    Args:
        style: the style image, 1×3×H×W in [0, 1] (any size: Gram matrices do not depend on it).
        content_weight, style_weight, tv_weight: the relative weights w_c, w_s, w_tv (≥ 0).
        style_layers: VGG19 taps of the style term (default Gatys et al.'s relu1_1 … relu5_1).
        content_layer: VGG19 tap of the content term (default relu4_2, Gatys et al.'s choice).

    The raw terms equal ``ContentLoss(content_layer)(x, content)``, ``StyleLoss(style_layers)(x, style)`` and
    ``total_variation(x)`` per image; they are computed here from one VGG19 pass over ``x`` (the two losses
    would each run their own). Call :meth:`calibrate` with the content image(s) before the first forward.
    """

    def __init__(self, style: torch.Tensor, content_weight: float = 1.0, style_weight: float = 1.0,
                 tv_weight: float = 0.1, style_layers: Sequence[str] = STYLE_LAYERS_GATYS,
                 content_layer: str = "relu4_2"):
        super().__init__()
        style = validate_images(style, "style")
        if style.shape[0] != 1:
            raise ValueError(f"style: {style.shape[0]} images; pass one style image (1×3×H×W), e.g. style[:1]")
        self.content_weight = _check_weight("content_weight", content_weight)
        self.style_weight = _check_weight("style_weight", style_weight)
        self.tv_weight = _check_weight("tv_weight", tv_weight)
        self.style_layers = tuple(style_layers)
        if not self.style_layers:
            raise ValueError("style_layers is empty: give at least one VGG19 layer, e.g. ('relu1_1', 'relu2_1')")
        self.content_layer = content_layer
        self.extractor = get_extractor("vgg19", layers=tuple(dict.fromkeys(self.style_layers + (content_layer,))))
        self.content_extractor = get_extractor("vgg19", layers=(content_layer,))
        self.pretrained = self.extractor.pretrained
        self.style = style.detach()
        with torch.no_grad():
            feats = self.extractor(self.style)
            self.style_grams = OrderedDict((layer, gram_matrix(feats[layer])) for layer in self.style_layers)
        self.references: dict[str, float] | None = None

    # The raw terms --------------------------------------------------------------------------------

    def raw_terms(self, x: torch.Tensor, content: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        """Per-image raw terms of ``x`` (N×3×H×W) against ``content`` (same shape): name → (N,)."""
        x = validate_images(x, "x")
        content = validate_images(content, "content")
        if content.shape != x.shape:
            raise ValueError(f"content has shape {tuple(content.shape)} but x has {tuple(x.shape)}: "
                             "pass one content image per image of x, at the same size")
        x, content = self.follow(x, content)
        feats = self.extractor(x)
        with torch.no_grad():
            target = self.content_extractor(content)[self.content_layer]
        content_term = (feats[self.content_layer] - target).square().flatten(1).mean(1)
        style_term = sum((gram_matrix(feats[layer]) - g.to(x.device, x.dtype)).square().flatten(1).mean(1)
                         for layer, g in self.style_grams.items())
        return OrderedDict(content=content_term, style=style_term, tv=total_variation(x))

    # The references -------------------------------------------------------------------------------

    @torch.no_grad()
    def calibrate(self, content: torch.Tensor) -> dict[str, float]:
        """Measure the references r_c, r_s, r_tv on ``content`` (one image or a batch; averaged) and keep them.

        Raises ``ValueError`` when one is zero: the style image equals the content in content features, the
        content already has the style's Gram matrices, or the content image is flat.
        """
        from ..data import fit

        content = validate_images(content, "content")
        style = fit(self.style, tuple(content.shape[-2:])).expand(content.shape[0], -1, -1, -1)
        at_style = self.raw_terms(style.contiguous(), content)
        at_content = self.raw_terms(content, content)
        refs = {"content": float(at_style["content"].mean()), "style": float(at_content["style"].mean()),
                "tv": float(at_content["tv"].mean())}
        fixes = {"content": "the style image has the content's relu features (is it the same image?); "
                            "choose another style image",
                 "style": "the content image already has the style's Gram matrices (same image?); "
                          "choose another style image",
                 "tv": "the content image is flat (no total variation); use a photograph, or tv_weight=0"}
        for name, value in refs.items():
            if not (value > 0 and value < float("inf")):
                if name == "tv" and self.tv_weight == 0:
                    refs[name] = 1.0
                    continue
                raise ValueError(f"the {name} reference is {value:g}, so the {name} term cannot be normalised: "
                                 f"{fixes[name]}")
        self.references = refs
        return dict(refs)

    # The objective --------------------------------------------------------------------------------

    def terms(self, x: torch.Tensor, content: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        """Normalised terms (each raw term / its reference), per image: name → (N,)."""
        if self.references is None:
            raise ValueError("StyleTransferLoss: no references yet; call loss.calibrate(content) once first")
        raw = self.raw_terms(x, content)
        return OrderedDict((name, raw[name] / self.references[name]) for name in TERMS)

    def weights(self) -> dict[str, float]:
        return {"content": self.content_weight, "style": self.style_weight, "tv": self.tv_weight}

    def forward(self, x: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
        """The weighted sum of the normalised terms, averaged over the batch (a scalar)."""
        w = self.weights()
        return sum(w[name] * value for name, value in self.terms(x, content).items()).mean()

    def extra_repr(self) -> str:
        return (f"content_weight={self.content_weight}, style_weight={self.style_weight}, "
                f"tv_weight={self.tv_weight}, style_layers={self.style_layers}, "
                f"content_layer={self.content_layer!r}, references={self.references}")


# ----------------------------------------------------------------------------------------------------
# Johnson et al.'s transformation network, small
# ----------------------------------------------------------------------------------------------------

class ConvLayer(nn.Sequential):
    """Reflection padding → convolution → instance norm → ReLU (``relu=False``: no norm, no ReLU)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, relu: bool = True):
        layers = [nn.ReflectionPad2d(kernel // 2), nn.Conv2d(c_in, c_out, kernel, stride)]
        if relu:
            layers += [nn.InstanceNorm2d(c_out, affine=True), nn.ReLU(inplace=True)]
        super().__init__(*layers)


class ResidualBlock(nn.Module):
    """x + (conv → norm → ReLU → conv → norm)(x), at constant width."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(ConvLayer(channels, channels, 3),
                                  nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3),
                                  nn.InstanceNorm2d(channels, affine=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class UpsampleConv(nn.Sequential):
    """Nearest-neighbour ×2 upsampling, then a convolution: every output pixel sees the same number of inputs,
    so there is no checkerboard (a stride-2 transposed convolution overlaps unevenly; Odena et al. 2016)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(nn.Upsample(scale_factor=2, mode="nearest"), ConvLayer(c_in, c_out, 3))


class TransformNet(nn.Module):
    """Johnson et al. (2016)'s image transformation network, narrow: ``width`` channels at full resolution,
    2·width and 4·width after each stride-2 convolution, ``n_residual`` residual blocks at 4·width.

    Johnson et al. use width 32 and 5 residual blocks (1.7 M parameters); width 8 with 2 blocks has about
    25 k and trains in seconds. Input and output: N×3×H×W in [0, 1], H and W multiples of 4.
    """

    def __init__(self, width: int = 8, n_residual: int = 2):
        super().__init__()
        if int(width) != width or width < 1:
            raise ValueError(f"width={width!r}: use a positive integer (Johnson et al.: 32)")
        if int(n_residual) != n_residual or n_residual < 0:
            raise ValueError(f"n_residual={n_residual!r}: use an integer ≥ 0 (Johnson et al.: 5)")
        w = int(width)
        self.down = nn.Sequential(ConvLayer(3, w, 9), ConvLayer(w, 2 * w, 3, stride=2),
                                  ConvLayer(2 * w, 4 * w, 3, stride=2))
        self.residual = nn.Sequential(*[ResidualBlock(4 * w) for _ in range(int(n_residual))])
        self.up = nn.Sequential(UpsampleConv(4 * w, 2 * w), UpsampleConv(2 * w, w), ConvLayer(w, 3, 9, relu=False))
        with torch.no_grad():  # start close to the identity: a small correction of the input
            self.up[-1][-1].weight.mul_(0.1)
            self.up[-1][-1].bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = validate_images(x, "x")
        if x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"image size {tuple(x.shape[-2:])}: height and width must be multiples of 4 "
                             "(two stride-2 convolutions, then two ×2 upsamplings); crop or resize first")
        # The network predicts a correction in logit space: output = sigmoid(logit(x) + correction).
        return torch.sigmoid(torch.logit(x.clamp(EPS, 1 - EPS)) + self.up(self.residual(self.down(x))))


def train_transform_net(net: nn.Module, loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                        crops: torch.Tensor, steps: int, batch_size: int = 4, learning_rate: float = 2e-3,
                        seed: int = 0) -> list[float]:
    """Adam on ``loss_fn(net(batch), batch)`` over random mini-batches of ``crops``; the loss per step.

    The same loop as optimising one image, except that the optimiser holds the network's weights and every
    step sees other content images: the network learns a map content → stylised image that generalises.
    """
    crops = validate_images(crops, "crops")
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps={steps!r}: use a positive integer")
    if int(batch_size) != batch_size or not 1 <= batch_size:
        raise ValueError(f"batch_size={batch_size!r}: use a positive integer")
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=learning_rate)
    history = []
    net.train()
    for _ in range(int(steps)):
        idx = torch.randint(0, crops.shape[0], (min(int(batch_size), crops.shape[0]),), generator=g)
        batch = crops[idx]
        opt.zero_grad()
        loss = loss_fn(net(batch), batch)
        loss.backward()
        opt.step()
        history.append(loss.item())
    net.eval()
    return history
