"""The degradation pipeline HR -> LR: one or two rounds of blur, resize, noise and compression, per image.

Round (k of n): blur? -> resize (to an intermediate size when chained, to the LR size in the last round)
-> sharpen? (last round) -> Gaussian/Poisson noise? -> JPEG/WebP? ; n = 2 with ``second_order_prob``.
The result is clamped and quantised to 8 bit. Every draw comes from the given torch.Generator, in a fixed
order, so the same seed and settings give the same bits; the global RNG is never touched.
"""
from __future__ import annotations

import math

import torch

from .ops import blur as blur_op
from .ops import compress, gaussian_kernel, gaussian_noise, poisson_noise, quantize, resize, sharpen
from .settings import DegradeSettings


def uniform(g: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * torch.rand((), generator=g, dtype=torch.float64).item()


def chance(g: torch.Generator, p: float) -> bool:
    """True with probability ``p``; draws nothing when p == 0 (so a clean config consumes no randomness)."""
    return p > 0 and torch.rand((), generator=g, dtype=torch.float64).item() < p


def pick(g: torch.Generator, options):
    """One of ``options`` uniformly; draws nothing when there is only one."""
    return options[int(torch.randint(len(options), (), generator=g))] if len(options) > 1 else options[0]


def random_blur(x: torch.Tensor, s: DegradeSettings, g: torch.Generator) -> torch.Tensor:
    sx = uniform(g, *s.blur_sigma)
    if chance(g, s.aniso_prob):
        return blur_op(x, gaussian_kernel(sx, uniform(g, *s.blur_sigma), uniform(g, 0.0, math.pi)))
    return blur_op(x, gaussian_kernel(sx, sx))


def random_noise(x: torch.Tensor, s: DegradeSettings, g: torch.Generator) -> torch.Tensor:
    if chance(g, s.noise_prob):
        x = gaussian_noise(x, uniform(g, *s.noise_sigma) / 255.0, chance(g, s.gray_noise_prob), g)
    if chance(g, s.poisson_prob):
        x = poisson_noise(x, uniform(g, *s.poisson_peak), chance(g, s.gray_noise_prob), g)
    return x


def random_compression(x: torch.Tensor, s: DegradeSettings, g: torch.Generator) -> torch.Tensor:
    for fmt, p in (("JPEG", s.jpeg_prob), ("WEBP", s.webp_prob)):
        if chance(g, p):
            x = compress(x, fmt, round(uniform(g, *s.quality)))
    return x


def one_round(x: torch.Tensor, size: tuple[int, int], last: bool, s: DegradeSettings,
              g: torch.Generator) -> torch.Tensor:
    """One round on [1,C,H,W]; ends at ``size`` (the LR size in the last round)."""
    if chance(g, s.blur_prob):
        x = random_blur(x, s, g)
    if chance(g, s.resize_chain_prob):
        f = uniform(g, *s.resize_chain_range)
        x = resize(x, (max(1, round(x.shape[-2] * f)), max(1, round(x.shape[-1] * f))), pick(g, s.resize_filters))
    x = resize(x, size, pick(g, s.resize_filters))
    if last and chance(g, s.sharpen_prob):
        x = sharpen(x, uniform(g, *s.sharpen_amount), uniform(g, *s.sharpen_sigma))
    x = random_noise(x, s, g).clamp(0, 1)
    return random_compression(x, s, g)


def degrade_one(hr: torch.Tensor, scale: int, s: DegradeSettings, g: torch.Generator) -> torch.Tensor:
    """HR [1,C,H,W] in [0,1] -> LR [1,C,H//scale,W//scale], quantised to 8 bit."""
    h, w = hr.shape[-2:]
    target = (max(1, h // scale), max(1, w // scale))
    x = hr
    if chance(g, s.second_order_prob):
        mid = (max(target[0], round(math.sqrt(h * target[0]))), max(target[1], round(math.sqrt(w * target[1]))))
        x = one_round(x, mid, False, s, g)
    return quantize(one_round(x, target, True, s, g))


def degrade(hr: torch.Tensor, scale: int, settings: DegradeSettings, g: torch.Generator) -> torch.Tensor:
    """HR [B,C,H,W] in [0,1] -> LR [B,C,H//scale,W//scale]; each image draws its own degradations."""
    return torch.cat([degrade_one(img[None], scale, settings, g) for img in hr])
