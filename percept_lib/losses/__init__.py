"""Losses and paired metrics as ``nn.Module``s: [0, 1] images in, shared validation, ``reduction``.

=========================  ==========================================================================
pixel                      ``MSELoss``, ``L1Loss``, ``psnr``
perceptual                 ``PerceptualLoss`` (VGG features; presets ``seed001``, ``seed002``,
                           ``johnson``), ``ContentLoss``
lpips                      ``LPIPS`` (Zhang et al. 2018; alex / vgg / squeeze, v0.1 weights)
dists                      ``DISTS`` (Ding et al. 2020)
ssim                       ``SSIM``, ``ssim``, ``SSIMLoss`` (Wang et al. 2004)
ms_ssim                    ``MSSSIM``, ``ms_ssim``, ``MSSSIMLoss`` (Wang et al. 2003, five scales)
style                      ``gram_matrix``, ``StyleLoss``, ``total_variation``, ``TotalVariationLoss``
contrastive                ``ContrastivePerceptualLoss`` (triplet loss for super-resolution)
=========================  ==========================================================================
"""
from .base import PairwiseModule, reduce
from .contrastive import ContrastivePerceptualLoss
from .dists import DISTS
from .lpips import LPIPS
from .ms_ssim import MSSSIM, MSSSIMLoss, ms_ssim
from .perceptual import ContentLoss, PerceptualLoss
from .pixel import L1Loss, MSELoss, psnr
from .ssim import SSIM, SSIMLoss, ssim
from .style import StyleLoss, TotalVariationLoss, gram_matrix, total_variation

__all__ = [
    "PairwiseModule", "reduce",
    "MSELoss", "L1Loss", "psnr",
    "PerceptualLoss", "ContentLoss",
    "LPIPS",
    "DISTS",
    "SSIM", "ssim", "SSIMLoss",
    "MSSSIM", "ms_ssim", "MSSSIMLoss",
    "StyleLoss", "TotalVariationLoss", "gram_matrix", "total_variation",
    "ContrastivePerceptualLoss",
]
