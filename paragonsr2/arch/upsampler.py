"""The "Magic Kernel Sharp 2021" feature upsampler as upstream implements it.

sharpen (7-tap separable, low-pass despite its name) blended by ``alpha``, nearest resize,
then a 5-tap separable resample filter. Filter taps are frozen parameters that live in the
state dict; the loaded values are used, never re-derived.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..validate import InvalidValueError, check_alpha

SHARPEN_TAPS = (-1.0, 0.0, 9.0, 16.0, 9.0, 0.0, -1.0)
SHARPEN_NORM = 32.0
RESAMPLE_TAPS = (1.0, 4.0, 6.0, 4.0, 1.0)
RESAMPLE_NORM = 16.0

Scale = float | tuple[float, float]


def scale_pair(scale: Scale) -> tuple[float, float]:
    """(sh, sw) from a number or a pair; refuses values that are not finite and positive.

    The math accepts any such scale (0.5 too); user-facing entry points also check validate.SCALE.
    """
    try:
        sh, sw = (scale, scale) if isinstance(scale, (int, float)) else tuple(scale)
        sh, sw = float(sh), float(sw)
    except (TypeError, ValueError):
        raise InvalidValueError(f"scale must be a positive number or a pair of them, got {scale!r}") from None
    if not (math.isfinite(sh) and math.isfinite(sw) and sh > 0 and sw > 0):
        raise InvalidValueError(f"scale must be a finite positive number or a pair of them, got {scale!r}")
    return sh, sw


def target_size(height: int, width: int, scale: Scale) -> tuple[int, int]:
    """Output size (max(round(H*sh),1), max(round(W*sw),1)); Python round = half to even."""
    sh, sw = scale_pair(scale)
    return max(round(height * sh), 1), max(round(width * sw), 1)


class SeparableDWFilter(nn.Module):
    """Depthwise bias-free filter, horizontal (``conv_h`` [C,1,1,k]) then vertical (``conv_v`` [C,1,k,1])."""

    def __init__(self, channels: int, taps: tuple[float, ...], norm: float) -> None:
        super().__init__()
        k = len(taps)
        self.conv_h = nn.Conv2d(channels, channels, (1, k), padding=(0, k // 2), groups=channels, bias=False)
        self.conv_v = nn.Conv2d(channels, channels, (k, 1), padding=(k // 2, 0), groups=channels, bias=False)
        kernel = torch.tensor(taps) / norm
        with torch.no_grad():
            self.conv_h.weight.copy_(kernel.view(1, 1, 1, k).expand(channels, 1, 1, k))
            self.conv_v.weight.copy_(kernel.view(1, 1, k, 1).expand(channels, 1, k, 1))
        self.conv_h.weight.requires_grad_(False)
        self.conv_v.weight.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_v(self.conv_h(x))


class MagicKernelSharp2021Upsample(nn.Module):
    """[B,C,H,W] -> [B,C,round(H*sh),round(W*sw)].

    ``resize="round"`` (generations A/B): nearest resize to the rounded target size.
    ``resize="factor"`` (generation A0): nearest resize by the scale factor (floor size).
    alpha must lie in [0, 1] (InvalidValueError otherwise, NaN included); 0 skips the sharpen filter.
    """

    def __init__(self, channels: int, alpha: float = 0.5, resize: str = "round") -> None:
        super().__init__()
        self.sharpen = SeparableDWFilter(channels, SHARPEN_TAPS, SHARPEN_NORM)
        self.resample_conv = SeparableDWFilter(channels, RESAMPLE_TAPS, RESAMPLE_NORM)
        self.alpha = check_alpha(alpha)
        self.resize = resize

    def resize_nearest(self, x: torch.Tensor, scale: Scale) -> torch.Tensor:
        if self.resize == "factor":
            return F.interpolate(x, scale_factor=scale_pair(scale), mode="nearest")
        size = target_size(x.shape[-2], x.shape[-1], scale)
        if size == tuple(x.shape[-2:]):
            return x
        return F.interpolate(x, size=size, mode="nearest")

    def forward(self, x: torch.Tensor, scale: Scale) -> torch.Tensor:
        if self.alpha > 0:
            x = x + self.alpha * (self.sharpen(x) - x)
        return self.resample_conv(self.resize_nearest(x, scale))
