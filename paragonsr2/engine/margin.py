"""Tile context margin: the exact receptive field when practical, else the smallest margin that, measured
on a natural image, keeps tiled output within a quarter 8-bit level of the untiled output."""
from __future__ import annotations

import weakref

import torch

from ..sample import sample_crop
from .tiles import receptive_radius

EXACT_LIMIT = 64  # LR px: up to this the exact receptive field is used (nano 28, anime 38, tiny 40)
CANDIDATES = (16, 24, 32, 48, 64, 96, 128)
TOLERANCE = 0.25 / 255
PROBE_CORE = 32


def _probe_image(size: int) -> torch.Tensor:
    """The bundled natural sample, mirrored out to size x size (natural statistics, deterministic)."""
    return sample_crop(size, size)


@torch.inference_mode()
def measure_margin(model, exact: int) -> tuple[int, float]:
    """(margin, max abs diff it gives) for models whose exact receptive field is impractical."""
    dev = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    size = PROBE_CORE + 2 * min(exact, CANDIDATES[-1])
    img = _probe_image(size).to(dev, dtype)
    full = model(img).float()
    sh, sw = (int(s) for s in model.scale)
    c0 = (size - PROBE_CORE) // 2
    ref = full[:, :, c0 * sh:(c0 + PROBE_CORE) * sh, c0 * sw:(c0 + PROBE_CORE) * sw]
    diff = float("inf")
    for m in [c for c in CANDIDATES if c < exact]:
        crop = img[:, :, c0 - m:c0 + PROBE_CORE + m, c0 - m:c0 + PROBE_CORE + m]
        out = model(crop).float()[:, :, m * sh:(m + PROBE_CORE) * sh, m * sw:(m + PROBE_CORE) * sw]
        diff = (out.clamp(0, 1) - ref.clamp(0, 1)).abs().max().item()
        if diff <= TOLERANCE:
            return m, diff
    return exact, 0.0


_MARGINS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> {(scale, alpha): margin}


def tile_margin(model) -> int:
    """Margin for the tiler: cached per model object, for its current scale and upsampler alpha."""
    key = (tuple(float(s) for s in model.scale), float(model.upsampler_alpha))
    per_model = _MARGINS.setdefault(model, {})
    if key not in per_model:
        exact = receptive_radius(model.config, model.scale, model.upsampler_alpha)
        integer = all(float(s).is_integer() for s in model.scale)
        per_model[key] = exact if exact <= EXACT_LIMIT or not integer else measure_margin(model, exact)[0]
    return per_model[key]
