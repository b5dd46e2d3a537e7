"""Losses and paired metrics as ``nn.Module``s: [0, 1] images in, shared validation, ``reduction``."""
from .base import PairwiseModule, reduce
from .contrastive import ContrastivePerceptualLoss
from .lpips import LPIPS
from .perceptual import ContentLoss, PerceptualLoss
from .pixel import L1Loss, MSELoss, psnr
from .style import StyleLoss, TotalVariationLoss, gram_matrix, total_variation

__all__ = [
    "PairwiseModule", "reduce", "ContrastivePerceptualLoss", "LPIPS", "ContentLoss", "PerceptualLoss",
    "L1Loss", "MSELoss", "psnr", "StyleLoss", "TotalVariationLoss", "gram_matrix", "total_variation",
]
