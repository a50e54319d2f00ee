"""On-the-fly degradations HR -> LR (pure tensor functions driven by a torch.Generator)."""
from __future__ import annotations

import io

import numpy as np
import torch
import torch.nn.functional as F


def _uniform(g: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * torch.rand((), generator=g).item()


def _chance(g: torch.Generator, p: float) -> bool:
    return p > 0 and torch.rand((), generator=g).item() < p


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, int(3 * sigma + 0.5))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype)
    k = torch.exp(-(t ** 2) / (2 * sigma ** 2))
    k = k / k.sum()
    c = x.shape[1]
    x = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def downscale(x: torch.Tensor, scale: int, method: str) -> torch.Tensor:
    """[B,C,H,W] -> [B,C,H/scale,W/scale]; bicubic/bilinear are antialiased (PIL-like)."""
    size = (x.shape[-2] // scale, x.shape[-1] // scale)
    if method == "area":
        return F.interpolate(x, size=size, mode="area")
    return F.interpolate(x, size=size, mode=method, antialias=True, align_corners=False)


def compress(x: torch.Tensor, fmt: str, quality: int) -> torch.Tensor:
    """JPEG or WebP round trip of each image in a batch (via Pillow)."""
    from PIL import Image

    out = []
    for img in x:
        arr = (img.clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format=fmt, quality=quality)
        buf.seek(0)
        with Image.open(buf) as im:
            back = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
        out.append(torch.from_numpy(back).permute(2, 0, 1))
    return torch.stack(out)


def degrade(hr: torch.Tensor, scale: int, cfg, g: torch.Generator) -> torch.Tensor:
    """HR [B,3,H,W] in [0,1] -> LR [B,3,H/s,W/s] with the config's random degradations."""
    x = hr
    if _chance(g, cfg.blur_prob):
        x = gaussian_blur(x, _uniform(g, *cfg.blur_sigma))
    filters = cfg.resize_filters
    method = filters[int(torch.randint(len(filters), (), generator=g))]
    x = downscale(x, scale, method)
    if _chance(g, cfg.sharpen_prob):
        x = x + _uniform(g, 0.2, 0.8) * (x - gaussian_blur(x, 1.0))
    if _chance(g, cfg.noise_prob):
        x = x + torch.randn(x.shape, generator=g) * (_uniform(g, *cfg.noise_sigma) / 255.0)
    if _chance(g, cfg.poisson_prob):
        peak = _uniform(g, 50.0, 255.0)
        x = torch.poisson(x.clamp(0, 1) * peak, generator=g) / peak
    x = x.clamp(0, 1)
    for fmt, p in (("JPEG", cfg.jpeg_prob), ("WEBP", cfg.webp_prob)):
        if _chance(g, p):
            x = compress(x, fmt, int(_uniform(g, *cfg.quality)))
    return x
