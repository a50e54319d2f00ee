"""Float tolerances derived from the computation: float32 eps × layer depth × magnitude, or a float64 reference."""
from __future__ import annotations

import copy

import torch

FLOAT32_EPS = torch.finfo(torch.float32).eps
_WEIGHTED = (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)


def layer_depth(net: torch.nn.Module) -> int:
    """Number of weighted layers (convolutions, linear maps) in `net`: each rounds its output once."""
    return max(1, sum(isinstance(m, _WEIGHTED) for m in net.modules()))


def float32_bound(net: torch.nn.Module, ref: torch.Tensor, eps: float = FLOAT32_EPS) -> float:
    """Largest expected difference between two float32 evaluations of the same math through `net` (fused
    vs unfused, tiled vs whole, another runtime): one rounding of relative size `eps` per layer, relative
    to the output's magnitude (at least 1, the image range)."""
    return eps * layer_depth(net) * max(1.0, float(ref.abs().max()))


def float64_bound(net: torch.nn.Module, x: torch.Tensor, ref: torch.Tensor,
                  net64: torch.nn.Module | None = None) -> float:
    """Tolerance for another implementation's float32 result of `net` on `x` [N,C,H,W]: 8× the rounding noise
    of our float32 result `ref` against a float64 evaluation, never below `float32_bound` (deep models with
    large inner activations round more than their output shows). `net64`: a float64 CPU copy of `net` to reuse
    over several calls (made here when not given)."""
    if net64 is None:
        net64 = copy.deepcopy(net).cpu().double()
    with torch.no_grad():
        exact = net64(x.cpu().double())
    noise = float((ref.cpu().double() - exact).abs().max())
    return max(float32_bound(net, exact), 8.0 * noise)


def psnr(a, b) -> float:
    """PSNR in dB of two arrays (numpy or torch) of images in [0,1], both clipped to [0,1] first; inf if equal."""
    import math

    import numpy as np

    a = np.clip(np.asarray(a, dtype=np.float64), 0, 1)
    b = np.clip(np.asarray(b, dtype=np.float64), 0, 1)
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)
