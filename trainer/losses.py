"""Losses and metrics: L1, Charbonnier, focal-frequency (FFL), SSIM/MS-SSIM, PSNR on Y."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def charbonnier(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    return torch.sqrt((x - y) ** 2 + eps * eps).mean()


def frequency_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Focal-frequency style loss: spectrum distance weighted by its own (detached) magnitude."""
    fx = torch.fft.rfft2(x.float(), norm="ortho")
    fy = torch.fft.rfft2(y.float(), norm="ortho")
    dist = (fx - fy).abs() ** 2
    w = dist.detach().sqrt()
    w = w / w.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-8)
    return (w * dist).mean()


def _gauss(size: int = 11, sigma: float = 1.5, device=None, dtype=torch.float32) -> torch.Tensor:
    t = torch.arange(size, device=device, dtype=dtype) - size // 2
    g = torch.exp(-(t ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).view(1, 1, size, size)


def _ssim_parts(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0):
    c = x.shape[1]
    w = _gauss(device=x.device, dtype=x.dtype).expand(c, 1, 11, 11)
    mu_x, mu_y = F.conv2d(x, w, groups=c), F.conv2d(y, w, groups=c)
    sxx = F.conv2d(x * x, w, groups=c) - mu_x ** 2
    syy = F.conv2d(y * y, w, groups=c) - mu_y ** 2
    sxy = F.conv2d(x * y, w, groups=c) - mu_x * mu_y
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    return ((2 * mu_x * mu_y + c1) / (mu_x ** 2 + mu_y ** 2 + c1)) * cs, cs


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Mean SSIM (11x11 Gaussian window, sigma 1.5); inputs [B,C,H,W] with H,W >= 11."""
    return _ssim_parts(x, y, data_range)[0].mean()


def ms_ssim(x: torch.Tensor, y: torch.Tensor, levels: int = 3) -> torch.Tensor:
    """Multi-scale SSIM over ``levels`` dyadic scales (fewer levels for small crops)."""
    weights = torch.tensor([0.0448, 0.2856, 0.3001, 0.2363, 0.1333][:levels], device=x.device)
    weights = weights / weights.sum()
    vals = []
    for i in range(levels):
        s, cs = _ssim_parts(x, y)
        vals.append((s if i == levels - 1 else cs).mean().clamp_min(1e-6))
        if i < levels - 1:
            if min(x.shape[-2:]) < 22:
                break
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    vals_t = torch.stack(vals)
    return torch.prod(vals_t ** weights[: len(vals)])


def rgb_to_y(x: torch.Tensor) -> torch.Tensor:
    """ITU-R BT.601 luma in [16/255, 235/255] (the SR literature's Y), from RGB in [0,1]."""
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return (16.0 + 65.481 * r + 128.553 * g + 24.966 * b) / 255.0


def _y_pair(x: torch.Tensor, y: torch.Tensor, border: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Both images quantised to 8 bit, as Y, without ``border`` px on each side."""
    xy, yy = (rgb_to_y((t.clamp(0, 1) * 255).round() / 255) for t in (x, y))
    if border:
        xy, yy = xy[..., border:-border, border:-border], yy[..., border:-border, border:-border]
    return xy, yy


def psnr_y(x: torch.Tensor, y: torch.Tensor, border: int) -> float:
    """PSNR on the Y channel after quantising to 8 bit, ignoring ``border`` px on each side."""
    xy, yy = _y_pair(x, y, border)
    mse = ((xy - yy) ** 2).mean().item()
    return 10 * torch.log10(torch.tensor(1.0 / max(mse, 1e-12))).item()


def ssim_y(x: torch.Tensor, y: torch.Tensor, border: int) -> float:
    """SSIM on the Y channel (8-bit quantised, border excluded), computed in float64."""
    xy, yy = _y_pair(x, y, border)
    return ssim(xy.double(), yy.double()).item()


def rgb_to_ycbcr(x: torch.Tensor) -> torch.Tensor:
    """Full-range BT.601 YCbCr of RGB in [0,1] (Cb, Cr centred on 0)."""
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    return torch.cat([y, 0.564 * (b - y), 0.713 * (r - y)], dim=1)


def color_consistency(sr: torch.Tensor, hr: torch.Tensor, factor: int = 4, sigma: float = 1.0) -> torch.Tensor:
    """L1 between Gaussian-blurred, ``factor``x downsampled output and target in YCbCr.

    Only low frequencies count, so it ties colour and brightness to the target without fighting texture
    terms (GAN, perceptual). [B,3,H,W] in [0,1].
    """
    c = sr.shape[1]
    w = _gauss(size=2 * round(3 * sigma) + 1, sigma=sigma, device=sr.device, dtype=sr.dtype)
    w = w.expand(c, 1, -1, -1)
    r = w.shape[-1] // 2

    def low(x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(F.pad(x, (r, r, r, r), mode="replicate"), w, groups=c)
        return rgb_to_ycbcr(F.avg_pool2d(x, factor, ceil_mode=True))
    return (low(sr) - low(hr)).abs().mean()
