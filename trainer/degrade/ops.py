"""Single degradation operators on [B,C,H,W] float tensors in [0,1]; randomness only from a passed torch.Generator."""
from __future__ import annotations

import io
import math

import numpy as np
import torch
import torch.nn.functional as F


def gaussian_kernel(sigma_x: float, sigma_y: float, theta: float = 0.0) -> torch.Tensor:
    """[k,k] normalised 2-D Gaussian (float64), axes ``sigma_x``/``sigma_y`` px rotated by ``theta`` rad."""
    radius = max(1, math.ceil(3 * max(sigma_x, sigma_y)))
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    yy, xx = torch.meshgrid(t, t, indexing="ij")
    c, s = math.cos(theta), math.sin(theta)
    u, v = c * xx + s * yy, -s * xx + c * yy
    k = torch.exp(-0.5 * ((u / sigma_x) ** 2 + (v / sigma_y) ** 2))
    return k / k.sum()


def blur(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Depthwise convolution with a [k,k] kernel, replicated borders (same size out)."""
    r = kernel.shape[-1] // 2
    c = x.shape[1]
    w = kernel.to(x.dtype).view(1, 1, *kernel.shape).expand(c, 1, -1, -1)
    return F.conv2d(F.pad(x, (r, r, r, r), mode="replicate"), w, groups=c)


def resize(x: torch.Tensor, size: tuple[int, int], method: str) -> torch.Tensor:
    """Resize to ``size`` (H, W); bicubic/bilinear antialiased when shrinking (PIL-like), ``area`` = box average."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    if method == "area":
        return F.interpolate(x, size=size, mode="area")
    return F.interpolate(x, size=size, mode=method, antialias=True, align_corners=False)


def gaussian_noise(x: torch.Tensor, sigma: float, gray: bool, g: torch.Generator) -> torch.Tensor:
    """Adds N(0, sigma) noise (sigma in [0,1] units), one field for all channels when ``gray``."""
    shape = (x.shape[0], 1, *x.shape[2:]) if gray else x.shape
    return x + torch.randn(shape, generator=g, dtype=x.dtype) * sigma


def poisson_noise(x: torch.Tensor, peak: float, gray: bool, g: torch.Generator) -> torch.Tensor:
    """Shot noise for ``peak`` photons at white; when ``gray`` it is drawn on luma and added to every channel."""
    x = x.clamp(0, 1)
    if gray:
        luma = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]) if x.shape[1] == 3 else x[:, :1]
        return x + torch.poisson(luma * peak, generator=g) / peak - luma
    return torch.poisson(x * peak, generator=g) / peak


def sharpen(x: torch.Tensor, amount: float, sigma: float) -> torch.Tensor:
    """Unsharp mask x + amount * (x - blur(x)); a wide ``sigma`` leaves halos along edges."""
    return x + amount * (x - blur(x, gaussian_kernel(sigma, sigma)))


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Clamp to [0,1] and round to 8-bit levels (what an image file holds)."""
    return (x.clamp(0, 1) * 255).round() / 255


def compress(x: torch.Tensor, fmt: str, quality: int) -> torch.Tensor:
    """JPEG or WebP round trip (Pillow, RGB, 4:2:0 for JPEG as most web files) of each image in a batch."""
    from PIL import Image

    out = []
    for img in x:
        arr = (img.clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format=fmt, quality=int(quality))
        buf.seek(0)
        with Image.open(buf) as im:
            back = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
        out.append(torch.from_numpy(back.copy()).permute(2, 0, 1))
    return torch.stack(out).to(x.dtype)
