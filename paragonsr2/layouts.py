"""Image tensor layouts: ComfyUI's [B,H,W,C] and PyTorch's [B,C,H,W]."""
from __future__ import annotations

from typing import Literal

import torch

from .errors import ParagonError

Layout = Literal["auto", "BHWC", "BCHW"]


def detect_layout(image: torch.Tensor) -> str:
    """"BHWC" if the last dim is a channel count (1, 3, 4) and dim 1 is not, "BCHW" if the reverse;
    when both could be channels (tiny images) ComfyUI's "BHWC" is assumed."""
    if image.dim() != 4:
        raise ParagonError(f"expected a 4-D image tensor [B,H,W,C] or [B,C,H,W], got shape {tuple(image.shape)}")
    last, second = image.shape[-1] in (1, 3, 4), image.shape[1] in (1, 3, 4)
    if last:
        return "BHWC"
    if second:
        return "BCHW"
    raise ParagonError(f"cannot tell the channels of an image of shape {tuple(image.shape)}: "
                       "expected 1, 3 or 4 channels in [B,H,W,C] or [B,C,H,W]")


def to_nchw(image: torch.Tensor, layout: Layout = "auto") -> tuple[torch.Tensor, str]:
    """(`image` as [B,C,H,W], the layout it had: "BHWC" or "BCHW")."""
    layout = detect_layout(image) if layout == "auto" else layout
    if layout not in ("BHWC", "BCHW"):
        raise ParagonError(f"layout must be 'auto', 'BHWC' or 'BCHW', got {layout!r}")
    return (image.movedim(-1, 1) if layout == "BHWC" else image), layout
