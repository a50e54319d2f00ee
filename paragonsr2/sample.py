"""The bundled natural sample photo: probe for tile margins, input for export verification and auto choices."""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

SAMPLE_IMAGE = Path(__file__).resolve().parent / "data" / "verify.png"
CHECK_SIZES = ((40, 64), (37, 53))  # LR sizes artifacts are checked at: one non-square, one odd


def sample_crop(height: int, width: int, image: torch.Tensor | None = None) -> torch.Tensor:
    """A [1,3,height,width] float32 crop of `image` ([1,C,H,W] or [C,H,W]; default the bundled sample),
    mirrored out where the image is smaller (natural statistics, deterministic)."""
    from .imageio import read_image

    img = read_image(SAMPLE_IMAGE) if image is None else image
    img = (img if img.dim() == 4 else img.unsqueeze(0))[:, :3].float()
    if img.shape[1] == 1:
        img = img.expand(-1, 3, -1, -1)
    while img.shape[-2] < height or img.shape[-1] < width:
        ph = min(img.shape[-2] - 1, max(0, height - img.shape[-2]))
        pw = min(img.shape[-1] - 1, max(0, width - img.shape[-1]))
        img = F.pad(img, (0, pw, 0, ph), mode="reflect") if min(img.shape[-2:]) > 1 else \
            F.pad(img, (0, pw, 0, ph), mode="replicate")
    return img[:, :, :height, :width].contiguous()
